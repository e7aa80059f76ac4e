//! Sneaker-net bundles: export a seq range of the journal as one file plus
//! its detached minisign signature, and verify such a pair. A bundle is a
//! header line `{"type":"bundle","v":1,"agent":..,"from":A,"to":B,"head":..,
//! "created":..}` followed by journal lines A..=B verbatim. The signature's
//! trusted comment is `kensa bundle agent=<ID> seq=<A>-<B> head=<hex>`.
//! Verification checks the size cap, then the signature over the raw bytes,
//! and only then parses anything; it never prints.

use crate::fsutil::{at, PathError, ReadError};
use crate::journal::{
    self, genesis, Chain, Journal, JournalError, JournalRecord, KeyTrack, LineError, Rotation,
};
use crate::keys::{KeyError, PublicKey, SecretKey, SignatureFile, MAX_KEY_FILE};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// Largest bundle kensa writes or reads.
pub const MAX_BUNDLE: u64 = 256 << 20;
/// Bundle format version (the header's `"v"`).
pub const BUNDLE_VERSION: u64 = 1;

/// What is wrong with a bundle, or why export failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    Read(ReadError),
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("signature check failed: {0}")]
    Signature(#[source] KeyError),
    #[error("trusted comment {0:?} is not `kensa bundle agent=<ID> seq=<A>-<B> head=<hex>`")]
    TrustedComment(String),
    #[error("bundle claims agent {claimed} but is signed by key {key}, and its records do not say agent {claimed} uses that key")]
    AgentMismatch { claimed: String, key: String },
    #[error("bundle's records: {0}")]
    Keys(#[source] LineError),
    #[error("bundle line 1 (header): {0}")]
    Header(String),
    #[error("nothing new to export: every record through seq {through} is in an earlier bundle")]
    NothingNew { through: u64 },
    #[error("bundle line {line} (seq {seq}): {source}")]
    Line {
        line: usize,
        seq: u64,
        #[source]
        source: LineError,
    },
    #[error("bundle holds {found} journal lines, the signed range {from}-{to} needs {expected}")]
    Count {
        from: u64,
        to: u64,
        expected: u64,
        found: u64,
    },
    #[error("last line's hash {found} is not the signed head {expected}")]
    Head { expected: String, found: String },
    #[error("bundle does not end with a newline (truncated?)")]
    Truncated,
    #[error("FORK: bundles {a} and {b} disagree about agent {agent} seq {seq}")]
    Fork {
        agent: String,
        seq: u64,
        a: String,
        b: String,
    },
    #[error("nothing to export: {0}")]
    Range(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("signing failed: {0}")]
    Key(#[source] KeyError),
}

/// The signed claim in a bundle's trusted comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub agent: String,
    pub from: u64,
    pub to: u64,
    pub head: String,
}

impl Claim {
    pub fn to_comment(&self) -> String {
        format!(
            "kensa bundle agent={} seq={}-{} head={}",
            self.agent, self.from, self.to, self.head
        )
    }

    /// Strict parse of the trusted comment.
    pub fn parse(tc: &str) -> Result<Claim, BundleError> {
        let bad = || BundleError::TrustedComment(tc.chars().take(200).collect());
        let parts: Vec<&str> = tc.split(' ').collect();
        let [k, b, agent, seq, head] = parts.as_slice() else {
            return Err(bad());
        };
        if *k != "kensa" || *b != "bundle" {
            return Err(bad());
        }
        let agent = agent.strip_prefix("agent=").ok_or_else(bad)?;
        let (from, to) = seq
            .strip_prefix("seq=")
            .and_then(|s| s.split_once('-'))
            .ok_or_else(bad)?;
        let head = head.strip_prefix("head=").ok_or_else(bad)?;
        let num = |s: &str| -> Result<u64, BundleError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        };
        let claim = Claim {
            agent: agent.to_string(),
            from: num(from)?,
            to: num(to)?,
            head: head.to_string(),
        };
        let hex_ok = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if claim.from == 0
            || claim.to < claim.from
            || !hex_ok(&claim.agent, 16)
            || !hex_ok(&claim.head, 64)
        {
            return Err(bad());
        }
        Ok(claim)
    }
}

