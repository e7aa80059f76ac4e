//! cpio archives in all four formats: portable ASCII (`odc`, magic
//! `070707`), SVR4 "new" ASCII (`newc`, `070701`) and its CRC variant
//! (`crc`, `070702`), and the old binary format (the octal magic 070707 as
//! a 16-bit word, in either byte order). Only regular files are members,
//! named by the stored path (raw bytes, no NUL). `TRAILER!!!` ends an
//! archive; a further cpio archive after it (initramfs images concatenate
//! them) is read too, and any other bytes after it are one member named
//! `$after-trailer` (a compressed initramfs behind an uncompressed early
//! one). In `newc`/`crc`, hard links store their data once, on the last
//! link: the earlier empty links are not members, the data is reported
//! under the last link's name. A size larger than the bytes left is a
//! truncated archive: the readable part is reported with a `Corrupt` gap.
//! Written here (no crate): the headers are fixed-size text or 16-bit
//! fields.

use crate::locate::Found;
use crate::walker::{End, Walker};
use crate::{ContainerKind, Gap};

const ODC: &[u8; 6] = b"070707";
const NEWC: &[u8; 6] = b"070701";
const CRC: &[u8; 6] = b"070702";
const TRAILER: &[u8] = b"TRAILER!!!";
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
/// Longest path accepted in a header (Linux PATH_MAX).
const MAX_NAME: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Odc,
    Newc,
    BinLe,
    BinBe,
}

/// One parsed header: where the name and the data lie in the archive.
#[derive(Debug)]
struct Header {
    mode: u32,
    nlink: u32,
    name: std::ops::Range<usize>,
    data_start: usize,
    size: u64,
    /// Bytes the data occupies with its padding.
    padded: u64,
}

/// Recognise a cpio archive at the start of `data`: one of the magics and
/// a first header that parses (name NUL-terminated where its size says).
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let format = format_of(data)?;
    header(data, 0, format).ok()?;
    Some(Found {
        kind: ContainerKind::Cpio,
        offset: 0,
    })
}

fn format_of(d: &[u8]) -> Option<Format> {
    if d.starts_with(ODC) {
        Some(Format::Odc)
    } else if d.starts_with(NEWC) || d.starts_with(CRC) {
        Some(Format::Newc)
    } else if d.starts_with(&[0xc7, 0x71]) {
        Some(Format::BinLe)
    } else if d.starts_with(&[0x71, 0xc7]) {
        Some(Format::BinBe)
    } else {
        None
    }
}

/// A number field of `len` bytes at `at` in base `radix` (octal or hex
/// text, no sign, no spaces).
fn text_num(d: &[u8], at: usize, len: usize, radix: u32) -> Option<u64> {
    let field = d.get(at..at.checked_add(len)?)?;
    let mut v = 0u64;
    for &b in field {
        let digit = char::from(b).to_digit(radix)?;
        v = v
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(digit))?;
    }
    Some(v)
}

fn word(d: &[u8], at: usize, format: Format) -> Option<u32> {
    let b = d.get(at..at.checked_add(2)?)?;
    let pair = [b[0], b[1]];
    Some(u32::from(if format == Format::BinLe {
        u16::from_le_bytes(pair)
    } else {
        u16::from_be_bytes(pair)
    }))
}

/// Round `n` up to a multiple of `to` (a power of two).
fn align(n: u64, to: u64) -> u64 {
    n.saturating_add(to - 1) & !(to - 1)
}

