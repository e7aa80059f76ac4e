//! Crash safety of `kensa scan --journal`: the real binary is killed with
//! SIGKILL at random moments during scans of a large tree with EICAR files.
//! After every kill the journal must open (recovering a torn tail if there
//! is one), verify end to end against the agent's public key, and hold
//! every finding kensa had printed (a finding is printed only after it is
//! durable in the journal).

use crate::support;

use kensa::journal::{self, Journal};
use kensa::keys::{PublicKey, SecretKey};
use kensa::state::StateDir;
use std::collections::HashSet;
use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

struct Run {
    printed_findings: Vec<String>,
    saw_summary: bool,
    saw_session: bool,
}

/// Starts a journalled scan; kills it `kill_after` after its session line
/// appeared (never, when `None`); returns what it printed.
fn scan(env: &support::TestEnv, kill_after: Option<Duration>) -> Run {
    let mut child = env
        .command()
        .args(["scan", "--journal", "--format", "json", "--no-progress"])
        .arg(&env.root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut run = Run {
        printed_findings: Vec::new(),
        saw_summary: false,
        saw_session: false,
    };
    let take = |line: String, run: &mut Run| {
        // A line cut by the kill does not parse and was never "reported".
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            match v["type"].as_str() {
                Some("finding") => run
                    .printed_findings
                    .push(v["id"].as_str().unwrap().to_string()),
                Some("summary") => run.saw_summary = true,
                Some("session") => run.saw_session = true,
                _ => {}
            }
        }
    };
    if let Some(delay) = kill_after {
        let start = Instant::now();
        // Wait for the session line (rules compiled, scan started).
        while !run.saw_session && start.elapsed() < Duration::from_secs(60) {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => take(line, &mut run),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        std::thread::sleep(delay);
        // SIGKILL: no chance to flush or clean up.
        // SAFETY: kill(2) on our own child; no memory is shared.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(
        kill_after.is_some() || status.code() == Some(1),
        "scan failed: {status:?}: {stderr}"
    );
    assert!(
        !stderr.contains("error"),
        "scan reported an error: {status:?}: {stderr}"
    );
    while let Ok(line) = rx.try_recv() {
        take(line, &mut run);
    }
    run
}

fn journal_findings(dir: &std::path::Path) -> HashSet<String> {
    let mut ids = HashSet::new();
    for l in journal::read_all(dir).unwrap() {
        let l = l.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&l.bytes).unwrap();
        if v["type"] == "finding" {
            ids.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    ids
}

#[test]
fn sigkill_during_journalled_scans_loses_no_reported_finding() {
    let env = support::TestEnv::new();
    let eicar = support::eicar();
    // A large tree: 6000 files in 60 directories, every 12th one EICAR.
    for d in 0..60 {
        for f in 0..100 {
            let i = d * 100 + f;
            let rel = format!("d{d:02}/f{f:03}.bin");
            if i % 12 == 0 {
                env.file(&rel, &eicar);
            } else {
                let body: Vec<u8> = (0..(2048 + (i % 7) * 1500))
                    .map(|k| (k * 31 + i) as u8)
                    .collect();
                env.file(&rel, &body);
            }
        }
    }
    let out = env.run(["keygen"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = SecretKey::load(&StateDir::new(env.state.clone()).secret_key()).unwrap();
    let public = PublicKey::load(&StateDir::new(env.state.clone()).public_key()).unwrap();
    let dir = StateDir::new(env.state.clone()).journal_dir();

    // One complete run to learn how long a scan takes.
    let t = Instant::now();
    let full = scan(&env, None);
    let scan_time = t.elapsed();
    assert!(full.saw_summary);
    assert_eq!(full.printed_findings.len(), 500);
    let mut printed: Vec<String> = full.printed_findings.clone();

    let mut mid_scan_kills = 0;
    let mut attempts = 0;
    let mut recoveries_before = journal::verify(&dir, &public).unwrap().recoveries;
    let mut torn_recovered = 0;
    while mid_scan_kills < 24 && attempts < 60 {
        attempts += 1;
        let window = scan_time.as_micros().max(1000) as u64;
        let delay = Duration::from_micros(random_u64() % window);
        let run = scan(&env, Some(delay));
        if run.saw_session && !run.saw_summary {
            mid_scan_kills += 1;
        }
        printed.extend(run.printed_findings);
        // Opening recovers a torn tail, if the kill left one.
        let j = Journal::open(&dir, &key).unwrap_or_else(|e| panic!("attempt {attempts}: {e}"));
        drop(j);
        let report = journal::verify(&dir, &public)
            .unwrap_or_else(|e| panic!("attempt {attempts}: journal does not verify: {e}"));
        torn_recovered += report.recoveries - recoveries_before;
        recoveries_before = report.recoveries;
        let held = journal_findings(&dir);
        let missing: Vec<&String> = printed.iter().filter(|id| !held.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "attempt {attempts}: {} reported findings missing from the journal",
            missing.len()
        );
    }
    let report = journal::verify(&dir, &public).unwrap();
    eprintln!(
        "crash test: scan takes {scan_time:?}; {attempts} kills, {mid_scan_kills} mid-scan; \
         {} findings reported and all present; journal {} records, {} checkpoints, \
         {torn_recovered} torn tails recovered",
        printed.len(),
        report.records,
        report.checkpoints
    );
    assert!(
        mid_scan_kills >= 20,
        "only {mid_scan_kills} kills landed mid-scan"
    );
    // The collector side can load the agent's own journal.
    let mut store = kensa::collector::Store::open(&env.state.join("kensa.db")).unwrap();
    let o = kensa::collector::import_journal(&mut store, &dir, &key.key_id_hex()).unwrap();
    assert_eq!(o.added, report.records);
    let again = kensa::collector::import_journal(&mut store, &dir, &key.key_id_hex()).unwrap();
    assert_eq!(again.added, 0);
}
