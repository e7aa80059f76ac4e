//! Importing journal lines into the collector store: from a signed bundle
//! (trusted key looked up by the signature's key id, bundle verified before
//! anything is parsed) or from the agent's own journal directory. Every
//! import is one transaction that either links onto what the store already
//! holds for that agent or changes nothing: a gap or a fork is refused, and
//! lines already held are not added twice. Every line is checked against
//! the record schema (`validate`) before it is stored: a record of unknown
//! shape refuses the whole import, naming its seq.

use super::{trust, ImportBatch, LogPolicy, Store, StoreError};
use crate::bundle::{self, BundleError, BundleLine};
use crate::journal::{self, JournalError};
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
    #[error("record seq {seq} does not match the record schema, nothing imported: {why}")]
    Record {
        seq: u64,
        why: super::validate::RecordError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        ImportError::Store(StoreError::from(e))
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
    import_bundle_bytes(store, &data, &sig, &crate::engine::pathfmt::display(path))
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
    let batch = ImportBatch {
        agent: &claim.agent,
        link: Some((claim.from, &vb.first_prev)),
        from: claim.from,
        to: claim.to,
        source,
        sha256: Some(&vb.sha256),
        log: LogPolicy::Always,
    };
    store
        .backend()
        .import(&batch, &mut vb.lines.iter().cloned().map(checked))
}

/// A line that passed the record schema check (`validate`), as stored.
fn checked(line: BundleLine) -> Result<BundleLine, ImportError> {
    super::validate::record(line.seq, line.line.as_bytes())
        .map_err(|why| ImportError::Record { seq: line.seq, why })?;
    Ok(line)
}

/// Loads the agent's own journal (`dir`) into the store, continuing from
/// the highest seq already held. The chain is checked as it is read; a
/// journal that does not check out changes nothing.
pub fn import_journal(
    store: &mut Store,
    dir: &Path,
    agent: &str,
) -> Result<ImportOutcome, ImportError> {
    let have = store.max_seq(agent)?;
    let lines = if have == 0 {
        journal::read_agent(dir, agent)?
    } else {
        journal::read_from(dir, have)?
    };
    let source = crate::engine::pathfmt::display(dir);
    let batch = ImportBatch {
        agent,
        link: None,
        from: have.max(1),
        to: have,
        source: &source,
        sha256: None,
        log: LogPolicy::IfAdded,
    };
    let mut lines = lines.map(|l| checked(journal_line(l?)?));
    store.backend().import(&batch, &mut lines)
}

/// A line read from the journal as the store takes it.
fn journal_line(l: journal::JournalLine) -> Result<BundleLine, ImportError> {
    let p = journal::parse_line(&l.bytes).map_err(|e| {
        ImportError::Journal(JournalError::BadRecord(format!("seq {}: {e}", l.seq)))
    })?;
    Ok(BundleLine {
        seq: p.seq,
        session: p.session().map(str::to_string),
        time: p.time().map(str::to_string),
        kind: p.kind,
        hash: p.hash,
        line: String::from_utf8_lossy(&l.bytes).into_owned(),
    })
}
