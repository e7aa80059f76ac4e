//! Incidents and triage over the collector's SQLite store. An incident is a
//! scan session (agent + session id) with at least one finding: one stick
//! with 40 infected files is one incident. Its automatic classification comes
//! from the findings' policy taxonomy; an analyst's triage (event, causes,
//! false positive, note, who, when) overrides it. Triage is an append-only
//! history: the latest row wins and nothing is erased. This module reads the
//! `records` table (owned by the import code) and owns the `triage` table.

use crate::findings::policy::{classify, PolicyConfig};
use crate::findings::taxonomy::{Cause, Classification, Event};
use crate::findings::{now_rfc3339, Finding, Location, Medium, Record, Session};
use crate::report::ReportIncident;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Version of the triage table layout.
pub const TRIAGE_SCHEMA_VERSION: i64 = 1;
/// Shortest id prefix accepted on the command line.
pub const MIN_PREFIX: usize = 4;
/// Length of the displayed incident id (more if two would collide).
pub const ID_LEN: usize = 12;
/// Longest triage note or analyst name accepted, in bytes.
pub const MAX_TEXT: usize = 4096;
/// Longest journal line parsed, in bytes; longer lines are skipped.
pub const MAX_LINE: usize = 1 << 20;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_versions(component TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS triage(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    session TEXT NOT NULL,
    event TEXT NOT NULL,
    causes TEXT NOT NULL,
    false_positive INTEGER NOT NULL,
    note TEXT,
    by TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS triage_incident ON triage(agent, session);
";

/// What can go wrong with incidents and triage.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("no records have been imported yet (the records table does not exist)")]
    NoRecords,
    #[error("no incident matches {0:?}")]
    NotFound(String),
    #[error("incident id {id:?} is ambiguous: it matches {candidates}")]
    Ambiguous { id: String, candidates: String },
    #[error("incident id {0:?} is too short: give at least {MIN_PREFIX} characters")]
    TooShort(String),
    #[error("triage table version {found} is newer than this kensa understands ({TRIAGE_SCHEMA_VERSION})")]
    SchemaTooNew { found: i64 },
    #[error("triage {0} is longer than {MAX_TEXT} bytes")]
    TooLong(&'static str),
    #[error("triage by: the analyst's name must not be empty")]
    NoAnalyst,
    #[error("triage row {row}: {what}")]
    BadTriageRow { row: i64, what: String },
}

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only incidents that nobody has triaged yet.
    pub untriaged: bool,
    /// Only this agent's incidents.
    pub agent: Option<String>,
    /// Policy used for findings recorded without a taxonomy (old agents).
    pub policy: PolicyConfig,
}

/// One triage decision as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TriageEntry {
    pub event: Event,
    pub causes: Vec<Cause>,
    pub false_positive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub by: String,
    pub time: String,
}

/// A triage request. `event: None` / empty `causes` keep the incident's
/// current value (so `--false-positive` alone is enough).
#[derive(Clone, Debug, Default)]
pub struct Triage {
    pub event: Option<Event>,
    pub causes: Vec<Cause>,
    pub false_positive: bool,
    pub note: Option<String>,
    pub by: String,
}

/// An incident with its current state.
#[derive(Clone, Debug, Serialize)]
pub struct Incident {
    /// Short id: the first [`ID_LEN`] characters of the session id.
    pub id: String,
    pub agent: String,
    pub session: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<Medium>,
    /// Session start (RFC 3339), or the first finding's time when the
    /// session record is missing.
    pub time: String,
    pub detections: u64,
    /// Classification from the findings' policy taxonomy.
    pub automatic: Classification,
    /// The latest triage, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triage: Option<TriageEntry>,
}

impl Incident {
    /// The classification that counts: the latest triage, else automatic.
    pub fn current(&self) -> Classification {
        match &self.triage {
            Some(t) => Classification {
                event: t.event,
                causes: t.causes.clone(),
            },
            None => self.automatic.clone(),
        }
    }

