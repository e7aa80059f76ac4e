//! One journal line: its fixed `{"seq":N,"prev":"<hex>",` prefix, its hash,
//! and the checks every reader applies (journal open, journal verify, bundle
//! verify, collector import). Lines are hashed and checked as raw bytes;
//! nothing is ever re-serialised to verify it.

use crate::keys::{PublicKey, SecretKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest journal line accepted, in bytes (without the newline).
pub const MAX_LINE: usize = 1 << 20;
/// Domain separator for the first line's `prev`.
pub const GENESIS_PREFIX: &str = "kensa-journal-v1:";
/// Domain separator for checkpoint signatures.
pub const CHECKPOINT_DOMAIN: &str = "kensa-checkpoint-v1";

/// Hex SHA-256 of a line's exact bytes (without its newline).
pub fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// The `prev` of seq 1: SHA-256 of `kensa-journal-v1:` + agent id.
pub fn genesis(agent: &str) -> String {
    let mut h = Sha256::new();
    h.update(GENESIS_PREFIX.as_bytes());
    h.update(agent.as_bytes());
    hex::encode(h.finalize())
}

/// The bytes a checkpoint signs.
pub fn checkpoint_message(agent: &str, head_seq: u64, head: &str) -> String {
    format!("{CHECKPOINT_DOMAIN}\n{agent}\n{head_seq}\n{head}")
}

/// A signed checkpoint naming `head_seq`/`head` as the line before it,
/// for the journal of `agent` (the key's own id unless the key was rotated).
pub fn checkpoint(
    key: &SecretKey,
    agent: &str,
    head_seq: u64,
    head: &str,
    exported_through: Option<u64>,
) -> super::Checkpoint {
    let sig = key.sign_raw(checkpoint_message(agent, head_seq, head).as_bytes());
    let own = key.key_id_hex();
    super::Checkpoint {
        v: 1,
        time: crate::findings::now_rfc3339(),
        agent: agent.to_string(),
        head_seq,
        head: head.to_string(),
        sig: B64.encode(sig),
        exported_through,
        key: (own != agent).then_some(own),
    }
}

/// The `"type"` of a line, read without building the rest of it; `None`
/// when the line is not a JSON object with a string `type`. Used to skip
/// lines cheaply; anything it finds is parsed properly before use.
pub fn peek_kind(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<Peek>(line).ok().map(|p| p.kind)
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line is longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("line does not start with {{\"seq\":N,\"prev\":\"<64 hex>\",")]
    BadPrefix,
    #[error("line is not a valid JSON object: {0}")]
    NotJson(String),
    #[error("line has no string \"type\" field")]
    NoType,
    #[error("line's parsed seq/prev differ from its prefix (duplicate keys)")]
    Ambiguous,
    #[error("expected seq {expected}, found {found}")]
    Seq { expected: u64, found: u64 },
    #[error("prev {found} does not match the hash of the previous line {expected}")]
    Prev { expected: String, found: String },
    #[error("first line's prev is not the genesis value for agent {agent}")]
    Genesis { agent: String },
    #[error("{0} is malformed: {1}")]
    Malformed(&'static str, &'static str),
    #[error("checkpoint signature does not verify with agent key {0}")]
    CheckpointSignature(String),
    #[error("key rotation: {0}")]
    Rotation(String),
}

/// A line that passed the per-line checks.
#[derive(Debug, Clone)]
pub struct ParsedLine {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    pub kind: String,
    pub fields: Map<String, Value>,
}

impl ParsedLine {
    /// The session a record belongs to (`id` of a session record).
    pub fn session(&self) -> Option<&str> {
        let key = if self.kind == "session" {
            "id"
        } else {
            "session"
        };
        self.fields.get(key).and_then(Value::as_str)
    }

    pub fn time(&self) -> Option<&str> {
        self.fields.get("time").and_then(Value::as_str)
    }
}

