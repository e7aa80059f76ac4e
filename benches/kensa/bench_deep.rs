//! Benchmark (not a timed test): the cost of recursion into containers on a
//! corpus like the one issue 14 measured — every fifth regular file of
//! `/usr` (its `.gz` man pages and changelogs, jars, zips, debs, xz, bz2
//! and tar files included), at least 1 GiB — and, side by side in one run,
//! `kensa scan` with archives opened, `kensa scan --no-archives`, `yr scan`
//! over the corpus, and `yr scan` over the fair peer: the corpus PLUS its
//! archive members extracted to plain files (what kensa scans with
//! recursion on). Same rules (ReversingLabs), same thread count.
//!
//! Run: `cargo bench --bench kensa -- deep`
//! Environment: KENSA_BENCH_DEEP (corpus dir, default
//! target/bench-corpus-usr; the extracted tree sits beside it with
//! `-fair` appended), KENSA_BENCH_THREADS (default 2), KENSA_BENCH_BIN
//! (a kensa binary to measure instead of this build's), KENSA_BENCH_BEFORE
//! (another kensa binary measured in the same run, e.g. before a change),
//! KENSA_BENCH_ROUNDS (default 2; the last round is reported).

use crate::bench_scan::yr_binary;
use crate::support;

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Files larger than this are left out of the corpus (as bench_scan does).
const MAX_FILE: u64 = 64 << 20;
/// Where the corpus stops growing once every fifth file was not enough.
const CORPUS_BYTES: u64 = 1_130_000_000;
/// Members a single archive may extract to in the fair tree, about what
/// kensa's default `max_total_bytes` lets it decode per top-level file.
const MAX_EXTRACTED: u64 = 256 << 20;
/// Extraction nesting in the fair tree (a .deb holds data.tar.xz holds a
/// tar holds .gz files: four levels).
const MAX_LEVELS: u32 = 5;

/// One measured run.
struct Run {
    name: &'static str,
    wall: f64,
    cpu: f64,
    rss_kib: u64,
    exit: i32,
}

/// Runs `cmd` under `/usr/bin/time` (its own small parent, so the peak RSS
/// is the tool's, not this process's carried across exec).
fn timed(name: &'static str, work: &Path, cmd: &[&std::ffi::OsStr]) -> Run {
    let out = work.join("time.txt");
    let start = std::time::Instant::now();
    let st = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%U %S %M %x")
        .arg("-o")
        .arg(&out)
        .args(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("/usr/bin/time (Debian package `time`)");
    let wall = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&out).unwrap();
    let line = text.lines().last().unwrap_or_default();
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(-1.0);
    let _ = st;
    Run {
        name,
        wall,
        cpu: num(0) + num(1),
        rss_kib: num(2) as u64,
        exit: num(3) as i32,
    }
}

/// Every fifth regular file of `/usr` (sorted walk), below [`MAX_FILE`],
/// copied flat into `dir` (more, see below, when that is under 1 GiB);
/// cached (a `.complete` marker holds bytes and count).
pub(crate) fn build_usr_corpus(dir: &Path) -> (u64, usize) {
    let marker = dir.join(".complete");
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let mut it = text.split_whitespace();
        if let (Some(Ok(b)), Some(Ok(n))) = (it.next().map(str::parse), it.next().map(str::parse)) {
            return (b, n);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let files = usr_files();
    let (mut total, mut count) = (0u64, 0usize);
    // Every fifth file; where /usr is smaller than the issue's machine's,
    // then every fifth from another offset, until the corpus is 1.05 GiB.
    'passes: for offset in [4, 2, 0, 1, 3] {
        for (p, len) in files.iter().skip(offset).step_by(5) {
            if total >= CORPUS_BYTES {
                break 'passes;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let dst = dir.join(format!("{count:06}-{name}"));
            if std::fs::copy(p, &dst).is_ok() {
                total += len;
                count += 1;
            }
        }
        if offset == 4 && total >= 1 << 30 {
            break;
        }
    }
    std::fs::write(&marker, format!("{total} {count}\n")).unwrap();
    (total, count)
}

/// The regular files of `/usr` (each inode once) below [`MAX_FILE`],
/// in a sorted depth-first walk, with their sizes.
fn usr_files() -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![PathBuf::from("/usr")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut ents: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        ents.sort();
        for p in ents.into_iter().rev() {
            let Ok(m) = p.symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file()
                && m.len() > 0
                && m.len() <= MAX_FILE
                && seen.insert((m.dev(), m.ino()))
            {
                out.push((p, m.len()));
            }
        }
    }
    out
}

/// What kind of archive a file is, by magic (the kinds the fair tree
/// extracts; kensa recognises more).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Gz,
    Bz2,
    Xz,
    Zip,
    Ar,
    Tar,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let mut head = [0u8; 264];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let h = &head[..n];
    if h.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Gz)
    } else if h.starts_with(b"BZh") {
        Some(Kind::Bz2)
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Kind::Xz)
    } else if h.starts_with(b"PK\x03\x04") {
        Some(Kind::Zip)
    } else if h.starts_with(b"!<arch>\n") {
        Some(Kind::Ar)
    } else if h.get(257..262) == Some(b"ustar") {
        Some(Kind::Tar)
    } else {
        None
    }
}