    pub fn is_triaged(&self) -> bool {
        self.triage.is_some()
    }

    pub fn is_false_positive(&self) -> bool {
        self.triage.as_ref().is_some_and(|t| t.false_positive)
    }

    /// The incident as the report counts it; `None` when its time does not
    /// parse (the caller decides whether to warn).
    pub fn to_report(&self) -> Option<ReportIncident> {
        let time = chrono::DateTime::parse_from_rfc3339(&self.time)
            .ok()?
            .with_timezone(&chrono::Utc);
        Some(ReportIncident {
            time,
            classification: self.current(),
            false_positive: self.is_false_positive(),
            triaged: self.is_triaged(),
        })
    }

    /// A one-line description of the medium: label, serial, mount point.
    pub fn medium_text(&self) -> String {
        match &self.medium {
            None => "-".into(),
            Some(m) => {
                let mut parts = Vec::new();
                if let Some(l) = &m.label {
                    parts.push(l.clone());
                }
                if let Some(s) = &m.serial {
                    parts.push(format!("serial {s}"));
                }
                if parts.is_empty() {
                    parts.push(m.mount_point.clone());
                }
                parts.join(", ")
            }
        }
    }
}

/// An incident with the findings behind it and its whole triage history.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub findings: Vec<Finding>,
    /// Oldest first; the last one is current.
    pub history: Vec<TriageEntry>,
}

/// Creates the triage table (and records its layout version). Refuses a
/// database whose triage layout is newer than this build.
pub fn ensure_schema(conn: &Connection) -> Result<(), IncidentError> {
    conn.execute_batch(SCHEMA)?;
    let found: Option<i64> = conn
        .query_row(
            "SELECT version FROM schema_versions WHERE component = 'triage'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match found {
        Some(v) if v > TRIAGE_SCHEMA_VERSION => Err(IncidentError::SchemaTooNew { found: v }),
        Some(_) => Ok(()),
        None => {
            conn.execute(
                "INSERT INTO schema_versions(component, version) VALUES ('triage', ?1)",
                params![TRIAGE_SCHEMA_VERSION],
            )?;
            Ok(())
        }
    }
}

fn records_table_exists(conn: &Connection) -> Result<bool, IncidentError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Parses a journal line into a record, skipping oversized or malformed ones.
fn parse_line(agent: &str, seq: i64, line: &str) -> Option<Record> {
    if line.len() > MAX_LINE {
        tracing::warn!(
            agent,
            seq,
            "journal line longer than {MAX_LINE} bytes skipped"
        );
        return None;
    }
    match serde_json::from_str::<Record>(line) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(agent, seq, "unreadable journal record skipped: {e}");
            None
        }
    }
}

/// Combines findings' classifications into the incident's: an event that
/// occurred outranks `precursor`; among the rest the first in taxonomy order
/// wins. Causes are the union over findings, leaving out findings whose
/// causes are just `unknown` when another finding names a cause.
fn combine(classes: &[Classification]) -> Classification {
    let events: BTreeSet<Event> = classes.iter().map(|c| c.event).collect();
    let event = events
        .iter()
        .copied()
        .find(|e| *e != Event::Precursor)
        .or_else(|| events.first().copied())
        .unwrap_or(Event::Precursor);
    let only_unknown = |c: &Classification| c.causes.iter().all(|x| *x == Cause::Unknown);
    let known = classes.iter().any(|c| !only_unknown(c));
    let mut causes: Vec<Cause> = Vec::new();
    for c in classes.iter().filter(|c| !known || !only_unknown(c)) {
        for x in &c.causes {
            if !causes.contains(x) {
                causes.push(*x);
            }
        }
    }
    causes.sort();
    if causes.is_empty() {
        causes.push(Cause::Unknown);
    }
    Classification { event, causes }
}

struct Building {
    session: Option<Session>,
    first_finding_time: String,
    location: Location,
    detections: u64,
    classes: Vec<Classification>,
    untagged: Vec<Finding>,
}

type Key = (String, String);

