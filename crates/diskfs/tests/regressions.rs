//! Replays every input kept under `fuzz/regressions/<target>/` through the
//! same entry point as its fuzz target (`open` + `walk`, reading all data):
//! each must end, without a panic escaping the reader.

use kensa_diskfs::{Device, Entry, Flow, FsKind, Limits, MemDevice, ProblemKind, Visitor};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

struct Drain;

impl Visitor for Drain {
    fn file(&mut self, _: &Entry<'_>, data: &mut dyn Read) -> Flow {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = data.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        Flow::Continue
    }
    fn problem(&mut self, _: &[Vec<u8>], _: ProblemKind, _: &str) -> Flow {
        Flow::Continue
    }
}

/// Opens and walks each kept input of `target` as `kind`; returns how many.
fn replay(target: &str, kind: FsKind) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let dev: Arc<dyn Device> = Arc::new(MemDevice(data.into()));
        let started = std::time::Instant::now();
        if let Ok(mut fs) = kensa_diskfs::open(kind, dev) {
            let _ = fs.label();
            let _ = fs.walk(&Limits::default(), &mut Drain);
        }
        let took = started.elapsed();
        assert!(took.as_secs() < 10, "{}: {took:?}", path.display());
        n += 1;
    }
    n
}

#[test]
fn ntfs_regressions_end() {
    eprintln!("ntfs: {} inputs replayed", replay("ntfs", FsKind::Ntfs));
}

#[test]
fn ext_regressions_end() {
    eprintln!("ext: {} inputs replayed", replay("ext", FsKind::Ext4));
}
