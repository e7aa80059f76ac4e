//! `COMPRESS.EXE` files: SZDD (`setup.ex_`, one LZSS-compressed file) and
//! its KWAJ sibling (stored, XOR 0xFF, the same LZSS, or MSZIP; the LZ +
//! Huffman method 3 is an `Unsupported` gap). The LZSS decoder is written
//! here from the format: a 4096-byte ring initialised with spaces, writing
//! from position 4096 - 16, a flag byte whose bits (low bit first) select a
//! literal byte or a two-byte (12-bit position, 4-bit length + 3) copy from
//! the ring. The decoder writes into memory and stops at [`Walker::cap`];
//! the length the header declares is only compared with what came out (a
//! shorter output is a `Corrupt` gap), never used to allocate. The member
//! is named `$szdd` (the original name's last character is stored, its
//! other characters are not), or for KWAJ by the name its header stores,
//! else `$kwaj`.

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

const SZDD: &[u8; 8] = b"SZDD\x88\xf0\x27\x33";
const KWAJ: &[u8; 8] = b"KWAJ\x88\xf0\x27\xd1";
const SZDD_DATA: usize = 14;
const RING: usize = 4096;

/// Recognise an SZDD (mode `A`) or KWAJ (known method) file at the start
/// of `data`.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let szdd = data.starts_with(SZDD) && data.get(8) == Some(&b'A') && data.len() >= SZDD_DATA;
    let kwaj = data.starts_with(KWAJ)
        && data.get(8..10).is_some_and(|m| m[1] == 0 && m[0] <= 4)
        && data.len() >= 14;
    (szdd || kwaj).then_some(Found {
        kind: ContainerKind::Szdd,
        offset: 0,
    })
}

/// How an LZSS decode ended early.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LzssEnd {
    /// The input ended inside a copy token.
    Truncated,
    /// `cap` bytes were produced.
    Cap,
    /// The clock ran out (the caller's check said so).
    Time,
}

/// The LZSS history: 4096 bytes written in a circle.
struct Ring {
    bytes: [u8; RING],
    pos: usize,
}

impl Ring {
    /// Output `b` and remember it.
    fn put(&mut self, b: u8, out: &mut Vec<u8>) {
        out.push(b);
        self.bytes[self.pos] = b;
        self.pos = (self.pos + 1) % RING;
    }
}

/// Decode the SZDD LZSS stream `input` into at most `cap` bytes; the
/// output and how it ended (`None`: the input ran out cleanly).
pub(crate) fn lzss(
    input: &[u8],
    cap: usize,
    out_of_time: &dyn Fn() -> bool,
) -> (Vec<u8>, Option<LzssEnd>) {
    let mut ring = Ring {
        bytes: [b' '; RING],
        pos: RING - 16,
    };
    let mut out = Vec::new();
    let mut it = input.iter().copied();
    let mut groups = 0u32;
    while let Some(flags) = it.next() {
        if out.len() >= cap {
            out.truncate(cap);
            return (out, Some(LzssEnd::Cap));
        }
        groups = groups.wrapping_add(1);
        if groups.is_multiple_of(4096) && out_of_time() {
            return (out, Some(LzssEnd::Time));
        }
        for bit in 0..8 {
            if flags >> bit & 1 == 1 {
                let Some(b) = it.next() else {
                    return (out, None);
                };
                ring.put(b, &mut out);
                continue;
            }
            // A flag byte may announce tokens past the end: only a copy
            // cut in half is damage.
            let Some(lo) = it.next() else {
                return (out, None);
            };
            let Some(hi) = it.next() else {
                return (out, Some(LzssEnd::Truncated));
            };
            let from = usize::from(lo) | (usize::from(hi & 0xf0) << 4);
            for k in 0..usize::from(hi & 0x0f) + 3 {
                ring.put(ring.bytes[(from + k) % RING], &mut out);
            }
        }
    }
    if out.len() > cap {
        out.truncate(cap);
        return (out, Some(LzssEnd::Cap));
    }
    (out, None)
}

impl Walker<'_, '_> {
    pub(crate) fn szdd(&mut self, data: &[u8], depth: u32) {
        if !self.admit() {
            return;
        }
        if data.starts_with(KWAJ) {
            return self.kwaj(data, depth);
        }
        let declared = data
            .get(10..14)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let input = data.get(SZDD_DATA..).unwrap_or_default();
        self.named(b"$szdd".to_vec(), |w| {
            w.lzss_member(input, u64::from(declared), depth, "szdd")
        });
    }

    /// Decode an LZSS member and visit it; `declared` is the size the
    /// header says (0 when it says none).
    fn lzss_member(&mut self, input: &[u8], declared: u64, depth: u32, what: &str) {
        let (out, end) = {
            let me = &*self;
            lzss(input, me.cap(), &|| me.out_of_time())
        };
        let error = match end {
            Some(LzssEnd::Truncated) => Some("input ends inside a copy".to_string()),
            None if declared > 0 && (out.len() as u64) < declared => Some(format!(
                "stream ends after {} of the {declared} bytes the header declares",
                out.len()
            )),
            _ => None,
        };
        self.decoded(out, input.len() as u64, error, depth, what);
    }

