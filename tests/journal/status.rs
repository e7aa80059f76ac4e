//! `kensa status` through the real binary: text and JSON output, a state
//! directory that does not exist (and must not be created), a journal with
//! sessions, findings and an export (the unexported count), a torn last
//! line, and `verify --journal`. Its time on a journal of one million records
//! is a benchmark: `cargo bench --bench kensa -- status`.

use crate::support::journal::{
    agent_key, finding, journal_dir, session, skip, status_json, summary,
};
use crate::support::TestEnv;
use kensa::bundle::{self, ExportRange};
use kensa::journal::Journal;
use serde_json::{json, Value};
use std::io::Write;

#[test]
fn no_state_dir_is_reported_and_not_created() {
    let env = TestEnv::new();
    let missing = env.base().join("no-such-state");
    for format in ["json", "text"] {
        let out = std::process::Command::new(crate::support::kensa_bin())
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
            assert_eq!(v["agent"], json!({"running": false}));
            assert_eq!(v["journal"], Value::Null);
            assert_eq!(v["key"], Value::Null);
            assert_eq!(v["sessions"], json!([]));
            assert!(v["ruleset"]["rules"].as_u64().unwrap() > 0);
        } else {
            assert!(text.starts_with("agent:      no agent running\n"), "{text}");
            assert!(text.contains("journal:    none yet"), "{text}");
            assert!(text.contains("agent key:  none"), "{text}");
        }
        assert!(!missing.exists(), "status created {}", missing.display());
    }
}

#[test]
fn status_creates_nothing_in_an_existing_state_dir() {
    let env = TestEnv::new();
    let key = agent_key(&env.state);
    let mut j = Journal::open(&journal_dir(&env.state), &key).unwrap();
    j.append(&session("s1", "STICK")).unwrap();
    drop(j);
    let lock = journal_dir(&env.state).join(kensa::journal::LOCK_FILE);
    std::fs::remove_file(&lock).unwrap();
    let tree = |p: &std::path::Path| {
        let out = std::process::Command::new("find")
            .arg(p)
            .arg("-ls")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let before = tree(&env.state);
    for format in ["json", "text"] {
        let out = env.run(["status", "--format", format]);
        assert_eq!(out.status.code(), Some(0));
    }
    assert_eq!(tree(&env.state), before, "status changed the state dir");
    assert!(!lock.exists(), "status created the journal lock file");
}

#[test]
fn the_last_medium_verdict_in_one_line_and_times_in_the_zone() {
    use crate::support::journal::record;
    let env = TestEnv::new();
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        format!("{cfg}\n[report]\ntimezone = \"America/New_York\"\n"),
    )
    .unwrap();
    let key = agent_key(&env.state);
    let mut j = Journal::open(&journal_dir(&env.state), &key).unwrap();
    let mut suspicious = serde_json::to_value(finding("s2", 1)).unwrap();
    suspicious["verdict"] = json!("suspicious");
    let mut gap = serde_json::to_value(summary("s3", 4, 0, true)).unwrap();
    gap["gaps"] = json!(1);
    gap["skips"] = json!(1);
    for r in [
        session("s1", "STICK1"),
        finding("s1", 1),
        summary("s1", 10, 1, true),
        session("s2", "STICK2"),
        record(suspicious),
        summary("s2", 3, 1, true),
        session("s3", "STICK3"),
        record(gap),
        session("s4", "STICK4"),
        summary("s4", 5, 0, true),
    ] {
        j.append(&r).unwrap();
    }
    drop(j);
    let v = status_json(&env);
    assert_eq!(v["timezone"], json!("America/New_York"));
    let verdicts: Vec<&Value> = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["verdict"])
        .collect();
    assert_eq!(
        verdicts,
        [
            &json!("clean"),
            &json!("incomplete"),
            &json!("suspicious"),
            &json!("infected")
        ]
    );
    let text = String::from_utf8_lossy(&env.run(["status"]).stdout).into_owned();
    // 2026-01-01T00:00:00Z in New York.
    assert!(
        text.contains(
            "last medium: CLEAN  STICK4 at 2025-12-31 19:00:00 EST (America/New_York), session s4: \
             0 findings in 5 files, 0 not fully checked\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("recent sessions (times in America/New_York):"),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("  s")).collect();
    assert!(
        rows[0].starts_with("  2025-12-31 19:00  s4  removable CLEAN "),
        "{text}"
    );
    assert!(
        rows[1].contains(" s3 ") && rows[1].contains(" INCOMPLETE "),
        "{text}"
    );
    assert!(
        rows[2].contains(" s2 ") && rows[2].contains(" SUSPICIOUS "),
        "{text}"
    );
    assert!(
        rows[3].contains(" s1 ") && rows[3].contains(" INFECTED "),
        "{text}"
    );

    // The newest medium found something: the line says so.
    let mut j = Journal::open(&journal_dir(&env.state), &key).unwrap();
    for r in [
        session("s5", "STICK5"),
        finding("s5", 9),
        summary("s5", 2, 1, true),
    ] {
        j.append(&r).unwrap();
    }
    drop(j);
    let text = String::from_utf8_lossy(&env.run(["status"]).stdout).into_owned();
    assert!(
        text.contains("last medium: INFECTED  STICK5 at ") && text.contains("1 finding in 2 files"),
        "{text}"
    );
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
    // What came after the export, not counting its own note: six records.
    assert_eq!(jv["unexported"], json!(6));
    assert_eq!(jv["unexported_exact"], json!(true));
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
            "journal:    head seq {head} ({}), 6 record(s) not yet exported",
            &hash[..16],
        )),
        "{text}"
    );
    assert!(
        text.contains("recent sessions (times in Asia/Tokyo):"),
        "{text}"
    );
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
    // The session and the finding; the segment's opening checkpoint is
    // bookkeeping.
    assert_eq!(v["journal"]["unexported"], json!(2));
    assert_eq!(v["sessions"][0]["id"], json!("s1"));
    let text = String::from_utf8_lossy(&env.run(["status"]).stdout).into_owned();
    assert!(text.contains("torn last line"), "{text}");
    // Status only looked: the torn bytes are still there for the next open.
    assert!(std::fs::read(&seg).unwrap().ends_with(b"\"ab"));
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

