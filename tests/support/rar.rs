//! RAR samples for the RAR tests, written at test time by the `rars`
//! crate's writer (a dev-dependency with its `write` and `encryption`
//! features; the product builds the crate without them): there is no free
//! RAR compressor in Debian main. RAR 5 and RAR 2.9/4.0 (the 1.5–4.x
//! family), stored or compressed, solid, encrypted, split into volumes;
//! and one hostile edit of our own: a RAR 5 member whose header declares
//! a 4 GiB dictionary, its header CRC fixed up.

use super::archive::crc32;
use rars::{ArchiveVersion, Builder};

/// How a sample is written.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    pub version: ArchiveVersion,
    pub store: bool,
    pub solid: bool,
}

impl Opts {
    pub fn new(version: ArchiveVersion) -> Opts {
        Opts {
            version,
            store: false,
            solid: false,
        }
    }
}

fn builder(o: Opts, files: &[(&str, &[u8])]) -> Builder {
    let mut b = Builder::new(o.version).store(o.store).solid(o.solid);
    for (name, data) in files {
        b.add_bytes(name.as_bytes().to_vec(), data.to_vec(), None, None)
            .expect("rars: add member");
    }
    b
}

/// An archive of `files`, written as `o` says.
pub fn archive(o: Opts, files: &[(&str, &[u8])]) -> Vec<u8> {
    builder(o, files).to_bytes().expect("rars: write archive")
}

/// An archive whose member data is encrypted with a password (names
/// readable), or, with `headers`, whose headers are encrypted too (`-hp`).
pub fn encrypted(o: Opts, files: &[(&str, &[u8])], headers: bool) -> Vec<u8> {
    builder(o, files)
        .password(Some(b"kensa-never-guesses".to_vec()))
        .header_encryption(headers)
        .to_bytes()
        .expect("rars: write encrypted archive")
}

/// The first volume of a multi-volume set of stored members whose
/// volumes hold at most `volume` bytes: its last member continues in the
/// next volume.
pub fn first_volume(o: Opts, files: &[(&str, &[u8])], volume: usize) -> Vec<u8> {
    let vols = builder(o, files)
        .store(true)
        .volume_size(Some(volume))
        .build_volumes(None)
        .expect("rars: write volumes");
    assert!(vols.len() > 1, "the set has one volume only");
    vols.into_iter().next().unwrap()
}

/// A RAR 5 variable-length integer at `at`: value and length.
fn vint(d: &[u8], at: usize) -> (u64, usize) {
    let mut v = 0u64;
    for (i, &b) in d[at..].iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("bad vint at {at}");
}

/// A compressed RAR 5 archive of `files` whose first file header declares
/// a dictionary of 128 KiB << 15 = 4 GiB (compression-info bits 10..14),
/// the header CRC fixed up so the archive is otherwise valid.
pub fn huge_dictionary(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut d = archive(Opts::new(ArchiveVersion::Rar50), files);
    let mut at = 8; // after the signature
    loop {
        let (size, n) = vint(&d, at + 4);
        let start = at + 4; // the CRC covers the header from its size field
        let end = start + n + size as usize;
        let mut p = start + n;
        let (kind, k) = vint(&d, p);
        p += k;
        let (flags, k) = vint(&d, p);
        p += k;
        let mut data_size = 0;
        if flags & 1 != 0 {
            p += vint(&d, p).1; // extra area size
        }
        if flags & 2 != 0 {
            let (v, k) = vint(&d, p);
            data_size = v as usize;
            p += k;
        }
        if kind == 2 {
            let (file_flags, k) = vint(&d, p);
            p += k;
            p += vint(&d, p).1; // unpacked size
            p += vint(&d, p).1; // attributes
            if file_flags & 2 != 0 {
                p += 4; // mtime
            }
            if file_flags & 4 != 0 {
                p += 4; // data CRC32
            }
            let (info, k) = vint(&d, p);
            assert_eq!(k, 2, "compression info of two bytes expected");
            assert_ne!(info & 0x380, 0, "a compressed member expected");
            let info = (info & !(0x1f << 10)) | (15 << 10);
            d[p] = (info & 0x7f) as u8 | 0x80;
            d[p + 1] = (info >> 7) as u8;
            let crc = crc32(&d[start..end]);
            d[at..at + 4].copy_from_slice(&crc.to_le_bytes());
            return d;
        }
        at = end + data_size;
    }
}
