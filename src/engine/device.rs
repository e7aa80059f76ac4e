//! Devices and disk images read in user space, on the engine's side of
//! [`crate::disk`]: which named roots are disks ([`DiskRoot::open`]: a
//! block device, or a regular file whose first bytes are a partition
//! table or a file-system magic, never by its name), and the reader that
//! turns what [`crate::disk::read`] finds into work for the scan workers
//! ([`Feeder`]): each file of a volume is read into memory on the reader
//! thread (charged at the memory gate first) and sent to the workers like
//! a listed file; a file above `max_file_size` is hashed while streaming
//! and sent as its digests (a `too_large` skip, hash lists still apply);
//! each problem becomes a skip. Records name a file by chain:
//! `[device, "p2", "dir/file"]`, shown joined with ` → `.
//!
//! A device root is read as files only, never also hashed as one blob
//! (that would read it twice). A disk image named as a root is treated
//! the same way: read as a disk, its files scanned, not hashed whole (a
//! user who wants the image's own hash runs `sha256sum`; a walk that meets
//! an image scans it both as a file and as a container).

use super::gate::{MemoryGate, OwnedPermit};
use super::watchdog::Watch;
use super::worker::{member_chain, member_path, Digests, Hashers};
use super::{pathfmt, Cancel, Message, SessionCtx};
use crate::disk::{self, DiskOptions, DiskProblem, DiskVisitor, Layout, Where};
use crate::findings::{self, Record, SkipReason};
use crate::rules::RuleSet;
use crossbeam_channel::Sender;
use kensa_diskfs::{Attributes, Flow, ProblemKind};
use std::fs::File;
use std::io::Read;
#[cfg(unix)]
use std::os::unix::fs::{FileExt, FileTypeExt};
#[cfg(windows)]
use std::os::windows::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of a file's start looked at to tell a disk image (the ISO 9660
/// and UDF descriptors sit at 32 KiB and up to 64 KiB).
pub(crate) const HEAD_LEN: usize = 68 * 1024;
/// Memory a scan needs per byte of file (as the worker charges it).
const SCAN_MEMORY_FACTOR: u64 = 4;
/// Read granularity of a file on a device.
const CHUNK: usize = 1 << 20;

/// Whether `head` (a file's first bytes, up to [`HEAD_LEN`]) is a disk
/// image: a file system kensa knows by its magic, or a partition table.
pub(crate) fn is_disk_image(head: &[u8]) -> bool {
    kensa_diskfs::detect_bytes(head).is_some() || has_partition_table(head)
}

/// An MBR whose four entries are well formed with at least one in use, or
/// a GPT header behind a 512- or 4096-byte sector 0.
fn has_partition_table(head: &[u8]) -> bool {
    let gpt = |at: usize| head.get(at..at + 8) == Some(b"EFI PART");
    if gpt(512) || gpt(4096) {
        return true;
    }
    if head.get(510..512) != Some(&[0x55, 0xAA]) {
        return false;
    }
    let mut used = 0;
    for i in 0..4 {
        let e = &head[446 + i * 16..462 + i * 16];
        if e[0] != 0 && e[0] != 0x80 {
            return false;
        }
        let sectors = u32::from_le_bytes([e[12], e[13], e[14], e[15]]);
        if e[4] != 0 && sectors != 0 {
            used += 1;
        }
    }
    used > 0
}

/// A named root read as a disk: the opened device and what was found on it.
pub(crate) struct DiskRoot {
    pub file: File,
    /// The path shown in records (a symlink named as root, resolved).
    pub shown: PathBuf,
    /// `None`: the probe failed (a gap was recorded); nothing is read.
    pub layout: Option<Layout>,
}

/// A probe that failed: the skip to record once the session has started.
pub(crate) struct ProbeGap {
    pub path: String,
    pub reason: SkipReason,
    pub detail: String,
}

