//! `kensa config check` through the binary (issue 12.10): `ok: FILE`, every
//! problem of a file listed with its line in plain words, `--effective`
//! printing TOML that reads back to the same configuration, and one size
//! syntax for the file and the command line.

use crate::support::TestEnv;
use std::process::Output;

fn check(env: &TestEnv, config: &str, extra: &[&str]) -> Output {
    std::fs::write(&env.config, config).unwrap();
    let mut args = vec!["config", "check"];
    args.extend_from_slice(extra);
    env.run(args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_good_file_is_ok_file() {
    let env = TestEnv::new();
    let out = check(&env, "[scan]\nthreads = 2\n", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = env.config.display().to_string();
    assert_eq!(text(&out.stdout), format!("ok: {shown}\n"));
    assert!(!text(&out.stdout).contains("ScanConfig"), "no Debug dump");
}

const THREE_PROBLEMS: &str = "\
[scan]
threads = \"four\"
max_file_size = \"1.5G\"

[archive]
enabled = \"yes\"
";

#[test]
fn every_problem_is_listed_with_its_line_in_plain_words() {
    let env = TestEnv::new();
    let out = check(&env, THREE_PROBLEMS, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let file = env.config.display().to_string();
    for (line, key, words) in [
        (2, "[scan] threads", "expected a whole number"),
        (3, "[scan] max_file_size", "10 MB, 10MiB"),
        (6, "[archive] enabled", "expected true or false"),
    ] {
        let wanted = format!("{file}:{line}:");
        let l = err
            .lines()
            .find(|l| l.starts_with(&wanted))
            .unwrap_or_else(|| panic!("no line {line} in:\n{err}"));
        assert!(l.contains(key) && l.contains(words), "{l}");
    }
    assert!(err.contains("3 problems"), "{err}");
    for rust in ["usize", "u64", "u32", "invalid type", "a boolean"] {
        assert!(!err.contains(rust), "Rust words {rust:?} in:\n{err}");
    }
    // Any other command still stops on the first load, in one line.
    let out = env.run(["scan", "--no-progress", env.root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{file}:2:")), "{err}");
    assert!(err.contains("and 2 more"), "{err}");
}

#[test]
fn a_syntax_error_is_reported_alone_with_line_and_column() {
    let env = TestEnv::new();
    let out = check(&env, "[scan]\nthreads = 2\n[archive\nenabled = 1\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let file = env.config.display().to_string();
    assert!(err.starts_with(&format!("{file}:3:")), "{err}");
    assert!(err.contains("1 problem"), "{err}");
}

#[test]
fn effective_prints_toml_that_reads_back_the_same() {
    let env = TestEnv::new();
    let sigs = crate::support::repo().join("signatures");
    let config = format!(
        "[rules]\nsignatures = \"{}\"\n[scan]\nmax_file_size = \"10 MB\"\nbuffer_budget = 1000\n\
         [archive]\nmax_total_size = \"1GiB\"\n[classification]\nhost = \"precursor\"\n\
         [[classification.rule]]\nlabel = \"VENDOR-*\"\ncauses = [\"unknown\"]\n",
        sigs.display()
    );
    let out = check(&env, &config, &["--effective"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = text(&out.stdout);
    for wanted in [
        "max_file_size = \"10M\"",
        "max_total_size = \"1G\"",
        "buffer_budget = \"1000\"",
        "timeout = 60",
        "[[classification.rule]]",
        "timezone = \"Asia/Tokyo\"",
    ] {
        assert!(first.contains(wanted), "{wanted} in:\n{first}");
    }
    // Written back as the config file, it is the same configuration.
    let body: String = first
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = check(&env, &body, &["--effective"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second: String = text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(second, body);
}

#[test]
fn sizes_are_parsed_one_way_on_the_command_line_too() {
    let env = TestEnv::new();
    env.file("a.txt", b"hello");
    let root = env.root.to_str().unwrap();
    for good in ["10 MB", "10MiB", "64K", "2G"] {
        let out = env.run(["scan", "--no-progress", "--max-file-size", good, root]);
        assert_eq!(out.status.code(), Some(0), "{good}: {}", text(&out.stderr));
    }
    for bad in ["1.5G", "-5", "10 mb bytes"] {
        let flag = format!("--max-file-size={bad}");
        let out = env.run(["scan", "--no-progress", &flag, root]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = text(&out.stderr);
        assert!(
            err.contains("123, 64K, 10M, 10 MB, 10MiB, 2G or 1T"),
            "{bad}: {err}"
        );
    }
}
