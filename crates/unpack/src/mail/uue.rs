//! uuencode: `begin MODE NAME` … `end` blocks (historic uuencode, each
//! line a length character then groups of four characters for three
//! bytes) and `begin-base64 MODE NAME` … `====` blocks (`uuencode -m`).
//! Found anywhere in a text file, or as a MIME part's body with
//! `Content-Transfer-Encoding: x-uuencode`.

use super::b64::{self, Decoded};
use super::lines;

/// A `begin` line: where its block's data starts, the file name it
/// stores, and whether the block is base64 (`begin-base64`).
pub(crate) struct Begin<'a> {
    pub body: usize,
    pub name: &'a [u8],
    pub base64: bool,
}

/// Parse `line` as a `begin` line: `begin` or `begin-base64`, a blank, an
/// octal mode of 3 or 4 digits, a blank, a non-empty name.
fn begin_line(line: &[u8]) -> Option<(&[u8], bool)> {
    let (rest, base64) = if let Some(r) = line.strip_prefix(b"begin-base64 ") {
        (r, true)
    } else {
        (line.strip_prefix(b"begin ")?, false)
    };
    let digits = rest
        .iter()
        .take_while(|c| (b'0'..=b'7').contains(c))
        .count();
    if !(3..=4).contains(&digits) || rest.get(digits) != Some(&b' ') {
        return None;
    }
    let name = super::trim(rest.get(digits + 1..)?);
    (!name.is_empty() && name.len() <= 1024).then_some((name, base64))
}

/// The length of the data a historic uuencoded line carries, if the line
/// is one: a length character and at least the characters it needs.
fn line_len(line: &[u8]) -> Option<usize> {
    let (&first, rest) = line.split_first()?;
    if !(0x20..=0x60).contains(&first) {
        return None;
    }
    let n = usize::from((first - 0x20) & 0x3f);
    let needed = n.div_ceil(3) * 4;
    let body = super::trim_end(rest);
    let ok = body.len() + 2 >= needed && body.iter().all(|c| (0x20..=0x60).contains(c));
    ok.then_some(n)
}

/// A historic data line, possibly cut short: a length character for 1 to
/// 45 bytes, then only characters of the encoding.
fn looks_like_data(line: &[u8]) -> bool {
    let Some((&first, rest)) = line.split_first() else {
        return false;
    };
    (b'!'..=b'M').contains(&first)
        && !rest.is_empty()
        && rest.iter().all(|c| (0x20..=0x60).contains(c))
}

/// The first `begin` line at or after `from` whose next line looks like
/// data of its kind (so prose that happens to say "begin 644 x" is not
/// taken), searching at most `limit` bytes.
pub(crate) fn find_begin(data: &[u8], from: usize, limit: usize) -> Option<Begin<'_>> {
    let window = data.get(from..)?;
    let window = window.get(..limit).unwrap_or(window);
    for at in memchr::memmem::find_iter(window, b"begin") {
        if !super::at_line_start(window, at) {
            continue;
        }
        let Some((_, line)) = lines(&window[at..]).next() else {
            continue;
        };
        let Some((name, base64)) = begin_line(line) else {
            continue;
        };
        let body = from + at + line.len();
        let body = body + newline_len(data, body);
        let next = lines(data.get(body..).unwrap_or_default()).next();
        let valid = match next {
            Some((_, l)) if base64 => !l.is_empty() && l.iter().all(|&c| b64::is_b64_char(c)),
            Some((_, l)) => looks_like_data(l),
            None => false,
        };
        if valid {
            return Some(Begin { body, name, base64 });
        }
    }
    None
}

/// Length of the line break at `d[i]` (0, 1 or 2).
fn newline_len(d: &[u8], i: usize) -> usize {
    match d.get(i..) {
        Some([b'\r', b'\n', ..]) => 2,
        Some([b'\n', ..]) => 1,
        _ => 0,
    }
}

/// Decode the block whose data starts at `data[0]`; also returns how many
/// bytes of `data` the block used (through its `end` line).
pub(crate) fn decode_block(data: &[u8], base64: bool, cap: usize) -> (Decoded, usize) {
    if base64 {
        return decode_base64_block(data, cap);
    }
    let mut out = Vec::new();
    for (start, line) in lines(data) {
        let end = start + line.len();
        if out.len() >= cap {
            out.truncate(cap);
            return (Decoded { out, error: None }, end);
        }
        if super::trim(line) == b"end" {
            return (Decoded { out, error: None }, end);
        }
        let Some(n) = line_len(line) else {
            let error = Some("uuencoded line with characters outside the encoding".into());
            return (Decoded { out, error }, end);
        };
        decode_line(line.get(1..).unwrap_or_default(), n, &mut out);
    }
    let error = Some("uuencoded block has no `end` line (truncated)".into());
    (Decoded { out, error }, data.len())
}

/// Append the `n` bytes one historic line carries (`chars` after its
/// length character; missing trailing characters count as zero).
fn decode_line(chars: &[u8], n: usize, out: &mut Vec<u8>) {
    let sextet = |i: usize| u32::from(chars.get(i).map_or(0, |c| c.wrapping_sub(0x20) & 0x3f));
    let mut left = n;
    let mut i = 0;
    while left > 0 {
        let v = sextet(i) << 18 | sextet(i + 1) << 12 | sextet(i + 2) << 6 | sextet(i + 3);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        let k = left.min(3);
        out.extend_from_slice(&bytes[..k]);
        left -= k;
        i += 4;
    }
}

/// A `begin-base64` block: base64 lines up to a `====` line.
fn decode_base64_block(data: &[u8], cap: usize) -> (Decoded, usize) {
    for (start, line) in lines(data) {
        if super::trim(line) == b"====" {
            let d = b64::decode(&data[..start], cap, true);
            return (d, start + line.len());
        }
    }
    let mut d = b64::decode(data, cap, false);
    d.error = Some("begin-base64 block has no `====` line (truncated)".into());
    (d, data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn historic_block() {
        // "Cat" encoded by uuencode.
        let text = b"begin 644 cat.txt\n#0V%T\n`\nend\n";
        let b = find_begin(text, 0, 4096).expect("begin");
        assert_eq!(b.name, b"cat.txt");
        assert!(!b.base64);
        let (d, used) = decode_block(&text[b.body..], false, 100);
        assert_eq!(d.out, b"Cat");
        assert!(d.error.is_none());
        assert_eq!(&text[b.body..][..used], b"#0V%T\n`\nend");
    }

    #[test]
    fn base64_block_and_truncation() {
        let text = b"x\r\nbegin-base64 600 a b\r\nQ2F0\r\n====\r\n";
        let b = find_begin(text, 0, 4096).expect("begin");
        assert_eq!(b.name, b"a b");
        assert!(b.base64);
        assert_eq!(decode_block(&text[b.body..], true, 100).0.out, b"Cat");
        let (d, _) = decode_block(b"#0V%T\n", false, 100);
        assert_eq!(d.out, b"Cat");
        assert!(d.error.is_some());
    }

    #[test]
    fn prose_is_not_a_block() {
        assert!(find_begin(b"begin 644 now we start\nHello there.\n", 0, 4096).is_none());
        assert!(find_begin(b"begin 9 x\n#0V%T\n", 0, 4096).is_none());
    }
}
