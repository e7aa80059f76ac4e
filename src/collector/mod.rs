//! The collector store (`<state>/kensa.db`): imported journal lines, the
//! trusted agent keys, the import log, the triage history, and the incident
//! columns derived from the lines at import. [`Store`] is the only way to
//! open it; it talks to a [`backend::Backend`] (SQLite, in `sqlite`, is the
//! one today), which owns every SQL statement and the schema, brought up
//! through the ordered list of [`MIGRATIONS`]. `trust` manages keys,
//! `import` brings bundles and the agent's own journal in, `open` opens the
//! store for the commands that read it (on an agent, importing its own
//! journal first), and `incidents` builds incidents and triage over what
//! the backend returns. `validate` checks every line against the record
//! schema before it is stored. It checks no signatures itself: bundle
//! verification lives in `bundle`.

pub mod backend;
pub mod import;
pub mod incidents;
pub mod open;
mod sqlite;
pub mod trust;
pub mod validate;

pub use backend::{Backend, ImportBatch, LogPolicy};
pub use import::{
    import_bundle_bytes, import_bundle_file, import_journal, ImportError, ImportOutcome,
};
pub use open::{open_with_own_journal, OpenError, Opened};
pub use trust::TrustedKey;

use crate::bundle::BundleLine;
use crate::findings::taxonomy::Classification;
use crate::findings::{Location, Record};
use std::path::Path;

/// Schema version this code brings a database to: the number of
/// [`MIGRATIONS`]. SQLite keeps it in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema's history, oldest first: migration `n` (1-based) brings a
/// database from version `n - 1` to `n`. Every backend implements each one,
/// in this order, and nothing else changes its schema.
pub const MIGRATIONS: [&str; 4] = [
    "records, trusted keys and the import log",
    "the triage history (retires the old per-table schema_versions table)",
    "incident columns derived from the lines at import (findings, sessions, incidents), back-filled",
    "forward cursors per destination",
];

/// Longest journal line decoded, in bytes; longer lines are kept but
/// derive nothing.
pub const MAX_LINE: usize = 1 << 20;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sql(rusqlite::Error),
    /// Another process held the database longer than the busy timeout.
    #[error("the database is busy: another kensa has held it for {} s; retry", sqlite::BUSY_TIMEOUT.as_secs())]
    Busy,
    #[error(
        "database schema version {found} is not one this kensa understands (0 to {SCHEMA_VERSION})"
    )]
    Schema { found: i64 },
    #[error(
        "database schema: table {table} has version {found}, newer than this kensa understands"
    )]
    TableTooNew { table: String, found: i64 },
    #[error("key error: {0}")]
    Key(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Trust(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy
            }
            _ => StoreError::Sql(e),
        }
    }
}

/// The collector database, behind one backend.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl Store {
    /// Opens or creates the SQLite database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Box::new(sqlite::Sqlite::open(path)?),
        })
    }

    /// A throw-away in-memory store (tests, fuzzing).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Ok(Store {
            backend: Box::new(sqlite::Sqlite::open_in_memory()?),
        })
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.backend.schema_version()
    }

    /// Highest seq held for `agent` (0 when none).
    pub fn max_seq(&self, agent: &str) -> Result<u64, StoreError> {
        self.backend.max_seq(agent)
    }

    /// Stores journal lines of `agent` as they are: duplicates are skipped
    /// and a fork refused, but the chain is not linked to what is held and
    /// nothing is logged. For test fixtures and tools that build a store
    /// from lines they made; imports go through [`import_bundle_bytes`] or
    /// [`import_journal`].
    pub fn insert_lines(
        &self,
        agent: &str,
        lines: &[BundleLine],
    ) -> Result<ImportOutcome, ImportError> {
        let batch = ImportBatch {
            agent,
            link: None,
            from: lines.first().map_or(0, |l| l.seq),
            to: 0,
            source: "",
            sha256: None,
            log: LogPolicy::Never,
        };
        self.backend
            .import(&batch, &mut lines.iter().cloned().map(Ok))
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }
}

/// A stored journal line as a scan record, through the journal's own
/// typed decoder (`journal::Entry`; lines were chain-checked at import).
/// Oversized and unreadable lines are `None` (with a warning); the
/// journal's bookkeeping records are `None`.
pub(crate) fn decode(agent: &str, seq: u64, line: &str) -> Option<Record> {
    if line.len() > MAX_LINE {
        tracing::warn!(
            agent,
            seq,
            "journal line longer than {MAX_LINE} bytes skipped"
        );
        return None;
    }
    match crate::journal::Entry::from_json(line.as_bytes()) {
        Ok(crate::journal::Entry::Scan(r)) => Some(r),
        Ok(crate::journal::Entry::Journal(_)) => None,
        Err(e) => {
            tracing::warn!(agent, seq, "unreadable journal record skipped: {e}");
            None
        }
    }
}

/// What incidents need from one journal line, derived when it is stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Derived {
    /// A finding: its session, time, location, and its taxonomy as JSON
    /// (`None` for old agents that recorded none).
    Finding {
        session: String,
        time: String,
        location: String,
        taxonomy: Option<String>,
    },
    /// A session start: its time, host, location and medium as JSON.
    Session {
        id: String,
        time: String,
        host: String,
        location: String,
        medium: Option<String>,
    },
}

/// Derives the incident columns of a line; `None` for other kinds and for
/// lines that do not decode.
pub fn derive(agent: &str, seq: u64, line: &str) -> Option<Derived> {
    match decode(agent, seq, line)? {
        Record::Finding(f) => Some(Derived::Finding {
            location: location_text(f.location),
            taxonomy: f.taxonomy.as_ref().and_then(taxonomy_text),
            session: f.session,
            time: f.time,
        }),
        Record::Session(s) => Some(Derived::Session {
            location: location_text(s.location),
            medium: s
                .medium
                .as_ref()
                .and_then(|m| serde_json::to_string(m).ok()),
            id: s.id,
            time: s.time,
            host: s.host,
        }),
        _ => None,
    }
}

fn location_text(l: Location) -> String {
    serde_json::to_string(&l).unwrap_or_default()
}

fn taxonomy_text(c: &Classification) -> Option<String> {
    serde_json::to_string(c).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_created_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kensa.db");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.max_seq("X").unwrap(), 0);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kensa.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        assert!(matches!(Store::open(&path), Err(StoreError::Schema { .. })));
    }
}
