//! The agent's append-only, hash-chained journal under `<state>/journal/`.
//! It owns the segment files (`<first seq, 20 digits>.jsonl`, rotated by
//! size), the line format (`{"seq":N,"prev":"<sha256 of previous line>",...}`
//! followed by the record's own fields), durability (a finding is
//! fdatasync'ed before `append` returns; each line is one write), signed
//! checkpoints, and crash recovery: a torn last line is moved aside to a
//! `.torn` file and a `recovery` record says so, while a damaged line
//! followed by good lines is tampering and is reported, never skipped.
//! What a line holds is typed in [`record`] ([`Entry`]); [`Journal::append`]
//! is the one writer and [`decode`] the one typed reader. The agent id is
//! the id of the journal's first key; [`Journal::rotate_key`] hands signing
//! to a new key through a `key_rotation` record ([`signers`] follows it for
//! every reader, [`rekey`] is `kensa keygen --force`).
//!
//! Opening costs the same whatever the journal's size: every new segment
//! starts with a checkpoint, and [`Journal::open`] checks only the last
//! checkpoint's signature and the chain after it (older journals: it walks
//! segments back until it finds one). [`verify`] (`kensa verify
//! --journal`) still checks everything from the first line, [`tail`]
//! reads backwards from the end, and [`status`] uses it for what `kensa
//! status` shows of the journal.
//!
//! One writer at a time: an open [`Journal`] holds an exclusive advisory
//! lock (`flock` on `<journal>/lock`) for its whole life. Opening waits up
//! to [`JournalOptions::lock_wait`] (5 s by default) for another process to
//! let go, then fails with [`JournalError::Busy`]. The running agent
//! (`kensa run`) holds its journal until it stops, so `kensa scan --journal`
//! and `kensa export` fail clearly while it runs instead of forking the
//! chain. Readers (verify, bundle export's reading side, the collector's
//! import) take no lock: they only read whole lines and treat a line still
//! being written as a torn tail.
//!
//! A process that must journal a record while another holds the journal
//! (`kensa rules install` while the agent runs) queues it in the inbox
//! (`<journal>/inbox/*.json`, see [`queue`]; [`Recorder`] appends or
//! queues, whichever applies). Every [`Journal::open`]
//! appends queued records in the order they were queued, and the holder can
//! do so at any time with [`Journal::drain_inbox`] (the agent does on every
//! reload, which a rule-pack install triggers). A queued record is removed
//! only after it is appended and synced; a crash in between appends it
//! twice, never loses it.

pub mod line;
pub mod record;
pub mod rekey;
pub mod signers;
pub mod status;
pub mod tail;

use crate::fsutil::{at, PathError, ReadError};
use crate::keys::{KeyError, PublicKey, SecretKey};
pub use line::{
    check_checkpoint, checkpoint_message, genesis, line_hash, parse_line, Chain, LineError,
    ParsedLine, MAX_LINE,
};
pub use record::{
    decode, Checkpoint, DecodeError, Durability, Entry, Export, GateEvent, JournalRecord,
    Journalled, KeyReset, KeyRotation, PackRef, Recovery, RulesChange,
};
use sha2::{Digest, Sha256};
pub use signers::{rotation_message, KeyTrack, Rotation, Track};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Default size at which a segment is closed and a new one started.
pub const DEFAULT_SEGMENT_MAX: u64 = 8 << 20;
/// Default number of records between automatic checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;
/// Default wait for another process's lock on the journal.
pub const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// The lock file inside the journal directory.
pub const LOCK_FILE: &str = "lock";
/// The directory of queued records inside the journal directory.
pub const INBOX_DIR: &str = "inbox";
/// Largest queued record accepted (a record is one journal line).
pub const MAX_INBOX_RECORD: u64 = 64 * 1024;
/// Largest segment file a reader loads (a segment never grows much past
/// its rotation size; anything bigger is not ours).
pub const MAX_SEGMENT_READ: u64 = 256 << 20;

