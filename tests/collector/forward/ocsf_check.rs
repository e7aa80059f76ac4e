//! OCSF 1.8.0 validation of events: the schema in tests/data/ocsf-1.8.0
//! (source form) compiled by ocsf-lib (`python3 -m ocsf.compile`: each
//! class with its base event, profiles and objects), then every event
//! checked against the compiled class: every required attribute present,
//! no attribute the class or object does not define (only `unmapped` and
//! `json_t` values are free), profile attributes only under a profile the
//! event names in `metadata.profiles`, values of the dictionary type
//! (integer ranges, `max_len`, `range`; a type with a pattern this checker
//! does not evaluate is reported, never passed), enum values defined, an
//! enum's caption sibling equal to the caption, `at_least_one` and
//! `just_one` constraints, and `category_uid`/`type_uid` consistent with
//! the class.
//!
//! One correction to ocsf-lib 0.10.4: it keeps a parent object's
//! constraints over the object's own (`evidences` and `file` get
//! `_entity`'s "name or uid"), where OCSF lets an object's own
//! `constraints` (even `{}`) replace its parent's. The checker takes the
//! constraints each object's source file states.

use crate::support::data;
use serde_json::{Map, Value};
use std::process::Command;
use std::sync::OnceLock;

/// The compiled schema (compiled once per test run).
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(compile)
}

