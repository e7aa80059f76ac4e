//! Replays the inputs kept under `fuzz/regressions/walk/` (crashes the
//! fuzzer found, and hostile samples made by hand) through `walk` with the
//! default limits, on stable Rust: each walk must end within 30 seconds,
//! and what it produced must stay within the limits.

use kensa_unpack::{walk, ArchiveLimits, MemberEvent};
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn kept_inputs_end_within_limits() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/walk");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let limits = ArchiveLimits::default();
            let (mut members, mut bytes, mut gaps) = (0u64, 0u64, 0u64);
            walk(&data, &limits, &mut |ev| match ev {
                MemberEvent::Member { data, .. } => {
                    members += 1;
                    bytes += data.len() as u64;
                }
                MemberEvent::Skip { .. } | MemberEvent::Suspicious { .. } => gaps += 1,
            });
            let _ = tx.send((members, bytes, gaps, limits.max_total_bytes));
        });
        let (members, bytes, gaps, max) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{} did not end (hang or panic)", path.display()));
        eprintln!(
            "{}: {members} members, {bytes} bytes, {gaps} gaps",
            path.display()
        );
        assert!(bytes <= max, "{}: {bytes} bytes produced", path.display());
    }
}
