//! Which key vouches for which part of a journal. An agent's journal is
//! signed by its first key (whose id is the agent id, bound into the
//! genesis value) until a `key_rotation` record: the old key signs that
//! record naming the new key, the new key countersigns it, and checkpoints
//! after it are the new key's. [`KeyTrack`] follows this over consecutive
//! lines (a journal from seq 1, a journal's tail from its last anchor, a
//! bundle) and verifies every checkpoint and rotation with the key active
//! at its place. A checkpoint met before the key that signed it is known
//! (a reader holding only the newest key, before the rotation that names
//! the older one) is held, small, until the rotation names its key.

use super::line::{checkpoint_signer, names_previous, signature_field, LineError, ParsedLine};
use super::record::{Entry, JournalRecord, KeyRotation};
use crate::keys::{PublicKey, SecretKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// Domain separator for key rotation signatures.
pub const ROTATION_DOMAIN: &str = "kensa-key-rotation-v1";

/// The bytes both keys of a rotation sign.
pub fn rotation_message(r: &KeyRotation) -> String {
    format!(
        "{ROTATION_DOMAIN}\n{}\n{}\n{}\n{}\n{}\n{}",
        r.agent, r.head_seq, r.head, r.old_public_key, r.new_public_key, r.reason
    )
}

/// A rotation record from `old` to `new` naming `head_seq`/`head` as the
/// line before it, signed by both keys.
pub fn rotation(
    old: &SecretKey,
    new: &SecretKey,
    agent: &str,
    head_seq: u64,
    head: &str,
    reason: &str,
) -> KeyRotation {
    let mut r = KeyRotation {
        v: 1,
        time: crate::findings::now_rfc3339(),
        agent: agent.to_string(),
        head_seq,
        head: head.to_string(),
        old_key: old.key_id_hex(),
        old_public_key: old.public().to_base64(),
        new_key: new.key_id_hex(),
        new_public_key: new.public().to_base64(),
        reason: reason.to_string(),
        sig: String::new(),
        new_sig: String::new(),
    };
    let msg = rotation_message(&r);
    r.sig = B64.encode(old.sign_raw(msg.as_bytes()));
    r.new_sig = B64.encode(new.sign_raw(msg.as_bytes()));
    r
}

/// A rotation as a reader met it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub seq: u64,
    pub agent: String,
    pub old: PublicKey,
    pub new: PublicKey,
}

/// A checkpoint whose key was not known yet when it was read.
#[derive(Debug)]
struct Held {
    seq: u64,
    signer: String,
    line: ParsedLine,
}

/// Follows the signing key over consecutive lines; see the module doc.
#[derive(Debug)]
pub struct KeyTrack {
    /// A key the reader trusts; taken as the active key when the first
    /// signed line names it.
    hint: Option<PublicKey>,
    /// The key that signs from here on, once known.
    active: Option<PublicKey>,
    /// The agent id every signed line names, once known.
    agent: Option<String>,
    held: Vec<Held>,
    rotations: Vec<Rotation>,
    /// The first key met (the signer of the first checkpoint or the old
    /// key of the first rotation).
    first: Option<PublicKey>,
}

/// Why a rotation is wrong.
fn rot_err(detail: impl Into<String>) -> LineError {
    LineError::Rotation(detail.into())
}

impl KeyTrack {
    /// A track for lines the reader expects `hint` (if any) to have signed
    /// somewhere, of agent `agent` (if known).
    pub fn new(hint: Option<PublicKey>, agent: Option<&str>) -> KeyTrack {
        KeyTrack {
            hint,
            active: None,
            agent: agent.map(str::to_string),
            held: Vec::new(),
            rotations: Vec::new(),
            first: None,
        }
    }

    /// Checks one line: a checkpoint or a key rotation is verified (or a
    /// checkpoint held until its key is known); anything else passes.
    /// Returns true for those two kinds (the anchors a journal opens from).
    pub fn take(&mut self, line: &ParsedLine) -> Result<bool, LineError> {
        match line.kind.as_str() {
            "checkpoint" => self.checkpoint(line).map(|()| true),
            "key_rotation" => self.rotation(line).map(|()| true),
            _ => Ok(false),
        }
    }