/// Issue 12.9: exports that finish. After an export nothing is left to
/// export (its checkpoint and note are bookkeeping); an export with nothing
/// new writes no bundle and says so, and leaves the journal as it was.
#[test]
fn an_export_leaves_nothing_behind_and_an_empty_one_writes_nothing() {
    let env = TestEnv::new();
    env.file("e.com", &crate::support::eicar());
    assert!(env.run(["keygen"]).status.success());
    let scan = || {
        let out = env.run(["scan".as_ref(), "--journal".as_ref(), env.root.as_os_str()]);
        assert_eq!(out.status.code(), Some(1));
    };
    scan();
    let out_dir = env.base().join("stick");
    let export = || env.run(["export".as_ref(), "--out".as_ref(), out_dir.as_os_str()]);
    let bundles = || {
        let mut v: Vec<String> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jsonl"))
            .collect();
        v.sort();
        v
    };
    let out = export();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bundles().len(), 1);
    let v = status_json(&env);
    assert_eq!(v["journal"]["unexported"], json!(0), "{v:#}");
    let head = v["journal"]["head_seq"].clone();

    let out = export();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("nothing new to export"), "{text}");
    assert_eq!(bundles().len(), 1, "no bundle of bookkeeping");
    assert_eq!(
        status_json(&env)["journal"]["head_seq"],
        head,
        "the journal is unchanged"
    );

    scan();
    assert!(status_json(&env)["journal"]["unexported"].as_u64().unwrap() >= 3);
    assert_eq!(export().status.code(), Some(0));
    assert_eq!(bundles().len(), 2);
    assert_eq!(status_json(&env)["journal"]["unexported"], json!(0));
}
