//! Incidents and triage over the collector store. An incident is a scan
//! session (agent + session id) with at least one finding: one stick with
//! 40 infected files is one incident. Its automatic classification comes
//! from the findings' policy taxonomy; an analyst's triage (event, causes,
//! false positive, note, who, when) overrides it. Triage is an append-only
//! history: the latest row wins and nothing is erased. What a listing
//! filters on and the report counts (the incident's time, state and current
//! classification, and how long its id must be) is stored per incident at
//! import and triage (`derived`), so the backend filters, orders and counts
//! in SQL from indexes; this module turns its rows into incidents (ids from
//! the stored lengths, classifications parsed) and its counts into the
//! report's tallies. What stays in Rust: parsing the stored JSON texts, the
//! agents' part of an id (over the few agents, not the incidents), and
//! decoding one incident's finding lines for `show`.
//!
//! An incident is keyed by (agent, session): session ids are only unique
//! per agent, and a second agent may reuse one. The id shown to analysts is
//! `AGENT/SESSION`, each part the shortest prefix that tells it apart
//! (agents among all agents with incidents, sessions among that agent's),
//! so it is unique by construction and stays the same on every collector
//! that holds the same records. A command takes that id, or a session-id
//! prefix alone when only one incident matches; `--agent` (an agent id,
//! its prefix, or the name it is trusted under) picks among several.

pub use super::backend::TriageState;
use super::backend::{IncidentRow, LineRow, Period, Scope, TriageRow};
use super::derived::{common_prefix, decode};
use super::{Store, StoreError};
use crate::findings::taxonomy::{Cause, Classification, Event};
use crate::findings::{now_rfc3339, Finding, Location, Medium, Record};
use crate::report::{ColumnPeriod, ReportIncident, Tally};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// Shortest id prefix accepted on the command line.
pub const MIN_PREFIX: usize = 4;
/// Length of the session part of a displayed incident id (more if two of
/// one agent's would collide).
pub const ID_LEN: usize = 12;
/// Length of the agent part of a displayed incident id (more if two
/// agents' would collide).
pub const AGENT_ID_LEN: usize = 4;
/// Longest triage note or analyst name accepted, in bytes.
pub const MAX_TEXT: usize = 4096;

/// What can go wrong with incidents and triage.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("no incident matches {0:?}")]
    NotFound(String),
    #[error(
        "incident id {id:?} is ambiguous: it matches {candidates} (give the full id, or --agent)"
    )]
    Ambiguous { id: String, candidates: String },
    #[error("no agent matches {0:?} (an agent id, its prefix, or a trusted name)")]
    UnknownAgent(String),
    #[error("agent {id:?} is ambiguous: it matches {candidates}")]
    AmbiguousAgent { id: String, candidates: String },
    #[error("incident id {0:?} is too short: give at least {MIN_PREFIX} characters")]
    TooShort(String),
    #[error("triage {0} is longer than {MAX_TEXT} bytes")]
    TooLong(&'static str),
    #[error("triage by: the analyst's name must not be empty")]
    NoAnalyst,
    #[error("triage row {row}: {what}")]
    BadTriageRow { row: i64, what: String },
    #[error("incident {agent}/{session}: stored classification {what}")]
    BadClassification {
        agent: String,
        session: String,
        what: String,
    },
    #[error("report counts: {0}")]
    BadCount(String),
}

/// Which incidents to list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only incidents in this triage state.
    pub state: Option<TriageState>,
    /// Only this agent's incidents.
    pub agent: Option<String>,
    /// Only incidents at or after this instant.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only incidents before this instant.
    pub before: Option<chrono::DateTime<chrono::Utc>>,
    /// Only incidents whose current event is this one.
    pub event: Option<Event>,
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
    /// The id shown: `AGENT/SESSION`, each the shortest prefix (at least
    /// [`AGENT_ID_LEN`] and [`ID_LEN`] characters) that tells it apart.
    pub id: String,
    pub agent: String,
    /// The name the agent's key is trusted under (`kensa trust add --name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
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

