//! Changing the agent key (`kensa keygen --force`) without stranding the
//! journal. With the old secret key at hand the change is a rotation: the
//! old key signs a `key_rotation` record naming the new key, the new key
//! signs from the next line on, and the agent id stays. The new key is
//! staged as `keys/agent.key.next` before the record is written and
//! installed after it, so a crash in between is finished by the next
//! `keygen --force`. Without the old key (file missing or unreadable)
//! nothing can vouch for a new key: the journal is closed as it is (moved
//! into `<state>/closed-<agent>-<time>/journal`, with the old `agent.pub`
//! beside it in `keys/` when it is still there, so `kensa --state-dir
//! <that> verify --journal` checks it) and a new journal, of a new agent
//! id, starts with a `key_reset` record naming what was last seen of the
//! old one.

use super::{last_signer, status, take_lock, Journal, JournalError, JournalOptions, KeyReset};
use crate::fsutil::at;
use crate::keys::{KeyError, SecretKey};
use crate::state::StateDir;
use std::fs;
use std::path::PathBuf;

/// What [`change_agent_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rekeyed {
    /// The old key signed a rotation record at `seq`; the agent id stays.
    Rotated {
        agent: String,
        old_key: String,
        new_key: String,
        seq: u64,
        /// The old public key, kept as `keys/agent-<old id>.pub`.
        old_public: PathBuf,
    },
    /// A rotation whose record was written but whose key was not yet
    /// installed (a crash) was finished.
    Finished { agent: String, new_key: String },
    /// The old key could not be loaded: the old journal was closed and a
    /// new one (of the new agent id) starts with a `key_reset` record at
    /// seq 1.
    Reset {
        lost: String,
        new_agent: String,
        previous: Box<KeyReset>,
        /// The state directory holding the closed journal.
        closed: PathBuf,
        /// Findings in the closed journal after its last export.
        unexported_findings: u64,
        /// Whether the old `agent.pub` was copied into `closed/keys`.
        public_key_kept: bool,
    },
    /// There was neither a usable key nor a journal: a new key.
    Created { new_key: String },
}

/// `keys/agent.key.next`: a new key staged during a rotation.
pub fn staged_key(state: &StateDir) -> PathBuf {
    state.keys_dir().join("agent.key.next")
}

/// Replaces the agent key; see the module doc. `reason` goes into the record.
pub fn change_agent_key(
    state: &StateDir,
    reason: &str,
    opts: JournalOptions,
) -> Result<Rekeyed, JournalError> {
    let dir = state.journal_dir();
    if let Some(done) = finish_staged(state, opts)? {
        return Ok(done);
    }
    match SecretKey::load(&state.secret_key()) {
        Ok(old) => rotate(state, &old, reason, opts),
        Err(lost) if has_lines(&dir)? => reset(state, &lost, reason, opts),
        Err(_) => Ok(Rekeyed::Created {
            new_key: crate::keys::create_agent_key(state)?.key_id_hex(),
        }),
    }
}

