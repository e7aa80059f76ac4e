//! Disk images met inside a scan (a walked file, an archive member, a
//! file on another image) opened as containers through
//! [`crate::disk::probe`] and [`crate::disk::read`], under the archive
//! limits: the chain's depth, the members visited and the bytes read
//! from nested images per top-level file. A walked file is passed as its
//! own open descriptor; an archive member's bytes as a sealed `memfd`.
//! Every file found is scanned like an archive member (hashed,
//! YARA-scanned, looked up in the hash lists, recursed into when it is an
//! archive or an image), named by chain (`stick/disk.img → p1 → a/b.exe`).

use super::super::device::{is_disk_image, problem_reason};
use super::{ItemCtx, Worker};
use crate::disk::{self, DiskProblem, DiskVisitor, Where};
use crate::engine::archive::ArchiveLimits;
use crate::findings::{self, Record, SkipReason};
use kensa_diskfs::{Attributes, Flow};
use std::fs::File;
use std::io::Read;
#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::os::fd::FromRawFd;

impl Worker<'_> {
    /// Opens `data` (the member `chain` below `display`) as a disk when
    /// it is one and archive recursion is on.
    pub(super) fn image_bytes(&mut self, display: &str, chain: &[String], data: &[u8]) {
        if self.opts.archive.is_none() || !is_disk_image(data) {
            return;
        }
        match sealed_memfd(data) {
            Ok(f) => self.image(display, chain, &f),
            Err(e) => {
                let detail = format!("the disk image could not be opened: {e}");
                let rec = self.skip_at(display, chain, SkipReason::IoError, detail);
                self.emit(Record::Skip(rec));
            }
        }
    }

    /// Opens a walked file (its own open descriptor) as a disk when its
    /// first bytes are a disk image and archive recursion is on; `is_image`
    /// is that answer when the caller already looked at the bytes in
    /// memory (`None`: the head is read from the file).
    pub(super) fn image_file(&mut self, display: &str, file: &File, is_image: Option<bool>) {
        if self.opts.archive.is_none() {
            return;
        }
        if is_image.unwrap_or_else(|| super::super::device::image_file(file)) {
            self.nested_bytes = 0;
            self.image(display, &[], file);
        }
    }

    fn image(&mut self, display: &str, chain: &[String], dev: &File) {
        let Some(limits) = self.opts.archive.clone() else {
            return;
        };
        let depth = (self.item.prefix.len() + chain.len()).max(self.image_depth as usize);
        if depth >= limits.max_depth as usize {
            let detail = format!(
                "disk image nested deeper than {} levels; not opened",
                limits.max_depth
            );
            let rec = self.skip_at(display, chain, SkipReason::ArchiveLimit, detail);
            return self.emit(Record::Skip(rec));
        }
        let opts = self.opts.disk.clone();
        self.image_depth += 1;
        let read = disk::probe(dev, &opts).and_then(|layout| {
            let mut v = Nested {
                w: self,
                display,
                base: chain.to_vec(),
                limits: &limits,
                members: 0,
                stopped: false,
            };
            disk::read(dev, &layout, &opts, &mut v)
        });
        self.image_depth -= 1;
        if let Err(e) = read {
            let detail = format!("the disk image could not be read: {e}");
            let rec = self.skip_at(display, chain, SkipReason::Corrupt, detail);
            self.emit(Record::Skip(rec));
        }
    }
}

/// Whether what a disk read handed over is a file of a volume, not the
/// `$mbr`/`$boot` pseudo-files or a volume's raw bytes (the same bytes
/// as the disk around them: opening those again would never end).
pub(crate) fn is_real_file(at: Where<'_>) -> bool {
    at.volume.is_some() && !at.path.is_empty() && at.path != [b"$boot".to_vec()]
}

/// On Windows disk images are not parsed (see `disk::client_windows`):
/// an image met inside an archive is a gap, never an unread "clean".
#[cfg(windows)]
fn sealed_memfd(_data: &[u8]) -> std::io::Result<File> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        disk::DiskError::Unsupported,
    ))
}