/// Reads the strict prefix: returns (seq, prev).
pub(crate) fn parse_prefix(line: &[u8]) -> Option<(u64, &str)> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let seq: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let rest = rest[digits..].strip_prefix(b",\"prev\":\"")?;
    if rest.len() < 66 {
        return None;
    }
    let prev = &rest[..64];
    if !prev.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    if &rest[64..66] != b"\"," {
        return None;
    }
    Some((seq, std::str::from_utf8(prev).ok()?))
}

/// Checks one line on its own: prefix, JSON object, `type`.
pub fn parse_line(line: &[u8]) -> Result<ParsedLine, LineError> {
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    let (seq, prev) = parse_prefix(line).ok_or(LineError::BadPrefix)?;
    let value: Value =
        serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(LineError::NotJson("not an object".into()));
    };
    if fields.get("seq").and_then(Value::as_u64) != Some(seq)
        || fields.get("prev").and_then(Value::as_str) != Some(prev)
    {
        return Err(LineError::Ambiguous);
    }
    let kind = fields
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(LineError::NoType)?
        .to_string();
    Ok(ParsedLine {
        seq,
        prev: prev.to_string(),
        hash: line_hash(line),
        kind,
        fields,
    })
}

/// The id of the key that signed a checkpoint line: its `key` field, or
/// its `agent` (checkpoints by an agent's first key name only that).
pub fn checkpoint_signer(line: &ParsedLine) -> Option<&str> {
    let f = &line.fields;
    match f.get("key") {
        Some(k) => k.as_str(),
        None => f.get("agent").and_then(Value::as_str),
    }
}

/// Checks that a line names the line before it in `head_seq`/`head`, as a
/// checkpoint and a key rotation do; returns `head`.
pub(crate) fn names_previous<'a>(
    line: &'a ParsedLine,
    what: &'static str,
) -> Result<&'a str, LineError> {
    let f = &line.fields;
    let head_seq = f
        .get("head_seq")
        .and_then(Value::as_u64)
        .ok_or(LineError::Malformed(what, "head_seq"))?;
    let head = f
        .get("head")
        .and_then(Value::as_str)
        .ok_or(LineError::Malformed(what, "head"))?;
    if head_seq + 1 != line.seq || head != line.prev {
        return Err(LineError::Malformed(
            what,
            "head does not name the previous line",
        ));
    }
    Ok(head)
}

/// Decodes a base64 Ed25519 signature field.
pub(crate) fn signature_field(
    line: &ParsedLine,
    what: &'static str,
    field: &'static str,
) -> Result<[u8; 64], LineError> {
    line.fields
        .get(field)
        .and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .and_then(|s| s.try_into().ok())
        .ok_or(LineError::Malformed(what, field))
}

/// Verifies a checkpoint line's signature with `key` (which must be the
/// key it names as its signer) and that it names the line before it.
/// Returns the agent id it names.
pub fn check_checkpoint(line: &ParsedLine, key: &PublicKey) -> Result<String, LineError> {
    const CP: &str = "checkpoint";
    let signer = key.key_id_hex();
    let agent = line
        .fields
        .get("agent")
        .and_then(Value::as_str)
        .ok_or(LineError::Malformed(CP, "agent"))?;
    if checkpoint_signer(line) != Some(signer.as_str()) {
        return Err(LineError::Malformed(CP, "agent"));
    }
    let head = names_previous(line, CP)?;
    let sig = signature_field(line, CP, "sig")?;
    key.verify_raw(
        checkpoint_message(agent, line.seq - 1, head).as_bytes(),
        &sig,
    )
    .map_err(|_| LineError::CheckpointSignature(signer))?;
    Ok(agent.to_string())
}

/// Tracks chain continuity over consecutive lines.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The seq the next line must carry.
    pub next_seq: u64,
    /// The hash the next line's prev must equal; `None` when unknown (a
    /// reader that starts in the middle).
    pub prev: Option<String>,
}

