//! NTFS, read in user space through the `ntfs` crate (Colin Finck; 0.4,
//! read-only, no unsafe code, no_std-capable). This module owns the walk of
//! the directory index from the root, the streams of each file (the
//! unnamed `$DATA` and every named `$DATA`: alternate data streams, given
//! as `name:stream`), the hidden/system flags from `$STANDARD_INFORMATION`,
//! the label (`$VOLUME_NAME`) and the serial (boot sector).
//!
//! Why this crate, and how it is contained: it is the one maintained
//! pure-Rust NTFS reader, but its fuzzing record is thin (a fuzzing pull
//! request was never merged; panics on hostile data runs, e.g. an
//! out-of-range slice in `non_resident_value_data_and_position`, were
//! reported against it) and its B-tree iterator follows index subnode links
//! without a visited set. So every call into it runs under
//! `catch_unwind` (a panic is a `Corrupt` problem for that part, and the
//! walk goes on), and every call gets a byte budget on the reader it reads
//! through: a loop inside the crate (an index subnode pointing at its own
//! ancestor, an attribute list pointing at itself) runs out of budget and
//! ends in an error instead of a hang. It does not decompress: a
//! compressed or encrypted stream is an `Unsupported` problem (sparse runs
//! read as zeros).
//!
//! Walk rules: a visited set of MFT record numbers (a file with several
//! names — hard links, or a Win32 and a DOS name — is read once; a
//! directory reached again is reported, never walked twice, so a cycle
//! ends); the metafiles (records below 24: `$MFT`, `$LogFile`, `$Extend`
//! and its subtree, …) are skipped — a `$`-name in the root with a higher
//! record (`$RECYCLE.BIN`) is user data and is walked; `$Boot` is covered
//! by [`FileSystem::boot_len`] (8 KiB).

use crate::bytes::wtf8_from_utf16le;
use crate::{
    Attributes, Device, Entry, FileSystem, Flow, FsError, Limits, ProblemKind, Visitor, VolumeLabel,
};
use ntfs::structured_values::{NtfsFileAttributeFlags, NtfsFileName, NtfsFileNamespace};
use ntfs::{Ntfs, NtfsAttributeFlags, NtfsAttributeType, NtfsError, NtfsReadSeek};
use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Records below this are the volume's own metafiles.
const FIRST_USER_RECORD: u64 = 24;
const ROOT_RECORD: u64 = 5;
/// Bytes one crate call may read besides the data it is asked for: a
/// file record, an index node, a few attribute-list records. A call that
/// reads more is in a loop.
const CALL_BUDGET: u64 = 16 << 20;
const BUDGET_MSG: &str = "read budget of one call exhausted (a loop in the structure?)";

/// The crate's reader: the device, with a per-call budget of bytes.
struct Source {
    dev: Arc<dyn Device>,
    pos: u64,
    budget: u64,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::other(BUDGET_MSG));
        }
        let left = self.dev.len().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left).min(self.budget) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.dev.read_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        self.budget -= n as u64;
        Ok(n)
    }
}

impl Seek for Source {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.dev.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

fn fs_error(e: NtfsError) -> FsError {
    match e {
        NtfsError::Io(io) if io.to_string() == BUDGET_MSG => FsError::Corrupt(BUDGET_MSG.into()),
        NtfsError::Io(io) => FsError::Io(io),
        other => FsError::Corrupt(other.to_string()),
    }
}

/// Runs one call into the crate: a panic becomes `Corrupt`.
fn guard<T>(f: impl FnOnce() -> Result<T, NtfsError>) -> Result<T, FsError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(fs_error),
        Err(p) => {
            let why = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(FsError::Corrupt(format!("the ntfs crate panicked: {why}")))
        }
    }
}

struct NtfsFs {
    src: Source,
    ntfs: Ntfs,
    label: VolumeLabel,
}

/// Opens an NTFS volume on `dev`.
pub fn open(dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    // The crate panics (an `unreachable!` on binrw's end-of-input error)
    // on a volume shorter than its boot sector; refuse it first.
    if dev.len() < 8192 {
        return Err(FsError::Corrupt(
            "shorter than the 8 KiB an NTFS volume starts with".into(),
        ));
    }
    let mut src = Source {
        dev,
        pos: 0,
        budget: CALL_BUDGET,
    };
    let ntfs = guard(|| Ntfs::new(&mut src))?;
    src.budget = CALL_BUDGET;
    let label = guard(|| ntfs.volume_name(&mut src).transpose())
        .ok()
        .flatten()
        .map(|v| String::from_utf8_lossy(&wtf8_from_utf16le(v.name().0)).into_owned());
    Ok(Box::new(NtfsFs {
        label: VolumeLabel {
            label,
            serial: Some(format!("{:016X}", ntfs.serial_number())),
        },
        src,
        ntfs,
    }))
}

impl FileSystem for NtfsFs {
    fn label(&self) -> VolumeLabel {
        self.label.clone()
    }

