//! Stored records as OCSF 1.8.0 events (Open Cybersecurity Schema
//! Framework, <https://schema.ocsf.io/1.8.0>), one JSON object each.
//!
//! - A finding is a **Detection Finding** (class_uid 2004, category
//!   Findings 2, activity Create 1, type_uid 200401) with the profiles
//!   `host` (the scanning machine as `device`) and `security_control`
//!   (kensa is one: `is_alert`, `confidence_id`, `action_id` Observed,
//!   `disposition_id` Detected, `malware`). `finding_info` carries the
//!   finding's id, a title and the first matching rule as `analytic`;
//!   `evidences` the file (name, path, size, SHA-256 and any MD5/SHA-1
//!   as `hashes`); `resources` the file and the medium it was on;
//!   `malware` the family a rule's metadata names (`malware`,
//!   `malware_family`, `tc_detection_name`; kind from `malware_type` or
//!   `tc_detection_type`). The NISC classification in force (an
//!   analyst's triage, else the policy's) and what OCSF has no place for
//!   (member chain, file attributes, packer, every match) go in
//!   `unmapped`. `status_id` follows triage: New, In Progress (triaged),
//!   Suppressed (false positive).
//! - A session start and its summary are **Scan Activity** (class_uid
//!   6007, category Application Activity 6): "the start, completion, and
//!   results of a scan job" is exactly a kensa session. The start is
//!   activity Started (1); the summary Completed (2), Cancelled (3) when
//!   cut short (medium removed, shutdown) or Error (6) when it names an
//!   error, with the file, detection and skip counts. The scan type is
//!   Attached Media (5) for a removable medium and Other (99, "Host
//!   Directory") for host directories; the medium, which the class has no
//!   attribute for, is in `unmapped.medium`. The Findings category has no class
//!   for a finished job, and Application Activity's other classes describe
//!   applications, not scans.
//!
//! Times are milliseconds since the Unix epoch (`timestamp_t`); the
//! record's own RFC 3339 text is kept as `metadata.original_time`.

use super::{epoch_ms, file_name, meta_text, verdict_str, Item, MALWARE_NAME_KEYS, PRODUCT};
use crate::findings::{Finding, Location, Medium, Record, Session, Summary, Verdict};
use serde_json::{json, Map, Value};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.8.0";

const DETECTION_FINDING: u32 = 2004;
const FINDINGS_CATEGORY: u32 = 2;
const SCAN_ACTIVITY: u32 = 6007;
const APPLICATION_CATEGORY: u32 = 6;

/// The event of one item; `None` for a skip or a record whose time does
/// not parse.
pub fn event(item: &Item<'_>) -> Option<Value> {
    match item.record {
        Record::Finding(f) => detection_finding(item, f),
        Record::Session(s) => scan_started(item, s),
        Record::Summary(s) => scan_ended(item, s),
        Record::Skip(_) => None,
    }
}

/// The fields every event has: class, activity, time, severity, metadata.
fn base(
    item: &Item<'_>,
    class: Class,
    activity: (u32, &str),
    time: &str,
) -> Option<Map<String, Value>> {
    let ms = epoch_ms(time)?;
    let mut m = Map::new();
    m.insert("activity_id".into(), json!(activity.0));
    m.insert("activity_name".into(), json!(activity.1));
    m.insert("category_uid".into(), json!(class.category));
    m.insert("category_name".into(), json!(class.category_name));
    m.insert("class_uid".into(), json!(class.uid));
    m.insert("class_name".into(), json!(class.name));
    m.insert(
        "type_uid".into(),
        json!(u64::from(class.uid) * 100 + u64::from(activity.0)),
    );
    m.insert(
        "type_name".into(),
        json!(format!("{}: {}", class.name, activity.1)),
    );
    m.insert("time".into(), json!(ms));
    m.insert("metadata".into(), metadata(item, time, class.profiles));
    if let Some(d) = device(item) {
        m.insert("device".into(), d);
    }
    Some(m)
}

#[derive(Clone, Copy)]
struct Class {
    uid: u32,
    name: &'static str,
    category: u32,
    category_name: &'static str,
    profiles: &'static [&'static str],
}

const FINDING_CLASS: Class = Class {
    uid: DETECTION_FINDING,
    name: "Detection Finding",
    category: FINDINGS_CATEGORY,
    category_name: "Findings",
    profiles: &["host", "security_control"],
};

const SCAN_CLASS: Class = Class {
    uid: SCAN_ACTIVITY,
    name: "Scan Activity",
    category: APPLICATION_CATEGORY,
    category_name: "Application Activity",
    profiles: &["host"],
};

