//! Hostile input to `kensa import` / `verify` (issue 11, points 3 and 11):
//! signed records of an unknown shape are refused with their seq, never
//! stored and silently dropped later; every record kind kensa writes still
//! imports; names printed by import, verify and incidents are inert.

use super::forge::{finding, held, incidents, session, text, Agent};
use crate::support::{self, TestEnv};
use kensa::bundle::{self, ExportRange};
use kensa::journal::{self, Durability, Journal, JournalRecord, Journalled};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Imports `bundle` in `env`, measured.
fn import(env: &TestEnv, label: &str, bundle: &std::path::Path) -> std::process::Output {
    let mut cmd = env.command();
    cmd.arg("import").arg(bundle);
    support::run_measured(label, LIMIT, &mut cmd).output
}

#[test]
fn signed_records_of_unknown_shape_are_refused_with_their_seq() {
    let env = crate::env();
    let good = finding("s1", 1);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "verdict clean",
            good.replace("\"malicious\"", "\"clean\""),
            "clean",
        ),
        (
            "duplicate type",
            good.replacen(
                "{\"type\":\"finding\"",
                "{\"type\":\"skip\",\"type\":\"finding\"",
                1,
            ),
            "twice",
        ),
        (
            "unknown field",
            good.replacen("\"size\":68", "\"size\":68,\"benign\":true", 1),
            "benign",
        ),
        (
            "wrong type",
            good.replacen("\"size\":68", "\"size\":\"68\"", 1),
            "invalid type",
        ),
        (
            "nested duplicate",
            good.replacen("\"rule\":\"r\"", "\"rule\":\"r\",\"rule\":\"x\"", 1),
            "twice",
        ),
        (
            "unknown kind",
            good.replacen("\"finding\"", "\"verdict_override\"", 1),
            "unknown record type",
        ),
    ];
    for (label, bad, why) in cases {
        assert!(bad != good, "{label}: the case changes the record");
        let agent = Agent::new(env.base());
        agent.trust(&env, &format!("a-{}", &agent.id[..8]));
        let dir = env.base().join(label.replace(' ', "-"));
        let b = agent.bundle(
            &dir,
            OsStr::new("b.jsonl"),
            &[session("s1"), bad, finding("s1", 2)],
        );
        let out = import(&env, label, &b);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{label}: {all}");
        assert!(!all.contains("IMPORTED"), "{label}: {all}");
        assert!(
            all.contains("REFUSED") && all.contains("seq 2") && all.contains(why),
            "{label}: the refusal names the seq and why: {all}"
        );
        assert_eq!(held(&env, &agent.id), 0, "{label}: nothing stored");
        let mut cmd = env.command();
        cmd.arg("verify")
            .arg("--pubkey")
            .arg(&agent.pub_path)
            .arg(&b);
        let out = support::run_measured(label, LIMIT, &mut cmd).output;
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "verify {label}: {all}");
        assert!(
            all.starts_with("REFUSED") && all.contains("seq 2") && all.contains(why),
            "verify {label}: {all}"
        );
    }
    let (code, rows, all) = incidents(&env, &[]);
    assert_eq!((code, rows.len()), (0, 0), "{all}");
}

/// A journal record of any shape, written through the journal's own writer.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct Raw(serde_json::Value);

impl Journalled for Raw {
    fn kind(&self) -> &'static str {
        "finding"
    }
    fn durability(&self) -> Durability {
        Durability::Synced
    }
}

#[test]
fn the_agents_own_journal_is_checked_the_same_way() {
    let env = crate::env();
    let key = support::journal::agent_key(&env.state);
    let mut j = Journal::open(&support::journal::journal_dir(&env.state), &key).unwrap();
    j.append(&support::journal::session("s1", "STICK")).unwrap();
    let mut bad: serde_json::Value = serde_json::from_str(&finding("s1", 1)).unwrap();
    bad["verdict"] = "clean".into();
    j.append(&Raw(bad)).unwrap();
    drop(j);
    let (code, rows, all) = incidents(&env, &[]);
    assert_ne!(code, 0, "a malformed own record is an error: {all}");
    assert!(rows.is_empty(), "{all}");
    assert!(all.contains("seq 2") && all.contains("clean"), "{all}");
}

