//! Builders for the archives the archive tests and the archive benchmark
//! feed to kensa: ordinary containers holding EICAR, and hostile ones (bombs,
//! lying headers, truncation, hostile names). Everything is generated in
//! memory at test time; EICAR is assembled from pieces so this source is not
//! itself a detection.

pub use super::eicar;
use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::Compression;
use std::io::Write;

pub fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Raw deflate of `n` zero bytes, produced in chunks so no `n`-byte buffer
/// exists.
pub fn deflate_zeros(n: u64) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        e.write_all(&chunk[..k]).unwrap();
        left -= k as u64;
    }
    e.finish().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One entry of a hand-built zip. The sizes and CRC written to the headers
/// are taken from the fields, so tests can make them lie.
#[derive(Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    /// 0 stored, 8 deflate.
    pub method: u16,
    pub flags: u16,
    pub crc: u32,
    pub compressed_size: u32,
    pub uncompressed_size: u32,
    /// The bytes stored after the local header.
    pub payload: Vec<u8>,
}

impl RawEntry {
    pub fn stored(name: &str, data: &[u8]) -> Self {
        RawEntry {
            name: name.as_bytes().to_vec(),
            method: 0,
            flags: 0,
            crc: crc32(data),
            compressed_size: data.len() as u32,
            uncompressed_size: data.len() as u32,
            payload: data.to_vec(),
        }
    }

    pub fn deflated(name: &str, data: &[u8]) -> Self {
        let payload = deflate(data);
        RawEntry {
            name: name.as_bytes().to_vec(),
            method: 8,
            flags: 0,
            crc: crc32(data),
            compressed_size: payload.len() as u32,
            uncompressed_size: data.len() as u32,
            payload,
        }
    }
}

fn local_header(out: &mut Vec<u8>, e: &RawEntry) {
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&e.flags.to_le_bytes());
    out.extend_from_slice(&e.method.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
    out.extend_from_slice(&e.crc.to_le_bytes());
    out.extend_from_slice(&e.compressed_size.to_le_bytes());
    out.extend_from_slice(&e.uncompressed_size.to_le_bytes());
    out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&e.name);
}

fn central_header(out: &mut Vec<u8>, e: &RawEntry, offset: u32) {
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&e.flags.to_le_bytes());
    out.extend_from_slice(&e.method.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0x21, 0]);
    out.extend_from_slice(&e.crc.to_le_bytes());
    out.extend_from_slice(&e.compressed_size.to_le_bytes());
    out.extend_from_slice(&e.uncompressed_size.to_le_bytes());
    out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // extra len, comment len
    out.extend_from_slice(&[0; 4]); // disk, internal attrs
    out.extend_from_slice(&0u32.to_le_bytes()); // external attrs
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&e.name);
}

fn end_of_directory(out: &mut Vec<u8>, count: usize, cd_start: usize, cd_len: usize) {
    // More than 65 535 entries need zip64 records.
    if count > 0xfffe {
        let z64 = out.len();
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]); // disk numbers
        out.extend_from_slice(&(count as u64).to_le_bytes());
        out.extend_from_slice(&(count as u64).to_le_bytes());
        out.extend_from_slice(&(cd_len as u64).to_le_bytes());
        out.extend_from_slice(&(cd_start as u64).to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(z64 as u64).to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    let c16 = count.min(0xffff) as u16;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&c16.to_le_bytes());
    out.extend_from_slice(&c16.to_le_bytes());
    out.extend_from_slice(&(cd_len as u32).to_le_bytes());
    let start = if count > 0xfffe {
        0xffff_ffff
    } else {
        cd_start as u32
    };
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
}

/// A zip with one local header per entry, in order.
pub fn zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        local_header(&mut out, e);
        out.extend_from_slice(&e.payload);
    }
    let cd_start = out.len();
    for (e, off) in entries.iter().zip(offsets) {
        central_header(&mut out, e, off);
    }
    let cd_len = out.len() - cd_start;
    end_of_directory(&mut out, entries.len(), cd_start, cd_len);
    out
}