    fn set_agent(&mut self, agent: &str) -> Result<(), LineError> {
        match &self.agent {
            Some(a) if a != agent => Err(LineError::Malformed("signed record", "agent")),
            Some(_) => Ok(()),
            None => {
                self.agent = Some(agent.to_string());
                Ok(())
            }
        }
    }

    fn checkpoint(&mut self, line: &ParsedLine) -> Result<(), LineError> {
        let signer = checkpoint_signer(line)
            .ok_or(LineError::Malformed("checkpoint", "agent"))?
            .to_string();
        if self.active.is_none() {
            if let Some(h) = self.hint.as_ref().filter(|h| h.key_id_hex() == signer) {
                self.active = Some(h.clone());
                self.first.get_or_insert_with(|| h.clone());
            }
        }
        match &self.active {
            Some(key) => {
                let agent = super::check_checkpoint(line, key)?;
                self.set_agent(&agent)
            }
            None => {
                // Cheap checks now; the signature once the key is known.
                names_previous(line, "checkpoint")?;
                self.held.push(Held {
                    seq: line.seq,
                    signer,
                    line: line.clone(),
                });
                Ok(())
            }
        }
    }

    fn rotation(&mut self, line: &ParsedLine) -> Result<(), LineError> {
        let r = match Entry::from_parsed(line) {
            Ok(Entry::Journal(JournalRecord::KeyRotation(r))) => r,
            _ => return Err(LineError::Malformed("key_rotation", "fields")),
        };
        names_previous(line, "key_rotation")?;
        let old = parse_key(&r.old_public_key, &r.old_key)?;
        let new = parse_key(&r.new_public_key, &r.new_key)?;
        if let Some(active) = &self.active {
            if *active != old {
                return Err(rot_err(format!(
                    "seq {} is signed by key {}, but key {} signs at that point",
                    line.seq,
                    old.key_id_hex(),
                    active.key_id_hex()
                )));
            }
        }
        let msg = rotation_message(&r);
        old.verify_raw(
            msg.as_bytes(),
            &signature_field(line, "key_rotation", "sig")?,
        )
        .map_err(|_| rot_err(format!("seq {}: old key's signature", line.seq)))?;
        new.verify_raw(
            msg.as_bytes(),
            &signature_field(line, "key_rotation", "new_sig")?,
        )
        .map_err(|_| rot_err(format!("seq {}: new key's signature", line.seq)))?;
        self.set_agent(&r.agent)?;
        self.first.get_or_insert_with(|| old.clone());
        self.flush_held(&old)?;
        self.active = Some(new.clone());
        self.rotations.push(Rotation {
            seq: line.seq,
            agent: r.agent,
            old,
            new,
        });
        Ok(())
    }

    /// Verifies the held checkpoints with `key`, now known to have been
    /// the active key when they were written.
    fn flush_held(&mut self, key: &PublicKey) -> Result<(), LineError> {
        for h in std::mem::take(&mut self.held) {
            if h.signer != key.key_id_hex() {
                return Err(rot_err(format!(
                    "checkpoint seq {} is signed by key {}, but key {} signs at that point",
                    h.seq,
                    h.signer,
                    key.key_id_hex()
                )));
            }
            let agent = super::check_checkpoint(&h.line, key)?;
            self.set_agent(&agent)?;
        }
        Ok(())
    }

    /// Ends the track: checkpoints still held are verified with `fallback`
    /// (the key the reader trusts, when the lines held no rotation).
    pub fn finish(mut self, fallback: Option<&PublicKey>) -> Result<Track, LineError> {
        if !self.held.is_empty() {
            let key = fallback.ok_or_else(|| rot_err("checkpoints by a key never named"))?;
            self.first.get_or_insert_with(|| key.clone());
            self.flush_held(key)?;
            self.active = Some(key.clone());
        }
        Ok(Track {
            agent: self.agent,
            first: self.first,
            last: self.active,
            rotations: self.rotations,
        })
    }
}

