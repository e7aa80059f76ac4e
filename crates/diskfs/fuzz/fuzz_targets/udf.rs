//! The udf reader over arbitrary bytes: open, walk, read every file (at
//! most 16 MiB each, so a sparse file does not read as a timeout).
#![no_main]

use kensa_diskfs::{Device, Entry, Flow, FsKind, Limits, MemDevice, ProblemKind, Visitor};
use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::Arc;

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

fuzz_target!(|data: &[u8]| {
    let dev: Arc<dyn Device> = Arc::new(MemDevice(data.to_vec().into()));
    if let Ok(mut fs) = kensa_diskfs::open(FsKind::Udf, dev) {
        let _ = fs.label();
        let _ = fs.walk(&Limits::default(), &mut Drain);
    }
});
