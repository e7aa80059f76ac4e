//! The device gate of `kensa run --gate` (`[gate] enabled = true`): never
//! let a stick be mounted before it is judged. A thread listens to kernel
//! uevents ([`uevent`]); when a block device appears (or a medium changes
//! in a reader) that is removable, on a USB bus or named by
//! `gate.devices` ([`device`]), it opens the whole disk exclusively
//! ([`hold`]), so the kernel refuses to mount it or its partitions, and
//! scans the device node in user space with the agent's engine (one
//! session, journalled like every other). Its decision depends only on the
//! session's outcome: clean and complete → released (and mounted
//! read-only by kensa with `gate.mount`, or handed to the desktop's
//! automounter by a udev `change`); a finding, a gap or a scan that did
//! not finish → kept held, `blocked`. Every step is a `gate` journal
//! record; `<state>/gate.json` ([`state`]) shows what is held to `kensa
//! status`; `kensa release` asks over the control socket ([`control`]);
//! logged-in users get a desktop notification ([`notify`]). On stop, held
//! devices are released, or with `keep_blocked_on_stop` a USB device is
//! deauthorised (nothing can hold a device once the process is gone).
//!
//! While the gate runs it keeps `/run/kensa/gate/on`, and a per-device
//! marker `/run/kensa/gate/clean/NAME` once a medium is judged clean; the
//! udev rule the package ships reads both to keep udisks off media the
//! gate has not released.

pub mod control;
pub mod device;
pub mod hold;
pub mod notify;
mod setup;
pub mod state;
pub mod uevent;

pub use setup::GateSetup;

use crate::agent::SharedSink;
use crate::config::GateConfig;
use crate::engine::{Cancel, Engine, RecordSink, SessionSpec, StopReason};
use crate::findings::{Location, Medium, Record};
use crate::journal::{Entry, GateEvent, JournalRecord};
use crate::state::StateDir;
use crossbeam_channel::{Receiver, Sender};
use device::{Disk, Why};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the gate's flag and clean markers live (read by the udev rule).
pub const RUNTIME_DIR: &str = "/run/kensa/gate";
/// How long stopping waits for running gate scans.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Longest `by` and `note` of an override.
const MAX_BY: usize = 128;
const MAX_NOTE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("cannot listen to kernel uevents (AF_NETLINK): {0}")]
    Uevents(std::io::Error),
    #[error("cannot create the control socket {0}: {1}")]
    Socket(String, std::io::Error),
    #[error("cannot start the gate thread: {0}")]
    Thread(std::io::Error),
}