/// One journal line of a verified bundle.
#[derive(Debug, Clone)]
pub struct BundleLine {
    pub seq: u64,
    pub hash: String,
    pub kind: String,
    pub session: Option<String>,
    pub time: Option<String>,
    /// The exact line text, without the newline.
    pub line: String,
}

/// A bundle whose signature, header, chain and head all checked out.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub claim: Claim,
    /// The first line's `prev`: the hash of line `from - 1` (or the genesis
    /// value when `from == 1`).
    pub first_prev: String,
    pub lines: Vec<BundleLine>,
    /// SHA-256 of the bundle file.
    pub sha256: String,
    /// The key that signed the bundle (its signature and its last
    /// checkpoints): the agent's own key, or the key it rotated to.
    pub signer: PublicKey,
    /// Key rotations inside the bundle, oldest first (each signed by its
    /// old key, which also signed the checkpoints before it).
    pub rotations: Vec<Rotation>,
}

/// `<bundle>.minisig`.
pub fn signature_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_os_string();
    s.push(".minisig");
    PathBuf::from(s)
}

/// A size-capped read; a file over the cap is [`BundleError::TooLarge`].
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, BundleError> {
    crate::fsutil::read_capped(path, limit).map_err(|e| match e {
        ReadError::TooLarge { .. } => BundleError::TooLarge {
            what: crate::engine::pathfmt::display(path),
            limit,
        },
        ReadError::Io(e) => BundleError::Io(e),
        other => BundleError::Read(other),
    })
}

/// Reads a bundle and its `.minisig`, both size-capped, without parsing.
pub fn read_files(bundle: &Path) -> Result<(Vec<u8>, String), BundleError> {
    let data = read_capped(bundle, MAX_BUNDLE)?;
    let sig_path = signature_path(bundle);
    let sig = read_capped(&sig_path, MAX_KEY_FILE)?;
    let sig = String::from_utf8(sig).map_err(|_| {
        BundleError::Signature(KeyError::Malformed {
            what: "signature",
            detail: "not UTF-8".into(),
        })
    })?;
    Ok((data, sig))
}

/// Parses only the signature file, to learn which key to check it with.
pub fn signature_key_id(sig_text: &str) -> Result<String, BundleError> {
    Ok(SignatureFile::parse(sig_text)
        .map_err(BundleError::Signature)?
        .key_id_hex())
}

/// Verifies a bundle: size, signature (before any parsing), trusted
/// comment, header, seq continuity, hash chain, checkpoints, head.
pub fn verify_bytes(
    data: &[u8],
    sig_text: &str,
    key: &PublicKey,
) -> Result<VerifiedBundle, BundleError> {
    let claim = check_signature(data, sig_text, key)?;
    // From here on the bytes are exactly what the key holder signed.
    let body = data.strip_suffix(b"\n").ok_or(BundleError::Truncated)?;
    let mut lines = body.split(|&b| b == b'\n');
    check_header(lines.next().unwrap_or_default(), &claim)?;
    let raw: Vec<&[u8]> = lines.collect();
    let expected = claim.to - claim.from + 1;
    // Chain errors in the signed range come before a wrong count.
    let checked = raw
        .len()
        .min(usize::try_from(expected).unwrap_or(usize::MAX));
    let (out, rotations) = check_lines(&raw[..checked], &claim, key)?;
    if raw.len() as u64 != expected {
        return Err(BundleError::Count {
            from: claim.from,
            to: claim.to,
            expected,
            found: raw.len() as u64,
        });
    }
    let last = out.last().map(|l| l.hash.clone()).unwrap_or_default();
    if last != claim.head {
        return Err(BundleError::Head {
            expected: claim.head,
            found: last,
        });
    }
    let first_prev = raw
        .first()
        .map(|l| first_prev(l))
        .unwrap_or_else(|| genesis(&claim.agent));
    Ok(VerifiedBundle {
        first_prev,
        claim,
        lines: out,
        sha256: hex::encode(Sha256::digest(data)),
        signer: key.clone(),
        rotations,
    })
}

/// The `prev` of a line that already passed the chain check.
fn first_prev(raw: &[u8]) -> String {
    journal::parse_line(raw).map(|p| p.prev).unwrap_or_default()
}

