//! The collector store (`<state>/kensa.db`, or a PostgreSQL database named
//! by a `postgresql://` URL): imported journal lines, the trusted agent
//! keys, the import log, the triage history, and the incident columns
//! derived from the lines at import. [`Store`] is the only way to open it
//! ([`Database`] says which); it talks to a [`backend::Backend`] (`sqlite`,
//! the embedded default, or `postgres`, with `pgconn` for the URL, the
//! password and TLS), which owns every SQL statement and the schema,
//! brought up through the ordered list of [`MIGRATIONS`]. `trust` manages keys,
//! `import` brings bundles and the agent's own journal in, `open` opens the
//! store for the commands that read it (on an agent, importing its own
//! journal first), `derived` computes what the store keeps per line and per
//! incident so that listing, filtering and the report's counts are SQL over
//! indexed columns, and `incidents` turns the backend's rows and counts into
//! incidents, triage and report tallies. `validate` checks every line
//! against the record schema before it is stored. It checks no signatures
//! itself: bundle verification lives in `bundle`.

pub mod backend;
pub mod derived;
pub mod import;
pub mod incidents;
pub mod open;
pub mod pgconn;
mod postgres;
mod sqlite;
pub mod trust;
pub mod validate;

pub use backend::{Backend, ImportBatch, LogPolicy};
pub use import::{
    import_bundle_bytes, import_bundle_file, import_journal, ImportError, ImportOutcome,
};
pub use open::{open_with_own_journal, OpenError, Opened};
pub use pgconn::{PgConfigError, PgTarget};
pub use trust::TrustedKey;

use crate::bundle::BundleLine;
use std::path::{Path, PathBuf};

/// Schema version this code brings a database to: the number of
/// [`MIGRATIONS`]. SQLite keeps it in `PRAGMA user_version`, PostgreSQL in
/// the table `kensa_schema`.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema's history, oldest first: migration `n` (1-based) brings a
/// database from version `n - 1` to `n`. Every backend implements each one,
/// in this order, and nothing else changes its schema.
pub const MIGRATIONS: [&str; 5] = [
    "records, trusted keys and the import log",
    "the triage history (retires the old per-table schema_versions table)",
    "incident columns derived from the lines at import (findings, sessions, incidents), back-filled",
    "aggregation columns and indexes: each incident's time in ms, automatic and current classification, triage state, id length; back-filled",
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
    #[error("database {target}: {}", pg_text(source))]
    PgConnect {
        /// The URL without its password.
        target: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error("PostgreSQL: {}", pg_text(.0))]
    Pg(::postgres::Error),
    #[error(transparent)]
    PgConfig(#[from] PgConfigError),
    /// A backend call made while another was still running (a bug).
    #[error("internal error: the database connection is already in use")]
    Reentered,
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

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> StoreError {
        if e.code() == Some(&::postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
            StoreError::Busy
        } else {
            StoreError::Pg(e)
        }
    }
}

/// A PostgreSQL error in one line: the server's message, code and detail
/// when it sent one (the client's own text says only "db error" then),
/// else the client's error and its causes.
fn pg_text(e: &::postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(d) = db.detail() {
            s.push_str(&format!("; {d}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}

/// Which collector database to open.
#[derive(Clone, Debug)]
pub enum Database {
    /// The SQLite file (`<state>/kensa.db` unless configured).
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PgTarget>),
}

impl Database {
    /// The database named by a URL (`--database`, else `[collector]
    /// database`); none: the SQLite file `<state>/kensa.db`.
    /// `password_file` holds the PostgreSQL password (else the libpq
    /// password file is read).
    pub fn select(
        state: &crate::state::StateDir,
        url: Option<&str>,
        password_file: Option<&Path>,
    ) -> Result<Database, PgConfigError> {
        match url {
            None => Ok(Database::Sqlite(state.database())),
            Some(u) => Ok(Database::Postgres(Box::new(PgTarget::new(
                u,
                password_file,
            )?))),
        }
    }

    /// How the database is named in messages (a URL without its password).
    pub fn shown(&self) -> String {
        match self {
            Database::Sqlite(p) => crate::engine::pathfmt::display(p),
            Database::Postgres(t) => t.shown().to_string(),
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

    /// Opens (creating or migrating) the database `db` names.
    pub fn open_database(db: &Database) -> Result<Store, StoreError> {
        match db {
            Database::Sqlite(p) => Store::open(p),
            Database::Postgres(t) => Ok(Store {
                backend: Box::new(self::postgres::Postgres::open(t)?),
            }),
        }
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

    /// Every line held for `agent` as (seq, hash), by seq: what a check
    /// of the store against a journal compares.
    pub fn record_hashes(&self, agent: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.backend.record_hashes(agent)
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
