//! Lenient base64 (RFC 2045 §6.8 and the `data:` URIs of HTML): line
//! breaks and characters outside the alphabet are ignored, as mail readers
//! do; `-` and `_` (the URL-safe alphabet) are accepted too. Padding ends
//! a quantum and decoding goes on after it (some mailers concatenate
//! encoded blocks). Output stops at a cap.

/// What a decoder produced: the bytes (at most the cap it was given) and,
/// when the input was damaged, why.
pub(crate) struct Decoded {
    pub out: Vec<u8>,
    pub error: Option<String>,
}

impl Decoded {
    /// Bytes decoded without a fault.
    pub(crate) fn ok(out: Vec<u8>) -> Self {
        Decoded { out, error: None }
    }
}

/// Not a base64 character.
const NONE: u8 = 0xff;

/// The 6-bit value of every byte (both alphabets), [`NONE`] for the rest.
const TABLE: [u8; 256] = {
    let mut t = [NONE; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        if i < 10 {
            t[b'0' as usize + i] = 52 + i as u8;
        }
        i += 1;
    }
    t[b'+' as usize] = 62;
    t[b'-' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'_' as usize] = 63;
    t
};

/// The 6-bit value of a base64 character, or `None` for anything else.
fn value(c: u8) -> Option<u32> {
    let v = TABLE[usize::from(c)];
    (v != NONE).then_some(u32::from(v))
}

/// True for a character of the base64 alphabet (either variant) or `=`.
pub(crate) fn is_b64_char(c: u8) -> bool {
    c == b'=' || value(c).is_some()
}

/// Append the bytes of a partial quantum of `n` sextets held in `acc`.
fn flush(acc: u32, n: u32, out: &mut Vec<u8>) {
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => {
            out.push((acc >> 10) as u8);
            out.push((acc >> 2) as u8);
        }
        _ => {}
    }
}

/// Decode `input`, writing at most `cap` bytes. With `strict_end`, a last
/// quantum cut short without padding (a truncated part) is an error.
pub(crate) fn decode(input: &[u8], cap: usize, strict_end: bool) -> Decoded {
    let mut out = Vec::with_capacity((input.len() / 4 * 3 + 3).min(cap));
    let (mut acc, mut n) = (0u32, 0u32);
    let mut padded_cut = false;
    for &c in input {
        if out.len() >= cap {
            out.truncate(cap);
            return Decoded { out, error: None };
        }
        if c == b'=' {
            if n == 1 {
                padded_cut = true;
            }
            flush(acc, n, &mut out);
            (acc, n) = (0, 0);
            continue;
        }
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            (acc, n) = (0, 0);
        }
    }
    let cut = n == 1 || (strict_end && n > 0);
    flush(acc, n, &mut out);
    out.truncate(cap);
    let error = (cut || padded_cut).then(|| "base64 text ends in the middle of a quantum".into());
    Decoded { out, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let d = decode(b"SGVs\r\nbG8=", 100, true);
        assert_eq!(d.out, b"Hello");
        assert!(d.error.is_none());
        assert_eq!(decode(b"Zm9vYmFy", 100, true).out, b"foobar");
        assert_eq!(decode(b"Zm9vYg", 100, false).out, b"foob");
        assert!(decode(b"Zm9vYg", 100, true).error.is_some());
        assert!(decode(b"Zm9vY", 100, false).error.is_some());
        assert_eq!(decode(b"Zm9v\nYmFy", 4, true).out, b"foob");
        assert_eq!(decode(b"Zg==Zm8=", 100, true).out, b"ffo");
        assert_eq!(decode(b"-_-_", 100, true).out, [0xfb, 0xff, 0xbf]);
        assert_eq!(decode(b"", 100, true).out, b"");
    }
}
