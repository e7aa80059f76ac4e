//! HTML pages: the payloads they carry inline. Every `data:` URI is
//! decoded (`;base64,` payloads as base64, others percent-decoded) and
//! reported as `$data-uri/<n>`; inside `<script>` elements every string
//! literal of at least [`MIN_LITERAL`] base64 characters (the argument of
//! an `atob("…")`, a constant assigned) is decoded and reported as
//! `$script-base64/<n>` (n counts from 1 in each kind). One pass over the
//! page looks for `:` and `<` only, so a page without payloads costs a scan
//! and yields nothing. A `data:` URI or a base64 literal that runs into the
//! end of the file, or a base64 payload cut mid-quantum, is a `Corrupt`
//! gap after what was decoded. Searching uses `memchr` (see the mail
//! module); the lenient base64 decoder is the mail module's.

use crate::locate::Found;
use crate::mail::{base64_decode, is_b64_char, percent_decode, Decoded};
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

/// Shortest base64 string literal in a script taken as a payload.
const MIN_LITERAL: usize = 64;
/// Longest media type of a `data:` URI.
const MAX_MEDIA_TYPE: usize = 256;
/// How much leading whitespace the sniffer skips.
const MAX_LEADING: usize = 1024;
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Recognise HTML: after an optional BOM and whitespace, a doctype,
/// `<html`, `<head` or `<script` (any case).
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let d = data.strip_prefix(BOM).unwrap_or(data);
    let d = d.get(..MAX_LEADING + 16).unwrap_or(d);
    let blank = d
        .iter()
        .take(MAX_LEADING)
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    let d = &d[blank..];
    let starts = [&b"<!doctype html"[..], b"<html", b"<head", b"<script"]
        .iter()
        .any(|p| starts_ci(d, p) && d.get(p.len()).is_none_or(|c| !c.is_ascii_alphanumeric()));
    starts.then_some(Found {
        kind: ContainerKind::Html,
        offset: 0,
    })
}

