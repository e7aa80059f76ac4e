//! The scanning engine: walks trees, feeds every regular file once through
//! SHA-256, YARA-X and the hash lists on a pool of workers, and emits
//! records (session, finding, skip, summary) to one sink on the calling
//! thread. The engine never prints and never writes the journal itself;
//! whoever owns the sink does.
//!
//! Threads: one walker sends work over a bounded channel to N workers, each
//! with its own yara-x `Scanner` over the shared `Rules`; workers send
//! records over a bounded channel back to the caller, which owns the sink.
//! Memory stays flat whatever the number of files.

pub mod archive;
pub mod filetype;
pub mod gate;
pub mod pathfmt;
mod walk;
mod worker;

use crate::findings::policy::PolicyConfig;
use crate::findings::{self, Location, Medium, Record, Session, Summary, SCHEMA_VERSION};
use crate::rules::RuleSet;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default largest file that is YARA-scanned (larger ones are only hashed).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 100 * 1024 * 1024;
/// Default bytes of large files held in memory at once (see [`gate`]).
pub const DEFAULT_BUFFER_BUDGET: u64 = 64 * 1024 * 1024;
/// Large files a worker sets aside while the memory budget is taken.
const MAX_DEFERRED: usize = 16;
/// Default per-file YARA timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default most entries read from one directory (see
/// [`ScanOptions::max_dir_entries`]).
pub const DEFAULT_MAX_DIR_ENTRIES: usize = 100_000;
/// Most worker threads a scan may ask for: each holds a yara-x scanner and
/// a read buffer, and more than this many gains nothing on any machine.
pub const MAX_THREADS: usize = 256;

/// Tunables of a scan, built from flags and config before any work starts.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Worker threads (each with its own yara-x scanner).
    pub threads: usize,
    /// Files above this are hashed (streamed) but not YARA-scanned.
    pub max_file_size: u64,
    /// Per-file YARA timeout (yara-x counts whole seconds).
    pub timeout: Duration,
    /// Do not descend into other file systems.
    pub one_file_system: bool,
    /// Entries read from one directory; the rest is a `too_many_entries`
    /// gap (bounded memory on hostile or endless listings).
    pub max_dir_entries: usize,
    /// Limits for recursion into archives; `None` scans archives as plain files.
    pub archive: Option<archive::ArchiveLimits>,
    /// Bytes of large files held in memory at once across all workers.
    pub buffer_budget: u64,
}

/// A scan option out of its range.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("{0} worker threads asked for; at most {MAX_THREADS} are allowed")]
    TooManyThreads(usize),
}

impl ScanOptions {
    /// Checks the options are within their ranges.
    pub fn check(&self) -> Result<(), OptionsError> {
        if self.threads > MAX_THREADS {
            return Err(OptionsError::TooManyThreads(self.threads));
        }
        Ok(())
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            buffer_budget: DEFAULT_BUFFER_BUDGET,
            timeout: DEFAULT_TIMEOUT,
            one_file_system: false,
            max_dir_entries: DEFAULT_MAX_DIR_ENTRIES,
            archive: Some(archive::ArchiveLimits::default()),
        }
    }
}

/// What a session scans and in what capacity.
#[derive(Clone, Debug, Default)]
pub struct SessionSpec {
    pub paths: Vec<PathBuf>,
    pub location: Location,
    pub medium: Option<Medium>,
    pub agent: Option<String>,
}

/// Why a scan was cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Shutdown,
    MediaRemoved,
}

/// Shared flag that stops a running scan; remaining work is not scanned and
/// the session ends as incomplete.
#[derive(Debug, Default)]
pub struct Cancel {
    state: AtomicU8,
    stopped: AtomicBool,
}

impl Cancel {
    pub fn new() -> Arc<Cancel> {
        Arc::new(Cancel::default())
    }
    pub fn stop(&self, why: StopReason) {
        let code = match why {
            StopReason::Shutdown => 1,
            StopReason::MediaRemoved => 2,
        };
        self.state.store(code, Ordering::SeqCst);
        self.stopped.store(true, Ordering::SeqCst);
    }
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
    pub fn reason(&self) -> Option<StopReason> {
        match self.state.load(Ordering::SeqCst) {
            1 => Some(StopReason::Shutdown),
            2 => Some(StopReason::MediaRemoved),
            _ => None,
        }
    }
}