impl DiskRoot {
    /// Opens `named` as a disk when it is a block device or a regular
    /// file holding a disk image (a symlink named as root is followed
    /// once, as for a walk); `None` for anything else (walked as today).
    /// The device is opened read-only; a probe failure is a gap.
    pub fn open(named: &Path, opts: &DiskOptions) -> Option<(DiskRoot, Option<ProbeGap>)> {
        let meta = std::fs::metadata(named).ok()?;
        #[cfg(unix)]
        let block = meta.file_type().is_block_device();
        #[cfg(windows)]
        let block = false;
        if !block && !meta.is_file() {
            return None;
        }
        let link = std::fs::symlink_metadata(named)
            .ok()?
            .file_type()
            .is_symlink();
        let shown = match link {
            true => std::fs::canonicalize(named).ok()?,
            false => named.to_path_buf(),
        };
        let file = File::open(&shown).ok()?;
        if !block && !image_file(&file) {
            return None;
        }
        let (layout, gap) = match disk::probe(&file, opts) {
            Ok(l) => (Some(l), None),
            Err(e) => {
                let reason = match e {
                    disk::DiskError::Io(_) => SkipReason::IoError,
                    disk::DiskError::Unsupported => SkipReason::UnsupportedFs,
                    _ => SkipReason::Corrupt,
                };
                let gap = ProbeGap {
                    path: pathfmt::display(&shown),
                    reason,
                    detail: format!("the device could not be read as a disk: {e}"),
                };
                (None, Some(gap))
            }
        };
        let root = DiskRoot {
            file,
            shown,
            layout,
        };
        Some((root, gap))
    }
}

/// Whether an open regular file's first bytes are a disk image (read at
/// offset 0 whatever the descriptor's position).
pub(crate) fn image_file(file: &File) -> bool {
    let mut head = vec![0u8; HEAD_LEN];
    let mut have = 0;
    while have < HEAD_LEN {
        #[cfg(unix)]
        let read = file.read_at(&mut head[have..], have as u64);
        #[cfg(windows)]
        let read = file.seek_read(&mut head[have..], have as u64);
        match read {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    is_disk_image(&head[..have])
}

/// A file read from a device for a worker: its bytes (or only its
/// digests when too large), where it is, and its share of the memory
/// budget, released when the worker is done with it.
pub(crate) struct ReadItem {
    /// The device's shown path.
    pub top: String,
    /// Member names below the device (see [`disk::chain`]).
    pub chain: Vec<String>,
    /// Its own name (the `filename` external).
    pub name: String,
    pub attrs: Vec<String>,
    /// A file of a volume (not a pseudo-file or raw bytes).
    pub real_file: bool,
    pub body: Body,
    pub _permit: OwnedPermit,
}

pub(crate) enum Body {
    Bytes(Vec<u8>),
    /// Above `max_file_size`: hashed while streaming, not kept.
    Hashed {
        size: u64,
        digests: Digests,
    },
}

/// What the reader thread needs to feed workers from a device.
pub(crate) struct Feeder<'a> {
    pub top: String,
    pub session: &'a SessionCtx,
    pub rules: &'a RuleSet,
    pub gate: &'a Arc<MemoryGate>,
    pub max_file_size: u64,
    pub cancel: &'a Cancel,
    pub watch: &'a Watch,
    pub work: &'a Sender<super::walk::WorkItem>,
    pub events: &'a Sender<Message>,
    /// The watchdog gave up on this thread: send nothing more.
    pub gone: bool,
}

impl Feeder<'_> {
    /// Reads every volume of `root`; the caller has marked the thread busy.
    pub fn run(&mut self, root: &DiskRoot, opts: &DiskOptions) {
        let Some(layout) = &root.layout else { return };
        if let Err(e) = disk::read(&root.file, layout, opts, self) {
            if self.gone {
                return;
            }
            let reason = match e {
                disk::DiskError::Io(_) => SkipReason::IoError,
                _ => SkipReason::Corrupt,
            };
            let detail = format!("the device was not read to its end: {e}");
            self.emit_skip(self.top.clone(), Vec::new(), reason, detail, Vec::new());
        }
    }

    fn emit_skip(
        &self,
        path: String,
        chain: Vec<String>,
        reason: SkipReason,
        detail: String,
        attrs: Vec<String>,
    ) {
        let mut rec = self.session.skip(path, reason, detail);
        rec.chain = chain;
        rec.attributes = attrs;
        let _ = self
            .events
            .send(Message::Record(Box::new(Record::Skip(rec))));
    }

    /// Marks progress for the watchdog; false when it gave up on us.
    fn alive(&mut self, what: &str) -> bool {
        if self.gone || !self.watch.end() {
            self.gone = true;
            return false;
        }
        self.watch.begin(Path::new(what));
        true
    }

    /// Reads one file's bytes into memory, or only hashes it when it is
    /// above the size limit.
    fn read_body(&self, size: u64, data: &mut dyn Read) -> std::io::Result<Body> {
        if size > self.max_file_size {
            let mut h = Hashers::new(self.rules);
            let mut chunk = vec![0u8; CHUNK];
            let mut total = 0u64;
            loop {
                if self.cancel.is_stopped() {
                    return Err(std::io::Error::other("the scan was stopped"));
                }
                match data.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        h.update(&chunk[..n]);
                        total += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let digests = h.finish();
            return Ok(Body::Hashed {
                size: total,
                digests,
            });
        }
        let mut buf = Vec::with_capacity(size.min(self.max_file_size) as usize);
        data.take(self.max_file_size).read_to_end(&mut buf)?;
        Ok(Body::Bytes(buf))
    }
}

impl DiskVisitor for Feeder<'_> {
    fn file(&mut self, at: Where<'_>, size: u64, attrs: Attributes, data: &mut dyn Read) -> Flow {
        let chain = disk::chain(at);
        let path = member_path(&self.top, &chain);
        if self.cancel.is_stopped() || !self.alive(&path) {
            return Flow::Stop;
        }
        let attrs = findings::attribute_names(attrs);
        let charge = match size > self.max_file_size {
            true => 0,
            false => size.saturating_mul(SCAN_MEMORY_FACTOR),
        };
        let permit = self.gate.acquire_owned(charge);
        let body = match self.read_body(size, data) {
            Ok(b) => b,
            Err(_) if self.cancel.is_stopped() => return Flow::Stop,
            Err(e) => {
                let detail = format!("read failed: {e}");
                let chain = member_chain(&self.top, &chain);
                self.emit_skip(path, chain, SkipReason::IoError, detail, attrs);
                let _ = self.events.send(Message::FileDone { bytes: 0 });
                return Flow::Continue;
            }
        };
        let name = item_name(&self.top, at);
        let item = ReadItem {
            top: self.top.clone(),
            chain,
            name,
            attrs,
            real_file: super::worker::is_real_file(at),
            body,
            _permit: permit,
        };
        let _ = self
            .work
            .send(super::walk::WorkItem::read(PathBuf::from(path), size, item));
        Flow::Continue
    }

    fn problem(&mut self, at: Where<'_>, kind: DiskProblem, detail: &str) -> Flow {
        let chain = disk::chain(at);
        let path = member_path(&self.top, &chain);
        if !self.alive(&path) {
            return Flow::Stop;
        }
        let (reason, detail) = problem_reason(kind, false, detail);
        if kind == DiskProblem::ParserDied {
            self.session
                .set_incomplete(format!("the disk parser of {} died", self.top));
        }
        let chain = member_chain(&self.top, &chain);
        self.emit_skip(path, chain, reason, detail, Vec::new());
        Flow::Continue
    }
}