/// Errors from the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("JOURNAL TAMPERED OR DAMAGED: {segment}, line {line}{}: {reason}", seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
    Tampered {
        segment: PathBuf,
        line: usize,
        seq: Option<u64>,
        reason: String,
    },
    #[error("{segment}: torn last line ({length} bytes at offset {offset}); open the journal to recover it")]
    TornTail {
        segment: PathBuf,
        offset: u64,
        length: u64,
    },
    #[error("{dir} is held by another kensa process (a running agent, `kensa run`, holds its journal until it stops; so does a `kensa scan --journal` or `kensa export` in progress); to export while the agent runs as a service: systemctl stop kensa; kensa export --out DIR; systemctl start kensa")]
    Busy { dir: PathBuf },
    #[error("record cannot be journalled: {0}")]
    BadRecord(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl JournalError {
    /// True for errors of the file system or the key, which no retry or
    /// set-aside of one record would cure.
    fn is_fatal(&self) -> bool {
        matches!(
            self,
            JournalError::Io(_) | JournalError::Read(ReadError::Io(_)) | JournalError::Key(_)
        )
    }
}

/// Tunables; the defaults suit an agent.
#[derive(Debug, Clone, Copy)]
pub struct JournalOptions {
    pub segment_max: u64,
    pub checkpoint_every: u64,
    /// How long `open` waits for another process's lock before
    /// [`JournalError::Busy`].
    pub lock_wait: std::time::Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_max: DEFAULT_SEGMENT_MAX,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
}

/// A verified line handed out by [`read_all`] / [`read_from`].
#[derive(Debug, Clone)]
pub struct JournalLine {
    pub seq: u64,
    pub hash: String,
    /// The exact bytes, without the newline.
    pub bytes: Vec<u8>,
}

/// Segment files in `dir`, sorted by their first seq.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(at(dir)(e).into()),
    };
    for entry in rd {
        let entry = entry.map_err(at(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".jsonl") else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(first) = stem.parse::<u64>() {
                out.push((first, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.jsonl")
}

fn read_segment(path: &Path) -> Result<Vec<u8>, JournalError> {
    Ok(crate::fsutil::read_capped(path, MAX_SEGMENT_READ)?)
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    Ok(crate::fsutil::sync_dir(dir).map_err(at(dir))?)
}

/// Reads every line from seq `from` on, checking seq continuity and prev
/// links (and, from seq 1 with `agent` given, the genesis value). A torn
/// tail on the last segment ends the iteration with [`JournalError::TornTail`].
pub struct Lines {
    segs: Vec<(u64, PathBuf)>,
    idx: usize,
    buf: Vec<u8>,
    pos: usize,
    lineno: usize,
    from: u64,
    chain: Chain,
    done: bool,
}

impl Lines {
    fn new(dir: &Path, from: u64, agent: Option<&str>) -> Result<Lines, JournalError> {
        let mut segs = segments(dir)?;
        let from = from.max(1);
        // Drop segments that end before `from`: segment i ends before the
        // next one's first seq.
        let keep = segs
            .iter()
            .enumerate()
            .position(|(i, _)| segs.get(i + 1).is_none_or(|next| next.0 > from))
            .unwrap_or(segs.len());
        let skipped = keep > 0;
        segs.drain(..keep);
        let chain = match (agent, skipped) {
            (Some(a), false) => Chain::genesis(a),
            _ => Chain {
                next_seq: segs.first().map(|s| s.0).unwrap_or(1),
                prev: None,
            },
        };
        Ok(Lines {
            segs,
            idx: 0,
            buf: Vec::new(),
            pos: 0,
            lineno: 0,
            from,
            chain,
            done: false,
        })
    }

    /// Lines from a checkpoint on, starting inside its already-read
    /// segment; the checkpoint's own `prev` is taken as given (its
    /// signature vouches for it).
    fn at(mut segs: Vec<(u64, PathBuf)>, anchor: Anchor) -> Lines {
        segs.drain(..anchor.idx);
        Lines {
            segs,
            idx: 0,
            buf: anchor.data,
            pos: anchor.offset,
            lineno: anchor.lineno - 1,
            from: anchor.seq,
            chain: Chain {
                next_seq: anchor.seq,
                prev: None,
            },
            done: false,
        }
    }

    fn tampered(&self, seq: Option<u64>, reason: impl ToString) -> JournalError {
        JournalError::Tampered {
            segment: self.segs[self.idx].1.clone(),
            line: self.lineno,
            seq,
            reason: reason.to_string(),
        }
    }

    fn step(&mut self) -> Result<Option<JournalLine>, JournalError> {
        loop {
            if self.idx >= self.segs.len() {
                return Ok(None);
            }
            if self.lineno == 0 && self.pos == 0 && self.buf.is_empty() {
                self.buf = read_segment(&self.segs[self.idx].1)?;
                let first = self.segs[self.idx].0;
                if !self.buf.is_empty() && first != self.chain.next_seq {
                    return Err(self.tampered(
                        None,
                        format!(
                            "segment starts at seq {first}, expected seq {}",
                            self.chain.next_seq
                        ),
                    ));
                }
            }
            if self.pos >= self.buf.len() {
                self.idx += 1;
                self.buf.clear();
                self.pos = 0;
                self.lineno = 0;
                continue;
            }
            let rest = &self.buf[self.pos..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                let last = self.idx + 1 == self.segs.len();
                self.lineno += 1;
                if last {
                    return Err(JournalError::TornTail {
                        segment: self.segs[self.idx].1.clone(),
                        offset: self.pos as u64,
                        length: rest.len() as u64,
                    });
                }
                return Err(self.tampered(None, "line without newline in a closed segment"));
            };
            let start = self.pos;
            self.pos += nl + 1;
            self.lineno += 1;
            let bytes = self.buf[start..start + nl].to_vec();
            let parsed = self
                .chain
                .accept(&bytes)
                .map_err(|e| self.tampered(Some(self.chain.next_seq), e))?;
            if parsed.seq < self.from {
                continue;
            }
            return Ok(Some(JournalLine {
                seq: parsed.seq,
                hash: parsed.hash,
                bytes,
            }));
        }
    }
}

impl Iterator for Lines {
    type Item = Result<JournalLine, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(l)) => Some(Ok(l)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Every line of the journal in `dir`, chain-checked as it is read.
pub fn read_all(dir: &Path) -> Result<Lines, JournalError> {
    Lines::new(dir, 1, None)
}

/// Every line of `agent`'s journal, with seq 1 checked against the genesis value.
pub fn read_agent(dir: &Path, agent: &str) -> Result<Lines, JournalError> {
    Lines::new(dir, 1, Some(agent))
}

/// Lines with seq >= `from`. Links are checked from the first line read.
pub fn read_from(dir: &Path, from: u64) -> Result<Lines, JournalError> {
    Lines::new(dir, from, None)
}

/// What a full verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The agent id (the id of the journal's first key).
    pub agent: String,
    pub records: u64,
    pub head_seq: u64,
    pub head: String,
    pub checkpoints: u64,
    pub recoveries: u64,
    /// The key rotations met, oldest first.
    pub rotations: Vec<Rotation>,
}

/// Verifies the whole journal: genesis for its agent id, every link,
/// every checkpoint and key rotation signature, each with the key active at
/// its place. `key` must be the journal's first key (its agent key) or its
/// last one (the key it is signed with now): the rotations in between
/// vouch for the rest. A torn tail is an error here (open the journal to
/// recover it first).
pub fn verify(dir: &Path, key: &PublicKey) -> Result<VerifyReport, JournalError> {
    let mut report = VerifyReport {
        agent: key.key_id_hex(),
        records: 0,
        head_seq: 0,
        head: String::new(),
        checkpoints: 0,
        recoveries: 0,
        rotations: Vec::new(),
    };
    let mut track = KeyTrack::new(Some(key.clone()), None);
    let mut first_prev = None;
    let mut lines = Lines::new(dir, 1, None)?;
    while let Some(item) = lines.next() {
        let l = item?;
        let parsed = parse_line(&l.bytes).map_err(|e| lines.tampered(Some(l.seq), e))?;
        first_prev.get_or_insert_with(|| parsed.prev.clone());
        track
            .take(&parsed)
            .map_err(|e| lines.tampered(Some(l.seq), e))?;
        match parsed.kind.as_str() {
            "checkpoint" => report.checkpoints += 1,
            "recovery" => report.recoveries += 1,
            _ => {}
        }
        report.records += 1;
        report.head_seq = l.seq;
        report.head = l.hash;
    }
    let track = track
        .finish(Some(key))
        .map_err(|e| whole_journal(dir, e.to_string()))?;
    report.take_keys(dir, track, key, first_prev)?;
    Ok(report)
}

fn whole_journal(dir: &Path, reason: String) -> JournalError {
    JournalError::Tampered {
        segment: dir.to_path_buf(),
        line: 0,
        seq: None,
        reason,
    }
}

impl VerifyReport {
    /// Ends [`verify`]: the agent id the signed lines name must be the one
    /// the first line's genesis value is for, and `key` the journal's
    /// first or last key.
    fn take_keys(
        &mut self,
        dir: &Path,
        track: Track,
        key: &PublicKey,
        first_prev: Option<String>,
    ) -> Result<(), JournalError> {
        if let Some(agent) = &track.agent {
            self.agent = agent.clone();
        }
        let genesis = genesis(&self.agent);
        if first_prev.is_some_and(|p| p != genesis) {
            return Err(whole_journal(
                dir,
                format!(
                    "first line's prev is not the genesis value for agent {}",
                    self.agent
                ),
            ));
        }
        let is = |k: &Option<PublicKey>| k.as_ref().is_none_or(|k| k == key);
        if !is(&track.first) && !is(&track.last) {
            return Err(whole_journal(
                dir,
                format!(
                    "key {} is neither the journal's first key nor its current one",
                    key.key_id_hex()
                ),
            ));
        }
        if self.records == 0 {
            self.head = genesis;
        }
        self.rotations = track.rotations;
        Ok(())
    }
}

/// The agent id and signing key id a journal's newest checkpoint or key
/// rotation names, read without checking anything (the caller checks the
/// chain against them); `None` when it has neither.
pub fn last_signer(dir: &Path) -> Result<Option<(String, String)>, JournalError> {
    let Some(anchor) = last_checkpoint(&segments(dir)?)? else {
        return Ok(None);
    };
    let end = anchor.data[anchor.offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(anchor.data.len(), |n| anchor.offset + n);
    let Ok(parsed) = parse_line(&anchor.data[anchor.offset..end]) else {
        return Ok(None);
    };
    let field = |k: &str| parsed.fields.get(k).and_then(|v| v.as_str());
    let key = match parsed.kind.as_str() {
        "key_rotation" => field("new_key"),
        _ => line::checkpoint_signer(&parsed),
    };
    // Only ids as kensa writes them: these end up in file names.
    let id = |s: &str| s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'));
    Ok(field("agent")
        .zip(key)
        .filter(|(a, k)| id(a) && id(k))
        .map(|(a, k)| (a.to_string(), k.to_string())))
}

/// The agent id of the journal in `dir` (see [`last_signer`]).
pub fn agent_of(dir: &Path) -> Result<Option<String>, JournalError> {
    Ok(last_signer(dir)?.map(|(agent, _)| agent))
}

/// The open journal, owned by the one thread that writes records.
pub struct Journal {
    /// The exclusive lock, released when the journal is dropped.
    _lock: crate::fsutil::LockGuard,
    dir: PathBuf,
    key: SecretKey,
    agent: String,
    options: JournalOptions,
    file: File,
    seg_path: PathBuf,
    seg_size: u64,
    seq: u64,
    head: String,
    since_checkpoint: u64,
    /// The `to_seq` of the last export; `None` until known (a journal whose
    /// last checkpoint predates the field learns it with one full read).
    exported: Option<u64>,
    dirty: bool,
}

/// What opening found at the end of the chain.
struct Tip {
    seq: u64,
    head: String,
    agent: String,
    since_checkpoint: u64,
    exported: Option<u64>,
    torn: Option<(PathBuf, u64, u64)>,
}

/// Where the last checkpoint of a journal sits.
struct Anchor {
    /// Index of its segment in the segment list.
    idx: usize,
    /// That segment's bytes, already read.
    data: Vec<u8>,
    /// Byte offset and 1-based line number of the checkpoint line.
    offset: usize,
    lineno: usize,
    seq: u64,
}

impl Tip {
    /// Counts one checked line: verifies a checkpoint's or a key rotation's
    /// signatures (through `track`), and follows the last export.
    fn take(&mut self, parsed: &ParsedLine, track: &mut KeyTrack) -> Result<(), LineError> {
        self.since_checkpoint += 1;
        if track.take(parsed)? {
            self.since_checkpoint = 0;
        }
        if !matches!(parsed.kind.as_str(), "checkpoint" | "export") {
            return Ok(());
        }
        match Entry::from_parsed(parsed) {
            Ok(Entry::Journal(JournalRecord::Checkpoint(cp))) => {
                self.exported = cp.exported_through.or(self.exported);
            }
            Ok(Entry::Journal(JournalRecord::Export(e))) => self.exported = Some(e.to_seq),
            _ => {}
        }
        Ok(())
    }
}

/// The last checkpoint (or key rotation, which signs the chain the same
/// way) in the journal, looking at the newest segment
/// first and going back only while a segment holds none (every segment
/// written since rotation checkpoints has one as its first line). Only
/// complete lines count; nothing here is trusted yet.
fn last_checkpoint(segs: &[(u64, PathBuf)]) -> Result<Option<Anchor>, JournalError> {
    for (idx, (_, path)) in segs.iter().enumerate().rev() {
        let data = read_segment(path)?;
        // End of the complete part, without its last newline.
        let Some(mut end) = data.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        loop {
            let start = data[..end]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let raw = &data[start..end];
            if matches!(
                line::peek_kind(raw).as_deref(),
                Some("checkpoint" | "key_rotation")
            ) {
                if let Some((seq, _)) = line::parse_prefix(raw) {
                    let lineno = data[..start].iter().filter(|&&b| b == b'\n').count() + 1;
                    return Ok(Some(Anchor {
                        idx,
                        data,
                        offset: start,
                        lineno,
                        seq,
                    }));
                }
            }
            if start == 0 {
                break;
            }
            end = start - 1;
        }
    }
    Ok(None)
}

/// Checks the chain from `from` (a checkpoint or key rotation, whose
/// signatures are verified, or seq 1 against the genesis value) to the
/// end, and that `key` is the key the journal is signed with now.
fn check_tail(dir: &Path, key: &PublicKey) -> Result<Tip, JournalError> {
    let own = key.key_id_hex();
    let segs = segments(dir)?;
    let (mut lines, from) = match last_checkpoint(&segs)? {
        Some(anchor) => {
            let from = anchor.seq;
            (Lines::at(segs, anchor), from)
        }
        None => (Lines::new(dir, 1, Some(&own))?, 1),
    };
    let mut tip = Tip {
        seq: 0,
        head: genesis(&own),
        agent: own.clone(),
        since_checkpoint: 0,
        exported: None,
        torn: None,
    };
    let mut track = KeyTrack::new(Some(key.clone()), None);
    while let Some(item) = lines.next() {
        let l = match item {
            Ok(l) => l,
            Err(JournalError::TornTail {
                segment,
                offset,
                length,
            }) => {
                tip.torn = Some((segment, offset, length));
                break;
            }
            Err(e) => return Err(e),
        };
        let parsed = parse_line(&l.bytes).map_err(|e| lines.tampered(Some(l.seq), e))?;
        if l.seq == from
            && from > 1
            && !matches!(parsed.kind.as_str(), "checkpoint" | "key_rotation")
        {
            return Err(lines.tampered(Some(l.seq), "expected the checkpoint opening starts from"));
        }
        tip.take(&parsed, &mut track)
            .map_err(|e| lines.tampered(Some(l.seq), e))?;
        tip.seq = l.seq;
        tip.head = l.hash;
    }
    tip.finish(dir, track, key, from)
}

impl Tip {
    /// Ends [`check_tail`]: the tail must end signed by `key`; takes the
    /// agent id the signed lines name.
    fn finish(
        mut self,
        dir: &Path,
        track: KeyTrack,
        key: &PublicKey,
        from: u64,
    ) -> Result<Tip, JournalError> {
        let at_end = |reason: String| JournalError::Tampered {
            segment: dir.to_path_buf(),
            line: 0,
            seq: Some(self.seq),
            reason,
        };
        let track = track.finish(Some(key)).map_err(|e| at_end(e.to_string()))?;
        if let Some(last) = track.last.as_ref().filter(|k| *k != key) {
            return Err(at_end(format!(
                "the journal is signed by key {} from its last checkpoint on, not by the agent key {} (an interrupted `kensa keygen --force`? run it again to finish)",
                last.key_id_hex(),
                key.key_id_hex()
            )));
        }
        if let Some(agent) = track.agent {
            self.agent = agent;
        }
        if from == 1 && self.exported.is_none() {
            // The whole journal was read: no export record means none.
            self.exported = Some(0);
        }
        Ok(self)
    }
}

/// The `to_seq` of the last `export` record, read from the whole journal
/// (0 when there is none). Only journals whose checkpoints predate the
/// `exported_through` field need this.
pub fn scan_exported(dir: &Path) -> Result<u64, JournalError> {
    let mut last = 0;
    for l in read_all(dir)? {
        let l = l?;
        if line::peek_kind(&l.bytes).as_deref() == Some("export") {
            if let Ok((_, Entry::Journal(JournalRecord::Export(e)))) = decode(&l.bytes) {
                last = e.to_seq;
            }
        }
    }
    Ok(last)
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, checks the chain from its
    /// last signed checkpoint on against `key`'s agent id, and recovers a
    /// torn tail. Earlier lines are not read (see [`verify`]).
    pub fn open(dir: &Path, key: &SecretKey) -> Result<Journal, JournalError> {
        Journal::open_with(dir, key, JournalOptions::default())
    }

    pub fn open_with(
        dir: &Path,
        key: &SecretKey,
        options: JournalOptions,
    ) -> Result<Journal, JournalError> {
        fs::create_dir_all(dir).map_err(at(dir))?;
        let lock = take_lock(dir, options.lock_wait)?;
        let tip = check_tail(dir, &key.public())?;
        let (seg_path, recovered) = match (tip.torn, segments(dir)?.pop()) {
            (Some((segment, offset, length)), _) => {
                let rec = move_torn_aside(dir, &segment, offset, length)?;
                (segment, Some(rec))
            }
            (None, Some((_, path))) => (path, None),
            (None, None) => {
                let path = dir.join(segment_name(1));
                File::create(&path).map_err(at(&path))?;
                sync_dir(dir)?;
                (path, None)
            }
        };
        let file = OpenOptions::new()
            .append(true)
            .open(&seg_path)
            .map_err(at(&seg_path))?;
        let seg_size = file.metadata().map_err(at(&seg_path))?.len();
        let mut journal = Journal {
            _lock: lock,
            dir: dir.to_path_buf(),
            key: key.clone(),
            agent: tip.agent,
            options,
            file,
            seg_path,
            seg_size,
            seq: tip.seq,
            head: tip.head,
            since_checkpoint: tip.since_checkpoint,
            exported: tip.exported,
            dirty: false,
        };
        if let Some(rec) = recovered {
            journal.append(&JournalRecord::Recovery(rec))?;
        }
        journal.drain_inbox()?;
        Ok(journal)
    }

    /// Appends the records queued in the inbox (see [`queue`]), oldest
    /// first, and removes each once it is synced. A queued file that is
    /// not a journal-able record is renamed `*.refused` and logged; it
    /// does not stop the others. Returns how many were appended.
    pub fn drain_inbox(&mut self) -> Result<usize, JournalError> {
        let inbox = self.dir.join(INBOX_DIR);
        let mut names: Vec<String> = match fs::read_dir(&inbox) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(at(&inbox)(e).into()),
        };
        names.sort();
        let mut appended = 0;
        for name in names {
            let path = inbox.join(&name);
            let result = crate::fsutil::read_capped(&path, MAX_INBOX_RECORD)
                .map_err(JournalError::from)
                .and_then(|bytes| {
                    Entry::from_json(&bytes).map_err(|e| JournalError::BadRecord(e.to_string()))
                })
                .and_then(|entry| self.append(&entry));
            match result {
                Ok(_) => {
                    fs::remove_file(&path).map_err(at(&path))?;
                    appended += 1;
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    tracing::error!(file = %crate::engine::pathfmt::show(&path), "queued journal record refused: {e}");
                    let bad = inbox.join(format!("{name}.refused"));
                    fs::rename(&path, &bad).map_err(at(&path))?;
                }
            }
        }
        if appended > 0 {
            sync_dir(&inbox)?;
        }
        Ok(appended)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The agent id: the id of the journal's first key, which stays the
    /// agent id across key rotations.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The id of the key the journal is signed with now.
    pub fn key_id(&self) -> String {
        self.key.key_id_hex()
    }

    /// Rotates the key: appends a `key_rotation` record signed by the
    /// current key and countersigned by `new`, then a checkpoint by `new`,
    /// which signs everything after. Returns where the rotation landed.
    /// The caller installs the new key file afterwards.
    pub fn rotate_key(&mut self, new: &SecretKey, reason: &str) -> Result<Appended, JournalError> {
        let body = |j: &Journal| {
            let r = signers::rotation(&j.key, new, &j.agent, j.seq, &j.head, reason);
            serde_json::to_string(&JournalRecord::KeyRotation(r))
                .map_err(|e| JournalError::BadRecord(e.to_string()))
        };
        let mut line = self.line_for(&body(self)?)?;
        if !self.fits(&line) {
            self.rotate()?;
            line = self.line_for(&body(self)?)?;
        }
        let appended = self.write_line(line)?;
        self.since_checkpoint = 0;
        self.sync()?;
        self.key = new.clone();
        self.checkpoint()?;
        Ok(appended)
    }

    /// (seq, hash) of the last line; (0, genesis) when empty.
    pub fn head(&self) -> (u64, String) {
        (self.seq, self.head.clone())
    }

    /// The `to_seq` of the last export record (0: none yet).
    pub fn exported_through(&mut self) -> Result<u64, JournalError> {
        if let Some(e) = self.exported {
            return Ok(e);
        }
        let e = scan_exported(&self.dir)?;
        self.exported = Some(e);
        Ok(e)
    }

    /// Appends a record: the only way anything is written to the journal.
    /// A finding or one of the journal's own records is on disk
    /// (fdatasync) when this returns; a summary ends a session and is
    /// followed by a checkpoint.
    pub fn append<R: Journalled + ?Sized>(&mut self, record: &R) -> Result<Appended, JournalError> {
        let body =
            serde_json::to_string(record).map_err(|e| JournalError::BadRecord(e.to_string()))?;
        let appended = self.append_body(&body)?;
        if let Some(to) = record.exported_to() {
            self.exported = Some(to);
        }
        match record.durability() {
            Durability::Written => {}
            Durability::Synced => self.sync()?,
            Durability::Checkpointed => {
                self.checkpoint()?;
            }
        }
        self.maybe_checkpoint()?;
        Ok(appended)
    }

    /// Appends a signed checkpoint naming the current head, and syncs.
    /// When it would not fit in the segment, the new segment's opening
    /// checkpoint is the one.
    pub fn checkpoint(&mut self) -> Result<Appended, JournalError> {
        let body = self.checkpoint_body()?;
        let line = self.line_for(&body)?;
        if !self.fits(&line) {
            return self.rotate();
        }
        let appended = self.write_line(line)?;
        self.since_checkpoint = 0;
        self.sync()?;
        Ok(appended)
    }

    fn checkpoint_body(&mut self) -> Result<String, JournalError> {
        let exported = self.exported_through()?;
        let cp = line::checkpoint(&self.key, &self.agent, self.seq, &self.head, Some(exported));
        serde_json::to_string(&JournalRecord::Checkpoint(cp))
            .map_err(|e| JournalError::BadRecord(e.to_string()))
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.dirty {
            self.file.sync_data().map_err(at(&self.seg_path))?;
            self.dirty = false;
        }
        Ok(())
    }

    fn maybe_checkpoint(&mut self) -> Result<(), JournalError> {
        if self.since_checkpoint >= self.options.checkpoint_every {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// `body` is a compact JSON object; its keys must not include seq/prev.
    /// Starts a new segment first when the line would not fit.
    fn append_body(&mut self, body: &str) -> Result<Appended, JournalError> {
        let line = self.line_for(body)?;
        if !self.fits(&line) {
            self.rotate()?;
            let line = self.line_for(body)?;
            return self.write_line(line);
        }
        self.write_line(line)
    }

    /// Whether `line` fits in the current segment (a new segment takes
    /// anything).
    fn fits(&self, line: &str) -> bool {
        self.seg_size == 0 || self.seg_size + (line.len() as u64) < self.options.segment_max
    }

    /// The line `body` becomes as the next seq.
    fn line_for(&self, body: &str) -> Result<String, JournalError> {
        let rest = body
            .strip_prefix('{')
            .filter(|r| r.len() > 1)
            .ok_or_else(|| JournalError::BadRecord("empty or non-object record".into()))?;
        Ok(format!(
            "{{\"seq\":{},\"prev\":\"{}\",{rest}",
            self.seq + 1,
            self.head
        ))
    }

    fn write_line(&mut self, mut line: String) -> Result<Appended, JournalError> {
        // Re-check what we are about to write with the same code readers use,
        // so a record with its own seq/prev keys can never enter the chain.
        let parsed =
            parse_line(line.as_bytes()).map_err(|e| JournalError::BadRecord(e.to_string()))?;
        line.push('\n');
        write_whole(&mut self.file, line.as_bytes()).map_err(at(&self.seg_path))?;
        self.seg_size += line.len() as u64;
        self.dirty = true;
        self.seq = parsed.seq;
        self.head = parsed.hash.clone();
        self.since_checkpoint += 1;
        Ok(Appended {
            seq: parsed.seq,
            hash: parsed.hash,
        })
    }

    /// Closes the segment and starts the next one with a checkpoint, so
    /// the newest segment always holds one to open from.
    fn rotate(&mut self) -> Result<Appended, JournalError> {
        self.sync()?;
        let path = self.dir.join(segment_name(self.seq + 1));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(at(&path))?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.seg_path = path;
        self.seg_size = 0;
        let body = self.checkpoint_body()?;
        let line = self.line_for(&body)?;
        let appended = self.write_line(line)?;
        self.since_checkpoint = 0;
        self.sync()?;
        Ok(appended)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// Queues `record` for the journal in `dir` while another process holds
/// it: written to the inbox through a temp file, fsync and rename; the
/// next [`Journal::open`] or [`Journal::drain_inbox`] appends it. Returns
/// the queued file.
pub fn queue(dir: &Path, record: &Entry) -> Result<PathBuf, JournalError> {
    let bytes = serde_json::to_vec(record).map_err(|e| JournalError::BadRecord(e.to_string()))?;
    if bytes.len() as u64 > MAX_INBOX_RECORD {
        return Err(JournalError::BadRecord("record too large to queue".into()));
    }
    let inbox = dir.join(INBOX_DIR);
    fs::create_dir_all(&inbox).map_err(at(&inbox))?;
    // Names sort in queueing order: nanoseconds since the epoch, then pid.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = inbox.join(format!("{nanos:024}-{}.json", std::process::id()));
    crate::fsutil::write_atomic(&path, &bytes, 0o600).map_err(at(&path))?;
    Ok(path)
}

/// The journal taken for a record made by a process that is not its
/// usual writer (`kensa rules install`): opened before the change is made,
/// so a change is never made that cannot be recorded, and held until the
/// record is written. When another process holds the journal (the running
/// agent, which keeps it until it stops) the record is queued in its inbox
/// instead and that process appends it.
pub struct Recorder {
    dir: PathBuf,
    /// `None` when another process holds the journal.
    held: Option<Journal>,
}

/// Where [`Recorder::record`] put a record.
#[derive(Debug)]
pub enum Recorded {
    Appended(Appended),
    /// Queued in the inbox (this file) for the process holding the journal.
    Queued(PathBuf),
}

impl Recorder {
    /// Opens the journal in `dir` as [`Journal::open`] does, or notes that
    /// another process holds it; any other failure is an error.
    pub fn open(dir: &Path, key: &SecretKey) -> Result<Recorder, JournalError> {
        Recorder::open_with(dir, key, JournalOptions::default())
    }

    /// [`Recorder::open`] with options (how long to wait for the lock).
    pub fn open_with(
        dir: &Path,
        key: &SecretKey,
        opts: JournalOptions,
    ) -> Result<Recorder, JournalError> {
        let held = match Journal::open_with(dir, key, opts) {
            Ok(j) => Some(j),
            Err(JournalError::Busy { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Recorder {
            dir: dir.to_path_buf(),
            held,
        })
    }

    /// Appends `record` when this process holds the journal, else queues it.
    pub fn record(&mut self, record: &Entry) -> Result<Recorded, JournalError> {
        match &mut self.held {
            Some(j) => j.append(record).map(Recorded::Appended),
            None => queue(&self.dir, record).map(Recorded::Queued),
        }
    }
}

/// Takes the exclusive `flock` on `<journal>/lock`, retrying for up to
/// `wait` while another process holds it.
fn take_lock(
    dir: &Path,
    wait: std::time::Duration,
) -> Result<crate::fsutil::LockGuard, JournalError> {
    let path = dir.join(LOCK_FILE);
    match crate::fsutil::lock_exclusive(&path, Some(wait)) {
        Ok(Some(g)) => {
            // For `kensa status`; the lock itself is what counts.
            if let Err(e) = g.record_pid() {
                tracing::debug!("pid not recorded in the journal lock: {e}");
            }
            Ok(g)
        }
        Ok(None) => Err(JournalError::Busy {
            dir: dir.to_path_buf(),
        }),
        Err(e) => Err(at(&path)(e).into()),
    }
}

/// One write(2) for the whole line; a short write (disk full, signal)
/// continues, and whatever is left half-written is a torn tail next time.
fn write_whole(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies the torn bytes to `<segment>.<offset>.torn` (temp + fsync +
/// rename), truncates the segment, and returns the recovery record.
fn move_torn_aside(
    dir: &Path,
    segment: &Path,
    offset: u64,
    length: u64,
) -> Result<Recovery, JournalError> {
    let data = read_segment(segment)?;
    let torn = data
        .get(offset as usize..)
        .ok_or_else(|| JournalError::BadRecord("torn offset beyond segment".into()))?;
    let seg_name = segment
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let torn_name = format!("{seg_name}.{offset}.torn");
    let torn_path = dir.join(&torn_name);
    crate::fsutil::write_atomic(&torn_path, torn, 0o600).map_err(at(&torn_path))?;
    let f = OpenOptions::new()
        .write(true)
        .open(segment)
        .map_err(at(segment))?;
    f.set_len(offset).map_err(at(segment))?;
    f.sync_all().map_err(at(segment))?;
    tracing::warn!(
        segment = %crate::engine::pathfmt::show(segment),
        offset,
        length,
        "journal had a torn last line; moved aside to {}",
        crate::engine::pathfmt::show(&torn_path)
    );
    Ok(Recovery {
        v: 1,
        time: crate::findings::now_rfc3339(),
        segment: seg_name,
        offset,
        length,
        sha256: hex::encode(Sha256::digest(torn)),
        file: torn_name,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::findings::Record;

    /// A small typed record whose path carries `i`.
    pub(crate) fn skip(i: u64) -> Record {
        Record::Skip(crate::findings::Skip {
            attributes: Vec::new(),
            packed: None,
            v: 1,
            session: "s".into(),
            time: "2026-01-01T00:00:00Z".into(),
            path: format!("/f{i}"),
            chain: vec![],
            reason: crate::findings::SkipReason::Timeout,
            detail: String::new(),
            gap: true,
            size: None,
            sha256: None,
        })
    }

    fn path_of(bytes: &[u8]) -> String {
        match decode(bytes).unwrap().1 {
            Entry::Scan(Record::Skip(s)) => s.path,
            other => panic!("not a skip: {other:?}"),
        }
    }

    #[test]
    fn append_reopen_verify_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let opts = JournalOptions {
            segment_max: 600,
            checkpoint_every: 5,
            ..JournalOptions::default()
        };
        {
            let mut j = Journal::open_with(dir.path(), &key, opts).unwrap();
            for i in 0..30 {
                j.append(&skip(i)).unwrap();
            }
        }
        assert!(segments(dir.path()).unwrap().len() > 2);
        let j = Journal::open_with(dir.path(), &key, opts).unwrap();
        let (seq, head) = j.head();
        let report = verify(dir.path(), &key.public()).unwrap();
        assert_eq!((report.head_seq, report.head.clone()), (seq, head));
        // Every fifth record, plus one opening each segment after the first.
        let segs = segments(dir.path()).unwrap();
        assert!(report.checkpoints >= segs.len() as u64 - 1);
        for (first, path) in &segs[1..] {
            let data = fs::read(path).unwrap();
            let (p, e) = decode(data.split(|&b| b == b'\n').next().unwrap()).unwrap();
            assert_eq!(p.seq, *first);
            assert_eq!(
                e.kind(),
                "checkpoint",
                "segment {first} opens with a checkpoint"
            );
        }
        let all: Vec<_> = read_all(dir.path())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all.len() as u64, seq);
        let tail: Vec<_> = read_from(dir.path(), 20)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tail.first().unwrap().seq, 20);
        assert_eq!(tail.len() as u64, seq - 19);
    }

    #[test]
    fn torn_tail_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        {
            let mut j = Journal::open(dir.path(), &key).unwrap();
            j.append(&skip(1)).unwrap();
        }
        let seg = segments(dir.path()).unwrap().pop().unwrap().1;
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"seq\":2,\"prev\":\"ab").unwrap();
        drop(f);
        assert!(matches!(
            verify(dir.path(), &key.public()),
            Err(JournalError::TornTail { .. })
        ));
        let j = Journal::open(dir.path(), &key).unwrap();
        assert_eq!(j.head().0, 2);
        drop(j);
        let report = verify(dir.path(), &key.public()).unwrap();
        assert_eq!(report.recoveries, 1);
        let torn: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".torn"))
            .collect();
        assert_eq!(torn.len(), 1);
        assert_eq!(
            fs::read(torn[0].path()).unwrap(),
            b"{\"seq\":2,\"prev\":\"ab"
        );
    }

    #[test]
    fn damaged_middle_line_is_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        {
            let mut j = Journal::open(dir.path(), &key).unwrap();
            for i in 0..5 {
                j.append(&skip(i)).unwrap();
            }
        }
        let seg = segments(dir.path()).unwrap().pop().unwrap().1;
        let mut data = fs::read(&seg).unwrap();
        let second = data.iter().position(|&b| b == b'\n').unwrap() + 1;
        let digit = second
            + data[second..]
                .windows(4)
                .position(|w| w == b"/f1\"")
                .unwrap()
            + 2;
        data[digit] = b'7';
        fs::write(&seg, &data).unwrap();
        match Journal::open(dir.path(), &key) {
            Err(JournalError::Tampered { line, seq, .. }) => {
                assert_eq!((line, seq), (3, Some(3)));
            }
            other => panic!("expected tampering, got {:?}", other.map(|j| j.head())),
        }
        assert!(verify(dir.path(), &key.public()).is_err());
    }

    #[test]
    fn another_agents_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        Journal::open(dir.path(), &key)
            .unwrap()
            .append(&skip(1))
            .unwrap();
        let other = SecretKey::generate().unwrap();
        assert!(matches!(
            Journal::open(dir.path(), &other),
            Err(JournalError::Tampered { line: 1, .. })
        ));
    }

    #[test]
    fn a_second_writer_waits_then_is_refused_and_can_queue() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let mut first = Journal::open(dir.path(), &key).unwrap();
        first.append(&skip(1)).unwrap();
        let quick = JournalOptions {
            lock_wait: std::time::Duration::from_millis(200),
            ..JournalOptions::default()
        };
        let t0 = std::time::Instant::now();
        assert!(matches!(
            Journal::open_with(dir.path(), &key, quick),
            Err(JournalError::Busy { .. })
        ));
        assert!(t0.elapsed() >= std::time::Duration::from_millis(200));
        // The refused writer queues its record; the holder appends it.
        queue(dir.path(), &Entry::Scan(skip(2))).unwrap();
        queue(dir.path(), &Entry::Scan(skip(3))).unwrap();
        assert_eq!(first.drain_inbox().unwrap(), 2);
        assert_eq!(first.drain_inbox().unwrap(), 0);
        drop(first);
        // Once the holder is gone the lock is free again.
        let j = Journal::open_with(dir.path(), &key, quick).unwrap();
        assert_eq!(j.head().0, 3);
        drop(j);
        let is: Vec<String> = read_all(dir.path())
            .unwrap()
            .map(|l| {
                let l = l.unwrap();
                path_of(&l.bytes)
            })
            .collect();
        assert_eq!(is, vec!["/f1", "/f2", "/f3"]);
        verify(dir.path(), &key.public()).unwrap();
    }

    #[test]
    fn a_recorder_appends_when_free_and_queues_when_busy() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let mut free = Recorder::open(dir.path(), &key).unwrap();
        let r = free.record(&Entry::Scan(skip(1))).unwrap();
        assert!(matches!(r, Recorded::Appended(Appended { seq: 1, .. })));
        drop(free);
        let mut holder = Journal::open(dir.path(), &key).unwrap();
        let quick = JournalOptions {
            lock_wait: std::time::Duration::from_millis(50),
            ..JournalOptions::default()
        };
        let mut busy = Recorder::open_with(dir.path(), &key, quick).unwrap();
        let Recorded::Queued(file) = busy.record(&Entry::Scan(skip(2))).unwrap() else {
            panic!("not queued");
        };
        assert!(file.starts_with(dir.path().join(INBOX_DIR)));
        assert_eq!(holder.drain_inbox().unwrap(), 1);
        assert_eq!(holder.head().0, 2);
    }

    #[test]
    fn queued_records_are_appended_at_the_next_open_and_bad_ones_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        drop(Journal::open(dir.path(), &key).unwrap());
        queue(dir.path(), &Entry::Scan(skip(7))).unwrap();
        let inbox = dir.path().join(INBOX_DIR);
        fs::write(
            inbox.join("00000000000000000000000a-1.json"),
            b"{\"seq\":5,\"type\":\"x\"}",
        )
        .unwrap();
        let j = Journal::open(dir.path(), &key).unwrap();
        assert_eq!(j.head().0, 1);
        let left: Vec<String> = fs::read_dir(&inbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            vec!["00000000000000000000000a-1.json.refused".to_string()]
        );
    }

    #[test]
    fn records_with_seq_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let mut j = Journal::open(dir.path(), &key).unwrap();
        assert!(j.append_body(r#"{"type":"x","seq":9}"#).is_err());
        assert!(j.append_body("{}").is_err());
        assert_eq!(j.head().0, 0);
    }

    fn small_segments() -> JournalOptions {
        JournalOptions {
            segment_max: 600,
            checkpoint_every: 1000,
            ..JournalOptions::default()
        }
    }

    /// Flips one byte inside the path of the skip record `/f{i}`.
    fn damage(dir: &Path, i: u64) {
        let needle = format!("/f{i}\"");
        for (_, seg) in segments(dir).unwrap() {
            let mut data = fs::read(&seg).unwrap();
            if let Some(at) = data
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
            {
                data[at + 1] = b'g';
                fs::write(&seg, &data).unwrap();
                return;
            }
        }
        panic!("{needle} not found");
    }

    #[test]
    fn open_starts_at_the_last_checkpoint_and_verify_reads_everything() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let mut j = Journal::open_with(dir.path(), &key, small_segments()).unwrap();
        for i in 0..30 {
            j.append(&skip(i)).unwrap();
        }
        let head = j.head();
        drop(j);
        assert!(segments(dir.path()).unwrap().len() > 3);
        // Damage in the first segment is behind the last checkpoint: open
        // does not read it, the full verification finds it.
        damage(dir.path(), 1);
        let j = Journal::open_with(dir.path(), &key, small_segments()).unwrap();
        assert_eq!(j.head(), head);
        drop(j);
        assert!(matches!(
            verify(dir.path(), &key.public()),
            Err(JournalError::Tampered { .. })
        ));
    }

    #[test]
    fn tampering_after_the_last_checkpoint_is_detected_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let mut j = Journal::open(dir.path(), &key).unwrap();
        for i in 0..10 {
            j.append(&skip(i)).unwrap();
        }
        j.checkpoint().unwrap();
        for i in 10..15 {
            j.append(&skip(i)).unwrap();
        }
        drop(j);
        damage(dir.path(), 12);
        assert!(matches!(
            Journal::open(dir.path(), &key),
            Err(JournalError::Tampered { seq: Some(15), .. })
        ));
        // So is a forged checkpoint signature.
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), &key).unwrap();
        j.append(&skip(1)).unwrap();
        j.checkpoint().unwrap();
        j.append(&skip(2)).unwrap();
        drop(j);
        let seg = segments(dir.path()).unwrap().pop().unwrap().1;
        let text = fs::read_to_string(&seg).unwrap();
        let sig_at = text.find("\"sig\":\"").unwrap() + 7;
        let mut bytes = text.into_bytes();
        bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
        fs::write(&seg, &bytes).unwrap();
        assert!(Journal::open(dir.path(), &key).is_err());
    }

    #[test]
    fn an_old_journal_without_rotation_checkpoints_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let mut j = Journal::open(dir.path(), &key).unwrap();
        for i in 0..12 {
            j.append(&skip(i)).unwrap();
        }
        j.checkpoint().unwrap();
        for i in 12..20 {
            j.append(&skip(i)).unwrap();
        }
        let head = j.head();
        drop(j);
        // Split the one segment as old kensa rotated: at a plain record.
        let (_, seg) = segments(dir.path()).unwrap().pop().unwrap();
        let data = fs::read(&seg).unwrap();
        let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        let (a, b) = lines.split_at(16);
        fs::write(&seg, a.concat()).unwrap();
        fs::write(dir.path().join(segment_name(17)), b.concat()).unwrap();
        let mut j = Journal::open(dir.path(), &key).unwrap();
        assert_eq!(j.head(), head);
        assert_eq!(j.exported_through().unwrap(), 0);
        j.append(&skip(99)).unwrap();
        drop(j);
        verify(dir.path(), &key.public()).unwrap();
    }
}