type Key = (String, String);

/// A stored triage row as an entry.
fn triage_entry(r: TriageRow) -> Result<TriageEntry, IncidentError> {
    let bad = |what: String| IncidentError::BadTriageRow { row: r.id, what };
    let event: Event = r
        .event
        .parse()
        .map_err(|e: crate::findings::taxonomy::UnknownCode| bad(e.to_string()))?;
    let causes: Vec<Cause> =
        serde_json::from_str(&r.causes).map_err(|e| bad(format!("causes: {e}")))?;
    Ok(TriageEntry {
        event,
        causes,
        false_positive: r.false_positive,
        note: r.note,
        by: r.by,
        time: r.time,
    })
}

fn finding(row: &LineRow) -> Option<Finding> {
    match decode(&row.agent, row.seq, &row.line)? {
        Record::Finding(f) => Some(f),
        _ => None,
    }
}

/// A stored classification (event slug, causes as JSON), or what is
/// wrong with it.
fn stored_class(event: &str, causes: &str) -> Result<Classification, String> {
    Ok(Classification {
        event: event
            .parse()
            .map_err(|e: crate::findings::taxonomy::UnknownCode| e.to_string())?,
        causes: serde_json::from_str(causes).map_err(|e| format!("causes: {e}"))?,
    })
}

/// The agents' part of display ids: for one agent, from its neighbours;
/// else for every agent with incidents (few: one index lookup each).
fn agent_ids(store: &Store, only: Option<&str>) -> Result<HashMap<String, String>, IncidentError> {
    if let Some(a) = only {
        let n = store.backend().agent_neighbours(a)?;
        return Ok(HashMap::from([(
            a.to_string(),
            prefix_among(a, &n, AGENT_ID_LEN),
        )]));
    }
    let agents = store.backend().incident_agents()?;
    let refs: Vec<&str> = agents.iter().map(String::as_str).collect();
    let short = short_ids(&refs, AGENT_ID_LEN);
    Ok(agents.into_iter().zip(short).collect())
}

/// Builds one incident from its row: the session's time, host, location
/// and medium when the session record is held, else the first finding's;
/// the id from the agent's part and the stored length of the session's.
fn incident(row: IncidentRow, agent_id: &str) -> Result<Incident, IncidentError> {
    let location_of = |t: &str| serde_json::from_str::<Location>(t).unwrap_or_default();
    let (location, medium, host, time) = match row.started {
        Some(s) => (
            location_of(&s.location),
            s.medium
                .and_then(|m| serde_json::from_str::<Medium>(&m).ok()),
            Some(s.host),
            s.time,
        ),
        None => (location_of(&row.first_location), None, None, row.first_time),
    };
    let need = usize::try_from(row.id_need).unwrap_or(usize::MAX);
    let session_id: String = row.session.chars().take(need.max(ID_LEN)).collect();
    Ok(Incident {
        id: format!("{agent_id}/{session_id}"),
        agent_name: None,
        automatic: stored_class(&row.auto_event, &row.auto_causes).map_err(|what| {
            IncidentError::BadClassification {
                agent: row.agent.clone(),
                session: row.session.clone(),
                what,
            }
        })?,
        agent: row.agent,
        session: row.session,
        host,
        location,
        medium,
        time,
        detections: row.detections,
        triage: row.triage.map(triage_entry).transpose()?,
    })
}

