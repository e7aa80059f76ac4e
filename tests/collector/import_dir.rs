//! `kensa import DIR` (issue 12, point 15) through the binary: every
//! bundle in a directory is imported in seq order even when the file names
//! sort otherwise (`-11-12` before `-2-10`); a `.minisig` given by mistake
//! stands for its bundle; directories and files mix; a directory without
//! bundles is an error that says so.

use crate::forge::{self, finding, session, Agent};
use crate::support::TestEnv;
use kensa::journal::{genesis, line_hash};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// One chain of `n` records of `agent` (a session and its findings), cut
/// into signed bundles at `ranges` (inclusive seq ranges), each written to
/// `dir` under the name `kensa export` gives it; returns their paths.
fn bundles(agent: &Agent, dir: &Path, n: u64, ranges: &[(u64, u64)]) -> Vec<PathBuf> {
    let mut lines = Vec::new();
    let mut prev = genesis(&agent.id);
    for seq in 1..=n {
        let body = if seq == 1 {
            session("s-1")
        } else {
            finding("s-1", seq)
        };
        let line = format!("{{\"seq\":{seq},\"prev\":\"{prev}\",{}", &body[1..]);
        prev = line_hash(line.as_bytes());
        lines.push((line, prev.clone()));
    }
    std::fs::create_dir_all(dir).unwrap();
    ranges
        .iter()
        .map(|&(from, to)| {
            let part = &lines[from as usize - 1..to as usize];
            let head = &part[part.len() - 1].1;
            let mut data = format!(
                "{{\"type\":\"bundle\",\"v\":1,\"agent\":\"{}\",\"from\":{from},\"to\":{to},\"head\":\"{head}\",\"created\":\"2026-01-01T00:00:00.000Z\"}}\n",
                agent.id
            );
            for (l, _) in part {
                data.push_str(l);
                data.push('\n');
            }
            let comment = format!("kensa bundle agent={} seq={from}-{to} head={head}", agent.id);
            let sig = agent.key.sign(data.as_bytes(), &comment).unwrap();
            let path = dir.join(format!("kensa-{}-{from}-{to}.jsonl", agent.id));
            std::fs::write(&path, data).unwrap();
            std::fs::write(kensa::bundle::signature_path(&path), sig).unwrap();
            path
        })
        .collect()
}

fn import(env: &TestEnv, paths: &[&Path]) -> Output {
    let mut args = vec![OsStr::new("import")];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    env.run(args)
}

/// The `IMPORTED`/`REFUSED` lines: word and seq range.
fn outcome(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let word = l.split_whitespace().next().unwrap_or("").to_string();
            match l.split_once(" seq ") {
                Some((_, rest)) => format!("{word} {}", rest.split(':').next().unwrap()),
                None => l.to_string(),
            }
        })
        .collect()
}

#[test]
fn a_directory_imports_in_seq_order_not_name_order() {
    let env = crate::env();
    let agent = Agent::new(env.base());
    agent.trust(&env, "plant-a");
    let stick = env.base().join("stick");
    let made = bundles(&agent, &stick, 12, &[(1, 1), (2, 10), (11, 12)]);
    let mut names: Vec<_> = made.iter().map(|p| p.file_name().unwrap()).collect();
    names.sort();
    assert!(
        names[1].to_string_lossy().ends_with("-11-12.jsonl"),
        "the names must sort out of seq order: {names:?}"
    );
    std::fs::write(stick.join("README.txt"), "not a bundle\n").unwrap();

    let out = import(&env, &[&stick]);
    assert_eq!(out.status.code(), Some(0), "{}", forge::text(&out));
    assert_eq!(
        outcome(&out),
        ["IMPORTED 1-1", "IMPORTED 2-10", "IMPORTED 11-12"],
        "{}",
        forge::text(&out)
    );
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        first.starts_with(&format!(
            "IMPORTED {}: agent {} seq 1-1: 1 new, 0 already held",
            made[0].display(),
            agent.id
        )),
        "{first}"
    );
    assert_eq!(forge::held(&env, &agent.id), 12);

    // Again, with a file of the directory also named: each bundle once.
    let again = import(&env, &[&stick, &made[2]]);
    assert_eq!(again.status.code(), Some(0), "{}", forge::text(&again));
    assert_eq!(
        outcome(&again),
        ["IMPORTED 1-1", "IMPORTED 2-10", "IMPORTED 11-12"]
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 new, 9 already held"));
}

#[test]
fn a_minisig_stands_for_its_bundle_and_dirs_mix_with_files() {
    let env = crate::env();
    let agent = Agent::new(env.base());
    agent.trust(&env, "plant-a");
    let other = Agent::new(env.base());
    other.trust(&env, "plant-b");
    let stick = env.base().join("stick");
    let made = bundles(&agent, &stick, 12, &[(1, 1), (2, 10), (11, 12)]);
    let loose = env.base().join("loose");
    let theirs = bundles(&other, &loose, 3, &[(1, 3)]);

    // Signatures given by mistake (as `*.minisig` or a glob would), out of order.
    let sig = |p: &Path| kensa::bundle::signature_path(p);
    let out = import(&env, &[&sig(&made[2]), &sig(&made[1]), &made[0]]);
    assert_eq!(out.status.code(), Some(0), "{}", forge::text(&out));
    assert_eq!(
        outcome(&out),
        ["IMPORTED 1-1", "IMPORTED 2-10", "IMPORTED 11-12"]
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(".minisig"),
        "the bundle is named, not its signature: {}",
        forge::text(&out)
    );

    let mixed = import(&env, &[&theirs[0], &stick]);
    assert_eq!(mixed.status.code(), Some(0), "{}", forge::text(&mixed));
    assert_eq!(
        String::from_utf8_lossy(&mixed.stdout).lines().count(),
        4,
        "{}",
        forge::text(&mixed)
    );
    assert_eq!(forge::held(&env, &other.id), 3);

    // A refused bundle keeps its line and exit code 1.
    std::fs::write(&made[1], b"tampered\n").unwrap();
    let refused = import(&env, &[&stick]);
    assert_eq!(refused.status.code(), Some(1), "{}", forge::text(&refused));
    assert_eq!(outcome(&refused)[0], "IMPORTED 1-1");
    assert!(
        outcome(&refused)[1].starts_with("REFUSED  "),
        "{}",
        forge::text(&refused)
    );
}

#[test]
fn a_directory_without_bundles_is_an_error() {
    let env = crate::env();
    let empty = env.base().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::write(empty.join("notes.jsonl"), "{}\n").unwrap();
    let out = import(&env, &[&empty]);
    assert_eq!(out.status.code(), Some(2), "{}", forge::text(&out));
    assert!(out.stdout.is_empty(), "{}", forge::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: no bundles in this directory",
            empty.display()
        )),
        "{err}"
    );
    assert!(!env.database_exists(), "nothing opened");
}
