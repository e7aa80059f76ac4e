//! Installers behind a PE stub. NSIS: the first header (`flags`,
//! `0xDEADBEEF`, `NullsoftInst`, header length, archive length) at a
//! 512-byte aligned position of the PE overlay, then the data, either one
//! solid compressed stream of length-prefixed blocks or a series of
//! blocks compressed one by one (a 32-bit length whose top bit says
//! compressed). The compressor is told from the first bytes as 7-Zip
//! does: LZMA (a `0x5D` properties byte and a power-of-two dictionary,
//! maybe after an x86 filter flag; decoded by `lzma-rust2`, already used
//! for xz and 7z, with its BCJ filter), NSIS's bzip2 variant (block
//! marker `0x31` without the rest of bzip2's magic and CRCs, which no
//! crate reads: decoded by `nsis_bzip2` here), otherwise raw deflate
//! (`flate2`).
//! Block 0 (the installer script) is `$nsis/header`, data block n (files,
//! in script order) is `$nsis/block/<n>`. Inno Setup and InstallShield
//! are recognised by documented markers only and recorded as
//! `Unsupported` gaps: kensa has no reader for their payloads. [`sniff`]
//! only looks at a PE with an overlay, and at a bounded part of it.

use std::cell::Cell;
use std::io::{self, Read};

use crate::locate::{pe_overlay_start, Found};
use crate::walker::{Counting, End, Walker};
use crate::{ContainerKind, Gap, DECODER_MEM_LIMIT_KIB};

mod nsis_bzip2;

/// How far into the overlay the markers are looked for.
const WINDOW: usize = 64 * 1024;
const NSIS_SIG: &[u8; 16] = b"\xef\xbe\xad\xdeNullsoftInst";
/// The NSIS first header.
const FIRST_HEADER: usize = 28;
const INNO_DATA: &[u8] = b"Inno Setup Setup Data (";
const INNO_LOADER: &[u8] = b"rDlPtS";

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = hay.get(from..)?.iter().position(|&b| b == first) {
        let at = from + i;
        if hay.get(at..at + needle.len()) == Some(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// An installer in the overlay of the PE `data` (bounded: at most
/// [`WINDOW`] bytes of the overlay are looked at).
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let start = pe_overlay_start(data)?;
    let end = data.len().min(start + WINDOW);
    let found = |kind, offset| Some(Found { kind, offset });
    let mut at = start.div_ceil(512) * 512;
    while at < end {
        if data.get(at + 4..at + 20) == Some(&NSIS_SIG[..]) {
            return found(ContainerKind::Nsis, at);
        }
        at += 512;
    }
    let overlay = &data[start..end];
    if overlay.starts_with(b"InstallShield\0") || overlay.starts_with(b"ISSetupStream\0") {
        return found(ContainerKind::InstallShield, start);
    }
    for marker in [INNO_DATA, INNO_LOADER] {
        if let Some(i) = find(overlay, marker) {
            return found(ContainerKind::Inno, start + i);
        }
    }
    None
}

/// The compressor of an NSIS data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Deflate,
    /// LZMA; with the x86 branch filter when true.
    Lzma(bool),
    Bzip2,
}

/// LZMA properties NSIS writes: `0x5D` and a power-of-two dictionary.
fn is_lzma(p: &[u8]) -> bool {
    p.first() == Some(&0x5d)
        && u32_at(p, 1).is_some_and(|d| d.is_power_of_two() && (1 << 12..=1 << 28).contains(&d))
}

/// NSIS's bzip2: a block starts with `0x31`, then a small block count.
fn is_bzip2(p: &[u8]) -> bool {
    p.len() > 2 && p[0] == 0x31 && p[1] < 14
}