/// Extracts `file` (of `kind`) into the new directory `out`; errors and
/// partial extractions are fine (kensa records those as gaps).
fn extract(file: &Path, kind: Kind, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "member".into());
    let quiet = |c: &mut Command| {
        let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
    };
    match kind {
        Kind::Gz => {
            let Ok(f) = std::fs::File::open(file) else {
                return;
            };
            let mut dec = flate2::read::MultiGzDecoder::new(f).take(MAX_EXTRACTED);
            let mut w = std::fs::File::create(out.join(stem)).unwrap();
            let _ = std::io::copy(&mut dec, &mut w);
        }
        Kind::Bz2 | Kind::Xz => {
            let tool = if kind == Kind::Bz2 { "bzip2" } else { "xz" };
            let sh = format!("{tool} -dc \"$1\" | head -c {MAX_EXTRACTED} > \"$2\"; exit 0");
            quiet(
                Command::new("sh")
                    .args(["-c", &sh, "sh"])
                    .arg(file)
                    .arg(out.join(stem)),
            );
        }
        Kind::Zip => quiet(
            Command::new("unzip")
                .args(["-qq", "-o"])
                .arg(file)
                .arg("-d")
                .arg(out),
        ),
        Kind::Ar => quiet(
            Command::new("ar")
                .arg("x")
                .arg(std::fs::canonicalize(file).unwrap())
                .current_dir(out),
        ),
        Kind::Tar => quiet(
            Command::new("tar")
                .args(["-x", "--no-same-owner", "--no-same-permissions", "-f"])
                .arg(file)
                .arg("-C")
                .arg(out),
        ),
    }
}

/// Regular files below `dir` (symlinks not followed).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else {
                continue;
            };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// The fair peer's tree: every corpus file hard-linked, plus the members
/// of its archives extracted to files, recursively (cached).
fn build_fair_tree(corpus: &Path, fair: &Path) -> (u64, usize, usize) {
    let marker = fair.join(".complete");
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let v: Vec<u64> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        if let [b, n, a] = v[..] {
            return (b, n as usize, a as usize);
        }
    }
    let _ = std::fs::remove_dir_all(fair);
    let top = fair.join("corpus");
    let members = fair.join("members");
    std::fs::create_dir_all(&top).unwrap();
    std::fs::create_dir_all(&members).unwrap();
    let mut queue: Vec<(PathBuf, u32)> = Vec::new();
    for f in files_under(corpus) {
        let name = f.file_name().unwrap();
        if name == ".complete" {
            continue;
        }
        let dst = top.join(name);
        if std::fs::hard_link(&f, &dst).is_err() {
            std::fs::copy(&f, &dst).unwrap();
        }
        queue.push((f, 0));
    }
    let mut archives = 0usize;
    let mut next = 0usize;
    while let Some((f, level)) = queue.pop() {
        if level >= MAX_LEVELS {
            continue;
        }
        let Some(kind) = kind_of(&f) else {
            continue;
        };
        archives += 1;
        next += 1;
        let out = members.join(format!("{next:06}"));
        extract(&f, kind, &out);
        for m in files_under(&out) {
            queue.push((m, level + 1));
        }
    }
    let all = files_under(fair);
    let bytes: u64 = all
        .iter()
        .filter_map(|p| p.symlink_metadata().ok())
        .map(|m| m.len())
        .sum();
    std::fs::write(&marker, format!("{bytes} {} {archives}\n", all.len())).unwrap();
    (bytes, all.len(), archives)
}

/// The command lines the benchmark runs.
struct Cmds {
    yr: PathBuf,
    rules: PathBuf,
    work: PathBuf,
    threads: String,
}

impl Cmds {
    fn kensa(&self, bin: &OsStr, target: &Path, extra: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![bin.into(), "--state-dir".into()];
        v.push(self.work.join("state").into());
        v.push("--config".into());
        v.push(self.work.join("empty.toml").into());
        for a in [
            "scan",
            "-q",
            "--no-progress",
            "--format",
            "json",
            "--threads",
        ] {
            v.push(a.into());
        }
        v.extend([
            self.threads.clone().into(),
            "--max-file-size".into(),
            "1G".into(),
        ]);
        v.extend(extra.iter().map(OsString::from));
        v.extend(["--rules".into(), self.rules.clone().into(), target.into()]);
        v
    }

    fn yr(&self, target: &Path) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![self.yr.clone().into()];
        for a in ["scan", "--disable-console-logs", "-p", &self.threads, "-r"] {
            v.push(a.into());
        }
        v.extend([self.rules.clone().into(), target.into()]);
        v
    }

    fn run(&self, name: &'static str, argv: Vec<OsString>) -> Run {
        let r: Vec<&OsStr> = argv.iter().map(OsString::as_os_str).collect();
        timed(name, &self.work, &r)
    }
}

