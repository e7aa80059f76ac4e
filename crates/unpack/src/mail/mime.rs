//! MIME structure (RFC 2045–2047, 2231): header fields (unfolded), the
//! `Content-Type` / `Content-Disposition` parameters, file names in
//! RFC 2231 (`filename*=utf-8''…`, continuations) and RFC 2047
//! encoded-word form, and the parts of a multipart body, found one at a
//! time by their boundary lines.

use super::b64;
use super::qp::hex_pair;
use super::{lines, trim};

/// Parameters and fields of one entity's header that decoding needs.
#[derive(Default)]
pub(crate) struct Entity {
    /// `type/subtype`, lower case (empty: none given).
    pub ctype: Vec<u8>,
    pub boundary: Option<Vec<u8>>,
    /// `Content-Transfer-Encoding`, lower case.
    pub encoding: Vec<u8>,
    /// The file name (`filename` of the disposition, else `name` of the type).
    pub name: Option<Vec<u8>>,
}

/// Split an entity into header and body at the first empty line. Without
/// one the whole entity is header.
pub(crate) fn split(e: &[u8]) -> (&[u8], &[u8]) {
    for (start, line) in lines(e) {
        if line.is_empty() {
            let end = start + super::newline_at(e, start);
            return (&e[..start], e.get(end..).unwrap_or_default());
        }
    }
    (e, &[])
}

/// Header fields the walker reads; all others are passed over unkept.
const WANTED: [&[u8]; 3] = [
    b"content-type",
    b"content-transfer-encoding",
    b"content-disposition",
];

/// Repeated fields kept at most (the last of a kind wins).
const MAX_KEPT: usize = 12;

/// Longest unfolded field value kept (a longer one is cut).
const MAX_FIELD: usize = 64 * 1024;

/// The unfolded fields of [`WANTED`]: (index in it, value). Other fields
/// cost nothing but the scan, so a hostile header of millions of lines
/// allocates nothing.
pub(crate) fn fields(h: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut keeping = false;
    for (_, line) in lines(h) {
        if line.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
            if let Some((_, v)) = out.last_mut().filter(|_| keeping) {
                if v.len() < MAX_FIELD {
                    v.push(b' ');
                    v.extend_from_slice(trim(line));
                }
            }
            continue;
        }
        keeping = false;
        let Some(colon) = line.iter().take(128).position(|&c| c == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        let wanted = WANTED.iter().position(|w| name.eq_ignore_ascii_case(w));
        if let Some(k) = wanted.filter(|_| out.len() < MAX_KEPT) {
            let value = trim(&line[colon + 1..]);
            out.push((k, value.get(..MAX_FIELD).unwrap_or(value).to_vec()));
            keeping = true;
        }
    }
    out
}

/// Parse the header of an entity.
pub(crate) fn entity(h: &[u8]) -> Entity {
    let mut e = Entity::default();
    let (mut type_name, mut file_name) = (None, None);
    for (k, value) in fields(h) {
        match k {
            0 => {
                let (main, params) = parse_params(&value);
                e.ctype = main.to_ascii_lowercase();
                e.boundary = param(&params, b"boundary");
                type_name = file_param(&params, b"name");
            }
            1 => e.encoding = trim(&value).to_ascii_lowercase(),
            _ => file_name = file_param(&parse_params(&value).1, b"filename"),
        }
    }
    e.name = file_name.or(type_name).filter(|n| !n.is_empty());
    e
}

/// A parameter: lower-case name (with any `*N*` suffix), value (quotes
/// removed).
type Param = (Vec<u8>, Vec<u8>);

/// Split a structured field into its main value and parameters.
fn parse_params(v: &[u8]) -> (&[u8], Vec<Param>) {
    let mut parts = split_semicolons(v).into_iter();
    let main = trim(parts.next().unwrap_or_default());
    let params = parts
        .filter_map(|p| {
            let eq = p.iter().position(|&c| c == b'=')?;
            let name = trim(&p[..eq]).to_ascii_lowercase();
            let raw = trim(&p[eq + 1..]);
            Some((name, unquote(raw)))
        })
        .take(256)
        .collect();
    (main, params)
}

