//! `kensa status` and `Journal::open` on a journal of one million records
//! (sessions of 1,000 records, one finding in a hundred, an export half
//! way): both read from the last checkpoint, so the time must not grow
//! with the journal. Goal: status under 100 ms. `KENSA_OLD_BIN=<path>`
//! also times another kensa binary on the same journal.

use crate::support::journal::{agent_key, big_journal, journal_dir, status_json};
use crate::support::TestEnv;
use kensa::journal::Journal;
use serde_json::json;
use std::time::{Duration, Instant};

pub fn status_on_a_million_records() {
    let env = TestEnv::new();
    let t0 = Instant::now();
    let (head, exported) = big_journal(&env.state, 1_000_000);
    eprintln!("built {head} records in {:?}", t0.elapsed());
    let bytes: u64 = kensa::journal::segments(&journal_dir(&env.state))
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    eprintln!("journal: {} MB", bytes >> 20);
    // Warm the rule cache and the page cache once.
    status_json(&env);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let v = status_json(&env);
        best = best.min(t.elapsed());
        assert_eq!(v["journal"]["head_seq"], json!(head));
        assert_eq!(v["journal"]["exported_through"], json!(exported));
    }
    eprintln!("kensa status on {head} records: {best:?} (best of 5)");
    if let Ok(old) = std::env::var("KENSA_OLD_BIN") {
        let t = Instant::now();
        let out = std::process::Command::new(old)
            .arg("--state-dir")
            .arg(&env.state)
            .arg("--config")
            .arg(&env.config)
            .args(["status", "--format", "json"])
            .output()
            .unwrap();
        eprintln!(
            "old kensa status: {:?} (exit {:?})",
            t.elapsed(),
            out.status.code()
        );
    }
    let t = Instant::now();
    let j = Journal::open(&journal_dir(&env.state), &agent_key(&env.state)).unwrap();
    eprintln!("Journal::open: {:?}", t.elapsed());
    drop(j);
    assert!(best < Duration::from_millis(100), "status took {best:?}");
}