/// Reads every file of `dir` once, so each tool starts from the page cache.
fn warm(dir: &Path) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg("find \"$1\" -type f -print0 | xargs -0 cat > /dev/null")
        .arg("sh")
        .arg(dir)
        .status();
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn bench_deep_recursion() {
    let corpus = std::env::var("KENSA_BENCH_DEEP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| support::repo().join("target/bench-corpus-usr"));
    let mut fair = corpus.clone().into_os_string();
    fair.push("-fair");
    let fair = PathBuf::from(fair);
    let cmds = Cmds {
        yr: yr_binary(),
        rules: support::reversinglabs_rules(),
        work: support::repo().join("target/bench-work-deep"),
        threads: std::env::var("KENSA_BENCH_THREADS").unwrap_or_else(|_| "2".into()),
    };
    let bin = std::env::var_os("KENSA_BENCH_BIN").unwrap_or_else(|| support::kensa_bin().into());
    let before = std::env::var_os("KENSA_BENCH_BEFORE");

    eprintln!("building corpus in {} ...", corpus.display());
    let (bytes, files) = build_usr_corpus(&corpus);
    assert!(bytes >= 1 << 30, "corpus is only {bytes} bytes");
    eprintln!("extracting its archives into {} ...", fair.display());
    let fair_stats = build_fair_tree(&corpus, &fair);
    warm(&corpus);
    warm(&fair);
    let _ = std::fs::remove_dir_all(&cmds.work);
    std::fs::create_dir_all(cmds.work.join("state")).unwrap();
    std::fs::write(cmds.work.join("empty.toml"), "").unwrap();
    // Compile the rules into the state dir's cache first (not measured).
    cmds.run("warm-up", cmds.kensa(&bin, &corpus, &["--no-archives"]));
    let load = load_average();
    let mut results = Vec::new();
    let rounds: u32 = std::env::var("KENSA_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for _round in 0..rounds.max(1) {
        results = vec![
            cmds.run("kensa scan", cmds.kensa(&bin, &corpus, &[])),
            cmds.run(
                "kensa noarch",
                cmds.kensa(&bin, &corpus, &["--no-archives"]),
            ),
            cmds.run("yr corpus", cmds.yr(&corpus)),
            cmds.run("yr fair", cmds.yr(&fair)),
        ];
        if let Some(b) = &before {
            results.push(cmds.run("before scan", cmds.kensa(b, &corpus, &[])));
            results.push(cmds.run("before noarch", cmds.kensa(b, &corpus, &["--no-archives"])));
        }
    }
    let load = format!("{load} .. {}", load_average());
    let stats = Stats {
        bytes,
        files,
        fair: fair_stats,
        load,
    };
    report(&results, &stats, &cmds);
}

/// What the report says about the corpus and the machine.
struct Stats {
    bytes: u64,
    files: usize,
    /// The fair tree: bytes, files, archives extracted.
    fair: (u64, usize, usize),
    /// Load average when the runs started and ended.
    load: String,
}

fn report(r: &[Run], st: &Stats, cmds: &Cmds) {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let mut s = format!(
        "\ncorpus: {} files, {:.2} GiB (every fifth file of /usr); fair tree: {} files, {:.2} GiB ({} archives extracted); threads {}; rules: ReversingLabs; load average {}\n",
        st.files,
        gib(st.bytes),
        st.fair.1,
        gib(st.fair.0),
        st.fair.2,
        cmds.threads,
        st.load
    );
    s.push_str(&format!(
        "{:<13} {:>8} {:>8} {:>10} {:>5}\n",
        "run", "wall s", "cpu s", "peak RSS", "exit"
    ));
    for m in r {
        s.push_str(&format!(
            "{:<13} {:>8.2} {:>8.2} {:>6} MiB {:>5}\n",
            m.name,
            m.wall,
            m.cpu,
            m.rss_kib / 1024,
            m.exit
        ));
    }
    let (k, n, y, f) = (&r[0], &r[1], &r[2], &r[3]);
    let rss = |a: &Run, b: &Run| a.rss_kib as f64 / b.rss_kib as f64;
    let line = |what: &str, a: &Run, b: &Run| {
        format!(
            "{what:<28} wall {:.2}, cpu {:.2}, RSS {:.2}\n",
            a.wall / b.wall,
            a.cpu / b.cpu,
            rss(a, b)
        )
    };
    s.push_str("ratios (goal with recursion on: wall <= 1.0, RSS <= 0.5):\n");
    s.push_str(&line("kensa / yr corpus", k, y));
    s.push_str(&line("kensa / yr fair", k, f));
    s.push_str(&line("kensa --no-archives / yr", n, y));
    if let [.., b, bn] = r {
        if r.len() == 6 {
            s.push_str(&line("before / yr corpus", b, y));
            s.push_str(&line("before --no-archives / yr", bn, y));
        }
    }
    print!("{s}");
    let _ = std::io::stdout().flush();
    std::fs::write(cmds.work.join("bench-deep.txt"), &s).unwrap();
    assert!(
        r.iter().take(2).all(|m| (0..=2).contains(&m.exit)),
        "kensa failed"
    );
}