fn load_triage(conn: &Connection) -> Result<BTreeMap<Key, Vec<TriageEntry>>, IncidentError> {
    let mut stmt =
        conn.prepare("SELECT id, agent, session, event, causes, false_positive, note, by, time FROM triage ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let mut out: BTreeMap<Key, Vec<TriageEntry>> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let row: i64 = r.get(0)?;
        let key = (r.get::<_, String>(1)?, r.get::<_, String>(2)?);
        let event: String = r.get(3)?;
        let causes: String = r.get(4)?;
        let bad = |what: String| IncidentError::BadTriageRow { row, what };
        let event: Event = event
            .parse()
            .map_err(|e: crate::findings::taxonomy::UnknownCode| bad(e.to_string()))?;
        let causes: Vec<Cause> =
            serde_json::from_str(&causes).map_err(|e| bad(format!("causes: {e}")))?;
        out.entry(key).or_default().push(TriageEntry {
            event,
            causes,
            false_positive: r.get::<_, i64>(5)? != 0,
            note: r.get(6)?,
            by: r.get(7)?,
            time: r.get(8)?,
        });
    }
    Ok(out)
}

/// Loads every incident (optionally restricted to one agent / session).
fn load(
    conn: &Connection,
    policy: &PolicyConfig,
    agent: Option<&str>,
    only: Option<&Key>,
) -> Result<Vec<(Incident, Vec<TriageEntry>)>, IncidentError> {
    ensure_schema(conn)?;
    if !records_table_exists(conn)? {
        return Err(IncidentError::NoRecords);
    }
    let mut building: BTreeMap<Key, Building> = BTreeMap::new();
    // One incident: use the records' session column first, and fall back to
    // reading every finding when the import left that column empty.
    let narrow = match only {
        Some(k) => conn
            .query_row(
                "SELECT 1 FROM records WHERE type = 'finding' AND agent = ?1 AND session = ?2 LIMIT 1",
                params![k.0, k.1],
                |_| Ok(()),
            )
            .optional()?
            .is_some(),
        None => false,
    };
    {
        let (sql, args) = match only {
            Some(k) if narrow => (
                "SELECT agent, seq, line FROM records WHERE type = 'finding' AND agent = ?1 AND session = ?2 ORDER BY seq",
                vec![k.0.clone(), k.1.clone()],
            ),
            _ => ("SELECT agent, seq, line FROM records WHERE type = 'finding' ORDER BY agent, seq", vec![]),
        };
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            let a: String = r.get(0)?;
            if agent.is_some_and(|x| x != a) || only.is_some_and(|k| k.0 != a) {
                continue;
            }
            let line: String = r.get(2)?;
            let Some(Record::Finding(f)) = parse_line(&a, r.get(1)?, &line) else {
                continue;
            };
            let key = (a, f.session.clone());
            if only.is_some_and(|k| *k != key) {
                continue;
            }
            let b = building.entry(key).or_insert_with(|| Building {
                session: None,
                first_finding_time: f.time.clone(),
                location: f.location,
                detections: 0,
                classes: Vec::new(),
                untagged: Vec::new(),
            });
            b.detections += 1;
            match &f.taxonomy {
                Some(t) => b.classes.push(t.clone()),
                None => b.untagged.push(f),
            }
        }
    }
    if building.is_empty() {
        return Ok(Vec::new());
    }
    let scans: &[(&str, Vec<String>)] = match only {
        Some(k) if narrow => &[
            (
                "SELECT agent, seq, line FROM records WHERE type = 'session' AND agent = ?1 AND session = ?2",
                vec![k.0.clone(), k.1.clone()],
            ),
            ("SELECT agent, seq, line FROM records WHERE type = 'session' ORDER BY agent, seq", vec![]),
        ],
        _ => &[("SELECT agent, seq, line FROM records WHERE type = 'session' ORDER BY agent, seq", vec![])],
    };
    for (sql, args) in scans {
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            let a: String = r.get(0)?;
            let line: String = r.get(2)?;
            let Some(Record::Session(s)) = parse_line(&a, r.get(1)?, &line) else {
                continue;
            };
            if let Some(b) = building.get_mut(&(a, s.id.clone())) {
                b.location = s.location;
                b.session = Some(s);
            }
        }
        if building.values().all(|b| b.session.is_some()) {
            break;
        }
    }
    let mut triage = load_triage(conn)?;
    let sessions: Vec<&str> = building.keys().map(|k| k.1.as_str()).collect();
    let ids = short_ids(&sessions);
    let mut out = Vec::with_capacity(building.len());
    for ((key, mut b), id) in building.into_iter().zip(ids) {
        let medium = b.session.as_ref().and_then(|s| s.medium.clone());
        for f in b.untagged.drain(..) {
            b.classes
                .push(classify(policy, b.location, medium.as_ref(), &f.matches).classification);
        }
        let history = triage.remove(&key).unwrap_or_default();
        let incident = Incident {
            id,
            host: b.session.as_ref().map(|s| s.host.clone()),
            location: b.location,
            medium,
            time: b
                .session
                .as_ref()
                .map_or(b.first_finding_time.clone(), |s| s.time.clone()),
            detections: b.detections,
            automatic: combine(&b.classes),
            triage: history.last().cloned(),
            agent: key.0,
            session: key.1,
        };
        out.push((incident, history));
    }
    out.sort_by(|a, b| {
        a.0.time
            .cmp(&b.0.time)
            .then_with(|| a.0.session.cmp(&b.0.session))
    });
    Ok(out)
}

