//! `kensa status` through the real binary: text and JSON output, a state
//! directory that does not exist (and must not be created), a journal with
//! sessions, findings and an export (the unexported count), a torn last
//! line, and (ignored by default, run with `--ignored`) the time it takes on
//! a journal of one million records.

mod common;

use common::TestEnv;
use kensa::bundle::{self, ExportRange};
use kensa::findings::Record;
use kensa::journal::{Journal, JournalOptions};
use kensa::keys::SecretKey;
use kensa::state::StateDir;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

fn record(v: Value) -> Record {
    serde_json::from_value(v).expect("a valid record")
}

fn session(id: &str, label: &str) -> Record {
    record(json!({
        "type": "session", "v": 1, "id": id, "time": "2026-01-01T00:00:00.000Z",
        "host": "h", "location": "removable", "paths": [format!("/media/{label}")],
        "medium": {"mount_point": format!("/media/{label}"), "label": label,
                   "removable": true, "detected_by": "media_root"},
        "ruleset": {"id": "0011223344556677", "digest": "ab", "rules": 1, "hashes": 0},
        "version": "0.1.0",
    }))
}

fn finding(session: &str, i: u64) -> Record {
    record(json!({
        "type": "finding", "v": 1, "id": format!("f{i}"), "session": session,
        "time": "2026-01-01T00:00:01.000Z", "location": "removable",
        "path": format!("/media/x/file{i}.exe"), "size": 68, "sha256": "ab".repeat(32),
        "verdict": "malicious",
        "matches": [{"kind": "hash", "rule": "r", "namespace": "n"}],
    }))
}

fn skip(session: &str, i: u64) -> Record {
    record(json!({
        "type": "skip", "v": 1, "session": session, "time": "2026-01-01T00:00:01.000Z",
        "path": format!("/media/x/dir{i}/file.bin"), "reason": "timeout",
        "detail": "took too long", "gap": true,
    }))
}

fn summary(session: &str, files: u64, findings: u64, completed: bool) -> Record {
    record(json!({
        "type": "summary", "v": 1, "session": session, "time": "2026-01-01T00:00:02.000Z",
        "files": files, "bytes": files * 100, "findings": findings, "skips": 0, "gaps": 0,
        "seconds": 1.5, "completed": completed,
    }))
}

fn agent_key(state: &Path) -> SecretKey {
    kensa::keys::load_or_create(&StateDir::new(state))
        .expect("agent key")
        .0
}

fn journal_dir(state: &Path) -> std::path::PathBuf {
    StateDir::new(state).journal_dir()
}

