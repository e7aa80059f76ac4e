//! Benchmark harness (not a timed test): builds a corpus of at least 1 GiB
//! of real files and prints, side by side in one run, wall time, CPU time
//! and peak RSS of `kensa scan`, `yr scan`, `yara -r`, `clamscan` (each
//! with the ReversingLabs rules) and `sha256sum` (the hashing floor).
//!
//! Run: `cargo bench --bench kensa -- scan`
//! It installs its peers (Debian `yara`, `clamav`; `yr` from crates.io)
//! when they are missing. Environment: KENSA_BENCH_CORPUS (dir, default
//! target/bench-corpus), KENSA_BENCH_GIB (default 1.1), KENSA_BENCH_THREADS.

use crate::support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub(crate) struct Measure {
    pub name: String,
    pub wall: f64,
    pub cpu: f64,
    pub maxrss_kib: i64,
    pub exit: i32,
    pub note: String,
}

/// Runs a command to completion and measures it with wait4(2).
pub(crate) fn measure(name: &str, cmd: &mut Command, note: &str) -> Measure {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is a plain C struct; all-zero is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4 failed");
    let wall = start.elapsed().as_secs_f64();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // wait4 reaped the child: dropping `Child` must not wait or kill again.
    #[allow(clippy::mem_forget)]
    std::mem::forget(child);
    Measure {
        name: name.to_string(),
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        maxrss_kib: ru.ru_maxrss,
        exit,
        note: note.to_string(),
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn apt_install(pkgs: &[&str]) {
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    let st = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(pkgs)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .expect("apt-get");
    assert!(st.success(), "apt-get install {pkgs:?} failed");
}

/// `yr`: on PATH, in /opt/yr, or installed from crates.io (same yara-x version).
pub(crate) fn yr_binary() -> PathBuf {
    if have("yr") {
        return PathBuf::from("yr");
    }
    let opt = PathBuf::from("/opt/yr/bin/yr");
    if opt.exists() {
        return opt;
    }
    eprintln!("installing yara-x-cli 1.22.1 into /opt/yr (one-time, ~10 min)...");
    let st = Command::new("cargo")
        .args([
            "install",
            "yara-x-cli",
            "--version",
            "1.22.1",
            "--locked",
            "--root",
            "/opt/yr",
        ])
        .status()
        .expect("cargo install");
    assert!(st.success(), "cargo install yara-x-cli failed");
    opt
}

/// Copies real files from /usr (and apt's cache) until `target` bytes.
pub(crate) fn build_corpus(dir: &Path, target: u64) -> (u64, usize) {
    let marker = dir.join(".complete");
    if marker.exists() {
        let text = std::fs::read_to_string(&marker).unwrap_or_default();
        let mut it = text.split_whitespace();
        if let (Some(b), Some(n)) = (it.next(), it.next()) {
            let (b, n): (u64, usize) = (b.parse().unwrap_or(0), n.parse().unwrap_or(0));
            if b >= target {
                return (b, n);
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    // Mixed real content: executables, shared libraries, text, compressed
    // blobs (.gz/.deb/.jar/.zip are scanned as opaque files here).
    let sources: &[(&str, u64)] = &[
        ("/usr/bin", 300 << 20),
        ("/usr/lib/x86_64-linux-gnu", 450 << 20),
        ("/usr/share/doc", 60 << 20),
        ("/usr/include", 80 << 20),
        ("/usr/share/perl", 40 << 20),
        ("/usr/lib/python3", 60 << 20),
        ("/usr/share/locale", 50 << 20),
        ("/var/cache/apt/archives", 100 << 20),
        ("/usr/lib/jvm", 200 << 20),
        ("/usr/share", 200 << 20),
        ("/usr/lib", 400 << 20),
    ];
    let mut total = 0u64;
    let mut count = 0usize;
    let mut seen = std::collections::HashSet::new();
    for (src, budget) in sources {
        let mut used = 0u64;
        let mut stack = vec![PathBuf::from(src)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            let mut ents: Vec<_> = rd.filter_map(|e| e.ok()).collect();
            ents.sort_by_key(|e| e.path());
            for e in ents {
                let Ok(m) = e.path().symlink_metadata() else {
                    continue;
                };
                if m.is_dir() {
                    stack.push(e.path());
                } else if m.is_file() && m.len() > 0 && m.len() < (64 << 20) {
                    use std::os::unix::fs::MetadataExt;
                    if !seen.insert((m.dev(), m.ino())) {
                        continue;
                    }
                    let dst = dir.join(format!("{count:06}-{}", e.file_name().to_string_lossy()));
                    if std::fs::copy(e.path(), &dst).is_ok() {
                        total += m.len();
                        used += m.len();
                        count += 1;
                    }
                }
                if used >= *budget || total >= target {
                    break;
                }
            }
            if used >= *budget || total >= target {
                break;
            }
        }
        if total >= target {
            break;
        }
    }
    std::fs::write(&marker, format!("{total} {count}\n")).unwrap();
    (total, count)
}

/// The subset of rule files clamscan accepts (it reads a flat directory of
/// .yar files and rejects some YARA features), copied flat into `dst`.
fn clam_rules(rules: &[PathBuf], dst: &Path, probe: &Path) -> (usize, Vec<String>) {
    let _ = std::fs::remove_dir_all(dst);
    std::fs::create_dir_all(dst).unwrap();
    let mut rejected = Vec::new();
    let mut ok = 0;
    for (i, r) in rules.iter().enumerate() {
        let single = dst.join(format!("probe-{i}.yar"));
        std::fs::copy(r, &single).unwrap();
        let out = Command::new("clamscan")
            .args(["--no-summary", "-d"])
            .arg(&single)
            .arg(probe)
            .output()
            .unwrap();
        std::fs::remove_file(&single).unwrap();
        // 0 clean / 1 found are fine; 2 is a load error.
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(2) || stderr.contains("ERROR") {
            rejected.push(r.file_name().unwrap().to_string_lossy().into_owned());
        } else {
            std::fs::copy(r, dst.join(format!("{i:04}.yar"))).unwrap();
            ok += 1;
        }
    }
    (ok, rejected)
}

pub fn bench_scan_against_peers() {
    let threads: usize = std::env::var("KENSA_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
    let gib: f64 = std::env::var("KENSA_BENCH_GIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.1);
    let corpus = std::env::var("KENSA_BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| support::repo().join("target/bench-corpus"));
    let rl = support::reversinglabs_rules();
    assert!(
        rl.is_dir(),
        "ReversingLabs rules not found at {}",
        rl.display()
    );

    let mut missing = Vec::new();
    if !have("yara") {
        missing.push("yara");
    }
    if !have("clamscan") {
        missing.push("clamav");
    }
    if !missing.is_empty() {
        apt_install(&missing);
    }
    let yr = yr_binary();

    eprintln!("building corpus in {} ...", corpus.display());
    let (bytes, files) = build_corpus(&corpus, (gib * (1u64 << 30) as f64) as u64);
    assert!(bytes >= 1 << 30, "corpus is only {bytes} bytes");
    // Warm the page cache so every tool reads from memory alike.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("cat {}/* > /dev/null", corpus.display()))
        .status();

    let rules = support::yara_files(&rl);
    let work = support::repo().join("target/bench-work");
    std::fs::create_dir_all(&work).unwrap();
    let probe = work.join("probe.txt");
    std::fs::write(&probe, b"probe").unwrap();
    eprintln!(
        "probing which of {} rule files clamscan loads ...",
        rules.len()
    );
    let (clam_ok, clam_rejected) = clam_rules(&rules, &work.join("clam-rules"), &probe);
    let state = work.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let empty_cfg = work.join("empty.toml");
    std::fs::write(&empty_cfg, "").unwrap();
    let t = threads.to_string();

    let mut results = Vec::new();
    for round in 0..2 {
        let mut row = Vec::new();
        let kensa = |state: &Path, extra: &[&str]| {
            let mut c = Command::new(support::kensa_bin());
            c.arg("--state-dir")
                .arg(state)
                .arg("--config")
                .arg(&empty_cfg)
                .args([
                    "scan",
                    "-q",
                    "--no-progress",
                    "--format",
                    "json",
                    "--threads",
                    &t,
                ])
                .args(["--max-file-size", "1G"])
                .args(extra)
                .arg("--rules")
                .arg(&rl)
                .arg(&corpus);
            c
        };
        // Default run: compiled rules from the cache in the state dir (as
        // every run after the first), archives opened.
        row.push(measure(
            "kensa scan",
            &mut kensa(&state, &[]),
            "SHA-256 + YARA + archives, cached rules",
        ));
        row.push(measure(
            "kensa noarch",
            &mut kensa(&state, &["--no-archives"]),
            "SHA-256 + YARA, cached rules (like for like with yr)",
        ));
        let cold = work.join(format!("state-cold-{round}"));
        let _ = std::fs::remove_dir_all(&cold);
        row.push(measure(
            "kensa cold",
            &mut kensa(&cold, &["--no-archives"]),
            "as noarch, but compiling the rules first",
        ));
        row.push(measure(
            "yr scan",
            Command::new(&yr)
                .args(["scan", "--disable-console-logs", "-p", &t, "-r"])
                .arg(&rl)
                .arg(&corpus),
            "YARA only",
        ));
        row.push(measure(
            "yara -r",
            Command::new("yara")
                .args(["-r", "-p", &t])
                .args(&rules)
                .arg(&corpus),
            "YARA only (libyara)",
        ));
        row.push(measure(
            "sha256sum",
            Command::new("sh").arg("-c").arg(format!(
                "find {} -type f -print0 | xargs -0 -n 64 -P {t} sha256sum",
                corpus.display()
            )),
            "hashing floor",
        ));
        if round == 1 {
            row.push(measure(
                "clamscan",
                Command::new("clamscan")
                    .args(["--no-summary", "-r", "-d"])
                    .arg(work.join("clam-rules"))
                    .arg(&corpus),
                &format!("{clam_ok} of {} rule files", rules.len()),
            ));
        }
        results = row;
    }

    let kensa = &results[0];
    let mut report = String::new();
    report.push_str(&format!(
        "\ncorpus: {files} files, {:.2} GiB; threads {threads}; rules: ReversingLabs ({} files)\n",
        bytes as f64 / (1u64 << 30) as f64,
        rules.len()
    ));
    report.push_str(&format!(
        "{:<12} {:>9} {:>9} {:>11} {:>6} {:>12} {:>12}  {}\n",
        "tool", "wall s", "cpu s", "peak RSS", "exit", "wall/kensa", "RSS/kensa", "note"
    ));
    for m in &results {
        report.push_str(&format!(
            "{:<12} {:>9.2} {:>9.2} {:>8} MiB {:>6} {:>11.2}x {:>11.2}x  {}\n",
            m.name,
            m.wall,
            m.cpu,
            m.maxrss_kib / 1024,
            m.exit,
            m.wall / kensa.wall,
            m.maxrss_kib as f64 / kensa.maxrss_kib as f64,
            m.note
        ));
    }
    if !clam_rejected.is_empty() {
        report.push_str(&format!(
            "clamscan rejected: {}\n",
            clam_rejected.join(", ")
        ));
    }
    let noarch = &results[1];
    let yr_m = &results[3];
    report.push_str(&format!(
        "kensa wall / yr wall = {:.2} (no archives: {:.2}; goal <= 1.0); clamscan wall / kensa wall = {:.1} (goal >= 5); kensa RSS / yr RSS = {:.2} (no archives: {:.2}; goal <= 0.5)\n",
        kensa.wall / yr_m.wall,
        noarch.wall / yr_m.wall,
        results.last().unwrap().wall / kensa.wall,
        kensa.maxrss_kib as f64 / yr_m.maxrss_kib as f64,
        noarch.maxrss_kib as f64 / yr_m.maxrss_kib as f64
    ));
    print!("{report}");
    let _ = std::io::stdout().flush();
    std::fs::write(work.join("bench-scan.txt"), &report).unwrap();
    // 2 is fine: real archives in the corpus hit member limits (recorded).
    assert!(
        results.iter().take(3).all(|m| (0..=2).contains(&m.exit)),
        "kensa failed"
    );
}
