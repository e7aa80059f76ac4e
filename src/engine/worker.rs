//! One scan worker: owns a yara-x `Scanner` (not `Send`, created once per
//! thread and reused) and a read buffer. Each regular file is read once
//! with read(2) — never mmap, so a medium pulled mid-read is an I/O error,
//! not SIGBUS — and the same bytes feed SHA-256 (plus MD5/SHA-1 when hash
//! lists need them), YARA and the hash lists. A file is opened relative
//! to the descriptor of the directory it was listed in (never by path,
//! see [`super::dirfd`]), and read against a deadline
//! ([`ScanOptions::read_timeout`]) and the session's stop flag, checked
//! between chunks; opening and reading are one busy call for the
//! [`super::watchdog`]. While an archive's members are walked its memory
//! reservation follows what is held (the archive's bytes, plus a large
//! member's scan), and after a large scan the worker gives the memory
//! yara-x used back ([`Worker::reclaim`]).

mod nested;
mod packed;
#[cfg(windows)]
mod streams_windows;

pub(crate) use nested::is_real_file;

use super::archive::{self, MemberEvent};
use super::device::{is_disk_image, Body, ReadItem, HEAD_LEN};
use super::dirfd::AsFd;
use super::dirfd::{self, OpenError};
use super::walk::{Source, WorkItem};
use super::watchdog::Watch;
use super::{
    filetype, io_detail, io_skip_reason, pathfmt, Cancel, Message, ScanOptions, SessionCtx,
};
use crate::findings::{self, Finding, Match, Record, SkipReason, Verdict, SCHEMA_VERSION};
use crate::rules::RuleSet;
use crossbeam_channel::Sender;
use sha2::Digest;
use std::collections::BTreeMap;
#[cfg(unix)]
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::time::Instant;

/// Read granularity.
const CHUNK: u64 = 1 << 20;
/// A buffer grown above this is released after the file, so one huge file
/// does not pin memory for the rest of the scan.
const KEEP_BUFFER: usize = 16 << 20;
/// Memory a scan needs per byte of file, for the memory gate: yara-x's
/// module output for a large executable (symbols, sections) is several
/// times the file's size.
const SCAN_MEMORY_FACTOR: u64 = 4;
/// Metadata values longer than this are cut in findings.
const MAX_META_LEN: usize = 512;
/// After scanning this many bytes (a file or a member) the worker hands
/// the memory the scan used back to the system (see [`Worker::reclaim`]).
const RECLAIM_AFTER: usize = 4 << 20;

/// Digests of one file.
pub(crate) struct Digests {
    pub sha256: [u8; 32],
    pub md5: Option<[u8; 16]>,
    pub sha1: Option<[u8; 20]>,
}

pub(crate) struct Hashers {
    sha256: sha2::Sha256,
    md5: Option<md5::Md5>,
    sha1: Option<sha1::Sha1>,
}

impl Hashers {
    pub(crate) fn new(rules: &RuleSet) -> Hashers {
        Hashers {
            sha256: sha2::Sha256::new(),
            md5: rules.hashes.needs_md5().then(md5::Md5::new),
            sha1: rules.hashes.needs_sha1().then(sha1::Sha1::new),
        }
    }
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.sha256.update(data);
        if let Some(h) = &mut self.md5 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
    }
    pub(crate) fn finish(self) -> Digests {
        Digests {
            sha256: self.sha256.finalize().into(),
            md5: self.md5.map(|h| h.finalize().into()),
            sha1: self.sha1.map(|h| h.finalize().into()),
        }
    }
}

/// What reading a file left: its bytes in the worker's buffer, or only
/// its digests when it was too large to keep.
enum Contents {
    /// Whole content in the buffer.
    InMemory { size: u64, digests: Digests },
    /// Too large: hashed while streaming, not kept.
    Streamed { size: u64, digests: Digests },
}

/// Why reading a file stopped before its end.
enum ReadStop {
    Io(std::io::Error),
    /// The read deadline passed.
    Timeout,
    /// The session was stopped.
    Stopped,
}

