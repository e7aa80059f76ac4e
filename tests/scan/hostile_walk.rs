//! The walker against a hostile, changing tree and endless sources: a
//! directory swapped for a symlink to the outside mid-scan (no file outside
//! the root may ever be read), 1,000 scans of a tree mutated by another
//! thread (renames, symlink swaps of directories and files, FIFOs appearing,
//! files growing and shrinking: no escape, no hang, no panic), a file that
//! never ends (`/proc/PID/pagemap`), a read that blocks in the kernel forever
//! (a tracefs `trace_pipe`), and SIGTERM to `kensa scan --journal` while
//! both are being read (the session still ends with its summary).
//!
//! Files outside the root hold EICAR under the same names as the files
//! inside (which are benign): any read outside is a finding, so "no
//! finding" is "nothing outside was read".

use crate::support::{self, eicar, parse_lines, run_measured, TestEnv, EICAR_SHA256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Subdirectories and files per subdirectory of the mutated trees.
const DIRS: usize = 4;
const FILES: usize = 20;

/// Builds `DIRS` directories of `FILES` benign files under `root`, and
/// the same names holding EICAR under `outside` (plus `outside/canary`).
fn mirrored_tree(root: &Path, outside: &Path) {
    for d in 0..DIRS {
        for (base, content) in [(root, b"benign\n".to_vec()), (outside, eicar())] {
            let dir = base.join(format!("d{d}"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..FILES {
                std::fs::write(dir.join(format!("f{f}")), &content).unwrap();
            }
        }
    }
    std::fs::write(outside.join("canary"), eicar()).unwrap();
    std::fs::write(root.join("g"), b"").unwrap();
}

/// Nothing read outside: no finding, no EICAR digest, no panic, and an
/// exit code of a finished scan (0 or 2; 1 would be a finding).
fn assert_no_escape(label: &str, out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{label}: panic: {stderr}");
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(2)),
        "{label}: exit {code:?}; stderr: {stderr}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains(EICAR_SHA256),
        "{label}: a file outside the root was read:\n{text}"
    );
    let recs = parse_lines(out);
    let findings = support::of_type(&recs, "finding");
    assert!(
        findings.is_empty(),
        "{label}: a file outside the root was read: {findings:#?}"
    );
    assert_eq!(support::of_type(&recs, "summary").len(), 1, "{label}");
}

/// Runs `step` in a loop on another thread until the returned guard is
/// dropped; counts the steps.
struct Mutator {
    stop: Arc<AtomicBool>,
    steps: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Mutator {
    fn start(mut step: impl FnMut(u64) + Send + 'static) -> Mutator {
        let stop = Arc::new(AtomicBool::new(false));
        let steps = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), steps.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                step(n.fetch_add(1, Ordering::SeqCst));
            }
        });
        Mutator {
            stop,
            steps,
            handle: Some(handle),
        }
    }

    fn steps(&self) -> u64 {
        self.steps.load(Ordering::SeqCst)
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Swaps directory `dir` for a symlink to `target` and back.
fn swap_dir(dir: &Path, target: &Path) {
    let aside = dir.with_extension("real");
    if std::fs::rename(dir, &aside).is_ok() {
        let _ = std::os::unix::fs::symlink(target, dir);
        std::thread::yield_now();
        let _ = std::fs::remove_file(dir);
        let _ = std::fs::rename(&aside, dir);
    }
}

fn scan_cmd(env: &TestEnv, extra: &[&str], roots: usize) -> Command {
    let mut cmd = env.command();
    cmd.args(["scan", "--format", "json", "--no-progress", "-j", "2"]);
    cmd.args(extra);
    for _ in 0..roots {
        cmd.arg(&env.root);
    }
    cmd
}

#[test]
fn directory_swapped_for_a_symlink_mid_scan_never_leads_outside() {
    let env = TestEnv::new();
    let outside = env.base().join("outside");
    // One big directory `a` whose subdirectories (and `a` itself) are
    // swapped for symlinks into a mirror holding EICAR.
    let a = env.root.join("a");
    let mirror = outside.join("a");
    for d in 0..10 {
        for (base, content) in [(&a, b"benign\n".to_vec()), (&mirror, eicar())] {
            let dir = base.join(format!("s{d}"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..50 {
                std::fs::write(dir.join(format!("f{f}")), &content).unwrap();
            }
        }
    }
    let (a2, m2) = (a.clone(), mirror.clone());
    let swapper = Mutator::start(move |i| {
        if i % 2 == 0 {
            swap_dir(&a2, &m2);
        } else {
            let s = format!("s{}", i % 10);
            swap_dir(&a2.join(&s), &m2.join(&s));
        }
    });
    let t = Instant::now();
    for run in 0..30 {
        let m = run_measured(
            "symlink swap scan",
            Duration::from_secs(60),
            &mut scan_cmd(&env, &[], 1),
        );
        assert_no_escape(&format!("run {run}"), &m.output);
    }
    eprintln!(
        "30 scans under {} directory swaps in {:?}",
        swapper.steps(),
        t.elapsed()
    );
    assert!(swapper.steps() > 30, "the swapper did not run");
}

/// One mutation of the stress tree: directory swaps, file swaps for
/// symlinks, FIFOs appearing and going, a file growing and shrinking,
/// directories renamed away and back.
fn mutate(root: &Path, outside: &Path, i: u64) {
    let d = format!("d{}", i % DIRS as u64);
    let f = format!("f{}", i % FILES as u64);
    match i % 5 {
        0 => swap_dir(&root.join(&d), &outside.join(&d)),
        1 => {
            let file = root.join(&d).join(&f);
            let aside = file.with_extension("x");
            if std::fs::rename(&file, &aside).is_ok() {
                let _ = std::os::unix::fs::symlink(outside.join("canary"), &file);
                std::thread::yield_now();
                let _ = std::fs::remove_file(&file);
                let _ = std::fs::rename(&aside, &file);
            }
        }
        2 => {
            let fifo = root.join(&d).join(format!("p{}", i % 3));
            if std::fs::remove_file(&fifo).is_err() {
                let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
                // SAFETY: mkfifo with a valid C string.
                unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
            }
        }
        3 => {
            use std::io::Write;
            let g = root.join("g");
            if i % 40 == 3 {
                let _ = std::fs::write(&g, b"");
            } else if let Ok(mut h) = std::fs::OpenOptions::new().append(true).open(&g) {
                let _ = h.write_all(&vec![b'x'; 64 * 1024]);
            }
        }
        _ => {
            let dir = root.join(&d);
            let moved = root.join(format!("moved{}", i % DIRS as u64));
            if std::fs::rename(&dir, &moved).is_ok() {
                std::thread::yield_now();
                let _ = std::fs::rename(&moved, &dir);
            }
        }
    }
}

#[test]
fn stress_1000_scans_of_a_mutating_tree_no_escape_no_hang_no_panic() {
    let env = TestEnv::new();
    let outside = env.base().join("outside");
    mirrored_tree(&env.root, &outside);
    let (root, out2) = (env.root.clone(), outside.clone());
    let mutator = Mutator::start(move |i| mutate(&root, &out2, i));
    // 200 runs of `kensa scan` naming the root 5 times: 1,000 walks.
    const RUNS: usize = 200;
    const ROOTS: usize = 5;
    let t = Instant::now();
    let mut peak = 0;
    for run in 0..RUNS {
        let m = run_measured(
            "stress scan",
            Duration::from_secs(60),
            &mut scan_cmd(&env, &["--read-timeout", "5"], ROOTS),
        );
        peak = peak.max(m.peak_kib);
        assert_no_escape(&format!("stress run {run}"), &m.output);
    }
    strace_audit(&env, &outside);
    let steps = mutator.steps();
    drop(mutator);
    eprintln!(
        "stress: {} scans ({RUNS} runs x {ROOTS} roots) under {steps} mutations in {:?}; peak RSS {} MiB",
        RUNS * ROOTS,
        t.elapsed(),
        peak / 1024
    );
    assert!(steps > RUNS as u64, "the mutator did not run");
    assert!(peak < 256 * 1024, "peak RSS {peak} KiB");
}

/// A few more scans under `strace -f -y` while the tree still mutates:
/// with `-y` every descriptor is shown with the path it refers to, so an
/// open anywhere below `outside` (directory or file, by path or relative
/// to a descriptor) would name it.
fn strace_audit(env: &TestEnv, outside: &Path) {
    let log = env.base().join("strace.log");
    for run in 0..5 {
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-y", "-e", "trace=open,openat,openat2", "-o"])
            .arg(&log)
            .arg(support::kensa_bin())
            .arg("--state-dir")
            .arg(&env.state)
            .arg("--config")
            .arg(&env.config)
            .args(["scan", "--format", "json", "--no-progress", "-j", "2"])
            .arg(&env.root);
        let m = match cmd.output() {
            Ok(out) => out,
            Err(e) => panic!("the open audit needs strace (apt-get install strace): {e}"),
        };
        assert_no_escape(&format!("strace run {run}"), &m);
        let trace = std::fs::read_to_string(&log).unwrap();
        let opens = trace.lines().filter(|l| l.contains("open")).count();
        assert!(opens > 20, "strace saw {opens} opens:\n{trace}");
        let out = outside.display().to_string();
        let bad: Vec<&str> = trace.lines().filter(|l| l.contains(&out)).collect();
        assert!(bad.is_empty(), "opened outside the root: {bad:#?}");
    }
}

/// A child that sleeps, whose `/proc/PID/pagemap` is an endless file (8
/// bytes per page of the whole address space: hundreds of GiB, 0 by stat).
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("600")
                .stdout(Stdio::null())
                .spawn()
                .expect("start sleep"),
        )
    }
    fn pagemap(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/pagemap", self.0.id()))
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tracefs mount (lazily unmounted on drop) and an exclusive lock on
/// its `trace_pipe`, whose reads block in the kernel until something is
/// traced (nothing is): a read that never returns. One reader at a time
/// (a second gets EBUSY), across test binaries too, hence the lock.
struct TracePipe {
    mount: PathBuf,
    _lock: std::fs::File,
}

impl TracePipe {
    fn mount(env: &TestEnv) -> TracePipe {
        let lock = std::fs::File::create("/tmp/kensa-test-trace-pipe.lock").unwrap();
        // SAFETY: flock on a descriptor we own.
        let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        assert_eq!(locked, 0);
        let mount = env.base().join("tracefs");
        std::fs::create_dir_all(&mount).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tracefs", "nodev"])
            .arg(&mount)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs root and tracefs (mount -t tracefs) for a read that \
             blocks forever: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TracePipe { mount, _lock: lock }
    }
    fn pipe(&self) -> PathBuf {
        self.mount.join("trace_pipe")
    }
}

impl Drop for TracePipe {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

fn skips_for<'a>(recs: &'a [serde_json::Value], path: &Path) -> Vec<&'a serde_json::Value> {
    let p = path.display().to_string();
    support::of_type(recs, "skip")
        .into_iter()
        .filter(|s| s["path"] == p.as_str())
        .collect()
}

#[test]
fn an_endless_file_ends_with_a_timeout_skip() {
    let env = TestEnv::new();
    let sleeper = Sleeper::start();
    let t = Instant::now();
    let m = run_measured(
        "endless pagemap",
        Duration::from_secs(60),
        env.command()
            .args(["scan", "--format", "json", "--read-timeout", "2"])
            .arg(sleeper.pagemap()),
    );
    eprintln!("endless file: scan ended after {:?}", t.elapsed());
    let recs = parse_lines(&m.output);
    let skips = skips_for(&recs, &sleeper.pagemap());
    assert_eq!(m.output.status.code(), Some(2), "{recs:#?}");
    assert!(
        skips
            .iter()
            .any(|s| s["reason"] == "timeout" && s["gap"] == true),
        "{recs:#?}"
    );
    assert!(m.peak_kib < 512 * 1024, "peak RSS {} KiB", m.peak_kib);
}

#[test]
fn a_read_that_never_returns_is_abandoned_with_a_timeout_skip() {
    let env = TestEnv::new();
    let trace = TracePipe::mount(&env);
    std::fs::write(env.root.join("ok.txt"), b"benign").unwrap();
    let t = Instant::now();
    let m = run_measured(
        "blocked read",
        Duration::from_secs(60),
        env.command()
            .args(["scan", "--format", "json", "--read-timeout", "1", "-j", "1"])
            .arg(trace.pipe())
            .arg(&env.root),
    );
    eprintln!("blocked read: scan ended after {:?}", t.elapsed());
    let recs = parse_lines(&m.output);
    assert_eq!(m.output.status.code(), Some(2), "{recs:#?}");
    let skips = skips_for(&recs, &trace.pipe());
    assert!(skips.iter().any(|s| s["reason"] == "timeout"), "{recs:#?}");
    let summary = support::of_type(&recs, "summary")[0];
    // The one worker was stuck: a spare took the rest of the work.
    assert_eq!(summary["files"], 2, "{summary}");
}

#[test]
fn sigterm_ends_a_journalled_scan_of_endless_and_blocked_files_with_its_summary() {
    let env = TestEnv::new();
    let keygen = env.run(["keygen"]);
    assert!(keygen.status.success(), "{keygen:?}");
    let sleeper = Sleeper::start();
    let trace = TracePipe::mount(&env);
    let mut child = env
        .command()
        .args(["scan", "--journal", "--format", "json", "-j", "2"])
        .arg(sleeper.pagemap())
        .arg(trace.pipe())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kensa scan");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the scan ended early");
    let t = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("kensa scan --journal did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("SIGTERM to exit: {:?}", t.elapsed());
    assert_eq!(status.code(), Some(2));
    let recs = support::journal::records(&env.state);
    let summaries = support::of_type(&recs, "summary");
    assert_eq!(summaries.len(), 1, "{recs:#?}");
    assert_eq!(summaries[0]["completed"], false, "{recs:#?}");
}
