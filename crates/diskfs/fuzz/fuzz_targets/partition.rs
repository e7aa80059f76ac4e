//! Partition tables (MBR with its extended chain, GPT with its backup)
//! over arbitrary bytes as a whole device.
#![no_main]

use kensa_diskfs::{partition, MemDevice};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(t) = partition::read_table(&MemDevice(data.into())) {
        assert!(t.boot_region <= len.min(partition::MAX_BOOT_REGION));
        for p in &t.partitions {
            assert!(p.size > 0 && p.offset.checked_add(p.size).is_some_and(|e| e <= len));
        }
    }
});
