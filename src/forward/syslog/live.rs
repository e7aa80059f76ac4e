//! The agent's live syslog sink: each finding, once journalled, becomes a
//! message on a bounded queue that one sender thread drains, so a scan
//! never waits for syslog. When the queue is full or the receiver does not
//! answer, messages are dropped and counted (the journal keeps every
//! finding; `kensa forward` can send them later from a collector), and the
//! count is logged: when syslog fails, when it answers again, at most once
//! a minute in between, and at stop. After a failure the thread tries the
//! socket again at most every [`RETRY_AFTER`].

use super::{finding_message, Facility, Message, Sender, SyslogError, Target};
use crate::findings::{Medium, Record};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages waiting to be sent at most (each at most 8000 bytes).
pub const QUEUE: usize = 1024;
/// After a failed connect or send, messages are dropped without trying
/// for this long.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How often at most the drop count is logged while drops go on.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// How long `stop` waits for the queue to drain.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Sessions remembered for their host and medium (a session whose summary
/// never comes is forgotten past this).
const MAX_SESSIONS: usize = 256;

/// Sends the findings of journalled records to syslog as they come.
pub struct LiveSink {
    tx: Option<crossbeam_channel::Sender<Message>>,
    handle: Option<JoinHandle<()>>,
    counts: Arc<Counts>,
    target: Target,
    agent: String,
    own_host: String,
    facility: Facility,
    /// Host and medium by session id, for the findings of the session.
    sessions: HashMap<String, (String, Option<Medium>)>,
}

/// What the sender thread did, shared with the sink.
#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    dropped: AtomicU64,
    /// Dropped since the count was last logged.
    unreported: AtomicU64,
}

impl Counts {
    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.unreported.fetch_add(1, Ordering::Relaxed);
    }
}

impl LiveSink {
    /// Starts the sender thread for `target`, tries the socket once and
    /// logs the outcome (a receiver that is down is not an error: messages
    /// are dropped and counted until it answers).
    pub fn start(target: Target, facility: Facility, agent: &str) -> std::io::Result<LiveSink> {
        let sender = match Sender::connect(&target) {
            Ok(s) => {
                tracing::info!(target: crate::logging::SERVICE, "syslog: sending findings to {target} (facility {facility})");
                Some(s)
            }
            Err(e) => {
                tracing::warn!("syslog: {e}; findings are sent once it answers");
                None
            }
        };
        let counts = Arc::new(Counts::default());
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let worker = Worker {
            target: target.clone(),
            sender,
            last_failure: None,
            failing: false,
            last_report: Instant::now(),
            counts: counts.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("kensa-syslog".into())
            .spawn(move || worker.run(rx))?;
        Ok(LiveSink {
            tx: Some(tx),
            handle: Some(handle),
            counts,
            target,
            agent: agent.to_string(),
            own_host: crate::system::host_name(),
            facility,
            sessions: HashMap::new(),
        })
    }

    /// Takes one journalled record: a finding is queued as a message (the
    /// host and medium from its session's record), a session is
    /// remembered until its summary.
    pub fn record(&mut self, rec: &Record) {
        match rec {
            Record::Session(s) => {
                if self.sessions.len() >= MAX_SESSIONS {
                    self.sessions.clear();
                }
                self.sessions
                    .insert(s.id.clone(), (s.host.clone(), s.medium.clone()));
            }
            Record::Summary(s) => {
                self.sessions.remove(&s.session);
            }
            Record::Finding(f) => {
                let m = finding_message(f, &self.agent);
                let mut m = match self.sessions.get(&f.session) {
                    Some((host, medium)) => m.with_origin(host, medium.as_ref()),
                    None => m.with_origin(&self.own_host, None),
                };
                m.facility = self.facility;
                self.offer(m);
            }
            Record::Skip(_) => {}
        }
    }

    /// Queues a message, or drops and counts it when the queue is full.
    pub fn offer(&self, m: Message) {
        let queued = self.tx.as_ref().is_some_and(|tx| tx.try_send(m).is_ok());
        if !queued {
            self.counts.drop_one();
        }
    }

    /// Messages sent and dropped so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.sent.load(Ordering::Relaxed),
            self.counts.dropped.load(Ordering::Relaxed),
        )
    }

    /// Sends what is queued (waiting at most a few seconds), stops the
    /// thread and logs what was dropped.
    pub fn stop(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        drop(tx);
        let deadline = Instant::now() + STOP_GRACE;
        if let Some(h) = self.handle.take() {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                tracing::warn!(
                    "syslog: {} did not take the last queued findings within {STOP_GRACE:?}",
                    self.target
                );
            }
        }
    }
}

impl Drop for LiveSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The sender thread's state.
struct Worker {
    target: Target,
    sender: Option<Sender>,
    last_failure: Option<Instant>,
    /// Whether the last attempt failed (and that was logged).
    failing: bool,
    last_report: Instant,
    counts: Arc<Counts>,
}

impl Worker {
    fn run(mut self, rx: crossbeam_channel::Receiver<Message>) {
        while let Ok(m) = rx.recv() {
            self.deliver(&m);
            self.report_drops(false);
        }
        self.report_drops(true);
    }

    fn deliver(&mut self, m: &Message) {
        if self.sender.is_none() {
            if self.last_failure.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
                self.counts.drop_one();
                return;
            }
            match Sender::connect(&self.target) {
                Ok(s) => self.sender = Some(s),
                Err(e) => return self.failed(&e),
            }
        }
        let Some(sender) = self.sender.as_mut() else {
            return;
        };
        match sender.send(m) {
            Ok(()) => {
                self.counts.sent.fetch_add(1, Ordering::Relaxed);
                if self.failing {
                    self.failing = false;
                    tracing::warn!("syslog: {} answers again", self.target);
                    self.report_drops(true);
                }
            }
            Err(e) => {
                self.sender = None;
                self.failed(&e);
            }
        }
    }

    /// A message could not be sent: dropped, counted, and the failure
    /// logged when it starts.
    fn failed(&mut self, e: &SyslogError) {
        self.counts.drop_one();
        self.last_failure = Some(Instant::now());
        if !self.failing {
            self.failing = true;
            tracing::warn!(
                "syslog: {e}; findings are dropped (and counted) until it answers again, \
                 tried at most every {} s; the journal keeps them all",
                RETRY_AFTER.as_secs()
            );
        }
    }

    /// Logs the messages dropped since the last report: at once when
    /// `now`, else at most every [`REPORT_EVERY`].
    fn report_drops(&mut self, now: bool) {
        if !now && self.last_report.elapsed() < REPORT_EVERY {
            return;
        }
        let n = self.counts.unreported.swap(0, Ordering::Relaxed);
        self.last_report = Instant::now();
        if n > 0 {
            tracing::warn!(
                dropped = n,
                "syslog: {n} finding message(s) for {} dropped (queue full or syslog not answering)",
                self.target
            );
        }
    }
}