/// A sealed anonymous file holding `data` (read-only to every holder).
#[cfg(unix)]
fn sealed_memfd(data: &[u8]) -> std::io::Result<File> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a valid C string; the descriptor returned is owned below.
    let fd = unsafe { libc::memfd_create(c"kensa-image".as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let mut f = unsafe { File::from_raw_fd(fd) };
    f.write_all(data)?;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on the descriptor `f` owns.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Scans the files of one nested image within the archive limits.
struct Nested<'w, 'r, 'd> {
    w: &'w mut Worker<'r>,
    display: &'d str,
    /// Member names from the top-level file down to the image.
    base: Vec<String>,
    limits: &'d ArchiveLimits,
    members: u64,
    stopped: bool,
}

impl Nested<'_, '_, '_> {
    fn limit(&mut self, chain: &[String], detail: String) {
        let rec = self
            .w
            .skip_at(self.display, chain, SkipReason::ArchiveLimit, detail);
        self.w.emit(Record::Skip(rec));
    }

    /// Whether the file may be read; records the limit it hits if not.
    fn admit(&mut self, chain: &[String], size: u64) -> Option<Flow> {
        let l = self.limits;
        self.members += 1;
        if self.members > l.max_members {
            let d = format!(
                "more than {} files in the disk image; the rest was not read",
                l.max_members
            );
            self.limit(chain, d);
            return Some(Flow::Stop);
        }
        if size > l.max_member_size {
            let d = format!(
                "{size} bytes is above the member limit of {} bytes",
                l.max_member_size
            );
            self.limit(chain, d);
            return Some(Flow::Continue);
        }
        if self.w.nested_bytes.saturating_add(size) > l.max_total_bytes {
            let d = format!(
                "more than {} bytes read from disk images in this file; the rest was not read",
                l.max_total_bytes
            );
            self.limit(chain, d);
            return Some(Flow::Stop);
        }
        None
    }
}

impl DiskVisitor for Nested<'_, '_, '_> {
    fn file(&mut self, at: Where<'_>, size: u64, attrs: Attributes, data: &mut dyn Read) -> Flow {
        if self.stopped || self.w.stop.is_stopped() {
            return Flow::Stop;
        }
        let chain = [self.base.clone(), disk::chain(at)].concat();
        if let Some(flow) = self.admit(&chain, size) {
            self.stopped = flow == Flow::Stop;
            return flow;
        }
        let mut buf = Vec::with_capacity(size as usize);
        if let Err(e) = data.take(size).read_to_end(&mut buf) {
            let detail = format!("read failed: {e}");
            let rec = self
                .w
                .skip_at(self.display, &chain, SkipReason::Corrupt, detail);
            self.w.emit(Record::Skip(rec));
            return Flow::Continue;
        }
        self.w.nested_bytes += buf.len() as u64;
        let outer = std::mem::replace(&mut self.w.item.attrs, findings::attribute_names(attrs));
        self.w
            .nested_member(self.display, &chain, &buf, is_real_file(at));
        self.w.item.attrs = outer;
        Flow::Continue
    }

    fn problem(&mut self, at: Where<'_>, kind: DiskProblem, detail: &str) -> Flow {
        let chain = [self.base.clone(), disk::chain(at)].concat();
        let (reason, detail) = problem_reason(kind, true, detail);
        let rec = self.w.skip_at(self.display, &chain, reason, detail);
        self.w.emit(Record::Skip(rec));
        Flow::Continue
    }
}

impl Worker<'_> {
    /// A file of a nested image: scanned like a member, then opened when
    /// it is itself an archive (its members below its chain) or an image.
    fn nested_member(&mut self, display: &str, chain: &[String], data: &[u8], real: bool) {
        let digests = self.member_scan(display, chain, data, "");
        if real {
            self.image_bytes(display, chain, data);
        }
        if self.opts.archive.is_some() && crate::engine::archive::detect(data).is_some() {
            let inner = ItemCtx {
                prefix: [self.item.prefix.as_slice(), chain].concat(),
                attrs: self.item.attrs.clone(),
                image: false,
            };
            let outer = std::mem::replace(&mut self.item, inner);
            self.archive(display, data, &digests, "");
            self.item = outer;
        }
    }
}