/// Size cap, then the signature over the raw bytes, then the signed claim.
/// A claim for another agent than the key's own id (a rotated key) is
/// checked against the records by [`check_lines`].
fn check_signature(data: &[u8], sig_text: &str, key: &PublicKey) -> Result<Claim, BundleError> {
    if data.len() as u64 > MAX_BUNDLE {
        return Err(BundleError::TooLarge {
            what: "bundle".into(),
            limit: MAX_BUNDLE,
        });
    }
    let sig = SignatureFile::parse(sig_text).map_err(BundleError::Signature)?;
    key.verify_parsed(data, &sig)
        .map_err(BundleError::Signature)?;
    Claim::parse(&sig.trusted_comment)
}

/// Chain-checks the journal lines of a bundle (from genesis when it
/// starts at seq 1), every checkpoint's and key rotation's signatures with
/// the key active at its place, and that the bundle's signer is the key
/// its records end with. A bundle signed by a key that is not the agent's
/// own must hold signed records of that agent by that key.
fn check_lines(
    raw: &[&[u8]],
    claim: &Claim,
    key: &PublicKey,
) -> Result<(Vec<BundleLine>, Vec<Rotation>), BundleError> {
    let mut chain = if claim.from == 1 {
        Chain::genesis(&claim.agent)
    } else {
        Chain {
            next_seq: claim.from,
            prev: None,
        }
    };
    let mut track = KeyTrack::new(Some(key.clone()), Some(&claim.agent));
    let mut out = Vec::with_capacity(raw.len());
    for (i, raw) in raw.iter().enumerate() {
        let seq = chain.next_seq;
        let line_err = |source| BundleError::Line {
            line: i + 2,
            seq,
            source,
        };
        let parsed = chain.accept(raw).map_err(line_err)?;
        track.take(&parsed).map_err(line_err)?;
        let line = String::from_utf8(raw.to_vec())
            .map_err(|_| line_err(LineError::NotJson("not UTF-8".into())))?;
        out.push(BundleLine {
            seq: parsed.seq,
            session: parsed.session().map(str::to_string),
            time: parsed.time().map(str::to_string),
            kind: parsed.kind,
            hash: parsed.hash,
            line,
        });
    }
    let track = track.finish(Some(key)).map_err(BundleError::Keys)?;
    let mismatch = || BundleError::AgentMismatch {
        claimed: claim.agent.clone(),
        key: key.key_id_hex(),
    };
    if track.last.as_ref().is_some_and(|last| last != key) {
        return Err(mismatch());
    }
    if key.key_id_hex() != claim.agent && track.last.is_none() {
        // Nothing signed inside says this agent uses this key.
        return Err(mismatch());
    }
    Ok((out, track.rotations))
}

/// Cross-checks verified bundles given together: for each agent, any seq
/// two bundles both hold (or the line just before a bundle, when another
/// bundle holds it) must have the same hash. Gaps between bundles are fine
/// here; the collector decides about gaps. `names` label the bundles.
pub fn check_consistent<'a>(
    bundles: &'a [(String, &'a VerifiedBundle)],
) -> Result<(), BundleError> {
    use std::collections::HashMap;
    let mut seen: HashMap<(&str, u64), (&str, &str)> = HashMap::new();
    let mut check =
        |agent: &'a str, seq: u64, hash: &'a str, name: &'a str| match seen.get(&(agent, seq)) {
            Some((h, other)) if *h != hash => Err(BundleError::Fork {
                agent: agent.to_string(),
                seq,
                a: other.to_string(),
                b: name.to_string(),
            }),
            Some(_) => Ok(()),
            None => {
                seen.insert((agent, seq), (hash, name));
                Ok(())
            }
        };
    for (name, b) in bundles {
        let agent = b.claim.agent.as_str();
        if b.claim.from > 1 {
            check(agent, b.claim.from - 1, &b.first_prev, name)?;
        }
        for l in &b.lines {
            check(agent, l.seq, &l.hash, name)?;
        }
    }
    Ok(())
}

