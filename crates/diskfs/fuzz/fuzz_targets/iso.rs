//! The iso reader over arbitrary bytes: open, walk, read every file (at
//! most 16 MiB each, so a sparse file does not read as a timeout).
#![no_main]

use kensa_diskfs::{read_everything, FsKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_everything(FsKind::Iso9660, data);
});
