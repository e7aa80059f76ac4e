//! The ntfs reader through `open` + `walk`, reading every file's bytes.
#![no_main]

use kensa_diskfs::{read_everything, FsKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A panic inside the crate is contained by the reader (catch_unwind);
    // libFuzzer's hook would abort before that, so keep the default hook
    // quiet. A panic that escapes the reader still fails the run.
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let _ = read_everything(FsKind::Ntfs, data);
});