fn compile() -> Value {
    let dir = data().join("ocsf-1.8.0");
    let out = Command::new("python3")
        .args(["-m", "ocsf.compile"])
        .arg(&dir)
        .output()
        .expect("python3 runs (the OCSF schema is compiled by PyPI's ocsf-lib)");
    assert!(
        out.status.success(),
        "compiling {} with ocsf-lib failed; tests/run-all.sh installs it (python3 -m pip install ocsf-lib): {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("ocsf-lib prints JSON");
    assert_eq!(v["version"], "1.8.0", "the copied schema is OCSF 1.8.0");
    own_constraints(&mut v, &dir.join("objects"));
    v
}

/// Sets each object's constraints to those its source file states.
fn own_constraints(schema: &mut Value, objects: &std::path::Path) {
    for entry in std::fs::read_dir(objects).expect("objects of the copied schema") {
        let path = entry.unwrap().path();
        let src: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (Some(name), Some(c)) = (src["name"].as_str(), src.get("constraints")) else {
            continue;
        };
        if let Some(obj) = schema["objects"].get_mut(name) {
            obj["constraints"] = c.clone();
        }
    }
}

/// Every problem of one event (empty: valid).
pub fn problems(event: &Value) -> Vec<String> {
    let s = schema();
    let mut p = Vec::new();
    let Some(uid) = event["class_uid"].as_u64() else {
        return vec!["class_uid missing or not an integer".into()];
    };
    let Some(class) = s["classes"]
        .as_object()
        .and_then(|c| c.values().find(|c| c["uid"].as_u64() == Some(uid)))
    else {
        return vec![format!("class_uid {uid} is no class of the schema")];
    };
    let category = &s["categories"][class["category"].as_str().unwrap_or("")];
    if event["category_uid"] != category["uid"] {
        p.push(format!(
            "category_uid {} is not the class's category {}",
            event["category_uid"], category["uid"]
        ));
    }
    let want_type = uid * 100 + event["activity_id"].as_u64().unwrap_or(u64::MAX / 200);
    if event["type_uid"].as_u64() != Some(want_type) {
        p.push(format!("type_uid {} is not {want_type}", event["type_uid"]));
    }
    if event["metadata"]["version"] != s["version"] {
        p.push(format!(
            "metadata.version {} is not the schema's {}",
            event["metadata"]["version"], s["version"]
        ));
    }
    let profiles: Vec<&str> = event["metadata"]["profiles"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for pr in &profiles {
        if s["profiles"].get(pr).is_none() {
            p.push(format!("metadata.profiles names unknown profile {pr}"));
        }
    }
    let cx = Cx { s, profiles };
    cx.object("", event, class, &mut p);
    p
}

struct Cx<'a> {
    s: &'a Value,
    profiles: Vec<&'a str>,
}

impl Cx<'_> {
    /// Checks `v` against a class or object definition `def`.
    fn object(&self, path: &str, v: &Value, def: &Value, p: &mut Vec<String>) {
        let Some(obj) = v.as_object() else {
            p.push(format!("{path}: expected an object, got {v}"));
            return;
        };
        let empty = Map::new();
        let attrs = def["attributes"].as_object().unwrap_or(&empty);
        for (name, a) in attrs {
            let present = obj.get(name).is_some_and(|x| !x.is_null());
            // A profile's attributes apply only where the profile does.
            let applies = a["profile"]
                .as_str()
                .is_none_or(|pr| self.profiles.contains(&pr));
            if a["requirement"] == "required" && applies && !present {
                p.push(format!("{path}{name}: required attribute missing"));
            }
        }
        for (name, x) in obj {
            let here = format!("{path}{name}");
            let Some(a) = attrs.get(name) else {
                p.push(format!("{here}: not an attribute of {}", def["name"]));
                continue;
            };
            if let Some(pr) = a["profile"].as_str() {
                if !self.profiles.contains(&pr) {
                    p.push(format!(
                        "{here}: belongs to profile {pr}, not in metadata.profiles"
                    ));
                }
            }
            self.value(&here, x, a, p);
            self.sibling(&here, obj, name, a, p);
        }
        self.constraints(path, obj, &def["constraints"], p);
    }

    fn constraints(&self, path: &str, obj: &Map<String, Value>, c: &Value, p: &mut Vec<String>) {
        let count = |list: &Value| {
            list.as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .filter(|n| obj.get(*n).is_some_and(|x| !x.is_null()))
                        .count()
                })
                .unwrap_or(0)
        };
        if c["at_least_one"].is_array() && count(&c["at_least_one"]) == 0 {
            p.push(format!("{path}: none of {} present", c["at_least_one"]));
        }
        if c["just_one"].is_array() && count(&c["just_one"]) != 1 {
            p.push(format!("{path}: not exactly one of {}", c["just_one"]));
        }
    }

    /// An enum's caption attribute (e.g. `severity` of `severity_id`) must
    /// be the caption of the id, unless the id is Other (99).
    fn sibling(
        &self,
        here: &str,
        obj: &Map<String, Value>,
        name: &str,
        a: &Value,
        p: &mut Vec<String>,
    ) {
        let (Some(sib), Some(en)) = (a["sibling"].as_str(), a["enum"].as_object()) else {
            return;
        };
        let (Some(caption), Some(id)) = (obj.get(sib), obj.get(name)) else {
            return;
        };
        let ids: Vec<&Value> = match id {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        let captions: Vec<&Value> = match caption {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        for (i, c) in ids.iter().zip(captions) {
            let key = i.to_string();
            if key == "99" {
                continue;
            }
            if en.get(&key).map(|e| &e["caption"]) != Some(c) {
                p.push(format!("{here}: {sib} {c} is not the caption of {key}"));
            }
        }
    }

    fn value(&self, here: &str, x: &Value, a: &Value, p: &mut Vec<String>) {
        if a["is_array"] == true {
            match x.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.single(&format!("{here}[{i}]"), item, a, p);
                    }
                }
                None => p.push(format!("{here}: expected an array")),
            }
        } else {
            self.single(here, x, a, p);
        }
    }

    fn single(&self, here: &str, x: &Value, a: &Value, p: &mut Vec<String>) {
        let t = a["type"].as_str().unwrap_or("");
        if let Some(en) = a["enum"].as_object() {
            let key = match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !en.contains_key(&key) {
                p.push(format!("{here}: {key} is not a value of its enum"));
            }
        }
        if t == "object" {
            if !x.is_object() {
                p.push(format!("{here}: expected an object"));
            }
        } else if let Some(def) = self.s["objects"].get(t) {
            self.object(&format!("{here}."), x, def, p);
        } else {
            self.typed(here, x, t, p);
        }
    }

    /// A value of a dictionary type, down to its base type.
    fn typed(&self, here: &str, x: &Value, t: &str, p: &mut Vec<String>) {
        let ok = match t {
            "string_t" => x.is_string(),
            "integer_t" => x.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "long_t" => x.is_i64() || x.is_u64() && x.as_i64().is_some(),
            "float_t" => x.is_number(),
            "boolean_t" => x.is_boolean(),
            "json_t" => true,
            _ => {
                let Some(def) = self.s["types"].get(t) else {
                    p.push(format!("{here}: type {t} is not in the dictionary"));
                    return;
                };
                if !def["regex"].is_null() {
                    p.push(format!(
                        "{here}: type {t} has a pattern this checker does not evaluate"
                    ));
                }
                if let (Some(max), Some(s)) = (def["max_len"].as_u64(), x.as_str()) {
                    if s.len() as u64 > max {
                        p.push(format!("{here}: longer than {max}"));
                    }
                }
                if let (Some(r), Some(n)) = (def["range"].as_array(), x.as_i64()) {
                    if r.len() == 2 && (Some(n) < r[0].as_i64() || Some(n) > r[1].as_i64()) {
                        p.push(format!("{here}: {n} out of range {r:?}"));
                    }
                }
                let base = def["type"].as_str().unwrap_or("");
                self.typed(here, x, base, p);
                return;
            }
        };
        if !ok {
            p.push(format!("{here}: {x} is not a {t}"));
        }
    }
}