/// The running gate; [`Gate::stop`] ends it.
pub struct Gate {
    stop: Arc<AtomicBool>,
    engine: Arc<Mutex<Arc<Engine>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Gate {
    /// Starts listening; devices that appear from now on are gated.
    pub fn start(setup: GateSetup) -> Result<Gate, GateError> {
        let listener = uevent::Listener::open().map_err(GateError::Uevents)?;
        let socket = control::socket_path(&setup.state);
        let ctl = control::bind(&socket)
            .map_err(|e| GateError::Socket(crate::engine::pathfmt::display(&socket), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let engine = Arc::new(Mutex::new(setup.engine));
        let (tx, rx) = crossbeam_channel::unbounded();
        let core = Core {
            cfg: setup.cfg,
            state: setup.state,
            agent_id: setup.agent_id,
            engine: engine.clone(),
            sink: setup.sink,
            held: BTreeMap::new(),
            judged: HashMap::new(),
            tx: tx.clone(),
            rx,
            generation: 0,
        };
        core.runtime_flag(true);
        core.write_state();
        let mut threads = Vec::new();
        let s = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("kensa-gate".into())
                .spawn(move || core.run(&listener, &s))
                .map_err(GateError::Thread)?,
        );
        let s = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("kensa-gate-ctl".into())
                .spawn(move || serve_control(&ctl, &socket, &tx, &s))
                .map_err(GateError::Thread)?,
        );
        tracing::info!("device gate on: removable and USB block devices are held until judged");
        Ok(Gate {
            stop,
            engine,
            threads,
        })
    }

    /// The engine later gate scans use (after a reload).
    pub fn set_engine(&self, e: Arc<Engine>) {
        *self.engine.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }

    /// Stops the gate: held devices are released (or kept blocked as
    /// configured), each journalled.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Accepts `kensa release` connections until stopped; each request goes to
/// the gate thread, whose answer goes back.
fn serve_control(
    l: &std::os::unix::net::UnixListener,
    socket: &Path,
    tx: &Sender<Msg>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let conn = match l.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => {
                tracing::warn!("gate control socket: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let reply = match control::read_request(&conn, socket) {
            Ok(req) => {
                let (rtx, rrx) = crossbeam_channel::bounded(1);
                if tx.send(Msg::Control(req, rtx)).is_err() {
                    break;
                }
                rrx.recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|_| error_reply("the gate did not answer in time".into()))
            }
            Err(text) => error_reply(text),
        };
        control::answer(&conn, &reply);
    }
    let _ = std::fs::remove_file(socket);
}

fn error_reply(text: String) -> control::Reply {
    control::Reply {
        ok: None,
        error: Some(text),
    }
}

/// Messages to the gate thread.
enum Msg {
    Done {
        name: String,
        generation: u64,
        outcome: Outcome,
    },
    Control(control::Request, Sender<control::Reply>),
}

/// What a gate scan ended with.
#[derive(Debug, Default)]
struct Outcome {
    session: Option<String>,
    findings: u64,
    gaps: u64,
    completed: bool,
    /// The first finding, in words (rule and path).
    first: Option<String>,
    error: Option<String>,
}

impl Outcome {
    fn clean(&self) -> bool {
        self.session.is_some()
            && self.error.is_none()
            && self.completed
            && self.findings == 0
            && self.gaps == 0
    }

    /// Why a medium stays blocked.
    fn reason(&self) -> String {
        if self.findings > 0 {
            let first = self.first.as_deref().unwrap_or("a finding");
            return match self.findings {
                1 => format!("found {first}"),
                n => format!("found {first} and {} more", n - 1),
            };
        }
        if let Some(e) = &self.error {
            return format!("the scan failed: {e}");
        }
        if self.gaps > 0 {
            return format!(
                "incomplete: {} part(s) of the medium could not be checked",
                self.gaps
            );
        }
        "incomplete: the scan did not finish".into()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Scanning,
    Blocked,
}

/// A device the gate holds.
struct Held {
    disk: Disk,
    hold: hold::Hold,
    since: String,
    phase: Phase,
    reason: String,
    session: Option<String>,
    generation: u64,
    cancel: Arc<Cancel>,
    scan: Option<JoinHandle<()>>,
}

struct Core {
    cfg: GateConfig,
    state: StateDir,
    agent_id: String,
    engine: Arc<Mutex<Arc<Engine>>>,
    sink: SharedSink,
    held: BTreeMap<String, Held>,
    /// Devices judged clean (or released by a person), by kernel name,
    /// with the fingerprint of the medium judged.
    judged: HashMap<String, String>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    generation: u64,
}

impl Core {
    fn run(mut self, listener: &uevent::Listener, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            match listener.next(Duration::from_millis(200)) {
                Ok(Some(ev)) => self.uevent(&ev),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("kernel uevents: {e} (events may have been lost)");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            while let Ok(m) = self.rx.try_recv() {
                self.message(m);
            }
        }
        self.shutdown();
    }

    fn message(&mut self, m: Msg) {
        match m {
            Msg::Done {
                name,
                generation,
                outcome,
            } => self.judge(&name, generation, outcome),
            Msg::Control(req, reply) => {
                let r = self.override_release(&req);
                let _ = reply.send(r);
            }
        }
    }

