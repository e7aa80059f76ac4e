//! UPX-packed executables (PE and ELF), unpacked so rules see the original
//! program: the unpacked bytes are one member named `$upx`. UPX keeps a
//! 32-byte pack header (`UPX!`, version, format, method, level, adler32 of
//! the unpacked and of the packed data, both lengths, the filter) that
//! names the compression method: NRV2B, NRV2D and NRV2E in their LE32, byte
//! and LE16 flavours (methods 2-10, decoded by our own `nrv` module) and
//! LZMA (method 14: two bytes of properties, then a raw LZMA stream with no
//! end marker, decoded by `lzma-rust2`'s raw `LzmaReader` with those
//! properties - the crate the walker already uses for xz, pure Rust,
//! maintained, fuzzed by its authors). Any other method is a
//! `Gap::Unsupported` naming it. Module `pe`: the compressed block at the
//! start of the `UPX1` section, checked against the pack header's adler32
//! sums. Module `elf`: the `l_info`/`p_info` headers, then one `b_info`
//! block per piece (the original ELF header, then each `PT_LOAD`), all
//! decoded and concatenated. A checksum mismatch, a short or damaged
//! stream is `Gap::Corrupt` with the readable part still scanned. The call
//! and jump filters UPX applies to x86 code (E8/E9 operands made absolute)
//! are not undone: they change only the four bytes after such opcodes, so
//! strings and data stay as they were.
//!
//! Limits: output never exceeds `Walker::cap()`; no size read from the
//! file sizes an allocation; block count and gamma codes are bounded.
//!
//! No real UPX output could be produced on this machine (`upx-ucl` is not
//! in Debian 12): the NRV decoders are checked against UCL's own reference
//! streams and our encoder (`tests/support/upx_nrv.rs`, which the unit tests include), the LZMA variant
//! against UPX's reference stream, and the PE/ELF layouts against our own
//! writer, built from the published layout. A recorded sample packed by
//! upx 4.x (one PE and one ELF per method) would close that gap.

mod elf;
mod nrv;
mod pe;

use std::io::Read;

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

pub(crate) use elf::find_linfo as elf_upx_header;

/// The pack header's magic.
pub(crate) const MAGIC: &[u8; 4] = b"UPX!";
/// Size of the pack header of UPX 1.x and later on PE and ELF.
const HEADER_LEN: usize = 32;
/// The member the unpacked bytes are reported as.
const MEMBER: &[u8] = b"$upx";

/// Recognise a UPX-packed PE or ELF (see [`pe::sniff`], [`elf::find_linfo`]).
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let upx = if data.starts_with(b"MZ") {
        pe::sniff(data)
    } else if data.starts_with(b"\x7fELF") {
        elf::find_linfo(data).is_some()
    } else {
        false
    };
    upx.then_some(Found {
        kind: ContainerKind::Upx,
        offset: 0,
    })
}

/// The fields of a UPX pack header this module uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackHeader {
    pub method: u8,
    pub u_adler: u32,
    pub c_adler: u32,
    pub u_len: u32,
    pub c_len: u32,
    pub filter: u8,
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

impl PackHeader {
    /// The pack header at `at`, if its magic, version (10 or later) and
    /// header checksum (sum of the bytes after the magic, modulo 251, in
    /// its last byte) hold.
    pub(crate) fn parse(d: &[u8], at: usize) -> Option<PackHeader> {
        let h = d.get(at..at.checked_add(HEADER_LEN)?)?;
        if &h[..4] != MAGIC || h[4] < 10 {
            return None;
        }
        let sum: u32 = h[4..HEADER_LEN - 1].iter().map(|&b| u32::from(b)).sum();
        if sum % 251 != u32::from(h[HEADER_LEN - 1]) {
            return None;
        }
        Some(PackHeader {
            method: h[6],
            u_adler: u32_at(h, 8)?,
            c_adler: u32_at(h, 12)?,
            u_len: u32_at(h, 16)?,
            c_len: u32_at(h, 20)?,
            filter: h[28],
        })
    }
}

/// A compression method of UPX this module decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Nrv(nrv::Variant, nrv::Word),
    Lzma,
}

impl Method {
    pub(crate) fn from_id(id: u8) -> Option<Method> {
        use nrv::{Variant as V, Word as W};
        let nrv = |v, w| Some(Method::Nrv(v, w));
        match id {
            2 => nrv(V::B, W::Le32),
            3 => nrv(V::B, W::Byte),
            4 => nrv(V::B, W::Le16),
            5 => nrv(V::D, W::Le32),
            6 => nrv(V::D, W::Byte),
            7 => nrv(V::D, W::Le16),
            8 => nrv(V::E, W::Le32),
            9 => nrv(V::E, W::Byte),
            10 => nrv(V::E, W::Le16),
            14 => Some(Method::Lzma),
            _ => None,
        }
    }
}

