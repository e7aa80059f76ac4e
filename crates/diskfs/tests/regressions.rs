//! Replays the inputs kept under `fuzz/regressions/<target>/` (crashes
//! the fuzzers found, and hostile cases worth keeping) through the same
//! entry points as the fuzz targets, so a fixed crash stays fixed without
//! nightly.

use kensa_diskfs::{partition, MemDevice};
use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

#[test]
fn partition_regressions_end_with_bounded_tables() {
    for (path, data) in inputs("partition") {
        let len = data.len() as u64;
        let t = partition::read_table(&MemDevice(data.into())).unwrap();
        assert!(
            t.boot_region <= len.min(partition::MAX_BOOT_REGION),
            "{}",
            path.display()
        );
        for p in &t.partitions {
            assert!(p.offset + p.size <= len, "{}", path.display());
        }
        println!(
            "{}: {} partitions, problems {:?}",
            path.display(),
            t.partitions.len(),
            t.problems
        );
    }
}