/// The incidents in scope, oldest first.
fn load(store: &Store, scope: &Scope<'_>) -> Result<Vec<Incident>, IncidentError> {
    let rows = store.backend().incidents(scope)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = agent_ids(store, scope.only.map(|(a, _)| a))?;
    let names: HashMap<String, String> = store
        .backend()
        .trust_list()?
        .into_iter()
        .filter_map(|k| Some((k.agent, k.name?)))
        .collect();
    rows.into_iter()
        .map(|row| {
            let name = names.get(&row.agent).cloned();
            let agent_id = ids
                .get(&row.agent)
                .cloned()
                .unwrap_or_else(|| row.agent.clone());
            let mut i = incident(row, &agent_id)?;
            i.agent_name = name;
            Ok(i)
        })
        .collect()
}

/// The one incident (agent, session), if it exists.
fn load_one(store: &Store, key: &Key, id: &str) -> Result<Incident, IncidentError> {
    let scope = Scope {
        only: Some((&key.0, &key.1)),
        ..Scope::default()
    };
    load(store, &scope)?
        .into_iter()
        .next()
        .ok_or_else(|| IncidentError::NotFound(id.to_string()))
}

/// The prefix of `s` that [`short_ids`] gives it, from its neighbours in
/// sorted order alone.
fn prefix_among(s: &str, neighbours: &[Option<String>; 2], min: usize) -> String {
    let need = neighbours
        .iter()
        .flatten()
        .map(|n| common_prefix(s, n) + 1)
        .max()
        .unwrap_or(0);
    s.chars().take(need.max(min)).collect()
}

/// Shortest prefixes of at least `min` characters that tell the strings
/// apart: each is one character longer than its longest common prefix with
/// a neighbour in sorted order (O(n log n)).
fn short_ids(sessions: &[&str], min: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..sessions.len()).collect();
    order.sort_by_key(|&i| sessions[i]);
    let mut need = vec![0usize; sessions.len()];
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        let c = common_prefix(sessions[a], sessions[b]) + 1;
        need[a] = need[a].max(c);
        need[b] = need[b].max(c);
    }
    sessions
        .iter()
        .zip(need)
        .map(|(s, n)| s.chars().take(n.max(min)).collect())
        .collect()
}

/// Every incident that passes the filter, oldest first (the backend
/// filters; see [`Scope`]).
pub fn list(store: &Store, filter: &Filter) -> Result<Vec<Incident>, IncidentError> {
    let ms = |t: &Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_millis());
    let scope = Scope {
        agent: filter.agent.as_deref(),
        only: None,
        state: filter.state,
        since: ms(&filter.since),
        before: ms(&filter.before),
        event: filter.event.map(|e| e.slug()),
        untimed: false,
    };
    load(store, &scope)
}

/// The incidents whose time does not parse: listed, but never counted.
pub fn untimed(store: &Store) -> Result<Vec<Incident>, IncidentError> {
    let scope = Scope {
        untimed: true,
        ..Scope::default()
    };
    load(store, &scope)
}

/// The report's tallies over `periods` (see `report::periods`), counted by
/// the backend per period, triage state and current classification.
pub fn tallies(store: &Store, periods: &[ColumnPeriod]) -> Result<Vec<Tally>, IncidentError> {
    let periods: Vec<Period> = periods
        .iter()
        .map(|p| Period {
            column: p.column,
            from: p.from.timestamp_millis(),
            to: p.to.timestamp_millis(),
        })
        .collect();
    store
        .backend()
        .report_counts(&periods)?
        .into_iter()
        .map(|row| {
            let state = TriageState::from_slug(&row.state)
                .ok_or_else(|| IncidentError::BadCount(format!("triage state {:?}", row.state)))?;
            Ok(Tally {
                column: row.column,
                classification: stored_class(&row.event, &row.causes)
                    .map_err(IncidentError::BadCount)?,
                false_positive: state == TriageState::FalsePositive,
                triaged: state != TriageState::Untriaged,
                count: row.count,
            })
        })
        .collect()
}

