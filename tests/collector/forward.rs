//! `kensa forward` (issue 15, point 4) through the binary: a real scan's
//! records on an agent; bundles of two trusted agents imported, one incident triaged, then forwarded as OCSF
//! (every event validated against the OCSF 1.8.0 schema compiled by
//! ocsf-lib, `ocsf_check`) and as ECS bulk NDJSON (every field checked
//! against the ECS field reference, `ecs_check`); the cursors (a re-run
//! sends nothing, a later import only the new records, `--all` everything
//! again, two destinations apart); `--syslog` to a real rsyslogd (each
//! event one RFC 5424 message whose MSG is the OCSF event, parsed back
//! and validated; its own cursor); bad input (unknown format, no
//! destination, a file that cannot be opened or written, /dev/full: an
//! error naming it, and no cursor moved).

mod ecs_check;
mod ocsf_check;

use crate::forge::{self, text, Agent};
use crate::support::rsyslog::Rsyslog;
use crate::support::TestEnv;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

const T0: &str = "2026-01-01T00:00:00.000Z";
/// T0 in milliseconds since the epoch.
const T0_MS: i64 = 1_767_225_600_000;

fn medium() -> Value {
    json!({"mount_point": "/media/usb", "device": "/dev/sdb1", "filesystem": "vfat",
           "label": "VENDOR-USB", "serial": "4C530001", "capacity": 8_000_000_000u64,
           "removable": true, "detected_by": "media_root"})
}

fn session(id: &str, location: &str, medium: Option<Value>) -> String {
    let mut s = json!({
        "type": "session", "v": 1, "id": id, "time": T0, "host": "hmi-01",
        "location": location, "paths": ["/media/usb"],
        "ruleset": {"id": "0011223344556677", "digest": "ab", "rules": 1, "hashes": 0},
        "version": "0.1.0",
    });
    if let Some(m) = medium {
        s["medium"] = m;
    }
    s.to_string()
}

