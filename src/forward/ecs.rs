//! Stored records as Elastic Common Schema documents ([`ECS_VERSION`]),
//! written as NDJSON for Elasticsearch's bulk API: before each document a
//! `{"create":{"_id":"<agent>-<seq>"}}` action line, so posting the file
//! to `/<index or data stream>/_bulk` twice indexes nothing twice.
//!
//! - A finding is an alert: `event.kind: alert`, `event.category:
//!   [malware, file]`, `event.type: [info]`, `event.severity` 73 for
//!   malicious and 47 for suspicious (Kibana's high and medium), with
//!   `file.*` (path, name, size, `file.hash.sha256`/`sha1`/`md5`,
//!   `file.attributes` hidden/system), `rule.*` from the first match,
//!   `threat.indicator.*` (a file indicator with its SHA-256) and
//!   `threat.software.*` where a rule's metadata names the malware.
//! - A session start or summary is an event: `event.kind: event`,
//!   `event.category: [host]`, `event.type: [start]` or `[end]`,
//!   `event.action: scan-started` / `scan-finished` with
//!   `event.outcome`; ECS has no scan category, and `host` with
//!   start/end is the one whose allowed types fit.
//!
//! Every document has `@timestamp` (the record's time), `ecs.version`,
//! `agent.*` (the kensa agent: id and trusted name), `host.*` (the scanned
//! machine) and, for media, `volume.*`. What ECS has no field for goes in
//! `labels` (keyword values): the NISC classification in force
//! (`nisc_event`, `nisc_causes`, `nisc_source`), the session id, the seq.

use super::{epoch_ms, file_name, meta_text, verdict_str, Item, MALWARE_NAME_KEYS, PRODUCT};
use crate::findings::{Finding, Location, Medium, Record, Session, Summary, Verdict};
use serde_json::{json, Map, Value};

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.17.0";

/// The bulk API action line for a document with id `uid`.
pub fn action(uid: &str) -> String {
    json!({"create": {"_id": uid}}).to_string()
}

/// The document of one item; `None` for a skip or a record whose time
/// does not parse.
pub fn document(item: &Item<'_>) -> Option<Value> {
    match item.record {
        Record::Finding(f) => finding(item, f),
        Record::Session(s) => session(item, s),
        Record::Summary(s) => summary(item, s),
        Record::Skip(_) => None,
    }
}

/// `@timestamp`, `ecs`, `agent`, `host`, `volume` and the base labels.
fn base(item: &Item<'_>, time: &str, session: &str) -> Option<Map<String, Value>> {
    epoch_ms(time)?;
    let mut m = Map::new();
    m.insert("@timestamp".into(), json!(time));
    m.insert("ecs".into(), json!({"version": ECS_VERSION}));
    let mut agent = json!({"id": item.agent, "type": PRODUCT});
    if let Some(n) = item.agent_name {
        agent["name"] = json!(n);
    }
    m.insert("agent".into(), agent);
    if let Some(h) = item.host() {
        m.insert("host".into(), json!({"name": h, "hostname": h}));
    }
    if let Some(md) = item.medium() {
        m.insert("volume".into(), volume(md));
    }
    m.insert(
        "labels".into(),
        json!({"kensa_session": session, "kensa_seq": item.seq.to_string()}),
    );
    m.insert("observer".into(), json!({"product": PRODUCT, "vendor": PRODUCT, "type": "scanner", "version": env!("CARGO_PKG_VERSION")}));
    Some(m)
}

fn volume(m: &Medium) -> Value {
    let mut v = json!({
        "mount_name": m.mount_point,
        "removable": m.removable,
    });
    if let Some(d) = &m.device {
        v["device_name"] = json!(d);
    }
    if let Some(fs) = &m.filesystem {
        v["file_system_type"] = json!(fs);
    }
    if let Some(s) = m.serial.as_ref().or(m.uuid.as_ref()) {
        v["serial_number"] = json!(s);
    }
    if let Some(c) = m.capacity {
        v["size"] = json!(c);
    }
    v
}

fn label(m: &mut Map<String, Value>, key: &str, value: &str) {
    if let Some(Value::Object(l)) = m.get_mut("labels") {
        l.insert(key.to_string(), json!(value));
    }
}

fn finding(item: &Item<'_>, f: &Finding) -> Option<Value> {
    let mut m = base(item, &f.time, &f.session)?;
    let severity = match f.verdict {
        Verdict::Malicious => 73,
        Verdict::Suspicious => 47,
    };
    m.insert(
        "event".into(),
        json!({
            "kind": "alert",
            "category": ["malware", "file"],
            "type": ["info"],
            "action": "file-detected",
            "module": PRODUCT,
            "dataset": "kensa.finding",
            "id": f.id,
            "severity": severity,
            "created": f.time,
        }),
    );
    m.insert(
        "message".into(),
        json!(format!("{} file: {}", verdict_str(f.verdict), f.path)),
    );
    m.insert("file".into(), file(f));
    if let Some(r) = f.matches.first() {
        m.insert("rule".into(), rule(r));
    }
    m.insert("threat".into(), threat(f));
    m.insert(
        "tags".into(),
        json!([PRODUCT, verdict_str(f.verdict), location(f.location)]),
    );
    finding_labels(&mut m, item, f);
    Some(Value::Object(m))
}

