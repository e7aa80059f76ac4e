//! Reading a state directory's journal in tests through the library's own
//! reader (`kensa::journal::read_all`): every line is chain-checked and must
//! parse as JSON, or the test fails. Only a torn last line (a writer caught
//! mid-append) ends the read early, as the journal itself allows.

use kensa::bundle::{self, ExportRange};
use kensa::findings::Record;
use kensa::journal::{self, Journal, JournalError, JournalOptions};
use kensa::keys::SecretKey;
use kensa::state::StateDir;
use serde_json::{json, Value};
use std::path::Path;

/// `kensa status --format json` in `env`, which must succeed.
pub fn status_json(env: &crate::support::TestEnv) -> Value {
    let out = env.run(["status", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status prints JSON")
}

/// Every record in the journal of the state directory `state`, in order.
/// Panics on a broken chain or a line that is not JSON.
pub fn records(state: &Path) -> Vec<serde_json::Value> {
    let dir = StateDir::new(state.to_path_buf()).journal_dir();
    let lines =
        journal::read_all(&dir).unwrap_or_else(|e| panic!("open journal {}: {e}", dir.display()));
    let mut out = Vec::new();
    for line in lines {
        let line = match line {
            Ok(l) => l,
            Err(JournalError::TornTail { .. }) => break,
            Err(e) => panic!("journal {}: {e}", dir.display()),
        };
        let value = serde_json::from_slice(&line.bytes).unwrap_or_else(|e| {
            panic!(
                "journal line seq {} is not JSON ({e}): {}",
                line.seq,
                String::from_utf8_lossy(&line.bytes)
            )
        });
        out.push(value);
    }
    out
}

// Record builders for journals written through the library.

pub fn record(v: Value) -> Record {
    serde_json::from_value(v).expect("a valid record")
}

pub fn session(id: &str, label: &str) -> Record {
    record(json!({
        "type": "session", "v": 1, "id": id, "time": "2026-01-01T00:00:00.000Z",
        "host": "h", "location": "removable", "paths": [format!("/media/{label}")],
        "medium": {"mount_point": format!("/media/{label}"), "label": label,
                   "removable": true, "detected_by": "media_root"},
        "ruleset": {"id": "0011223344556677", "digest": "ab", "rules": 1, "hashes": 0},
        "version": "0.1.0",
    }))
}

pub fn finding(session: &str, i: u64) -> Record {
    record(json!({
        "type": "finding", "v": 1, "id": format!("f{i}"), "session": session,
        "time": "2026-01-01T00:00:01.000Z", "location": "removable",
        "path": format!("/media/x/file{i}.exe"), "size": 68, "sha256": "ab".repeat(32),
        "verdict": "malicious",
        "matches": [{"kind": "hash", "rule": "r", "namespace": "n"}],
    }))
}

pub fn skip(session: &str, i: u64) -> Record {
    record(json!({
        "type": "skip", "v": 1, "session": session, "time": "2026-01-01T00:00:01.000Z",
        "path": format!("/media/x/dir{i}/file.bin"), "reason": "timeout",
        "detail": "took too long", "gap": true,
    }))
}

pub fn summary(session: &str, files: u64, findings: u64, completed: bool) -> Record {
    record(json!({
        "type": "summary", "v": 1, "session": session, "time": "2026-01-01T00:00:02.000Z",
        "files": files, "bytes": files * 100, "findings": findings, "skips": 0, "gaps": 0,
        "seconds": 1.5, "completed": completed,
    }))
}

pub fn agent_key(state: &Path) -> SecretKey {
    kensa::keys::load_or_create(&StateDir::new(state))
        .expect("agent key")
        .0
}

pub fn journal_dir(state: &Path) -> std::path::PathBuf {
    StateDir::new(state).journal_dir()
}

/// Writes `n` records (sessions of 1,000 records each, one finding in a hundred,
/// an export after the first half) quickly: findings unsynced in a fast
/// mode would be cheating, so most records are skips.
pub fn big_journal(state: &Path, n: u64) -> (u64, u64) {
    let key = agent_key(state);
    let dir = journal_dir(state);
    let opts = JournalOptions::default();
    let mut j = Journal::open_with(&dir, &key, opts).unwrap();
    let mut exported = 0;
    let mut i = 0;
    while j.head().0 < n {
        let id = format!("s{i}");
        j.append(&session(&id, &format!("STICK{i}"))).unwrap();
        for k in 0..998 {
            if k % 100 == 0 {
                j.append(&finding(&id, k)).unwrap();
            } else {
                j.append(&skip(&id, k)).unwrap();
            }
        }
        j.append(&summary(&id, 998, 100, true)).unwrap();
        if exported == 0 && j.head().0 >= n / 2 {
            let out = state.join("out");
            exported = bundle::export(&mut j, &key, &out, ExportRange::Since(n / 2 - 10_000))
                .unwrap()
                .claim
                .to;
        }
        i += 1;
    }
    (j.head().0, exported)
}

/// A bundle's bytes with its lines after the header edited by `edit`
/// (dropped, swapped, duplicated...) and joined again: the tamper suites'
/// line cases.
pub fn edit_bundle_lines(data: &[u8], edit: impl Fn(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = data
        .strip_suffix(b"\n")
        .unwrap()
        .split(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let header = lines.remove(0);
    edit(&mut lines);
    let mut out = header;
    out.push(b'\n');
    for l in lines {
        out.extend_from_slice(&l);
        out.push(b'\n');
    }
    out
}

/// Copies the files of a journal directory (flat) to `to`: a fork of the
/// journal for the tamper suites.
pub fn copy_journal(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
