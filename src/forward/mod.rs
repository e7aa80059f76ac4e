//! `kensa forward`: sending the findings and scan sessions a collector holds
//! to a SIEM, each once per destination. [`forward`] walks every agent's
//! stored lines past the destination's cursor (a per-agent seq kept in the
//! collector database, `forward_cursors`), turns each finding, session
//! start and session summary into one event of the chosen [`Format`]
//! (`ocsf`: OCSF 1.8.0 Detection Finding and Scan Activity; `ecs`: Elastic
//! Common Schema documents for the bulk API), hands them to a
//! [`Destination`] in batches, and moves the cursor only after the
//! destination accepted a batch (a file: written and fsynced; stdout:
//! flushed; syslog: sent). Delivery is at least once: a crash between the
//! write and the cursor update sends that batch again, so every event
//! carries a stable id (`<agent>-<seq>`: OCSF `metadata.uid`, the ECS
//! bulk `_id` of a `create`, which Elasticsearch refuses to index twice).
//! `ocsf` and `ecs` build the events from a record and what the collector
//! knows about its session and triage; `dest` holds the destinations (a
//! file, stdout, syslog); `syslog` frames and sends RFC 5424 messages
//! (also used by the agent's live `[syslog]` sink).

mod dest;
pub mod ecs;
pub mod ocsf;
pub mod syslog;

pub use dest::{FileOut, StdoutOut, SyslogOut};

use crate::collector::backend::{SessionRow, TriageRow};
use crate::collector::derived::decode;
use crate::collector::{Store, StoreError};
use crate::findings::taxonomy::{Cause, Classification, Event as NiscEvent};
use crate::findings::{Location, Medium, Record, Verdict};
use std::collections::HashMap;

/// Stored lines read, encoded and sent at once; the cursor moves after
/// each batch. Lines are at most 1 MiB (`journal::MAX_LINE`), so a batch
/// holds at most 128 MiB of them, and usually a few hundred KiB.
pub const BATCH: usize = 128;

/// The product name every event carries.
pub const PRODUCT: &str = "kensa";

/// The event format sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// OCSF 1.8.0: Detection Finding (2004) per finding, Scan Activity
    /// (6007) per session start and end; one JSON object per line.
    Ocsf,
    /// Elastic Common Schema: NDJSON for Elasticsearch's bulk API (a
    /// `create` action line before each document).
    Ecs,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ocsf => "ocsf",
            Format::Ecs => "ecs",
        }
    }
}

/// Errors while forwarding.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Syslog(#[from] syslog::SyslogError),
    #[error("writing to {what}")]
    Write {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A scan session as the collector holds its start.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionInfo {
    pub time: String,
    pub host: String,
    pub location: Location,
    pub medium: Option<Medium>,
}

impl SessionInfo {
    fn from_row(row: SessionRow) -> SessionInfo {
        SessionInfo {
            location: serde_json::from_str(&row.location).unwrap_or_default(),
            medium: row.medium.and_then(|m| serde_json::from_str(&m).ok()),
            time: row.time,
            host: row.host,
        }
    }
}

/// An analyst's latest decision on the incident a finding belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct TriageInfo {
    pub classification: Classification,
    pub false_positive: bool,
    pub by: String,
    pub time: String,
}

impl TriageInfo {
    /// `None` (with a warning) when the stored row does not parse.
    fn from_row(row: &TriageRow) -> Option<TriageInfo> {
        let event: Result<NiscEvent, _> = row.event.parse();
        let causes: Result<Vec<Cause>, _> = serde_json::from_str(&row.causes);
        match (event, causes) {
            (Ok(event), Ok(causes)) => Some(TriageInfo {
                classification: Classification { event, causes },
                false_positive: row.false_positive,
                by: row.by.clone(),
                time: row.time.clone(),
            }),
            _ => {
                tracing::warn!(row = row.id, "unreadable triage row left out of the event");
                None
            }
        }
    }
}