/// The skip reason of a problem met on a device (`nested`: inside an
/// image opened as a container, where a limit is an `archive_limit`).
pub(crate) fn problem_reason(
    kind: DiskProblem,
    nested: bool,
    detail: &str,
) -> (SkipReason, String) {
    let reason = match kind {
        DiskProblem::Fs(ProblemKind::Corrupt) | DiskProblem::Corrupt => SkipReason::Corrupt,
        DiskProblem::Fs(ProblemKind::Limit) if nested => SkipReason::ArchiveLimit,
        DiskProblem::Fs(ProblemKind::Limit) => SkipReason::TooManyEntries,
        DiskProblem::Fs(ProblemKind::Io) => SkipReason::IoError,
        DiskProblem::Fs(ProblemKind::Unsupported) | DiskProblem::UnsupportedFs => {
            SkipReason::UnsupportedFs
        }
        DiskProblem::ParserDied => SkipReason::Corrupt,
    };
    let detail = match kind {
        DiskProblem::ParserDied => format!("the file-system parser died: {detail}"),
        _ => detail.to_string(),
    };
    (reason, detail)
}

/// The name a file on a device gets for the `filename` external: the last
/// path component, else the partition (`p3`) or the device's own name.
pub(crate) fn item_name(top: &str, at: Where<'_>) -> String {
    if let Some(last) = at.path.last() {
        return disk::path_text(std::slice::from_ref(last));
    }
    if let Some(i) = at.volume.and_then(|v| v.index) {
        return format!("p{i}");
    }
    top.rsplit('/').next().unwrap_or(top).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_tables_are_told_from_other_data() {
        let mut mbr = vec![0u8; 1024];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert!(!has_partition_table(&mbr), "no entry in use");
        mbr[446 + 4] = 0x0c;
        mbr[446 + 12] = 8;
        assert!(has_partition_table(&mbr));
        mbr[446] = 0x13;
        assert!(!has_partition_table(&mbr), "bad status byte");
        let mut gpt = vec![0u8; 1024];
        gpt[512..520].copy_from_slice(b"EFI PART");
        assert!(has_partition_table(&gpt));
        assert!(!is_disk_image(b"just some text"));
    }
}