fn status_json(env: &TestEnv) -> Value {
    let out = env.run(["status", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status prints JSON")
}

#[test]
fn no_state_dir_is_reported_and_not_created() {
    let env = TestEnv::new();
    let missing = env.base().join("no-such-state");
    for format in ["json", "text"] {
        let out = std::process::Command::new(common::kensa_bin())
            .arg("--state-dir")
            .arg(&missing)
            .arg("--config")
            .arg(&env.config)
            .args(["status", "--format", format])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        if format == "json" {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["journal"], Value::Null);
            assert_eq!(v["key"], Value::Null);
            assert_eq!(v["sessions"], json!([]));
            assert!(v["ruleset"]["rules"].as_u64().unwrap() > 0);
        } else {
            assert!(text.contains("journal:    none yet"), "{text}");
            assert!(text.contains("agent key:  none"), "{text}");
        }
        assert!(!missing.exists(), "status created {}", missing.display());
    }
}

#[test]
fn sessions_findings_and_an_export() {
    let env = TestEnv::new();
    let key = agent_key(&env.state);
    let dir = journal_dir(&env.state);
    let mut j = Journal::open(&dir, &key).unwrap();
    for r in [
        session("s1", "STICK1"),
        finding("s1", 1),
        summary("s1", 10, 1, true),
    ] {
        j.append(&r).unwrap();
    }
    let out = env.base().join("out");
    let e = bundle::export(&mut j, &key, &out, ExportRange::SinceLastExport).unwrap();
    for r in [
        session("s2", "STICK2"),
        finding("s2", 2),
        finding("s2", 3),
        summary("s2", 20, 2, false),
        session("s3", "STICK3"),
        skip("s3", 1),
    ] {
        j.append(&r).unwrap();
    }
    let (head, hash) = j.head();
    drop(j);

    let v = status_json(&env);
    let jv = &v["journal"];
    assert_eq!(jv["head_seq"], json!(head));
    assert_eq!(jv["head"], json!(hash));
    assert_eq!(jv["exported_through"], json!(e.claim.to));
    // The export record itself and everything after it.
    assert_eq!(jv["unexported"], json!(head - e.claim.to));
    assert_eq!(jv["torn_tail"], json!(false));
    assert_eq!(v["key"]["agent"], json!(key.key_id_hex()));
    let ids: Vec<&str> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s3", "s2", "s1"]);
    let s = &v["sessions"];
    assert_eq!(s[0]["completed"], Value::Null);
    assert_eq!(
        (s[1]["completed"].clone(), s[1]["findings"].clone()),
        (json!(false), json!(2))
    );
    assert_eq!(
        (s[2]["completed"].clone(), s[2]["files"].clone()),
        (json!(true), json!(10))
    );
    assert_eq!(s[2]["medium"], json!("STICK1"));

    // --sessions limits the list, newest first.
    let out = env.run(["status", "--format", "json", "--sessions", "1"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(v["sessions"][0]["id"], json!("s3"));
    assert_eq!(v["journal"]["exported_through"], json!(e.claim.to));

    let out = env.run(["status"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "journal:    head seq {head} ({}), {} record(s) not yet exported",
            &hash[..16],
            head - e.claim.to
        )),
        "{text}"
    );
    assert!(text.contains("recent sessions:"), "{text}");
    assert!(
        text.contains("STICK1") && text.contains("complete"),
        "{text}"
    );
    assert!(
        text.contains("STICK2") && text.contains("INCOMPLETE"),
        "{text}"
    );
    assert!(text.contains("running or cut off"), "{text}");
}

#[test]
fn a_torn_last_line_is_reported_not_fatal() {
    let env = TestEnv::new();
    let key = agent_key(&env.state);
    let dir = journal_dir(&env.state);
    let mut j = Journal::open(&dir, &key).unwrap();
    j.append(&session("s1", "STICK")).unwrap();
    j.append(&finding("s1", 1)).unwrap();
    let (head, hash) = j.head();
    drop(j);
    let seg = kensa::journal::segments(&dir).unwrap().pop().unwrap().1;
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(b"{\"seq\":3,\"prev\":\"ab").unwrap();
    drop(f);
    let v = status_json(&env);
    assert_eq!(v["journal"]["head_seq"], json!(head));
    assert_eq!(v["journal"]["head"], json!(hash));
    assert_eq!(v["journal"]["torn_tail"], json!(true));
    assert_eq!(v["journal"]["unexported"], json!(head));
    assert_eq!(v["sessions"][0]["id"], json!("s1"));
    let text = String::from_utf8_lossy(&env.run(["status"]).stdout).into_owned();
    assert!(text.contains("torn last line"), "{text}");
    // Status only looked: the torn bytes are still there for the next open.
    assert!(std::fs::read(&seg).unwrap().ends_with(b"\"ab"));
}

/// Writes `n` records (sessions of 1,000 records each, one finding in a hundred,
/// an export after the first half) quickly: findings unsynced in a fast
/// mode would be cheating, so most records are skips.
fn big_journal(state: &Path, n: u64) -> (u64, u64) {
    let key = agent_key(state);
    let dir = journal_dir(state);
    let opts = JournalOptions::default();
    let mut j = Journal::open_with(&dir, &key, opts).unwrap();
    let mut exported = 0;
    let mut i = 0;
    while j.head().0 < n {
        let id = format!("s{i}");
        j.append(&session(&id, &format!("STICK{i}"))).unwrap();
        for k in 0..998 {
            if k % 100 == 0 {
                j.append(&finding(&id, k)).unwrap();
            } else {
                j.append(&skip(&id, k)).unwrap();
            }
        }
        j.append(&summary(&id, 998, 100, true)).unwrap();
        if exported == 0 && j.head().0 >= n / 2 {
            let out = state.join("out");
            exported = bundle::export(&mut j, &key, &out, ExportRange::Since(n / 2 - 10_000))
                .unwrap()
                .claim
                .to;
        }
        i += 1;
    }
    (j.head().0, exported)
}

#[test]
#[ignore = "builds a journal of one million records (minutes); run with --ignored"]
fn status_is_fast_on_a_million_records() {
    let env = TestEnv::new();
    let t0 = Instant::now();
    let (head, exported) = big_journal(&env.state, 1_000_000);
    eprintln!("built {head} records in {:?}", t0.elapsed());
    let bytes: u64 = kensa::journal::segments(&journal_dir(&env.state))
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    eprintln!("journal: {} MB", bytes >> 20);
    // Warm the rule cache and the page cache once.
    status_json(&env);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let v = status_json(&env);
        best = best.min(t.elapsed());
        assert_eq!(v["journal"]["head_seq"], json!(head));
        assert_eq!(v["journal"]["exported_through"], json!(exported));
    }
    eprintln!("kensa status on {head} records: {best:?} (best of 5)");
    if let Ok(old) = std::env::var("KENSA_OLD_BIN") {
        let t = Instant::now();
        let out = std::process::Command::new(old)
            .arg("--state-dir")
            .arg(&env.state)
            .arg("--config")
            .arg(&env.config)
            .args(["status", "--format", "json"])
            .output()
            .unwrap();
        eprintln!(
            "old kensa status: {:?} (exit {:?})",
            t.elapsed(),
            out.status.code()
        );
    }
    let t = Instant::now();
    let j = Journal::open(&journal_dir(&env.state), &agent_key(&env.state)).unwrap();
    eprintln!("Journal::open: {:?}", t.elapsed());
    drop(j);
    assert!(best < Duration::from_millis(100), "status took {best:?}");
}

#[test]
fn verify_journal_rechecks_the_whole_chain() {
    let env = TestEnv::new();
    let key = agent_key(&env.state);
    let dir = journal_dir(&env.state);
    let mut j = Journal::open(&dir, &key).unwrap();
    j.append(&session("s1", "STICK")).unwrap();
    for i in 0..5 {
        j.append(&skip("s1", i)).unwrap();
    }
    j.append(&summary("s1", 5, 0, true)).unwrap();
    j.append(&skip("s1", 99)).unwrap();
    drop(j);
    let out = env.run(["verify", "--journal"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("OK       journal"), "{text}");
    assert!(text.contains("9 records, 1 checkpoints"), "{text}");
    // Damage a line before the last checkpoint: opening does not look
    // there, the full verification does.
    let seg = kensa::journal::segments(&dir).unwrap().pop().unwrap().1;
    let data = std::fs::read_to_string(&seg).unwrap();
    std::fs::write(&seg, data.replacen("dir2/file", "dir7/file", 1)).unwrap();
    Journal::open(&dir, &key).expect("open checks from the last checkpoint on");
    let out = env.run(["verify", "--journal"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("REFUSED  journal") && text.contains("TAMPERED"),
        "{text}"
    );
}
