//! The interface a collector database implements, and the rows it returns.
//! A backend owns its schema (the [`super::MIGRATIONS`], in order) and every
//! statement; it returns stored values as they are (JSON texts, slugs) and
//! the shared code in `trust`, `import`, `derived` and `incidents` decides
//! what they mean, so a second backend repeats no logic but the SQL. What
//! a backend computes at import with `derived` it stores per incident, so
//! that listing filters and report counts are single indexed queries.

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

impl TriageState {
    /// The state as the store keeps it (`incidents.state`).
    pub fn slug(self) -> &'static str {
        match self {
            TriageState::Untriaged => "untriaged",
            TriageState::Triaged => "triaged",
            TriageState::FalsePositive => "false_positive",
        }
    }

    /// The state a stored slug names.
    pub fn from_slug(s: &str) -> Option<TriageState> {
        [
            TriageState::Untriaged,
            TriageState::Triaged,
            TriageState::FalsePositive,
        ]
        .into_iter()
        .find(|t| t.slug() == s)
    }
}

/// Which incidents a query covers. Every condition is on a stored column
/// of the incident (kept current at import and triage), so a backend
/// answers it with an index.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope<'a> {
    pub agent: Option<&'a str>,
    /// Exactly this (agent, session).
    pub only: Option<(&'a str, &'a str)>,
    /// Only incidents in this triage state.
    pub state: Option<TriageState>,
    /// Only incidents whose time (session start, else first finding) is at
    /// or after this instant, in milliseconds since the Unix epoch.
    pub since: Option<i64>,
    /// Only incidents whose time is before this instant (same form).
    pub before: Option<i64>,
    /// Only incidents whose current event (latest triage, else automatic)
    /// is this one (a slug).
    pub event: Option<&'a str>,
    /// Only incidents whose time does not parse (the report leaves them
    /// out, naming them).
    pub untimed: bool,
}

/// One column of the report: the incidents whose time is in
/// `[from, to)` (milliseconds since the Unix epoch) count in `column`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub column: usize,
    pub from: i64,
    pub to: i64,
}

/// How many incidents of one period have one triage state and one current
/// classification, as stored (state and event slugs, causes as JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountRow {
    pub column: usize,
    pub state: String,
    pub event: String,
    pub causes: String,
    pub count: u64,
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
/// finding count, its session (if held), its latest triage (if any), its
/// automatic classification and how many characters of its session id
/// tell it apart (see `derived`).
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
    /// The event slug.
    pub auto_event: String,
    /// JSON of the causes.
    pub auto_causes: String,
    pub id_need: u64,
}

/// A stored journal line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRow {
    pub agent: String,
    pub session: String,
    pub seq: u64,
    pub line: String,
}

/// How far one forward destination has got with one agent: every line of
/// the agent up to `seq` was sent there (or had nothing to send).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CursorRow {
    pub agent: String,
    pub seq: u64,
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
    /// incident columns of every new line, then refreshes what the
    /// incidents it touched derive from all their lines (`derived`).
    fn import(
        &self,
        batch: &ImportBatch<'_>,
        lines: &mut dyn Iterator<Item = Result<BundleLine, ImportError>>,
    ) -> Result<ImportOutcome, ImportError>;

    /// The incidents in scope, oldest first (session time, else first
    /// finding's, as stored; then session id, then agent), from indexes
    /// that match the scope's conditions and that order.
    fn incidents(&self, scope: &Scope<'_>) -> Result<Vec<IncidentRow>, StoreError>;
    /// The distinct agents that have incidents, in order (an index skip
    /// scan: one lookup per agent, not per incident).
    fn incident_agents(&self) -> Result<Vec<String>, StoreError>;
    /// The agents with incidents just before and after `agent` in order
    /// (what its part of a display id depends on).
    fn agent_neighbours(&self, agent: &str) -> Result<[Option<String>; 2], StoreError>;
    /// (agent, session) of the incidents whose session id starts with
    /// `session` and, when given, whose agent id starts with `agent`
    /// (ASCII case ignored).
    fn incidents_with_prefix(
        &self,
        agent: Option<&str>,
        session: &str,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// The report's counts: per period, triage state and current
    /// classification, the number of incidents (one indexed range scan).
    fn report_counts(&self, periods: &[Period]) -> Result<Vec<CountRow>, StoreError>;
    /// Every stored line of `agent` of one record type, by seq (`session`
    /// left empty). Used for the agent's key rotations.
    fn lines_of_type(&self, agent: &str, kind: &str) -> Result<Vec<LineRow>, StoreError>;
    /// Every finding line of one incident, by seq.
    fn finding_lines(&self, agent: &str, session: &str) -> Result<Vec<LineRow>, StoreError>;
    /// One incident's triage history, oldest first.
    fn triage_history(&self, agent: &str, session: &str) -> Result<Vec<TriageRow>, StoreError>;
    /// Appends a triage row (its `id` is ignored) and, in the same
    /// transaction, makes it the incident's current state and
    /// classification unless a later row (higher id) already is; returns
    /// the new id.
    fn triage_insert(&self, agent: &str, session: &str, row: &TriageRow)
        -> Result<i64, StoreError>;

    /// Every agent with records, and the highest seq held for it, by agent.
    /// An agent's records are always seq 1 to that seq without a hole
    /// (imports link onto what is held), so a per-agent seq is a cursor
    /// that no concurrent import can jump over.
    fn forward_agents(&self) -> Result<Vec<CursorRow>, StoreError>;
    /// The cursors of one forward destination (agents it never got are
    /// absent: nothing sent yet).
    fn forward_cursors(&self, destination: &str) -> Result<Vec<CursorRow>, StoreError>;
    /// Up to `limit` finding, session and summary lines of `agent` with
    /// `after < seq <= upto`, by seq (`session` left empty).
    fn forward_lines(
        &self,
        agent: &str,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<LineRow>, StoreError>;
    /// The session start held for (agent, session), as derived at import.
    fn session_row(&self, agent: &str, session: &str) -> Result<Option<SessionRow>, StoreError>;
    /// Records that `destination` accepted every line of `agent` up to
    /// `seq`. A cursor never moves back (`--all` resending does not lower
    /// it).
    fn forward_advance(&self, destination: &str, agent: &str, seq: u64) -> Result<(), StoreError>;
}
