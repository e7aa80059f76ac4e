//! Refusals on the binary's backend, the database unchanged by each: a
//! bundle that starts after a gap, a bundle that forks from what is held
//! (same seq, another hash), both through `kensa import`; and the database
//! options: a password inside a `--database` URL is refused and never
//! printed, and `--database` with `--database-password-file` reach the
//! same database as the configuration does.

use super::forge::{finding, incidents, session, text, Agent};
use crate::support::{self, TestEnv};
use kensa::bundle::{self, ExportRange};
use kensa::journal::Journal;
use std::ffi::OsStr;

/// Everything a refusal must leave as it was: the lines held per agent,
/// the incidents and the trusted keys.
fn snapshot(env: &TestEnv, agents: &[&str]) -> String {
    let store = env.store();
    let held: Vec<_> = agents
        .iter()
        .map(|a| store.record_hashes(a).unwrap())
        .collect();
    let (_, rows, _) = incidents(env, &[]);
    let trusted = String::from_utf8(env.run(["trust", "list"]).stdout).unwrap();
    format!("{held:?}\n{rows:?}\n{trusted}")
}

fn import(env: &TestEnv, path: &std::path::Path) -> (i32, String) {
    let o = env.run([OsStr::new("import"), path.as_os_str()]);
    (o.status.code().unwrap_or(-1), text(&o))
}

#[test]
fn a_gap_and_a_fork_are_refused_and_change_nothing() {
    let env = crate::env();
    let base = env.base().join("bundles");
    // A real journal, exported as 1..n and then n..m.
    let key = kensa::keys::SecretKey::generate().unwrap();
    let mut j = Journal::open(&base.join("journal"), &key).unwrap();
    j.append(&support::journal::session("s1", "STICK")).unwrap();
    for i in 0..20 {
        j.append(&support::journal::finding("s1", i)).unwrap();
    }
    let first = bundle::export(&mut j, &key, &base.join("b1"), ExportRange::All).unwrap();
    for i in 20..30 {
        j.append(&support::journal::finding("s1", i)).unwrap();
    }
    let second = bundle::export(
        &mut j,
        &key,
        &base.join("b2"),
        ExportRange::Since(first.claim.to + 1),
    )
    .unwrap();
    let pub_path = base.join("agent.pub");
    key.public().save(&pub_path).unwrap();
    let agent = key.key_id_hex();
    let o = env.run([OsStr::new("trust"), OsStr::new("add"), pub_path.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o));

    // The second bundle first: a gap, nothing stored.
    let before = snapshot(&env, &[&agent]);
    let (code, out) = import(&env, &second.bundle);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("REFUSED") && out.contains("gap"), "{out}");
    assert_eq!(snapshot(&env, &[&agent]), before, "a gap changes nothing");
    // In order, both import.
    for b in [&first.bundle, &second.bundle] {
        let (code, out) = import(&env, b);
        assert_eq!(code, 0, "{out}");
    }
    assert_eq!(
        env.store().record_hashes(&agent).unwrap().len() as u64,
        second.claim.to
    );

    // A fork: another agent's bundle, then one that differs at seq 3.
    let forger = Agent::new(&base);
    forger.trust(&env, "forger");
    let good = [session("f1"), finding("f1", 1), finding("f1", 2)];
    let forked = [session("f1"), finding("f1", 1), finding("f1", 3)];
    let b1 = forger.bundle(&base.join("f1"), OsStr::new("kensa-good.jsonl"), &good);
    let b2 = forger.bundle(&base.join("f2"), OsStr::new("kensa-fork.jsonl"), &forked);
    let (code, out) = import(&env, &b1);
    assert_eq!(code, 0, "{out}");
    let before = snapshot(&env, &[&agent, &forger.id]);
    let (code, out) = import(&env, &b2);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FORK") && out.contains("seq 3"), "{out}");
    assert_eq!(
        snapshot(&env, &[&agent, &forger.id]),
        before,
        "a fork changes nothing"
    );
}

#[test]
fn a_password_in_the_database_url_is_refused_and_not_shown() {
    let env = TestEnv::new();
    for url in [
        "postgresql://kensa:hunter2-secret@db.example/kensa",
        "postgresql://kensa@db.example/kensa?password=hunter2-secret",
    ] {
        let o = env.run(["incidents", "list", "--database", url]);
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{all}");
        assert!(all.contains("password inside the URL is refused"), "{all}");
        assert!(all.contains("postgresql://kensa@db.example/kensa"), "{all}");
        assert!(!all.contains("hunter2"), "the password was printed: {all}");
    }
    // In the configuration: `config check` names the key, not the password.
    std::fs::write(
        &env.config,
        "[collector]\ndatabase = \"postgresql://kensa:hunter2-secret@db/kensa\"\n",
    )
    .unwrap();
    let o = env.run(["config", "check"]);
    let all = text(&o);
    assert_ne!(o.status.code(), Some(0), "{all}");
    assert!(all.contains("[collector] database"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn the_database_option_reaches_the_configured_database() {
    let env = crate::env();
    let a = Agent::new(env.base());
    a.trust(&env, "plant-a");
    let Some(url) = env.database.clone() else {
        // SQLite: --database is for PostgreSQL; the default file is used.
        let o = env.run(["trust", "list"]);
        assert!(String::from_utf8_lossy(&o.stdout).contains("plant-a"));
        return;
    };
    // A plain environment (no [collector] section, no PGPASSFILE) that
    // names the same database and its password file on the command line.
    let plain = TestEnv::new();
    let pw = support::pg::server().password_file.clone();
    let o = plain
        .command()
        .args(["trust", "list", "--database", &url])
        .arg("--database-password-file")
        .arg(&pw)
        .env_remove("PGPASSFILE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("plant-a"),
        "{}",
        text(&o)
    );
    assert!(!plain.state.join("kensa.db").exists());
    // Without the password the server refuses, and says which database.
    let o = plain
        .command()
        .args(["trust", "list", "--database", &url])
        .env("PGPASSFILE", plain.base().join("none"))
        .env("HOME", plain.base())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains(&url), "{}", text(&o));
}
