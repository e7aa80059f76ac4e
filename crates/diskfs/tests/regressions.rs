//! Replays the inputs kept under `fuzz/regressions/<target>/` (crashes the
//! fuzzers found, and hostile images made by hand) through the same entry
//! point as the fuzz target, on stable Rust: each must open (or be
//! refused) and its walk, reading every file, must end within a bound.

use kensa_diskfs::{read_everything, FsKind, MemDevice};
use std::path::PathBuf;
use std::time::Duration;

/// Opens and walks every kept input of `target` as `kind`, each within
/// 30 seconds; the directory must hold at least one input.
fn replay(target: &str, kind: FsKind) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let d = read_everything(kind, &data);
            let _ = tx.send((d.opened, d.files, d.problems));
        });
        let (opened, files, problems) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{} did not end (hang or panic)", path.display()));
        eprintln!(
            "{}: opened {opened}, {files} files, {problems} problems",
            path.display()
        );
    }
}

#[test]
fn fat_regressions() {
    replay("fat", FsKind::Fat16);
}

#[test]
fn exfat_regressions() {
    replay("exfat", FsKind::Exfat);
}

#[test]
fn iso_regressions_end() {
    replay("iso", FsKind::Iso9660);
}

#[test]
fn udf_regressions_end() {
    replay("udf", FsKind::Udf);
}

/// Partition tables: each kept input gives partitions inside the device
/// and a bounded `$mbr` region, quickly.
#[test]
fn partition_regressions_end_with_bounded_tables() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/partition");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let len = data.len() as u64;
        let started = std::time::Instant::now();
        let t = kensa_diskfs::partition::read_table(&MemDevice(data.into())).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            path.display()
        );
        let cap = kensa_diskfs::partition::MAX_BOOT_REGION;
        assert!(t.boot_region <= len.min(cap), "{}", path.display());
        for p in &t.partitions {
            assert!(p.offset + p.size <= len, "{}", path.display());
        }
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
}

#[test]
fn ntfs_regressions_end() {
    replay("ntfs", FsKind::Ntfs);
}

#[test]
fn ext_regressions_end() {
    replay("ext", FsKind::Ext4);
}
