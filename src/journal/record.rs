//! The typed records of the journal: [`Entry`] is every kind a journal line
//! can hold. A scan's own records (session, finding, skip, summary) stay
//! [`crate::findings::Record`], the only kind the engine and the printers
//! ever see, and enter the journal as [`Entry::Scan`]; the journal's own
//! bookkeeping ([`JournalRecord`]: checkpoint, recovery, export,
//! rules_change, key_rotation, key_reset, gate) sits beside them. Both serialise as one flat JSON object
//! tagged with `"type"`, field for field as kensa has always written them,
//! so old lines decode and new lines look like old ones.
//!
//! [`decode`] is the one typed reader of a journal line (prefix and chain
//! fields checked by [`super::parse_line`], then the record by its type);
//! [`Journalled`] is what [`super::Journal::append`] and [`super::queue`]
//! accept.

use super::line::{parse_line, LineError, ParsedLine};
use crate::findings::Record;
use serde::{Deserialize, Serialize};

/// A signed checkpoint: the agent's signature over the line before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub v: u32,
    pub time: String,
    pub agent: String,
    pub head_seq: u64,
    pub head: String,
    /// Base64 Ed25519 signature over [`super::checkpoint_message`].
    pub sig: String,
    /// The `to_seq` of the last export before this checkpoint (0: none).
    /// Absent in checkpoints written before kensa tracked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_through: Option<u64>,
    /// The id of the key that signed it, when that is not the agent's
    /// first key (after a [`KeyRotation`]); absent otherwise, as in every
    /// checkpoint written before rotations existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The agent key changed: the old key (which signs this record) names the
/// new one, and the new key countersigns, so the chain is vouched for by
/// the old key up to here and by the new key from here on. Both
/// signatures are over [`super::rotation_message`]; like a checkpoint the
/// record names the line before it. The agent id does not change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    pub v: u32,
    pub time: String,
    pub agent: String,
    pub head_seq: u64,
    pub head: String,
    /// Key id and public key (minisign base64 line) of the old key.
    pub old_key: String,
    pub old_public_key: String,
    /// Key id and public key of the new key.
    pub new_key: String,
    pub new_public_key: String,
    /// Why (`keygen --force`).
    pub reason: String,
    /// Base64 Ed25519 signatures of the old and the new key.
    pub sig: String,
    pub new_sig: String,
}

/// The first record of a journal started because the previous agent key
/// was lost: nothing could sign a rotation, so the previous journal was
/// closed as it was (moved aside to `previous_journal`) and this journal
/// belongs to a new agent id. It names what was last seen of the old one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReset {
    pub v: u32,
    pub time: String,
    /// The previous journal's agent id and key id, when they could be read.
    pub previous_agent: Option<String>,
    pub previous_key: Option<String>,
    /// Its last complete line (seq 0: it was empty or missing).
    pub previous_head_seq: u64,
    pub previous_head: String,
    /// The `to_seq` of its last export (records after it were not exported).
    pub previous_exported_through: u64,
    /// The state directory it was moved into (`closed-<agent>-<time>`,
    /// beside this journal's directory, holding `journal/`).
    pub previous_journal: String,
    pub reason: String,
}

/// A torn last line moved aside when the journal was opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    pub v: u32,
    pub time: String,
    /// The segment file it was cut from.
    pub segment: String,
    pub offset: u64,
    pub length: u64,
    /// SHA-256 of the torn bytes.
    pub sha256: String,
    /// The `.torn` file that holds them.
    pub file: String,
}

/// A bundle written by `kensa export`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub v: u32,
    pub time: String,
    pub from_seq: u64,
    pub to_seq: u64,
    pub file: String,
    pub sha256: String,
}

/// A rule pack's version and content digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRef {
    pub version: u64,
    pub digest: String,
}

/// A change of the installed rule pack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesChange {
    pub v: u32,
    pub time: String,
    /// `install`, or `downgrade` when forced over a higher or same-version pack.
    pub action: String,
    /// The pack before (None: the bundled signatures only).
    pub from: Option<PackRef>,
    pub to: PackRef,
    pub publisher: String,
    /// Rules in the active set after the change.
    pub rules: usize,
}