fn finding(session: &str, id: &str, verdict: &str, matches: Value, extra: Value) -> String {
    let mut f = json!({
        "type": "finding", "v": 1, "id": id, "session": session,
        "time": "2026-01-01T00:00:01.500Z", "location": "removable",
        "path": format!("/media/usb/{id}.exe"), "size": 68, "sha256": "ab".repeat(32),
        "verdict": verdict, "matches": matches,
    });
    if let (Some(f), Some(e)) = (f.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    f.to_string()
}

fn summary(session: &str, completed: bool, error: Option<&str>) -> String {
    let mut s = json!({
        "type": "summary", "v": 1, "session": session, "time": "2026-01-01T00:00:10.000Z",
        "files": 120, "bytes": 4096, "findings": 2, "skips": 1, "gaps": 1,
        "seconds": 9.5, "completed": completed,
    });
    if let Some(e) = error {
        s["error"] = json!(e);
    }
    s.to_string()
}

/// Agent A's records: a medium session with a named-malware finding (all
/// optional fields) and a hash-list finding, a skip, its summary; a host
/// session cut short with a ReversingLabs-style ransomware finding.
fn agent_a_records() -> Vec<String> {
    let konni = json!([{"kind": "yara", "rule": "Win32_Backdoor_Konni", "namespace": "rl",
        "tags": ["malicious"],
        "meta": {"malware": "KONNI", "malware_type": "Backdoor", "description": "Konni backdoor", "author": "RL"}}]);
    let extra = json!({"md5": "cd".repeat(16), "sha1": "ef".repeat(20),
        "chain": ["/media/usb/drop.zip", "inner/konni.exe"], "path": "/media/usb/drop.zip → inner/konni.exe",
        "attributes": ["hidden"], "packed": "upx",
        "taxonomy": {"event": "malware_infection", "causes": ["suspicious_file"]}});
    let listed = json!([{"kind": "hash", "rule": "eicar", "namespace": "kensa"}]);
    let ako = json!([{"kind": "yara", "rule": "Win32_Ransomware_Ako", "namespace": "rl",
        "meta": {"tc_detection_name": "Ako", "tc_detection_type": "Ransomware"}}]);
    let skip = json!({"type": "skip", "v": 1, "session": "s-1", "time": T0, "path": "/media/usb/big.iso",
        "reason": "too_large", "detail": "over 100 MiB", "gap": true});
    vec![
        session("s-1", "removable", Some(medium())),
        finding("s-1", "f-konni", "malicious", konni, extra),
        finding("s-1", "f-listed", "suspicious", listed, json!({})),
        skip.to_string(),
        summary("s-1", true, None),
        session("s-2", "host", None),
        finding(
            "s-2",
            "f-ako",
            "malicious",
            ako,
            json!({"location": "host"}),
        ),
        summary("s-2", false, None),
    ]
}

/// Agent B's records: a session whose scan failed with an error.
fn agent_b_records() -> Vec<String> {
    let m = json!([{"kind": "yara", "rule": "Generic", "namespace": "site"}]);
    vec![
        session("b-1", "removable", Some(medium())),
        finding("b-1", "f-b", "malicious", m, json!({})),
        summary("b-1", false, Some("walker failed")),
    ]
}

/// Agent A's records after a later export: two more.
fn agent_a_more() -> Vec<String> {
    let mut all = agent_a_records();
    let m = json!([{"kind": "yara", "rule": "Later", "namespace": "site"}]);
    all.push(session("s-3", "removable", Some(medium())));
    all.push(finding("s-3", "f-later", "suspicious", m, json!({})));
    all
}

struct Collector {
    env: TestEnv,
    a: Agent,
    b: Agent,
}

impl Collector {
    /// A collector that trusts A and B and holds their first bundles.
    fn new() -> Collector {
        let env = TestEnv::new();
        let keys = env.base().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        let a = Agent::new(&keys);
        let b = Agent::new(&keys);
        a.trust(&env, "plant-a");
        b.trust(&env, "plant-b");
        let c = Collector { env, a, b };
        c.import(&c.a, "a1.jsonl", &agent_a_records());
        c.import(&c.b, "b1.jsonl", &agent_b_records());
        c
    }

    fn import(&self, agent: &Agent, name: &str, bodies: &[String]) {
        let path = agent.bundle(&self.env.base().join("bundles"), OsStr::new(name), bodies);
        let out = self.env.run([OsStr::new("import"), path.as_os_str()]);
        assert_eq!(out.status.code(), Some(0), "import: {}", text(&out));
    }

    fn forward(&self, args: &[&str]) -> Output {
        let mut all = vec!["forward"];
        all.extend(args);
        self.env.run(&all)
    }

    /// `forward` that must succeed.
    fn forward_ok(&self, args: &[&str]) -> Output {
        let out = self.forward(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "forward {args:?}: {}",
            text(&out)
        );
        out
    }

    fn out_file(&self, name: &str) -> PathBuf {
        self.env.base().join(name)
    }

    /// The cursors stored for `destination`: (agent, seq), by agent.
    fn cursors(&self, destination: &str) -> Vec<(String, i64)> {
        let conn = rusqlite::Connection::open(self.env.state.join("kensa.db")).unwrap();
        let mut st = conn
            .prepare("SELECT agent, seq FROM forward_cursors WHERE destination = ?1 ORDER BY agent")
            .unwrap();
        let rows = st
            .query_map([destination], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }
}

/// The JSON lines of a file (none when it does not exist).
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn by_uid<'a>(events: &'a [Value], finding: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["finding_info"]["uid"] == finding)
        .unwrap_or_else(|| panic!("no event of finding {finding}"))
}

/// The incident id of agent `name`'s session `session`, as listed.
fn incident_id(env: &TestEnv, session: &str) -> String {
    let (code, rows, out) = forge::incidents(env, &[]);
    assert_eq!(code, 0, "{out}");
    let row = rows
        .iter()
        .find(|r| r["session"] == session)
        .unwrap_or_else(|| panic!("no incident of {session}: {out}"));
    row["id"].as_str().unwrap().to_string()
}

