//! Replays the inputs kept under `fuzz/regressions/<target>/` (crashes the
//! fuzzers found, and hostile images made by hand) through the same entry
//! point as the fuzz target, on stable Rust: each must open (or be
//! refused) and its walk, reading every file, must end within a bound.

use kensa_diskfs::{Device, Entry, Flow, FsKind, Limits, MemDevice, ProblemKind, Visitor};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Reads all data and counts what it met.
#[derive(Default)]
struct Drain {
    files: u64,
    problems: u64,
}

impl Visitor for Drain {
    fn file(&mut self, _: &Entry<'_>, data: &mut dyn Read) -> Flow {
        self.files += 1;
        let _ = std::io::copy(data, &mut std::io::sink());
        Flow::Continue
    }
    fn problem(&mut self, _: &[Vec<u8>], _: ProblemKind, _: &str) -> Flow {
        self.problems += 1;
        Flow::Continue
    }
}

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
        let data: Arc<[u8]> = std::fs::read(&path).unwrap().into();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dev: Arc<dyn Device> = Arc::new(MemDevice(data));
            let mut d = Drain::default();
            let opened =
                kensa_diskfs::open(kind, dev).map(|mut fs| fs.walk(&Limits::default(), &mut d));
            let _ = tx.send((opened.is_ok(), d.files, d.problems));
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

#[test]
fn ntfs_regressions_end() {
    replay("ntfs", FsKind::Ntfs);
}

#[test]
fn ext_regressions_end() {
    replay("ext", FsKind::Ext4);
}