/// An overlapping-entry zip bomb: one local file (a deflated kernel of
/// `kernel_zeros` zero bytes) and `copies` central-directory entries, each
/// with its own name, all pointing at it.
pub fn overlap_bomb(kernel_zeros: u64, copies: usize) -> Vec<u8> {
    let payload = deflate_zeros(kernel_zeros);
    let crc = {
        let mut c = flate2::Crc::new();
        let chunk = vec![0u8; 1 << 20];
        let mut left = kernel_zeros;
        while left > 0 {
            let k = left.min(chunk.len() as u64) as usize;
            c.update(&chunk[..k]);
            left -= k as u64;
        }
        c.sum()
    };
    let kernel = RawEntry {
        name: b"k".to_vec(),
        method: 8,
        flags: 0,
        crc,
        compressed_size: payload.len() as u32,
        uncompressed_size: kernel_zeros as u32,
        payload,
    };
    let mut out = Vec::new();
    local_header(&mut out, &kernel);
    out.extend_from_slice(&kernel.payload);
    let cd_start = out.len();
    for i in 0..copies {
        let mut e = kernel.clone();
        e.name = format!("{i:05}").into_bytes();
        central_header(&mut out, &e, 0);
    }
    let cd_len = out.len() - cd_start;
    end_of_directory(&mut out, copies, cd_start, cd_len);
    out
}

/// A zip whose single deflated member decompresses to `zeros` zero bytes.
pub fn high_ratio_zip(zeros: u64) -> Vec<u8> {
    let payload = deflate_zeros(zeros);
    zip(&[RawEntry {
        name: b"zeros.bin".to_vec(),
        method: 8,
        flags: 0,
        crc: 0, // not computed: 1 GiB of CRC work buys the test nothing
        compressed_size: payload.len() as u32,
        uncompressed_size: zeros.min(u32::MAX as u64) as u32,
        payload,
    }])
}

/// A 42.zip-style nested bomb: `levels` of zips, each holding `copies`
/// deflated copies of the level below; the leaf is `leaf_zeros` zero bytes.
pub fn nested_bomb(levels: u32, copies: usize, leaf_zeros: u64) -> Vec<u8> {
    let payload = deflate_zeros(leaf_zeros);
    let leaf = RawEntry {
        name: b"0.bin".to_vec(),
        method: 8,
        flags: 0,
        crc: 0,
        compressed_size: payload.len() as u32,
        uncompressed_size: leaf_zeros as u32,
        payload,
    };
    let mut level: Vec<RawEntry> = (0..copies)
        .map(|i| RawEntry {
            name: format!("{i}.bin").into_bytes(),
            ..leaf.clone()
        })
        .collect();
    let mut z = zip(&level);
    for _ in 1..levels {
        level = (0..copies)
            .map(|i| RawEntry::deflated(&format!("{i}.zip"), &z))
            .collect();
        z = zip(&level);
    }
    z
}

/// `depth` zips, each holding only the next; the innermost holds a text file.
pub fn deep_zip(depth: u32) -> Vec<u8> {
    let mut z = zip(&[RawEntry::stored("leaf.txt", b"hello")]);
    for i in 1..depth {
        z = zip(&[RawEntry::stored(&format!("d{i}.zip"), &z)]);
    }
    z
}

/// A zip with `n` empty stored members.
pub fn many_empty(n: usize) -> Vec<u8> {
    let entries: Vec<RawEntry> = (0..n)
        .map(|i| RawEntry::stored(&format!("e{i}"), b""))
        .collect();
    zip(&entries)
}

/// A tar holding the given files.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// EICAR in `inner/payload.com` in `docs/inner.zip` in a tar.gz.
pub fn eicar_zip_in_tar_gz() -> Vec<u8> {
    let inner = zip(&[
        RawEntry::deflated("inner/readme.txt", b"nothing to see"),
        RawEntry::deflated("inner/payload.com", &eicar()),
    ]);
    gzip(&tar(&[
        ("docs/notes.txt", b"plain"),
        ("docs/inner.zip", &inner),
    ]))
}

/// A minimal .docx with EICAR in an embedded object.
pub fn eicar_docx() -> Vec<u8> {
    let types = br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#;
    let doc = br#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Maintenance notes</w:t></w:r></w:p></w:body></w:document>"#;
    zip(&[
        RawEntry::deflated("[Content_Types].xml", types),
        RawEntry::deflated("word/document.xml", doc),
        RawEntry::deflated("word/embeddings/oleObject1.bin", &eicar()),
    ])
}

