//! Replays the inputs the fuzz targets once crashed, hung or blew up on
//! (`fuzz/regressions/<target>/`) through the same entry point, so a fixed
//! crash stays fixed without nightly: each must open (or be refused) and
//! walk to its end within seconds.

use kensa_diskfs::{Device, Entry, Flow, FsKind, Limits, MemDevice, ProblemKind, Visitor};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Drain;

impl Visitor for Drain {
    fn file(&mut self, _entry: &Entry<'_>, data: &mut dyn Read) -> Flow {
        let _ = std::io::copy(&mut data.take(16 << 20), &mut std::io::sink());
        Flow::Continue
    }
    fn problem(&mut self, _path: &[Vec<u8>], _kind: ProblemKind, _detail: &str) -> Flow {
        Flow::Continue
    }
}

/// Opens and walks every kept input of `target` as `kind`; returns how
/// many there were.
fn replay(target: &str, kind: FsKind) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let started = Instant::now();
        let dev: Arc<dyn Device> = Arc::new(MemDevice(data.into()));
        if let Ok(mut fs) = kensa_diskfs::open(kind, dev) {
            let _ = fs.label();
            let _ = fs.walk(&Limits::default(), &mut Drain);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
        n += 1;
    }
    n
}

#[test]
fn iso_regressions_end() {
    assert!(replay("iso", FsKind::Iso9660) > 0);
}

#[test]
fn udf_regressions_end() {
    assert!(replay("udf", FsKind::Udf) > 0);
}

/// Partition tables: each kept input gives partitions inside the device
/// and a bounded `$mbr` region, quickly.
#[test]
fn partition_regressions_end_with_bounded_tables() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/partition");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let len = data.len() as u64;
        let started = Instant::now();
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