/// `d` starts with `prefix` (lower case), ignoring ASCII case.
fn starts_ci(d: &[u8], prefix: &[u8]) -> bool {
    d.get(..prefix.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
}

/// A `data:` URI whose payload starts at `d[i]` (after the comma): its
/// decoded bytes and where it ends. `quote` is the character before
/// `data:` (a quote ends the URI at the same quote).
fn data_uri(d: &[u8], i: usize, base64: bool, quote: u8, cap: usize) -> (Decoded, usize) {
    let rest = d.get(i..).unwrap_or_default();
    let end = rest.iter().position(|&c| match quote {
        b'"' | b'\'' | b'`' => c == quote,
        _ => {
            c == b')'
                || c == b'<'
                || c == b'>'
                || c == b'"'
                || c == b'\''
                || c.is_ascii_whitespace()
        }
    });
    let payload = &rest[..end.unwrap_or(rest.len())];
    let mut dec = if base64 {
        base64_decode(payload, cap, false)
    } else {
        let mut out = percent_decode(payload.get(..cap).unwrap_or(payload));
        out.truncate(cap);
        Decoded { out, error: None }
    };
    if end.is_none() {
        dec.error = Some("html: data: URI runs to the end of the file (truncated)".into());
    }
    (dec, i + payload.len())
}

/// The media type of a `data:` URI starting at `d[i]` (after `data:`):
/// whether it says `;base64`, and where the payload starts.
fn media_type(d: &[u8], i: usize) -> Option<(bool, usize)> {
    let rest = d.get(i..)?;
    let rest = rest.get(..MAX_MEDIA_TYPE).unwrap_or(rest);
    let comma = rest.iter().position(|&c| c == b',')?;
    let mt = &rest[..comma];
    if mt
        .iter()
        .any(|&c| c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>'))
    {
        return None;
    }
    let b64 = mt.len() >= 7 && mt[mt.len() - 7..].eq_ignore_ascii_case(b";base64");
    Some((b64, i + comma + 1))
}

/// Base64 string literals in a script body: (decoded, bytes used) for
/// each, in order; `sink` gets them one at a time.
fn literals(body: &[u8], cap: usize, sink: &mut dyn FnMut(Decoded, usize) -> bool) {
    let mut i = 0;
    while let Some(q) = body
        .get(i..)
        .and_then(|r| memchr::memchr3(b'"', b'\'', b'`', r))
    {
        let open = i + q;
        let quote = body[open];
        let run = body[open + 1..]
            .iter()
            .take_while(|&&c| is_b64_char(c))
            .count();
        let close = open + 1 + run;
        i = close.max(open + 1);
        if run < MIN_LITERAL {
            continue;
        }
        let mut dec = base64_decode(&body[open + 1..close], cap, false);
        match body.get(close) {
            Some(&c) if c == quote => i = close + 1,
            Some(_) => continue,
            None => {
                dec.error =
                    Some("html: base64 literal runs to the end of the file (truncated)".into())
            }
        }
        if !sink(dec, run) {
            return;
        }
    }
}

/// Where the script element whose `<script` is at `d[i]` has its body.
fn script_body(d: &[u8], i: usize) -> Option<(usize, usize)> {
    let after = i + b"<script".len();
    if d.get(after)
        .is_some_and(|c| !(c.is_ascii_whitespace() || *c == b'>'))
    {
        return None;
    }
    let open_end = after + d.get(after..)?.iter().position(|&c| c == b'>')? + 1;
    let mut j = open_end;
    while let Some(k) = d.get(j..).and_then(|r| memchr::memchr(b'<', r)) {
        if starts_ci(&d[j + k..], b"</script") {
            return Some((open_end, j + k));
        }
        j += k + 1;
    }
    Some((open_end, d.len()))
}

impl Walker<'_, '_> {
    pub(crate) fn html(&mut self, data: &[u8], depth: u32) {
        let (mut uris, mut scripts) = (0u32, 0u32);
        // No `<script` is looked for before this offset: inside a script
        // (its `data:` URIs are still found), or after one never closed.
        let mut script_end = 0;
        let mut i = 0;
        while let Some(k) = data.get(i..).and_then(|r| memchr::memchr2(b':', b'<', r)) {
            if self.stopped {
                return;
            }
            let at = i + k;
            i = at + 1;
            if data[at] == b'<' {
                if at >= script_end && starts_ci(&data[at..], b"<script") {
                    if let Some((from, to)) = script_body(data, at) {
                        script_end = to;
                        self.script(&data[from..to], depth, &mut scripts);
                    }
                }
                continue;
            }
            let word = at.checked_sub(4).and_then(|s| data.get(s..at));
            if !word.is_some_and(|w| w.eq_ignore_ascii_case(b"data")) {
                continue;
            }
            let before = at
                .checked_sub(5)
                .and_then(|s| data.get(s))
                .copied()
                .unwrap_or(b' ');
            if before.is_ascii_alphanumeric() {
                continue;
            }
            let Some((b64, payload)) = media_type(data, at + 1) else {
                continue;
            };
            let (dec, end) = data_uri(data, payload, b64, before, self.cap());
            i = end.max(i);
            uris += 1;
            let name = format!("$data-uri/{uris}").into_bytes();
            self.payload(name, dec, (end - payload) as u64, depth);
        }
    }

    fn script(&mut self, body: &[u8], depth: u32, n: &mut u32) {
        let cap = self.cap();
        literals(body, cap, &mut |dec, used| {
            *n += 1;
            let name = format!("$script-base64/{n}").into_bytes();
            self.payload(name, dec, used as u64, depth);
            !self.stopped
        });
    }

    /// One decoded payload as a member (nothing for an empty one).
    fn payload(&mut self, name: Vec<u8>, dec: Decoded, encoded: u64, depth: u32) {
        if dec.out.is_empty() {
            if let Some(e) = dec.error {
                self.named(name, |w| w.skip(Gap::Corrupt, e));
            }
            return;
        }
        if !self.admit() {
            return;
        }
        self.named(name, |w| {
            w.decoded(dec.out, encoded, dec.error, depth, "html payload")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_html_only() {
        assert!(sniff(b"\xef\xbb\xbf\n  <!DOCTYPE html>\n<p>").is_some());
        assert!(sniff(b"<HTML lang=en>").is_some());
        assert!(sniff(b"<script>x</script>").is_some());
        assert!(sniff(b"<htmlx>").is_none());
        assert!(sniff(b"<?xml version='1.0'?>").is_none());
        assert!(sniff(b"fn main() {}").is_none());
    }

    #[test]
    fn data_uris() {
        let d = b"<img src=\"data:image/png;base64,SGVsbG8=\"> url(data:,a%41b)";
        let mut found = Vec::new();
        let mut i = 0;
        while let Some(k) = crate::mail::find(&d[i..], b"data:") {
            let at = i + k + 5;
            let quote = d[i + k - 1];
            let (b64, p) = media_type(d, at).expect("media type");
            let (dec, end) = data_uri(d, p, b64, quote, 100);
            found.push(dec.out);
            i = end;
        }
        assert_eq!(found, [b"Hello".to_vec(), b"aAb".to_vec()]);
        let (dec, _) = data_uri(b"SGVsbG8", 0, true, b'"', 100);
        assert!(dec.error.is_some());
    }

    #[test]
    fn script_literals() {
        let lit = "QUJD".repeat(20);
        let body = format!("var a = \"short\"; eval(atob('{lit}')); x = `{lit}");
        let mut out = Vec::new();
        literals(body.as_bytes(), 1000, &mut |d, _| {
            out.push((d.out.len(), d.error.is_some()));
            true
        });
        assert_eq!(out, [(60, false), (60, true)]);
        let page = b"<script type=x>a</SCRIPT>";
        assert_eq!(script_body(page, 0), Some((15, 16)));
    }

    #[test]
    fn unclosed_scripts_cost_one_pass() {
        let mut page = b"<html>".to_vec();
        for _ in 0..200_000 {
            page.extend_from_slice(b"<script>data:,x");
        }
        let start = std::time::Instant::now();
        let mut members = 0;
        crate::walk(&page, &crate::ArchiveLimits::default(), &mut |ev| {
            if let crate::MemberEvent::Member { .. } = ev {
                members += 1;
            }
        });
        assert_eq!(members, 10_000, "stopped by max_members");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
