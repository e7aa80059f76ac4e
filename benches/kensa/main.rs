//! The benchmarks, one binary outside the test suite (`harness = false`):
//! `cargo bench --bench kensa` runs them all; name some to run only those,
//! e.g. `cargo bench --bench kensa -- startup incidents`. They print their
//! figures to stderr and assert only that the runs worked.
//!
//! - `scan`: kensa against yr, yara, clamscan and sha256sum over a corpus of
//!   at least 1 GiB (installs the peers; see bench_scan.rs for settings);
//! - `archives`: hostile archives, wall time and peak RSS;
//! - `deep`: recursion into archives on every fifth file of /usr, kensa
//!   against yr over the corpus and over the corpus plus its members
//!   extracted (the fair peer), with and without `--no-archives`;
//! - `startup`: start-up with the ReversingLabs rules, cold and cached;
//! - `incidents`: incident listing, triage and report at scale;
//! - `collector`: import, `incidents list|show` and `report` through the
//!   binary on many agents' bundles (`KENSA_OLD_BIN` compares another);
//! - `status`: `kensa status` on a journal of one million records;
//! - `disk`: a 1 GiB ext4 and a 1 GiB FAT32 volume read in user space
//!   versus mounted (kernel ext4, FUSE fusefat) and scanned;
//! - `windows`: part of the scan corpus, the Linux build against the
//!   Windows build under Wine (needs the cross-built kensa.exe).

#[path = "../../tests/support/mod.rs"]
mod support;

mod bench_archives;
mod bench_collector;
mod bench_deep;
mod bench_disk;
mod bench_scan;
mod bench_startup;
mod bench_status;
mod bench_windows;
mod hostile;
mod incidents_scale;
#[path = "../../tests/windows/wine.rs"]
mod wine;

use std::process::ExitCode;

type Bench = (&'static str, fn());

const BENCHES: &[Bench] = &[
    (
        "startup",
        bench_startup::startup_cold_vs_cached_reversinglabs,
    ),
    ("incidents", incidents_scale::list_and_report_at_scale),
    ("collector", bench_collector::collector_at_scale),
    ("status", bench_status::status_on_a_million_records),
    ("archives", bench_archives::bench_hostile_archives),
    ("scan", bench_scan::bench_scan_against_peers),
    ("deep", bench_deep::bench_deep_recursion),
    ("disk", bench_disk::bench_user_space_vs_mounted),
    ("windows", bench_windows::bench_windows_vs_linux),
];

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; other flags are ignored as well.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Some(unknown) = wanted
        .iter()
        .find(|w| !BENCHES.iter().any(|(name, _)| name == w))
    {
        let names: Vec<&str> = BENCHES.iter().map(|(name, _)| *name).collect();
        eprintln!("unknown benchmark {unknown:?}; known: {}", names.join(", "));
        return ExitCode::FAILURE;
    }
    for (name, run) in BENCHES {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            eprintln!("== benchmark {name}");
            run();
        }
    }
    ExitCode::SUCCESS
}