    fn boot_len(&self) -> u64 {
        // $Boot: 16 sectors of 512 bytes, whatever the sector size says.
        8192
    }

    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError> {
        let mut w = Walk {
            ntfs: &self.ntfs,
            src: &mut self.src,
            limits,
            visit,
            entries: 0,
            files_seen: HashSet::new(),
            dirs_seen: HashSet::from([ROOT_RECORD]),
            ancestors: Vec::new(),
            path: Vec::new(),
            stopped: false,
        };
        w.src.budget = CALL_BUDGET;
        guard(|| w.ntfs.file(w.src, ROOT_RECORD))?;
        w.dir(ROOT_RECORD);
        Ok(())
    }
}

/// One name in a directory index.
struct Child {
    record: u64,
    name: Vec<u8>,
}

struct Walk<'n, 'v> {
    ntfs: &'n Ntfs,
    src: &'n mut Source,
    limits: &'v Limits,
    visit: &'v mut dyn Visitor,
    entries: u64,
    files_seen: HashSet<u64>,
    dirs_seen: HashSet<u64>,
    ancestors: Vec<u64>,
    path: Vec<Vec<u8>>,
    stopped: bool,
}

impl Walk<'_, '_> {
    fn problem_at(&mut self, path: &[Vec<u8>], kind: ProblemKind, detail: &str) {
        if self.visit.problem(path, kind, detail) == Flow::Stop {
            self.stopped = true;
        }
    }

    fn problem(&mut self, kind: ProblemKind, detail: &str) {
        let path = std::mem::take(&mut self.path);
        self.problem_at(&path, kind, detail);
        self.path = path;
    }

    fn problem_of(&mut self, e: &FsError) {
        self.problem(problem_kind(e), &detail(e));
    }

    /// The names in directory `record`'s index (DOS aliases and
    /// metafiles left out).
    fn children(&mut self, record: u64) -> Result<Vec<Child>, FsError> {
        let (ntfs, src) = (self.ntfs, &mut *self.src);
        src.budget = CALL_BUDGET;
        let file = guard(|| ntfs.file(src, record))?;
        src.budget = CALL_BUDGET;
        let index = guard(|| file.directory_index(src))?;
        let mut iter = index.entries();
        let mut out = Vec::new();
        let mut limit_hit = false;
        loop {
            src.budget = CALL_BUDGET;
            let next = guard(|| iter.next(src).transpose())?;
            let Some(entry) = next else { break };
            let child_record = entry.file_reference().file_record_number();
            let key: Option<NtfsFileName> = guard(|| entry.key().transpose())?;
            let Some(key) = key else { continue };
            if key.namespace() == NtfsFileNamespace::Dos || child_record < FIRST_USER_RECORD {
                continue;
            }
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                limit_hit = true;
                break;
            }
            out.push(Child {
                record: child_record,
                name: wtf8_from_utf16le(key.name().0),
            });
        }
        if limit_hit {
            self.problem(ProblemKind::Limit, "too many directory entries");
            self.stopped = true;
        }
        Ok(out)
    }

    /// Walks directory `record` (whose path is `self.path`).
    fn dir(&mut self, record: u64) {
        let children = match self.children(record) {
            Ok(c) => c,
            Err(e) => return self.problem_of(&e),
        };
        self.ancestors.push(record);
        for child in children {
            if self.stopped {
                break;
            }
            self.path.push(child.name);
            self.child(child.record);
            self.path.pop();
        }
        self.ancestors.pop();
    }

    fn child(&mut self, record: u64) {
        let (ntfs, src) = (self.ntfs, &mut *self.src);
        src.budget = CALL_BUDGET;
        let is_dir = match guard(|| ntfs.file(src, record).map(|f| f.is_directory())) {
            Ok(d) => d,
            Err(e) => return self.problem_of(&e),
        };
        if !is_dir {
            if self.files_seen.insert(record) {
                self.streams(record, false);
            }
            return;
        }
        if self.ancestors.contains(&record) {
            return self.problem(
                ProblemKind::Corrupt,
                &format!("directory cycle: MFT record {record} is its own ancestor"),
            );
        }
        if !self.dirs_seen.insert(record) {
            return self.problem(
                ProblemKind::Corrupt,
                &format!("directory record {record} is linked twice; walked once"),
            );
        }
        if self.path.len() > self.limits.max_depth as usize {
            return self.problem(ProblemKind::Limit, "directory nesting too deep");
        }
        // A directory's named streams are data a mount hides too.
        self.streams(record, true);
        if !self.stopped {
            self.dir(record);
        }
    }

    /// Every `$DATA` stream of file `record` (a directory: only the
    /// named ones).
    fn streams(&mut self, record: u64, named_only: bool) {
        let (ntfs, src) = (self.ntfs, &mut *self.src);
        src.budget = CALL_BUDGET;
        let file = match guard(|| ntfs.file(src, record)) {
            Ok(f) => f,
            Err(e) => return self.problem_of(&e),
        };
        let flags = guard(|| file.info().map(|i| i.file_attributes()))
            .unwrap_or(NtfsFileAttributeFlags::empty());
        let attrs = Attributes {
            hidden: flags.contains(NtfsFileAttributeFlags::HIDDEN),
            system: flags.contains(NtfsFileAttributeFlags::SYSTEM),
        };
        let reparse = flags.contains(NtfsFileAttributeFlags::REPARSE_POINT);
        let mut iter = file.attributes();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        while !self.stopped {
            self.src.budget = CALL_BUDGET;
            let src = &mut *self.src;
            let item = match guard(|| iter.next(src).transpose()) {
                Ok(Some(i)) => i,
                Ok(None) => break,
                Err(e) => return self.problem_of(&e),
            };
            let attr = match guard(|| item.to_attribute()) {
                Ok(a) => a,
                Err(e) => return self.problem_of(&e),
            };
            if !matches!(guard(|| attr.ty()), Ok(NtfsAttributeType::Data)) {
                continue;
            }
            let stream = match guard(|| attr.name()) {
                Ok(n) => wtf8_from_utf16le(n.0),
                Err(e) => {
                    self.problem_of(&e);
                    continue;
                }
            };
            if (named_only && stream.is_empty()) || !seen.insert(stream.clone()) {
                continue;
            }
            self.stream(&attr, &stream, attrs, reparse);
        }
    }

    /// One `$DATA` stream (`stream` empty: the unnamed one) of the file
    /// at `self.path`.
    fn stream(
        &mut self,
        attr: &ntfs::NtfsAttribute<'_, '_>,
        stream: &[u8],
        attrs: Attributes,
        reparse: bool,
    ) {
        let mut path = self.path.clone();
        if !stream.is_empty() {
            if let Some(last) = path.last_mut() {
                last.push(b':');
                last.extend_from_slice(stream);
            }
        }
        let aflags = attr.flags();
        if aflags.intersects(NtfsAttributeFlags::COMPRESSED | NtfsAttributeFlags::ENCRYPTED) {
            self.problem_at(
                &path,
                ProblemKind::Unsupported,
                "compressed or encrypted NTFS stream",
            );
            return;
        }
        self.src.budget = CALL_BUDGET;
        let src = &mut *self.src;
        let value = match guard(|| attr.value(src)) {
            Ok(v) => v,
            Err(e) => {
                self.problem_at(&path, problem_kind(&e), &detail(&e));
                return;
            }
        };
        if reparse && stream.is_empty() && value.is_empty() {
            // A symbolic link or junction: not a file.
            return;
        }
        let size = value.len();
        let mut data = StreamData {
            value,
            src: &mut *self.src,
            left: size,
        };
        let entry = Entry {
            path: &path,
            size,
            attrs,
        };
        if self.visit.file(&entry, &mut data) == Flow::Stop {
            self.stopped = true;
        }
    }
}

