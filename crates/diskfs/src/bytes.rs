//! Little helpers every reader shares: little-endian fields read from an
//! on-disk structure (0 when the structure is too short, so a truncated
//! record reads as zeros, never as a panic), and UTF-16 names as WTF-8
//! (UTF-8, except that an unpaired surrogate keeps its own 3-byte form,
//! so no two on-disk names become one).

pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn le64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8).map_or(0, |s| {
        u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}

/// UTF-16 code units as WTF-8.
pub(crate) fn wtf8_from_utf16(units: impl IntoIterator<Item = u16>) -> Vec<u8> {
    let mut out = Vec::new();
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
            Err(e) => {
                let u = u32::from(e.unpaired_surrogate());
                out.push(0xE0 | (u >> 12) as u8);
                out.push(0x80 | ((u >> 6) & 0x3F) as u8);
                out.push(0x80 | (u & 0x3F) as u8);
            }
        }
    }
    out
}

/// UTF-16 little-endian bytes as WTF-8 (an odd last byte is dropped).
pub(crate) fn wtf8_from_utf16le(raw: &[u8]) -> Vec<u8> {
    wtf8_from_utf16(
        raw.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]])),
    )
}

/// UCS-2/UTF-16 big-endian bytes as WTF-8 (an odd last byte is dropped).
pub(crate) fn wtf8_from_utf16be(raw: &[u8]) -> Vec<u8> {
    wtf8_from_utf16(
        raw.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_fields_read_as_zero() {
        assert_eq!(le32(&[1, 2, 3], 0), 0);
        assert_eq!(le16(&[1, 2], 0), 0x0201);
        assert_eq!(le64(&[0; 7], 0), 0);
    }

    #[test]
    fn unpaired_surrogates_keep_their_own_bytes() {
        assert_eq!(wtf8_from_utf16([0x61, 0xD83D, 0xDE00]), "a😀".as_bytes());
        assert_eq!(
            wtf8_from_utf16([0xD800, 0x62]),
            vec![0xED, 0xA0, 0x80, b'b']
        );
        assert_eq!(wtf8_from_utf16be(&[0, b'a', 0x30, 0x42]), "aあ".as_bytes());
        assert_eq!(
            wtf8_from_utf16le(&[b'a', 0, 0x00, 0xD8]),
            vec![b'a', 0xED, 0xA0, 0x80]
        );
    }
}
