//! Two `kensa import` processes at once on overlapping bundles of one agent
//! (issue 11, point 13): the loser of the race waits for the lock instead
//! of printing "REFUSED … database is locked"; every record is stored once.

use super::forge::{held, incidents, text};
use crate::support::{self, TestEnv};
use kensa::bundle::{self, ExportRange};
use kensa::journal::Journal;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Stdio;

/// A journal of `n` records (one finding in fifty) exported twice: seq
/// 1..n/2 and 1..n. Returns the bundles, the agent key file, the findings
/// and the last seq.
fn bundles(base: &std::path::Path, n: u64) -> (PathBuf, PathBuf, PathBuf, u64, i64) {
    let key = kensa::keys::SecretKey::generate().unwrap();
    let mut j = Journal::open(&base.join("journal"), &key).unwrap();
    let mut first = None;
    let mut findings = 0;
    j.append(&support::journal::session("s1", "STICK")).unwrap();
    for i in 0..n {
        if i % 50 == 0 {
            j.append(&support::journal::finding("s1", i)).unwrap();
            findings += 1;
        } else {
            j.append(&support::journal::skip("s1", i)).unwrap();
        }
        if i == n / 2 {
            let e = bundle::export(&mut j, &key, &base.join("out1"), ExportRange::All).unwrap();
            first = Some(e.bundle);
        }
    }
    let second = bundle::export(&mut j, &key, &base.join("out2"), ExportRange::All).unwrap();
    let pub_path = base.join("agent.pub");
    key.public().save(&pub_path).unwrap();
    let to = second.claim.to as i64;
    (first.unwrap(), second.bundle, pub_path, findings, to)
}

#[test]
fn concurrent_imports_wait_for_each_other() {
    let setup = TestEnv::new();
    let (b1, b2, pub_path, findings, to) = bundles(setup.base(), 6000);
    let agent = kensa::keys::PublicKey::load(&pub_path)
        .unwrap()
        .key_id_hex();
    for round in 0..4 {
        let env = crate::env();
        let o = env.run([OsStr::new("trust"), OsStr::new("add"), pub_path.as_os_str()]);
        assert!(o.status.success(), "{}", text(&o));
        let start = std::time::Instant::now();
        let spawn = |b: &PathBuf| {
            env.command()
                .arg("import")
                .arg(b)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (p1, p2) = if round % 2 == 0 {
            (spawn(&b1), spawn(&b2))
        } else {
            (spawn(&b2), spawn(&b1))
        };
        for p in [p1, p2] {
            let o = p.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
            assert!(
                text(&o).starts_with("IMPORTED"),
                "round {round}: {}",
                text(&o)
            );
        }
        eprintln!("round {round}: both imports in {:?}", start.elapsed());
        assert_eq!(held(&env, &agent), to, "round {round}: every record once");
        let (_, rows, all) = incidents(&env, &[]);
        assert_eq!(rows.len(), 1, "{all}");
        assert_eq!(rows[0]["detections"], findings, "round {round}: {all}");
    }
}

#[test]
fn two_commands_creating_the_database_at_once_both_succeed() {
    let setup = TestEnv::new();
    let keys: Vec<PathBuf> = (0..2)
        .map(|i| {
            let key = kensa::keys::SecretKey::generate().unwrap();
            let p = setup.base().join(format!("k{i}.pub"));
            key.public().save(&p).unwrap();
            p
        })
        .collect();
    for round in 0..10 {
        // A new, empty state dir: both processes migrate the new database.
        let env = crate::env();
        let children: Vec<_> = keys
            .iter()
            .map(|k| {
                env.command()
                    .args([OsStr::new("trust"), OsStr::new("add"), k.as_os_str()])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
        }
        let o = env.run(["trust", "list"]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).lines().count(),
            2,
            "round {round}"
        );
    }
}