fn problem_kind(e: &FsError) -> ProblemKind {
    match e {
        FsError::Io(_) => ProblemKind::Io,
        FsError::Corrupt(_) => ProblemKind::Corrupt,
        FsError::Unsupported(_) => ProblemKind::Unsupported,
    }
}

/// A problem's text: the error's own words, without its kind.
fn detail(e: &FsError) -> String {
    match e {
        FsError::Io(io) => io.to_string(),
        FsError::Corrupt(s) | FsError::Unsupported(s) => s.clone(),
    }
}

/// A stream's bytes: each read is one guarded, budgeted crate call.
struct StreamData<'n, 'f, 's> {
    value: ntfs::attribute_value::NtfsAttributeValue<'n, 'f>,
    src: &'s mut Source,
    left: u64,
}

impl Read for StreamData<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (buf.len() as u64).min(self.left).min(1 << 20) as usize;
        if want == 0 {
            return Ok(0);
        }
        self.src.budget = CALL_BUDGET + want as u64;
        let (value, src) = (&mut self.value, &mut *self.src);
        let n = guard(|| value.read(src, &mut buf[..want])).map_err(|e| match e {
            FsError::Io(io) => io,
            other => io::Error::other(other.to_string()),
        })?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ends {} bytes before its recorded size", self.left),
            ));
        }
        self.left -= n.min(want) as u64;
        Ok(n.min(want))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wtf8_keeps_unpaired_surrogates() {
        let raw: Vec<u8> = [0x61u16, 0xD800, 0x62]
            .iter()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(wtf8_from_utf16le(&raw), vec![b'a', 0xED, 0xA0, 0x80, b'b']);
        let ok: Vec<u8> = "é€".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert_eq!(wtf8_from_utf16le(&ok), "é€".as_bytes());
    }

    #[test]
    fn garbage_is_refused_not_panicked() {
        let mut v = vec![0u8; 8192];
        v[3..11].copy_from_slice(b"NTFS    ");
        let dev: Arc<dyn Device> = Arc::new(crate::MemDevice(v.into()));
        assert!(open(dev).is_err());
    }
}
