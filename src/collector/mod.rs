//! The collector's SQLite store (`<state>/kensa.db`, bundled SQLite): the
//! `records` table of imported journal lines that incidents and triage are
//! built on, the trusted agent keys, and the import log. This module owns
//! opening the database and its schema version (`PRAGMA user_version`);
//! `trust` manages keys, `import` brings bundles in, and `incidents` builds
//! incidents and triage over the records. It checks no signatures itself:
//! bundle verification lives in `bundle`.

pub mod import;
pub mod incidents;
pub mod trust;

pub use import::{
    import_bundle_bytes, import_bundle_file, import_journal, ImportError, ImportOutcome,
};
pub use trust::TrustedKey;

use rusqlite::Connection;
use std::path::Path;

/// Schema version this code writes (`PRAGMA user_version`). Modules that
/// add tables on top create them with `IF NOT EXISTS` and may raise it.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records(agent TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, type TEXT NOT NULL, session TEXT, time TEXT, line TEXT NOT NULL, imported TEXT NOT NULL, PRIMARY KEY(agent, seq));
CREATE TABLE IF NOT EXISTS trusted_keys(agent TEXT PRIMARY KEY, pubkey TEXT NOT NULL, name TEXT UNIQUE, added TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS imports(id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, agent TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, added INTEGER NOT NULL, duplicates INTEGER NOT NULL);
";

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
    Sql(#[from] rusqlite::Error),
    #[error("database schema version {found} is older than this kensa understands")]
    Schema { found: i64 },
    #[error("key error: {0}")]
    Key(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Trust(String),
}

/// The collector database.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens or creates the database at `path` and brings its schema up.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Store::init(conn)
    }

    /// A throw-away in-memory store (tests, fuzzing).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 0 {
            return Err(StoreError::Schema { found: version });
        }
        conn.execute_batch(SCHEMA)?;
        if version < SCHEMA_VERSION {
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        Ok(Store { conn })
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Highest seq held for `agent` (0 when none).
    pub fn max_seq(&self, agent: &str) -> Result<u64, StoreError> {
        let v: Option<i64> = self.conn.query_row(
            "SELECT MAX(seq) FROM records WHERE agent = ?1",
            [agent],
            |r| r.get(0),
        )?;
        Ok(v.unwrap_or(0) as u64)
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
        let v: i64 = s
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.max_seq("X").unwrap(), 0);
    }
}