/// A zip whose headers lie: the deflated EICAR member claims 4 bytes, the
/// stored one claims almost 4 GiB, and their CRCs are wrong.
pub fn lying_sizes() -> Vec<u8> {
    let mut small = RawEntry::deflated("claims-4-bytes.com", &eicar());
    small.uncompressed_size = 4;
    small.crc = 0xdead_beef;
    let mut huge = RawEntry::stored("claims-4-GiB.com", &eicar());
    huge.uncompressed_size = 0xffff_fff0;
    huge.crc = 0;
    zip(&[small, huge])
}

/// A zip cut off inside its second member: no central directory survives.
pub fn truncated() -> Vec<u8> {
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let z = zip(&[
        RawEntry::deflated("first.com", &eicar()),
        RawEntry::stored("second.bin", &big),
        RawEntry::stored("third.txt", b"never reached"),
    ]);
    z[..z.len() / 2].to_vec()
}

/// Member names that must stay data: traversal, absolute, control chars.
pub const HOSTILE_NAMES: [&str; 3] = ["../../evil.com", "/etc/x", "red\u{1b}[31m\u{7}\nname\r.com"];

pub fn hostile_names() -> Vec<u8> {
    let e: Vec<RawEntry> = HOSTILE_NAMES
        .iter()
        .map(|n| RawEntry::deflated(n, &eicar()))
        .collect();
    zip(&e)
}

/// A zip with one member flagged as encrypted.
pub fn encrypted() -> Vec<u8> {
    let mut e = RawEntry::stored("secret.bin", b"0123456789ab-ciphertext");
    e.flags |= 1;
    zip(&[e, RawEntry::stored("open.txt", b"readable")])
}

/// A minimal 32-bit PE image: DOS header, `PE\0\0`, a COFF header with one
/// section (`.text`, 0x200 raw bytes at 0x200) and a zeroed optional
/// header. 0x400 bytes; whatever follows it is the PE overlay, where
/// self-extracting installers keep their archive.
pub fn pe_stub() -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    b[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    b[coff..coff + 2].copy_from_slice(&0x14cu16.to_le_bytes()); // i386
    b[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes()); // sections
    b[coff + 16..coff + 18].copy_from_slice(&0xe0u16.to_le_bytes()); // optional header size
    b[coff + 18..coff + 20].copy_from_slice(&0x0102u16.to_le_bytes()); // executable
    b[coff + 20..coff + 22].copy_from_slice(&0x10bu16.to_le_bytes()); // PE32
    let s = coff + 20 + 0xe0;
    b[s..s + 5].copy_from_slice(b".text");
    for (i, v) in [0x200u32, 0x1000, 0x200, 0x200].iter().enumerate() {
        // VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData
        b[s + 8 + 4 * i..s + 12 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    b[0x200] = 0xc3; // ret
    b
}

/// A minimal RAR 5 archive: signature, main archive header and end of
/// archive header, each header with its CRC32 (no members: an empty
/// archive, opened with nothing to scan).
pub fn rar5() -> Vec<u8> {
    let mut out = b"Rar!\x1a\x07\x01\x00".to_vec();
    // Header type 1 (main, no flags, no archive flags), then 5 (end).
    for data in [[1u8, 0, 0], [5, 0, 0]] {
        let mut body = vec![data.len() as u8];
        body.extend_from_slice(&data);
        out.extend_from_slice(&crc32(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }
    out
}

/// A minimal RAR 4 archive: marker block, main archive header (type 0x73,
/// 13 bytes) and end of archive block (0x7b), each with the low 16 bits of
/// the CRC32 of its header after the CRC field.
pub fn rar4() -> Vec<u8> {
    let mut out = b"Rar!\x1a\x07\x00".to_vec();
    let mut main = vec![0x73u8, 0, 0, 13, 0];
    main.extend_from_slice(&[0; 6]);
    let end = vec![0x7bu8, 0x00, 0x40, 7, 0];
    for block in [main, end] {
        out.extend_from_slice(&(crc32(&block) as u16).to_le_bytes());
        out.extend_from_slice(&block);
    }
    out
}