/// The name of a UPX method id, for gap details.
pub(crate) fn method_name(id: u8) -> String {
    match id {
        11..=13 => format!("CL1B (method {id})"),
        15 => "deflate (method 15)".into(),
        16 => "zstd (method 16)".into(),
        17..=19 => format!("BZIP2-like (method {id})"),
        _ => format!("method {id}"),
    }
}

/// Adler-32 (zlib's: starts at 1).
pub(crate) fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// One decoded piece: the bytes, and why decoding stopped early.
pub(crate) struct Piece {
    pub out: Vec<u8>,
    pub error: Option<String>,
}

impl Walker<'_, '_> {
    pub(crate) fn upx(&mut self, data: &[u8], depth: u32) {
        if !self.admit() {
            return;
        }
        let unpacked = if data.starts_with(b"MZ") {
            self.upx_pe(data)
        } else {
            self.upx_elf(data)
        };
        let Some(piece) = unpacked else { return };
        self.named(MEMBER.to_vec(), |w| {
            w.decoded(piece.out, data.len() as u64, piece.error, depth, "upx")
        });
    }

    /// Decode `src` with `method` into at most `min(want, cap)` bytes
    /// (`want` is the length the container declares: it bounds the output,
    /// never an allocation beyond the cap).
    pub(crate) fn upx_decode(&self, src: &[u8], method: Method, want: usize, cap: usize) -> Piece {
        let limit = want.min(cap);
        let mut piece = match method {
            Method::Nrv(v, w) => {
                let d = nrv::decompress(src, v, w, limit, &|| self.out_of_time());
                let trailing = (d.error.is_none() && d.out.len() < limit && d.consumed < src.len())
                    .then(|| format!("{} bytes after the end marker", src.len() - d.consumed));
                Piece {
                    out: d.out,
                    error: d.error.map(|e| format!("NRV stream: {e}")).or(trailing),
                }
            }
            Method::Lzma => self.upx_lzma(src, limit),
        };
        if piece.error.is_none() && piece.out.len() < want && piece.out.len() < cap {
            piece.error = Some(format!(
                "{} bytes unpacked where {want} were declared",
                piece.out.len()
            ));
        }
        piece
    }

    /// UPX's LZMA: `[(lc+lp)<<3 | pb, lp<<4 | lc]`, then a raw stream of
    /// `limit` bytes (the dictionary is the output, so its size is the
    /// output's, already capped).
    fn upx_lzma(&self, src: &[u8], limit: usize) -> Piece {
        let bad = |e: String| Piece {
            out: Vec::new(),
            error: Some(e),
        };
        let (Some(&p0), Some(&p1)) = (src.first(), src.get(1)) else {
            return bad("LZMA stream shorter than its properties".into());
        };
        let (pb, lp, lc) = (u32::from(p0 & 7), u32::from(p1 >> 4), u32::from(p1 & 15));
        if pb > 4 || lp > 4 || lc > 8 || u32::from(p0 >> 3) != lc + lp {
            return bad(format!("LZMA properties {p0:#04x} {p1:#04x} are invalid"));
        }
        let dict = u32::try_from(limit).unwrap_or(u32::MAX).max(4096);
        let input = src.get(2..).unwrap_or_default();
        let reader = lzma_rust2::LzmaReader::new(input, limit as u64, lc, lp, pb, dict, None);
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => return bad(format!("LZMA: {e}")),
        };
        let mut out = Vec::new();
        let mut chunk = vec![0u8; crate::CHUNK];
        while out.len() < limit {
            if self.out_of_time() {
                return Piece {
                    out,
                    error: Some("time limit reached".into()),
                };
            }
            let want = chunk.len().min(limit - out.len());
            match reader.read(&mut chunk[..want]) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    return Piece {
                        out,
                        error: Some(format!("LZMA: {e}")),
                    }
                }
            }
        }
        Piece { out, error: None }
    }

    /// A UPX file this module recognises but cannot unpack.
    pub(crate) fn upx_unsupported(&mut self, what: &str, detail: String) {
        self.skip(Gap::Unsupported, format!("upx {what}: {detail}"));
    }
}