fn metadata(item: &Item<'_>, time: &str, profiles: &[&str]) -> Value {
    let mut m = json!({
        "product": {
            "name": PRODUCT,
            "vendor_name": PRODUCT,
            "version": env!("CARGO_PKG_VERSION"),
        },
        "version": OCSF_VERSION,
        "uid": item.uid(),
        "original_time": time,
        "log_name": "journal",
        "profiles": profiles,
    });
    if let Some(session) = session_id(item.record) {
        m["correlation_uid"] = json!(session);
    }
    m
}

fn session_id(r: &Record) -> Option<&str> {
    match r {
        Record::Session(s) => Some(&s.id),
        Record::Finding(f) => Some(&f.session),
        Record::Summary(s) => Some(&s.session),
        Record::Skip(s) => Some(&s.session),
    }
}

/// The scanning machine: its host name (type unknown: kensa does not
/// tell a workstation from a server).
fn device(item: &Item<'_>) -> Option<Value> {
    let host = item.host()?;
    Some(json!({
        "type_id": 0,
        "type": "Unknown",
        "name": host,
        "hostname": host,
        "agent_list": [{"uid": item.agent, "name": item.agent_name.unwrap_or(item.agent), "type_id": 99, "type": "Other", "vendor_name": PRODUCT}],
    }))
}

fn detection_finding(item: &Item<'_>, f: &Finding) -> Option<Value> {
    let mut m = base(item, FINDING_CLASS, (1, "Create"), &f.time)?;
    let (sev, sev_name, conf, conf_name) = match f.verdict {
        Verdict::Malicious => (4, "High", 3, "High"),
        Verdict::Suspicious => (3, "Medium", 2, "Medium"),
    };
    let ms = m.get("time").cloned().unwrap_or(Value::Null);
    m.insert("severity_id".into(), json!(sev));
    m.insert("severity".into(), json!(sev_name));
    m.insert("confidence_id".into(), json!(conf));
    m.insert("confidence".into(), json!(conf_name));
    m.insert("is_alert".into(), json!(true));
    m.insert("action_id".into(), json!(3));
    m.insert("action".into(), json!("Observed"));
    m.insert("disposition_id".into(), json!(15));
    m.insert("disposition".into(), json!("Detected"));
    let (status, status_name) = match item.triage {
        None => (1, "New"),
        Some(t) if t.false_positive => (3, "Suppressed"),
        Some(_) => (2, "In Progress"),
    };
    m.insert("status_id".into(), json!(status));
    m.insert("status".into(), json!(status_name));
    let title = title(f);
    m.insert("message".into(), json!(format!("{title}: {}", f.path)));
    m.insert("finding_info".into(), finding_info(f, &title, &ms));
    m.insert("evidences".into(), json!([{ "file": file(f) }]));
    m.insert("resources".into(), resources(item, f));
    if let Some(mw) = malware(f) {
        m.insert("malware".into(), json!([mw]));
    }
    m.insert("unmapped".into(), finding_unmapped(item, f));
    Some(Value::Object(m))
}

/// "Malicious file (EICAR_Test_File, ...)".
fn title(f: &Finding) -> String {
    let kind = match f.verdict {
        Verdict::Malicious => "Malicious file",
        Verdict::Suspicious => "Suspicious file",
    };
    let rules: Vec<&str> = f.matches.iter().map(|m| m.rule.as_str()).collect();
    if rules.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({})", rules.join(", "))
    }
}

fn finding_info(f: &Finding, title: &str, ms: &Value) -> Value {
    let mut info = json!({
        "uid": f.id,
        "title": title,
        "created_time": ms,
        "first_seen_time": ms,
        "types": [format!("{} file", verdict_str(f.verdict))],
        "data_sources": ["file"],
    });
    if let Some(d) = meta_text(&f.matches, &["description"]) {
        info["desc"] = json!(d);
    }
    if let Some(m) = f.matches.first() {
        // A YARA rule is a Rule analytic, a hash list entry Fingerprinting.
        let (type_id, type_name) = if m.kind == "hash" {
            (5, "Fingerprinting")
        } else {
            (1, "Rule")
        };
        info["analytic"] = json!({
            "type_id": type_id,
            "type": type_name,
            "name": m.rule,
            "uid": format!("{}:{}", m.namespace, m.rule),
            "category": m.namespace,
        });
    }
    info
}

/// The file as an OCSF `file` object.
fn file(f: &Finding) -> Value {
    let mut hashes = vec![json!({"algorithm_id": 3, "algorithm": "SHA-256", "value": f.sha256})];
    if let Some(h) = &f.sha1 {
        hashes.push(json!({"algorithm_id": 2, "algorithm": "SHA-1", "value": h}));
    }
    if let Some(h) = &f.md5 {
        hashes.push(json!({"algorithm_id": 1, "algorithm": "MD5", "value": h}));
    }
    json!({
        "name": file_name(&f.path, &f.chain),
        "path": f.path,
        "size": f.size,
        "type_id": 1,
        "type": "Regular File",
        "hashes": hashes,
    })
}

