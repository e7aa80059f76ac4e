//! The scanning engine: walks trees, feeds every regular file once through
//! SHA-256, YARA-X and the hash lists on a pool of workers, and emits
//! records (session, finding, skip, summary) to one sink on the calling
//! thread. The engine never prints and never writes the journal itself;
//! whoever owns the sink does.
//!
//! Threads: one walker sends work over a bounded channel to N workers, each
//! with its own yara-x `Scanner` over the shared `Rules`; a block device or
//! disk image named as a root is read in user space by the same thread
//! ([`device`]: probed before the session record, which names its
//! volumes; each file read into memory and sent as work, so every worker
//! scans), and disk images met inside the scan are opened as containers
//! by the workers (`worker/nested.rs`); workers send
//! records over a bounded channel back to the caller, which owns the sink.
//! Memory stays flat whatever the number of files. The threads are not
//! scoped: a thread stuck in a read that never returns is abandoned by
//! the watchdog ([`watchdog`]) and the session ends without joining it,
//! so they share the session's state through `Arc`s. Every read has a
//! deadline ([`ScanOptions::read_timeout`]), checked between chunks; the
//! watchdog covers a read that blocks in the kernel. A stop ([`Cancel`])
//! gives running threads [`STOP_GRACE`] before they are abandoned, so a
//! stopped session always ends with its summary.

pub mod archive;
mod device;
#[cfg(unix)]
mod dirfd;
#[cfg(windows)]
#[path = "dirfd_windows.rs"]
mod dirfd;
pub mod filetype;
pub mod gate;
pub mod pathfmt;
mod walk;
mod watchdog;
#[cfg(any(windows, test))]
mod winfile;
mod worker;

use crate::findings::policy::PolicyConfig;
use crate::findings::{self, Location, Medium, Record, Session, Summary, SCHEMA_VERSION};
use crate::rules::RuleSet;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchdog::{ExitGuard, Watch};

/// Default largest file that is YARA-scanned (larger ones are only hashed).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 100 * 1024 * 1024;
/// Default bytes of large files held in memory at once (see [`gate`]).
pub const DEFAULT_BUFFER_BUDGET: u64 = 64 * 1024 * 1024;
/// Large files a worker sets aside while the memory budget is taken.
const MAX_DEFERRED: usize = 16;
/// Default per-file YARA timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default per-file read deadline (see [`ScanOptions::read_timeout`]).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a thread may stay in one blocking call past the read deadline
/// before the watchdog abandons it.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);
/// After a stop, how long running threads get to finish before they are
/// abandoned and the session is closed without them.
pub const STOP_GRACE: Duration = Duration::from_secs(1);
/// How often the recording thread looks at the stop flag and the watchdog.
const TICK: Duration = Duration::from_millis(100);
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
    /// Per-file read deadline: a file still not read to its end after
    /// this (an endless or hung source) is a `timeout` skip.
    pub read_timeout: Duration,
    /// Do not descend into other file systems.
    pub one_file_system: bool,
    /// Entries read from one directory; the rest is a `too_many_entries`
    /// gap (bounded memory on hostile or endless listings).
    pub max_dir_entries: usize,
    /// Limits for recursion into archives; `None` scans archives as plain files.
    pub archive: Option<archive::ArchiveLimits>,
    /// Whether a container kensa cannot open is a gap (the default).
    pub unsupported: archive::UnsupportedPolicy,
    /// Bytes of large files held in memory at once across all workers.
    pub buffer_budget: u64,
    /// How devices and disk images are read in user space.
    pub disk: crate::disk::DiskOptions,
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
            read_timeout: DEFAULT_READ_TIMEOUT,
            one_file_system: false,
            max_dir_entries: DEFAULT_MAX_DIR_ENTRIES,
            archive: Some(archive::ArchiveLimits::default()),
            unsupported: archive::UnsupportedPolicy::Gap,
            disk: crate::disk::DiskOptions::default(),
        }
    }
}

