//! Mail and the text encodings mail carries. A MIME message (`.eml`): its
//! parts found by their boundaries (nested multiparts through an explicit
//! stack, at most [`MAX_MULTIPART_NEST`] deep), each leaf decoded
//! (base64, quoted-printable, x-uuencode, or as it is) and reported under
//! its `filename=` / `name=` (RFC 2231 and RFC 2047 forms decoded) or as
//! `$part/<n>` (n counts the leaves from 1), text bodies included so rules
//! see decoded text. A `message/rfc822` part is a member like any other
//! and is opened as a message in turn (one nesting level more, so the
//! walker's depth limit ends a bomb of nested messages). An mbox is split
//! at its `From ` lines into `$msg/<n>`. uuencoded blocks (`begin` …
//! `end`, `begin-base64` … `====`) anywhere in a text file are reported
//! under the name their `begin` line stores; a BinHex 4.0 file reports its
//! data fork under its stored name and a non-empty resource fork as
//! `<name>/$rsrc`. A damaged or truncated input (a multipart without its
//! closing boundary, a base64 quantum cut short, a uuencoded block without
//! `end`, a BinHex CRC that does not match) is a `Corrupt` gap after
//! whatever could be decoded was reported. No crate: each decoder is a
//! few dozen lines that must stop at [`Walker::cap`] and skip what mail
//! readers skip, which the general-purpose decoders (`base64`) refuse.
//! Searching uses `memchr` (BurntSushi's SIMD byte and substring search,
//! already in kensa's tree through yara-x and regex, maintained, fuzzed in
//! OSS-Fuzz), so the sniffer and the line splitter cost little on the many
//! text files that are not mail.
//!
//! The sniffer is strict, since it runs on every file: a message must
//! open with header lines, two of them among the common RFC 5322/MIME
//! fields, before anything else; an mbox must open with a `From ` line
//! followed by such a header; a uuencoded block needs its `begin` line and
//! a data line after it; BinHex its marker line. All within the first
//! 4 KiB of a file with no NUL byte there.

mod b64;
mod binhex;
mod mime;
mod qp;
mod uue;

use crate::locate::{locate, Found};
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

pub(crate) use b64::{decode as base64_decode, is_b64_char, Decoded};
pub(crate) use mime::percent_decode;

/// How far into a file the sniffer looks.
const SNIFF_WINDOW: usize = 4096;
/// Multiparts nested inside one message deeper than this are not opened.
pub(crate) const MAX_MULTIPART_NEST: usize = 32;
/// Longest boundary accepted (RFC 2046 allows 70 characters).
const MAX_BOUNDARY: usize = 256;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Header fields a message's first lines must show (two of them).
const KNOWN_FIELDS: [&[u8]; 9] = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"received",
    b"return-path",
];

/// Lines of `d`: (offset of the line, the line without its CR LF / LF).
pub(crate) fn lines(d: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = d.get(pos..).filter(|r| !r.is_empty())?;
        let start = pos;
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], start + i + 1),
            None => (rest, d.len()),
        };
        pos = next;
        Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}

/// Length of the line break at `d[i]`: the CR LF or LF there (0 if none).
pub(crate) fn newline_at(d: &[u8], i: usize) -> usize {
    match d.get(i..) {
        Some([b'\r', b'\n', ..]) => 2,
        Some([b'\n', ..]) => 1,
        _ => 0,
    }
}

pub(crate) fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

pub(crate) fn trim_end(s: &[u8]) -> &[u8] {
    s.trim_ascii_end()
}

/// Start of the first `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

/// True when `d[at]` starts a line.
pub(crate) fn at_line_start(d: &[u8], at: usize) -> bool {
    at == 0 || at.checked_sub(1).and_then(|i| d.get(i)) == Some(&b'\n')
}

/// The field name of a header line (`Name: value`), strictly: a letter,
/// then letters, digits, `-` or `_`, then a colon.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().take(77).position(|&c| c == b':')?;
    let name = &line[..colon];
    let ok = name.first().is_some_and(u8::is_ascii_alphabetic)
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    ok.then_some(name)
}