/// What a worker borrows from its session.
pub(crate) struct Shared<'r> {
    pub rules: &'r RuleSet,
    pub opts: &'r ScanOptions,
    pub ctx: &'r SessionCtx,
    pub gate: &'r super::gate::MemoryGate,
    pub stop: &'r Cancel,
    pub watch: &'r Watch,
    pub out: Sender<Message>,
}

pub(crate) struct Worker<'r> {
    scanner: yara_x::Scanner<'r>,
    rules: &'r RuleSet,
    opts: &'r ScanOptions,
    ctx: &'r SessionCtx,
    gate: &'r super::gate::MemoryGate,
    stop: &'r Cancel,
    watch: &'r Watch,
    out: Sender<Message>,
    buf: Vec<u8>,
    #[cfg(unix)]
    owners: HashMap<u32, String>,
    /// Abandoned by the watchdog: send nothing more.
    gone: bool,
    /// The file being scanned when it was read from a device: member
    /// names below the device and its attributes.
    item: ItemCtx,
    /// Bytes read from disk images nested in the current top-level file
    /// (bounded by the archive limits' total).
    nested_bytes: u64,
    /// Disk images open one inside another right now.
    image_depth: u32,
    /// The current listed file's share of the memory budget, resized to
    /// what the scan holds while its members are walked.
    permit: Option<super::gate::Permit<'r>>,
    /// Bytes of the current top-level file held during its member walk.
    walk_base: u64,
    /// The packers of the current file and its members (`packed`).
    packed: packed::Packed,
}

/// Where the current file sits below its record's top path (empty for a
/// file listed in a directory), and its attributes (from the volume for a
/// file read from a device; on Windows from the file's own handle).
#[derive(Default)]
struct ItemCtx {
    prefix: Vec<String>,
    attrs: Vec<String>,
    /// A file of a volume held in memory: opened as a disk image when it
    /// is one (pseudo-files and raw volumes never are).
    image: bool,
}