/// Receives every record of a scan, on the thread that called
/// [`Engine::scan`]. An error stops the scan (nothing is silently lost).
pub trait RecordSink {
    fn record(&mut self, rec: Record) -> std::io::Result<()>;
    /// Called after each file; for progress displays.
    fn progress(&mut self, _files: u64, _bytes: u64) {}
    /// Appends records that other processes queued for this sink (the
    /// journal's inbox); returns how many. Sinks without a queue have none.
    fn flush_queued(&mut self) -> std::io::Result<u64> {
        Ok(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("recording a result failed: {0}")]
    Sink(#[from] std::io::Error),
    #[error("cannot start a scan thread: {0}")]
    Thread(std::io::Error),
}

/// Counters of one session.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    files: u64,
    bytes: u64,
    findings: u64,
    skips: u64,
    gaps: u64,
}

/// Messages from the walker and workers to the recording thread.
pub(crate) enum Message {
    Record(Box<Record>),
    FileDone { bytes: u64 },
}

/// Per-session facts that workers stamp onto records.
pub(crate) struct SessionCtx {
    pub id: String,
    pub location: Location,
    pub medium: Option<Medium>,
    /// Classification policy applied to every finding (`None`: findings
    /// carry no taxonomy).
    pub policy: Option<Arc<PolicyConfig>>,
}

/// A compiled rule set plus options: scans any number of sessions.
pub struct Engine {
    rules: Arc<RuleSet>,
    opts: ScanOptions,
    gate: Arc<gate::MemoryGate>,
    policy: Option<Arc<PolicyConfig>>,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>, opts: ScanOptions) -> Engine {
        Engine {
            rules,
            gate: Arc::new(gate::MemoryGate::new(opts.buffer_budget)),
            opts,
            policy: None,
        }
    }

