//! The long-running agent behind `kensa run`: notices media as they are
//! mounted (and gone when unmounted), starts one scan session per medium,
//! watches media and configured host directories for new or changed files
//! and scans them once writes settle, swaps rules on reload, and stops
//! cleanly on request; with the device gate on (`crate::gate`) it also
//! starts the gate, hands it each reloaded engine and stops it on exit.
//! It owns no output format: it is given a sink (the
//! journal), and a [`Setup`] that builds the engine and what to watch from
//! the configuration file, at start and again on every reload.

use crate::config::Config;
use crate::engine::pathfmt;
use crate::engine::{Cancel, Engine, RecordSink, SessionSpec, StopReason};
use crate::findings::{Location, Medium, Record};
use crate::media::{self, MediaPolicy, Mount};
use crate::rules::active::{self, RuleRequest};
use crate::state::StateDir;
use notify::Watcher;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most changed paths remembered per root before falling back to a scan of
/// the whole root (bounded memory under a flood of writes).
const MAX_PENDING_PATHS: usize = 10_000;
/// Queue between the file-system watcher and the agent loop.
const EVENT_QUEUE: usize = 16_384;
/// How long shutdown waits for running sessions to wind down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// What the agent watches and how.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub media: MediaPolicy,
    /// Host directories watched for new files (location `host`).
    pub watch: Vec<PathBuf>,
    /// Quiet time after the last write before changed files are scanned.
    pub settle: Duration,
    /// Scan media that are already mounted when the agent starts.
    pub scan_present: bool,
    /// Agent id stamped on sessions.
    pub agent_id: Option<String>,
    /// The device gate (`crate::gate`), when on.
    pub gate: Option<crate::config::GateConfig>,
    /// Tell the verdict on each medium on the desktop (`[notify]`).
    pub desktop_notice: bool,
}

/// Command-line settings that override the configuration file, kept for
/// every reload. Paths are absolute.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Replace the configured media roots when not empty.
    pub media_roots: Vec<PathBuf>,
    /// Added to the configured watched directories.
    pub watch: Vec<PathBuf>,
    /// Do not scan media already mounted at start.
    pub no_scan_present: bool,
    /// Replace the default rule set when not empty.
    pub rules: Vec<PathBuf>,
    /// Replace the configured per-file read deadline.
    pub read_timeout: Option<Duration>,
    /// Turn the device gate on (`--gate`).
    pub gate: bool,
}

/// Everything needed to (re)build the engine and the watch list: the
/// configuration file, the state directory and the command-line overrides.
#[derive(Clone, Debug)]
pub struct Setup {
    pub config_path: PathBuf,
    /// A missing configuration file is an error on reload.
    pub config_required: bool,
    pub state: StateDir,
    pub overrides: Overrides,
    pub agent_id: String,
}