#[test]
fn ocsf_events_validate_against_the_schema() {
    let c = Collector::new();
    let id = incident_id(&c.env, "s-2");
    let out = c.env.run([
        "triage",
        &id,
        "--event",
        "code_execution",
        "--cause",
        "insider",
        "--by",
        "sato",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let file = c.out_file("siem.ocsf.jsonl");
    let out = c.forward_ok(&["--format", "ocsf", "--out", file.to_str().unwrap()]);
    let events = lines(&file);
    // 4 findings, 3 session starts, 3 summaries; the skip is not sent.
    assert_eq!(events.len(), 10, "{}", text(&out));
    for e in &events {
        let p = ocsf_check::problems(e);
        assert!(p.is_empty(), "invalid OCSF event:\n{}\n{e:#}", p.join("\n"));
    }
    ocsf_checker_catches(by_uid(&events, "f-konni"));
    let class = |uid: u64| events.iter().filter(|e| e["class_uid"] == uid).count();
    assert_eq!((class(2004), class(6007)), (4, 6));

    let konni = by_uid(&events, "f-konni");
    assert_eq!(konni["time"], T0_MS + 1500, "ms since the epoch");
    assert_eq!(konni["metadata"]["version"], "1.8.0");
    assert_eq!(konni["metadata"]["product"]["name"], "kensa");
    assert_eq!(konni["severity_id"], 4);
    let file_ev = &konni["evidences"][0]["file"];
    assert_eq!(file_ev["path"], "/media/usb/drop.zip → inner/konni.exe");
    assert_eq!(file_ev["name"], "konni.exe");
    assert_eq!(file_ev["size"], 68);
    assert!(file_ev["hashes"]
        .as_array()
        .unwrap()
        .contains(&json!({"algorithm_id": 3, "algorithm": "SHA-256", "value": "ab".repeat(32)})));
    let medium = konni["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "removable_medium")
        .expect("the medium is a resource");
    assert_eq!(
        (&medium["name"], &medium["uid"]),
        (&json!("VENDOR-USB"), &json!("4C530001"))
    );
    assert_eq!(konni["device"]["hostname"], "hmi-01");
    assert_eq!(konni["malware"][0]["name"], "KONNI");
    assert_eq!(konni["malware"][0]["classification_ids"], json!([2]));
    assert_eq!(konni["unmapped"]["nisc"]["event"], "malware_infection");
    assert_eq!(konni["unmapped"]["nisc"]["source"], "policy");
    assert_eq!(konni["status_id"], 1, "untriaged: New");

    let ako = by_uid(&events, "f-ako");
    assert_eq!(ako["malware"][0]["name"], "Ako");
    assert_eq!(ako["malware"][0]["classification_ids"], json!([10]));
    assert_eq!(
        ako["unmapped"]["nisc"]["event"], "code_execution",
        "the triage wins"
    );
    assert_eq!(ako["unmapped"]["nisc"]["causes"], json!(["insider"]));
    assert_eq!(ako["status_id"], 2, "triaged: In Progress");
    let listed = by_uid(&events, "f-listed");
    assert!(listed.get("malware").is_none(), "no rule names malware");
    assert_eq!(listed["finding_info"]["analytic"]["type_id"], 5);

    let ends: Vec<&Value> = events
        .iter()
        .filter(|e| e["class_uid"] == 6007 && e["activity_id"] != 1)
        .collect();
    let acts: Vec<u64> = ends
        .iter()
        .map(|e| e["activity_id"].as_u64().unwrap())
        .collect();
    assert_eq!(acts.iter().filter(|a| **a == 2).count(), 1, "completed");
    assert_eq!(acts.iter().filter(|a| **a == 3).count(), 1, "cut short");
    assert_eq!(acts.iter().filter(|a| **a == 6).count(), 1, "error");
    assert!(ends
        .iter()
        .all(|e| e["num_files"] == 120 && e["duration"] == 9500));
}

#[test]
fn ecs_documents_are_bulk_ready_with_known_fields() {
    let c = Collector::new();
    let out = c.forward_ok(&["--format", "ecs", "--out", "-"]);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(stdout.ends_with('\n'), "the bulk API wants a final newline");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20, "an action line and a document per event");
    let mut ids = std::collections::BTreeSet::new();
    for pair in lines.chunks(2) {
        let (action, doc) = (&pair[0], &pair[1]);
        let id = action["create"]["_id"]
            .as_str()
            .expect("a create action with an _id");
        assert_eq!(action.as_object().unwrap().len(), 1);
        assert!(ids.insert(id.to_string()), "ids are unique: {id}");
        let p = ecs_check::problems(doc);
        assert!(
            p.is_empty(),
            "invalid ECS document:\n{}\n{doc:#}",
            p.join("\n")
        );
        assert!(doc["@timestamp"].is_string() && doc["ecs"]["version"].is_string());
        assert!(doc["event"]["kind"].is_string() && doc["event"]["category"].is_array());
        assert!(doc["event"]["type"].is_array() && doc["host"]["name"] == "hmi-01");
    }
    ecs_checker_catches(&lines[1]);
    let alerts: Vec<&Value> = lines
        .iter()
        .filter(|d| d["event"]["kind"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 4);
    let konni = alerts
        .iter()
        .find(|d| d["event"]["id"] == "f-konni")
        .unwrap();
    assert_eq!(konni["file"]["hash"]["sha256"], "ab".repeat(32));
    assert_eq!(konni["file"]["name"], "konni.exe");
    assert_eq!(konni["threat"]["software"]["name"], "KONNI");
    assert_eq!(
        konni["threat"]["indicator"]["file"]["hash"]["sha256"],
        "ab".repeat(32)
    );
    assert_eq!(konni["volume"]["serial_number"], "4C530001");
    assert_eq!(konni["labels"]["nisc_event"], "malware_infection");
    assert_eq!(konni["agent"]["name"], "plant-a");
    let events = text(&out);
    assert!(events.contains("forwarded 10 event(s)"), "{events}");
}

#[test]
fn cursors_send_each_record_once_per_destination() {
    let c = Collector::new();
    let one = c.out_file("one.jsonl");
    let two = c.out_file("two.jsonl");
    let one_s = one.to_str().unwrap();
    c.forward_ok(&["--format", "ocsf", "--out", one_s]);
    assert_eq!(lines(&one).len(), 10);
    let key = format!("ocsf file:{one_s}");
    let mut want = vec![(c.a.id.clone(), 8), (c.b.id.clone(), 3)];
    want.sort();
    assert_eq!(
        c.cursors(&key),
        want,
        "every agent's cursor at its last seq"
    );

    let out = c.forward_ok(&["--format", "ocsf", "--out", one_s]);
    assert_eq!(lines(&one).len(), 10, "a re-run sends nothing twice");
    assert!(
        text(&out).contains("forwarded 0 event(s)"),
        "{}",
        text(&out)
    );

    c.import(&c.a, "a2.jsonl", &agent_a_more());
    c.forward_ok(&["--format", "ocsf", "--out", one_s]);
    let got = lines(&one);
    assert_eq!(got.len(), 12, "only the two new records");
    assert_eq!(got[10]["scan"]["uid"], "s-3");
    assert_eq!(got[11]["finding_info"]["uid"], "f-later");

    c.forward_ok(&["--format", "ocsf", "--out", two.to_str().unwrap()]);
    assert_eq!(
        lines(&two).len(),
        12,
        "another destination has its own cursor"
    );
    let ecs = c.forward_ok(&["--format", "ecs", "--out", "-"]);
    assert_eq!(
        String::from_utf8_lossy(&ecs.stdout).lines().count(),
        24,
        "and ECS to stdout"
    );

    c.forward_ok(&["--format", "ocsf", "--out", one_s, "--all"]);
    assert_eq!(lines(&one).len(), 24, "--all sends everything again");
    c.forward_ok(&["--format", "ocsf", "--out", one_s]);
    assert_eq!(
        lines(&one).len(),
        24,
        "and the cursor still stands at the end"
    );
}

#[test]
fn syslog_destination_sends_each_event_once() {
    let c = Collector::new();
    let rs = Rsyslog::start();
    let tcp = format!("tcp:127.0.0.1:{}", rs.tcp_port);
    c.forward_ok(&["--format", "ocsf", "--syslog", &tcp]);
    let got = rs.wait_for(10, std::time::Duration::from_secs(20));
    assert_eq!(got.len(), 10, "{}", rs.log());
    for m in &got {
        assert_eq!((m.input.as_str(), m.app_name.as_str()), ("imtcp", "kensa"));
        assert!(m
            .params("kensa@32473")
            .iter()
            .all(|(k, _)| k != "truncated"));
        let event: Value = serde_json::from_str(&m.msg)
            .unwrap_or_else(|e| panic!("MSG is the event's JSON ({e}): {}", m.msg));
        let p = ocsf_check::problems(&event);
        assert!(
            p.is_empty(),
            "invalid OCSF event:\n{}\n{event:#}",
            p.join("\n")
        );
        let uid = m.values("kensa@32473", "uid");
        assert_eq!(uid, [event["metadata"]["uid"].as_str().unwrap()]);
        assert_eq!(m.hostname, "hmi-01");
    }
    let konni = got
        .iter()
        .find(|m| m.values("kensa@32473", "path") == ["/media/usb/drop.zip → inner/konni.exe"])
        .expect("the KONNI finding");
    assert_eq!(konni.msgid, "finding");
    assert_eq!(konni.pri, 4 * 8 + 2, "facility auth, severity critical");
    assert_eq!(konni.values("kensa@32473", "agent"), [c.a.id.as_str()]);
    // The structured data of the agent's live messages, and the event's.
    assert_eq!(konni.values("kensa@32473", "finding"), ["f-konni"]);
    assert_eq!(konni.values("kensa@32473", "medium_label"), ["VENDOR-USB"]);
    assert_eq!(konni.values("kensa@32473", "format"), ["ocsf"]);
    assert_eq!(konni.values("kensa@32473", "seq"), ["2"]);
    assert_eq!(got.iter().filter(|m| m.msgid == "scan-start").count(), 3);

    c.forward_ok(&["--format", "ocsf", "--syslog", &tcp]);
    c.import(&c.a, "a2.jsonl", &agent_a_more());
    c.forward_ok(&["--format", "ocsf", "--syslog", &tcp]);
    let got = rs.wait_for(12, std::time::Duration::from_secs(20));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        rs.received().len(),
        12,
        "only the two new records: {}",
        rs.log()
    );
    assert_eq!(got[11].values("kensa@32473", "seq"), ["10"]);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = c.forward(&[
        "--format",
        "ocsf",
        "--syslog",
        &format!("tcp:127.0.0.1:{port}"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("127.0.0.1:{port}")),
        "names the target: {}",
        text(&out)
    );
    let out = c.forward(&["--format", "ocsf", "--syslog", "http://siem"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("expected unix:PATH"), "{}", text(&out));
}

#[test]
fn a_real_scan_on_an_agent_forwards_valid_events() {
    let env = TestEnv::new();
    let out = env.run(["keygen"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    env.file("stick/tools/eicar.com", &crate::support::eicar());
    env.file("stick/docs/readme.txt", b"notes\n");
    let stick = env.root.join("stick");
    let out = env.run([
        OsStr::new("scan"),
        OsStr::new("--journal"),
        OsStr::new("--no-progress"),
        stick.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "EICAR found: {}", text(&out));
    for format in ["ocsf", "ecs"] {
        let out = env.run(["forward", "--format", format, "--out", "-"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let docs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|d: &Value| d.get("create").is_none())
            .collect();
        assert_eq!(docs.len(), 3, "session, finding, summary: {}", text(&out));
        for d in &docs {
            let p = match format {
                "ocsf" => ocsf_check::problems(d),
                _ => ecs_check::problems(d),
            };
            assert!(p.is_empty(), "invalid {format}:\n{}\n{d:#}", p.join("\n"));
        }
        let sha = crate::support::EICAR_SHA256;
        assert!(
            docs.iter()
                .any(|d| d["evidences"][0]["file"]["hashes"][0]["value"] == sha
                    || d["file"]["hash"]["sha256"] == sha),
            "the EICAR file's hash is sent"
        );
    }
}

#[test]
fn bad_destinations_fail_and_move_no_cursor() {
    let c = Collector::new();
    let out = c.forward(&["--format", "cef", "--out", "-"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("ocsf"),
        "the error lists the formats: {}",
        text(&out)
    );

    let out = c.forward(&["--format", "ocsf"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a destination is required: {}",
        text(&out)
    );

    let missing = c.out_file("no-such-dir/out.jsonl");
    let out = c.forward(&["--format", "ocsf", "--out", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no-such-dir/out.jsonl"),
        "names the file: {}",
        text(&out)
    );

    let dir = c.out_file("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let out = c.forward(&["--format", "ocsf", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("a-directory"),
        "names the file: {}",
        text(&out)
    );

    // The file opens but refuses the bytes: nothing is accepted.
    let out = c.forward(&["--format", "ecs", "--out", "/dev/full"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("/dev/full"),
        "names the file: {}",
        text(&out)
    );

    let conn = rusqlite::Connection::open(c.env.state.join("kensa.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM forward_cursors", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "no destination got a cursor");
}

/// A fault put into a valid event, and what the checker must say of it.
type Fault = (&'static str, Box<dyn Fn(&mut Value)>);

/// The OCSF checker finds each kind of fault put into a valid event.
fn ocsf_checker_catches(valid: &Value) {
    let faults: Vec<Fault> = vec![
        (
            "finding_info.uid: required",
            Box::new(|e| {
                e["finding_info"]
                    .as_object_mut()
                    .unwrap()
                    .retain(|k, _| k != "uid")
            }),
        ),
        (
            "colour: not an attribute",
            Box::new(|e| e["colour"] = json!("red")),
        ),
        (
            "evidences[0].file.shade: not an attribute",
            Box::new(|e| e["evidences"][0]["file"]["shade"] = json!(1)),
        ),
        (
            "severity_id: 7 is not a value",
            Box::new(|e| e["severity_id"] = json!(7)),
        ),
        (
            "severity \"Low\" is not the caption",
            Box::new(|e| e["severity"] = json!("Low")),
        ),
        (
            "time: \"now\" is not a",
            Box::new(|e| e["time"] = json!("now")),
        ),
        (
            "file.size: \"big\" is not a",
            Box::new(|e| e["evidences"][0]["file"]["size"] = json!("big")),
        ),
        (
            "type_uid 200402 is not 200401",
            Box::new(|e| e["type_uid"] = json!(200402)),
        ),
        (
            "malware: belongs to profile security_control",
            Box::new(|e| e["metadata"]["profiles"] = json!(["host"])),
        ),
        ("none of", Box::new(|e| e["evidences"] = json!([{}]))),
        (
            "metadata.product: required",
            Box::new(|e| {
                e["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .retain(|k, _| k != "product")
            }),
        ),
    ];
    for (want, fault) in faults {
        let mut e = valid.clone();
        fault(&mut e);
        let p = ocsf_check::problems(&e).join("\n");
        assert!(p.contains(want), "fault {want:?} not reported; got:\n{p}");
    }
}

/// The ECS checker finds each kind of fault put into a valid document.
fn ecs_checker_catches(valid: &Value) {
    let faults: Vec<Fault> = vec![
        (
            "file.colour: not a field",
            Box::new(|d| d["file"]["colour"] = json!("red")),
        ),
        (
            "event.severity: \"high\" is not a value",
            Box::new(|d| d["event"]["severity"] = json!("high")),
        ),
        (
            "@timestamp: \"soon\" is not a value",
            Box::new(|d| d["@timestamp"] = json!("soon")),
        ),
        (
            "labels.n: label values are keywords",
            Box::new(|d| d["labels"]["n"] = json!(3)),
        ),
        ("kensa: not a field", Box::new(|d| d["kensa"] = json!(1))),
    ];
    for (want, fault) in faults {
        let mut d = valid.clone();
        fault(&mut d);
        let p = ecs_check::problems(&d).join("\n");
        assert!(p.contains(want), "fault {want:?} not reported; got:\n{p}");
    }
}
