//! The exFAT reader over arbitrary bytes: open, walk, read all data.
#![no_main]

use kensa_diskfs::{read_everything, FsKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_everything(FsKind::Exfat, data);
});