/// What a [`KeyTrack`] found.
#[derive(Debug, Clone)]
pub struct Track {
    /// The agent id the signed lines name (None: there were none).
    pub agent: Option<String>,
    /// The key that signed first and the key that signs last (None: no
    /// signed line).
    pub first: Option<PublicKey>,
    pub last: Option<PublicKey>,
    pub rotations: Vec<Rotation>,
}

fn parse_key(b64: &str, id: &str) -> Result<PublicKey, LineError> {
    let key = PublicKey::parse(b64).map_err(|e| rot_err(format!("public key: {e}")))?;
    if key.key_id_hex() != id {
        return Err(rot_err(format!(
            "public key {} does not have the key id {id} it is named with",
            key.key_id_hex()
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use crate::journal::tests::skip;
    use crate::journal::{segments, verify, Journal, JournalError};
    use crate::keys::SecretKey;
    use std::fs;

    #[test]
    fn a_rotation_is_followed_by_open_and_verify_with_either_end_key() {
        let dir = tempfile::tempdir().unwrap();
        let old = SecretKey::generate().unwrap();
        let new = SecretKey::generate().unwrap();
        let mut j = Journal::open(dir.path(), &old).unwrap();
        j.append(&skip(1)).unwrap();
        j.checkpoint().unwrap();
        j.append(&skip(2)).unwrap();
        let at = j.rotate_key(&new, "test").unwrap();
        assert_eq!(at.seq, 4);
        j.append(&skip(3)).unwrap();
        drop(j);
        // The old key no longer opens it; the new one does, same agent.
        assert!(Journal::open(dir.path(), &old).is_err());
        let j = Journal::open(dir.path(), &new).unwrap();
        assert_eq!(j.agent(), old.key_id_hex());
        drop(j);
        for key in [&old, &new] {
            let r = verify(dir.path(), &key.public()).unwrap();
            assert_eq!(r.agent, old.key_id_hex());
            assert_eq!(r.rotations.len(), 1);
            assert_eq!(r.rotations[0].new, new.public());
        }
        let third = SecretKey::generate().unwrap().public();
        assert!(verify(dir.path(), &third).is_err());
    }

    /// A journal with one record, then a rotation from `old` to `new`.
    fn rotated() -> (tempfile::TempDir, SecretKey, SecretKey) {
        let dir = tempfile::tempdir().unwrap();
        let old = SecretKey::generate().unwrap();
        let new = SecretKey::generate().unwrap();
        let mut j = Journal::open(dir.path(), &old).unwrap();
        j.append(&skip(1)).unwrap();
        j.rotate_key(&new, "test").unwrap();
        (dir, old, new)
    }

    #[test]
    fn a_rotation_cut_off_before_its_checkpoint_opens_from_the_rotation() {
        let (dir, _, new) = rotated();
        // Drop the new key's checkpoint after the rotation record.
        let seg = segments(dir.path()).unwrap().pop().unwrap().1;
        let data = fs::read(&seg).unwrap();
        let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        fs::write(&seg, lines[..lines.len() - 1].concat()).unwrap();
        let mut j = Journal::open(dir.path(), &new).unwrap();
        j.append(&skip(2)).unwrap();
        drop(j);
        verify(dir.path(), &new.public()).unwrap();
    }

    #[test]
    fn a_forged_rotation_is_tampering() {
        let (dir, old, _) = rotated();
        let seg = segments(dir.path()).unwrap().pop().unwrap().1;
        let text = fs::read_to_string(&seg).unwrap();
        let forged = text.replacen("\"reason\":\"test\"", "\"reason\":\"tesT\"", 1);
        assert_ne!(forged, text);
        fs::write(&seg, forged).unwrap();
        assert!(matches!(
            verify(dir.path(), &old.public()),
            Err(JournalError::Tampered { .. })
        ));
    }
}