    fn kwaj(&mut self, data: &[u8], depth: u32) {
        let u16_at = |at: usize| {
            data.get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let (Some(method), Some(data_at), Some(flags)) = (u16_at(8), u16_at(10), u16_at(12)) else {
            return self.skip(Gap::Corrupt, "kwaj: header truncated".into());
        };
        let (name, declared) = kwaj_header(data, flags);
        let input = data.get(usize::from(data_at)..).unwrap_or_default();
        let name = name.unwrap_or_else(|| b"$kwaj".to_vec());
        self.named(name, |w| match method {
            0 => w.decoded_prefix(input.to_vec(), depth),
            1 => w.decoded_prefix(input.iter().map(|b| b ^ 0xff).collect(), depth),
            2 => w.lzss_member(input, declared, depth, "kwaj"),
            4 => w.kwaj_mszip(input, depth),
            3 => w.skip(
                Gap::Unsupported,
                "kwaj: LZ+Huffman compression (method 3); kensa has no decoder for it, \
                 file not scanned"
                    .into(),
            ),
            m => w.skip(Gap::Unsupported, format!("kwaj: unknown method {m}")),
        });
    }

    /// A stored member, cut at the cap.
    fn decoded_prefix(&mut self, mut out: Vec<u8>, depth: u32) {
        let n = out.len() as u64;
        out.truncate(self.cap());
        self.decoded(out, n, None, depth, "kwaj");
    }

    /// KWAJ method 4: blocks of a 16-bit length and an MSZIP block.
    fn kwaj_mszip(&mut self, input: &[u8], depth: u32) {
        let mut inflate = flate2::Decompress::new(false);
        let mut history = Vec::new();
        let (mut out, mut at, cap) = (Vec::new(), 0usize, self.cap());
        let mut error = None;
        while at < input.len() && out.len() < cap && !self.out_of_time() {
            let Some(len) = input
                .get(at..at + 2)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            else {
                error = Some("block length truncated".to_string());
                break;
            };
            let Some(block) = input.get(at + 2..at + 2 + len) else {
                error = Some("block truncated".to_string());
                break;
            };
            match crate::cab::mszip_block(&mut inflate, &mut history, block, None) {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
            at += 2 + len;
        }
        out.truncate(cap);
        self.decoded(out, input.len() as u64, error, depth, "kwaj mszip");
    }
}

/// The optional KWAJ header fields: the stored file name (name and
/// extension) and the declared length (0 if absent).
fn kwaj_header(data: &[u8], flags: u16) -> (Option<Vec<u8>>, u64) {
    let mut at = 14usize;
    let mut declared = 0u64;
    let u16_at = |at: usize| {
        data.get(at..at + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    if flags & 1 != 0 {
        declared = data
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]).into());
        at += 4;
    }
    if flags & 2 != 0 {
        at += 2;
    }
    if flags & 4 != 0 {
        at += 2 + u16_at(at).unwrap_or(0);
    }
    let field = |at: &mut usize, max: usize| -> Vec<u8> {
        let rest = data.get(*at..).unwrap_or_default();
        let n = rest.iter().take(max).position(|&b| b == 0);
        let s = &rest[..n.unwrap_or(max.min(rest.len()))];
        *at += n.map_or(max, |n| n + 1);
        s.to_vec()
    };
    let mut name = Vec::new();
    if flags & 8 != 0 {
        name = field(&mut at, 9);
    }
    if flags & 16 != 0 {
        let ext = field(&mut at, 4);
        if !ext.is_empty() {
            name.push(b'.');
            name.extend_from_slice(&ext);
        }
    }
    ((!name.is_empty()).then_some(name), declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lzss_literals_and_copies() {
        // 3 literals "abc", then a copy of 6 from ring position 4080.
        let input = [0b0000_0111, b'a', b'b', b'c', 0xf0, 0xf3];
        let (out, end) = lzss(&input, 1000, &|| false);
        assert_eq!(end, None);
        assert_eq!(out, b"abcabcabc");
    }

    #[test]
    fn lzss_initial_ring_is_spaces_and_cap_holds() {
        let input = [0u8, 0, 0x0f, 0, 0x0f];
        let (out, _) = lzss(&input, 1000, &|| false);
        assert_eq!(out, vec![b' '; 36]);
        let bomb: Vec<u8> = std::iter::repeat_n(
            [
                0u8, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0,
                0x0f,
            ],
            1000,
        )
        .flatten()
        .collect();
        let (out, end) = lzss(&bomb, 100, &|| false);
        assert_eq!(end, Some(LzssEnd::Cap));
        assert_eq!(out.len(), 100);
    }

    #[test]
    fn kwaj_names() {
        let mut h = b"KWAJ\x88\xf0\x27\xd1\x00\x00\x20\x00\x18\x00".to_vec();
        h.extend_from_slice(b"setup\0exe\0");
        assert_eq!(kwaj_header(&h, 0x18).0.unwrap(), b"setup.exe");
        assert!(sniff(&h).is_some());
        assert!(sniff(b"SZDD\x88\xf0\x27\x33B").is_none());
    }
}
