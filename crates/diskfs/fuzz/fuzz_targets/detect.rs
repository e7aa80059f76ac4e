//! File-system detection over arbitrary first bytes of a device.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kensa_diskfs::detect_bytes(data);
});