/// The UPX sample writer of the kensa tests.
#[cfg(test)]
#[path = "../../../tests/support/upx.rs"]
mod writer;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{walk, ArchiveLimits, MemberEvent};

    /// One event of a walk: chain, member bytes or skip detail, gap.
    type Event = (Vec<Vec<u8>>, Vec<u8>, Option<Gap>);

    fn events(data: &[u8]) -> Vec<Event> {
        let mut evs = Vec::new();
        walk(data, &ArchiveLimits::default(), &mut |ev| match ev {
            MemberEvent::Member { chain, data, .. } => {
                evs.push((chain.to_vec(), data.to_vec(), None))
            }
            MemberEvent::Skip {
                chain,
                reason,
                detail,
            } => evs.push((chain.to_vec(), detail.into_bytes(), Some(reason))),
            MemberEvent::Suspicious { .. } => panic!("suspicious"),
        });
        evs
    }

    fn marker() -> Vec<u8> {
        b"<<the original program's own marker string>>".to_vec()
    }

    #[test]
    fn pe_every_method_unpacks() {
        let image = writer::image_with(&marker());
        for m in [writer::NRV2B, writer::NRV2D, writer::NRV2E, writer::LZMA] {
            let file = writer::upx_pe(&image, m);
            assert_eq!(crate::detect(&file), Some(ContainerKind::Upx), "method {m}");
            assert_eq!(crate::identify_packer(&file), Some("upx"));
            let evs = events(&file);
            assert_eq!(evs.len(), 1, "method {m}: {evs:?}");
            assert_eq!(evs[0].0, vec![MEMBER.to_vec()]);
            assert!(evs[0].1 == image, "method {m}");
        }
    }

    #[test]
    fn elf_blocks_unpack_and_concatenate() {
        let head = writer::elf_header_piece();
        let image = writer::image_with(&marker());
        for m in [writer::NRV2B, writer::NRV2E, writer::LZMA] {
            let file = writer::upx_elf(&[&head, &image], m);
            assert_eq!(crate::detect(&file), Some(ContainerKind::Upx), "method {m}");
            assert_eq!(crate::identify_packer(&file), Some("upx"));
            let evs = events(&file);
            assert_eq!(evs.len(), 1, "method {m}: {evs:?}");
            assert!(evs[0].1 == [head.as_slice(), &image].concat(), "method {m}");
        }
    }

    #[test]
    fn damaged_and_truncated_samples_are_corrupt() {
        let image = writer::image_with(&marker());
        for m in [writer::NRV2B, writer::NRV2E, writer::LZMA] {
            let mut file = writer::upx_pe(&image, m);
            file[writer::PE_BLOCK_AT + 40] ^= 0x55;
            let evs = events(&file);
            let last = evs.last().unwrap();
            assert_eq!(last.2, Some(Gap::Corrupt), "method {m}: {evs:?}");
            let file = writer::upx_pe(&image, m);
            let cut = &file[..writer::PE_BLOCK_AT + 100];
            let evs = events(cut);
            assert_eq!(evs.last().unwrap().2, Some(Gap::Corrupt), "method {m}");
            let elf = writer::upx_elf(&[&writer::elf_header_piece(), &image], m);
            let evs = events(&elf[..elf.len() / 2]);
            assert_eq!(evs.last().unwrap().2, Some(Gap::Corrupt), "method {m}");
        }
    }

    #[test]
    fn other_methods_are_unsupported() {
        let image = writer::image_with(&marker());
        let mut file = writer::upx_pe(&image, writer::NRV2B);
        let h = writer::PE_BLOCK_AT - 32;
        file[h + 6] = 15;
        let sum: u32 = file[h + 4..h + 31].iter().map(|&b| u32::from(b)).sum();
        file[h + 31] = (sum % 251) as u8;
        let evs = events(&file);
        assert_eq!(evs.len(), 1, "{evs:?}");
        assert_eq!(evs[0].2, Some(Gap::Unsupported));
        assert!(String::from_utf8_lossy(&evs[0].1).contains("deflate"));
    }

    #[test]
    fn adler32_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        let big = vec![0xffu8; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(&big), ((b << 16) | a) as u32);
    }

    #[test]
    fn pack_header_needs_its_checksum() {
        let mut h = vec![0u8; HEADER_LEN];
        h[..4].copy_from_slice(MAGIC);
        h[4] = 13;
        h[5] = 9;
        h[6] = 8;
        let sum: u32 = h[4..31].iter().map(|&b| u32::from(b)).sum();
        h[31] = (sum % 251) as u8;
        let p = PackHeader::parse(&h, 0).unwrap();
        assert_eq!(p.method, 8);
        h[31] ^= 1;
        assert_eq!(PackHeader::parse(&h, 0), None);
        assert_eq!(PackHeader::parse(&h[..20], 0), None);
    }

    #[test]
    fn upx_lzma_reference_stream() {
        // UPX's own self-test stream: 16 bytes.
        let limits = crate::ArchiveLimits::default();
        let mut sink = |_: crate::MemberEvent<'_>| {};
        let w = Walker::new(&limits, 9, &mut sink);
        let src = b"\x1a\x03\x00\x7f\xed\x3c\x00\x00\x00";
        let p = w.upx_decode(src, Method::Lzma, 16, w.cap());
        assert_eq!(p.error, None);
        assert_eq!(p.out.len(), 16);
        let p = w.upx_decode(&src[..8], Method::Lzma, 16, w.cap());
        assert!(p.error.is_some(), "truncated stream");
    }
}