/// Why a header could not be read.
#[derive(Debug)]
enum Bad {
    /// The archive ends inside the header or its name.
    Truncated,
    /// A field that is not a number, a name without its NUL.
    Malformed(&'static str),
}

/// Fixed header length and data alignment of each format.
fn layout(format: Format) -> (usize, u64) {
    match format {
        Format::Odc => (76, 1),
        Format::Newc => (110, 4),
        Format::BinLe | Format::BinBe => (26, 2),
    }
}

/// The numeric fields of the header at the start of `h`: mode, nlink,
/// name size, file size.
fn fields(h: &[u8], format: Format) -> Option<(u64, u64, u64, u64)> {
    match format {
        Format::Odc => {
            let f = |off, len| text_num(h, off, len, 8);
            Some((f(18, 6)?, f(36, 6)?, f(59, 6)?, f(65, 11)?))
        }
        Format::Newc => {
            let f = |off, len| text_num(h, off, len, 16);
            Some((f(14, 8)?, f(38, 8)?, f(94, 8)?, f(54, 8)?))
        }
        Format::BinLe | Format::BinBe => {
            let w = |off| word(h, off, format).map(u64::from);
            let size = (w(22)? << 16) | w(24)?;
            Some((w(6)?, w(12)?, w(20)?, size))
        }
    }
}

/// The header at `at`.
fn header(d: &[u8], at: usize, format: Format) -> Result<Header, Bad> {
    let rest = d.get(at..).unwrap_or_default();
    let (fixed, pad) = layout(format);
    let Some((mode, nlink, namesize, size)) = fields(rest, format) else {
        return Err(if rest.len() < fixed {
            Bad::Truncated
        } else {
            Bad::Malformed("header field is not a number")
        });
    };
    let namesize = usize::try_from(namesize).unwrap_or(usize::MAX);
    if namesize == 0 || namesize > MAX_NAME {
        return Err(Bad::Malformed("name size out of range"));
    }
    let name_start = at + fixed;
    let name_end = name_start + namesize;
    match d.get(name_start..name_end) {
        None => return Err(Bad::Truncated),
        Some(n) if n.last() != Some(&0) => return Err(Bad::Malformed("name not NUL-terminated")),
        Some(_) => {}
    }
    let data_start = align((fixed + namesize) as u64, pad) as usize + at;
    Ok(Header {
        mode: u32::try_from(mode).unwrap_or(0),
        nlink: u32::try_from(nlink).unwrap_or(0),
        name: name_start..name_end - 1,
        data_start,
        size,
        padded: align(size, pad),
    })
}

impl Walker<'_, '_> {
    pub(crate) fn cpio(&mut self, inner: &[u8], depth: u32) {
        let mut at = 0usize;
        // Concatenated archives: bounded by the input (each round consumes
        // at least one header).
        while let Some(format) = format_of(inner.get(at..).unwrap_or_default()) {
            match self.cpio_archive(inner, at, format, depth) {
                Some(next) => at = next,
                None => return,
            }
            // Padding between concatenated archives.
            while inner.get(at) == Some(&0) {
                at += 1;
            }
        }
        let rest = inner.get(at..).unwrap_or_default();
        if !rest.is_empty() && !self.stopped && self.admit() {
            self.named(b"$after-trailer".to_vec(), |w| {
                w.stored_member(rest, None, depth, "data after the cpio trailer")
            });
        }
    }

    /// One archive from `at`: the offset after its trailer, or None when it
    /// ended otherwise (truncated, damaged, a limit).
    fn cpio_archive(
        &mut self,
        d: &[u8],
        mut at: usize,
        format: Format,
        depth: u32,
    ) -> Option<usize> {
        // Each round consumes a header: bounded by the input.
        loop {
            if self.stopped {
                return None;
            }
            let h = match header(d, at, format) {
                Ok(h) => h,
                Err(bad) => {
                    let what = match bad {
                        Bad::Truncated => "archive ends inside a header",
                        Bad::Malformed(m) => m,
                    };
                    self.skip(Gap::Corrupt, format!("cpio header at offset {at}: {what}"));
                    return None;
                }
            };
            let name = d.get(h.name.clone()).unwrap_or_default();
            if name == TRAILER {
                return Some(after(&h, d.len()));
            }
            if !self.cpio_entry(d, &h, name.to_vec(), format, depth) {
                return None;
            }
            at = after(&h, d.len());
        }
    }

