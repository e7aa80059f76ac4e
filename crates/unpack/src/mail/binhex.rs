//! BinHex 4.0 (`.hqx`): after the `(This file must be converted with
//! BinHex 4.0)` line, text between two colons in a 64-character alphabet
//! (line breaks ignored) carries 6-bit groups; the bytes they make are
//! run-length encoded (`0x90 n` repeats the byte before it to `n` copies,
//! `0x90 0` is a literal 0x90). The result is a header (name, type,
//! creator, flags, data and resource fork lengths, CRC) and the two forks,
//! each followed by its CRC-16/XMODEM.

use super::b64::Decoded;

/// The line that starts a BinHex 4.0 file.
pub(crate) const MARKER: &[u8] = b"(This file must be converted with BinHex";

const ALPHABET: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/// The run-length marker byte.
const RLE: u8 = 0x90;

fn value(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// CRC-16/XMODEM (polynomial 0x1021, initial 0), as BinHex computes it.
pub(crate) fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The run-length decoder, fed one byte at a time.
struct Rle {
    out: Vec<u8>,
    marker: bool,
    cap: usize,
}

impl Rle {
    fn new(cap: usize) -> Self {
        Rle {
            out: Vec::new(),
            marker: false,
            cap,
        }
    }

    fn push(&mut self, b: u8) {
        if self.marker {
            self.marker = false;
            match (b, self.out.last().copied()) {
                (0, _) => self.out.push(RLE),
                (n, Some(last)) => {
                    let more = usize::from(n).saturating_sub(1);
                    let room = self.cap.saturating_sub(self.out.len());
                    self.out.extend(std::iter::repeat_n(last, more.min(room)));
                }
                (_, None) => {}
            }
        } else if b == RLE {
            self.marker = true;
        } else {
            self.out.push(b);
        }
    }
}

/// Decode the encoded text after the marker line (`text` starts anywhere
/// before the opening colon): the run-length-decoded bytes, at most `cap`.
pub(crate) fn decode_stream(text: &[u8], cap: usize) -> Decoded {
    let Some(open) = text.iter().position(|&c| c == b':') else {
        let error = Some("binhex: no `:` starts the encoded data".into());
        return Decoded {
            out: Vec::new(),
            error,
        };
    };
    let mut rle = Rle::new(cap);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text.get(open + 1..).unwrap_or_default() {
        if rle.out.len() >= cap {
            rle.out.truncate(cap);
            return Decoded {
                out: rle.out,
                error: None,
            };
        }
        if c == b':' {
            return Decoded {
                out: rle.out,
                error: None,
            };
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(v) = value(c) else {
            let error = Some(format!("binhex: character 0x{c:02x} outside the alphabet"));
            return Decoded {
                out: rle.out,
                error,
            };
        };
        acc = (acc << 6 | u32::from(v)) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            rle.push((acc >> bits) as u8);
        }
    }
    let error = Some("binhex: no closing `:` (truncated)".into());
    Decoded {
        out: rle.out,
        error,
    }
}

/// The header of a decoded BinHex stream.
pub(crate) struct Header<'a> {
    pub name: &'a [u8],
    pub data_len: u64,
    pub rsrc_len: u64,
    /// Offset of the data fork in the stream.
    pub start: usize,
    pub crc_ok: bool,
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Parse the header at the start of the decoded stream `d`.
pub(crate) fn header(d: &[u8]) -> Option<Header<'_>> {
    let n = usize::from(*d.first()?);
    if !(1..=63).contains(&n) {
        return None;
    }
    let name = d.get(1..1 + n)?;
    // name, version byte, type, creator, flags, then the two lengths.
    let lens = 1 + n + 1 + 4 + 4 + 2;
    let data_len = u64::from(be32(d, lens)?);
    let rsrc_len = u64::from(be32(d, lens + 4)?);
    let crc_at = lens + 8;
    let crc_ok = be16(d, crc_at)? == crc16(d.get(..crc_at)?);
    Some(Header {
        name,
        data_len,
        rsrc_len,
        start: crc_at + 2,
        crc_ok,
    })
}

/// One fork of `len` bytes at `start` in `d`: its bytes (as many as there
/// are), whether it was cut short, whether its CRC matches, and where the
/// next fork starts.
pub(crate) fn fork(d: &[u8], start: usize, len: u64) -> (&[u8], bool, bool, usize) {
    let rest = d.get(start..).unwrap_or_default();
    let want = usize::try_from(len).unwrap_or(usize::MAX);
    let bytes = rest.get(..want).unwrap_or(rest);
    let crc_at = start.saturating_add(bytes.len());
    let stored = be16(d, crc_at);
    let cut = bytes.len() < want || stored.is_none();
    let crc_ok = stored == Some(crc16(bytes));
    (bytes, cut, crc_ok, crc_at.saturating_add(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    #[test]
    fn run_length() {
        let mut r = Rle {
            out: Vec::new(),
            marker: false,
            cap: 100,
        };
        for b in [b'a', RLE, 4, RLE, 0, b'b'] {
            r.push(b);
        }
        assert_eq!(r.out, [b'a', b'a', b'a', b'a', RLE, b'b']);
        let mut r = Rle {
            out: vec![0],
            marker: false,
            cap: 10,
        };
        for _ in 0..100 {
            r.push(RLE);
            r.push(255);
        }
        assert_eq!(r.out.len(), 10);
    }
}
