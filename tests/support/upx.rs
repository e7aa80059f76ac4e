//! UPX-layout samples for the packer tests, written here because the real
//! `upx` is not packaged in Debian 12: a minimal PE with sections `UPX0`
//! (no raw data) and `UPX1` (the compressed block, then a stand-in for the
//! unpacking stub) and the 32-byte pack header (with its checksum and the
//! adler32 sums) right before `UPX1`'s data, after a version string; a
//! minimal ELF64 with `l_info`/`p_info`, `b_info` blocks, the end block,
//! the pack header and the trailing offset. Compression: our NRV encoder
//! (`upx_nrv.rs`) or `lzma-rust2`'s raw encoder behind UPX's two property
//! bytes. Also a plain PE and PEs whose section names mark other packers.

#[path = "upx_nrv.rs"]
pub mod nrv;

use std::io::Write;

pub const NRV2B: u8 = 2;
pub const NRV2D: u8 = 5;
pub const NRV2E: u8 = 8;
pub const LZMA: u8 = 14;

pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// `data` compressed with UPX method `method` (2/5/8: NRV LE32, 14: LZMA).
pub fn compress(data: &[u8], method: u8) -> Vec<u8> {
    match method {
        NRV2B => nrv::nrv_encode(data, b'B', 4),
        NRV2D => nrv::nrv_encode(data, b'D', 4),
        NRV2E => nrv::nrv_encode(data, b'E', 4),
        LZMA => {
            let mut opts = lzma_rust2::LzmaOptions::with_preset(6);
            opts.dict_size = 1 << 16;
            let (lc, lp, pb) = (opts.lc, opts.lp, opts.pb);
            let mut out = vec![(((lc + lp) << 3) | pb) as u8, ((lp << 4) | lc) as u8];
            let mut w = lzma_rust2::LzmaWriter::new(
                Vec::new(),
                &opts,
                false,
                false,
                Some(data.len() as u64),
            )
            .unwrap();
            w.write_all(data).unwrap();
            out.extend(w.finish().unwrap());
            out
        }
        m => panic!("no encoder for UPX method {m}"),
    }
}

/// A UPX pack header (version 13, format `format`), checksum included.
pub fn pack_header(format: u8, method: u8, u: &[u8], c: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(32);
    h.extend_from_slice(b"UPX!");
    h.extend_from_slice(&[13, format, method, 8]);
    h.extend_from_slice(&adler32(u).to_le_bytes());
    h.extend_from_slice(&adler32(c).to_le_bytes());
    h.extend_from_slice(&(u.len() as u32).to_le_bytes());
    h.extend_from_slice(&(c.len() as u32).to_le_bytes());
    h.extend_from_slice(&((u.len() + 0x400) as u32).to_le_bytes());
    h.extend_from_slice(&[0, 0, 0]);
    let sum: u32 = h[4..].iter().map(|&b| u32::from(b)).sum();
    h.push((sum % 251) as u8);
    h
}

