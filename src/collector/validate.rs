//! The record check every line passes before the collector stores it
//! (bundle imports and the agent's own journal alike). A signed line is
//! evidence: the collector stores it only when it reads exactly one way.
//! The line is parsed strictly (a key twice in any object is refused,
//! where serde_json would silently keep the last), decoded into the typed
//! records of `journal::Entry` (the schema: a finding whose verdict is not
//! one kensa writes, a wrong type, a missing field or an unknown record
//! type fails there), its `v` must be the schema version, and every key it
//! holds must survive the typed round trip (a key the types do not know is
//! refused, unless its value is empty: null, `[]` or `{}`, which the typed
//! form leaves out). Nothing here prints or stores.

use crate::findings::SCHEMA_VERSION;
use crate::journal::{DecodeError, Entry, ParsedLine};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// Why a line is not a record the collector stores.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not one JSON object, or a key repeated in some object.
    #[error("line is not one unambiguous JSON object: {0}")]
    Json(String),
    #[error("line has no string \"type\" field")]
    NoType,
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("{kind} record has version {found}, this kensa reads version {SCHEMA_VERSION}")]
    Version { kind: String, found: String },
    #[error("{kind} record has a field {field} that is not part of its schema")]
    UnknownField { kind: String, field: String },
}

/// Checks one journal line (with its `seq`/`prev` prefix) against the
/// record schema; returns its typed record.
pub fn record(seq: u64, line: &[u8]) -> Result<Entry, RecordError> {
    let fields = match strict_value(line)? {
        Value::Object(m) => m,
        _ => return Err(RecordError::Json("not an object".into())),
    };
    let kind = fields
        .get("type")
        .and_then(Value::as_str)
        .ok_or(RecordError::NoType)?
        .to_string();
    let v = fields.get("v").cloned().unwrap_or(Value::Null);
    let parsed = ParsedLine {
        seq,
        // Neither is read by the decoder; the chain was checked before.
        prev: String::new(),
        hash: String::new(),
        kind: kind.clone(),
        fields,
    };
    let entry = Entry::from_parsed(&parsed)?;
    if v.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
        return Err(RecordError::Version {
            kind,
            found: v.to_string(),
        });
    }
    let typed = serde_json::to_value(&entry).map_err(|e| RecordError::Json(e.to_string()))?;
    let Value::Object(typed) = typed else {
        return Err(RecordError::Json("record is not an object".into()));
    };
    let mut top = parsed.fields;
    top.remove("seq");
    top.remove("prev");
    if let Some(field) = unknown_key(&top, &typed, "") {
        return Err(RecordError::UnknownField { kind, field });
    }
    Ok(entry)
}

/// The first key of `given` (recursively, as a dotted path) that the typed
/// form does not hold, when its value is not empty.
fn unknown_key(given: &Map<String, Value>, typed: &Map<String, Value>, at: &str) -> Option<String> {
    for (k, v) in given {
        let path = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        match typed.get(k) {
            None if is_empty(v) => {}
            None => return Some(path),
            Some(t) => {
                if let Some(p) = unknown_in(v, t, &path) {
                    return Some(p);
                }
            }
        }
    }
    None
}

