//! The FAT12/16/32 reader over arbitrary bytes: open, walk, read all data.
#![no_main]

use kensa_diskfs::{Device, Entry, Flow, FsKind, Limits, MemDevice, ProblemKind, Visitor};
use libfuzzer_sys::fuzz_target;
use std::io::Read;
use std::sync::Arc;

struct Drain;

impl Visitor for Drain {
    fn file(&mut self, _: &Entry<'_>, data: &mut dyn Read) -> Flow {
        let _ = std::io::copy(data, &mut std::io::sink());
        Flow::Continue
    }
    fn problem(&mut self, _: &[Vec<u8>], _: ProblemKind, _: &str) -> Flow {
        Flow::Continue
    }
}

fuzz_target!(|data: &[u8]| {
    let dev: Arc<dyn Device> = Arc::new(MemDevice(data.into()));
    if let Ok(mut fs) = kensa_diskfs::open(FsKind::Fat16, dev) {
        let _ = fs.label();
        let _ = fs.walk(&Limits::default(), &mut Drain);
    }
});
