//! Disks and disk images read in user space: kensa's side of
//! `kensa-diskfs`. [`probe`] finds a device's partitions and the file
//! system of each; [`read`] hands every file of every volume to a
//! [`DiskVisitor`], plus what a mount hides: the `$mbr` pseudo-file (the
//! first sector and the gap before the first partition), each volume's
//! `$boot` (its boot sector / volume boot record), and the raw bytes of a
//! volume no reader opens (after an `unsupported_fs` or `corrupt`
//! problem), so nothing on the device goes unscanned. The parsing runs in
//! sandboxed child processes — kensa itself, re-executed with a hidden
//! entry point, under seccomp and resource limits (`sandbox`), speaking
//! framed, capped messages (`proto`) to the parent (`client`), which never
//! reads the medium: one child for the probe and one per volume, so a
//! parser that dies or hangs costs one volume, reported as
//! [`DiskProblem::ParserDied`]. This module also
//! owns the text form of a path inside a volume ([`path_text`]) and the
//! member names a record's chain gets ([`chain`]).

#[cfg(unix)]
mod client;
#[cfg(windows)]
#[path = "client_windows.rs"]
mod client;
#[cfg(unix)]
mod inproc;
#[cfg(unix)]
mod proto;
#[cfg(unix)]
pub mod sandbox;

use crate::engine::pathfmt;
use kensa_diskfs::{Attributes, Flow, ProblemKind};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Read;
use std::time::Duration;

/// Default address-space limit of the parser.
pub const DEFAULT_PARSER_MEMORY: u64 = 512 << 20;
/// Default longest silence from the parser before it is killed.
pub const DEFAULT_PARSER_TIMEOUT: Duration = Duration::from_secs(60);

/// How devices are read, built from the `[disk]` config before any work.
#[derive(Clone, Debug)]
pub struct DiskOptions {
    /// Address-space limit of the parser.
    pub parser_memory: u64,
    /// Longest the parser may go without sending anything.
    pub parser_timeout: Duration,
    /// Bounds on each volume's walk.
    pub limits: kensa_diskfs::Limits,
    /// The program run as the parser: kensa itself (`/proc/self/exe`);
    /// tests that call [`probe`] from another binary name kensa's.
    pub parser_exe: std::path::PathBuf,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            parser_memory: DEFAULT_PARSER_MEMORY,
            parser_timeout: DEFAULT_PARSER_TIMEOUT,
            limits: kensa_diskfs::Limits::default(),
            parser_exe: std::path::PathBuf::from("/proc/self/exe"),
        }
    }
}

/// One volume on a device, as the session record names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// Partition number as Linux numbers it (`p1`…; logical partitions
    /// from 5). `None`: the device is one bare volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// File system (`fat32`, `ntfs`, …); `None`: none kensa knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Serial number or UUID, as `blkid` prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Byte offset on the device.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Partition type (MBR type byte as `0x0c`, or GPT type name/GUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_type: Option<String>,
}

/// What [`probe`] found on a device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// `mbr` or `gpt`; `None`: no partition table (a bare volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Bytes of the `$mbr` pseudo-file (0: none).
    pub mbr_len: u64,
    pub volumes: Vec<VolumeInfo>,
    /// What was wrong with the partition table (a looping extended chain,
    /// a corrupt GPT header read from its backup, a partition clipped to
    /// the device), in plain words; [`read`] reports each as a
    /// [`DiskProblem::Corrupt`] at the device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Where on a device a file or problem is.
#[derive(Clone, Copy, Debug)]
pub struct Where<'a> {
    /// `None`: the device itself (the `$mbr` pseudo-file, the table).
    pub volume: Option<&'a VolumeInfo>,
    /// Path inside the volume; empty: the volume's raw bytes.
    pub path: &'a [Vec<u8>],
}

/// A part of a device that was not read as files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskProblem {
    /// Reported by a file-system reader inside a volume.
    Fs(ProblemKind),
    /// A partition of an unknown kind, or a file system kensa has no
    /// reader for: its raw bytes follow as one blob.
    UnsupportedFs,
    /// The file system could not be opened: its raw bytes follow. At the
    /// device (`volume: None`): the partition table is damaged (the
    /// layout's problems).
    Corrupt,
    /// The parser died or stopped answering (a crash, a limit, a hang, the
    /// system-call filter): the rest of that volume was not read.
    ParserDied,
}

/// Receives what [`read`] finds, in device order.
pub trait DiskVisitor {
    /// A file, stream, pseudo-file or raw volume; `data` yields at most
    /// `size` bytes (an error: the rest could not be read).
    fn file(&mut self, at: Where<'_>, size: u64, attrs: Attributes, data: &mut dyn Read) -> Flow;
    fn problem(&mut self, at: Where<'_>, kind: DiskProblem, detail: &str) -> Flow;
}

/// Why a device could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("cannot read the device: {0}")]
    Io(#[from] std::io::Error),
    #[error("the partition table is corrupt: {0}")]
    Table(String),
    #[error("the parser died: {0}")]
    Parser(String),
    #[error("disk images and devices are read only on Linux, where the parser runs sandboxed (seccomp, resource limits); not read here")]
    Unsupported,
}

/// Finds the partitions of `dev` and the file system of each, in a
/// sandboxed parser process (see `sandbox`).
pub fn probe(dev: &File, opts: &DiskOptions) -> Result<Layout, DiskError> {
    client::probe(dev, opts)
}

/// Reads every volume of `layout` on `dev`, handing each file to `visit`:
/// the layout's problems, `$mbr`, then each volume in its own sandboxed
/// parser process, so a parser that dies costs one volume.
pub fn read(
    dev: &File,
    layout: &Layout,
    opts: &DiskOptions,
    visit: &mut dyn DiskVisitor,
) -> Result<(), DiskError> {
    client::read(dev, layout, opts, visit)
}

/// The text form of a path inside a volume: each component in the one
/// text form of names ([`pathfmt`]), a `/` inside a component written
/// `\x2F` (so the separator stays unambiguous), joined with `/`.
pub fn path_text(path: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for (i, c) in path.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&pathfmt::bytes_to_string(c).replace('/', "\\x2F"));
    }
    out
}

/// The member names below the device for a record's chain: the
/// partition (`p2`) when the device has a table, then the path inside the
/// volume (none for a volume's raw bytes).
pub fn chain(at: Where<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(i) = at.volume.and_then(|v| v.index) {
        out.push(format!("p{i}"));
    }
    if !at.path.is_empty() {
        out.push(path_text(at.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_text_keeps_components_apart() {
        let a = path_text(&[b"a/b".to_vec(), b"c".to_vec()]);
        let b = path_text(&[b"a".to_vec(), b"b/c".to_vec()]);
        assert_ne!(a, b);
        assert_eq!(a, "a\\x2Fb/c");
        assert_eq!(pathfmt::decode(&a).unwrap(), b"a/b/c");
    }

    #[test]
    fn chain_names_partition_then_path() {
        let v = VolumeInfo {
            index: Some(2),
            ..Default::default()
        };
        let p = [b"dir".to_vec(), b"f.exe".to_vec()];
        let at = Where {
            volume: Some(&v),
            path: &p,
        };
        assert_eq!(chain(at), vec!["p2".to_string(), "dir/f.exe".to_string()]);
        let bare = VolumeInfo::default();
        let raw = Where {
            volume: Some(&bare),
            path: &[],
        };
        assert!(chain(raw).is_empty());
    }
}
