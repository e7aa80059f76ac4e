//! Sneaker-net bundles: export a seq range of the journal as one file plus
//! its detached minisign signature, and verify such a pair. A bundle is a
//! header line `{"type":"bundle","v":1,"agent":..,"from":A,"to":B,"head":..,
//! "created":..}` followed by journal lines A..=B verbatim. The signature's
//! trusted comment is `kensa bundle agent=<ID> seq=<A>-<B> head=<hex>`.
//! Verification checks the size cap, then the signature over the raw bytes,
//! and only then parses anything; it never prints.

use crate::journal::{self, check_checkpoint, genesis, Chain, Journal, JournalError, LineError};
use crate::keys::{KeyError, PublicKey, SecretKey, SignatureFile, MAX_KEY_FILE};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest bundle kensa writes or reads.
pub const MAX_BUNDLE: u64 = 256 << 20;
/// Bundle format version (the header's `"v"`).
pub const BUNDLE_VERSION: u64 = 1;

/// What is wrong with a bundle, or why export failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge { what: String, limit: u64 },
    #[error("signature check failed: {0}")]
    Signature(#[source] KeyError),
    #[error("trusted comment {0:?} is not `kensa bundle agent=<ID> seq=<A>-<B> head=<hex>`")]
    TrustedComment(String),
    #[error("bundle claims agent {claimed} but is signed by key {key}")]
    AgentMismatch { claimed: String, key: String },
    #[error("bundle line 1 (header): {0}")]
    Header(String),
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
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
}

/// `<bundle>.minisig`.
pub fn signature_path(bundle: &Path) -> PathBuf {
    let mut s = bundle.as_os_str().to_os_string();
    s.push(".minisig");
    PathBuf::from(s)
}

fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, BundleError> {
    let f = File::open(path).map_err(io_err(path))?;
    let too_large = || BundleError::TooLarge {
        what: path.display().to_string(),
        limit,
    };
    if f.metadata().map_err(io_err(path))?.len() > limit {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if buf.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(buf)
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
    if data.len() as u64 > MAX_BUNDLE {
        return Err(BundleError::TooLarge {
            what: "bundle".into(),
            limit: MAX_BUNDLE,
        });
    }
    let sig = SignatureFile::parse(sig_text).map_err(BundleError::Signature)?;
    key.verify_parsed(data, &sig)
        .map_err(BundleError::Signature)?;
    // From here on the bytes are exactly what the key holder signed.
    let claim = Claim::parse(&sig.trusted_comment)?;
    if claim.agent != key.key_id_hex() {
        return Err(BundleError::AgentMismatch {
            claimed: claim.agent,
            key: key.key_id_hex(),
        });
    }
    let body = data.strip_suffix(b"\n").ok_or(BundleError::Truncated)?;
    let mut lines = body.split(|&b| b == b'\n');
    let header = lines.next().unwrap_or_default();
    check_header(header, &claim)?;
    let expected = claim.to - claim.from + 1;
    let mut chain = if claim.from == 1 {
        Chain::genesis(&claim.agent)
    } else {
        Chain {
            next_seq: claim.from,
            prev: None,
        }
    };
    let mut out = Vec::new();
    let mut first_prev = None;
    for (i, raw) in lines.enumerate() {
        let seq = chain.next_seq;
        let line_err = |source| BundleError::Line {
            line: i + 2,
            seq,
            source,
        };
        if i as u64 >= expected {
            return Err(BundleError::Count {
                from: claim.from,
                to: claim.to,
                expected,
                found: body.split(|&b| b == b'\n').count() as u64 - 1,
            });
        }
        let parsed = chain.accept(raw).map_err(line_err)?;
        if parsed.kind == "checkpoint" {
            check_checkpoint(&parsed, key).map_err(line_err)?;
        }
        first_prev.get_or_insert_with(|| parsed.prev.clone());
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
    if out.len() as u64 != expected {
        return Err(BundleError::Count {
            from: claim.from,
            to: claim.to,
            expected,
            found: out.len() as u64,
        });
    }
    let last = out.last().map(|l| l.hash.clone()).unwrap_or_default();
    if last != claim.head {
        return Err(BundleError::Head {
            expected: claim.head,
            found: last,
        });
    }
    Ok(VerifiedBundle {
        first_prev: first_prev.unwrap_or_else(|| genesis(&claim.agent)),
        claim,
        lines: out,
        sha256: hex::encode(Sha256::digest(data)),
    })
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

/// The `to_seq` of the last `export` record, 0 when there is none.
pub fn last_exported(dir: &Path) -> Result<u64, BundleError> {
    let mut last = 0;
    for line in journal::read_all(dir)? {
        let line = line?;
        if line.bytes.windows(15).any(|w| w == b"\"type\":\"export\"") {
            if let Ok(p) = journal::parse_line(&line.bytes) {
                if p.kind == "export" {
                    last = p
                        .fields
                        .get("to_seq")
                        .and_then(|v| v.as_u64())
                        .unwrap_or(last);
                }
            }
        }
    }
    Ok(last)
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), BundleError> {
    crate::fsutil::write_atomic(path, data, 0o644).map_err(io_err(path))
}

/// Writes a checkpoint, then `kensa-<agent>-<from>-<to>.jsonl` and its
/// `.minisig` (signature last) into `out`, then records an `export` line.
pub fn export(
    journal: &mut Journal,
    key: &SecretKey,
    out: &Path,
    range: ExportRange,
) -> Result<Exported, BundleError> {
    if key.key_id_hex() != journal.agent() {
        return Err(BundleError::Range(format!(
            "key {} is not the journal's agent {}",
            key.key_id_hex(),
            journal.agent()
        )));
    }
    let from = match range {
        ExportRange::All => 1,
        ExportRange::Since(s) => s.max(1),
        ExportRange::SinceLastExport => last_exported(journal.dir())? + 1,
    };
    let cp = journal.checkpoint()?;
    if from > cp.seq {
        return Err(BundleError::Range(format!(
            "journal ends at seq {}, export asked to start at {from}",
            cp.seq
        )));
    }
    let claim = Claim {
        agent: journal.agent().to_string(),
        from,
        to: cp.seq,
        head: cp.hash.clone(),
    };
    let mut data = header_text(&claim, &crate::findings::now_rfc3339()).into_bytes();
    data.push(b'\n');
    for line in journal::read_from(journal.dir(), from)? {
        let line = line?;
        if line.seq > claim.to {
            break;
        }
        data.extend_from_slice(&line.bytes);
        data.push(b'\n');
        if data.len() as u64 > MAX_BUNDLE {
            return Err(BundleError::TooLarge {
                what: format!("export of seq {from}-{} (use --since)", claim.to),
                limit: MAX_BUNDLE,
            });
        }
    }
    let sig = key
        .sign(&data, &claim.to_comment())
        .map_err(BundleError::Key)?;
    fs::create_dir_all(out).map_err(io_err(out))?;
    let name = format!("kensa-{}-{}-{}.jsonl", claim.agent, claim.from, claim.to);
    let bundle = out.join(&name);
    let signature = signature_path(&bundle);
    write_synced(&bundle, &data)?;
    write_synced(&signature, sig.as_bytes())?;
    let sha256 = hex::encode(Sha256::digest(&data));
    journal.append_value(&serde_json::json!({
        "type": "export",
        "v": 1,
        "time": crate::findings::now_rfc3339(),
        "from_seq": claim.from,
        "to_seq": claim.to,
        "file": name,
        "sha256": sha256,
    }))?;
    Ok(Exported {
        bundle,
        signature,
        claim,
        sha256,
    })
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
            j.append_value(&serde_json::json!({"type": "note", "i": i}))
                .unwrap();
        }
        let e1 = export(&mut j, &key, out.path(), ExportRange::SinceLastExport).unwrap();
        assert_eq!((e1.claim.from, e1.claim.to), (1, 5));
        let (data, sig) = read_files(&e1.bundle).unwrap();
        let vb = verify_bytes(&data, &sig, &key.public()).unwrap();
        assert_eq!(vb.lines.len(), 5);
        assert_eq!(vb.lines[4].kind, "checkpoint");
        j.append_value(&serde_json::json!({"type": "note", "i": 9}))
            .unwrap();
        let e2 = export(&mut j, &key, out.path(), ExportRange::SinceLastExport).unwrap();
        assert_eq!((e2.claim.from, e2.claim.to), (6, 8));
        let (data, sig) = read_files(&e2.bundle).unwrap();
        let vb2 = verify_bytes(&data, &sig, &key.public()).unwrap();
        assert_eq!(vb2.first_prev, vb.claim.head);
        assert_eq!(last_exported(j.dir()).unwrap(), 8);
    }
}
