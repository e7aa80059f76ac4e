//! Recursion into containers with fail-closed limits: archives (zip and the
//! OOXML/ODF documents built on it, tar, cpio, ar, 7z, RAR, CAB, ARJ, SZDD),
//! compression layers (gzip, bzip2, xz, zstd), documents (OLE2 with VBA
//! projects, RTF objects, PDF streams and embedded files), mail (MIME,
//! mbox, uuencode, BinHex), HTML `data:` URIs and script payloads,
//! installers (self-extracting archives behind a PE, NSIS) and UPX-packed
//! executables. [`detect`] recognises a container by its magic bytes, or
//! where it does not start the file by its own structures (module
//! `locate`); [`walk`] decodes every member in memory and hands it to a
//! visitor so the engine can hash and scan it like a file. A kind kensa
//! recognises but cannot open (Inno Setup, InstallShield, a member of a
//! multi-volume RAR) is reported as an [`Gap::Unsupported`] gap, never
//! passed as clean.
//!
//! Every limit is enforced on bytes actually produced, never on sizes the
//! container declares; a limit that is hit becomes an [`MemberEvent::Skip`]
//! (and, for ratio and depth bombs, a [`MemberEvent::Suspicious`]) so a
//! bomb can never look clean. Member names are data: they are carried in
//! the chain as the raw bytes stored (the caller makes them text with its
//! one sanitiser) and never used as paths; nothing is written to disk.
//!
//! Compression layers (gzip, bzip2, xz, zstd) add no element to the chain: the
//! decompressed stream of `a.tar.gz` is reported under the chain of the
//! `.gz` itself, and the tar members below it as `a.tar.gz → member`.
//!
//! This crate has no dependency on kensa or YARA, so its fuzz targets
//! (`crates/unpack/fuzz`) build and run fast. Layout: `walker` holds the
//! limits machinery every format uses; one module per format.

use std::time::Duration;

use locate::locate;
use walker::Walker;

mod locate;
mod walker;

mod ar;
mod arj;
mod cab;
mod cpio;
mod html;
mod installer;
mod mail;
mod ole2;
mod packer;
mod pdf;
mod rar;
mod rtf;
mod sevenz;
mod stream;
mod szdd;
mod tar;
mod upx;
mod zip;

pub use packer::identify_packer;

/// Why part of a container was not checked. The caller records each as a
/// coverage gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// A limit was reached (detail names it).
    Limit,
    /// Encrypted: the content cannot be read without a key.
    Encrypted,
    /// Damaged or truncated: read as far as possible.
    Corrupt,
    /// A kind (or a compression method) recognised but not readable here.
    Unsupported,
}

pub const MIB: u64 = 1024 * 1024;
/// Bytes read from a decoder per step; limits and the clock are checked
/// after every step.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Dictionary/model memory a single xz block or 7z coder may ask for.
pub(crate) const DECODER_MEM_LIMIT_KIB: u32 = 128 * 1024;

/// Limits applied per top-level file (the whole tree below it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Containers nested deeper than this are not opened (ClamAV `MaxRecursion`).
    pub max_depth: u32,
    /// Members (files, directories, nested containers) visited in all.
    pub max_members: u64,
    /// Bytes produced by decompression across all levels.
    pub max_total_bytes: u64,
    /// Bytes one member may produce; larger members are skipped.
    pub max_member_size: u64,
    /// Largest acceptable ratio of produced to compressed bytes, checked for
    /// each member and for the whole top-level file.
    pub max_ratio: u64,
    /// The ratio is only judged once this many bytes have been produced, so
    /// small highly compressible files are not called bombs.
    pub ratio_min_bytes: u64,
    /// Wall-clock time spent decompressing one top-level file.
    pub max_time: Duration,
}

impl Default for ArchiveLimits {
    /// ClamAV-spirit defaults. Depth 16 (ClamAV `MaxRecursion` 17 counts the
    /// file itself). Members 10 000 (`MaxFiles`). Member 100 MiB
    /// (`MaxFileSize`). Total 256 MiB, below ClamAV's 400 MiB `MaxScanSize`
    /// because kensa holds the chain of members in memory for YARA and must
    /// stay small on maintenance PCs: the sum of buffers alive at once is
    /// bounded by this figure. Ratio 500 once 16 MiB have been produced:
    /// deflate tops out near 1030:1 on zeros, ordinary documents and
    /// executables compress 2–20:1, so only near-empty payloads of more than
    /// 16 MiB trip it. Time 120 s (`MaxScanTime`).
    fn default() -> Self {
        ArchiveLimits {
            max_depth: 16,
            max_members: 10_000,
            max_total_bytes: 256 * MIB,
            max_member_size: 100 * MIB,
            max_ratio: 500,
            ratio_min_bytes: 16 * MIB,
            max_time: Duration::from_secs(120),
        }
    }
}