/// What the device gate did with a block device (`kensa run --gate`):
/// `held` (opened exclusively, a scan starts), `released` (clean and
/// complete, or gone, or the agent stopped), `mounted` (released and
/// mounted read-only by kensa), `blocked` (a finding or an incomplete
/// scan: it stays held), `overridden` (`kensa release` by a named person).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateEvent {
    pub v: u32,
    pub time: String,
    /// The device node (`/dev/sdb`).
    pub device: String,
    pub action: String,
    /// Why, in words.
    pub reason: String,
    /// The scan session that judged it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Who overrode the gate (`overridden` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The journal's own records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JournalRecord {
    Checkpoint(Checkpoint),
    Recovery(Recovery),
    Export(Export),
    RulesChange(RulesChange),
    KeyRotation(KeyRotation),
    KeyReset(KeyReset),
    Gate(GateEvent),
}

/// Every kind of journal line.
// An entry lives for one append or one decoded line; boxing the scan
// records would cost an allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// What a scan emits (session, finding, skip, summary).
    Scan(Record),
    /// The journal's bookkeeping (checkpoint, recovery, export, rules_change,
    /// key_rotation, key_reset) and the device gate's `gate` records.
    Journal(JournalRecord),
}

/// Why a line is not a record kensa knows.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Line(#[from] LineError),
    #[error("unknown record type {0:?}")]
    UnknownType(String),
    #[error("{kind} record is malformed: {source}")]
    Malformed {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The record kinds scans write.
const SCAN_KINDS: [&str; 4] = ["session", "finding", "skip", "summary"];
/// The journal's own kinds.
const JOURNAL_KINDS: [&str; 7] = [
    "checkpoint",
    "recovery",
    "export",
    "rules_change",
    "key_rotation",
    "key_reset",
    "gate",
];

impl Entry {
    /// The `"type"` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Scan(r) => r.type_name(),
            Entry::Journal(j) => j.kind(),
        }
    }

    /// The typed record of a line that passed [`parse_line`].
    pub fn from_parsed(line: &ParsedLine) -> Result<Entry, DecodeError> {
        // The fields include seq/prev; the record types ignore them.
        Entry::from_fields(&line.kind, serde_json::Value::Object(line.fields.clone()))
    }

    /// A record as JSON text on its own (a queued record in the inbox).
    pub fn from_json(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| DecodeError::Line(LineError::NotJson(e.to_string())))?;
        let kind = value
            .get("type")
            .and_then(serde_json::Value::as_str)
            .ok_or(DecodeError::Line(LineError::NoType))?
            .to_string();
        Entry::from_fields(&kind, value)
    }

    fn from_fields(kind: &str, value: serde_json::Value) -> Result<Entry, DecodeError> {
        let malformed = |source| DecodeError::Malformed {
            kind: kind.to_string(),
            source,
        };
        if SCAN_KINDS.contains(&kind) {
            Record::deserialize(value)
                .map(Entry::Scan)
                .map_err(malformed)
        } else if JOURNAL_KINDS.contains(&kind) {
            JournalRecord::deserialize(value)
                .map(Entry::Journal)
                .map_err(malformed)
        } else {
            Err(DecodeError::UnknownType(kind.to_string()))
        }
    }

    /// The scan record, if this is one.
    pub fn as_scan(&self) -> Option<&Record> {
        match self {
            Entry::Scan(r) => Some(r),
            Entry::Journal(_) => None,
        }
    }
}

impl JournalRecord {
    pub fn kind(&self) -> &'static str {
        match self {
            JournalRecord::Checkpoint(_) => "checkpoint",
            JournalRecord::Recovery(_) => "recovery",
            JournalRecord::Export(_) => "export",
            JournalRecord::RulesChange(_) => "rules_change",
            JournalRecord::KeyRotation(_) => "key_rotation",
            JournalRecord::KeyReset(_) => "key_reset",
            JournalRecord::Gate(_) => "gate",
        }
    }
}

impl From<Record> for Entry {
    fn from(r: Record) -> Entry {
        Entry::Scan(r)
    }
}

impl From<JournalRecord> for Entry {
    fn from(r: JournalRecord) -> Entry {
        Entry::Journal(r)
    }
}

