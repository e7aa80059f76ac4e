//! The sandboxed parser through the binary: a child that makes a forbidden
//! system call (opening /etc/hostname) is killed by its filter (SIGSYS), a
//! child that hangs is killed after `parser_timeout`, a child that
//! allocates without end fails under `parser_memory`; each time that
//! volume ends as a `parser_died` problem and the next volume is still
//! read. The faults come from the test-only hook `KENSA_TEST_PARSER_FAULT`
//! (`KIND@N`: partition N's child only), honoured only by the child after
//! its sandbox is in place. The hidden entry point is in no help text,
//! man page or completion.

use super::partition::{expected_iso_files, files_of, inspect, iso, of, put, table};
use crate::support::{kensa_bin, repo, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A GPT with two ISO 9660 partitions.
fn two_isos(dir: &Path) -> PathBuf {
    let img = table(
        dir,
        "two.img",
        12,
        "label: gpt\nstart=2048,size=8192\nstart=10240,size=8192\n",
    );
    put(&img, 2048 * 512, &iso(dir, "one"));
    put(&img, 10240 * 512, &iso(dir, "two"));
    img
}

/// The first volume died with a detail containing `words`; the second was read.
fn first_died_second_read(recs: &[Value], words: &str) {
    let died: Vec<_> = of(recs, "problem")
        .into_iter()
        .filter(|p| p["kind"] == "parser_died")
        .collect();
    assert_eq!(died.len(), 1, "{recs:?}");
    assert_eq!(died[0]["volume"], 1);
    let detail = died[0]["detail"].as_str().unwrap();
    assert!(detail.contains(words), "{detail}");
    assert!(files_of(recs, 1).is_empty(), "{recs:?}");
    assert_eq!(files_of(recs, 2), expected_iso_files());
}

#[test]
fn both_volumes_read_without_a_fault() {
    let env = TestEnv::new();
    let img = two_isos(env.base());
    let (_, recs, _) = inspect(&env, &img, None);
    assert_eq!(files_of(&recs, 1), expected_iso_files());
    assert_eq!(files_of(&recs, 2), expected_iso_files());
    assert!(!of(&recs, "problem")
        .iter()
        .any(|p| p["kind"] == "parser_died"));
}

#[test]
fn forbidden_syscall_kills_the_parser_with_sigsys() {
    // The child tries to open /etc/hostname: the filter kills it, so it
    // cannot open a file.
    let env = TestEnv::new();
    let img = two_isos(env.base());
    let (code, recs, _) = inspect(&env, &img, Some("syscall@1"));
    assert_eq!(code, 2);
    first_died_second_read(&recs, "killed by SIGSYS (system-call filter)");
}

#[test]
fn hanging_parser_is_killed_after_parser_timeout() {
    let env = TestEnv::new();
    let mut cfg = std::fs::read_to_string(&env.config).unwrap();
    cfg.push_str("[disk]\nparser_timeout = 2\n");
    std::fs::write(&env.config, cfg).unwrap();
    let img = two_isos(env.base());
    let (code, recs, took) = inspect(&env, &img, Some("hang@1"));
    println!("hang: killed and listing done in {took:?}");
    assert_eq!(code, 2);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    first_died_second_read(&recs, "sent nothing for 2 s");
}

#[test]
fn runaway_allocation_dies_under_parser_memory() {
    let env = TestEnv::new();
    let mut cfg = std::fs::read_to_string(&env.config).unwrap();
    cfg.push_str("[disk]\nparser_memory = \"64M\"\n");
    std::fs::write(&env.config, cfg).unwrap();
    let img = two_isos(env.base());
    let (code, recs, _) = inspect(&env, &img, Some("alloc@1"));
    assert_eq!(code, 2);
    first_died_second_read(&recs, "the file-system parser");
}

#[test]
fn hidden_entry_point_is_not_documented() {
    let env = TestEnv::new();
    let help = env.run(["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("inspect"), "{text}");
    assert!(!text.contains("__kensa"), "{text}");
    for dir in ["packaging/man", "packaging/completions"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let body = std::fs::read_to_string(&p).unwrap();
            assert!(
                !body.contains("__kensa"),
                "{} names the parser entry",
                p.display()
            );
        }
    }
    // Only as the very first argument; started so with no job, it does
    // nothing and says so by its status.
    let out = std::process::Command::new(kensa_bin())
        .arg("__kensa-disk-parser")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    // Anywhere else it is an unknown command.
    let out = env.run(["__kensa-disk-parser"]);
    assert_eq!(out.status.code(), Some(2));
}
