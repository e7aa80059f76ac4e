//! The ext reader through `open` + `walk`, reading every file's bytes.
#![no_main]

use kensa_diskfs::{Device, Entry, Flow, FsKind, Limits, MemDevice, ProblemKind, Visitor};
use libfuzzer_sys::fuzz_target;
use std::io::Read;
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

fuzz_target!(|data: &[u8]| {
    // A panic inside the crate is contained by the reader (catch_unwind);
    // libFuzzer's hook would abort before that, so keep the default hook
    // quiet. A panic that escapes the reader still fails the run.
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let dev: Arc<dyn Device> = Arc::new(MemDevice(data.to_vec().into()));
    if let Ok(mut fs) = kensa_diskfs::open(FsKind::Ext4, dev) {
        let _ = fs.label();
        let _ = fs.walk(&Limits::default(), &mut Drain);
    }
});