/// Solid (and where its stream starts) or not, and the method.
fn nsis_layout(body: &[u8]) -> (Option<usize>, Method) {
    if is_lzma(body) {
        return (Some(0), Method::Lzma(false));
    }
    if body.first().is_some_and(|&f| f <= 1) && is_lzma(&body[1..]) {
        return (Some(1), Method::Lzma(body[0] == 1));
    }
    if is_bzip2(body) {
        return (Some(0), Method::Bzip2);
    }
    let first = u32_at(body, 0).unwrap_or(0);
    let rest = body.get(4..).unwrap_or_default();
    if first & 0x8000_0000 != 0 {
        if is_lzma(rest) {
            return (None, Method::Lzma(false));
        }
        if rest.first().is_some_and(|&f| f <= 1) && is_lzma(&rest[1..]) {
            return (None, Method::Lzma(rest[0] == 1));
        }
        if is_bzip2(rest) {
            return (None, Method::Bzip2);
        }
        if (first & 0x7fff_ffff) as usize <= rest.len() {
            return (None, Method::Deflate);
        }
    }
    (Some(0), Method::Deflate)
}

/// A decoder for the NSIS stream `data` compressed with `method`;
/// `consumed` follows the compressed bytes it takes.
fn nsis_decoder<'r>(
    method: Method,
    data: &'r [u8],
    consumed: &'r Cell<u64>,
) -> io::Result<Box<dyn Read + 'r>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let input = Counting {
        inner: data,
        n: consumed,
    };
    match method {
        Method::Deflate => Ok(Box::new(flate2::read::DeflateDecoder::new(input))),
        Method::Bzip2 => Ok(Box::new(nsis_bzip2::NsisBzip2::new(data, consumed))),
        Method::Lzma(filtered) => {
            let skip = usize::from(!is_lzma(data));
            let props = data
                .get(skip..skip + 5)
                .ok_or_else(|| bad("lzma properties truncated"))?;
            let dict = u32_at(props, 1).unwrap_or(0);
            if u64::from(dict) > u64::from(DECODER_MEM_LIMIT_KIB) * 1024 {
                return Err(bad("lzma dictionary above the decoder memory limit"));
            }
            let mut input = input;
            let mut head = [0u8; 6];
            input.read_exact(&mut head[..skip + 5])?;
            let lz = lzma_rust2::LzmaReader::new_with_props(input, u64::MAX, props[0], dict, None)
                .map_err(|e| bad(&format!("lzma: {e}")))?;
            if filtered {
                return Ok(Box::new(lzma_rust2::filter::bcj::BcjReader::new_x86(lz, 0)));
            }
            Ok(Box::new(lz))
        }
    }
}

fn block_name(index: u64) -> Vec<u8> {
    if index == 0 {
        b"$nsis/header".to_vec()
    } else {
        format!("$nsis/block/{index}").into_bytes()
    }
}

impl Walker<'_, '_> {
    pub(crate) fn nsis(&mut self, data: &[u8], offset: usize, depth: u32) {
        let (Some(header_len), Some(archive_len)) =
            (u32_at(data, offset + 20), u32_at(data, offset + 24))
        else {
            return self.skip(Gap::Corrupt, "nsis: first header truncated".into());
        };
        let end = usize::try_from(archive_len)
            .ok()
            .and_then(|l| offset.checked_add(l))
            .map_or(data.len(), |e| e.min(data.len()));
        let Some(body) = data.get(offset + FIRST_HEADER..end) else {
            return self.skip(Gap::Corrupt, "nsis: data section truncated".into());
        };
        match nsis_layout(body) {
            (Some(at), method) => self.nsis_solid(&body[at..], method, header_len, depth),
            (None, method) => self.nsis_blocks(body, method, depth),
        }
    }

    /// One compressed stream of length-prefixed blocks.
    fn nsis_solid(&mut self, body: &[u8], method: Method, header_len: u32, depth: u32) {
        let consumed = Cell::new(0u64);
        let mut dec = match nsis_decoder(method, body, &consumed) {
            Ok(d) => d,
            Err(e) => return self.skip(Gap::Corrupt, format!("nsis: {e}")),
        };
        let mut index = 0u64;
        while !self.stopped {
            let mut len = [0u8; 4];
            if let Err(e) = dec.read_exact(&mut len) {
                if index == 0 {
                    self.skip(Gap::Corrupt, format!("nsis: solid stream: {e}"));
                }
                return;
            }
            let len = u32::from_le_bytes(len);
            if index == 0 && len != header_len {
                return self.skip(
                    Gap::Corrupt,
                    format!("nsis: solid stream starts with a {len}-byte block, header says {header_len}"),
                );
            }
            if !self.admit() {
                return;
            }
            let mut whole = true;
            self.named(block_name(index), |w| {
                whole = w.nsis_block(
                    &mut (&mut dec).take(len.into()),
                    len,
                    &|| consumed.get(),
                    depth,
                )
            });
            if !whole {
                return;
            }
            index += 1;
        }
    }