/// What a session scans and in what capacity.
#[derive(Clone, Debug, Default)]
pub struct SessionSpec {
    pub paths: Vec<PathBuf>,
    /// When set, every path lies below this directory (a watched root):
    /// the base is opened once and each component below it without
    /// following a symlink, so a directory swapped for a link meanwhile
    /// cannot lead outside. `None`: each path is a root the user named,
    /// followed once if it is a symlink.
    pub base: Option<PathBuf>,
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
    stopped: Arc<AtomicBool>,
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
    /// The flag itself, for a signal handler to set (a stop for
    /// [`StopReason::Shutdown`]).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.stopped.clone()
    }
    pub fn reason(&self) -> Option<StopReason> {
        match self.state.load(Ordering::SeqCst) {
            2 => Some(StopReason::MediaRemoved),
            _ if self.stopped.load(Ordering::SeqCst) => Some(StopReason::Shutdown),
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
    /// Called when a worker starts reading a file (its path in the text
    /// form of names); for progress displays.
    fn reading(&mut self, _path: &str) {}
    /// Called about ten times a second while a scan runs, whatever the
    /// workers do; for progress displays that show time and totals.
    fn tick(&mut self) {}
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
    /// A worker starts reading this file (its text form); for progress.
    Reading(String),
    FileDone {
        bytes: u64,
    },
    /// A thread has ended (see [`watchdog::ExitGuard`]).
    Exited,
    /// The supervisor's clock: sent every [`TICK`] so displays redraw
    /// while one long read produces no other message.
    Tick,
}

/// Per-session facts that workers stamp onto records.
pub(crate) struct SessionCtx {
    pub id: String,
    pub location: Location,
    pub medium: Option<Medium>,
    /// Classification policy applied to every finding (`None`: findings
    /// carry no taxonomy).
    pub policy: Option<Arc<PolicyConfig>>,
    /// Set when part of the session could not be finished in a way no
    /// skip alone conveys (a disk parser died): the summary is then
    /// incomplete with this as its error.
    pub incomplete: std::sync::Mutex<Option<String>>,
}

/// A compiled rule set plus options: scans any number of sessions.
pub struct Engine {
    rules: Arc<RuleSet>,
    opts: Arc<ScanOptions>,
    gate: Arc<gate::MemoryGate>,
    policy: Option<Arc<PolicyConfig>>,
}

impl Engine {
    pub fn new(rules: Arc<RuleSet>, opts: ScanOptions) -> Engine {
        Engine {
            rules,
            gate: Arc::new(gate::MemoryGate::new(opts.buffer_budget)),
            opts: Arc::new(opts),
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
        let ctx = Arc::new(SessionCtx {
            id: findings::new_id(),
            location: spec.location,
            medium: spec.medium.clone(),
            policy: self.policy.clone(),
            incomplete: std::sync::Mutex::new(None),
        });
        let (disks, volumes, probe_gaps) = self.open_disks(spec);
        let mut session = self.session_record(&ctx, spec);
        session.volumes = volumes;
        sink.record(Record::Session(session))?;
        let mut tally = Tally::default();
        let inner = Cancel::new();
        for skip in self.opening_skips(&ctx, probe_gaps) {
            tally.record(Record::Skip(skip), sink, &inner);
        }
        let gave_up = self.run_threads(spec, disks, &ctx, cancel, &inner, &mut |msg| {
            tally.take(msg, sink, &inner)
        })?;
        tally.gave_up = gave_up;
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
        let died = ctx.take_incomplete();
        let summary = tally.summary(&ctx, started.elapsed(), stopped, died);
        if let Some(e) = tally.sink_error {
            return Err(EngineError::Sink(e));
        }
        sink.record(Record::Summary(summary.clone()))?;
        Ok(summary)
    }

    /// The skips a session starts with: devices that could not be
    /// probed, rule sources that were not loaded.
    fn opening_skips(
        &self,
        ctx: &SessionCtx,
        probe_gaps: Vec<device::ProbeGap>,
    ) -> Vec<findings::Skip> {
        let mut out: Vec<_> = probe_gaps
            .into_iter()
            .map(|g| ctx.skip(g.path, g.reason, g.detail))
            .collect();
        for issue in self.rules.missing_sources() {
            out.push(ctx.skip(
                pathfmt::display(&issue.file),
                findings::SkipReason::RulesIncomplete,
                format!(
                    "rule source not loaded, so no file was checked against it: {}",
                    issue.message
                ),
            ));
        }
        out
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
            volumes: Vec::new(),
            archive_unsupported: (self.opts.unsupported != archive::UnsupportedPolicy::Gap)
                .then(|| self.opts.unsupported.as_str().to_string()),
        }
    }

    /// Probes every named root that is a block device or a disk image
    /// (before the session record, which names the volumes found): per
    /// root the disk it is read as, all volumes, and the probes that
    /// failed. Roots below a watched base are files, never disks.
    fn open_disks(
        &self,
        spec: &SessionSpec,
    ) -> (
        Vec<Option<device::DiskRoot>>,
        Vec<crate::disk::VolumeInfo>,
        Vec<device::ProbeGap>,
    ) {
        let (mut disks, mut volumes, mut gaps) = (Vec::new(), Vec::new(), Vec::new());
        for p in &spec.paths {
            let opened = match spec.base {
                Some(_) => None,
                None => device::DiskRoot::open(p, &self.opts.disk),
            };
            let Some((root, gap)) = opened else {
                disks.push(None);
                continue;
            };
            if let Some(l) = &root.layout {
                volumes.extend(l.volumes.iter().cloned());
            }
            gaps.extend(gap);
            disks.push(Some(root));
        }
        (disks, volumes, gaps)
    }

    /// The walker of one session (it also reads the disks named as roots).
    fn walker(
        &self,
        spec: &SessionSpec,
        disks: Vec<Option<device::DiskRoot>>,
        ctx: &Arc<SessionCtx>,
        inner: &Arc<Cancel>,
        watch: &Arc<Watch>,
    ) -> walk::Walker {
        walk::Walker {
            roots: spec.paths.clone(),
            base: spec.base.clone(),
            one_file_system: self.opts.one_file_system,
            max_dir_entries: self.opts.max_dir_entries,
            session: ctx.clone(),
            cancel: inner.clone(),
            watch: watch.clone(),
            disks,
            disk: Arc::new(self.opts.disk.clone()),
            rules: self.rules.clone(),
            gate: self.gate.clone(),
            max_file_size: self.opts.max_file_size,
        }
    }

    /// Starts the walker and the workers and hands every message they
    /// send to `on_message`, on this thread, until each has finished or
    /// been abandoned. `cancel` is the caller's stop flag, `inner` the one
    /// the threads watch. Returns true when the session gave up on part
    /// of its work (a thread stuck in the file system).
    fn run_threads(
        &self,
        spec: &SessionSpec,
        disks: Vec<Option<device::DiskRoot>>,
        ctx: &Arc<SessionCtx>,
        cancel: &Cancel,
        inner: &Arc<Cancel>,
        on_message: &mut dyn FnMut(Message),
    ) -> Result<bool, EngineError> {
        let threads = self.opts.threads.max(1);
        let (work_tx, work_rx) = crossbeam_channel::bounded((threads * 16).clamp(32, 512));
        let (msg_tx, msg_rx) = crossbeam_channel::bounded::<Message>(1024);
        let walker_watch = Watch::new();
        let walker = self.walker(spec, disks, ctx, inner, &walker_watch);
        let tx = msg_tx.clone();
        std::thread::Builder::new()
            .name("kensa-walk".into())
            .spawn(move || {
                let _exit = ExitGuard(walker.watch.clone(), tx.clone());
                walker.run(&work_tx, &tx)
            })
            .map_err(EngineError::Thread)?;
        let env = WorkerEnv {
            rules: self.rules.clone(),
            opts: self.opts.clone(),
            ctx: ctx.clone(),
            gate: self.gate.clone(),
            stop: inner.clone(),
            walk_over: Arc::new(AtomicBool::new(false)),
            work: work_rx,
            out: msg_tx,
        };
        let mut crew = Crew {
            watches: vec![walker_watch],
            spares: threads,
            gave_up: false,
        };
        for _ in 0..threads {
            crew.spawn_worker(&env)?;
        }
        self.supervise(&mut crew, &env, &msg_rx, cancel, on_message);
        Ok(crew.gave_up)
    }

    /// The recording loop: forwards messages, passes a stop on to the
    /// threads, and abandons threads stuck too long (see [`watchdog`]).
    fn supervise(
        &self,
        crew: &mut Crew,
        env: &WorkerEnv,
        msg_rx: &crossbeam_channel::Receiver<Message>,
        cancel: &Cancel,
        on_message: &mut dyn FnMut(Message),
    ) {
        let limit = self.opts.read_timeout + WATCHDOG_GRACE;
        let mut stopped_at: Option<Instant> = None;
        let mut last = Instant::now();
        loop {
            match msg_rx.recv_timeout(TICK) {
                Ok(Message::Exited) => {}
                Ok(msg) => {
                    on_message(msg);
                    if last.elapsed() < TICK {
                        continue;
                    }
                }
                Err(_) => {}
            }
            last = Instant::now();
            on_message(Message::Tick);
            if cancel.is_stopped() && !env.stop.is_stopped() {
                env.stop.stop(StopReason::Shutdown);
            }
            if env.stop.is_stopped() && stopped_at.is_none() {
                stopped_at = Some(Instant::now());
            }
            let grace_over = stopped_at.is_some_and(|t| t.elapsed() >= STOP_GRACE);
            crew.watchdog(env, if grace_over { None } else { Some(limit) }, on_message);
            if crew.watches.iter().all(|w| w.settled()) {
                while let Ok(msg) = msg_rx.try_recv() {
                    on_message(msg);
                }
                return;
            }
        }
    }
}

/// What every worker thread shares, cloned into each.
#[derive(Clone)]
struct WorkerEnv {
    rules: Arc<RuleSet>,
    opts: Arc<ScanOptions>,
    ctx: Arc<SessionCtx>,
    gate: Arc<gate::MemoryGate>,
    /// The session's own stop flag (the caller's is passed on to it).
    stop: Arc<Cancel>,
    /// Set when the walker was abandoned: workers stop waiting for work.
    walk_over: Arc<AtomicBool>,
    work: crossbeam_channel::Receiver<walk::WorkItem>,
    out: crossbeam_channel::Sender<Message>,
}

/// The threads of one session, by watch: the walker's first.
struct Crew {
    watches: Vec<Arc<Watch>>,
    /// Workers that may still be started in place of abandoned ones.
    spares: usize,
    gave_up: bool,
}

impl Crew {
    fn spawn_worker(&mut self, env: &WorkerEnv) -> Result<(), EngineError> {
        let watch = Watch::new();
        let env2 = env.clone();
        let w2 = watch.clone();
        // A yara-x scanner is not Send: each is made on its thread.
        let run = move || {
            let _exit = ExitGuard(w2.clone(), env2.out.clone());
            let e = env2;
            let mut w = worker::Worker::new(worker::Shared {
                rules: &e.rules,
                opts: &e.opts,
                ctx: &e.ctx,
                gate: &e.gate,
                stop: &e.stop,
                watch: &w2,
                out: e.out.clone(),
            });
            worker_loop(&mut w, &e.work, &e.stop, &e.walk_over, &w2);
        };
        std::thread::Builder::new()
            .name(format!("kensa-scan-{}", self.watches.len()))
            .spawn(run)
            .map_err(EngineError::Thread)?;
        self.watches.push(watch);
        Ok(())
    }

    /// Abandons the threads busy for longer than `limit` (all running
    /// threads when `None`, after a stop), recording what each left
    /// undone as `timeout` skips unless the session was stopped; starts
    /// a spare worker in place of an abandoned one while any are left,
    /// and gives up on the rest of the work when no worker is left.
    fn watchdog(
        &mut self,
        env: &WorkerEnv,
        limit: Option<Duration>,
        on_message: &mut dyn FnMut(Message),
    ) {
        let mut replace = 0;
        for (i, w) in self.watches.iter().enumerate() {
            let Some(gone) = w.abandon_if_busy_for(limit.unwrap_or(Duration::ZERO)) else {
                continue;
            };
            if i == 0 {
                env.walk_over.store(true, Ordering::SeqCst);
            }
            if limit.is_none() {
                continue;
            }
            self.gave_up |= i == 0;
            replace += usize::from(i > 0);
            for rec in abandoned_skips(&env.ctx, &env.opts, i == 0, gone) {
                on_message(Message::Record(Box::new(Record::Skip(rec))));
            }
            if i > 0 {
                on_message(Message::FileDone { bytes: 0 });
            }
        }
        for _ in 0..replace.min(self.spares) {
            self.spares -= 1;
            if self.spawn_worker(env).is_err() {
                break;
            }
        }
        let walker_running = !self.watches[0].settled();
        if walker_running && self.watches[1..].iter().all(|w| w.settled()) {
            // No worker left to take the walker's files: stop it.
            self.gave_up = true;
            env.stop.stop(StopReason::Shutdown);
            while env.work.try_recv().is_ok() {}
        }
    }
}

/// The `timeout` skips for what an abandoned thread left undone.
fn abandoned_skips(
    ctx: &SessionCtx,
    opts: &ScanOptions,
    walker: bool,
    gone: watchdog::Abandoned,
) -> Vec<findings::Skip> {
    let secs = (opts.read_timeout + WATCHDOG_GRACE).as_secs();
    let detail = if walker {
        format!("the file system did not answer for {secs} s; the rest of the tree was not visited")
    } else {
        format!("the file system did not answer for {secs} s; the read was abandoned")
    };
    let mut out = vec![ctx.skip(
        pathfmt::display(&gone.busy),
        findings::SkipReason::Timeout,
        detail,
    )];
    for p in gone.deferred {
        let detail = "not scanned: its worker was stuck on another file";
        out.push(ctx.skip(pathfmt::display(&p), findings::SkipReason::Timeout, detail));
    }
    out
}

/// One worker's share of the files. Large files whose memory is taken
/// wait in `deferred` while the worker goes on with others; after the
/// walk they are scanned in turn. Once the session is stopped the rest
/// is drained unscanned, so the walker never blocks. An abandoned worker
/// returns at once.
fn worker_loop(
    w: &mut worker::Worker<'_>,
    rx: &crossbeam_channel::Receiver<walk::WorkItem>,
    stop: &Cancel,
    walk_over: &AtomicBool,
    watch: &Watch,
) {
    let mut deferred: VecDeque<walk::WorkItem> = VecDeque::new();
    loop {
        let item = match rx.recv_timeout(TICK) {
            Ok(item) => item,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if walk_over.load(Ordering::SeqCst) {
                    break;
                }
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        if stop.is_stopped() {
            continue;
        }
        let before = deferred.len();
        if let Err(item) = w.try_process(item) {
            if deferred.len() < MAX_DEFERRED {
                deferred.push_back(item);
            } else {
                w.process_waiting(item);
            }
        }
        while let Some(front) = deferred.pop_front() {
            if w.gone() {
                return;
            }
            if let Err(front) = w.try_process(front) {
                deferred.push_front(front);
                break;
            }
        }
        if w.gone() {
            return;
        }
        if deferred.len() != before {
            watch.set_deferred(deferred.iter().map(|i| i.path.clone()).collect());
        }
    }
    finish_deferred(w, deferred, stop, watch);
}

/// After the walk: the large files set aside, each once its memory is free.
fn finish_deferred(
    w: &mut worker::Worker<'_>,
    mut deferred: VecDeque<walk::WorkItem>,
    stop: &Cancel,
    watch: &Watch,
) {
    while let Some(item) = deferred.pop_front() {
        if stop.is_stopped() || w.gone() {
            return;
        }
        watch.set_deferred(deferred.iter().map(|i| i.path.clone()).collect());
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
    /// The session gave up on part of its work (see [`watchdog`]).
    gave_up: bool,
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
            Message::Reading(path) => sink.reading(&path),
            Message::Tick => sink.tick(),
            Message::Exited => {}
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

    fn summary(
        &self,
        ctx: &SessionCtx,
        took: Duration,
        stopped: Option<StopReason>,
        died: Option<String>,
    ) -> Summary {
        let c = self.counts;
        let incomplete = died.is_some();
        let error = match (&self.sink_error, stopped) {
            (None, None) if incomplete => died,
            (Some(e), _) => Some(e.to_string()),
            (None, Some(StopReason::Shutdown)) => Some("stopped before the scan finished".into()),
            (None, Some(StopReason::MediaRemoved)) => Some("medium removed".into()),
            (None, None) if self.gave_up => {
                Some("the file system stopped answering; the rest was not scanned".into())
            }
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
            completed: stopped.is_none()
                && self.sink_error.is_none()
                && !self.gave_up
                && !incomplete,
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
            attributes: Vec::new(),
            packed: None,
        }
    }

    /// Why the session is incomplete, if [`Self::set_incomplete`] said so.
    fn take_incomplete(&self) -> Option<String> {
        self.incomplete
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Marks the session incomplete (the first reason is kept).
    pub(crate) fn set_incomplete(&self, why: String) {
        let mut g = self.incomplete.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert(why);
    }
}

/// The detail of a skip for an I/O error while doing `what`; a file held
/// by another process says so in words, whatever the OS message is.
pub(crate) fn io_detail(what: &str, e: &std::io::Error) -> String {
    match io_skip_reason(e) {
        findings::SkipReason::Locked => format!(
            "{what}: held by another process without sharing (sharing violation); not read: {e}"
        ),
        _ => format!("{what}: {e}"),
    }
}

/// Maps an I/O error to the skip reason a person would understand.
pub(crate) fn io_skip_reason(e: &std::io::Error) -> findings::SkipReason {
    use findings::SkipReason as R;
    match e.kind() {
        std::io::ErrorKind::NotFound => R::Vanished,
        std::io::ErrorKind::PermissionDenied => R::Permission,
        _ if dirfd::is_link_refusal(e) => R::Symlink,
        #[cfg(windows)]
        _ if winfile::is_locked(e.raw_os_error()) => R::Locked,
        _ => R::IoError,
    }
}