/// Container formats kensa recognises. Every kind is opened except the
/// ones [`ContainerKind::opened`] names, which are always a recorded gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    /// Zstandard (`.zst`, `.deb` members): a compression layer like gzip.
    Zstd,
    SevenZ,
    /// RAR 1.5–4.x and RAR 5/7 (module `rar`).
    Rar,
    /// OLE2 compound file (.doc .xls .ppt .msi .msg), VBA decompressed.
    Ole2,
    /// RTF with embedded objects.
    Rtf,
    /// A MIME message (.eml) or an mbox of them.
    Mail,
    /// uuencoded data in text.
    Uuencode,
    /// BinHex 4.0.
    BinHex,
    /// HTML with `data:` URIs or base64 in scripts.
    Html,
    Pdf,
    /// Microsoft cabinet.
    Cab,
    /// SZDD (`COMPRESS.EXE`) and its KWAJ sibling.
    Szdd,
    Cpio,
    /// Unix `ar` (`.deb`, static libraries).
    Ar,
    Arj,
    /// NSIS installer payload behind a PE.
    Nsis,
    /// Inno Setup installer.
    Inno,
    /// InstallShield installer.
    InstallShield,
    /// An executable packed with UPX (PE or ELF).
    Upx,
}

impl ContainerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerKind::Zip => "zip",
            ContainerKind::Tar => "tar",
            ContainerKind::Gzip => "gzip",
            ContainerKind::Bzip2 => "bzip2",
            ContainerKind::Xz => "xz",
            ContainerKind::Zstd => "zstd",
            ContainerKind::SevenZ => "7z",
            ContainerKind::Rar => "rar",
            ContainerKind::Ole2 => "ole2",
            ContainerKind::Rtf => "rtf",
            ContainerKind::Mail => "mail",
            ContainerKind::Uuencode => "uuencode",
            ContainerKind::BinHex => "binhex",
            ContainerKind::Html => "html",
            ContainerKind::Pdf => "pdf",
            ContainerKind::Cab => "cab",
            ContainerKind::Szdd => "szdd",
            ContainerKind::Cpio => "cpio",
            ContainerKind::Ar => "ar",
            ContainerKind::Arj => "arj",
            ContainerKind::Nsis => "nsis",
            ContainerKind::Inno => "inno",
            ContainerKind::InstallShield => "installshield",
            ContainerKind::Upx => "upx",
        }
    }
}

/// Recognise a container: magic bytes at offset 0, else a zip's end of
/// central directory in the tail, a V7 tar header checksum, a 7z or RAR
/// signature at the start of a PE overlay. Bounded reads only (module
/// `locate`), so it costs about a microsecond per 16 KiB of a file that is
/// not an archive, at most a few microseconds (only the tail is searched).
pub fn detect(data: &[u8]) -> Option<ContainerKind> {
    locate(data).map(|f| f.kind)
}

/// What [`walk`] reports, in document order.
#[derive(Debug)]
pub enum MemberEvent<'a> {
    /// A member, fully decompressed (nested containers are reported too,
    /// before their own members). `chain` holds the member names from the top
    /// file down, the top file's own path not included. `complete` is false
    /// when the member is corrupt and `data` is only its readable part; a
    /// `Skip` with reason `Corrupt` for the same chain follows.
    Member {
        chain: &'a [Vec<u8>],
        data: &'a [u8],
        complete: bool,
    },
    /// Something not fully checked: `ArchiveLimit` (detail names the limit),
    /// `Encrypted`, `Corrupt` or `UnsupportedContainer`.
    Skip {
        chain: &'a [Vec<u8>],
        reason: Gap,
        detail: String,
    },
    /// A bomb (ratio, depth, overlapping zip entries): becomes a `suspicious`
    /// finding, so the scan's exit code can never be 0.
    Suspicious {
        chain: &'a [Vec<u8>],
        rule: &'static str,
        detail: String,
    },
}

/// Rule names of [`MemberEvent::Suspicious`].
pub const RULE_RATIO_BOMB: &str = "archive_ratio_bomb";
pub const RULE_DEPTH_BOMB: &str = "archive_depth_bomb";
pub const RULE_ZIP_OVERLAP: &str = "zip_overlapping_entries";

/// Walk the container in `data` (if it is one) and report every member to
/// `visit`. Never panics on hostile input, never allocates more than the
/// limits allow, never writes to disk.
pub fn walk(data: &[u8], limits: &ArchiveLimits, visit: &mut dyn FnMut(MemberEvent<'_>)) {
    let Some(found) = locate(data) else { return };
    let mut w = Walker::new(limits, data.len() as u64, visit);
    w.container(found, data, 1);
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_magics() {
        assert_eq!(detect(b"PK\x03\x04rest"), Some(ContainerKind::Zip));
        assert_eq!(detect(&[0x1f, 0x8b, 0x08, 0]), Some(ContainerKind::Gzip));
        assert_eq!(
            detect(b"BZh91AY&SYxxxx"),
            Some(ContainerKind::Bzip2),
            "bzip2 block magic"
        );
        assert_eq!(detect(b"BZh9 not really"), None);
        assert_eq!(
            detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Some(ContainerKind::Xz)
        );
        assert_eq!(
            detect(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c, 0]),
            Some(ContainerKind::SevenZ)
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar), Some(ContainerKind::Tar));
        assert_eq!(detect(b"Rar!\x1a\x07\x01\x00"), Some(ContainerKind::Rar));
        assert_eq!(detect(b"Rar!\x1a\x07\x00"), Some(ContainerKind::Rar));
        assert_eq!(detect(b"PK00PK\x03\x04"), Some(ContainerKind::Zip));
        assert_eq!(detect(b"MZ\x90\x00"), None);
        assert_eq!(detect(b""), None);
        assert_eq!(detect(&[0u8; 300]), None);
    }

    #[test]
    fn non_archive_yields_nothing() {
        let mut n = 0;
        walk(b"just some text", &ArchiveLimits::default(), &mut |_| {
            n += 1
        });
        assert_eq!(n, 0);
    }
}