/// Split at semicolons outside double quotes.
fn split_semicolons(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &c) in v.iter().enumerate() {
        match c {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out
}

fn unquote(raw: &[u8]) -> Vec<u8> {
    let Some(inner) = raw.strip_prefix(b"\"") else {
        return raw.to_vec();
    };
    let inner = inner.strip_suffix(b"\"").unwrap_or(inner);
    let mut out = Vec::with_capacity(inner.len());
    let mut escaped = false;
    for &c in inner {
        if c == b'\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    out
}

fn param(params: &[Param], name: &[u8]) -> Option<Vec<u8>> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// A file-name parameter in any of its forms: `name*` (RFC 2231
/// extended), `name*0`, `name*1*`, … (continuations), or plain `name`
/// (possibly RFC 2047 encoded words).
fn file_param(params: &[Param], name: &[u8]) -> Option<Vec<u8>> {
    let value = file_param_full(params, name)?;
    Some(value.get(..MAX_NAME).unwrap_or(&value).to_vec())
}

fn file_param_full(params: &[Param], name: &[u8]) -> Option<Vec<u8>> {
    let mut ext = name.to_vec();
    ext.push(b'*');
    if let Some(v) = param(params, &ext) {
        return Some(percent_decode(strip_charset(&v)));
    }
    let mut joined = Vec::new();
    let mut found = false;
    for k in 0..64u32 {
        let plain = [name, b"*", k.to_string().as_bytes()].concat();
        let star = [plain.as_slice(), b"*"].concat();
        if let Some(v) = param(params, &plain) {
            joined.extend_from_slice(&v);
        } else if let Some(v) = param(params, &star) {
            let v = if k == 0 { strip_charset(&v) } else { &v };
            joined.extend_from_slice(&percent_decode(v));
        } else {
            break;
        }
        found = true;
    }
    if found {
        return Some(joined);
    }
    param(params, name).map(|v| decode_words(v.get(..MAX_NAME).unwrap_or(&v)))
}

/// The value of an RFC 2231 extended parameter without `charset'lang'`.
fn strip_charset(v: &[u8]) -> &[u8] {
    let mut quotes = v.iter().enumerate().filter(|(_, &c)| c == b'\'');
    match (quotes.next(), quotes.next()) {
        (Some(_), Some((second, _))) => &v[second + 1..],
        _ => v,
    }
}

/// `%XX` escapes decoded (RFC 2231 and `data:` URIs).
pub(crate) fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&c) = v.get(i) {
        match (c, hex_pair(v, i + 1)) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`) decoded
/// to their bytes (the charset is not converted); blanks between two
/// encoded words dropped.
pub(crate) fn decode_words(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if let Some((bytes, used)) = encoded_word(&v[i..]) {
            out.extend_from_slice(&bytes);
            i += used;
            let blanks = v[i..]
                .iter()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
            if blanks > 0 && encoded_word(&v[i + blanks..]).is_some() {
                i += blanks;
            }
            continue;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// Longest encoded word looked for (RFC 2047 allows 75 characters).
const MAX_WORD: usize = 256;

/// Longest file name kept from a header (longer ones are cut).
const MAX_NAME: usize = 4096;

/// One encoded word at the start of `v`: its bytes and length.
fn encoded_word(v: &[u8]) -> Option<(Vec<u8>, usize)> {
    let rest = v.strip_prefix(b"=?")?;
    let q1 = rest.iter().take(64).position(|&c| c == b'?')?;
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    // An encoded word is at most 75 characters (RFC 2047 §2).
    let window = rest.get(text_start..)?;
    let window = window.get(..MAX_WORD).unwrap_or(window);
    let text_len = window.windows(2).position(|w| w == b"?=")?;
    let text = &rest[text_start..text_start + text_len];
    let bytes = match enc.to_ascii_uppercase() {
        b'B' => b64::decode(text, usize::MAX, false).out,
        b'Q' => {
            let spaced: Vec<u8> = text
                .iter()
                .map(|&c| if c == b'_' { b' ' } else { c })
                .collect();
            super::qp::decode(&spaced, usize::MAX).out
        }
        _ => return None,
    };
    Some((bytes, 2 + text_start + text_len + 2))
}

/// The parts of a multipart body, one at a time.
pub(crate) struct Parts<'a> {
    body: &'a [u8],
    delimiter: Vec<u8>,
    /// Where the next part starts (None before the first delimiter).
    pos: Option<usize>,
    /// Offset searching goes on from.
    scan: usize,
    pub closed: bool,
    done: bool,
}

impl<'a> Parts<'a> {
    pub(crate) fn new(body: &'a [u8], boundary: &[u8]) -> Self {
        Parts {
            body,
            delimiter: [b"--", boundary].concat(),
            pos: None,
            scan: 0,
            closed: false,
            done: false,
        }
    }

    /// The next delimiter line at or after `self.scan`: (line start, line
    /// end after its break, closing).
    fn next_delimiter(&mut self) -> Option<(usize, usize, bool)> {
        let rest = self.body.get(self.scan..)?;
        for (start, line) in lines(rest) {
            let Some(after) = line.strip_prefix(self.delimiter.as_slice()) else {
                continue;
            };
            let closing = after.starts_with(b"--");
            let tail = if closing { &after[2..] } else { after };
            if !trim(tail).is_empty() {
                continue;
            }
            let s = self.scan + start;
            let e = s + line.len();
            return Some((s, e + super::newline_at(self.body, e), closing));
        }
        None
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        loop {
            let Some((s, e, closing)) = self.next_delimiter() else {
                self.done = true;
                // No closing delimiter: the last part runs to the end.
                return self.pos.map(|p| self.body.get(p..).unwrap_or_default());
            };
            self.scan = e;
            let prev = self.pos.replace(e);
            if closing {
                self.done = true;
                self.closed = true;
            }
            if let Some(p) = prev {
                // The line break before the delimiter belongs to it.
                let end = strip_break(self.body, p, s);
                return Some(&self.body[p..end]);
            }
            if closing {
                return None;
            }
        }
    }
}

/// `end` moved back over one line break, not before `start`.
fn strip_break(d: &[u8], start: usize, end: usize) -> usize {
    let mut e = end;
    if e > start && d.get(e - 1) == Some(&b'\n') {
        e -= 1;
        if e > start && d.get(e - 1) == Some(&b'\r') {
            e -= 1;
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parameters() {
        let h = b"Content-Type: multipart/mixed;\r\n boundary=\"=+b;x\"\r\nContent-Disposition: attachment; filename*=utf-8''caf%C3%A9.txt\r\n";
        let e = entity(h);
        assert_eq!(e.ctype, b"multipart/mixed");
        assert_eq!(e.boundary.as_deref(), Some(&b"=+b;x"[..]));
        assert_eq!(e.name.as_deref(), Some("café.txt".as_bytes()));
        let e = entity(b"Content-Type: application/x; name*0*=us-ascii''a%2E; name*1=\"exe\"\n");
        assert_eq!(e.name.as_deref(), Some(&b"a.exe"[..]));
        let e =
            entity(b"content-type: text/plain; name=\"=?UTF-8?B?ZWljYXI=?= =?utf-8?Q?=2Ecom?=\"\n");
        assert_eq!(e.name.as_deref(), Some(&b"eicar.com"[..]));
    }

    #[test]
    fn encoded_words() {
        assert_eq!(decode_words(b"a =?x?q?b_c?= d"), b"a b c d");
        assert_eq!(decode_words(b"=?x?B?YQ==?=  =?x?B?Yg==?="), b"ab");
        assert_eq!(decode_words(b"=?broken"), b"=?broken");
    }

    #[test]
    fn multipart_parts() {
        let body = b"pre\r\n--b\r\nA\r\n--b \r\n\r\nB\r\n--b--\r\nepilogue";
        let mut p = Parts::new(body, b"b");
        assert_eq!(p.next(), Some(&b"A"[..]));
        assert_eq!(p.next(), Some(&b"\r\nB"[..]));
        assert_eq!(p.next(), None);
        assert!(p.closed);
        let mut p = Parts::new(b"--b\nA\n--b\nB", b"b");
        assert_eq!(p.next(), Some(&b"A"[..]));
        assert_eq!(p.next(), Some(&b"B"[..]));
        assert_eq!(p.next(), None);
        assert!(!p.closed);
        assert_eq!(Parts::new(b"no parts", b"b").next(), None);
    }

    #[test]
    fn split_at_empty_line() {
        assert_eq!(split(b"A: b\r\n\r\nbody"), (&b"A: b\r\n"[..], &b"body"[..]));
        assert_eq!(split(b"A: b\n"), (&b"A: b\n"[..], &b""[..]));
    }
}
