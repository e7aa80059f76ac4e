//! kensa-diskfs — user-space file systems: reads a disk, a partition or a disk image
//! without mounting it, so a hostile file system is parsed by kensa (in a
//! sandboxed child process: kensa's `disk` module) and never by the kernel.
//!
//! This module owns the shapes every reader shares: the read-only
//! [`Device`] a reader reads from (a descriptor read with `pread`, bytes in
//! memory, or a window of either: a partition), the [`FileSystem`] trait
//! each reader implements, the [`Visitor`] that receives every file (and
//! NTFS stream) with its bytes, and [`detect`], which names the file system
//! on a device by its magic numbers. Readers never follow anything outside
//! their device, never allocate by a size read from the medium without a
//! cap, and end every walk — a cycle, a corrupt structure or a limit is a
//! reported problem, never a hang or a panic.

// Production code handles every error; `unwrap` is for tests only.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bytes;
pub mod device;
pub mod exfat;
pub mod ext;
pub mod fat;
mod iso;
pub mod ntfs;
pub mod partition;
mod udf;

pub use device::{Device, DeviceReader, FdDevice, MemDevice, Window};

use serde::{Deserialize, Serialize};
use std::io::{self, Read};
use std::sync::Arc;

/// The file systems kensa can name. A device whose file system is not
/// one of these (or that no reader here opens) is an `unsupported_fs` gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsKind {
    Fat12,
    Fat16,
    Fat32,
    Exfat,
    Ntfs,
    Ext2,
    Ext3,
    Ext4,
    Iso9660,
    Udf,
}

impl FsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Fat12 => "fat12",
            FsKind::Fat16 => "fat16",
            FsKind::Fat32 => "fat32",
            FsKind::Exfat => "exfat",
            FsKind::Ntfs => "ntfs",
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Iso9660 => "iso9660",
            FsKind::Udf => "udf",
        }
    }
}

/// A file's attributes that a mount hides or that rules may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Marked hidden (FAT/exFAT/NTFS attribute, ISO/UDF "hidden" flag).
    pub hidden: bool,
    /// Marked system (FAT/exFAT/NTFS attribute).
    pub system: bool,
}

/// One file (or NTFS alternate data stream) handed to a [`Visitor`].
pub struct Entry<'a> {
    /// Path inside the volume, one raw name per component, root first.
    /// Names stored as UTF-16 on the medium (FAT long names, exFAT, NTFS,
    /// Joliet, UDF) are given as WTF-8: valid UTF-8 except that an
    /// unpaired surrogate is kept as its 3-byte encoding (which the one
    /// text form, `pathfmt`, escapes byte by byte). An NTFS alternate data
    /// stream is the file's last component followed by `:` and the stream
    /// name (`report.doc:Zone.Identifier`).
    pub path: &'a [Vec<u8>],
    /// Size in bytes as the file system records it; `data` yields at most
    /// this many bytes.
    pub size: u64,
    pub attrs: Attributes,
}

/// Whether a walk goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Why part of a volume could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A structure is inconsistent (bad run, cycle, out-of-range cluster).
    Corrupt,
    /// A feature this reader does not read (an unknown compression, an
    /// incompatible feature flag).
    Unsupported,
    /// A limit was reached (entries, depth).
    Limit,
    /// The device failed to read.
    Io,
}

/// Receives a walk's files and problems, in walk order.
pub trait Visitor {
    /// A regular file or stream. `data` yields its bytes (at most
    /// `entry.size`); a read error means the rest could not be read (the
    /// visitor records it). The visitor may read less than all of it.
    fn file(&mut self, entry: &Entry<'_>, data: &mut dyn Read) -> Flow;
    /// A part that could not be read: a directory, a file's content, a
    /// whole subtree. `path` is where (empty: the volume itself).
    fn problem(&mut self, path: &[Vec<u8>], kind: ProblemKind, detail: &str) -> Flow;
}

/// Bounds on one walk, so a hostile volume ends.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Directory entries visited in the whole volume.
    pub max_entries: u64,
    /// Directory nesting.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_depth: 64,
        }
    }
}