impl<'r> Worker<'r> {
    pub fn new(s: Shared<'r>) -> Worker<'r> {
        let mut scanner = yara_x::Scanner::new(&s.rules.rules);
        scanner.set_timeout(s.opts.timeout);
        Worker {
            scanner,
            rules: s.rules,
            opts: s.opts,
            ctx: s.ctx,
            gate: s.gate,
            stop: s.stop,
            watch: s.watch,
            out: s.out,
            buf: Vec::new(),
            #[cfg(unix)]
            owners: HashMap::new(),
            gone: false,
            item: ItemCtx::default(),
            nested_bytes: 0,
            image_depth: 0,
            permit: None,
            walk_base: 0,
            packed: packed::Packed::default(),
        }
    }

    /// Whether the watchdog abandoned this worker (it must return).
    pub fn gone(&self) -> bool {
        self.gone
    }

    fn emit(&self, rec: Record) {
        // The receiver lives until every worker is done; a send can only
        // fail if the recording thread is gone, and then nothing is left to do.
        let _ = self.out.send(Message::Record(Box::new(rec)));
    }

    /// A skip for `path`, carrying the current file's attributes.
    fn skip(&self, path: &str, reason: SkipReason, detail: String) -> findings::Skip {
        let mut rec = self.ctx.skip(path.to_string(), reason, detail);
        rec.attributes = self.item.attrs.clone();
        rec
    }

    /// A skip for the current file (or its member `chain`), below `top`.
    fn skip_at(
        &self,
        top: &str,
        chain: &[String],
        reason: SkipReason,
        detail: String,
    ) -> findings::Skip {
        let mut rec = self.skip(&self.path_of(top, chain), reason, detail);
        rec.chain = self.chain_of(top, chain);
        rec.packed = self.packed.of(chain);
        rec
    }

    /// The shown path of the current file's member `chain` below `top`.
    fn path_of(&self, top: &str, chain: &[String]) -> String {
        member_path(top, &[self.item.prefix.as_slice(), chain].concat())
    }

    /// The record chain of the current file's member `chain` below `top`.
    fn chain_of(&self, top: &str, chain: &[String]) -> Vec<String> {
        member_chain(top, &[self.item.prefix.as_slice(), chain].concat())
    }

    /// The memory a file's scan is charged for at the gate.
    fn charge(&self, size: u64) -> u64 {
        size.min(self.opts.max_file_size)
            .saturating_mul(SCAN_MEMORY_FACTOR)
    }

    /// Takes the file if its memory is available now; otherwise hands it
    /// back so the caller can go on with other files.
    pub fn try_process(&mut self, item: WorkItem) -> Result<(), WorkItem> {
        if let Source::Read(read) = item.source {
            self.process_read(*read);
            return Ok(());
        }
        let gate = self.gate;
        match gate.try_acquire(self.charge(item.size)) {
            Some(permit) => {
                self.process(item, permit);
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Waits for the file's memory (a busy call for the watchdog: the
    /// memory may be held by a read that never returns), then scans it.
    pub fn process_waiting(&mut self, item: WorkItem) {
        if let Source::Read(read) = item.source {
            return self.process_read(*read);
        }
        let gate = self.gate;
        let charge = self.charge(item.size);
        match self.watch.busy(&item.path, || gate.acquire(charge)) {
            Some(permit) => self.process(item, permit),
            None => self.gone = true,
        }
    }

    /// Scans one file; `permit` holds its share of the memory budget
    /// until the scan (including archive members) is done.
    fn process(&mut self, item: WorkItem, permit: super::gate::Permit<'r>) {
        self.permit = Some(permit);
        self.process_listed(item);
        self.item = ItemCtx::default();
        self.permit = None;
    }

    /// Resizes the current file's reservation (see [`Self::process`]).
    fn hold(&mut self, bytes: u64) {
        if let Some(p) = self.permit.as_mut() {
            p.resize(bytes);
        }
    }

    fn process_listed(&mut self, item: WorkItem) {
        let Source::Listed { dir, name, attrs } = item.source else {
            return;
        };
        self.item.attrs = attrs;
        let display = pathfmt::display(&item.path);
        let _ = self.out.send(Message::Reading(display.clone()));
        let deadline = Instant::now() + self.opts.read_timeout;
        self.watch.begin(&item.path);
        let read = dirfd::open_file_at(dir.as_fd(), &name).map(|(mut file, meta)| {
            let read = self.read_file(&mut file, meta.len(), deadline);
            (read, meta, file)
        });
        if !self.watch.end() {
            self.gone = true;
            self.buf = Vec::new();
            return;
        }
        let (read, meta, file) = match read {
            Ok(r) => r,
            Err(OpenError::Io(e)) => {
                let detail = io_detail("cannot open", &e);
                return self.give_up(&display, io_skip_reason(&e), detail, 0);
            }
            Err(OpenError::NotRegular(kind)) => {
                let detail = format!("{kind} when opened; not read");
                return self.give_up(&display, SkipReason::SpecialFile, detail, 0);
            }
        };
        #[cfg(windows)]
        {
            use std::os::windows::fs::MetadataExt;
            self.item.attrs = super::winfile::attribute_names(meta.file_attributes());
        }
        let fname = pathfmt::bytes_to_string(name.as_encoded_bytes());
        self.scan_read(read, &meta, &file, (&display, &fname));
        #[cfg(windows)]
        if !self.gone {
            self.streams((&*dir, &file), &item.path, &display, &fname);
        }
    }

    /// Records what reading a listed file (shown as `display`, named
    /// `name` in its directory, both in text form) gave.
    fn scan_read(
        &mut self,
        read: Result<Contents, (ReadStop, u64)>,
        meta: &std::fs::Metadata,
        file: &File,
        (display, name): (&str, &str),
    ) {
        match read {
            Err((stop, bytes)) => {
                self.release_buffer();
                self.read_stopped(display, stop, bytes);
            }
            Ok(Contents::Streamed { size, digests }) => {
                self.too_large(display, size, &digests);
                self.image_file(display, file, None);
            }
            Ok(Contents::InMemory { size, digests }) => {
                #[cfg(unix)]
                let owner = self.owner(meta.uid());
                #[cfg(windows)]
                let owner = {
                    let _ = meta;
                    crate::system::file_owner(file)
                };
                // The head is checked in memory: no second read of the file.
                let head = &self.buf[..self.buf.len().min(HEAD_LEN)];
                let image = is_disk_image(head);
                self.scan_buffer(name, display, size, &digests, &owner);
                if image {
                    self.image_file(display, file, Some(true));
                }
            }
        }
    }

    /// A file read from a device by the reader thread (its memory was
    /// charged there and is released when `read` is dropped).
    fn process_read(&mut self, read: ReadItem) {
        self.item = ItemCtx {
            prefix: read.chain,
            attrs: read.attrs,
            image: read.real_file,
        };
        let top = read.top;
        let _ = self.out.send(Message::Reading(self.path_of(&top, &[])));
        match read.body {
            Body::Hashed { size, digests } => self.too_large(&top, size, &digests),
            Body::Bytes(data) => {
                let mut h = Hashers::new(self.rules);
                h.update(&data);
                let digests = h.finish();
                let size = data.len() as u64;
                self.buf = data;
                self.scan_buffer(&read.name, &top, size, &digests, "");
            }
        }
        self.item = ItemCtx::default();
    }

    /// A read that ended before the file's end: a skip, except when the
    /// session was stopped (its summary says it is incomplete).
    fn read_stopped(&self, display: &str, stop: ReadStop, bytes: u64) {
        match stop {
            ReadStop::Stopped => {}
            ReadStop::Timeout => {
                let detail = format!(
                    "not read to its end within {} s ({bytes} bytes read); an endless or stalled source",
                    self.opts.read_timeout.as_secs()
                );
                let mut rec = self.skip(display, SkipReason::Timeout, detail);
                rec.size = Some(bytes);
                self.emit(Record::Skip(rec));
                self.done(bytes);
            }
            ReadStop::Io(e) => {
                let detail = io_detail(&format!("read failed after {bytes} bytes"), &e);
                self.give_up(display, io_skip_reason(&e), detail, bytes);
            }
        }
    }

    /// Whether reading must stop now.
    fn check(&self, deadline: Instant) -> Result<(), ReadStop> {
        if self.stop.is_stopped() {
            Err(ReadStop::Stopped)
        } else if Instant::now() >= deadline {
            Err(ReadStop::Timeout)
        } else {
            Ok(())
        }
    }

    /// A file that could not be read at all: one skip, counted as done.
    fn give_up(&self, display: &str, reason: SkipReason, detail: String, bytes: u64) {
        self.emit(Record::Skip(self.skip(display, reason, detail)));
        self.done(bytes);
    }

    /// A file above the YARA size limit: hashed while streaming, recorded
    /// as a `too_large` skip with its SHA-256; hash lists still apply.
    fn too_large(&self, display: &str, size: u64, digests: &Digests) {
        let detail = format!(
            "{size} bytes is above the YARA size limit of {} bytes; hashed only",
            self.opts.max_file_size
        );
        let mut rec = self.skip_at(display, &[], SkipReason::TooLarge, detail);
        rec.size = Some(size);
        rec.sha256 = Some(hex::encode(digests.sha256));
        self.emit(Record::Skip(rec));
        let hits = self.hash_matches(digests);
        if !hits.is_empty() {
            self.finding(display, Vec::new(), size, digests, hits);
        }
        self.done(size);
    }

    /// YARA, hash lists and archive members over the file in the buffer.
    fn scan_buffer(
        &mut self,
        name: &str,
        display: &str,
        size: u64,
        digests: &Digests,
        owner: &str,
    ) {
        let data = std::mem::take(&mut self.buf);
        self.nested_bytes = 0;
        let shown = self.path_of(display, &[]);
        self.packed.note(&[], &data);
        let mut matches = self.yara(name, &shown, &data, owner);
        matches.extend(self.hash_matches(digests));
        if !matches.is_empty() {
            self.finding(display, Vec::new(), size, digests, matches);
        }
        // The scan's module output is gone: from here the file holds its
        // bytes, and a member its own while it is scanned.
        self.walk_base = data.len() as u64;
        self.hold(self.walk_base);
        self.archive(display, &data, digests, owner);
        if self.item.image {
            self.image_bytes(display, &[], &data);
        }
        self.buf = data;
        self.packed.clear();
        self.release_buffer();
        if size as usize >= RECLAIM_AFTER {
            self.reclaim();
        }
        self.done(size);
    }

    /// After a large scan: drops the scanner's module output (yara-x keeps
    /// the last scan's structures, for an executable several times its
    /// size, until the next scan) and hands the freed pages of every malloc
    /// arena back to the system, so that each worker's arena does not keep
    /// the high-water mark of the largest executable it ever scanned.
    fn reclaim(&mut self) {
        // An empty scan only replaces the last one's data; nothing is recorded.
        let _ = self.scanner.scan(&[]);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free pages to the kernel; it
        // touches no memory a pointer refers to.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    fn done(&self, bytes: u64) {
        let _ = self.out.send(Message::FileDone { bytes });
    }

    fn release_buffer(&mut self) {
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }

    /// Reads the file once. Up to `max_file_size` bytes go into the buffer;
    /// past that the buffer is dropped and the rest is only hashed.
    fn read_file(
        &mut self,
        file: &mut File,
        size_hint: u64,
        deadline: Instant,
    ) -> Result<Contents, (ReadStop, u64)> {
        let mut hashers = Hashers::new(self.rules);
        let limit = self.opts.max_file_size;
        self.buf.clear();
        if size_hint <= limit {
            self.buf.reserve(size_hint as usize + 1);
        }
        let mut total: u64 = 0;
        loop {
            self.check(deadline).map_err(|s| (s, total))?;
            let before = self.buf.len();
            let n = (&mut *file)
                .take(CHUNK)
                .read_to_end(&mut self.buf)
                .map_err(|e| (ReadStop::Io(e), total))?;
            hashers.update(&self.buf[before..]);
            total += n as u64;
            if n == 0 {
                let (size, digests) = (total, hashers.finish());
                return Ok(Contents::InMemory { size, digests });
            }
            if total > limit {
                self.buf = Vec::new();
                let size = self.stream_rest(file, &mut hashers, total, deadline)?;
                let digests = hashers.finish();
                return Ok(Contents::Streamed { size, digests });
            }
        }
    }

    /// Hashes the rest of a file too large to keep, in fixed chunks;
    /// returns the total size (`done` bytes were read before).
    fn stream_rest(
        &self,
        file: &mut File,
        hashers: &mut Hashers,
        done: u64,
        deadline: Instant,
    ) -> Result<u64, (ReadStop, u64)> {
        let mut chunk = vec![0u8; CHUNK as usize];
        let mut total = done;
        loop {
            self.check(deadline).map_err(|s| (s, total))?;
            match file.read(&mut chunk) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    hashers.update(&chunk[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err((ReadStop::Io(e), total)),
            }
        }
    }

    #[cfg(unix)]
    fn owner(&mut self, uid: u32) -> String {
        self.owners
            .entry(uid)
            .or_insert_with(|| crate::system::user_name(uid))
            .clone()
    }

    /// Opens `data` if it is a container and scans every member like a
    /// file: hashed, YARA-scanned (externals: the member's own name, the
    /// ` → ` joined path, the top-level file's owner) and looked up in the
    /// hash lists. Limits hit become `archive_limit` skips; bombs become
    /// `suspicious` findings carrying the top-level file's size and SHA-256
    /// (the bomb member itself is never fully decompressed).
    fn archive(&mut self, display: &str, data: &[u8], top: &Digests, owner: &str) {
        let opts = self.opts;
        let Some(limits) = opts.archive.as_ref() else {
            return;
        };
        if archive::detect(data).is_none() {
            return;
        }
        archive::walk(data, limits, &mut |ev| match ev {
            MemberEvent::Member { chain, data, .. } => {
                self.member(display, chain, data, owner);
            }
            MemberEvent::Skip {
                chain,
                reason,
                detail,
            } => {
                if reason == SkipReason::UnsupportedContainer
                    && opts.unsupported == archive::UnsupportedPolicy::Ignore
                {
                    return;
                }
                let rec = self.skip_at(display, chain, reason, detail);
                self.emit(Record::Skip(rec));
            }
            MemberEvent::Suspicious {
                chain,
                rule,
                detail,
            } => {
                let mut meta = BTreeMap::new();
                meta.insert(
                    "kensa_verdict".to_string(),
                    serde_json::Value::from("suspicious"),
                );
                meta.insert("detail".to_string(), serde_json::Value::from(detail));
                let m = Match {
                    kind: "archive".into(),
                    rule: rule.to_string(),
                    namespace: "kensa.archive".into(),
                    tags: Vec::new(),
                    meta,
                };
                self.finding(display, chain.to_vec(), data.len() as u64, top, vec![m]);
            }
        });
    }

    /// One archive member, scanned like a file.
    /// A member that is a disk image is then opened as one.
    fn member(&mut self, display: &str, chain: &[String], data: &[u8], owner: &str) {
        let len = data.len() as u64;
        self.hold(self.walk_base.saturating_add(self.charge(len)));
        self.member_scan(display, chain, data, owner);
        self.hold(self.walk_base.saturating_add(len));
        self.image_bytes(display, chain, data);
        self.hold(self.walk_base);
        if data.len() >= RECLAIM_AFTER {
            self.reclaim();
        }
    }

    /// Hashes, YARA-scans and looks up one member; returns its digests.
    fn member_scan(
        &mut self,
        display: &str,
        chain: &[String],
        data: &[u8],
        owner: &str,
    ) -> Digests {
        let mut h = Hashers::new(self.rules);
        h.update(data);
        let digests = h.finish();
        let path = self.path_of(display, chain);
        let name = chain
            .last()
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_string())
            .unwrap_or_default();
        self.packed.note(chain, data);
        let mut matches = self.yara(&name, &path, data, owner);
        matches.extend(self.hash_matches(&digests));
        if !matches.is_empty() {
            self.finding(
                display,
                chain.to_vec(),
                data.len() as u64,
                &digests,
                matches,
            );
        }
        digests
    }

    /// YARA over in-memory bytes, with the external variables set.
    fn yara(&mut self, name: &str, display: &str, data: &[u8], owner: &str) -> Vec<Match> {
        let ext = name
            .rfind('.')
            .filter(|&i| i > 0)
            .map(|i| name[i..].to_lowercase())
            .unwrap_or_default();
        // Setting a defined string global cannot fail.
        let _ = self
            .scanner
            .set_global("filename", &*pathfmt::for_rules(name));
        let _ = self
            .scanner
            .set_global("filepath", &*pathfmt::for_rules(display));
        let _ = self.scanner.set_global("extension", ext.as_str());
        let _ = self.scanner.set_global("filetype", filetype::sniff(data));
        let _ = self.scanner.set_global("owner", owner);
        let _ = self
            .scanner
            .set_global("attributes", self.item.attrs.join(" ").as_str());
        let _ = self
            .scanner
            .set_global("packed", self.packed.current().unwrap_or(""));
        match self.scanner.scan(data) {
            Ok(results) => results.matching_rules().map(|r| to_match(&r)).collect(),
            Err(yara_x::ScanError::Timeout) => {
                let mut rec = self.skip(
                    display,
                    SkipReason::Timeout,
                    format!("YARA scan exceeded {} s", self.opts.timeout.as_secs()),
                );
                rec.size = Some(data.len() as u64);
                self.emit(Record::Skip(rec));
                Vec::new()
            }
            Err(e) => {
                let rec = self.skip(
                    display,
                    SkipReason::ScanError,
                    format!("YARA scan failed: {e}"),
                );
                self.emit(Record::Skip(rec));
                Vec::new()
            }
        }
    }

    fn hash_matches(&self, d: &Digests) -> Vec<Match> {
        let mut out = Vec::new();
        let mut push = |kind: &str, e: &crate::rules::HashEntry| {
            let mut meta = BTreeMap::new();
            meta.insert(
                "description".to_string(),
                serde_json::Value::from(e.description.clone()),
            );
            meta.insert("digest".to_string(), serde_json::Value::from(kind));
            out.push(Match {
                kind: "hash".into(),
                rule: e.description.clone(),
                namespace: e.namespace.clone(),
                tags: Vec::new(),
                meta,
            });
        };
        if let Some(e) = self.rules.hashes.sha256.get(&d.sha256) {
            push("sha256", e);
        }
        if let (Some(h), false) = (d.sha1, self.rules.hashes.sha1.is_empty()) {
            if let Some(e) = self.rules.hashes.sha1.get(&h) {
                push("sha1", e);
            }
        }
        if let (Some(h), false) = (d.md5, self.rules.hashes.md5.is_empty()) {
            if let Some(e) = self.rules.hashes.md5.get(&h) {
                push("md5", e);
            }
        }
        out
    }

    /// Records a finding for `display` (or the archive member `chain`
    /// below it), classified under the session's policy.
    fn finding(
        &self,
        display: &str,
        chain: Vec<String>,
        size: u64,
        d: &Digests,
        matches: Vec<Match>,
    ) {
        let verdict = matches
            .iter()
            .map(verdict_of)
            .max()
            .unwrap_or(Verdict::Malicious);
        let mut f = Finding {
            v: SCHEMA_VERSION,
            id: findings::new_id(),
            session: self.ctx.id.clone(),
            time: findings::now_rfc3339(),
            location: self.ctx.location,
            path: self.path_of(display, &chain),
            chain: self.chain_of(display, &chain),
            size,
            sha256: hex::encode(d.sha256),
            md5: d.md5.map(hex::encode),
            sha1: d.sha1.map(hex::encode),
            verdict,
            matches,
            taxonomy: None,
            attributes: self.item.attrs.clone(),
            packed: self.packed.of(&chain),
        };
        f.taxonomy = self.classify(&f);
        self.emit(Record::Finding(f));
    }

    /// The taxonomy the session's policy gives a finding.
    fn classify(&self, f: &Finding) -> Option<crate::findings::Classification> {
        let policy = self.ctx.policy.as_ref()?;
        let medium = self.ctx.medium.as_ref();
        let c = crate::findings::policy::classify(policy, f.location, medium, &f.matches);
        for w in &c.warnings {
            tracing::warn!("classification: {w}");
        }
        Some(c.classification)
    }
}

/// The displayed path of an archive member: the outer path and the member
/// names joined with ` → `.
pub(crate) fn member_path(display: &str, chain: &[String]) -> String {
    std::iter::once(display)
        .chain(chain.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// The record's chain field: the outer path then the member names; empty
/// for the top-level file itself.
pub(crate) fn member_chain(display: &str, chain: &[String]) -> Vec<String> {
    if chain.is_empty() {
        Vec::new()
    } else {
        std::iter::once(display.to_string())
            .chain(chain.iter().cloned())
            .collect()
    }
}

/// A rule's verdict: `kensa_verdict` metadata, else severity (low and
/// informational rules are `suspicious`), else malicious. Hash hits are
/// malicious.
fn verdict_of(m: &Match) -> Verdict {
    let text = |k: &str| {
        m.meta
            .get(k)
            .and_then(|v| v.as_str())
            .map(|s| s.to_ascii_lowercase())
    };
    if let Some(v) = text("kensa_verdict") {
        if v == "suspicious" {
            return Verdict::Suspicious;
        }
        return Verdict::Malicious;
    }
    match text("severity").as_deref() {
        Some("low" | "info" | "informational" | "suspicious") => Verdict::Suspicious,
        _ => Verdict::Malicious,
    }
}

fn to_match(rule: &yara_x::Rule<'_, '_>) -> Match {
    let mut meta = BTreeMap::new();
    for (k, v) in rule.metadata() {
        let value = match v {
            yara_x::MetaValue::Integer(i) => serde_json::Value::from(i),
            yara_x::MetaValue::Float(f) => serde_json::Value::from(f),
            yara_x::MetaValue::Bool(b) => serde_json::Value::from(b),
            yara_x::MetaValue::String(s) => serde_json::Value::from(cut(s)),
            yara_x::MetaValue::Bytes(b) => {
                serde_json::Value::from(cut(&String::from_utf8_lossy(b)))
            }
        };
        meta.insert(k.to_string(), value);
    }
    Match {
        kind: "yara".into(),
        rule: rule.identifier().to_string(),
        namespace: rule.namespace().to_string(),
        tags: rule.tags().map(|t| t.identifier().to_string()).collect(),
        meta,
    }
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_META_LEN {
        s.to_string()
    } else {
        let mut end = MAX_META_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}
