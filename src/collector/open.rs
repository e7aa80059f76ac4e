//! Opening the collector store for the commands that read it (`incidents`,
//! `triage`, `report`). On an agent (a state directory with
//! `keys/agent.key` and `journal/`) the store is created if missing and
//! first brought up to date with the agent's own journal, so those commands
//! work there without an export and import; elsewhere an SQLite file must
//! already exist (created by `kensa import`). Either backend serves both.

use super::{import_journal, Database, ImportError, Store, StoreError};
use crate::journal::JournalError;
use crate::keys::{KeyError, PublicKey};
use crate::state::StateDir;
use std::path::PathBuf;
use std::time::Duration;

/// Tries to import the agent's journal while the running agent may be
/// writing its last line (a torn tail) this many times, this far apart.
const TORN_RETRIES: u32 = 5;
const TORN_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no collector database at {path}: import findings first (kensa import), or pass --state-dir")]
    NoDatabase { path: PathBuf },
    #[error("opening {database}")]
    Store {
        /// The database as shown (a URL without its password).
        database: String,
        #[source]
        source: StoreError,
    },
    #[error("loading the agent's public key {path}")]
    AgentKey {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("importing this agent's journal {dir} into {database}")]
    Import {
        dir: PathBuf,
        database: String,
        #[source]
        source: Box<ImportError>,
    },
}

/// An opened store, and what was left out of it.
pub struct Opened {
    pub store: Store,
    /// On an agent: the newest journal line was incomplete (still being
    /// written, or torn by a crash) after waiting briefly, so it was not
    /// imported. The caller warns; the next open tries again.
    pub torn_tail: Option<JournalError>,
}

/// Opens the collector database `db` for the state directory `state`. On
/// an agent it is created if missing and first brought up to date with the
/// agent's own journal; elsewhere an SQLite file must exist.
pub fn open_with_own_journal(state: &StateDir, db: &Database) -> Result<Opened, OpenError> {
    let agent = state.is_agent();
    if let Database::Sqlite(path) = db {
        if !agent && !path.is_file() {
            return Err(OpenError::NoDatabase { path: path.clone() });
        }
    }
    let mut store = Store::open_database(db).map_err(|source| OpenError::Store {
        database: db.shown(),
        source,
    })?;
    let torn_tail = if agent {
        import_own_journal(state, db, &mut store)?
    } else {
        None
    };
    Ok(Opened { store, torn_tail })
}

/// Imports the records of the agent's own journal that the store does not
/// hold yet (continuing from the highest seq held; the chain and the agent
/// id are checked as it is read). A journal that does not check out is an
/// error. A last line the running agent is still writing is waited for
/// briefly, then returned as the torn tail and left for next time.
fn import_own_journal(
    state: &StateDir,
    db: &Database,
    store: &mut Store,
) -> Result<Option<JournalError>, OpenError> {
    let dir = state.journal_dir();
    let pk_path = state.public_key();
    let own = PublicKey::load(&pk_path)
        .map_err(|source| OpenError::AgentKey {
            path: pk_path.clone(),
            source,
        })?
        .key_id_hex();
    // After a key rotation the agent id is the journal's first key's.
    let agent = crate::journal::agent_of(&dir).ok().flatten().unwrap_or(own);
    let mut attempt = 0;
    loop {
        match import_journal(store, &dir, &agent) {
            Ok(o) => {
                if o.added > 0 {
                    tracing::info!(
                        agent = %agent,
                        "imported seq {}-{} of this agent's journal ({} new records)",
                        o.from,
                        o.to,
                        o.added
                    );
                }
                return Ok(None);
            }
            Err(ImportError::Journal(JournalError::TornTail { .. })) if attempt < TORN_RETRIES => {
                attempt += 1;
                std::thread::sleep(TORN_RETRY_DELAY);
            }
            Err(ImportError::Journal(e @ JournalError::TornTail { .. })) => return Ok(Some(e)),
            Err(source) => {
                return Err(OpenError::Import {
                    dir,
                    database: db.shown(),
                    source: Box::new(source),
                })
            }
        }
    }
}