/// Shortest ids of at least [`ID_LEN`] characters that tell sessions apart:
/// each id is one character longer than its longest common prefix with a
/// neighbour in sorted order (O(n log n)).
fn short_ids(sessions: &[&str]) -> Vec<String> {
    fn common(a: &str, b: &str) -> usize {
        a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
    }
    let mut order: Vec<usize> = (0..sessions.len()).collect();
    order.sort_by_key(|&i| sessions[i]);
    let mut need = vec![0usize; sessions.len()];
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        let c = common(sessions[a], sessions[b]) + 1;
        need[a] = need[a].max(c);
        need[b] = need[b].max(c);
    }
    sessions
        .iter()
        .zip(need)
        .map(|(s, n)| s.chars().take(n.max(ID_LEN)).collect())
        .collect()
}

/// Every incident that passes the filter, oldest first.
pub fn list(conn: &Connection, filter: &Filter) -> Result<Vec<Incident>, IncidentError> {
    Ok(load(conn, &filter.policy, filter.agent.as_deref(), None)?
        .into_iter()
        .map(|(i, _)| i)
        .filter(|i| !filter.untriaged || !i.is_triaged())
        .collect())
}

/// Resolves an id (any unique prefix of a session id, at least
/// [`MIN_PREFIX`] characters) to the incident's (agent, session).
fn resolve(conn: &Connection, id: &str) -> Result<Key, IncidentError> {
    let id = id.trim();
    if id.chars().count() < MIN_PREFIX {
        return Err(IncidentError::TooShort(id.to_string()));
    }
    // Fast path over the records' session column; fall back to parsing
    // every finding when the import left that column empty.
    let mut keys: Vec<(String, String)> = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT agent, session FROM records WHERE type = 'finding' AND session IS NOT NULL \
             AND substr(session, 1, length(?1)) = ?1",
        )?;
        let mut rows = stmt.query(params![id])?;
        while let Some(r) = rows.next()? {
            keys.push((r.get(0)?, r.get(1)?));
        }
    }
    if keys.is_empty() {
        keys = load(conn, &PolicyConfig::default(), None, None)?
            .into_iter()
            .map(|(i, _)| (i.agent, i.session))
            .filter(|k| k.1.starts_with(id))
            .collect();
    }
    match keys.len() {
        0 => Err(IncidentError::NotFound(id.to_string())),
        1 => Ok(keys.remove(0)),
        _ => Err(IncidentError::Ambiguous {
            id: id.to_string(),
            candidates: keys
                .iter()
                .map(|k| format!("{} ({})", k.1, k.0))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// One incident with its findings and full triage history.
pub fn show(conn: &Connection, id: &str) -> Result<IncidentDetail, IncidentError> {
    let key = resolve(conn, id)?;
    let (incident, history) = load(conn, &PolicyConfig::default(), None, Some(&key))?
        .into_iter()
        .next()
        .ok_or_else(|| IncidentError::NotFound(id.to_string()))?;
    let mut findings = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT seq, line FROM records WHERE type = 'finding' AND agent = ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![key.0])?;
    while let Some(r) = rows.next()? {
        let line: String = r.get(1)?;
        if let Some(Record::Finding(f)) = parse_line(&key.0, r.get(0)?, &line) {
            if f.session == key.1 {
                findings.push(f);
            }
        }
    }
    Ok(IncidentDetail {
        incident,
        findings,
        history,
    })
}

/// Records a triage decision; returns the stored entry. Earlier decisions
/// stay in the history.
pub fn triage(conn: &mut Connection, id: &str, t: &Triage) -> Result<TriageEntry, IncidentError> {
    if t.by.trim().is_empty() {
        return Err(IncidentError::NoAnalyst);
    }
    if t.by.len() > MAX_TEXT {
        return Err(IncidentError::TooLong("by"));
    }
    if t.note.as_ref().is_some_and(|n| n.len() > MAX_TEXT) {
        return Err(IncidentError::TooLong("note"));
    }
    let tx = conn.transaction()?;
    let key = resolve(&tx, id)?;
    let (incident, _) = load(&tx, &PolicyConfig::default(), None, Some(&key))?
        .into_iter()
        .next()
        .ok_or_else(|| IncidentError::NotFound(id.to_string()))?;
    let current = incident.current();
    // Deduplicated, in the taxonomy's order.
    let causes: Vec<Cause> = if t.causes.is_empty() {
        &current.causes
    } else {
        &t.causes
    }
    .iter()
    .copied()
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect();
    let entry = TriageEntry {
        event: t.event.unwrap_or(current.event),
        causes,
        false_positive: t.false_positive,
        note: t.note.clone().filter(|n| !n.is_empty()),
        by: t.by.trim().to_string(),
        time: now_rfc3339(),
    };
    let causes_json = serde_json::to_string(&entry.causes).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO triage(agent, session, event, causes, false_positive, note, by, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.0,
            key.1,
            entry.event.slug(),
            causes_json,
            entry.false_positive as i64,
            entry.note,
            entry.by,
            entry.time
        ],
    )?;
    tx.commit()?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_classifications() {
        let p = Classification {
            event: Event::Precursor,
            causes: vec![Cause::Unknown],
        };
        let m = Classification {
            event: Event::MalwareInfection,
            causes: vec![Cause::SuspiciousFile],
        };
        let c = combine(&[p.clone(), m.clone()]);
        assert_eq!(
            c,
            Classification {
                event: Event::MalwareInfection,
                causes: vec![Cause::SuspiciousFile]
            }
        );
        assert_eq!(combine(std::slice::from_ref(&p)), p);
        let both = Classification {
            event: Event::Leak,
            causes: vec![Cause::Insider, Cause::Unknown],
        };
        assert_eq!(
            combine(&[both.clone(), p.clone()]),
            both,
            "explicit unknown kept"
        );
        assert_eq!(combine(&[]), p);
    }

    #[test]
    fn ids_are_short_and_unique() {
        let ids = short_ids(&[
            "aaaaaaaaaaaaXYZ",
            "aaaaaaaaaaaaXQQ",
            "bbbbbbbbbbbbbbbb",
            "short",
        ]);
        assert_eq!(
            ids,
            vec!["aaaaaaaaaaaaXY", "aaaaaaaaaaaaXQ", "bbbbbbbbbbbb", "short"]
        );
    }
}