/// The file and, when known, the medium it was found on.
fn resources(item: &Item<'_>, f: &Finding) -> Value {
    let mut out = vec![json!({
        "type": "file",
        "name": f.path,
        "uid": f.sha256,
        "data": {"size": f.size, "sha256": f.sha256, "location": location(f.location)},
    })];
    if let Some(m) = item.medium() {
        out.push(medium(m));
    }
    Value::Array(out)
}

/// A removable medium as a resource: its label as the name, serial (else
/// UUID) as the uid, everything known as data.
fn medium(m: &Medium) -> Value {
    let name = m.label.clone().unwrap_or_else(|| m.mount_point.clone());
    let mut r = json!({
        "type": "removable_medium",
        "name": name,
        "data": m,
    });
    if let Some(uid) = m.serial.as_ref().or(m.uuid.as_ref()) {
        r["uid"] = json!(uid);
    }
    r
}

fn location(l: Location) -> &'static str {
    match l {
        Location::Removable => "removable",
        Location::Host => "host",
    }
}

/// The malware a rule names, if one does.
fn malware(f: &Finding) -> Option<Value> {
    let name = meta_text(&f.matches, MALWARE_NAME_KEYS)?;
    let kind = meta_text(&f.matches, super::MALWARE_TYPE_KEYS);
    let mut m = json!({
        "name": name,
        "path": f.path,
        "provider": PRODUCT,
    });
    match kind.map(classification_id) {
        Some(Some((id, caption))) => {
            m["classification_ids"] = json!([id]);
            m["classifications"] = json!([caption]);
        }
        Some(None) => {
            m["classification_ids"] = json!([99]);
            m["classifications"] = json!([kind]);
        }
        None => m["classification_ids"] = json!([0]),
    }
    Some(m)
}

/// The OCSF malware classification of a rule's malware type.
fn classification_id(kind: &str) -> Option<(u32, &'static str)> {
    const IDS: &[(u32, &str)] = &[
        (1, "Adware"),
        (2, "Backdoor"),
        (3, "Bot"),
        (4, "Bootkit"),
        (5, "DDOS"),
        (6, "Downloader"),
        (7, "Dropper"),
        (8, "Exploit-Kit"),
        (9, "Keylogger"),
        (10, "Ransomware"),
        (11, "Remote-Access-Trojan"),
        (13, "Resource-Exploitation"),
        (14, "Rogue-Security-Software"),
        (15, "Rootkit"),
        (16, "Screen-Capture"),
        (17, "Spyware"),
        (18, "Trojan"),
        (19, "Virus"),
        (20, "Webshell"),
        (21, "Wiper"),
        (22, "Worm"),
    ];
    let k = kind.trim().replace([' ', '_'], "-");
    IDS.iter()
        .find(|(_, c)| c.eq_ignore_ascii_case(&k))
        .copied()
        .or(match k.to_ascii_lowercase().as_str() {
            "rat" => Some((11, "Remote-Access-Trojan")),
            "infostealer" | "stealer" => Some((17, "Spyware")),
            _ => None,
        })
}

fn finding_unmapped(item: &Item<'_>, f: &Finding) -> Value {
    let mut u = json!({
        "agent": agent_unmapped(item),
        "session": f.session,
        "verdict": verdict_str(f.verdict),
        "location": location(f.location),
        "matches": f.matches,
    });
    if !f.chain.is_empty() {
        u["chain"] = json!(f.chain);
    }
    if !f.attributes.is_empty() {
        u["attributes"] = json!(f.attributes);
    }
    if let Some(p) = &f.packed {
        u["packed"] = json!(p);
    }
    if let Some((c, source)) = item.classification() {
        u["nisc"] = nisc(c, source);
    }
    if let Some(t) = item.triage {
        u["triage"] = json!({"by": t.by, "time": t.time, "false_positive": t.false_positive});
    }
    u
}

/// The NISC classification with its labels.
pub fn nisc(c: &crate::findings::Classification, source: &str) -> Value {
    let e = c.event.entry();
    json!({
        "source": source,
        "event": e.slug,
        "event_label_en": e.label_en,
        "event_label_ja": e.label_ja,
        "causes": c.causes.iter().map(|x| x.slug()).collect::<Vec<_>>(),
        "causes_en": c.causes.iter().map(|x| x.entry().label_en).collect::<Vec<_>>(),
    })
}

/// The `scan` object of a session.
fn scan(id: &str, location: Option<Location>, name: String) -> Value {
    let (type_id, type_name) = match location {
        Some(Location::Removable) => (5, "Attached Media"),
        Some(Location::Host) => (99, "Host Directory"),
        None => (0, "Unknown"),
    };
    json!({"uid": id, "name": name, "type_id": type_id, "type": type_name})
}