/// The one typed reader of a journal line: the per-line checks of
/// [`parse_line`] (prefix, JSON object, `type`), then the record itself.
pub fn decode(line: &[u8]) -> Result<(ParsedLine, Entry), DecodeError> {
    let parsed = parse_line(line)?;
    let entry = Entry::from_parsed(&parsed)?;
    Ok((parsed, entry))
}

/// How durable an append must be before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Written; synced with the next sync or checkpoint.
    Written,
    /// fdatasync'ed before `append` returns (findings, the journal's own records).
    Synced,
    /// Synced and followed by a checkpoint (a summary ends a session).
    Checkpointed,
}

/// A record the journal can append: [`Entry`], or a scan's
/// [`Record`] as it is (the sinks hand theirs over without a copy).
pub trait Journalled: Serialize {
    /// The `"type"` tag.
    fn kind(&self) -> &'static str;
    /// How durable the append must be.
    fn durability(&self) -> Durability;
    /// The `to_seq` when this is an export record.
    fn exported_to(&self) -> Option<u64> {
        None
    }
}

impl Journalled for Record {
    fn kind(&self) -> &'static str {
        self.type_name()
    }

    fn durability(&self) -> Durability {
        match self {
            Record::Finding(_) => Durability::Synced,
            Record::Summary(_) => Durability::Checkpointed,
            Record::Session(_) | Record::Skip(_) => Durability::Written,
        }
    }
}

impl Journalled for JournalRecord {
    fn kind(&self) -> &'static str {
        JournalRecord::kind(self)
    }

    fn durability(&self) -> Durability {
        Durability::Synced
    }

    fn exported_to(&self) -> Option<u64> {
        match self {
            JournalRecord::Export(e) => Some(e.to_seq),
            _ => None,
        }
    }
}