/// True when `head` opens with header lines, two of them known fields,
/// before any line that is not a header.
fn opens_with_header(head: &[u8]) -> bool {
    let mut seen = 0u16;
    for (i, (_, line)) in lines(head).enumerate() {
        if i > 0 && line.first().is_some_and(|&c| c == b' ' || c == b'\t') {
            continue;
        }
        let Some(name) = field_name(line) else {
            return false;
        };
        // A multipart entity is mail even when it has no
        // other header (a forwarded part saved alone, or a crafted file).
        if name.eq_ignore_ascii_case(b"Content-Type") && is_multipart(line) {
            return true;
        }
        if let Some(k) = KNOWN_FIELDS
            .iter()
            .position(|f| name.eq_ignore_ascii_case(f))
        {
            seen |= 1 << k;
            if seen.count_ones() >= 2 {
                return true;
            }
        }
    }
    false
}

/// A `Content-Type: multipart/...` line (its boundary may be folded onto
/// the next line).
fn is_multipart(line: &[u8]) -> bool {
    memchr::memmem::find(&line.to_ascii_lowercase(), b"multipart/").is_some()
}

/// An mbox `From ` line (`From sender date`).
fn is_from_line(line: &[u8]) -> bool {
    line.strip_prefix(b"From ")
        .is_some_and(|r| r.first().is_some_and(|c| !c.is_ascii_whitespace()) && r.len() < 1024)
}

/// True when `head` is a message or an mbox.
fn is_mail(head: &[u8]) -> bool {
    let Some((_, first)) = lines(head).next() else {
        return false;
    };
    if is_from_line(first) {
        let after = first.len() + newline_at(head, first.len());
        return opens_with_header(head.get(after..).unwrap_or_default());
    }
    field_name(first).is_some() && opens_with_header(head)
}

/// Recognise a message, an mbox, a BinHex file or uuencoded text.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let head = data.get(..SNIFF_WINDOW).unwrap_or(data);
    let head = head.strip_prefix(BOM).unwrap_or(head);
    let first = *head.first()?;
    if !(first.is_ascii_graphic() || first.is_ascii_whitespace())
        || memchr::memchr(0, head).is_some()
    {
        return None;
    }
    let kind = if is_mail(head) {
        ContainerKind::Mail
    } else if memchr::memmem::find_iter(head, binhex::MARKER).any(|at| at_line_start(head, at)) {
        ContainerKind::BinHex
    } else if uue::find_begin(head, 0, head.len()).is_some() {
        ContainerKind::Uuencode
    } else {
        return None;
    };
    Some(Found { kind, offset: 0 })
}

/// Where the messages of an mbox start: (the `From ` line, the message
/// after it). A `From ` line counts when a header line follows it.
fn mbox_starts(d: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    lines(d).filter_map(move |(start, line)| {
        if !is_from_line(line) {
            return None;
        }
        let end = start + line.len();
        let msg = end + newline_at(d, end);
        let next = lines(d.get(msg..)?).next()?.1;
        field_name(next).map(|_| (start, msg))
    })
}

impl Walker<'_, '_> {
    pub(crate) fn mail(&mut self, data: &[u8], depth: u32) {
        let data = data.strip_prefix(BOM).unwrap_or(data);
        if data.starts_with(b"From ") {
            self.mbox(data, depth);
        } else {
            self.message(data, depth);
        }
    }

    /// Each message of an mbox as `$msg/<n>`.
    fn mbox(&mut self, data: &[u8], depth: u32) {
        let mut current: Option<usize> = None;
        let mut n = 0u64;
        let mut emit = |w: &mut Self, from: usize, to: usize| {
            n += 1;
            let msg = data.get(from..to).unwrap_or_default();
            let name = format!("$msg/{n}").into_bytes();
            let out = msg.get(..w.cap()).unwrap_or(msg).to_vec();
            let dec = Decoded { out, error: None };
            w.emit(name, dec, msg.len() as u64, depth, true);
        };
        for (line, msg) in mbox_starts(data) {
            if let Some(from) = current {
                emit(self, from, line);
            }
            if self.stopped {
                return;
            }
            current = Some(msg);
        }
        if let Some(from) = current {
            emit(self, from, data.len());
        }
    }

    /// One member: admitted, named, charged and visited. A message (a
    /// `message/rfc822` part, an mbox message) nothing else recognises is
    /// opened as a message all the same.
    fn emit(&mut self, name: Vec<u8>, dec: Decoded, encoded: u64, depth: u32, message: bool) {
        if !self.admit() {
            return;
        }
        self.named(name, |w| {
            let force = message && dec.out.len() < w.cap() && locate(&dec.out).is_none();
            let copy = force.then(|| dec.out.clone());
            w.decoded(dec.out, encoded, dec.error, depth, "mail part");
            if let Some(msg) = copy {
                if !w.stopped {
                    let found = Found {
                        kind: ContainerKind::Mail,
                        offset: 0,
                    };
                    w.container(found, &msg, depth + 1);
                }
            }
        });
    }