fn scan_started(item: &Item<'_>, s: &Session) -> Option<Value> {
    let mut m = base(item, SCAN_CLASS, (1, "Started"), &s.time)?;
    m.insert("severity_id".into(), json!(1));
    m.insert("severity".into(), json!("Informational"));
    let name = scan_name(s.medium.as_ref(), &s.paths);
    m.insert("message".into(), json!(format!("scan started: {name}")));
    m.insert("scan".into(), scan(&s.id, Some(s.location), name));
    m.insert(
        "start_time".into(),
        m.get("time").cloned().unwrap_or(Value::Null),
    );
    // Scan Activity has no `resources`: the medium goes with the rest.
    let mut unmapped = json!({
        "agent": agent_unmapped(item),
        "paths": s.paths,
        "ruleset": s.ruleset,
        "version": s.version,
        "volumes": s.volumes,
    });
    if let Some(md) = &s.medium {
        unmapped["medium"] = json!(md);
    }
    m.insert("unmapped".into(), unmapped);
    Some(Value::Object(m))
}

/// What a scan covered, for its name: the medium's label, else the paths.
fn scan_name(medium: Option<&Medium>, paths: &[String]) -> String {
    match medium {
        Some(m) => m.label.clone().unwrap_or_else(|| m.mount_point.clone()),
        None => paths.join(", "),
    }
}

fn scan_ended(item: &Item<'_>, s: &Summary) -> Option<Value> {
    let (activity, status) = match (&s.error, s.completed) {
        (Some(_), _) => ((6, "Error"), (2, "Failure")),
        (None, false) => ((3, "Cancelled"), (2, "Failure")),
        (None, true) => ((2, "Completed"), (1, "Success")),
    };
    let mut m = base(item, SCAN_CLASS, activity, &s.time)?;
    let end = epoch_ms(&s.time)?;
    let sev = if s.findings > 0 {
        (4, "High")
    } else {
        (1, "Informational")
    };
    m.insert("severity_id".into(), json!(sev.0));
    m.insert("severity".into(), json!(sev.1));
    m.insert("status_id".into(), json!(status.0));
    m.insert("status".into(), json!(status.1));
    if let Some(e) = &s.error {
        m.insert("status_detail".into(), json!(e));
    }
    let name = item
        .session
        .map(|x| scan_name(x.medium.as_ref(), &[]))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| s.session.clone());
    let message = format!(
        "scan {}: {} files, {} findings, {} gaps",
        activity.1.to_ascii_lowercase(),
        s.files,
        s.findings,
        s.gaps
    );
    m.insert("message".into(), json!(message));
    let location = item.session.map(|x| x.location);
    m.insert("scan".into(), scan(&s.session, location, name));
    scan_counts(&mut m, item, s, end);
    Some(Value::Object(m))
}

/// The counts, times and leftovers of a session summary.
fn scan_counts(m: &mut Map<String, Value>, item: &Item<'_>, s: &Summary, end: i64) {
    let duration = (s.seconds.max(0.0) * 1000.0).round() as i64;
    m.insert("num_files".into(), json!(int(s.files)));
    m.insert("num_detections".into(), json!(int(s.findings)));
    m.insert("num_skipped_items".into(), json!(int(s.skips)));
    m.insert("total".into(), json!(int(s.files)));
    m.insert("duration".into(), json!(duration));
    m.insert("end_time".into(), json!(end));
    m.insert("start_time".into(), json!(end - duration));
    m.insert(
        "unmapped".into(),
        json!({
            "agent": agent_unmapped(item),
            "bytes": s.bytes,
            "gaps": s.gaps,
            "completed": s.completed,
        }),
    );
}

/// The kensa agent and the record's seq, for `unmapped`.
fn agent_unmapped(item: &Item<'_>) -> Value {
    let mut a = json!({"id": item.agent, "seq": item.seq});
    if let Some(n) = item.agent_name {
        a["name"] = json!(n);
    }
    a
}

/// A count as an OCSF `integer_t` (32 bits), saturated.
fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malware_kinds_map_to_ocsf_classifications() {
        assert_eq!(classification_id("Ransomware"), Some((10, "Ransomware")));
        assert_eq!(classification_id(" trojan "), Some((18, "Trojan")));
        assert_eq!(
            classification_id("remote access trojan"),
            Some((11, "Remote-Access-Trojan"))
        );
        assert_eq!(classification_id("RAT"), Some((11, "Remote-Access-Trojan")));
        assert_eq!(classification_id("Infostealer"), Some((17, "Spyware")));
        assert_eq!(classification_id("Exploit"), None);
    }

    #[test]
    fn counts_saturate_at_the_integer_type() {
        assert_eq!(int(7), 7);
        assert_eq!(int(u64::MAX), i32::MAX);
    }
}
