//! Importing journal lines into the collector store: from a signed bundle
//! (trusted key looked up by the signature's key id, bundle verified before
//! anything is parsed) or from the agent's own journal directory. Every
//! import is one transaction that either links onto what the store already
//! holds for that agent or changes nothing: a gap or a fork is refused, and
//! lines already held are not added twice.

use super::{trust, Store, StoreError};
use crate::bundle::{self, BundleError, BundleLine};
use crate::journal::{self, JournalError};
use rusqlite::{OptionalExtension, Transaction};
use std::path::Path;

/// Why an import was refused. The store is unchanged whenever one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("bundle is signed by key {agent}, which is not trusted here (kensa trust add)")]
    Untrusted { agent: String },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("gap: the store holds agent {agent} up to seq {have}, the bundle starts at seq {from}; import the missing records first")]
    Gap { agent: String, have: u64, from: u64 },
    #[error("FORK: agent {agent} seq {seq} is {held} in the store but {got} here; refusing")]
    Fork {
        agent: String,
        seq: u64,
        held: String,
        got: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        ImportError::Store(StoreError::Sql(e))
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub agent: String,
    pub from: u64,
    pub to: u64,
    pub added: u64,
    pub duplicates: u64,
}

/// Reads `path` and `path.minisig` (size-capped) and imports them.
pub fn import_bundle_file(store: &mut Store, path: &Path) -> Result<ImportOutcome, ImportError> {
    let (data, sig) = bundle::read_files(path)?;
    import_bundle_bytes(store, &data, &sig, &path.display().to_string())
}

/// Verifies a bundle against the trusted key its signature names, then
/// imports it in one transaction. `source` is recorded in the import log.
pub fn import_bundle_bytes(
    store: &mut Store,
    data: &[u8],
    sig_text: &str,
    source: &str,
) -> Result<ImportOutcome, ImportError> {
    let agent = bundle::signature_key_id(sig_text)?;
    let key = trust::lookup(store, &agent)?.ok_or(ImportError::Untrusted { agent })?;
    let vb = bundle::verify_bytes(data, sig_text, &key)?;
    let claim = &vb.claim;
    let tx = store.conn_mut().transaction()?;
    link(&tx, &claim.agent, claim.from, &vb.first_prev)?;
    let mut outcome = ImportOutcome {
        agent: claim.agent.clone(),
        from: claim.from,
        to: claim.to,
        added: 0,
        duplicates: 0,
    };
    let now = crate::findings::now_rfc3339();
    for line in &vb.lines {
        insert(&tx, &claim.agent, line, &now, &mut outcome)?;
    }
    log_import(&tx, &outcome, source, Some(&vb.sha256), &now)?;
    tx.commit()?;
    Ok(outcome)
}

/// Loads the agent's own journal (`dir`) into the store, continuing from
/// the highest seq already held. The chain is checked as it is read.
pub fn import_journal(
    store: &mut Store,
    dir: &Path,
    agent: &str,
) -> Result<ImportOutcome, ImportError> {
    let have = store.max_seq(agent)?;
    let tx = store.conn_mut().transaction()?;
    let mut outcome = ImportOutcome {
        agent: agent.to_string(),
        from: have.max(1),
        to: have,
        added: 0,
        duplicates: 0,
    };
    let now = crate::findings::now_rfc3339();
    let lines = if have == 0 {
        journal::read_agent(dir, agent)?
    } else {
        journal::read_from(dir, have)?
    };
    for l in lines {
        let l = l?;
        let p = journal::parse_line(&l.bytes).map_err(|e| {
            ImportError::Journal(JournalError::BadRecord(format!("seq {}: {e}", l.seq)))
        })?;
        let line = BundleLine {
            seq: p.seq,
            session: p.session().map(str::to_string),
            time: p.time().map(str::to_string),
            kind: p.kind,
            hash: p.hash,
            line: String::from_utf8_lossy(&l.bytes).into_owned(),
        };
        insert(&tx, agent, &line, &now, &mut outcome)?;
        outcome.to = l.seq;
    }
    if outcome.added > 0 {
        log_import(&tx, &outcome, &dir.display().to_string(), None, &now)?;
    }
    tx.commit()?;
    Ok(outcome)
}

fn held_hash(tx: &Transaction<'_>, agent: &str, seq: u64) -> rusqlite::Result<Option<String>> {
    tx.query_row(
        "SELECT hash FROM records WHERE agent = ?1 AND seq = ?2",
        rusqlite::params![agent, seq as i64],
        |r| r.get(0),
    )
    .optional()
}

/// The line before `from` must be held with the hash the bundle's first
/// line names (seq 1's prev was already checked against the genesis value).
fn link(tx: &Transaction<'_>, agent: &str, from: u64, first_prev: &str) -> Result<(), ImportError> {
    if from == 1 {
        return Ok(());
    }
    match held_hash(tx, agent, from - 1)? {
        Some(h) if h == first_prev => Ok(()),
        Some(h) => Err(ImportError::Fork {
            agent: agent.to_string(),
            seq: from - 1,
            held: h,
            got: first_prev.to_string(),
        }),
        None => {
            let have: Option<i64> = tx.query_row(
                "SELECT MAX(seq) FROM records WHERE agent = ?1",
                [agent],
                |r| r.get(0),
            )?;
            Err(ImportError::Gap {
                agent: agent.to_string(),
                have: have.unwrap_or(0) as u64,
                from,
            })
        }
    }
}

fn insert(
    tx: &Transaction<'_>,
    agent: &str,
    line: &BundleLine,
    now: &str,
    outcome: &mut ImportOutcome,
) -> Result<(), ImportError> {
    match held_hash(tx, agent, line.seq)? {
        Some(h) if h == line.hash => outcome.duplicates += 1,
        Some(h) => {
            return Err(ImportError::Fork {
                agent: agent.to_string(),
                seq: line.seq,
                held: h,
                got: line.hash.clone(),
            })
        }
        None => {
            tx.execute(
                "INSERT INTO records(agent, seq, hash, type, session, time, line, imported)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    agent,
                    line.seq as i64,
                    line.hash,
                    line.kind,
                    line.session,
                    line.time,
                    line.line,
                    now
                ],
            )?;
            outcome.added += 1;
        }
    }
    Ok(())
}

fn log_import(
    tx: &Transaction<'_>,
    o: &ImportOutcome,
    source: &str,
    sha256: Option<&str>,
    now: &str,
) -> Result<(), ImportError> {
    tx.execute(
        "INSERT INTO imports(time, agent, source, sha256, from_seq, to_seq, added, duplicates)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            now,
            o.agent,
            source,
            sha256,
            o.from as i64,
            o.to as i64,
            o.added as i64,
            o.duplicates as i64
        ],
    )?;
    Ok(())
}