impl Chain {
    /// A chain starting at seq 1 for `agent`.
    pub fn genesis(agent: &str) -> Chain {
        Chain {
            next_seq: 1,
            prev: Some(genesis(agent)),
        }
    }

    /// Parses `line` and checks that it continues the chain.
    pub fn accept(&mut self, line: &[u8]) -> Result<ParsedLine, LineError> {
        let parsed = parse_line(line)?;
        if parsed.seq != self.next_seq {
            return Err(LineError::Seq {
                expected: self.next_seq,
                found: parsed.seq,
            });
        }
        if let Some(prev) = &self.prev {
            if *prev != parsed.prev {
                return Err(LineError::Prev {
                    expected: prev.clone(),
                    found: parsed.prev.clone(),
                });
            }
        }
        self.next_seq = parsed.seq + 1;
        self.prev = Some(parsed.hash.clone());
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(seq: u64, prev: &str, rest: &str) -> String {
        format!("{{\"seq\":{seq},\"prev\":\"{prev}\",{rest}")
    }

    #[test]
    fn prefix_is_strict() {
        let g = genesis("AAAA");
        let ok = mk(1, &g, r#""type":"x"}"#);
        assert_eq!(parse_line(ok.as_bytes()).unwrap().seq, 1);
        assert!(matches!(
            parse_line(mk(1, &g, "}").as_bytes()),
            Err(LineError::NotJson(_))
        ));
        let lead0 = ok.replacen(":1,", ":01,", 1);
        assert_eq!(
            parse_line(lead0.as_bytes()).unwrap_err(),
            LineError::BadPrefix
        );
        let upper = mk(1, &g.to_uppercase(), r#""type":"x"}"#);
        assert_eq!(
            parse_line(upper.as_bytes()).unwrap_err(),
            LineError::BadPrefix
        );
        let dup = mk(1, &g, r#""type":"x","seq":2}"#);
        assert_eq!(
            parse_line(dup.as_bytes()).unwrap_err(),
            LineError::Ambiguous
        );
        let notype = mk(1, &g, r#""t":"x"}"#);
        assert_eq!(
            parse_line(notype.as_bytes()).unwrap_err(),
            LineError::NoType
        );
        assert!(matches!(
            parse_line(b"{\"seq\":1"),
            Err(LineError::BadPrefix)
        ));
        assert!(matches!(
            parse_line(mk(1, &g, r#""type":"x""#).as_bytes()),
            Err(LineError::NotJson(_))
        ));
    }

    #[test]
    fn chain_links() {
        let g = genesis("A");
        let l1 = mk(1, &g, r#""type":"x"}"#);
        let l2 = mk(2, &line_hash(l1.as_bytes()), r#""type":"y"}"#);
        let mut c = Chain::genesis("A");
        c.accept(l1.as_bytes()).unwrap();
        c.accept(l2.as_bytes()).unwrap();
        let mut c = Chain::genesis("A");
        assert!(matches!(
            c.accept(l2.as_bytes()),
            Err(LineError::Seq { .. })
        ));
        let mut c = Chain::genesis("B");
        assert!(matches!(
            c.accept(l1.as_bytes()),
            Err(LineError::Prev { .. })
        ));
    }

    #[test]
    fn checkpoint_signature() {
        let key = SecretKey::generate().unwrap();
        let head = line_hash(b"x");
        let cp = checkpoint(&key, &key.key_id_hex(), 7, &head, None);
        let rest = serde_json::to_string(&crate::journal::JournalRecord::Checkpoint(cp)).unwrap();
        let line = mk(8, &head, &rest[1..]);
        let parsed = parse_line(line.as_bytes()).unwrap();
        check_checkpoint(&parsed, &key.public()).unwrap();
        let other = SecretKey::generate().unwrap().public();
        assert!(check_checkpoint(&parsed, &other).is_err());
        let bad = mk(9, &head, &rest[1..]);
        let parsed = parse_line(bad.as_bytes()).unwrap();
        assert!(check_checkpoint(&parsed, &key.public()).is_err());
    }
}