/// The report for fiscal year `fy` as of `as_of`, periods in `tz`,
/// counted by the store (the same numbers `report::build` gives over the
/// listed incidents).
pub fn report(
    store: &Store,
    fy: i32,
    as_of: chrono::NaiveDate,
    tz: chrono_tz::Tz,
) -> Result<crate::report::Report, IncidentError> {
    let periods = crate::report::periods(fy, as_of, tz);
    let tallies = tallies(store, &periods)?;
    Ok(crate::report::from_tallies(&tallies, fy, as_of, tz))
}

/// Which incident a command names: `id` is an id as shown
/// (`AGENT/SESSION`, either part a prefix) or a session-id prefix alone;
/// `agent` (an agent id, its prefix, or a trusted name) narrows it.
#[derive(Clone, Copy, Debug)]
pub struct Selector<'a> {
    pub id: &'a str,
    pub agent: Option<&'a str>,
}

impl<'a> From<&'a str> for Selector<'a> {
    fn from(id: &'a str) -> Selector<'a> {
        Selector { id, agent: None }
    }
}

impl<'a> From<&'a String> for Selector<'a> {
    fn from(id: &'a String) -> Selector<'a> {
        Selector::from(id.as_str())
    }
}

/// The one agent id that `text` names: a trusted name, an agent id, or a
/// prefix of one (of the agents trusted or holding incidents; ASCII case
/// ignored).
pub fn resolve_agent(store: &Store, text: &str) -> Result<String, IncidentError> {
    let text = text.trim();
    if let Some(agent) = store.backend().trust_name_holder(text)? {
        return Ok(agent);
    }
    let mut agents: BTreeSet<String> = store.backend().incident_agents()?.into_iter().collect();
    agents.extend(store.backend().trust_list()?.into_iter().map(|k| k.agent));
    if agents.contains(text) {
        return Ok(text.to_string());
    }
    let upper = text.to_ascii_uppercase();
    let found: Vec<String> = agents
        .into_iter()
        .filter(|a| !text.is_empty() && a.to_ascii_uppercase().starts_with(&upper))
        .collect();
    match found.as_slice() {
        [] => Err(IncidentError::UnknownAgent(text.to_string())),
        [one] => Ok(one.clone()),
        many => Err(IncidentError::AmbiguousAgent {
            id: text.to_string(),
            candidates: many.join(", "),
        }),
    }
}

/// The incidents an id matches: as `AGENT/SESSION` first, else as a
/// session prefix; an exact session (or agent) id wins over longer ones it
/// prefixes.
fn candidates(store: &Store, id: &str, agent: Option<&str>) -> Result<Vec<Key>, IncidentError> {
    let b = store.backend();
    let mut keys = Vec::new();
    if let Some((a, s)) = id.split_once('/') {
        keys = b.incidents_with_prefix(Some(a), s)?;
        if keys.iter().any(|k| k.1 == s) {
            keys.retain(|k| k.1 == s);
        }
        if keys.iter().any(|k| k.0 == a) {
            keys.retain(|k| k.0 == a);
        }
    }
    if keys.is_empty() {
        keys = b.incidents_with_prefix(None, id)?;
        if keys.iter().any(|k| k.1 == id) {
            keys.retain(|k| k.1 == id);
        }
    }
    if let Some(agent) = agent {
        keys.retain(|k| k.0 == agent);
    }
    Ok(keys)
}

/// Resolves a selector to the incident's (agent, session).
fn resolve(store: &Store, sel: Selector<'_>) -> Result<Key, IncidentError> {
    let id = sel.id.trim();
    if id.chars().count() < MIN_PREFIX {
        return Err(IncidentError::TooShort(id.to_string()));
    }
    let agent = sel.agent.map(|a| resolve_agent(store, a)).transpose()?;
    let mut keys = candidates(store, id, agent.as_deref())?;
    match keys.len() {
        0 => Err(IncidentError::NotFound(id.to_string())),
        1 => Ok(keys.remove(0)),
        _ => {
            let mut names = Vec::with_capacity(keys.len());
            for k in &keys {
                let shown = load_one(store, k, id)?.id;
                let sane = crate::output::sanitize;
                names.push(format!(
                    "{} (agent {}, session {})",
                    sane(&shown),
                    sane(&k.0),
                    sane(&k.1)
                ));
            }
            Err(IncidentError::Ambiguous {
                id: id.to_string(),
                candidates: names.join(", "),
            })
        }
    }
}