/// One stored record to send, with what the collector knows around it.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub agent: &'a str,
    /// The name the agent is trusted under.
    pub agent_name: Option<&'a str>,
    pub seq: u64,
    pub record: &'a Record,
    /// The session start held for the record's session.
    pub session: Option<&'a SessionInfo>,
    /// The incident's latest triage (findings only).
    pub triage: Option<&'a TriageInfo>,
}

impl Item<'_> {
    /// The event's stable id: `<agent>-<seq>`.
    pub fn uid(&self) -> String {
        format!("{}-{}", self.agent, self.seq)
    }

    /// The NISC classification in force: the triage's, else the finding's
    /// own (from the classification policy), with where it came from.
    pub fn classification(&self) -> Option<(&Classification, &'static str)> {
        if let Some(t) = self.triage {
            return Some((&t.classification, "triage"));
        }
        match self.record {
            Record::Finding(f) => f.taxonomy.as_ref().map(|c| (c, "policy")),
            _ => None,
        }
    }

    /// The host the record was made on, from its session.
    pub fn host(&self) -> Option<&str> {
        match self.record {
            Record::Session(s) => Some(s.host.as_str()),
            _ => self.session.map(|s| s.host.as_str()),
        }
    }

    /// The medium the record was made on, from its session.
    pub fn medium(&self) -> Option<&Medium> {
        match self.record {
            Record::Session(s) => s.medium.as_ref(),
            _ => self.session.and_then(|s| s.medium.as_ref()),
        }
    }
}

/// What kind of record an event stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Finding(Verdict),
    ScanStarted,
    /// A session summary: whether the scan completed.
    ScanEnded {
        completed: bool,
    },
}

impl Kind {
    /// A short name (syslog MSGID, counters).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Finding(_) => "finding",
            Kind::ScanStarted => "scan-start",
            Kind::ScanEnded { .. } => "scan-end",
        }
    }
}

/// One encoded event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// `<agent>-<seq>`.
    pub uid: String,
    pub kind: Kind,
    /// The record's own time (RFC 3339).
    pub time: String,
    pub host: Option<String>,
    /// Syslog structured data: seq, agent, session, and for a finding what
    /// the agent's live syslog messages carry.
    pub params: Vec<(String, String)>,
    /// The document in the chosen format.
    pub doc: serde_json::Value,
}

impl Event {
    /// The event as NDJSON text: for ECS the bulk `create` action line
    /// first, then the document; each line ends in `\n`.
    pub fn ndjson(&self, format: Format) -> String {
        let doc = self.doc.to_string();
        match format {
            Format::Ocsf => doc + "\n",
            Format::Ecs => format!("{}\n{doc}\n", ecs::action(&self.uid)),
        }
    }
}

/// Encodes one item; `None` for a record kind that is not forwarded or a
/// record whose time does not parse (with a warning).
pub fn encode(item: &Item<'_>, format: Format) -> Option<Event> {
    let kind = match item.record {
        Record::Finding(f) => Kind::Finding(f.verdict),
        Record::Session(_) => Kind::ScanStarted,
        Record::Summary(s) => Kind::ScanEnded {
            completed: s.completed,
        },
        Record::Skip(_) => return None,
    };
    let doc = match format {
        Format::Ocsf => ocsf::event(item),
        Format::Ecs => ecs::document(item),
    };
    let Some(doc) = doc else {
        tracing::warn!(
            agent = item.agent,
            seq = item.seq,
            "record with an unreadable time not forwarded"
        );
        return None;
    };
    Some(Event {
        uid: item.uid(),
        kind,
        time: record_time(item.record).to_string(),
        host: item.host().map(str::to_string),
        params: params(item),
        doc,
    })
}