fn header_text(claim: &Claim, created: &str) -> String {
    format!(
        "{{\"type\":\"bundle\",\"v\":{BUNDLE_VERSION},\"agent\":\"{}\",\"from\":{},\"to\":{},\"head\":\"{}\",\"created\":\"{created}\"}}",
        claim.agent, claim.from, claim.to, claim.head
    )
}

fn check_header(header: &[u8], claim: &Claim) -> Result<(), BundleError> {
    let v: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| BundleError::Header(e.to_string()))?;
    let get = |k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let want = serde_json::json!({
        "type": "bundle", "v": BUNDLE_VERSION, "agent": claim.agent,
        "from": claim.from, "to": claim.to, "head": claim.head,
    });
    for (k, expected) in want.as_object().into_iter().flatten() {
        if get(k) != *expected {
            return Err(BundleError::Header(format!(
                "{k} is {}, the signature says {expected}",
                get(k)
            )));
        }
    }
    if !get("created").is_string() {
        return Err(BundleError::Header("created is missing".into()));
    }
    Ok(())
}

/// Which records an export covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportRange {
    /// Everything after the last `export` record (everything if none).
    SinceLastExport,
    All,
    Since(u64),
}

/// Files an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub bundle: PathBuf,
    pub signature: PathBuf,
    pub claim: Claim,
    pub sha256: String,
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), BundleError> {
    Ok(crate::fsutil::write_atomic(path, data, 0o644).map_err(at(path))?)
}

/// Writes a checkpoint, then `kensa-<agent>-<from>-<to>.jsonl` and its
/// `.minisig` (signature last) into `out`, then records an `export` line.
pub fn export(
    journal: &mut Journal,
    key: &SecretKey,
    out: &Path,
    range: ExportRange,
) -> Result<Exported, BundleError> {
    if key.key_id_hex() != journal.key_id() {
        return Err(BundleError::Range(format!(
            "key {} is not the key journal {} is signed with ({})",
            key.key_id_hex(),
            journal.agent(),
            journal.key_id()
        )));
    }
    let from = match range {
        ExportRange::All => 1,
        ExportRange::Since(s) => s.max(1),
        ExportRange::SinceLastExport => journal.exported_through()? + 1,
    };
    // Only the last export's own checkpoint and note since then: no bundle
    // (and no new checkpoint), or every export would leave the next one a
    // bundle of bookkeeping.
    if range == ExportRange::SinceLastExport
        && !journal::tail::has_records_after(journal.dir(), from - 1)?
    {
        return Err(BundleError::NothingNew { through: from - 1 });
    }
    // Checked before the checkpoint, so a refused export leaves no trace.
    let head = journal.head().0;
    if from > head + 1 {
        return Err(BundleError::Range(format!(
            "journal ends at seq {head}, export asked to start at {from}"
        )));
    }
    let cp = journal.checkpoint()?;
    let claim = Claim {
        agent: journal.agent().to_string(),
        from,
        to: cp.seq,
        head: cp.hash.clone(),
    };
    let data = bundle_bytes(journal.dir(), &claim)?;
    let sig = key
        .sign(&data, &claim.to_comment())
        .map_err(BundleError::Key)?;
    fs::create_dir_all(out).map_err(at(out))?;
    let name = format!("kensa-{}-{}-{}.jsonl", claim.agent, claim.from, claim.to);
    let bundle = out.join(&name);
    let signature = signature_path(&bundle);
    write_synced(&bundle, &data)?;
    write_synced(&signature, sig.as_bytes())?;
    let sha256 = hex::encode(Sha256::digest(&data));
    journal.append(&JournalRecord::Export(journal::Export {
        v: 1,
        time: crate::findings::now_rfc3339(),
        from_seq: claim.from,
        to_seq: claim.to,
        file: name,
        sha256: sha256.clone(),
    }))?;
    Ok(Exported {
        bundle,
        signature,
        claim,
        sha256,
    })
}