    /// One block-device uevent.
    fn uevent(&mut self, ev: &uevent::Uevent) {
        let name = if ev.devtype == "partition" {
            let mut parts = ev.devpath.rsplit('/');
            parts.next();
            parts.next().unwrap_or("").to_string()
        } else {
            ev.devname.clone()
        };
        if !device::valid_name(&name) {
            return;
        }
        if ev.action == "remove" {
            if ev.devtype != "partition" {
                self.gone(&name, "the medium was removed");
            }
            return;
        }
        if !matches!(ev.action.as_str(), "add" | "change") {
            return;
        }
        let Some(disk) = device::read_disk(&name) else {
            return;
        };
        if disk.size == 0 || (name.starts_with("loop") && disk.backing.is_none()) {
            self.gone(&name, "the medium was removed");
            return;
        }
        let fp = disk.fingerprint();
        if let Some(h) = self.held.get(&name) {
            if h.disk.fingerprint() == fp {
                return;
            }
            self.gone(&name, "another medium took its place");
        }
        if self.judged.get(&name) == Some(&fp) {
            return;
        }
        self.forget(&name);
        if let Some(why) = device::gated(&disk, &self.cfg.devices) {
            self.take(disk, why);
        }
    }

    /// Holds `disk` and starts its scan.
    fn take(&mut self, disk: Disk, why: Why) {
        let node = crate::engine::pathfmt::display(&disk.node);
        let hold = match hold::Hold::open(&disk) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(device = %node, "gate: {e}");
                return;
            }
        };
        let reason = format!("{} device {}", why.word(), disk.describe());
        tracing::info!(device = %node, "gate: held {}; scanning", disk.describe());
        self.journal(&disk, "held", &reason, None, None);
        notify::send_all(
            "kensa: medium held".into(),
            format!(
                "{} is being scanned; it cannot be opened until it is judged.",
                disk.describe()
            ),
        );
        self.generation += 1;
        let cancel = Cancel::new();
        let scan = self.start_scan(&disk, self.generation, cancel.clone());
        self.held.insert(
            disk.name.clone(),
            Held {
                disk,
                hold,
                since: crate::findings::now_rfc3339(),
                phase: Phase::Scanning,
                reason,
                session: None,
                generation: self.generation,
                cancel,
                scan,
            },
        );
        self.write_state();
    }

