//! Start-up benchmark: process start to first file
//! scanned with the ReversingLabs corpus as `--rules`, cold (compiling)
//! versus cached (compiled rules loaded from `<state>/cache`), measured by
//! timing a whole `kensa scan` of a one-file tree; plus an in-process
//! breakdown (read + digest, compile, serialise, cache load).
//!
//! Run: `cargo bench --bench kensa -- startup`

use crate::support;

use kensa::rules::{self, cache, CompileOptions};
use std::time::{Duration, Instant};
use support::*;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn startup_cold_vs_cached_reversinglabs() {
    let rl = reversinglabs_rules();
    assert!(rl.is_dir(), "corpus missing at {}", rl.display());
    let env = TestEnv::new();
    env.file("one.txt", b"a single small file");
    let run = |state: &std::path::Path| {
        let t = Instant::now();
        let out = std::process::Command::new(kensa_bin())
            .arg("--state-dir")
            .arg(state)
            .arg("--config")
            .arg(&env.config)
            .args(["-v", "scan", "--no-progress", "--format", "json", "--rules"])
            .arg(&rl)
            .arg(&env.root)
            .output()
            .unwrap();
        let el = t.elapsed();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (el, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mut cold = Vec::new();
    for i in 0..3 {
        let state = env.base().join(format!("cold-{i}"));
        let (t, log) = run(&state);
        assert!(log.contains("cache=miss"), "{log}");
        cold.push(t);
    }
    let warm_state = env.base().join("cold-0");
    let mut cached = Vec::new();
    for _ in 0..5 {
        let (t, log) = run(&warm_state);
        assert!(log.contains("cache=hit"), "{log}");
        cached.push(t);
    }
    let (c, h) = (median(cold), median(cached));

    // In-process breakdown.
    let sources = rules::sources_for(std::slice::from_ref(&rl));
    let t = Instant::now();
    let prep = rules::prepare(&sources).unwrap();
    let t_read = t.elapsed();
    let t = Instant::now();
    let set = rules::compile_prepared(&prep, CompileOptions::default()).unwrap();
    let t_compile = t.elapsed();
    let dir = env.base().join("inproc-cache");
    let t = Instant::now();
    cache::store(&dir, &prep, &set).unwrap();
    let t_store = t.elapsed();
    let t = Instant::now();
    let (again, status) =
        cache::load_or_compile(Some(&dir), &sources, CompileOptions::default()).unwrap();
    let t_load = t.elapsed();
    assert_eq!(status, Some(cache::CacheStatus::Hit));
    assert_eq!(again.info, set.info);
    let size = std::fs::metadata(cache::entry_path(&dir, &cache::cache_key(&prep)))
        .unwrap()
        .len();

    println!("ReversingLabs corpus: {} rules", set.info.rules);
    println!("start-up to first file scanned (whole `kensa scan` of one file, median):");
    println!("  cold (compile):  {}", ms(c));
    println!("  cached:          {}", ms(h));
    println!(
        "  speed-up:        {:.1}x",
        c.as_secs_f64() / h.as_secs_f64()
    );
    println!("in-process: read+digest {}, compile {}, serialise+write {}, cached load (read+digest+check+deserialise) {}; cache file {} KiB",
        ms(t_read), ms(t_compile), ms(t_store), ms(t_load), size / 1024);
}
