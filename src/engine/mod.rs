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

use crate::findings::{
    self, Classification, Finding, Location, Medium, Record, Session, Summary, SCHEMA_VERSION,
};
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
    /// Limits for recursion into archives; `None` scans archives as plain files.
    pub archive: Option<archive::ArchiveLimits>,
    /// Bytes of large files held in memory at once across all workers.
    pub buffer_budget: u64,
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
}

/// Assigns the taxonomy to a finding as it is recorded.
/// Gets the finding and the session's medium (label and serial rules).
pub type Classifier = dyn Fn(&Finding, Option<&Medium>) -> Option<Classification> + Send + Sync;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("recording a result failed: {0}")]
    Sink(#[from] std::io::Error),
    #[error("cannot start a scan thread: {0}")]
    Thread(String),
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
pub(crate) enum Event {
    Record(Box<Record>),
    FileDone { bytes: u64 },
}

/// Per-session facts that workers stamp onto records.
pub(crate) struct SessionCtx {
    pub id: String,
    pub location: Location,
    pub medium: Option<Medium>,
}

/// A compiled rule set plus options: scans any number of sessions.
pub struct Engine {
    rules: Arc<RuleSet>,
    opts: ScanOptions,
    gate: Arc<gate::MemoryGate>,
    classifier: Option<Arc<Classifier>>,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>, opts: ScanOptions) -> Engine {
        Engine {
            rules,
            gate: Arc::new(gate::MemoryGate::new(opts.buffer_budget)),
            opts,
            classifier: None,
        }
    }

    pub fn with_classifier(mut self, c: Arc<Classifier>) -> Engine {
        self.classifier = Some(c);
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
        };
        sink.record(Record::Session(Session {
            v: SCHEMA_VERSION,
            id: ctx.id.clone(),
            time: findings::now_rfc3339(),
            host: host_name(),
            agent: spec.agent.clone(),
            location: spec.location,
            paths: spec.paths.iter().map(|p| pathfmt::display(p)).collect(),
            medium: spec.medium.clone(),
            ruleset: self.rules.info.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))?;

        let threads = self.opts.threads.max(1);
        let (work_tx, work_rx) = crossbeam_channel::bounded::<walk::WorkItem>(threads * 64);
        let (ev_tx, ev_rx) = crossbeam_channel::bounded::<Event>(1024);
        let mut counts = Counts::default();
        let mut sink_error: Option<std::io::Error> = None;

        std::thread::scope(|s| -> Result<(), EngineError> {
            let walker_tx = ev_tx.clone();
            let walker = walk::Walker {
                roots: &spec.paths,
                one_file_system: self.opts.one_file_system,
                session: &ctx,
                cancel,
            };
            std::thread::Builder::new()
                .name("kensa-walk".into())
                .spawn_scoped(s, move || walker.run(&work_tx, &walker_tx))
                .map_err(|e| EngineError::Thread(e.to_string()))?;
            for i in 0..threads {
                let rx = work_rx.clone();
                let tx = ev_tx.clone();
                let ctx = &ctx;
                let rules = &*self.rules;
                let opts = &self.opts;
                let classifier = self.classifier.clone();
                let gate = &*self.gate;
                std::thread::Builder::new()
                    .name(format!("kensa-scan-{i}"))
                    .spawn_scoped(s, move || {
                        let mut w = worker::Worker::new(rules, opts, ctx, classifier, gate, tx);
                        // Large files whose memory is taken wait here while
                        // this worker goes on with others.
                        let mut deferred: VecDeque<walk::WorkItem> = VecDeque::new();
                        for item in rx.iter() {
                            if cancel.is_stopped() {
                                // Drain so the walker never blocks; unscanned.
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
                    })
                    .map_err(|e| EngineError::Thread(e.to_string()))?;
            }
            drop(ev_tx);
            drop(work_rx);
            for ev in ev_rx.iter() {
                match ev {
                    Event::FileDone { bytes } => {
                        counts.files += 1;
                        counts.bytes += bytes;
                        sink.progress(counts.files, counts.bytes);
                    }
                    Event::Record(rec) => {
                        let rec = *rec;
                        match &rec {
                            Record::Finding(_) => counts.findings += 1,
                            Record::Skip(sk) => {
                                counts.skips += 1;
                                if sk.gap {
                                    counts.gaps += 1;
                                }
                            }
                            _ => {}
                        }
                        if sink_error.is_none() {
                            if let Err(e) = sink.record(rec) {
                                cancel.stop(StopReason::Shutdown);
                                sink_error = Some(e);
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;

        let stopped = cancel.reason();
        if stopped == Some(StopReason::MediaRemoved) {
            counts.skips += 1;
            counts.gaps += 1;
            let skip = Record::Skip(findings::Skip {
                v: SCHEMA_VERSION,
                session: ctx.id.clone(),
                time: findings::now_rfc3339(),
                path: spec
                    .paths
                    .first()
                    .map(|p| pathfmt::display(p))
                    .unwrap_or_default(),
                chain: Vec::new(),
                reason: findings::SkipReason::MediaRemoved,
                detail: "the medium was removed before the scan finished".into(),
                gap: true,
                size: None,
                sha256: None,
            });
            if sink_error.is_none() {
                if let Err(e) = sink.record(skip) {
                    sink_error = Some(e);
                }
            }
        }
        let summary = Summary {
            v: SCHEMA_VERSION,
            session: ctx.id.clone(),
            time: findings::now_rfc3339(),
            files: counts.files,
            bytes: counts.bytes,
            findings: counts.findings,
            skips: counts.skips,
            gaps: counts.gaps,
            seconds: started.elapsed().as_secs_f64(),
            completed: stopped.is_none() && sink_error.is_none(),
            error: sink_error
                .as_ref()
                .map(|e| e.to_string())
                .or(match stopped {
                    Some(StopReason::Shutdown) => Some("stopped before the scan finished".into()),
                    Some(StopReason::MediaRemoved) => Some("medium removed".into()),
                    None => None,
                }),
        };
        if let Some(e) = sink_error {
            return Err(EngineError::Sink(e));
        }
        sink.record(Record::Summary(summary.clone()))?;
        Ok(summary)
    }
}

/// This host's name, for session records.
pub fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|| "unknown".to_string())
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
