//! Compatibility with real public rule sets: every ReversingLabs rule file
//! compiles under `--strict`, in one namespace per set, and its rules work.

use crate::support;

use std::path::PathBuf;
use support::*;

fn reversinglabs() -> PathBuf {
    let p = reversinglabs_rules();
    assert!(
        p.is_dir(),
        "the ReversingLabs corpus is part of the repository, expected at {}",
        p.display()
    );
    p
}

#[test]
fn every_reversinglabs_rule_file_compiles_strict() {
    let env = TestEnv::new();
    env.file("clean.txt", b"nothing");
    let rl = reversinglabs();
    let files = yara_files(&rl).len();
    assert!(files > 200, "corpus has {files} files");
    let out = env.run([
        std::ffi::OsStr::new("-v"),
        std::ffi::OsStr::new("scan"),
        std::ffi::OsStr::new("--strict"),
        std::ffi::OsStr::new("--format"),
        std::ffi::OsStr::new("json"),
        std::ffi::OsStr::new("--rules"),
        rl.as_os_str(),
        env.root.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "strict compile failed: {stderr}"
    );
    let recs = parse_lines(&out);
    let rules = recs[0]["ruleset"]["rules"].as_u64().unwrap();
    assert!(rules >= files as u64, "{rules} rules from {files} files");
}

#[test]
fn each_reversinglabs_file_also_compiles_alone() {
    // `kensa rules` isolation: each file is its own unit as well.
    let rl = reversinglabs();
    let mut failed = Vec::new();
    let mut n = 0;
    for entry in yara_files(&rl) {
        n += 1;
        let src = std::fs::read_to_string(&entry).unwrap();
        let mut c = yara_x::Compiler::new();
        for g in ["filename", "filepath", "extension", "filetype", "owner"] {
            c.define_global(g, "").unwrap();
        }
        if c.add_source(src.as_str()).is_err() {
            failed.push(entry.display().to_string());
        }
    }
    assert!(n > 200);
    assert!(failed.is_empty(), "failed alone: {failed:?}");
}
