//! Importing journal lines into the collector store: from a signed bundle
//! (trusted key looked up by the signature's key id, bundle verified before
//! anything is parsed) or from the agent's own journal directory. Every
//! import is one transaction that either links onto what the store already
//! holds for that agent or changes nothing: a gap or a fork is refused, and
//! lines already held are not added twice. Every line is checked against
//! the record schema (`validate`) before it is stored: a record of unknown
//! shape refuses the whole import, naming its seq.

use super::{trust, ImportBatch, LogPolicy, Store, StoreError};
use crate::bundle::{self, BundleError, BundleLine, VerifiedBundle};
use crate::journal::{self, Entry, JournalError, JournalRecord};
use crate::keys::PublicKey;
use std::path::Path;

/// Why an import was refused. The store is unchanged whenever one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("bundle is signed by key {agent}, which is not trusted here (kensa trust add)")]
    Untrusted { agent: String },
    #[error("bundle of agent {agent} is signed by key {key}: {detail}")]
    AgentKey {
        agent: String,
        key: String,
        detail: String,
    },
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

/// Verifies a bundle against the trusted key its signature names (and,
/// for a rotated key, against the agent's key rotations), then imports it
/// in one transaction. `source` is recorded in the import log.
pub fn import_bundle_bytes(
    store: &mut Store,
    data: &[u8],
    sig_text: &str,
    source: &str,
) -> Result<ImportOutcome, ImportError> {
    let signer = bundle::signature_key_id(sig_text)?;
    let key = trust::lookup(store, &signer)?.ok_or(ImportError::Untrusted { agent: signer })?;
    let vb = bundle::verify_bytes(data, sig_text, &key)?;
    check_agent_keys(store, &vb)?;
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

/// Checks that the bundle's signer is a key of the agent it claims. The
/// agent's own key (id = agent id) is; so is a key that a key rotation of
/// that agent names, when the rotation is signed by a key of the agent
/// that is trusted here: rotations already imported (verified then), then
/// those in this bundle in order. The new key must itself be trusted
/// (`kensa trust add`): the old key vouching for it is not enough, since a
/// stolen old key could otherwise rotate the agent to a thief's key.
fn check_agent_keys(store: &Store, vb: &VerifiedBundle) -> Result<(), ImportError> {
    let agent = vb.claim.agent.as_str();
    if vb.rotations.is_empty() && vb.signer.key_id_hex() == agent {
        return Ok(());
    }
    let refuse = |detail: String| ImportError::AgentKey {
        agent: agent.to_string(),
        key: vb.signer.key_id_hex(),
        detail,
    };
    let mut known: Vec<PublicKey> = trust::lookup(store, agent)?.into_iter().collect();
    for row in store.backend().lines_of_type(agent, "key_rotation")? {
        if let Ok((_, Entry::Journal(JournalRecord::KeyRotation(r)))) =
            journal::decode(row.line.as_bytes())
        {
            known.extend(PublicKey::parse(&r.new_public_key).ok());
        }
    }
    for r in &vb.rotations {
        let old = r.old.key_id_hex();
        if !known.contains(&r.old) {
            return Err(refuse(format!(
                "the key rotation at seq {} is signed by key {old}, which is not a key of agent {agent} known here",
                r.seq
            )));
        }
        if trust::lookup(store, &old)?.as_ref() != Some(&r.old) {
            return Err(refuse(format!(
                "the key rotation at seq {} is signed by key {old}, which is not trusted here",
                r.seq
            )));
        }
        known.push(r.new.clone());
    }
    if !known.contains(&vb.signer) {
        return Err(refuse(format!(
            "no key rotation of agent {agent} held here names that key (import the bundle holding the rotation first)"
        )));
    }
    Ok(())
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