/// A record's own time.
pub fn record_time(r: &Record) -> &str {
    match r {
        Record::Session(s) => &s.time,
        Record::Finding(f) => &f.time,
        Record::Skip(s) => &s.time,
        Record::Summary(s) => &s.time,
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 time.
pub fn epoch_ms(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The syslog structured data of an item: for a finding the parameters
/// the agent's live messages carry (`syslog::finding_message`, with the
/// session's host and medium), for a session start or end its session.
/// The seq comes first (the destination adds uid and format before it).
fn params(item: &Item<'_>) -> Vec<(String, String)> {
    let mut p = vec![("seq".to_string(), item.seq.to_string())];
    match item.record {
        Record::Finding(f) => {
            let m = syslog::finding_message(f, item.agent)
                .with_origin(item.host().unwrap_or(""), item.medium());
            p.extend(m.structured);
        }
        Record::Session(s) => {
            p.push(("agent".to_string(), item.agent.to_string()));
            p.push(("session".to_string(), s.id.clone()));
        }
        Record::Summary(s) => {
            p.push(("agent".to_string(), item.agent.to_string()));
            p.push(("session".to_string(), s.session.clone()));
        }
        Record::Skip(_) => {}
    }
    p
}

pub fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Malicious => "malicious",
        Verdict::Suspicious => "suspicious",
    }
}

/// Where events go. `send` returns only once the destination accepted the
/// whole batch; the cursor moves after that.
pub trait Destination {
    /// The cursor's name in the database: format and place, e.g.
    /// `ocsf file:/var/siem/kensa.json`.
    fn key(&self) -> &str;
    fn send(&mut self, events: &[Event]) -> Result<(), ForwardError>;
}

/// What one run sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub findings: u64,
    pub sessions: u64,
    pub summaries: u64,
    /// Agents that had something new for this destination.
    pub agents: usize,
    /// Stored lines that were not sent (unreadable, or an unreadable time).
    pub left_out: u64,
}

impl Outcome {
    pub fn sent(&self) -> u64 {
        self.findings + self.sessions + self.summaries
    }

    fn count(&mut self, kind: Kind) {
        match kind {
            Kind::Finding(_) => self.findings += 1,
            Kind::ScanStarted => self.sessions += 1,
            Kind::ScanEnded { .. } => self.summaries += 1,
        }
    }
}

/// Sends every finding, session start and summary held that `dest` has
/// not had yet (with `all`, everything held), in `format`, and moves the
/// destination's cursors as batches are accepted.
pub fn forward(
    store: &Store,
    format: Format,
    dest: &mut dyn Destination,
    all: bool,
) -> Result<Outcome, ForwardError> {
    let b = store.backend();
    let key = dest.key().to_string();
    let cursors: HashMap<String, u64> = if all {
        HashMap::new()
    } else {
        b.forward_cursors(&key)?
            .into_iter()
            .map(|c| (c.agent, c.seq))
            .collect()
    };
    let names: HashMap<String, String> = b
        .trust_list()?
        .into_iter()
        .filter_map(|k| Some((k.agent, k.name?)))
        .collect();
    let mut outcome = Outcome::default();
    for held in b.forward_agents()? {
        let after = cursors.get(&held.agent).copied().unwrap_or(0);
        if after >= held.seq {
            continue;
        }
        let agent = AgentRun {
            store,
            format,
            key: &key,
            agent: &held.agent,
            name: names.get(&held.agent).map(String::as_str),
        };
        let before = outcome.sent();
        agent.run(dest, after, held.seq, &mut outcome)?;
        if outcome.sent() > before {
            outcome.agents += 1;
        }
    }
    Ok(outcome)
}

/// Forwarding one agent's lines.
struct AgentRun<'a> {
    store: &'a Store,
    format: Format,
    key: &'a str,
    agent: &'a str,
    name: Option<&'a str>,
}