    fn start_scan(
        &self,
        disk: &Disk,
        generation: u64,
        cancel: Arc<Cancel>,
    ) -> Option<JoinHandle<()>> {
        let spec = SessionSpec {
            paths: vec![disk.node.clone()],
            base: None,
            location: Location::Removable,
            medium: Some(medium_of(disk)),
            agent: Some(self.agent_id.clone()),
        };
        let engine = self
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let sink = GateSink {
            inner: self.sink.clone(),
            outcome: Outcome::default(),
        };
        let tx = self.tx.clone();
        let name = disk.name.clone();
        let spawned = std::thread::Builder::new()
            .name("kensa-gate-scan".into())
            .spawn(move || {
                let outcome = sink.scan(&engine, &spec, &cancel);
                let _ = tx.send(Msg::Done {
                    name,
                    generation,
                    outcome,
                });
            });
        match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                // No scan: the device stays held; the done message says why.
                let _ = self.tx.send(Msg::Done {
                    name: disk.name.clone(),
                    generation,
                    outcome: Outcome {
                        error: Some(format!("cannot start the scan: {e}")),
                        ..Outcome::default()
                    },
                });
                None
            }
        }
    }

    /// A gate scan ended: release a clean medium, block any other.
    fn judge(&mut self, name: &str, generation: u64, outcome: Outcome) {
        let Some(h) = self
            .held
            .get_mut(name)
            .filter(|h| h.generation == generation)
        else {
            return;
        };
        if let Some(t) = h.scan.take() {
            let _ = t.join();
        }
        h.session = outcome.session.clone();
        if outcome.clean() {
            self.let_go(name, "clean: read completely, nothing found", None);
            return;
        }
        h.phase = Phase::Blocked;
        h.reason = outcome.reason();
        let (disk, reason, session) = (h.disk.clone(), h.reason.clone(), h.session.clone());
        let node = crate::engine::pathfmt::display(&disk.node);
        tracing::warn!(device = %node, "gate: {} stays blocked: {reason}", disk.describe());
        self.journal(&disk, "blocked", &reason, session, None);
        notify::send_all(
            "kensa: medium blocked".into(),
            format!(
                "{} stays blocked: {reason}. Ask the person responsible (kensa release).",
                disk.describe()
            ),
        );
        self.write_state();
    }

    /// Releases a held device (judged clean, or overridden by `by`):
    /// closes it, marks it clean for udev, then mounts it read-only or
    /// re-triggers udev.
    fn let_go(&mut self, name: &str, reason: &str, by: Option<(&str, &str)>) {
        let Some(h) = self.held.remove(name) else {
            return;
        };
        h.cancel.stop(StopReason::Shutdown);
        let layout = if self.cfg.mount {
            let engine = self
                .engine
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            crate::disk::probe(&h.hold.file, &engine.options().disk).ok()
        } else {
            None
        };
        let Held {
            disk,
            hold,
            session,
            ..
        } = h;
        drop(hold);
        self.judged.insert(name.to_string(), disk.fingerprint());
        self.clean_marker(name, true);
        if let Some((who, note)) = by {
            self.journal(
                &disk,
                "overridden",
                reason,
                session.clone(),
                Some((who, note)),
            );
        }
        if self.cfg.mount {
            self.mount(&disk, layout.as_ref(), reason, session);
        } else {
            let node = crate::engine::pathfmt::display(&disk.node);
            if let Err(e) = device::retrigger(name) {
                tracing::warn!(device = %node, "gate: cannot ask udev to take the medium: {e}");
            }
            tracing::info!(device = %node, "gate: released {}: {reason}", disk.describe());
            self.journal(&disk, "released", reason, session, None);
        }
        notify::send_all(
            "kensa: medium released".into(),
            format!("{}: {reason}. It can be used now.", disk.describe()),
        );
        self.write_state();
    }

    /// `gate.mount`: mounts a released disk's volumes read-only below the
    /// media root and journals where (or that none could be).
    fn mount(
        &self,
        disk: &Disk,
        layout: Option<&crate::disk::Layout>,
        reason: &str,
        session: Option<String>,
    ) {
        let mounts = hold::mount_volumes(disk, layout, &self.cfg.media_root);
        let at: Vec<String> = mounts
            .iter()
            .map(|m| {
                let target = crate::engine::pathfmt::display(&m.target);
                format!("{target} ({})", m.fstype)
            })
            .collect();
        let (action, why) = if at.is_empty() {
            ("released", format!("{reason}; no volume could be mounted"))
        } else {
            let list = at.join(", ");
            ("mounted", format!("{reason}; mounted read-only at {list}"))
        };
        let node = crate::engine::pathfmt::display(&disk.node);
        tracing::info!(device = %node, "gate: {why}");
        self.journal(disk, action, &why, session, None);
    }

    /// `kensa release`: a named person lets a held device go.
    fn override_release(&mut self, req: &control::Request) -> control::Reply {
        let name = req.release.trim_start_matches("/dev/").to_string();
        let by: String = req.by.chars().take(MAX_BY).collect();
        let note: String = req.note.chars().take(MAX_NOTE).collect();
        if by.trim().is_empty() {
            return error_reply("--by must name who releases the device".into());
        }
        if !self.held.contains_key(&name) {
            let held: Vec<String> = self
                .held
                .values()
                .map(|h| crate::engine::pathfmt::display(&h.disk.node))
                .collect();
            let shown = crate::engine::pathfmt::bytes_to_string(req.release.as_bytes());
            return error_reply(if held.is_empty() {
                format!("{shown} is not held by the gate (nothing is held)")
            } else {
                format!(
                    "{shown} is not held by the gate (held: {})",
                    held.join(", ")
                )
            });
        }
        let previous = self
            .held
            .get(&name)
            .map(|h| h.reason.clone())
            .unwrap_or_default();
        let reason = format!("released by {by} over: {previous}");
        self.let_go(&name, &reason, Some((&by, &note)));
        control::Reply {
            ok: Some(format!("released /dev/{name}")),
            error: None,
        }
    }

    /// A held or judged device is gone (removed, detached, replaced).
    fn gone(&mut self, name: &str, reason: &str) {
        if let Some(h) = self.held.remove(name) {
            h.cancel.stop(StopReason::MediaRemoved);
            let Held {
                disk,
                hold,
                session,
                ..
            } = h;
            drop(hold);
            self.journal(&disk, "released", reason, session, None);
            self.write_state();
        }
        self.forget(name);
    }

    fn forget(&mut self, name: &str) {
        if self.judged.remove(name).is_some() {
            self.clean_marker(name, false);
        }
    }

    /// On stop: every held device is released, or with
    /// `keep_blocked_on_stop` a USB one is deauthorised.
    fn shutdown(&mut self) {
        for h in self.held.values() {
            h.cancel.stop(StopReason::Shutdown);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline
            && self
                .held
                .values()
                .any(|h| h.scan.as_ref().is_some_and(|t| !t.is_finished()))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let names: Vec<String> = self.held.keys().cloned().collect();
        for name in names {
            let Some(h) = self.held.remove(&name) else {
                continue;
            };
            let Held {
                disk,
                hold,
                session,
                ..
            } = h;
            let (action, reason) = self.stop_verdict(&disk);
            drop(hold);
            tracing::info!(device = %crate::engine::pathfmt::display(&disk.node), "gate: {reason}");
            self.journal(&disk, action, &reason, session, None);
        }
        let _ = std::fs::remove_file(state::path(&self.state));
        self.runtime_flag(false);
    }

    fn stop_verdict(&self, disk: &Disk) -> (&'static str, String) {
        if !self.cfg.keep_blocked_on_stop {
            return ("released", "the agent stopped".into());
        }
        match hold::deauthorise(disk) {
            Some(Ok(usb)) => (
                "blocked",
                format!(
                    "the agent stopped; USB device {} deauthorised until it is plugged in again",
                    crate::engine::pathfmt::display(&usb)
                ),
            ),
            Some(Err(e)) => (
                "released",
                format!("the agent stopped; the USB device could not be deauthorised: {e}"),
            ),
            None => (
                "released",
                "the agent stopped; not a USB device, so nothing can keep it blocked".into(),
            ),
        }
    }

    /// Appends a `gate` record (through the journal's inbox, drained at once).
    fn journal(
        &self,
        disk: &Disk,
        action: &str,
        reason: &str,
        session: Option<String>,
        by: Option<(&str, &str)>,
    ) {
        let rec = GateEvent {
            v: crate::findings::SCHEMA_VERSION,
            time: crate::findings::now_rfc3339(),
            device: crate::engine::pathfmt::display(&disk.node),
            action: action.into(),
            reason: reason.into(),
            session,
            by: by.map(|b| b.0.to_string()),
            note: by.map(|b| b.1.to_string()),
        };
        let dir = self.state.journal_dir();
        if let Err(e) = crate::journal::queue(&dir, &Entry::Journal(JournalRecord::Gate(rec))) {
            tracing::error!("gate record not journalled: {e}");
            return;
        }
        let mut s = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = s.flush_queued() {
            tracing::error!("gate record queued, not yet journalled: {e}");
        }
    }

    fn write_state(&self) {
        let devices: Vec<state::HeldDevice> = self
            .held
            .values()
            .map(|h| state::HeldDevice {
                device: crate::engine::pathfmt::display(&h.disk.node),
                description: h.disk.describe(),
                since: h.since.clone(),
                state: match h.phase {
                    Phase::Scanning => "scanning".into(),
                    Phase::Blocked => "blocked".into(),
                },
                reason: h.reason.clone(),
                session: h.session.clone(),
                size: h.disk.size,
                serial: h.disk.serial.clone(),
            })
            .collect();
        if let Err(e) = state::write(&state::path(&self.state), &devices) {
            tracing::warn!("cannot write the gate state: {e}");
        }
    }

    fn runtime_flag(&self, on: bool) {
        let flag = Path::new(RUNTIME_DIR).join("on");
        let r = if on {
            std::fs::create_dir_all(RUNTIME_DIR).and_then(|()| std::fs::write(&flag, b""))
        } else {
            std::fs::remove_file(&flag)
        };
        if let Err(e) = r {
            tracing::debug!("gate flag {}: {e}", flag.display());
        }
    }

    fn clean_marker(&self, name: &str, clean: bool) {
        let dir = PathBuf::from(RUNTIME_DIR).join("clean");
        let marker = dir.join(name);
        let r = if clean {
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&marker, b""))
        } else {
            std::fs::remove_file(&marker)
        };
        if let Err(e) = r {
            tracing::debug!("gate marker {}: {e}", marker.display());
        }
    }
}