/// The bundle's bytes: its header, then journal lines `from..=to` verbatim.
fn bundle_bytes(dir: &Path, claim: &Claim) -> Result<Vec<u8>, BundleError> {
    let mut data = header_text(claim, &crate::findings::now_rfc3339()).into_bytes();
    data.push(b'\n');
    for line in journal::read_from(dir, claim.from)? {
        let line = line?;
        if line.seq > claim.to {
            break;
        }
        data.extend_from_slice(&line.bytes);
        data.push(b'\n');
        if data.len() as u64 > MAX_BUNDLE {
            return Err(BundleError::TooLarge {
                what: format!("export of seq {}-{} (use --since)", claim.from, claim.to),
                limit: MAX_BUNDLE,
            });
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_comment_round_trip_and_strictness() {
        let c = Claim {
            agent: "00112233AABBCCDD".into(),
            from: 3,
            to: 9,
            head: "ab".repeat(32),
        };
        assert_eq!(Claim::parse(&c.to_comment()).unwrap(), c);
        for bad in [
            "kensa bundle agent=00112233AABBCCDD seq=9-3 head=",
            "kensa bundle agent=00112233AABBCCDD seq=0-3 head=x",
            "kensa bundle agent=X seq=1-3 head=x",
            "kensa  bundle agent=00112233AABBCCDD seq=1-3 head=x",
            "",
        ] {
            assert!(Claim::parse(bad).is_err(), "{bad}");
        }
        let extra = format!("{} extra", c.to_comment());
        assert!(Claim::parse(&extra).is_err());
    }

    #[test]
    fn export_then_verify_and_since_last_export() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let mut j = Journal::open(&dir.path().join("journal"), &key).unwrap();
        for i in 0..4 {
            j.append(&crate::journal::tests::skip(i)).unwrap();
        }
        let e1 = export(&mut j, &key, out.path(), ExportRange::SinceLastExport).unwrap();
        assert_eq!((e1.claim.from, e1.claim.to), (1, 5));
        let (data, sig) = read_files(&e1.bundle).unwrap();
        let vb = verify_bytes(&data, &sig, &key.public()).unwrap();
        assert_eq!(vb.lines.len(), 5);
        assert_eq!(vb.lines[4].kind, "checkpoint");
        j.append(&crate::journal::tests::skip(9)).unwrap();
        let e2 = export(&mut j, &key, out.path(), ExportRange::SinceLastExport).unwrap();
        assert_eq!((e2.claim.from, e2.claim.to), (6, 8));
        let (data, sig) = read_files(&e2.bundle).unwrap();
        let vb2 = verify_bytes(&data, &sig, &key.public()).unwrap();
        assert_eq!(vb2.first_prev, vb.claim.head);
        assert_eq!(j.exported_through().unwrap(), 8);
        assert_eq!(journal::scan_exported(j.dir()).unwrap(), 8);
        drop(j);
        let mut j = Journal::open(&dir.path().join("journal"), &key).unwrap();
        assert_eq!(j.exported_through().unwrap(), 8);
        // A refused range leaves the journal as it was (no checkpoint).
        let head = j.head();
        assert!(export(&mut j, &key, out.path(), ExportRange::Since(100)).is_err());
        assert_eq!(j.head(), head);
    }

    #[test]
    fn a_bundle_across_a_key_rotation_verifies_with_the_new_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let old = SecretKey::generate().unwrap();
        let new = SecretKey::generate().unwrap();
        let mut j = Journal::open(&dir.path().join("journal"), &old).unwrap();
        j.append(&crate::journal::tests::skip(1)).unwrap();
        j.checkpoint().unwrap();
        j.rotate_key(&new, "test").unwrap();
        j.append(&crate::journal::tests::skip(2)).unwrap();
        assert!(export(&mut j, &old, out.path(), ExportRange::All).is_err());
        let e = export(&mut j, &new, out.path(), ExportRange::All).unwrap();
        assert_eq!(e.claim.agent, old.key_id_hex());
        let (data, sig) = read_files(&e.bundle).unwrap();
        let vb = verify_bytes(&data, &sig, &new.public()).unwrap();
        assert_eq!(vb.rotations.len(), 1);
        assert_eq!(vb.signer, new.public());
        assert!(verify_bytes(&data, &sig, &old.public()).is_err());
        // Re-signed by the old key, the bundle still ends with the new
        // key's checkpoints: refused.
        let resigned = old.sign(&data, &e.claim.to_comment()).unwrap();
        assert!(matches!(
            verify_bytes(&data, &resigned, &old.public()),
            Err(BundleError::AgentMismatch { .. })
        ));
    }
}
