//! What a plant operator sees from `kensa scan` (issue 12, points 1–5): the
//! last line starts with the verdict word and agrees with the exit code,
//! colour only on a terminal or when asked, findings that say what matched,
//! `-q` that still reports gaps, and a reader that leaves early (`| head -1`)
//! neither changes the exit code nor cuts the journal's session short.

use crate::support::{eicar, journal, of_type, TestEnv};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn last_line(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().last().unwrap_or_default().to_string()
}

fn scan(env: &TestEnv, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&OsStr> = vec![OsStr::new("scan")];
    args.extend(extra.iter().map(OsStr::new));
    args.push(env.root.as_os_str());
    env.run(args)
}

fn suspicious_rule(env: &TestEnv) -> String {
    let p = env.base().join("sus.yar");
    std::fs::write(
        &p,
        "rule odd_marker { meta: description = \"an odd marker\" kensa_verdict = \"suspicious\" \
         strings: $a = \"odd-marker-1234\" condition: $a }\n",
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn the_last_line_is_the_verdict_and_matches_the_exit_code() {
    let env = TestEnv::new();
    env.file("a.txt", b"nothing here");
    let out = scan(&env, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        last_line(&out).starts_with("CLEAN  0 findings in 1 file ("),
        "{}",
        last_line(&out)
    );

    env.file("b/eicar.com", &eicar());
    let out = scan(&env, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        last_line(&out).starts_with("INFECTED  1 finding in 2 files"),
        "{}",
        last_line(&out)
    );

    let big = vec![7u8; 2 << 20];
    let env2 = TestEnv::new();
    env2.file("big.bin", &big);
    let out = scan(&env2, &["--max-file-size", "1M"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        last_line(&out).starts_with("INCOMPLETE  0 findings"),
        "{}",
        last_line(&out)
    );
    assert!(last_line(&out).contains("1 not fully checked"));

    let env3 = TestEnv::new();
    env3.file("odd.txt", b"xx odd-marker-1234 xx");
    let rule = suspicious_rule(&env3);
    let out = scan(&env3, &["--rules", &rule]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        last_line(&out).starts_with("SUSPICIOUS  1 finding"),
        "{}",
        last_line(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("odd_marker — an odd marker"),
        "the rule's description beside its id: {text}"
    );
}

#[test]
fn findings_say_what_matched_rule_or_hash_list() {
    let env = TestEnv::new();
    env.file("eicar.com", &eicar());
    let out = scan(&env, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap();
    assert!(
        line.contains("kensa:EICAR_Test_File — EICAR"),
        "rule with description: {line}"
    );
    assert!(
        line.contains("sha256 listed in kensa: EICAR test file"),
        "a hash-list entry is not shown as a rule: {line}"
    );
}

#[test]
fn colour_only_on_a_terminal_or_when_asked() {
    let env = TestEnv::new();
    env.file("eicar.com", &eicar());
    // Piped: no escape sequences at all.
    let out = scan(&env, &[]);
    assert!(!out.stdout.contains(&0x1b), "no colour into a pipe");
    let out = scan(&env, &["--color", "always"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\x1b[1;31mINFECTED\x1b[0m"), "{text:?}");
    let out = scan(&env, &["--color", "never"]);
    assert!(!out.stdout.contains(&0x1b));

    // On a terminal (util-linux `script` gives the child a pty): coloured,
    // unless NO_COLOR is set.
    let cmdline = format!(
        "{} --state-dir {} --config {} scan --no-progress {}",
        crate::support::kensa_bin(),
        env.state.display(),
        env.config.display(),
        env.root.display()
    );
    let tty = |no_color: bool| {
        let mut c = Command::new("script");
        c.args(["-qec", &cmdline, "/dev/null"]);
        c.env_remove("NO_COLOR").env("TERM", "xterm");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        c.output().expect("util-linux script (needed for a pty)")
    };
    let out = tty(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\x1b[1;31mINFECTED"),
        "colour on a tty: {text:?}"
    );
    let out = tty(true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INFECTED"), "{text:?}");
    assert!(!text.contains("\x1b[1;31m"), "NO_COLOR respected: {text:?}");
}

#[test]
fn quiet_still_reports_what_was_not_fully_checked() {
    let env = TestEnv::new();
    env.file("eicar.com", &eicar());
    env.file("big.bin", &vec![1u8; 2 << 20]);
    let out = scan(&env, &["-q", "--max-file-size", "1M"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 1, "only the finding: {stdout}");
    assert!(stdout.starts_with("MALICIOUS "), "{stdout}");
    assert!(
        stderr.contains("not fully checked")
            && stderr.contains("big.bin")
            && stderr.contains("too_large"),
        "{stderr}"
    );
}

#[test]
fn a_reader_that_leaves_early_changes_nothing_but_the_output() {
    let env = TestEnv::new();
    env.file("a/eicar.com", &eicar());
    for i in 0..3000 {
        env.file(format!("b/f{i:04}.txt"), b"filler");
    }
    let keygen = env.run(["keygen"]);
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let mut child = env
        .command()
        .args([
            OsStr::new("scan"),
            OsStr::new("--journal"),
            env.root.as_os_str(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut r = BufReader::new(child.stdout.take().unwrap());
        r.read_line(&mut first).unwrap();
        // `r` is dropped here: the reader leaves, as `head -1` does.
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("MALICIOUS "), "{first}");
    assert_eq!(out.status.code(), Some(1), "the scan's own code: {stderr}");
    assert!(!stderr.to_lowercase().contains("pipe"), "{stderr}");
    let recs = journal::records(&env.state);
    let sessions = of_type(&recs, "session");
    let summaries = of_type(&recs, "summary");
    assert_eq!(sessions.len(), 1);
    assert_eq!(summaries.len(), 1, "the session is closed in the journal");
    assert_eq!(summaries[0]["session"], sessions[0]["id"]);
    assert_eq!(summaries[0]["findings"], 1);
}

/// Issue 12.3: on a terminal, progress shows files of the total (a quick
/// pre-count) and the file being read. The scan is held on one endless
/// file (`/proc/PID/pagemap`) until its read deadline, so the display
/// draws while it runs; the display redraws on the engine's clock, so the
/// total shows once counted even though no file finishes meanwhile.
#[test]
fn progress_on_a_terminal_shows_the_total_and_the_file_being_read() {
    let env = TestEnv::new();
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let pagemap = format!("/proc/{}/pagemap", sleeper.id());
    let cmdline = format!(
        "{} --state-dir {} --config {} scan --read-timeout 5 {pagemap}",
        crate::support::kensa_bin(),
        env.state.display(),
        env.config.display(),
    );
    let out = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("util-linux script (needed for a pty)");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 of 1 file"),
        "files of the pre-counted total: {text:?}"
    );
    assert!(text.contains("pagemap"), "the file being read: {text:?}");
    assert!(text.contains("INCOMPLETE"), "{text:?}");
}