    /// Classifies every finding under `policy` as it is recorded.
    pub fn with_policy(mut self, policy: PolicyConfig) -> Engine {
        self.policy = Some(Arc::new(policy));
        self
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    pub fn options(&self) -> &ScanOptions {
        &self.opts
    }

    /// Runs one session over `spec.paths`, sending every record to `sink`.
    /// Returns the summary (also sent to the sink as the last record).
    pub fn scan(
        &self,
        spec: &SessionSpec,
        sink: &mut dyn RecordSink,
        cancel: &Cancel,
    ) -> Result<Summary, EngineError> {
        let started = Instant::now();
        let ctx = SessionCtx {
            id: findings::new_id(),
            location: spec.location,
            medium: spec.medium.clone(),
            policy: self.policy.clone(),
        };
        sink.record(Record::Session(self.session_record(&ctx, spec)))?;
        let mut tally = Tally::default();
        for issue in self.rules.missing_sources() {
            let skip = ctx.skip(
                pathfmt::display(&issue.file),
                findings::SkipReason::RulesIncomplete,
                format!(
                    "rule source not loaded, so no file was checked against it: {}",
                    issue.message
                ),
            );
            tally.record(Record::Skip(skip), sink, cancel);
        }
        self.run_threads(spec, &ctx, cancel, &mut |msg| tally.take(msg, sink, cancel))?;
        let stopped = cancel.reason();
        if stopped == Some(StopReason::MediaRemoved) {
            let path = spec.paths.first().map(|p| pathfmt::display(p));
            let skip = ctx.skip(
                path.unwrap_or_default(),
                findings::SkipReason::MediaRemoved,
                "the medium was removed before the scan finished",
            );
            tally.record(Record::Skip(skip), sink, cancel);
        }
        let summary = tally.summary(&ctx, started.elapsed(), stopped);
        if let Some(e) = tally.sink_error {
            return Err(EngineError::Sink(e));
        }
        sink.record(Record::Summary(summary.clone()))?;
        Ok(summary)
    }

    fn session_record(&self, ctx: &SessionCtx, spec: &SessionSpec) -> Session {
        Session {
            v: SCHEMA_VERSION,
            id: ctx.id.clone(),
            time: findings::now_rfc3339(),
            host: crate::system::host_name(),
            agent: spec.agent.clone(),
            location: spec.location,
            paths: spec.paths.iter().map(|p| pathfmt::display(p)).collect(),
            medium: spec.medium.clone(),
            ruleset: self.rules.info.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Starts the walker and the workers and hands every message they
    /// send to `on_message`, on this thread, until all are done.
    fn run_threads(
        &self,
        spec: &SessionSpec,
        ctx: &SessionCtx,
        cancel: &Cancel,
        on_message: &mut dyn FnMut(Message),
    ) -> Result<(), EngineError> {
        let threads = self.opts.threads.max(1);
        let (work_tx, work_rx) = crossbeam_channel::bounded::<walk::WorkItem>(threads * 64);
        let (msg_tx, msg_rx) = crossbeam_channel::bounded::<Message>(1024);
        std::thread::scope(|s| -> Result<(), EngineError> {
            let walker = walk::Walker {
                roots: &spec.paths,
                one_file_system: self.opts.one_file_system,
                max_dir_entries: self.opts.max_dir_entries,
                session: ctx,
                cancel,
            };
            let tx = msg_tx.clone();
            std::thread::Builder::new()
                .name("kensa-walk".into())
                .spawn_scoped(s, move || walker.run(&work_tx, &tx))
                .map_err(EngineError::Thread)?;
            for i in 0..threads {
                let rx = work_rx.clone();
                let tx = msg_tx.clone();
                // A yara-x scanner is not Send: each is made on its thread.
                let spawn = move || {
                    let mut w = worker::Worker::new(&self.rules, &self.opts, ctx, &self.gate, tx);
                    worker_loop(&mut w, &rx, cancel)
                };
                std::thread::Builder::new()
                    .name(format!("kensa-scan-{i}"))
                    .spawn_scoped(s, spawn)
                    .map_err(EngineError::Thread)?;
            }
            drop(msg_tx);
            drop(work_rx);
            for msg in msg_rx.iter() {
                on_message(msg);
            }
            Ok(())
        })
    }
}

/// One worker's share of the files. Large files whose memory is taken
/// wait in `deferred` while the worker goes on with others; after the
/// walk they are scanned in turn. Once the session is cancelled the rest
/// is drained unscanned, so the walker never blocks.
fn worker_loop(
    w: &mut worker::Worker<'_>,
    rx: &crossbeam_channel::Receiver<walk::WorkItem>,
    cancel: &Cancel,
) {
    let mut deferred: VecDeque<walk::WorkItem> = VecDeque::new();
    for item in rx.iter() {
        if cancel.is_stopped() {
            continue;
        }
        if let Err(item) = w.try_process(item) {
            if deferred.len() < MAX_DEFERRED {
                deferred.push_back(item);
            } else {
                w.process_waiting(item);
            }
        }
        while let Some(front) = deferred.pop_front() {
            if let Err(front) = w.try_process(front) {
                deferred.push_front(front);
                break;
            }
        }
    }
    for item in deferred {
        if cancel.is_stopped() {
            break;
        }
        w.process_waiting(item);
    }
}

/// The recording side of a session: counts what passes and forwards it to
/// the sink; the first sink error stops the session (nothing is dropped
/// silently: the scan then fails with that error).
#[derive(Default)]
struct Tally {
    counts: Counts,
    sink_error: Option<std::io::Error>,
}

impl Tally {
    fn take(&mut self, msg: Message, sink: &mut dyn RecordSink, cancel: &Cancel) {
        match msg {
            Message::FileDone { bytes } => {
                self.counts.files += 1;
                self.counts.bytes += bytes;
                sink.progress(self.counts.files, self.counts.bytes);
            }
            Message::Record(rec) => self.record(*rec, sink, cancel),
        }
    }

    fn record(&mut self, rec: Record, sink: &mut dyn RecordSink, cancel: &Cancel) {
        match &rec {
            Record::Finding(_) => self.counts.findings += 1,
            Record::Skip(sk) => {
                self.counts.skips += 1;
                self.counts.gaps += u64::from(sk.gap);
            }
            _ => {}
        }
        if self.sink_error.is_none() {
            if let Err(e) = sink.record(rec) {
                cancel.stop(StopReason::Shutdown);
                self.sink_error = Some(e);
            }
        }
    }

    fn summary(&self, ctx: &SessionCtx, took: Duration, stopped: Option<StopReason>) -> Summary {
        let c = self.counts;
        let error = match (&self.sink_error, stopped) {
            (Some(e), _) => Some(e.to_string()),
            (None, Some(StopReason::Shutdown)) => Some("stopped before the scan finished".into()),
            (None, Some(StopReason::MediaRemoved)) => Some("medium removed".into()),
            (None, None) => None,
        };
        Summary {
            v: SCHEMA_VERSION,
            session: ctx.id.clone(),
            time: findings::now_rfc3339(),
            files: c.files,
            bytes: c.bytes,
            findings: c.findings,
            skips: c.skips,
            gaps: c.gaps,
            seconds: took.as_secs_f64(),
            completed: stopped.is_none() && self.sink_error.is_none(),
            error,
        }
    }
}

impl SessionCtx {
    /// A skip record for `path`; callers fill in size, hash or chain.
    pub(crate) fn skip(
        &self,
        path: String,
        reason: findings::SkipReason,
        detail: impl Into<String>,
    ) -> findings::Skip {
        findings::Skip {
            v: SCHEMA_VERSION,
            session: self.id.clone(),
            time: findings::now_rfc3339(),
            path,
            chain: Vec::new(),
            reason,
            detail: detail.into(),
            gap: reason.is_gap(),
            size: None,
            sha256: None,
        }
    }
}

/// Maps an I/O error to the skip reason a person would understand.
pub(crate) fn io_skip_reason(e: &std::io::Error) -> findings::SkipReason {
    use findings::SkipReason as R;
    match e.kind() {
        std::io::ErrorKind::NotFound => R::Vanished,
        std::io::ErrorKind::PermissionDenied => R::Permission,
        _ if e.raw_os_error() == Some(libc::ELOOP) => R::Symlink,
        _ => R::IoError,
    }
}
