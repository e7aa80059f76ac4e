//! ECS checks of documents against the field reference in
//! tests/data/ecs/fields.csv: every leaf of a document (its dotted path)
//! must be a field of the reference, and its value (each element of an
//! array) of a compatible JSON kind: keyword and text kinds a string,
//! `long` and the other integers an integer, `float` kinds a number,
//! `boolean` a boolean, `date` an RFC 3339 string, `ip` an address.
//! Fields of type `object` or `flattened` (`labels`) take any keys, with
//! keyword values for `labels`.

use crate::support::data;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Field name → ECS type, from the reference.
pub fn fields() -> &'static HashMap<String, String> {
    static FIELDS: OnceLock<HashMap<String, String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let path = data().join("ecs/fields.csv");
        let text = std::fs::read_to_string(&path).expect("read the ECS field reference");
        let records = csv_records(&text);
        let header = &records[0];
        let col = |n: &str| {
            header
                .iter()
                .position(|h| h == n)
                .expect("fields.csv column")
        };
        let (field, kind) = (col("Field"), col("Type"));
        let map: HashMap<String, String> = records[1..]
            .iter()
            .filter(|r| r.len() > kind.max(field))
            .map(|r| (r[field].clone(), r[kind].clone()))
            .collect();
        assert!(map.len() > 1000, "the reference lists the ECS fields");
        map
    })
}

/// RFC 4180 records: quoted fields may hold commas, quotes (doubled) and
/// line breaks.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Every problem of one document (empty: valid).
pub fn problems(doc: &Value) -> Vec<String> {
    let mut p = Vec::new();
    match doc.as_object() {
        Some(o) => {
            for (k, v) in o {
                walk(k, v, &mut p);
            }
        }
        None => p.push("a document is a JSON object".into()),
    }
    p
}

fn walk(path: &str, v: &Value, p: &mut Vec<String>) {
    if let Some(kind) = fields().get(path) {
        check(path, v, kind, p);
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                walk(&format!("{path}.{k}"), x, p);
            }
        }
        _ => p.push(format!("{path}: not a field of the ECS reference")),
    }
}

fn check(path: &str, v: &Value, kind: &str, p: &mut Vec<String>) {
    if let Value::Array(items) = v {
        for x in items {
            check(path, x, kind, p);
        }
        return;
    }
    let ok = match kind {
        "keyword" | "constant_keyword" | "wildcard" | "text" | "match_only_text" => v.is_string(),
        "long" | "integer" | "short" | "byte" => v.is_i64(),
        "unsigned_long" => v.is_u64(),
        "float" | "double" | "half_float" | "scaled_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "date" => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "ip" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "object" | "flattened" | "nested" => match v.as_object() {
            Some(o) if path == "labels" => {
                for (k, x) in o {
                    if !x.is_string() {
                        p.push(format!("labels.{k}: label values are keywords"));
                    }
                }
                true
            }
            Some(_) => true,
            None => false,
        },
        other => {
            p.push(format!(
                "{path}: ECS type {other} not known to this checker"
            ));
            return;
        }
    };
    if !ok {
        p.push(format!("{path}: {v} is not a value of ECS type {kind}"));
    }
}