/// The medium identity of a gated disk, from sysfs.
fn medium_of(disk: &Disk) -> Medium {
    Medium {
        mount_point: crate::engine::pathfmt::display(&disk.node),
        device: Some(crate::engine::pathfmt::display(&disk.node)),
        filesystem: None,
        label: None,
        uuid: None,
        serial: disk.serial.clone(),
        capacity: Some(disk.size),
        removable: true,
        detected_by: "gate".into(),
    }
}

/// The sink of a gate scan: every record goes to the agent's sink; the
/// first finding is kept for the verdict's words.
struct GateSink {
    inner: SharedSink,
    outcome: Outcome,
}

impl GateSink {
    /// Runs the session; what it ended with.
    fn scan(mut self, engine: &Engine, spec: &SessionSpec, cancel: &Cancel) -> Outcome {
        match engine.scan(spec, &mut self, cancel) {
            Ok(sum) => {
                self.outcome.session = Some(sum.session.clone());
                self.outcome.findings = sum.findings;
                self.outcome.gaps = sum.gaps;
                self.outcome.completed = sum.completed;
            }
            Err(e) => self.outcome.error = Some(e.to_string()),
        }
        self.outcome
    }
}

impl RecordSink for GateSink {
    fn record(&mut self, rec: Record) -> std::io::Result<()> {
        match &rec {
            Record::Session(s) => self.outcome.session = Some(s.id.clone()),
            Record::Finding(f) if self.outcome.first.is_none() => {
                let rule = f
                    .matches
                    .first()
                    .map(|m| m.rule.as_str())
                    .unwrap_or("a rule");
                self.outcome.first = Some(format!("{rule} in {}", f.path));
                tracing::warn!(path = %crate::output::sanitize(&f.path), rule, "gate: detection");
            }
            _ => {}
        }
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        s.record(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_record_passes_the_collectors_strict_check() {
        let rec = GateEvent {
            v: crate::findings::SCHEMA_VERSION,
            time: crate::findings::now_rfc3339(),
            device: "/dev/sdb".into(),
            action: "overridden".into(),
            reason: "released by A over: found EICAR in x".into(),
            session: Some("s".into()),
            by: Some("A".into()),
            note: Some("checked by hand".into()),
        };
        let body =
            serde_json::to_string(&Entry::Journal(JournalRecord::Gate(rec.clone()))).unwrap();
        let line = format!("{{\"seq\":7,\"prev\":\"x\",{}", &body[1..]);
        match crate::collector::validate::record(7, line.as_bytes()).unwrap() {
            Entry::Journal(JournalRecord::Gate(back)) => assert_eq!(back, rec),
            other => panic!("{other:?}"),
        }
        let extra = line.replace("\"by\"", "\"who\":\"x\",\"by\"");
        assert!(crate::collector::validate::record(7, extra.as_bytes()).is_err());
    }

    #[test]
    fn verdicts_follow_the_session_only() {
        let clean = Outcome {
            session: Some("s".into()),
            completed: true,
            ..Outcome::default()
        };
        assert!(clean.clean());
        let gap = Outcome {
            gaps: 1,
            ..clean_copy(&clean)
        };
        assert!(!gap.clean());
        assert!(gap.reason().starts_with("incomplete"));
        let cut = Outcome {
            completed: false,
            ..clean_copy(&clean)
        };
        assert!(!cut.clean());
        let found = Outcome {
            findings: 2,
            first: Some("EICAR in /x".into()),
            ..clean_copy(&clean)
        };
        assert_eq!(found.reason(), "found EICAR in /x and 1 more");
        assert!(!Outcome::default().clean());
    }

    fn clean_copy(o: &Outcome) -> Outcome {
        Outcome {
            session: o.session.clone(),
            completed: o.completed,
            ..Outcome::default()
        }
    }
}