fn unknown_in(given: &Value, typed: &Value, at: &str) -> Option<String> {
    match (given, typed) {
        (Value::Object(g), Value::Object(t)) => unknown_key(g, t, at),
        (Value::Array(g), Value::Array(t)) => g
            .iter()
            .zip(t)
            .enumerate()
            .find_map(|(i, (g, t))| unknown_in(g, t, &format!("{at}[{i}]"))),
        _ => None,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Parses JSON into a value, refusing a key that appears twice in one
/// object (at any depth; keys compare after unescaping).
pub fn strict_value(line: &[u8]) -> Result<Value, RecordError> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let v = Strict::deserialize(&mut de).map_err(|e| RecordError::Json(e.to_string()))?;
    de.end().map_err(|e| RecordError::Json(e.to_string()))?;
    Ok(v.0)
}

/// A JSON value read without duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut seen = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !seen.insert(k.clone()) {
                return Err(de::Error::custom(format!("key {k:?} appears twice")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(body: &str) -> Vec<u8> {
        format!("{{\"seq\":2,\"prev\":\"{}\",{}", "0".repeat(64), &body[1..]).into_bytes()
    }

    const FINDING: &str = r#"{"type":"finding","v":1,"id":"f","session":"s","time":"t","location":"host","path":"p","size":1,"sha256":"ab","verdict":"malicious","matches":[{"kind":"yara","rule":"r","namespace":"n","meta":{"x":{"y":1}}}]}"#;

    #[test]
    fn a_record_kensa_writes_passes() {
        assert!(record(2, &line(FINDING)).is_ok());
        let empty = FINDING.replace(r#""size":1"#, r#""size":1,"chain":[],"md5":null"#);
        assert!(record(2, &line(&empty)).is_ok(), "empty optional values");
        let hidden = FINDING.replace(
            r#""size":1"#,
            r#""size":1,"attributes":["hidden","system"]"#,
        );
        assert!(
            record(2, &line(&hidden)).is_ok(),
            "attributes of a file on a volume"
        );
    }

    #[test]
    fn packed_passes() {
        let packed = FINDING.replace(r#""size":1"#, r#""size":1,"packed":"aspack""#);
        assert!(record(2, &line(&packed)).is_ok(), "packer of a file");
        let skip = r#"{"type":"skip","v":1,"session":"s","time":"t","path":"x.exe → $upx","chain":["x.exe","$upx"],"reason":"corrupt","detail":"d","gap":true,"packed":"upx"}"#;
        assert!(record(2, &line(skip)).is_ok(), "packer of a member");
        let bad = FINDING.replace(r#""size":1"#, r#""size":1,"packed":["upx"]"#);
        assert!(record(2, &line(&bad)).is_err(), "packed is one name");
    }

    #[test]
    fn windows_file_fields_pass() {
        let locked = r#"{"type":"skip","v":1,"session":"s","time":"t","path":"C:\\data\\held.log","reason":"locked","detail":"d","gap":true,"attributes":["hidden","readonly"]}"#;
        assert!(record(2, &line(locked)).is_ok(), "a locked file");
        let stream = FINDING.replace(
            r#""size":1"#,
            r#""size":1,"attributes":["system","reparse"]"#,
        );
        assert!(record(2, &line(&stream)).is_ok(), "Windows attributes");
        let bad = locked.replace(r#""reason":"locked""#, r#""reason":"busy""#);
        assert!(record(2, &line(&bad)).is_err(), "unknown reason");
    }

    #[test]
    fn disk_fields_pass() {
        let skip = r#"{"type":"skip","v":1,"session":"s","time":"t","path":"/dev/loop3 → p2","chain":["/dev/loop3","p2"],"reason":"unsupported_fs","detail":"d","gap":true,"attributes":["hidden"]}"#;
        assert!(record(2, &line(skip)).is_ok());
        let session = r#"{"type":"session","v":1,"id":"s","time":"t","host":"h","location":"removable","paths":["/dev/loop3"],"ruleset":{"id":"i","digest":"d","rules":1,"hashes":0},"version":"0","volumes":[{"index":1,"fs":"fat32","label":"STICK","serial":"1234-ABCD","offset":1048576,"size":1048576,"partition_type":"0x0c"}]}"#;
        assert!(record(2, &line(session)).is_ok());
        let bad = session.replace(r#""offset":1048576"#, r#""offset":1048576,"mounted":true"#);
        assert!(record(2, &line(&bad)).is_err(), "unknown volume field");
    }

    #[test]
    fn unknown_shapes_are_refused() {
        let cases = [
            (FINDING.replace("malicious", "clean"), "clean"),
            (
                FINDING.replace(r#""type":"finding""#, r#""type":"skip","type":"finding""#),
                "twice",
            ),
            (
                FINDING.replace(r#""size":1"#, r#""size":1,"note":"benign""#),
                "field note",
            ),
            (
                FINDING.replace(r#""rule":"r""#, r#""rule":"r","extra":1"#),
                "field matches[0].extra",
            ),
            (
                FINDING.replace(r#""size":1"#, r#""size":"1""#),
                "invalid type",
            ),
            (FINDING.replace(r#""v":1"#, r#""v":2"#), "version 2"),
            (
                FINDING.replace(r#""x":{"y":1}"#, r#""x":{"y":1,"y":2}"#),
                "twice",
            ),
            (FINDING.replace("finding", "note"), "unknown record type"),
        ];
        for (body, why) in cases {
            let e = record(2, &line(&body)).unwrap_err().to_string();
            assert!(e.contains(why), "{body}: {e}");
        }
    }
}