impl AgentRun<'_> {
    /// Sends the agent's lines in `(after, upto]`, batch by batch.
    fn run(
        &self,
        dest: &mut dyn Destination,
        mut after: u64,
        upto: u64,
        outcome: &mut Outcome,
    ) -> Result<(), ForwardError> {
        let b = self.store.backend();
        while after < upto {
            let rows = b.forward_lines(self.agent, after, upto, BATCH)?;
            let reached = match rows.last() {
                Some(r) if rows.len() == BATCH => r.seq,
                _ => upto,
            };
            let records: Vec<(u64, Option<Record>)> = rows
                .iter()
                .map(|r| (r.seq, decode(self.agent, r.seq, &r.line)))
                .collect();
            let events = self.encode(&records, outcome)?;
            if !events.is_empty() {
                dest.send(&events)?;
            }
            for e in &events {
                outcome.count(e.kind);
            }
            b.forward_advance(self.key, self.agent, reached)?;
            after = reached;
        }
        Ok(())
    }

    /// The batch's events, with each session's start and triage looked up
    /// once.
    fn encode(
        &self,
        records: &[(u64, Option<Record>)],
        outcome: &mut Outcome,
    ) -> Result<Vec<Event>, ForwardError> {
        let b = self.store.backend();
        let mut sessions: HashMap<&str, Option<SessionInfo>> = HashMap::new();
        let mut triage: HashMap<&str, Option<TriageInfo>> = HashMap::new();
        for (_, r) in records {
            let Some(id) = r.as_ref().and_then(session_of) else {
                continue;
            };
            if !sessions.contains_key(id) {
                let row = b.session_row(self.agent, id)?;
                sessions.insert(id, row.map(SessionInfo::from_row));
            }
            if matches!(r, Some(Record::Finding(_))) && !triage.contains_key(id) {
                let last = b.triage_history(self.agent, id)?.pop();
                triage.insert(id, last.as_ref().and_then(TriageInfo::from_row));
            }
        }
        let mut out = Vec::with_capacity(records.len());
        for (seq, r) in records {
            let Some(record) = r else {
                outcome.left_out += 1;
                continue;
            };
            let id = session_of(record);
            let item = Item {
                agent: self.agent,
                agent_name: self.name,
                seq: *seq,
                record,
                session: id.and_then(|i| sessions.get(i)).and_then(Option::as_ref),
                triage: id.and_then(|i| triage.get(i)).and_then(Option::as_ref),
            };
            match encode(&item, self.format) {
                Some(e) => out.push(e),
                None => outcome.left_out += 1,
            }
        }
        Ok(out)
    }
}

fn session_of(r: &Record) -> Option<&str> {
    match r {
        Record::Session(s) => Some(&s.id),
        Record::Finding(f) => Some(&f.session),
        Record::Summary(s) => Some(&s.session),
        Record::Skip(_) => None,
    }
}

/// The last path component of a displayed path (an archive member's
/// innermost name), for `file.name`.
pub fn file_name(path: &str, chain: &[String]) -> String {
    let last = chain.last().map_or(path, String::as_str);
    let last = last.rsplit(" → ").next().unwrap_or(last);
    let name = last.rsplit(['/', '\\']).next().unwrap_or(last);
    if name.is_empty() {
        last.to_string()
    } else {
        name.to_string()
    }
}

/// A string from rule metadata, the first of `keys` that is a non-empty
/// string in any match.
pub fn meta_text<'a>(matches: &'a [crate::findings::Match], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| {
        matches.iter().find_map(|m| {
            m.meta
                .get(*k)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        })
    })
}

/// Rule metadata keys that name the malware a rule detects (ReversingLabs
/// writes `malware` and `tc_detection_name`).
pub const MALWARE_NAME_KEYS: &[&str] = &["malware", "malware_family", "tc_detection_name"];
/// Rule metadata keys that name its kind (`Ransomware`, `Trojan`, ...).
pub const MALWARE_TYPE_KEYS: &[&str] = &["malware_type", "tc_detection_type"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_of_paths_and_members() {
        assert_eq!(file_name("/media/x/a.exe", &[]), "a.exe");
        let chain = vec!["/m/t.zip".to_string(), "dir/in.exe".to_string()];
        assert_eq!(file_name("/m/t.zip → dir/in.exe", &chain), "in.exe");
        assert_eq!(file_name("C:\\x\\y.dll", &[]), "y.dll");
        assert_eq!(file_name("/", &[]), "/");
    }

    #[test]
    fn epoch_ms_of_rfc3339() {
        assert_eq!(epoch_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(
            epoch_ms("2026-01-01T09:00:00+09:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(epoch_ms("yesterday"), None);
    }
}
