//! The interface a collector database implements, and the rows it returns.
//! A backend owns its schema (the [`super::MIGRATIONS`], in order) and every
//! statement; it returns stored values as they are (JSON texts, slugs) and
//! the shared code in `trust`, `import` and `incidents` decides what they
//! mean, so a second backend repeats no logic but the SQL.

use super::{ImportError, ImportOutcome, StoreError, TrustedKey};
use crate::bundle::BundleLine;

/// Whether an import is written to the import log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogPolicy {
    Always,
    /// Only when it added a record (the agent's own journal, read often).
    IfAdded,
    /// Never (test fixtures).
    Never,
}

/// One import: the lines of one agent, stored in one transaction.
#[derive(Clone, Debug)]
pub struct ImportBatch<'a> {
    pub agent: &'a str,
    /// For a bundle: the seq of its first line and the hash that line names
    /// as its predecessor, which must be held (else a gap or a fork).
    pub link: Option<(u64, &'a str)>,
    /// The outcome's range before any line is read; `to` grows with the
    /// highest seq read.
    pub from: u64,
    pub to: u64,
    /// Recorded in the import log.
    pub source: &'a str,
    pub sha256: Option<&'a str>,
    pub log: LogPolicy,
}

/// An incident's triage state: its latest decision's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TriageState {
    /// Nobody has triaged it yet.
    Untriaged,
    /// Triaged as a real incident.
    Triaged,
    /// Triaged as a false positive (left out of the report).
    #[value(alias = "false_positive")]
    FalsePositive,
}

/// Which incidents a query covers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    pub agent: Option<&'a str>,
    /// Exactly this (agent, session).
    pub only: Option<(&'a str, &'a str)>,
    /// Only incidents in this triage state.
    pub state: Option<TriageState>,
    /// Only incidents whose time (session start, else first finding) is at
    /// or after this UTC instant, as `YYYY-MM-DDTHH:MM:SS.sss`.
    pub since: Option<&'a str>,
    /// Only incidents whose time is before this UTC instant (same form).
    pub before: Option<&'a str>,
    /// Only incidents that may currently be this event (a slug): their
    /// latest triage names it, or they are untriaged and a finding's
    /// taxonomy names it or a finding carries none. The caller checks the
    /// combined classification of the untriaged ones.
    pub event: Option<&'a str>,
}

/// A triage row as stored: the event slug and the causes as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriageRow {
    pub id: i64,
    pub event: String,
    pub causes: String,
    pub false_positive: bool,
    pub note: Option<String>,
    pub by: String,
    pub time: String,
}

/// The session record behind an incident, as derived at import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub time: String,
    pub host: String,
    /// JSON of a `Location`.
    pub location: String,
    /// JSON of a `Medium`.
    pub medium: Option<String>,
}

/// One incident as stored: its first finding's time and location, its
/// finding count, its session (if held) and its latest triage (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentRow {
    pub agent: String,
    pub session: String,
    pub first_time: String,
    /// JSON of a `Location`.
    pub first_location: String,
    pub detections: u64,
    pub started: Option<SessionRow>,
    pub triage: Option<TriageRow>,
}

/// The neighbours of one incident in sorted order: the agents with
/// incidents just before and after its agent, and that agent's sessions
/// just before and after its session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Neighbours {
    pub agents: [Option<String>; 2],
    pub sessions: [Option<String>; 2],
}

/// A stored journal line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRow {
    pub agent: String,
    pub session: String,
    pub seq: u64,
    pub line: String,
}

/// The operations of a collector database.
pub trait Backend {
    /// The schema version the database is at.
    fn schema_version(&self) -> Result<i64, StoreError>;
    /// Highest seq held for `agent` (0 when none).
    fn max_seq(&self, agent: &str) -> Result<u64, StoreError>;
    /// Every line held for `agent` as (seq, hash), by seq.
    fn record_hashes(&self, agent: &str) -> Result<Vec<(u64, String)>, StoreError>;

    /// The trusted key of an agent id.
    fn trust_get(&self, agent: &str) -> Result<Option<TrustedKey>, StoreError>;
    /// The agent id that holds a key name.
    fn trust_name_holder(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Inserts a key, or on an existing agent id sets a given name.
    fn trust_put(&self, key: &TrustedKey) -> Result<(), StoreError>;
    fn trust_list(&self) -> Result<Vec<TrustedKey>, StoreError>;
    /// Removes by agent id or name; returns how many were removed.
    fn trust_remove(&self, id_or_name: &str) -> Result<usize, StoreError>;

    /// Stores the lines in one transaction that either links onto what is
    /// held (per `batch.link`) or changes nothing: a line held with another
    /// hash is a fork, one held with the same hash a duplicate. Derives the
    /// incident columns of every new line.
    fn import(
        &self,
        batch: &ImportBatch<'_>,
        lines: &mut dyn Iterator<Item = Result<BundleLine, ImportError>>,
    ) -> Result<ImportOutcome, ImportError>;

    /// The incidents in scope, oldest first (session time, else first
    /// finding's; then session id, then agent). Keep that order in an
    /// index: `incidents list` and `report` read every incident.
    fn incidents(&self, scope: &Scope<'_>) -> Result<Vec<IncidentRow>, StoreError>;
    /// (agent, session) of every incident of `agent` (or of all agents).
    fn incident_keys(&self, agent: Option<&str>) -> Result<Vec<(String, String)>, StoreError>;
    /// The distinct agents that have incidents.
    fn incident_agents(&self) -> Result<Vec<String>, StoreError>;
    /// What one incident's display id depends on (from the index).
    fn incident_neighbours(&self, agent: &str, session: &str) -> Result<Neighbours, StoreError>;
    /// (agent, session) of the incidents whose session id starts with
    /// `session` and, when given, whose agent id starts with `agent`
    /// (ASCII case ignored).
    fn incidents_with_prefix(
        &self,
        agent: Option<&str>,
        session: &str,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// The distinct taxonomies (JSON) of the findings in scope, per
    /// (agent, session).
    fn taxonomies(&self, scope: &Scope<'_>) -> Result<Vec<(String, String, String)>, StoreError>;
    /// The finding lines in scope that carry no taxonomy (old agents).
    fn untagged_findings(&self, scope: &Scope<'_>) -> Result<Vec<LineRow>, StoreError>;
    /// Every stored line of `agent` of one record type, by seq (`session`
    /// left empty). Used for the agent's key rotations.
    fn lines_of_type(&self, agent: &str, kind: &str) -> Result<Vec<LineRow>, StoreError>;
    /// Every finding line of one incident, by seq.
    fn finding_lines(&self, agent: &str, session: &str) -> Result<Vec<LineRow>, StoreError>;
    /// One incident's triage history, oldest first.
    fn triage_history(&self, agent: &str, session: &str) -> Result<Vec<TriageRow>, StoreError>;
    /// Appends a triage row (its `id` is ignored); returns the new id.
    fn triage_insert(&self, agent: &str, session: &str, row: &TriageRow)
        -> Result<i64, StoreError>;
}