fn align(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

/// A PE32 with the given sections `(name, virtual size, raw data)`, raw
/// data from 0x400, and `header_tail` ending right at 0x400.
pub fn pe(sections: &[(&[u8], usize, Vec<u8>)], header_tail: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; 0x400];
    d[..2].copy_from_slice(b"MZ");
    d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    d[0x80..0x84].copy_from_slice(b"PE\0\0");
    d[0x84..0x86].copy_from_slice(&0x14cu16.to_le_bytes());
    d[0x86..0x88].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    d[0x94..0x96].copy_from_slice(&0xe0u16.to_le_bytes());
    d[0x96..0x98].copy_from_slice(&0x0102u16.to_le_bytes());
    let opt = 0x98;
    d[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
    d[opt + 28..opt + 32].copy_from_slice(&0x40_0000u32.to_le_bytes());
    d[opt + 32..opt + 36].copy_from_slice(&0x1000u32.to_le_bytes());
    d[opt + 36..opt + 40].copy_from_slice(&0x200u32.to_le_bytes());
    d[opt + 60..opt + 64].copy_from_slice(&0x400u32.to_le_bytes());
    d[opt + 92..opt + 96].copy_from_slice(&16u32.to_le_bytes());
    let mut vaddr = 0x1000usize;
    let mut raw_ptr = 0x400usize;
    let mut body = Vec::new();
    for (i, (name, vsize, raw)) in sections.iter().enumerate() {
        let s = opt + 0xe0 + i * 40;
        d[s..s + name.len()].copy_from_slice(name);
        let raw_len = align(raw.len(), 0x200);
        for (at, v) in [(8, *vsize), (12, vaddr), (16, raw_len), (20, raw_ptr)] {
            d[s + at..s + at + 4].copy_from_slice(&(v as u32).to_le_bytes());
        }
        d[s + 36..s + 40].copy_from_slice(&0xe000_0060u32.to_le_bytes());
        body.extend_from_slice(raw);
        body.resize(align(body.len(), 0x200), 0);
        vaddr += align((*vsize).max(1), 0x1000);
        raw_ptr += raw_len;
    }
    // Entry point: the start of the last section.
    let entry = vaddr - align(sections.last().map_or(1, |s| s.1.max(1)), 0x1000);
    d[opt + 16..opt + 20].copy_from_slice(&(entry as u32).to_le_bytes());
    d[opt + 56..opt + 60].copy_from_slice(&(vaddr as u32).to_le_bytes());
    d[0x400 - header_tail.len()..].copy_from_slice(header_tail);
    d.extend_from_slice(&body);
    d
}

/// A stand-in for UPX's unpacking stub (x86 `pusha`, `mov esi`, ...).
const STUB: &[u8] = b"\x60\xbe\x00\x10\x40\x00\x8d\xbe\x00\xf0\xff\xff\x57\xeb\x0b\x90";

/// `image` UPX-packed into a PE with `method`.
pub fn upx_pe(image: &[u8], method: u8) -> Vec<u8> {
    let c = compress(image, method);
    let mut upx1 = c.clone();
    upx1.extend_from_slice(STUB);
    let mut tail = b"4.24\0".to_vec();
    tail.extend(pack_header(9, method, image, &c));
    pe(
        &[
            (b"UPX0", align(image.len(), 0x1000), Vec::new()),
            (b"UPX1", align(upx1.len(), 0x1000), upx1),
        ],
        &tail,
    )
}

/// Where the compressed block of [`upx_pe`]'s output starts.
pub const PE_BLOCK_AT: usize = 0x400;

/// `pieces` (the original ELF header, then its segments) UPX-packed into
/// an ELF64 with `method`, one `b_info` block each.
pub fn upx_elf(pieces: &[&[u8]], method: u8) -> Vec<u8> {
    let mut d = vec![0u8; 0x78];
    d[..4].copy_from_slice(b"\x7fELF");
    d[4..8].copy_from_slice(&[2, 1, 1, 0]);
    d[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    d[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    d[20..24].copy_from_slice(&1u32.to_le_bytes());
    d[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    d[52..54].copy_from_slice(&64u16.to_le_bytes());
    d[54..56].copy_from_slice(&56u16.to_le_bytes());
    d[56..58].copy_from_slice(&1u16.to_le_bytes());
    d[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    d[68..72].copy_from_slice(&5u32.to_le_bytes());
    let all: Vec<u8> = pieces.concat();
    // l_info, p_info.
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(b"UPX!");
    d.extend_from_slice(&0x0d00u16.to_le_bytes());
    d.extend_from_slice(&[13, 22]);
    let p_info = d.len();
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&(all.len() as u32).to_le_bytes());
    d.extend_from_slice(&(all.len() as u32).to_le_bytes());
    let mut packed_all = Vec::new();
    for p in pieces {
        let mut c = compress(p, method);
        let m = if c.len() >= p.len() {
            c = p.to_vec();
            0
        } else {
            method
        };
        d.extend_from_slice(&(p.len() as u32).to_le_bytes());
        d.extend_from_slice(&(c.len() as u32).to_le_bytes());
        d.extend_from_slice(&[m, 0, 0, 0]);
        d.extend_from_slice(&c);
        packed_all.extend_from_slice(&c);
    }
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(b"UPX!");
    d.extend_from_slice(&[0; 4]);
    d.extend_from_slice(STUB);
    d.extend(pack_header(22, method, &all, &packed_all));
    d.extend_from_slice(&(p_info as u32).to_le_bytes());
    d
}

/// A plausible original ELF header (64 bytes) for [`upx_elf`]'s first block.
pub fn elf_header_piece() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    h[16] = 2;
    h[18] = 62;
    h
}

/// A program image with `marker` in the middle of code-like and text
/// bytes (compressible, like a real program).
pub fn image_with(marker: &[u8]) -> Vec<u8> {
    let mut img = Vec::new();
    for i in 0..400u32 {
        img.extend_from_slice(&[0x55, 0x8b, 0xec, 0x83, 0xec, (i % 64) as u8]);
        img.extend_from_slice(format!("string table entry {i}\0").as_bytes());
    }
    img.extend_from_slice(marker);
    img.extend(std::iter::repeat_n(0u8, 3000));
    img.extend_from_slice(b"KERNEL32.DLL\0LoadLibraryA\0GetProcAddress\0");
    img
}