/// The incident a selector names, with its current state.
pub fn find<'a>(store: &Store, sel: impl Into<Selector<'a>>) -> Result<Incident, IncidentError> {
    let sel = sel.into();
    let key = resolve(store, sel)?;
    load_one(store, &key, sel.id)
}

/// One incident with its findings and full triage history.
pub fn show<'a>(
    store: &Store,
    sel: impl Into<Selector<'a>>,
) -> Result<IncidentDetail, IncidentError> {
    let incident = find(store, sel)?;
    let key = (incident.agent.clone(), incident.session.clone());
    let findings = store
        .backend()
        .finding_lines(&key.0, &key.1)?
        .iter()
        .filter_map(finding)
        .collect();
    let history = store
        .backend()
        .triage_history(&key.0, &key.1)?
        .into_iter()
        .map(triage_entry)
        .collect::<Result<_, _>>()?;
    Ok(IncidentDetail {
        incident,
        findings,
        history,
    })
}

fn check_request(t: &Triage) -> Result<(), IncidentError> {
    if t.by.trim().is_empty() {
        return Err(IncidentError::NoAnalyst);
    }
    if t.by.len() > MAX_TEXT {
        return Err(IncidentError::TooLong("by"));
    }
    if t.note.as_ref().is_some_and(|n| n.len() > MAX_TEXT) {
        return Err(IncidentError::TooLong("note"));
    }
    Ok(())
}

/// Records a triage decision on the incident a selector names; returns
/// the stored entry. Earlier decisions stay in the history.
pub fn triage<'a>(
    store: &Store,
    sel: impl Into<Selector<'a>>,
    t: &Triage,
) -> Result<TriageEntry, IncidentError> {
    check_request(t)?;
    let incident = find(store, sel)?;
    triage_incident(store, &incident, t)
}

/// Records a triage decision on an incident found before ([`find`]).
pub fn triage_incident(
    store: &Store,
    incident: &Incident,
    t: &Triage,
) -> Result<TriageEntry, IncidentError> {
    check_request(t)?;
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
    let row = TriageRow {
        id: 0,
        event: entry.event.slug().to_string(),
        causes: serde_json::to_string(&entry.causes).unwrap_or_else(|_| "[]".into()),
        false_positive: entry.false_positive,
        note: entry.note.clone(),
        by: entry.by.clone(),
        time: entry.time.clone(),
    };
    store
        .backend()
        .triage_insert(&incident.agent, &incident.session, &row)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_unique() {
        let ids = short_ids(
            &[
                "aaaaaaaaaaaaXYZ",
                "aaaaaaaaaaaaXQQ",
                "bbbbbbbbbbbbbbbb",
                "short",
            ],
            ID_LEN,
        );
        assert_eq!(
            ids,
            vec!["aaaaaaaaaaaaXY", "aaaaaaaaaaaaXQ", "bbbbbbbbbbbb", "short"]
        );
    }

    #[test]
    fn one_id_from_its_neighbours_is_the_listed_one() {
        let mut all = vec!["abcdef01", "abcdef02x", "abcdef0", "b", "abcd", "zz"];
        let listed = short_ids(&all, 4);
        let by: HashMap<&str, String> = all.iter().copied().zip(listed).collect();
        all.sort();
        for (i, s) in all.iter().enumerate() {
            let lo = i.checked_sub(1).map(|j| all[j].to_string());
            let hi = all.get(i + 1).map(|n| n.to_string());
            assert_eq!(prefix_among(s, &[lo, hi], 4), by[s], "{s}");
        }
    }
}