impl Journalled for Entry {
    fn kind(&self) -> &'static str {
        Entry::kind(self)
    }

    fn durability(&self) -> Durability {
        match self {
            Entry::Scan(r) => r.durability(),
            Entry::Journal(j) => j.durability(),
        }
    }

    fn exported_to(&self) -> Option<u64> {
        match self {
            Entry::Scan(_) => None,
            Entry::Journal(j) => j.exported_to(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Location, RulesetInfo, Session, Skip, SkipReason, Summary, Verdict};

    fn line(seq: u64, body: &str) -> Vec<u8> {
        let prev = "0".repeat(64);
        format!("{{\"seq\":{seq},\"prev\":\"{prev}\",{}", &body[1..]).into_bytes()
    }

    fn samples() -> Vec<Entry> {
        let finding = crate::findings::Finding {
            attributes: Vec::new(),
            packed: None,
            v: 1,
            id: "f".into(),
            session: "s".into(),
            time: "t".into(),
            location: Location::Host,
            path: "/x".into(),
            chain: vec![],
            size: 3,
            sha256: "ab".repeat(32),
            md5: None,
            sha1: None,
            verdict: Verdict::Malicious,
            matches: vec![],
            taxonomy: None,
        };
        vec![
            Entry::Scan(Record::Session(Session {
                volumes: Vec::new(),
                archive_unsupported: None,
                v: 1,
                id: "s".into(),
                time: "t".into(),
                host: "h".into(),
                agent: None,
                location: Location::Removable,
                paths: vec!["/m".into()],
                medium: None,
                ruleset: RulesetInfo::default(),
                version: "0".into(),
            })),
            Entry::Scan(Record::Finding(finding)),
            Entry::Scan(Record::Skip(Skip {
                attributes: Vec::new(),
                packed: None,
                v: 1,
                session: "s".into(),
                time: "t".into(),
                path: "/y".into(),
                chain: vec![],
                reason: SkipReason::Timeout,
                detail: "d".into(),
                gap: true,
                size: None,
                sha256: None,
            })),
            Entry::Scan(Record::Summary(Summary {
                v: 1,
                session: "s".into(),
                time: "t".into(),
                files: 1,
                bytes: 2,
                findings: 1,
                skips: 1,
                gaps: 1,
                seconds: 0.5,
                completed: true,
                error: None,
            })),
            Entry::Journal(JournalRecord::Checkpoint(Checkpoint {
                v: 1,
                time: "t".into(),
                agent: "A".into(),
                head_seq: 4,
                head: "cd".repeat(32),
                sig: "c2ln".into(),
                exported_through: Some(2),
                key: None,
            })),
            Entry::Journal(JournalRecord::Recovery(Recovery {
                v: 1,
                time: "t".into(),
                segment: "s.jsonl".into(),
                offset: 9,
                length: 3,
                sha256: "ef".repeat(32),
                file: "s.jsonl.9.torn".into(),
            })),
            Entry::Journal(JournalRecord::Export(Export {
                v: 1,
                time: "t".into(),
                from_seq: 1,
                to_seq: 5,
                file: "b.jsonl".into(),
                sha256: "01".repeat(32),
            })),
            Entry::Journal(JournalRecord::RulesChange(RulesChange {
                v: 1,
                time: "t".into(),
                action: "install".into(),
                from: None,
                to: PackRef {
                    version: 3,
                    digest: "d".into(),
                },
                publisher: "P".into(),
                rules: 7,
            })),
            Entry::Journal(JournalRecord::KeyRotation(KeyRotation {
                v: 1,
                time: "t".into(),
                agent: "A".into(),
                head_seq: 8,
                head: "cd".repeat(32),
                old_key: "A".into(),
                old_public_key: "o".into(),
                new_key: "B".into(),
                new_public_key: "n".into(),
                reason: "r".into(),
                sig: "s".into(),
                new_sig: "t".into(),
            })),
            Entry::Journal(JournalRecord::KeyReset(KeyReset {
                v: 1,
                time: "t".into(),
                previous_agent: Some("A".into()),
                previous_key: None,
                previous_head_seq: 9,
                previous_head: "ef".repeat(32),
                previous_exported_through: 5,
                previous_journal: "closed-A-x".into(),
                reason: "r".into(),
            })),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_decode() {
        for (i, e) in samples().into_iter().enumerate() {
            let body = serde_json::to_string(&e).unwrap();
            assert!(
                body.starts_with(&format!("{{\"type\":\"{}\"", e.kind())),
                "{body}"
            );
            let (parsed, back) = decode(&line(i as u64 + 1, &body)).unwrap();
            assert_eq!(parsed.kind, e.kind());
            assert_eq!(back, e);
        }
    }

    #[test]
    fn old_shapes_are_byte_compatible() {
        // As the json! builders wrote them before the records were typed.
        let old = [
            r#"{"type":"checkpoint","v":1,"time":"t","agent":"A","head_seq":4,"head":"h","sig":"s"}"#,
            r#"{"type":"recovery","v":1,"time":"t","segment":"s","offset":1,"length":2,"sha256":"x","file":"f"}"#,
            r#"{"type":"export","v":1,"time":"t","from_seq":1,"to_seq":2,"file":"f","sha256":"x"}"#,
            r#"{"v":1,"type":"rules_change","time":"t","action":"install","from":null,"to":{"version":1,"digest":"d"},"publisher":"p","rules":3}"#,
        ];
        for (i, body) in old.iter().enumerate() {
            let (_, e) = decode(&line(i as u64 + 1, body)).unwrap();
            let again = serde_json::to_string(&e).unwrap();
            if e.kind() == "rules_change" {
                // It was the one record whose builder put `v` first.
                assert_eq!(
                    again,
                    body.replacen(
                        r#""v":1,"type":"rules_change""#,
                        r#""type":"rules_change","v":1"#,
                        1
                    )
                );
            } else {
                assert_eq!(&again, body);
            }
        }
        let (_, cp) = decode(&line(1, old[0])).unwrap();
        assert!(matches!(
            cp,
            Entry::Journal(JournalRecord::Checkpoint(Checkpoint {
                exported_through: None,
                ..
            }))
        ));
    }

    #[test]
    fn unknown_and_malformed_kinds_are_errors() {
        assert!(matches!(
            decode(&line(1, r#"{"type":"note","v":1}"#)),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            decode(&line(1, r#"{"type":"export","v":1}"#)),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(matches!(decode(b"{}"), Err(DecodeError::Line(_))));
    }
}