    /// Read one block of `len` bytes through the limits and visit it;
    /// false when it did not come out whole.
    fn nsis_block(
        &mut self,
        r: &mut dyn Read,
        len: u32,
        consumed: &dyn Fn() -> u64,
        depth: u32,
    ) -> bool {
        let (out, end) = self.read_member(r, consumed);
        let end = match end {
            End::Complete if (out.len() as u64) < u64::from(len) => End::Error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("block of {len} bytes ends after {}", out.len()),
            )),
            e => e,
        };
        let whole = matches!(end, End::Complete);
        self.finish(out, end, depth, "nsis block");
        whole
    }

    /// Blocks compressed one by one (or stored).
    fn nsis_blocks(&mut self, body: &[u8], method: Method, depth: u32) {
        let (mut at, mut index) = (0usize, 0u64);
        while at < body.len() && !self.stopped {
            let Some(word) = u32_at(body, at) else {
                return self.skip(Gap::Corrupt, "nsis: block length truncated".into());
            };
            let n = (word & 0x7fff_ffff) as usize;
            let Some(block) = body.get(at + 4..).and_then(|b| b.get(..n)) else {
                // The data section ends with its CRC-32.
                if body.len() - at == 4 && index > 0 {
                    return;
                }
                return self.skip(Gap::Corrupt, format!("nsis: block {index} truncated"));
            };
            if !self.admit() {
                return;
            }
            let mut whole = true;
            self.named(block_name(index), |w| {
                let consumed = Cell::new(0u64);
                if word & 0x8000_0000 == 0 {
                    let mut r: &[u8] = block;
                    whole = w.nsis_block(&mut r, word, &|| consumed.get(), depth);
                    return;
                }
                match nsis_decoder(method, block, &consumed) {
                    Ok(mut dec) => {
                        let (out, end) = w.read_member(&mut dec, &|| consumed.get());
                        whole = matches!(end, End::Complete);
                        w.finish(out, end, depth, "nsis block");
                    }
                    Err(e) => {
                        whole = false;
                        w.skip(Gap::Corrupt, format!("nsis: {e}"));
                    }
                };
            });
            if !whole {
                return;
            }
            at += 4 + n;
            index += 1;
        }
    }

    pub(crate) fn installer_gap(&mut self, kind: ContainerKind, offset: usize) {
        let name = match kind {
            ContainerKind::Inno => {
                "inno setup: members not scanned; kensa has no Inno Setup reader"
            }
            _ => "installshield: members not scanned; kensa has no InstallShield reader",
        };
        self.skip(
            Gap::Unsupported,
            format!("{name} (marker at offset {offset})"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(
            nsis_layout(b"\x5d\0\0\x80\0rest"),
            (Some(0), Method::Lzma(false))
        );
        assert_eq!(
            nsis_layout(b"\x01\x5d\0\0\x80\0rest"),
            (Some(1), Method::Lzma(true))
        );
        assert_eq!(
            nsis_layout(b"\x05\0\0\x80\x5d\0\0\x80\0r"),
            (None, Method::Lzma(false))
        );
        assert_eq!(nsis_layout(b"\x02\0\0\x80abc"), (None, Method::Deflate));
        assert_eq!(
            nsis_layout(b"\xa7\x02\0\x80\x31\0\x05"),
            (None, Method::Bzip2)
        );
        assert_eq!(nsis_layout(b"\xed\x56\x3d\x6c"), (Some(0), Method::Deflate));
    }

    #[test]
    fn find_is_bounded_and_exact() {
        assert_eq!(find(b"xxrDlPtSyy", INNO_LOADER), Some(2));
        assert_eq!(find(b"rDlPt", INNO_LOADER), None);
        assert_eq!(find(b"", INNO_LOADER), None);
    }
}
