//! `windows`: the scan benchmark's corpus (built by `bench_scan`, from
//! /usr; `KENSA_BENCH_WIN_MIB` MiB of it, 256 by default, so the run fits
//! beside the rest of the benchmarks) scanned with the ReversingLabs rules
//! by the Linux build and by the Windows build under Wine (the test
//! harness of tests/windows sets Wine up). Each tool scans twice (the
//! first run fills the compiled-rule cache); the second run's wall times
//! and their ratio are printed. Wine's overhead is part of the figure:
//! this is a comparison, not a goal.

use crate::support::{self, TestEnv};
use crate::wine::{text, win, zpath};
use std::time::{Duration, Instant};

pub fn bench_windows_vs_linux() {
    let mib: u64 = std::env::var("KENSA_BENCH_WIN_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let corpus = support::repo().join("target/bench-corpus-windows");
    let (bytes, files) = crate::bench_scan::build_corpus(&corpus, mib << 20);
    let rl = support::reversinglabs_rules();
    let common = [
        "scan",
        "-q",
        "--no-progress",
        "--format",
        "json",
        "--threads",
        "2",
    ];
    let (lenv, wenv) = (TestEnv::new(), TestEnv::new());
    let (wrl, wcorpus) = (zpath(&rl), zpath(&corpus));
    let mut wargs = common.to_vec();
    wargs.extend(["--max-file-size", "1G", "--rules", &wrl, &wcorpus]);
    let (mut l, mut w) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..2 {
        let t = Instant::now();
        let mut c = lenv.command();
        c.args(common).args(["--max-file-size", "1G", "--rules"]);
        c.arg(&rl).arg(&corpus);
        let out = support::run_measured("linux kensa", Duration::from_secs(1800), &mut c).output;
        l = t.elapsed();
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "linux: {}",
            text(&out)
        );
        let t = Instant::now();
        let out = win().run(&wenv, "windows kensa.exe (wine64)", &wargs);
        w = t.elapsed();
        assert!(
            matches!(out.status.code(), Some(0..=2)),
            "windows: {}",
            text(&out)
        );
    }
    eprintln!(
        "corpus: {files} files, {:.0} MiB; Linux {:.2} s, Windows under Wine {:.2} s, ratio {:.2}",
        bytes as f64 / (1u64 << 20) as f64,
        l.as_secs_f64(),
        w.as_secs_f64(),
        w.as_secs_f64() / l.as_secs_f64()
    );
}