/// Why the engine could not be (re)built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Rules(#[from] crate::rules::RulesError),
    #[error(transparent)]
    Options(#[from] crate::engine::OptionsError),
    #[error("cannot resolve path {0}")]
    Path(#[from] crate::fsutil::PathError),
}

impl Setup {
    /// The engine and agent configuration `config` describes. `strict`
    /// refuses a rule set with any file that does not compile (reloads
    /// are strict: a broken update never replaces working rules).
    pub fn build(
        &self,
        config: &Config,
        strict: bool,
    ) -> Result<(Arc<Engine>, AgentConfig), SetupError> {
        let req = RuleRequest {
            explicit: self.overrides.rules.clone(),
            strict,
            read_only: false,
        };
        let mut opts = config.scan_options();
        if let Some(t) = self.overrides.read_timeout {
            opts.read_timeout = t;
        }
        opts.check()?;
        let set = active::load(&self.state, &config.rules, &req)?;
        let engine = Engine::new(Arc::new(set), opts).with_policy(config.classification.clone());
        Ok((Arc::new(engine), self.agent_config(config)?))
    }

    /// Reads the configuration file again and builds strictly.
    pub fn reload(&self) -> Result<(Arc<Engine>, AgentConfig), SetupError> {
        let config = Config::load(&self.config_path, self.config_required)?;
        self.build(&config, true)
    }

    /// What the agent watches, from configuration and overrides.
    fn agent_config(&self, config: &Config) -> Result<AgentConfig, SetupError> {
        let o = &self.overrides;
        let roots = if o.media_roots.is_empty() {
            &config.media.roots
        } else {
            &o.media_roots
        };
        let watch: Vec<PathBuf> = config.watch.paths.iter().chain(&o.watch).cloned().collect();
        Ok(AgentConfig {
            media: MediaPolicy {
                roots: crate::fsutil::absolute_all(roots)?,
                filesystems: media::filesystem_rule(&config.media.filesystems),
                removable: Vec::new(),
            },
            watch: crate::fsutil::absolute_all(&watch)?,
            settle: Duration::from_millis(config.watch.settle_ms),
            scan_present: config.media.scan_present && !o.no_scan_present,
            agent_id: Some(self.agent_id.clone()),
            gate: (config.gate.enabled || o.gate).then(|| crate::config::GateConfig {
                enabled: true,
                ..config.gate.clone()
            }),
            desktop_notice: config.notify.desktop,
        })
    }
}

/// Requests from signal handlers.
#[derive(Clone, Default)]
pub struct Control {
    pub terminate: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
}

/// A sink shared by every session thread.
pub type SharedSink = Arc<Mutex<dyn RecordSink + Send>>;

struct SessionSink(SharedSink);

impl RecordSink for SessionSink {
    fn record(&mut self, rec: Record) -> std::io::Result<()> {
        if let Record::Finding(f) = &rec {
            log_finding(f);
        }
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.record(rec)
    }
}

/// The log line of a finding; under journald its fields `KENSA_PATH`,
/// `KENSA_SHA256`, `KENSA_SESSION` and one `KENSA_RULE` per matched rule
/// select it.
fn log_finding(f: &crate::findings::Finding) {
    let verdict = match f.verdict {
        crate::findings::Verdict::Malicious => "malicious",
        crate::findings::Verdict::Suspicious => "suspicious",
    };
    let path = crate::output::sanitize(&f.path);
    tracing::warn!(
        path = %path,
        sha256 = %f.sha256,
        session = %f.session,
        verdict,
        rule = %crate::logging::list(f.matches.iter().map(|m| m.rule.as_str())),
        "detection: {verdict} file {path}"
    );
}

struct Running {
    /// The root the session belongs to (mount point or watched dir).
    root: PathBuf,
    cancel: Arc<Cancel>,
    handle: JoinHandle<()>,
}

/// Changed paths waiting for writes to settle.
struct Pending {
    paths: BTreeSet<PathBuf>,
    whole_root: bool,
    last: Instant,
}

/// A watched root: a medium's mount point or a host directory.
#[derive(Clone)]
struct Root {
    location: Location,
    medium: Option<Medium>,
}

pub struct Agent {
    cfg: AgentConfig,
    engine: Arc<Engine>,
    sink: SharedSink,
    setup: Setup,
    control: Control,
    roots: HashMap<PathBuf, Root>,
    pending: HashMap<PathBuf, Pending>,
    running: Vec<Running>,
    watcher: notify::RecommendedWatcher,
    events: crossbeam_channel::Receiver<notify::Result<notify::Event>>,
    overflow: Arc<AtomicBool>,
    /// Paths (such as the installed rule pack's `current` link) whose
    /// change triggers a reload, with their last seen state.
    reload_when_changed: Vec<(PathBuf, Option<String>)>,
}

/// A cheap fingerprint of a path: its symlink target or its mtime.
fn fingerprint(p: &Path) -> Option<String> {
    if let Ok(t) = std::fs::read_link(p) {
        return Some(t.display().to_string());
    }
    let m = std::fs::metadata(p).ok()?;
    Some(format!("{:?}:{}", m.modified().ok(), m.len()))
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot watch the mount table: {0}")]
    Mounts(std::io::Error),
    #[error("cannot start the file watcher: {}", watch_error(.0))]
    Watcher(#[from] notify::Error),
    #[error("cannot start a session thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Gate(#[from] crate::gate::GateError),
}

/// A watcher error in words: notify's own text adds the paths (and its
/// configuration) in Rust `Debug` form, which no log line shows; the
/// paths are in the log line's fields already.
fn watch_error(e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::Generic(s) => crate::output::sanitize(s).into_owned(),
        notify::ErrorKind::Io(io) => io.to_string(),
        notify::ErrorKind::PathNotFound => "no such file or directory".into(),
        notify::ErrorKind::WatchNotFound => "not watched".into(),
        notify::ErrorKind::InvalidConfig(_) => "invalid watcher configuration".into(),
        notify::ErrorKind::MaxFilesWatch => {
            "the limit of inotify watches is reached (sysctl fs.inotify.max_user_watches)".into()
        }
    }
}

/// Whether a file event may change what a scan finds: creation, a write or
/// a close after writing; not a metadata change or a read.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
    match kind {
        EventKind::Create(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        _ => false,
    }
}

/// Logs the end of a session, and tells the operator the verdict when it
/// scanned a medium (`crate::notify`).
fn session_finished(
    root: &str,
    spec: &SessionSpec,
    whole_root: bool,
    desktop: bool,
    result: Result<crate::findings::Summary, crate::engine::EngineError>,
) {
    let sum = match result {
        Ok(sum) => sum,
        Err(e) => {
            tracing::error!(root = %root, "session failed: {e}");
            return;
        }
    };
    tracing::info!(
        root = %root,
        session = %sum.session,
        files = sum.files,
        findings = sum.findings,
        gaps = sum.gaps,
        completed = sum.completed,
        "session finished"
    );
    if let Some(m) = &spec.medium {
        if crate::notify::worth_telling(whole_root, &sum) {
            crate::notify::tell(&crate::notify::medium_notice(m, &sum), desktop);
        }
    }
}

impl Agent {
    /// An agent over `engine` and `cfg` (built by `setup`), recording into
    /// `sink`. A change of the installed rule pack reloads like SIGHUP.
    pub fn new(
        setup: Setup,
        (engine, cfg): (Arc<Engine>, AgentConfig),
        sink: SharedSink,
        control: Control,
    ) -> Result<Agent, AgentError> {
        let reload_when_changed = vec![setup.state.rules_current()];
        let (tx, rx) = crossbeam_channel::bounded(EVENT_QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        let ov = overflow.clone();
        let watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if tx.try_send(ev).is_err() {
                ov.store(true, Ordering::SeqCst);
            }
        })?;
        Ok(Agent {
            cfg,
            engine,
            sink,
            setup,
            control,
            roots: HashMap::new(),
            pending: HashMap::new(),
            running: Vec::new(),
            watcher,
            events: rx,
            overflow,
            reload_when_changed: reload_when_changed
                .into_iter()
                .map(|p| {
                    let f = fingerprint(&p);
                    (p, f)
                })
                .collect(),
        })
    }

    /// Runs until terminated.
    pub fn run(mut self) -> Result<(), AgentError> {
        let mut mounts_watch = media::MountWatcher::new().map_err(AgentError::Mounts)?;
        self.watch_host_dirs();
        let mut known: HashMap<PathBuf, Mount> = HashMap::new();
        self.sync_mounts(&mut known, self.cfg.scan_present);
        let gate = self.start_gate()?;
        self.log_rules("agent running");
        loop {
            if self.control.terminate.load(Ordering::SeqCst) {
                break;
            }
            if self.watched_paths_changed() {
                tracing::info!("installed rules changed; reloading");
                self.control.reload.store(true, Ordering::SeqCst);
            }
            if self.control.reload.swap(false, Ordering::SeqCst) {
                self.reload();
                if let Some(g) = &gate {
                    g.set_engine(self.engine.clone());
                }
                self.sync_mounts(&mut known, true);
            }
            let busy = !self.pending.is_empty() || !self.running.is_empty();
            let timeout = if busy {
                Duration::from_millis(200)
            } else {
                Duration::from_millis(1000)
            };
            if mounts_watch.wait(timeout) {
                self.sync_mounts(&mut known, true);
            }
            self.drain_events();
            self.start_settled();
            self.reap();
        }
        if let Some(g) = gate {
            g.stop();
        }
        self.shutdown();
        Ok(())
    }

    /// Starts the device gate when configured (its settings are read at
    /// start only; a reload changes its engine, not its settings).
    fn start_gate(&self) -> Result<Option<crate::gate::Gate>, AgentError> {
        let Some(cfg) = self.cfg.gate.clone() else {
            return Ok(None);
        };
        Ok(Some(crate::gate::Gate::start(crate::gate::GateSetup {
            cfg,
            state: self.setup.state.clone(),
            agent_id: self.setup.agent_id.clone(),
            engine: self.engine.clone(),
            sink: self.sink.clone(),
        })?))
    }

    fn watched_paths_changed(&mut self) -> bool {
        let mut changed = false;
        for (p, last) in &mut self.reload_when_changed {
            let now = fingerprint(p);
            if now != *last {
                *last = now;
                changed = true;
            }
        }
        changed
    }

    fn watch_host_dirs(&mut self) {
        for dir in self.cfg.watch.clone() {
            match self.watcher.watch(&dir, notify::RecursiveMode::Recursive) {
                Ok(()) => {
                    self.roots.insert(
                        dir.clone(),
                        Root {
                            location: Location::Host,
                            medium: None,
                        },
                    );
                    tracing::info!(dir = %pathfmt::display(&dir), "watching host directory");
                }
                Err(e) => {
                    let why = watch_error(&e);
                    tracing::error!(dir = %pathfmt::display(&dir), "cannot watch: {why}");
                }
            }
        }
    }

    /// Compares the mount table with what is known: starts sessions for
    /// new media, ends sessions of media that are gone.
    fn sync_mounts(&mut self, known: &mut HashMap<PathBuf, Mount>, scan_new: bool) {
        let Some(now) = self.removable_mounts() else {
            return;
        };
        let gone: Vec<PathBuf> = known
            .keys()
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        for mp in gone {
            known.remove(&mp);
            self.medium_removed(&mp);
        }
        for (mp, (m, why)) in now {
            if known.contains_key(&mp) {
                continue;
            }
            known.insert(mp.clone(), m.clone());
            self.medium_mounted(mp, &m, why, scan_new);
        }
    }

    /// The mounted media the media policy accepts, by mount point, with the
    /// reason each was taken for removable; `None` (logged) when the mount
    /// table cannot be read.
    fn removable_mounts(&self) -> Option<HashMap<PathBuf, (Mount, &'static str)>> {
        let mounts = match media::current_mounts() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("cannot read the mount table: {e}");
                return None;
            }
        };
        let mut policy = self.cfg.media.clone();
        policy.removable = crate::media::removable_mount_points();
        let mut now: HashMap<PathBuf, (Mount, &'static str)> = HashMap::new();
        for m in mounts {
            if let Some(why) = policy.detect(&m) {
                now.insert(m.mount_point.clone(), (m, why));
            }
        }
        Some(now)
    }

    /// Takes a newly mounted medium as a watched root, and scans it whole
    /// when `scan_new`.
    fn medium_mounted(&mut self, mp: PathBuf, m: &Mount, why: &'static str, scan_new: bool) {
        let medium = media::identify(m, why);
        tracing::info!(
            mount_point = %pathfmt::display(&mp),
            fs = %m.fstype,
            label = medium.label.as_deref(),
            serial = medium.serial.as_deref(),
            uuid = medium.uuid.as_deref(),
            "medium mounted"
        );
        if let Err(e) = self.watcher.watch(&mp, notify::RecursiveMode::Recursive) {
            let why = watch_error(&e);
            tracing::warn!(mount_point = %pathfmt::display(&mp), "cannot watch medium for changes: {why}");
        }
        self.roots.insert(
            mp.clone(),
            Root {
                location: Location::Removable,
                medium: Some(medium),
            },
        );
        if scan_new {
            self.start_session(&mp, vec![mp.clone()]);
        }
    }

    fn medium_removed(&mut self, mp: &Path) {
        tracing::info!(mount_point = %pathfmt::display(mp), "medium removed");
        let _ = self.watcher.unwatch(mp);
        self.roots.remove(mp);
        self.pending.remove(mp);
        for r in &self.running {
            if r.root == mp {
                r.cancel.stop(StopReason::MediaRemoved);
            }
        }
    }

    fn root_of(&self, path: &Path) -> Option<PathBuf> {
        self.roots
            .keys()
            .filter(|r| path.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())
            .cloned()
    }

    /// Takes the file events received so far into `pending`, by root; an
    /// event overflow marks every root for a whole rescan.
    fn drain_events(&mut self) {
        let now = Instant::now();
        while let Ok(ev) = self.events.try_recv() {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::debug!("watch error: {}", watch_error(&e));
                    continue;
                }
            };
            if !is_change(&ev.kind) {
                continue;
            }
            for p in ev.paths {
                self.note_changed(p, now);
            }
        }
        if self.overflow.swap(false, Ordering::SeqCst) {
            tracing::warn!("file events overflowed; rescanning every watched root");
            for root in self.roots.keys().cloned().collect::<Vec<_>>() {
                self.pending.insert(
                    root,
                    Pending {
                        paths: BTreeSet::new(),
                        whole_root: true,
                        last: now,
                    },
                );
            }
        }
    }

    /// Records a changed path under its root (if any) as pending; past
    /// `MAX_PENDING_PATHS` the whole root is.
    fn note_changed(&mut self, p: PathBuf, now: Instant) {
        let Some(root) = self.root_of(&p) else {
            return;
        };
        let entry = self.pending.entry(root).or_insert_with(|| Pending {
            paths: BTreeSet::new(),
            whole_root: false,
            last: now,
        });
        entry.last = now;
        if !entry.whole_root {
            entry.paths.insert(p);
            if entry.paths.len() > MAX_PENDING_PATHS {
                entry.paths.clear();
                entry.whole_root = true;
            }
        }
    }

    fn start_settled(&mut self) {
        let settle = self.cfg.settle;
        let ready: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, p)| p.last.elapsed() >= settle)
            .map(|(r, _)| r.clone())
            .collect();
        for root in ready {
            let Some(p) = self.pending.remove(&root) else {
                continue;
            };
            let paths: Vec<PathBuf> = if p.whole_root {
                vec![root.clone()]
            } else {
                // Paths deleted before they settled (temporary files) are
                // not worth a "vanished" record.
                p.paths
                    .into_iter()
                    .filter(|x| x.symlink_metadata().is_ok())
                    .collect()
            };
            if !paths.is_empty() {
                self.start_session(&root, paths);
            }
        }
    }

    fn start_session(&mut self, root: &Path, paths: Vec<PathBuf>) {
        let Some(r) = self.roots.get(root).cloned() else {
            return;
        };
        let whole_root = paths.len() == 1 && paths.iter().all(|p| p == root);
        // Changed paths are reached from the root without following
        // links: a watched subdirectory swapped for a symlink meanwhile
        // cannot lead outside.
        let spec = SessionSpec {
            paths,
            base: Some(root.to_path_buf()),
            location: r.location,
            medium: r.medium,
            agent: self.cfg.agent_id.clone(),
        };
        let cancel = Cancel::new();
        let engine = self.engine.clone();
        let sink = self.sink.clone();
        let c2 = cancel.clone();
        let root_s = pathfmt::display(root);
        let desktop = self.cfg.desktop_notice;
        let handle = std::thread::Builder::new()
            .name("kensa-session".into())
            .spawn(move || {
                let mut s = SessionSink(sink);
                let result = engine.scan(&spec, &mut s, &c2);
                session_finished(&root_s, &spec, whole_root, desktop, result);
            });
        match handle {
            Ok(handle) => self.running.push(Running {
                root: root.to_path_buf(),
                cancel,
                handle,
            }),
            Err(e) => tracing::error!("{}", AgentError::Thread(e)),
        }
    }

    fn reap(&mut self) {
        let (done, running): (Vec<Running>, Vec<Running>) =
            self.running.drain(..).partition(|r| r.handle.is_finished());
        self.running = running;
        for r in done {
            let _ = r.handle.join();
        }
    }

    fn reload(&mut self) {
        // Records other processes queued for the journal (the
        // rules_change of a pack installed now) go in first.
        match self
            .sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush_queued()
        {
            Ok(0) => {}
            Ok(n) => tracing::info!("journalled {n} queued record(s)"),
            Err(e) => tracing::error!("queued journal records not appended: {e}"),
        }
        match self.setup.reload() {
            Ok((engine, cfg)) => {
                self.engine = engine;
                let old_watch: BTreeSet<PathBuf> = self.cfg.watch.iter().cloned().collect();
                let new_watch: BTreeSet<PathBuf> = cfg.watch.iter().cloned().collect();
                for gone in old_watch.difference(&new_watch) {
                    let _ = self.watcher.unwatch(gone);
                    self.roots.remove(gone);
                }
                self.cfg = AgentConfig {
                    agent_id: self.cfg.agent_id.clone(),
                    gate: self.cfg.gate.clone(),
                    ..cfg
                };
                let added: Vec<PathBuf> = new_watch.difference(&old_watch).cloned().collect();
                let all = std::mem::replace(&mut self.cfg.watch, added);
                self.watch_host_dirs();
                self.cfg.watch = all;
                self.log_rules("reloaded configuration and rules");
            }
            Err(e) => tracing::error!("reload refused, the running rules stay in use: {e}"),
        }
    }

    /// The service line (shown at the default level) of a start or a
    /// reload: version, agent id, the rule set (digest, counts, pack) and
    /// what is watched.
    fn log_rules(&self, what: &str) {
        let r = &self.engine.rules().info;
        let pack = r.pack_version.map(|v| v.to_string());
        let roots = self.cfg.media.roots.iter().map(|p| pathfmt::display(p));
        let watch = self.cfg.watch.iter().map(|p| pathfmt::display(p));
        tracing::info!(
            target: crate::logging::SERVICE,
            version = env!("CARGO_PKG_VERSION"),
            agent = %self.setup.agent_id,
            digest = %r.digest,
            rules = r.rules,
            hashes = r.hashes,
            pack = pack.as_deref().unwrap_or("none"),
            media_roots = %crate::logging::list(roots),
            watch = %crate::logging::list(watch),
            "kensa {} {what}: agent {}, rules {}",
            env!("CARGO_PKG_VERSION"),
            self.setup.agent_id,
            crate::output::ruleset_text(r)
        );
    }

    fn shutdown(mut self) {
        tracing::info!(sessions = self.running.len(), "stopping");
        for r in &self.running {
            r.cancel.stop(StopReason::Shutdown);
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline && self.running.iter().any(|r| !r.handle.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.reap();
        if !self.running.is_empty() {
            tracing::warn!(sessions = self.running.len(), "sessions still busy at exit");
        }
    }
}