    /// A MIME message: every leaf part, multiparts opened through a stack.
    fn message(&mut self, data: &[u8], depth: u32) {
        let mut leaves = 0u64;
        let mut stack: Vec<mime::Parts<'_>> = Vec::new();
        self.entity(data, depth, &mut leaves, &mut stack);
        while let Some(top) = stack.last_mut() {
            if self.stopped {
                return;
            }
            match top.next() {
                Some(part) => self.entity(part, depth, &mut leaves, &mut stack),
                None => {
                    let closed = top.closed;
                    stack.pop();
                    if !closed {
                        self.skip(
                            Gap::Corrupt,
                            "mail: a multipart body ends without its closing boundary (truncated)"
                                .into(),
                        );
                    }
                }
            }
        }
    }

    /// One entity: a multipart goes on the stack, a leaf is decoded.
    fn entity<'a>(
        &mut self,
        e: &'a [u8],
        depth: u32,
        leaves: &mut u64,
        stack: &mut Vec<mime::Parts<'a>>,
    ) {
        let (head, body) = mime::split(e);
        let ent = mime::entity(head);
        if ent.ctype.starts_with(b"multipart/") {
            if let Some(b) = ent
                .boundary
                .as_deref()
                .filter(|b| (1..=MAX_BOUNDARY).contains(&b.len()))
            {
                if stack.len() >= MAX_MULTIPART_NEST {
                    return self.skip(
                        Gap::Limit,
                        format!(
                            "mail: multiparts nested deeper than {MAX_MULTIPART_NEST} not opened"
                        ),
                    );
                }
                stack.push(mime::Parts::new(body, b));
                return;
            }
        }
        if trim(body).is_empty() {
            return;
        }
        *leaves += 1;
        let cap = self.cap();
        let dec = match ent.encoding.as_slice() {
            b"base64" => b64::decode(body, cap, true),
            b"quoted-printable" => qp::decode(body, cap),
            b"x-uuencode" | b"x-uue" | b"uuencode" | b"uue" => uue_body(body, cap),
            _ => Decoded {
                out: body.get(..cap).unwrap_or(body).to_vec(),
                error: None,
            },
        };
        let name = ent
            .name
            .unwrap_or_else(|| format!("$part/{leaves}").into_bytes());
        let message = ent.ctype == b"message/rfc822" || ent.ctype == b"message/global";
        self.emit(name, dec, body.len() as u64, depth, message);
    }

    /// Every uuencoded block of a text file, named as its `begin` line says.
    pub(crate) fn uuencode(&mut self, data: &[u8], depth: u32) {
        let mut from = 0;
        while let Some(b) = uue::find_begin(data, from, data.len().saturating_sub(from)) {
            if !self.admit() {
                return;
            }
            let block = data.get(b.body..).unwrap_or_default();
            let (dec, used) = uue::decode_block(block, b.base64, self.cap());
            self.named(b.name.to_vec(), |w| {
                w.decoded(dec.out, used as u64, dec.error, depth, "uuencoded file")
            });
            from = b.body.saturating_add(used).max(from + 1);
            if self.stopped {
                return;
            }
        }
    }

    /// A BinHex 4.0 file: its data fork, and its resource fork if any.
    pub(crate) fn binhex(&mut self, data: &[u8], depth: u32) {
        let Some(at) = find(data, binhex::MARKER) else {
            return self.skip(Gap::Corrupt, "binhex: marker line not found".into());
        };
        let cap = self.cap();
        let stream = binhex::decode_stream(&data[at..], cap);
        if stream.out.len() >= cap {
            return self.skip(
                Gap::Limit,
                format!("binhex: decoded stream reached {cap} bytes (member size limit)"),
            );
        }
        let Some(h) = binhex::header(&stream.out) else {
            let why = stream.error.unwrap_or_else(|| "header unreadable".into());
            return self.skip(Gap::Corrupt, format!("binhex: {why}"));
        };
        if !h.crc_ok {
            self.skip(Gap::Corrupt, "binhex: header CRC does not match".into());
        }
        let encoded = data.len() as u64;
        let (bytes, cut, crc_ok, next) = binhex::fork(&stream.out, h.start, h.data_len);
        let mut stream_error = stream.error;
        let fork_error = |cut: bool, crc_ok: bool, err: &mut Option<String>| match (cut, crc_ok) {
            (true, _) => Some(err.take().unwrap_or_else(|| "fork cut short".into())),
            (false, false) => Some("binhex: fork CRC does not match".into()),
            _ => None,
        };
        let name = h.name.to_vec();
        if !bytes.is_empty() && self.admit() {
            let error = fork_error(cut, crc_ok, &mut stream_error);
            let out = bytes.to_vec();
            self.named(name.clone(), |w| {
                w.decoded(out, encoded, error, depth, "binhex data fork")
            });
        }
        if h.rsrc_len > 0 && !cut && !self.stopped && self.admit() {
            let (bytes, cut, crc_ok, _) = binhex::fork(&stream.out, next, h.rsrc_len);
            let error = fork_error(cut, crc_ok, &mut stream_error);
            let out = bytes.to_vec();
            let rsrc = [name.as_slice(), b"/$rsrc"].concat();
            self.named(rsrc, |w| {
                w.decoded(out, encoded, error, depth, "binhex resource fork")
            });
        }
        if let Some(e) = stream_error {
            self.skip(Gap::Corrupt, e);
        }
    }
}

