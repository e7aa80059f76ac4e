//! Any bytes through `walk` with small limits: no panic, no hang, no
//! allocation beyond the limits, and every member within them.
#![no_main]

use kensa_unpack::{walk, ArchiveLimits, MemberEvent};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let limits = ArchiveLimits {
        max_depth: 4,
        max_members: 200,
        max_total_bytes: 8 << 20,
        max_member_size: 4 << 20,
        max_ratio: 200,
        ratio_min_bytes: 1 << 20,
        max_time: Duration::from_secs(5),
    };
    let mut total = 0u64;
    walk(data, &limits, &mut |ev| {
        if let MemberEvent::Member { data, .. } = ev {
            assert!(data.len() as u64 <= limits.max_member_size);
            total += data.len() as u64;
        }
    });
    assert!(total <= limits.max_total_bytes);
});