/// Why a volume could not be opened or its walk ended early.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// Label and serial (or UUID) of a volume, as its own metadata says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeLabel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Serial number (hex, as `blkid` prints it) or UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// One opened volume.
pub trait FileSystem {
    /// Label and serial.
    fn label(&self) -> VolumeLabel;
    /// Bytes from the volume's start that hold its boot sector / volume
    /// boot record and boot code (FAT: the reserved sectors; NTFS: the
    /// 8 KiB `$Boot`; exFAT: the 12-sector main boot region; ext: the
    /// 1 KiB boot block; ISO 9660/UDF: the 32 KiB system area). Scanned
    /// as the pseudo-file `$boot`, since a mount never shows it.
    fn boot_len(&self) -> u64;
    /// Visits every regular file (and stream) once. Problems met on the
    /// way go to the visitor and the walk goes on where it can; an error
    /// is returned only when the walk could not go on at all.
    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError>;
}

/// Names the file system on `dev` by its magic numbers (`None`: none
/// kensa knows). Reads at most the first 68 KiB.
pub fn detect(dev: &dyn Device) -> io::Result<Option<FsKind>> {
    let mut head = vec![0u8; (68 * 1024).min(dev.len()) as usize];
    dev.read_at(0, &mut head)?;
    Ok(detect_bytes(&head))
}

/// [`detect`] over the first bytes of a device (at least 68 KiB to see
/// every kind; fewer bytes see fewer kinds).
pub fn detect_bytes(head: &[u8]) -> Option<FsKind> {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(3, b"NTFS    ") {
        return Some(FsKind::Ntfs);
    }
    if at(3, b"EXFAT   ") {
        return Some(FsKind::Exfat);
    }
    if at(1080, &[0x53, 0xEF]) {
        return Some(ext_kind(head));
    }
    if at(0x8001, b"CD001") {
        // A UDF bridge disc also carries an ISO 9660 tree; UDF wins when
        // its volume recognition sequence is present (the UDF reader falls
        // back to the ISO 9660 tree, with a problem, when UDF is unreadable).
        return Some(if udf_marker(head) {
            FsKind::Udf
        } else {
            FsKind::Iso9660
        });
    }
    if udf_marker(head) {
        return Some(FsKind::Udf);
    }
    fat_kind(head)
}

fn udf_marker(head: &[u8]) -> bool {
    (0x8001..0x10001)
        .step_by(2048)
        .any(|off| matches!(head.get(off..off + 5), Some(b"NSR02" | b"NSR03")))
}