/// The body of an x-uuencode part: its `begin` block, or bare data lines.
fn uue_body(body: &[u8], cap: usize) -> Decoded {
    match uue::find_begin(body, 0, body.len()) {
        Some(b) => uue::decode_block(body.get(b.body..).unwrap_or_default(), b.base64, cap).0,
        None => uue::decode_block(body, false, cap).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_mail_strictly() {
        let k = |d: &[u8]| sniff(d).map(|f| f.kind);
        let eml = b"Received: x\r\nFrom: a@b\r\nTo: c@d\r\n\r\nhi";
        assert_eq!(k(eml), Some(ContainerKind::Mail));
        let mbox = b"From a@b Thu Nov 26 10:00:00 2026\nFrom: a@b\nSubject: s\n\nx\n";
        assert_eq!(k(mbox), Some(ContainerKind::Mail));
        assert_eq!(k(b"From here we go\nimport os\nSubject: x\nTo: y\n"), None);
        assert_eq!(k(b"// Subject: x\nTo: y\n"), None);
        assert_eq!(k(b"Subject: only one\n\nTo: late\n"), None);
        assert_eq!(
            k(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"),
            Some(ContainerKind::Mail)
        );
        assert_eq!(k(b"Content-Type: text/plain\n\nhello\n"), None);
        assert_eq!(
            k(b"x: int = 5\nsubject: 1\nto: 2\n"),
            Some(ContainerKind::Mail)
        );
        assert_eq!(k(b".TH LS 1\n.SH NAME\nls \\- list\n"), None);
        assert_eq!(k(b"From: a\nTo: b\0"), None);
    }

    #[test]
    fn sniffs_uuencode_and_binhex() {
        let k = |d: &[u8]| sniff(d).map(|f| f.kind);
        assert_eq!(
            k(b"hello\nbegin 644 cat.txt\n#0V%T\n`\nend\n"),
            Some(ContainerKind::Uuencode)
        );
        assert_eq!(
            k(b"(This file must be converted with BinHex 4.0)\n:abc:\n"),
            Some(ContainerKind::BinHex)
        );
        assert_eq!(k(b"begin 644 and then prose\n"), None);
    }

    #[test]
    fn mbox_split() {
        let d = b"From a x\nSubject: 1\n\nbody\nFrom the start\nFrom b y\nSubject: 2\n\n";
        let v: Vec<_> = mbox_starts(d).collect();
        assert_eq!(v, [(0, 9), (41, 50)]);
    }

    #[test]
    fn find_needle() {
        assert_eq!(find(b"aab", b"ab"), Some(1));
        assert_eq!(find(b"aa", b"ab"), None);
        assert_eq!(find(b"xyz", b""), None);
    }

    #[test]
    fn deep_multipart_nesting_is_a_limit() {
        let mut msg = b"Content-Type: text/plain\n\nleaf\n".to_vec();
        for i in 0..40 {
            let mut outer = format!(
                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
            )
            .into_bytes();
            outer.extend_from_slice(&msg);
            outer.extend_from_slice(format!("\n--b{i}--\n").as_bytes());
            msg = outer;
        }
        let mut gaps = Vec::new();
        crate::walk(&msg, &crate::ArchiveLimits::default(), &mut |ev| {
            if let crate::MemberEvent::Skip { reason, detail, .. } = ev {
                gaps.push((reason, detail));
            }
        });
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].0, Gap::Limit);
    }
}