/// Whether the journal directory holds any segment with bytes in it.
fn has_lines(dir: &std::path::Path) -> Result<bool, JournalError> {
    for (_, path) in super::segments(dir)? {
        if fs::metadata(&path).map_err(at(&path))?.len() > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A staged key the journal is already signed with is installed; one it
/// is not (the crash came before the record) is discarded.
fn finish_staged(state: &StateDir, opts: JournalOptions) -> Result<Option<Rekeyed>, JournalError> {
    let path = staged_key(state);
    if !path.exists() {
        return Ok(None);
    }
    let opened = SecretKey::load(&path).ok().and_then(|k| {
        Journal::open_with(&state.journal_dir(), &k, opts)
            .ok()
            .map(|j| (k, j))
    });
    let Some((key, journal)) = opened else {
        fs::remove_file(&path).map_err(at(&path))?;
        return Ok(None);
    };
    let agent = journal.agent().to_string();
    drop(journal);
    install(state, &key)?;
    Ok(Some(Rekeyed::Finished {
        agent,
        new_key: key.key_id_hex(),
    }))
}

/// Writes the agent key files for `key` and removes the staged key.
fn install(state: &StateDir, key: &SecretKey) -> Result<(), JournalError> {
    key.save(&state.secret_key())?;
    key.public().save(&state.public_key())?;
    let staged = staged_key(state);
    match fs::remove_file(&staged) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(at(&staged)(e).into()),
        _ => Ok(()),
    }
}

fn rotate(
    state: &StateDir,
    old: &SecretKey,
    reason: &str,
    opts: JournalOptions,
) -> Result<Rekeyed, JournalError> {
    // Opened first: a journal that does not check out with the old key
    // is not rotated (and nothing changes).
    let mut journal = Journal::open_with(&state.journal_dir(), old, opts)?;
    let new = SecretKey::generate()?;
    new.save(&staged_key(state))?;
    let appended = journal.rotate_key(&new, reason)?;
    let agent = journal.agent().to_string();
    drop(journal);
    let old_public = state
        .keys_dir()
        .join(format!("agent-{}.pub", old.key_id_hex()));
    old.public().save(&old_public)?;
    install(state, &new)?;
    Ok(Rekeyed::Rotated {
        agent,
        old_key: old.key_id_hex(),
        new_key: new.key_id_hex(),
        seq: appended.seq,
        old_public,
    })
}

/// The old key is lost: close the journal and start a new one.
fn reset(
    state: &StateDir,
    lost: &KeyError,
    reason: &str,
    opts: JournalOptions,
) -> Result<Rekeyed, JournalError> {
    let dir = state.journal_dir();
    // Held while the journal is moved, so no writer is inside it.
    let lock = take_lock(&dir, opts.lock_wait)?;
    let (previous_agent, previous_key) = last_signer(&dir).ok().flatten().unzip();
    let look = status::look_back(&dir, 0).ok();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = format!(
        "closed-{}-{stamp}",
        previous_agent.as_deref().unwrap_or("unknown")
    );
    let closed = StateDir::new(state.root().join(&name));
    fs::create_dir(closed.root()).map_err(at(closed.root()))?;
    fs::rename(&dir, closed.journal_dir()).map_err(at(&dir))?;
    drop(lock);
    crate::fsutil::sync_dir(state.root()).map_err(at(state.root()))?;
    let public_key_kept = keep_public_key(state, &closed, previous_key.as_deref())?;
    keep_unreadable_key(state, &closed)?;
    let new = crate::keys::create_agent_key(state)?;
    let record = KeyReset {
        v: 1,
        time: crate::findings::now_rfc3339(),
        previous_key,
        previous_agent: previous_agent.clone(),
        previous_head_seq: look.as_ref().map_or(0, |l| l.head_seq),
        previous_head: look.as_ref().map(|l| l.head.clone()).unwrap_or_default(),
        previous_exported_through: look.as_ref().map_or(0, |l| l.exported),
        previous_journal: name,
        reason: reason.to_string(),
    };
    let mut journal = Journal::open_with(&dir, &new, opts)?;
    journal.append(&super::JournalRecord::KeyReset(record.clone()))?;
    journal.checkpoint()?;
    Ok(Rekeyed::Reset {
        lost: lost.to_string(),
        new_agent: new.key_id_hex(),
        unexported_findings: count_findings(
            &closed.journal_dir(),
            record.previous_exported_through + 1,
        ),
        previous: Box::new(record),
        closed: closed.root().to_path_buf(),
        public_key_kept,
    })
}

/// An agent key file that is there but could not be loaded is moved into
/// the closed directory (`keys/agent.key.unreadable`) rather than
/// overwritten: it may yet be repaired.
fn keep_unreadable_key(state: &StateDir, closed: &StateDir) -> Result<(), JournalError> {
    let from = state.secret_key();
    if fs::symlink_metadata(&from).is_err() {
        return Ok(());
    }
    let keys = closed.keys_dir();
    if !keys.is_dir() {
        fs::create_dir(&keys).map_err(at(&keys))?;
    }
    let to = keys.join("agent.key.unreadable");
    fs::rename(&from, &to).map_err(at(&from))?;
    Ok(())
}

/// Findings in the journal in `dir` from seq `from` on (as far as it reads).
fn count_findings(dir: &std::path::Path, from: u64) -> u64 {
    let Ok(lines) = super::read_from(dir, from) else {
        return 0;
    };
    lines
        .map_while(Result::ok)
        .filter(|l| super::line::peek_kind(&l.bytes).as_deref() == Some("finding"))
        .count() as u64
}

/// Copies the old public key (when it is still there and is the key that
/// signed last) into the closed state directory, so that
/// `kensa --state-dir <closed> verify --journal` checks it as it is.
/// Returns whether it was copied.
fn keep_public_key(
    state: &StateDir,
    closed: &StateDir,
    key: Option<&str>,
) -> Result<bool, JournalError> {
    let Ok(pk) = crate::keys::PublicKey::load(&state.public_key()) else {
        return Ok(false);
    };
    if key.is_some_and(|k| k != pk.key_id_hex()) {
        return Ok(false);
    }
    let keys = closed.keys_dir();
    fs::create_dir(&keys).map_err(at(&keys))?;
    pk.save(&closed.public_key())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_rotation_is_finished_by_the_next_change() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path());
        let old = crate::keys::create_agent_key(&state).unwrap();
        let new = SecretKey::generate().unwrap();
        let mut j = Journal::open(&state.journal_dir(), &old).unwrap();
        j.append(&crate::journal::tests::skip(1)).unwrap();
        // Staged and journalled, then a crash before the key was installed.
        new.save(&staged_key(&state)).unwrap();
        j.rotate_key(&new, "test").unwrap();
        drop(j);
        assert!(Journal::open(&state.journal_dir(), &old).is_err());
        let done = change_agent_key(&state, "again", JournalOptions::default()).unwrap();
        assert_eq!(
            done,
            Rekeyed::Finished {
                agent: old.key_id_hex(),
                new_key: new.key_id_hex()
            }
        );
        assert!(!staged_key(&state).exists());
        let key = SecretKey::load(&state.secret_key()).unwrap();
        Journal::open(&state.journal_dir(), &key).unwrap();
    }

    #[test]
    fn an_unreadable_key_is_kept_beside_the_closed_journal() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::new(tmp.path());
        let old = crate::keys::create_agent_key(&state).unwrap();
        let mut j = Journal::open(&state.journal_dir(), &old).unwrap();
        j.append(&crate::journal::tests::skip(1)).unwrap();
        drop(j);
        fs::write(state.secret_key(), b"garbage").unwrap();
        let Rekeyed::Reset { closed, .. } =
            change_agent_key(&state, "t", JournalOptions::default()).unwrap()
        else {
            panic!("not a reset");
        };
        let kept = closed.join("keys/agent.key.unreadable");
        assert_eq!(fs::read(kept).unwrap(), b"garbage");
        assert!(closed.join("journal").is_dir());
        let key = SecretKey::load(&state.secret_key()).unwrap();
        Journal::open(&state.journal_dir(), &key).unwrap();
    }
}