/// ext2/3/4 by the superblock's feature flags.
fn ext_kind(head: &[u8]) -> FsKind {
    let le32 = |off: usize| {
        head.get(off..off + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    let compat = le32(1024 + 0x5C);
    let incompat = le32(1024 + 0x60);
    let ro_compat = le32(1024 + 0x64);
    // extents, 64bit, flex_bg, huge_file, dir_nlink, extra_isize, metadata_csum
    if incompat & (0x40 | 0x80 | 0x200) != 0 || ro_compat & (0x8 | 0x20 | 0x40 | 0x400) != 0 {
        FsKind::Ext4
    } else if compat & 0x4 != 0 {
        FsKind::Ext3
    } else {
        FsKind::Ext2
    }
}

/// FAT12/16/32 by the BIOS parameter block: 0x55AA, a sane sector size and
/// cluster size, and FAT12 or FAT16 by cluster count (as Microsoft's
/// specification decides it, not by the type string).
fn fat_kind(head: &[u8]) -> Option<FsKind> {
    let le16 = |off: usize| {
        head.get(off..off + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let le32 = |off: usize| {
        head.get(off..off + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if head.get(510..512) != Some(&[0x55, 0xAA]) || !matches!(head.first(), Some(0xEB | 0xE9)) {
        return None;
    }
    let bps = u32::from(le16(11)?);
    let spc = u32::from(*head.get(13)?);
    let reserved = u32::from(le16(14)?);
    let fats = u32::from(*head.get(16)?);
    let root_entries = u32::from(le16(17)?);
    if !matches!(bps, 512 | 1024 | 2048 | 4096)
        || !spc.is_power_of_two()
        || reserved == 0
        || fats == 0
    {
        return None;
    }
    let total = match le16(19)? {
        0 => le32(32)?,
        n => u32::from(n),
    };
    let fat_size = match le16(22)? {
        0 => le32(36)?,
        n => u32::from(n),
    };
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let meta = reserved
        .checked_add(fats.checked_mul(fat_size)?)?
        .checked_add(root_sectors)?;
    let clusters = total.checked_sub(meta)? / spc;
    // A zero 16-bit FAT size is the FAT32 layout (root cluster, 32-bit
    // entries) whatever the cluster count, as Linux reads it.
    if le16(22)? == 0 {
        return Some(FsKind::Fat32);
    }
    Some(match clusters {
        0..=4084 => FsKind::Fat12,
        4085..=65524 => FsKind::Fat16,
        _ => FsKind::Fat32,
    })
}

/// Opens the volume on `dev` as `kind` with the reader kensa has for it.
pub fn open(kind: FsKind, dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    match kind {
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => fat::open(dev),
        FsKind::Exfat => exfat::open(dev),
        FsKind::Iso9660 => iso::open(dev),
        FsKind::Udf => udf::open(dev),
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => ext::open(dev),
        FsKind::Ntfs => ntfs::open(dev),
    }
}

/// One file as read in user space, for listings and tests.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Listed {
    /// Path inside the volume, one raw name per component.
    pub path: Vec<Vec<u8>>,
    pub size: u64,
    /// SHA-256 of the bytes read (hex).
    pub sha256: String,
    pub hidden: bool,
    pub system: bool,
}

/// Walks a bare volume in this process (no sandbox: for tests and tools
/// over trusted images) and lists every file with its hash, sorted; the
/// problems met are returned beside it.
pub fn list_volume(
    dev: Arc<dyn Device>,
    limits: &Limits,
) -> Result<(Vec<Listed>, Vec<String>), FsError> {
    let kind =
        detect(&*dev)?.ok_or_else(|| FsError::Unsupported("no file system kensa knows".into()))?;
    let mut fs = open(kind, dev)?;
    let mut l = Lister::default();
    fs.walk(limits, &mut l)?;
    l.files.sort();
    Ok((l.files, l.problems))
}

#[derive(Default)]
struct Lister {
    files: Vec<Listed>,
    problems: Vec<String>,
}

impl Visitor for Lister {
    fn file(&mut self, entry: &Entry<'_>, data: &mut dyn Read) -> Flow {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut n: u64 = 0;
        loop {
            match data.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    h.update(&buf[..k]);
                    n += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.problems
                        .push(format!("{}: read failed: {e}", lossy(entry.path)));
                    return Flow::Continue;
                }
            }
        }
        self.files.push(Listed {
            path: entry.path.to_vec(),
            size: n,
            sha256: hex::encode(h.finalize()),
            hidden: entry.attrs.hidden,
            system: entry.attrs.system,
        });
        Flow::Continue
    }

    fn problem(&mut self, path: &[Vec<u8>], kind: ProblemKind, detail: &str) -> Flow {
        self.problems
            .push(format!("{}: {kind:?}: {detail}", lossy(path)));
        Flow::Continue
    }
}

/// A path for a problem message in a listing (tests and tools only; the
/// engine gives every name kensa's one text form).
fn lossy(path: &[Vec<u8>]) -> String {
    path.iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_names_nothing_in_zeros() {
        assert_eq!(detect_bytes(&vec![0u8; 70 * 1024]), None);
    }
}

/// What [`read_everything`] met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// The volume opened.
    pub opened: bool,
    pub files: u64,
    pub problems: u64,
}

/// Opens `bytes` as `kind`, reads its label and walks it, reading every
/// file (at most 16 MiB of each, so a huge sparse file stays quick). The
/// one entry point the fuzz targets and the kept-input replays share.
pub fn read_everything(kind: FsKind, bytes: &[u8]) -> Drained {
    let dev: Arc<dyn Device> = Arc::new(MemDevice(bytes.to_vec().into()));
    let mut d = Drained::default();
    if let Ok(mut fs) = open(kind, dev) {
        d.opened = true;
        let _ = fs.label();
        let _ = fs.walk(&Limits::default(), &mut d);
    }
    d
}

impl Visitor for Drained {
    fn file(&mut self, _: &Entry<'_>, data: &mut dyn Read) -> Flow {
        self.files += 1;
        let _ = io::copy(&mut data.take(16 << 20), &mut io::sink());
        Flow::Continue
    }
    fn problem(&mut self, _: &[Vec<u8>], _: ProblemKind, _: &str) -> Flow {
        self.problems += 1;
        Flow::Continue
    }
}