#[test]
fn every_record_kind_kensa_writes_imports() {
    let env = crate::env();
    let key = kensa::keys::SecretKey::generate().unwrap();
    let dir = env.base().join("journal");
    let out = env.base().join("out");
    let mut j = Journal::open(&dir, &key).unwrap();
    j.append(&support::journal::session("s1", "STICK")).unwrap();
    j.append(&support::journal::finding("s1", 1)).unwrap();
    j.append(&support::journal::skip("s1", 2)).unwrap();
    j.append(&support::journal::summary("s1", 2, 1, true))
        .unwrap();
    j.append(&JournalRecord::Recovery(journal::Recovery {
        v: 1,
        time: "2026-01-01T00:00:00.000Z".into(),
        segment: "s.jsonl".into(),
        offset: 9,
        length: 3,
        sha256: "ef".repeat(32),
        file: "s.jsonl.9.torn".into(),
    }))
    .unwrap();
    j.append(&JournalRecord::RulesChange(journal::RulesChange {
        v: 1,
        time: "2026-01-01T00:00:00.000Z".into(),
        action: "install".into(),
        from: None,
        to: journal::PackRef {
            version: 3,
            digest: "d".into(),
        },
        publisher: "P".into(),
        rules: 7,
    }))
    .unwrap();
    let first = bundle::export(&mut j, &key, &out, ExportRange::All).unwrap();
    j.append(&support::journal::session("s2", "STICK2"))
        .unwrap();
    let second = bundle::export(&mut j, &key, &out, ExportRange::SinceLastExport).unwrap();
    drop(j);
    let pub_path = env.base().join("agent.pub");
    key.public().save(&pub_path).unwrap();
    let o = env.run([OsStr::new("trust"), OsStr::new("add"), pub_path.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o));
    for b in [&first.bundle, &second.bundle] {
        let o = import(&env, "every kind", b);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).starts_with("IMPORTED"), "{}", text(&o));
    }
    assert_eq!(held(&env, &key.key_id_hex()) as u64, second.claim.to);
    // The fixture written by an older kensa imports too.
    let fixture = support::data().join("bundle-v1");
    let o = env.run([
        OsStr::new("trust"),
        OsStr::new("add"),
        fixture.join("agent.pub").as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = import(
        &env,
        "bundle-v1",
        &fixture.join("kensa-BE414BFADCE88E89-1-5.jsonl"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, rows, all) = incidents(&env, &["--agent", "BE414BFADCE88E89"]);
    assert_eq!(rows.len(), 1, "{all}");
}

/// No raw control character (CR, ESC, ...) reaches the terminal.
fn assert_inert(what: &str, out: &[u8]) {
    let bad: Vec<u8> = out
        .iter()
        .copied()
        .filter(|b| b.is_ascii_control() && *b != b'\n')
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: raw control bytes {bad:?} in {:?}",
        String::from_utf8_lossy(out)
    );
}

#[test]
fn bundle_names_cannot_paint_the_output() {
    let env = crate::env();
    let agent = Agent::new(env.base());
    agent.trust(&env, "victim");
    let dir = env.base().join("stick");
    // A garbage bundle whose name redraws its own REFUSED line as IMPORTED.
    let evil = dir.join(OsStr::from_bytes(b"x.jsonl\r\x1b[32mIMPORTED ok \xff"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&evil, b"garbage\n").unwrap();
    std::fs::write(bundle::signature_path(&evil), b"garbage").unwrap();
    let good = agent.bundle(
        &dir,
        OsStr::from_bytes(b"ok\x1b]0;title\x07\xfe.jsonl"),
        &[session("s1"), finding("s1", 1)],
    );
    for cmd in ["import", "verify"] {
        let mut c = env.command();
        c.arg(cmd);
        if cmd == "verify" {
            c.arg("--pubkey").arg(&agent.pub_path);
        }
        c.arg(&evil).arg(&good);
        let out = support::run_measured(cmd, LIMIT, &mut c).output;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert_inert(cmd, &out.stdout);
        assert_inert(cmd, &out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let refused: Vec<&str> = stdout.lines().filter(|l| l.contains("x.jsonl")).collect();
        assert!(
            refused.len() == 1 && refused[0].starts_with("REFUSED") && refused[0].contains("\\xFF"),
            "{cmd}: {stdout}"
        );
        assert!(stdout.contains("\\xFE.jsonl"), "{cmd}: {stdout}");
    }
}

#[test]
fn record_fields_printed_by_incidents_are_inert() {
    let env = crate::env();
    let agent = Agent::new(env.base());
    agent.trust(&env, "victim");
    let sid = "\u{1b}[2J\u{1b}[31mab\rcd";
    let b = agent.bundle(
        &env.base().join("b"),
        OsStr::new("b.jsonl"),
        &[session(sid), finding(sid, 1)],
    );
    let o = import(&env, "hostile session", &b);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let list = env.run(["incidents", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    assert_inert("incidents list", &list.stdout);
    let (_, rows, all) = incidents(&env, &[]);
    assert_eq!(rows.len(), 1, "{all}");
    let id = rows[0]["id"].as_str().unwrap().to_string();
    let show = env.run(["incidents", "show", &id]);
    assert_eq!(show.status.code(), Some(0), "{}", text(&show));
    assert_inert("incidents show", &show.stdout);
    let t = env.run(["triage", &id, "--event", "leak", "--by", "x\u{1b}[0m"]);
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
    assert_inert("triage", &t.stdout);
}
