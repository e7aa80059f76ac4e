//! Quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` at the end of a
//! line (trailing blanks allowed) is a soft line break; an `=` that starts
//! neither is kept as it is, as mail readers do. Output stops at a cap.

use super::b64::Decoded;

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The value of the two hex digits at `d[i..i + 2]`.
pub(crate) fn hex_pair(d: &[u8], i: usize) -> Option<u8> {
    let hi = hex(*d.get(i)?)?;
    let lo = hex(*d.get(i.checked_add(1)?)?)?;
    Some(hi << 4 | lo)
}

/// Length of a soft line break starting after the `=` at `d[i]`: blanks
/// then CRLF or LF (or the end of the text).
fn soft_break(d: &[u8], i: usize) -> Option<usize> {
    let rest = d.get(i + 1..)?;
    let blanks = rest
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    match rest.get(blanks..) {
        Some([]) => Some(blanks),
        Some([b'\n', ..]) => Some(blanks + 1),
        Some([b'\r', b'\n', ..]) => Some(blanks + 2),
        _ => None,
    }
}

/// Decode quoted-printable `input`, writing at most `cap` bytes.
pub(crate) fn decode(input: &[u8], cap: usize) -> Decoded {
    let mut out = Vec::with_capacity(input.len().min(cap));
    let mut i = 0;
    while i < input.len() && out.len() < cap {
        let c = input[i];
        if c != b'=' {
            out.push(c);
            i += 1;
        } else if let Some(b) = hex_pair(input, i + 1) {
            out.push(b);
            i += 3;
        } else if let Some(n) = soft_break(input, i) {
            i += 1 + n;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Decoded { out, error: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(decode(b"a=3Db=\r\nc", 100).out, b"a=bc");
        assert_eq!(decode(b"x= \t\ny=", 100).out, b"xy");
        assert_eq!(decode(b"=4=5G=", 100).out, b"=4=5G");
        assert_eq!(decode(b"=41=42=43", 2).out, b"AB");
        assert_eq!(decode(b"caf=C3=A9", 100).out, "café".as_bytes());
    }
}
