//! Writers for the samples of `tests/scan/deep_cab.rs` that no Debian
//! tool makes: a cabinet with an LZX folder (gcab writes only stored and
//! MSZIP; LZX's "uncompressed block", type 3, is legal LZX), a cabinet of
//! any method and declared sizes (Quantum header, lying sizes), an SZDD
//! file from an LZSS encoder of our own (literal and copy tokens), and PE
//! stubs carrying Inno Setup and InstallShield markers.

use super::archive::pe_stub;

/// The fixed cabinet header length.
const HEADER: usize = 36;

/// A one-folder cabinet holding `files` (name, declared size), whose
/// folder is `type_compress` with `blocks` (compressed bytes, uncompressed
/// size) as CFDATA blocks.
pub fn cabinet(type_compress: u16, files: &[(&str, u32)], blocks: &[(Vec<u8>, u16)]) -> Vec<u8> {
    let mut table = Vec::new();
    let mut off = 0u32;
    for (name, size) in files {
        table.extend_from_slice(&size.to_le_bytes());
        table.extend_from_slice(&off.to_le_bytes());
        table.extend_from_slice(&[0, 0, 0x21, 0x53, 0, 0, 0x20, 0]);
        table.extend_from_slice(name.as_bytes());
        table.push(0);
        off = off.wrapping_add(*size);
    }
    let files_at = HEADER + 8;
    let data_at = files_at + table.len();
    let data_len: usize = blocks.iter().map(|(b, _)| 8 + b.len()).sum();
    let mut c = b"MSCF\0\0\0\0".to_vec();
    c.extend_from_slice(&((data_at + data_len) as u32).to_le_bytes());
    c.extend_from_slice(&[0; 4]);
    c.extend_from_slice(&(files_at as u32).to_le_bytes());
    c.extend_from_slice(&[0, 0, 0, 0, 3, 1, 1, 0]);
    c.extend_from_slice(&(files.len() as u16).to_le_bytes());
    c.extend_from_slice(&[0, 0, 0x34, 0x12, 0, 0]);
    // The folder.
    c.extend_from_slice(&(data_at as u32).to_le_bytes());
    c.extend_from_slice(&(blocks.len() as u16).to_le_bytes());
    c.extend_from_slice(&type_compress.to_le_bytes());
    c.extend_from_slice(&table);
    for (data, size) in blocks {
        c.extend_from_slice(&[0; 4]); // no checksum
        c.extend_from_slice(&(data.len() as u16).to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(data);
    }
    c
}

/// Bits packed the LZX way: 16-bit little-endian words, each filled from
/// its most significant bit.
struct LzxBits {
    out: Vec<u8>,
    word: u16,
    n: u32,
}

impl LzxBits {
    fn put(&mut self, value: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.word = (self.word << 1) | ((value >> i) & 1) as u16;
            self.n += 1;
            if self.n == 16 {
                self.out.extend_from_slice(&self.word.to_le_bytes());
                self.word = 0;
                self.n = 0;
            }
        }
    }
}

/// A cabinet with one LZX folder (32 KiB window) holding `name` with
/// `data` (at most 32 KiB) as one LZX uncompressed block: no E8
/// translation bit, block type 3, a 24-bit size, padding to 16 bits, the
/// three repeated offsets, the bytes, and a pad byte if the size is odd.
pub fn lzx_cab(name: &str, data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= 32 * 1024);
    let mut b = LzxBits {
        out: Vec::new(),
        word: 0,
        n: 0,
    };
    b.put(0, 1);
    b.put(3, 3);
    b.put(data.len() as u32 >> 8, 16);
    b.put(data.len() as u32 & 0xff, 8);
    b.put(0, 4); // align to the word
    let mut stream = b.out;
    for _ in 0..3 {
        stream.extend_from_slice(&1u32.to_le_bytes());
    }
    stream.extend_from_slice(data);
    if data.len() % 2 == 1 {
        stream.push(0);
    }
    cabinet(
        0x0f03,
        &[(name, data.len() as u32)],
        &[(stream, data.len() as u16)],
    )
}

/// A stored cabinet whose one file declares `declared` bytes but whose
/// folder holds only `data`.
pub fn lying_cab(name: &str, data: &[u8], declared: u32) -> Vec<u8> {
    cabinet(
        0,
        &[(name, declared)],
        &[(data.to_vec(), data.len() as u16)],
    )
}

/// A cabinet whose folder says Quantum (level 4, 2^20 window).
pub fn quantum_cab(name: &str) -> Vec<u8> {
    cabinet(0x1442, &[(name, 100)], &[(vec![0x55; 40], 100)])
}

/// SZDD (`COMPRESS.EXE -Z`) of `data`: greedy LZSS over a 4096-byte ring
/// of spaces written from 4096 - 16; copies of 3 to 18 bytes.
pub fn szdd(data: &[u8], missing: u8) -> Vec<u8> {
    let mut out = b"SZDD\x88\xf0\x27\x33A".to_vec();
    out.push(missing);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let mut ring = [b' '; 4096];
    let mut pos = 4096 - 16;
    let mut i = 0;
    while i < data.len() {
        let flag_at = out.len();
        out.push(0);
        for bit in 0..8 {
            if i >= data.len() {
                break;
            }
            let (at, len) = longest(&ring, pos, &data[i..]);
            if len >= 3 {
                out.push(at as u8);
                out.push((((at >> 4) & 0xf0) | (len - 3)) as u8);
            } else {
                out[flag_at] |= 1 << bit;
                out.push(data[i]);
            }
            let n = if len >= 3 { len } else { 1 };
            for &b in &data[i..i + n] {
                ring[pos] = b;
                pos = (pos + 1) % 4096;
            }
            i += n;
        }
    }
    out
}

/// The longest copy (ring position, length up to 18) that reproduces the
/// start of `ahead`, simulating the ring as the decoder fills it.
fn longest(ring: &[u8; 4096], pos: usize, ahead: &[u8]) -> (usize, usize) {
    let mut best = (0, 0);
    for start in 0..4096 {
        let mut len = 0;
        while len < 18 && len < ahead.len() {
            let j = (start + len) % 4096;
            // A byte this copy itself wrote comes from `ahead`.
            let written = (j + 4096 - pos) % 4096;
            let b = if written < len {
                ahead[written]
            } else {
                ring[j]
            };
            if b != ahead[len] {
                break;
            }
            len += 1;
        }
        if len > best.1 {
            best = (start, len);
        }
    }
    best
}

/// A PE stub whose overlay starts with `marker` and some filler.
pub fn pe_with_overlay(marker: &[u8]) -> Vec<u8> {
    let mut pe = pe_stub();
    pe.extend_from_slice(marker);
    pe.extend_from_slice(&[0x5a; 600]);
    pe
}