    /// Visit one entry (regular files only); false when the walk must stop
    /// (a limit, or the entry runs past the end of the archive).
    fn cpio_entry(
        &mut self,
        d: &[u8],
        h: &Header,
        name: Vec<u8>,
        format: Format,
        depth: u32,
    ) -> bool {
        let left = d.len().saturating_sub(h.data_start) as u64;
        let data = d
            .get(h.data_start..)
            .and_then(|r| r.get(..usize::try_from(h.size.min(left)).ok()?))
            .unwrap_or_default();
        let regular = h.mode & S_IFMT == S_IFREG;
        // newc hard links: the data rides on the last link.
        let empty_link = format == Format::Newc && h.nlink > 1 && h.size == 0;
        if regular && !empty_link {
            if !self.admit() {
                return false;
            }
            let truncated = (h.size > left).then(|| {
                format!(
                    "cpio member declares {} bytes, {left} left in the archive",
                    h.size
                )
            });
            self.named(name, |w| {
                w.stored_member(data, truncated, depth, "cpio member")
            });
        } else if h.size > left {
            self.skip(
                Gap::Corrupt,
                "cpio entry runs past the end of the archive".into(),
            );
        }
        h.size <= left
    }

    /// A member stored uncompressed in the container (`bytes`), read
    /// through the limits; `truncated` says why it is only a part.
    pub(crate) fn stored_member(
        &mut self,
        mut bytes: &[u8],
        truncated: Option<String>,
        depth: u32,
        what: &str,
    ) {
        // Stored: no ratio to judge.
        let (out, end) = self.read_member(&mut bytes, &|| u64::MAX);
        let end = match (end, truncated) {
            (End::Complete, Some(why)) => {
                End::Error(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, why))
            }
            (end, _) => end,
        };
        self.finish(out, end, depth, what);
    }
}

/// The offset after an entry's padded data (at most the archive's end).
fn after(h: &Header, len: usize) -> usize {
    let end = (h.data_start as u64).saturating_add(h.padded);
    usize::try_from(end).unwrap_or(usize::MAX).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newc(name: &[u8], mode: u32, nlink: u32, data: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "070701{:08X}{mode:08X}{:08X}{:08X}{nlink:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            1, 0, 0, 0, data.len(), 0, 0, 0, 0, name.len() + 1, 0
        )
        .into_bytes();
        h.extend_from_slice(name);
        h.push(0);
        while h.len() % 4 != 0 {
            h.push(0);
        }
        h.extend_from_slice(data);
        while h.len() % 4 != 0 {
            h.push(0);
        }
        h
    }

    #[test]
    fn newc_headers_parse() {
        let a = newc(b"a.txt", 0o100_644, 1, b"hello");
        let h = header(&a, 0, Format::Newc).unwrap();
        assert_eq!(&a[h.name.clone()], b"a.txt");
        assert_eq!(h.size, 5);
        assert_eq!(&a[h.data_start..h.data_start + 5], b"hello");
        assert!(sniff(&a).is_some());
        assert!(sniff(b"070701 not a header").is_none());
        assert!(sniff(&[0xc7, 0x71, 0, 0]).is_none());
    }

    #[test]
    fn binary_header_both_orders() {
        let mut le = vec![0u8; 26];
        for (i, v) in [0x71c7u16, 0, 0, 0o100_644, 0, 0, 1, 0, 0, 0, 2, 0, 3]
            .iter()
            .enumerate()
        {
            le[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
        }
        le.extend_from_slice(b"a\0abc\0");
        let h = header(&le, 0, Format::BinLe).unwrap();
        assert_eq!((h.size, h.data_start, h.padded), (3, 28, 4));
        let be: Vec<u8> = le[..26].chunks(2).flat_map(|c| [c[1], c[0]]).collect();
        let mut be = be;
        be.extend_from_slice(b"a\0abc\0");
        assert_eq!(header(&be, 0, Format::BinBe).unwrap().size, 3);
        assert_eq!(format_of(&be), Some(Format::BinBe));
    }
}