/// `rule.*` of a match.
fn rule(r: &crate::findings::Match) -> Value {
    let one = std::slice::from_ref(r);
    let mut rule = json!({"name": r.rule, "ruleset": r.namespace, "id": format!("{}:{}", r.namespace, r.rule)});
    if let Some(d) = meta_text(one, &["description"]) {
        rule["description"] = json!(d);
    }
    if let Some(a) = meta_text(one, &["author"]) {
        rule["author"] = json!(a);
    }
    rule
}

/// What ECS has no field for: rules, chain, packer, NISC classification,
/// triage.
fn finding_labels(m: &mut Map<String, Value>, item: &Item<'_>, f: &Finding) {
    let rules: Vec<&str> = f.matches.iter().map(|x| x.rule.as_str()).collect();
    label(m, "kensa_rules", &rules.join(","));
    label(m, "kensa_location", location(f.location));
    if !f.chain.is_empty() {
        label(m, "kensa_chain", &f.chain.join(" → "));
    }
    if let Some(p) = &f.packed {
        label(m, "kensa_packed", p);
    }
    if let Some((c, source)) = item.classification() {
        label(m, "nisc_event", c.event.slug());
        let causes: Vec<&str> = c.causes.iter().map(|x| x.slug()).collect();
        label(m, "nisc_causes", &causes.join(","));
        label(m, "nisc_source", source);
    }
    if let Some(t) = item.triage {
        label(m, "triage_by", &t.by);
        label(m, "triage_false_positive", &t.false_positive.to_string());
    }
}

fn file(f: &Finding) -> Value {
    let mut hash = json!({"sha256": f.sha256});
    if let Some(h) = &f.sha1 {
        hash["sha1"] = json!(h);
    }
    if let Some(h) = &f.md5 {
        hash["md5"] = json!(h);
    }
    let mut file = json!({
        "path": f.path,
        "name": file_name(&f.path, &f.chain),
        "size": f.size,
        "hash": hash,
    });
    if !f.attributes.is_empty() {
        file["attributes"] = json!(f.attributes);
    }
    file
}

fn threat(f: &Finding) -> Value {
    let mut indicator = json!({
        "type": "file",
        "provider": PRODUCT,
        "name": f.sha256,
        "file": {"hash": {"sha256": f.sha256}, "path": f.path},
    });
    if let Some(d) = meta_text(&f.matches, &["description"]) {
        indicator["description"] = json!(d);
    }
    let mut t = json!({"indicator": indicator});
    if let Some(name) = meta_text(&f.matches, MALWARE_NAME_KEYS) {
        t["software"] = json!({"name": name, "type": "Malware"});
    }
    t
}

fn location(l: Location) -> &'static str {
    match l {
        Location::Removable => "removable",
        Location::Host => "host",
    }
}

fn session(item: &Item<'_>, s: &Session) -> Option<Value> {
    let mut m = base(item, &s.time, &s.id)?;
    m.insert(
        "event".into(),
        json!({
            "kind": "event",
            "category": ["host"],
            "type": ["start"],
            "action": "scan-started",
            "module": PRODUCT,
            "dataset": "kensa.session",
            "id": s.id,
            "start": s.time,
            "severity": 0,
        }),
    );
    let what = match &s.medium {
        Some(md) => md.label.clone().unwrap_or_else(|| md.mount_point.clone()),
        None => s.paths.join(", "),
    };
    m.insert("message".into(), json!(format!("scan started: {what}")));
    m.insert("tags".into(), json!([PRODUCT, location(s.location)]));
    label(&mut m, "kensa_location", location(s.location));
    label(&mut m, "kensa_ruleset", &s.ruleset.id);
    if let Some(Value::Object(a)) = m.get_mut("agent") {
        a.insert("version".into(), json!(s.version));
    }
    Some(Value::Object(m))
}

fn summary(item: &Item<'_>, s: &Summary) -> Option<Value> {
    let mut m = base(item, &s.time, &s.session)?;
    let ok = s.completed && s.error.is_none();
    let mut event = json!({
        "kind": "event",
        "category": ["host"],
        "type": ["end"],
        "action": "scan-finished",
        "outcome": if ok { "success" } else { "failure" },
        "module": PRODUCT,
        "dataset": "kensa.session",
        "id": s.session,
        "end": s.time,
        "duration": (s.seconds.max(0.0) * 1e9).round() as i64,
        "severity": if s.findings > 0 { 73 } else { 0 },
    });
    if let Some(e) = &s.error {
        event["reason"] = json!(e);
    }
    if let Some(start) = item.session.map(|x| x.time.clone()) {
        event["start"] = json!(start);
    }
    m.insert("event".into(), event);
    m.insert(
        "message".into(),
        json!(format!(
            "scan finished: {} files, {} findings, {} gaps{}",
            s.files,
            s.findings,
            s.gaps,
            if s.completed { "" } else { " (not completed)" }
        )),
    );
    m.insert("tags".into(), json!([PRODUCT]));
    for (k, v) in [
        ("kensa_files", s.files),
        ("kensa_bytes", s.bytes),
        ("kensa_findings", s.findings),
        ("kensa_gaps", s.gaps),
    ] {
        label(&mut m, k, &v.to_string());
    }
    Some(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bulk_action_creates_by_id() {
        assert_eq!(action("A-7"), r#"{"create":{"_id":"A-7"}}"#);
        let odd = action("a\"b");
        let back: Value = serde_json::from_str(&odd).unwrap();
        assert_eq!(back["create"]["_id"], "a\"b");
    }
}
