//! The one helper module of the test binaries (tests/scan, tests/journal,
//! tests/collector, tests/agent) and of the benchmarks (benches/kensa): each
//! includes it with `#[path]`. `TestEnv` builds a directory tree in a
//! temporary folder and runs the real `kensa` binary against it with its own
//! state dir and an empty config, so tests never depend on the machine's /etc
//! or /var; `eicar()` assembles the test file at run time; `data()` is the
//! fixtures folder. Submodules: `archive` (archive builders), `report_common`
//! (collector records, the NISC seed tables), `journal` (reading an agent's
//! journal through the library's reader), `rsyslog` (a real rsyslogd on
//! private sockets, and the messages it parsed).
//! journal through the library's reader), `pg` (a private PostgreSQL server:
//! `TestEnv::postgres` gives an environment whose collector database is a
//! fresh database on it).
// Each binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod archive;
pub mod cab;
pub mod diskfs;
pub mod journal;
pub mod ole2;
pub mod pdf;
pub mod pg;
pub mod rar;
pub mod report_common;
pub mod rsyslog;
pub mod text;
pub mod upx;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestEnv {
    _tmp: tempfile::TempDir,
    /// The tree to scan.
    pub root: PathBuf,
    /// kensa's --state-dir.
    pub state: PathBuf,
    /// An empty config file.
    pub config: PathBuf,
    /// The collector database's URL when it is PostgreSQL (else the
    /// SQLite file `<state>/kensa.db`).
    pub database: Option<String>,
}

/// The 68-byte EICAR test file, assembled at run time so no source file of
/// this repository is itself a detection.
pub fn eicar() -> Vec<u8> {
    let parts = [
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
        "EICAR-STANDARD-ANTIVIRUS-",
        "TEST-FILE!$H+H*",
    ];
    parts.concat().into_bytes()
}

pub const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

pub fn kensa_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kensa")
}

/// The source tree (for `signatures/` and `tests/data`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixtures folder, `tests/data`: everything a test reads lives in the
/// repository.
pub fn data() -> PathBuf {
    repo().join("tests/data")
}

/// The ReversingLabs rule corpus (MIT; see tests/data/reversinglabs/SOURCE).
pub fn reversinglabs_rules() -> PathBuf {
    data().join("reversinglabs/yara")
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().join("tree");
        let state = tmp.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let config = tmp.path().join("kensa.toml");
        // The repository's signatures, even when a kensa package is
        // installed on the machine (its location comes first otherwise).
        std::fs::write(
            &config,
            format!(
                "[rules]\nsignatures = \"{}\"\n",
                repo().join("signatures").display()
            ),
        )
        .unwrap();
        TestEnv {
            _tmp: tmp,
            root,
            state,
            config,
            database: None,
        }
    }

    /// An environment whose collector database is a new database on the
    /// test PostgreSQL server (`[collector] database` in its config; the
    /// password reaches kensa through `PGPASSFILE`).
    pub fn postgres() -> TestEnv {
        let mut env = TestEnv::new();
        let url = pg::server().database();
        let mut config = std::fs::read_to_string(&env.config).unwrap();
        config.push_str(&format!("\n[collector]\ndatabase = \"{url}\"\n"));
        std::fs::write(&env.config, config).unwrap();
        env.database = Some(url);
        env
    }

    /// [`TestEnv::postgres`] when `postgres`, else [`TestEnv::new`].
    pub fn with_backend(postgres: bool) -> TestEnv {
        if postgres {
            TestEnv::postgres()
        } else {
            TestEnv::new()
        }
    }

    /// The collector database as the library names it.
    pub fn database(&self) -> kensa::collector::Database {
        match &self.database {
            Some(url) => kensa::collector::Database::Postgres(Box::new(
                kensa::collector::PgTarget::new(url, Some(&pg::server().password_file))
                    .expect("database URL"),
            )),
            None => kensa::collector::Database::Sqlite(self.state.join("kensa.db")),
        }
    }

    /// Opens (creating) the collector database through the library.
    pub fn store(&self) -> kensa::collector::Store {
        kensa::collector::Store::open_database(&self.database()).expect("open store")
    }

    /// Whether the collector database exists (the SQLite file; a
    /// PostgreSQL database: whether kensa created its schema).
    pub fn database_exists(&self) -> bool {
        match &self.database {
            None => self.state.join("kensa.db").exists(),
            Some(url) => {
                let name = url.rsplit('/').next().unwrap_or_default();
                pg::server().has_schema(name)
            }
        }
    }

    /// The temporary folder that holds root, state and config.
    pub fn base(&self) -> &Path {
        self._tmp.path()
    }

    /// Writes a file below root, creating parent directories.
    pub fn file(&self, rel: impl AsRef<Path>, content: &[u8]) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Writes a file whose name is raw bytes.
    pub fn file_bytes_name(&self, name: &[u8], content: &[u8]) -> PathBuf {
        let p = self.root.join(OsStr::from_bytes(name));
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(kensa_bin());
        c.arg("--state-dir").arg(&self.state);
        c.arg("--config").arg(&self.config);
        c.env_remove("KENSA_LOG");
        if self.database.is_some() {
            c.env("PGPASSFILE", &pg::server().pgpass);
        }
        c
    }

    /// Runs kensa with the given arguments.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command().args(args).output().expect("run kensa")
    }

    /// `kensa scan --format json ROOT EXTRA...`: exit code and records.
    pub fn scan_json(&self, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("scan"),
            OsStr::new("--format"),
            OsStr::new("json"),
        ];
        args.extend(extra.iter().map(OsStr::new));
        args.push(self.root.as_os_str());
        let out = self.run(args);
        (out.status.code().unwrap_or(-1), parse_lines(&out))
    }

    /// `kensa scan --format json --no-progress EXTRA... ROOT` of the tree,
    /// for hostile inputs: it must end within 10 s (it is killed at 60 s)
    /// with a peak RSS under `max_rss_mib`.
    pub fn scan_bounded(&self, label: &str, extra: &[&str], max_rss_mib: u64) -> Scanned {
        let mut cmd = self.command();
        cmd.args(["scan", "--format", "json", "--no-progress"])
            .args(extra)
            .arg(&self.root);
        let start = std::time::Instant::now();
        let m = run_measured(label, std::time::Duration::from_secs(60), &mut cmd);
        let took = start.elapsed();
        assert!(
            took < std::time::Duration::from_secs(10),
            "{label}: took {took:?}"
        );
        assert!(
            m.peak_kib < max_rss_mib * 1024,
            "{label}: peak RSS {} KiB",
            m.peak_kib
        );
        Scanned {
            code: m.output.status.code().unwrap_or(-1),
            recs: parse_lines(&m.output),
            took,
        }
    }
}

/// What [`TestEnv::scan_bounded`] gave.
pub struct Scanned {
    pub code: i32,
    pub recs: Vec<serde_json::Value>,
    pub took: std::time::Duration,
}

/// The skip records of `file` and of its members.
pub fn skips_of<'a>(recs: &'a [serde_json::Value], file: &Path) -> Vec<&'a serde_json::Value> {
    let p = file.display().to_string();
    of_type(recs, "skip")
        .into_iter()
        .filter(|s| s["path"].as_str().unwrap_or("").starts_with(p.as_str()))
        .collect()
}

/// A record's `chain` as strings (empty for a plain file).
pub fn chain(r: &serde_json::Value) -> Vec<String> {
    r["chain"]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Runs a tool (mkfs, mount, dpkg, ...) to completion and returns its
/// stdout and stderr; panics with both when it fails or cannot start.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Parses JSON Lines from stdout; panics with stderr on bad output.
pub fn parse_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "bad JSON line {l:?}: {e}\nstderr: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        })
        .collect()
}

/// Records of one type.
pub fn of_type<'a>(recs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    recs.iter().filter(|r| r["type"] == t).collect()
}

/// `path` fields relative to `root`, sorted.
pub fn rel_paths(recs: &[&serde_json::Value], root: &Path) -> Vec<String> {
    let prefix = format!("{}/", root.display());
    let mut v: Vec<String> = recs
        .iter()
        .map(|r| {
            let p = r["path"].as_str().unwrap_or_default();
            p.strip_prefix(&prefix).unwrap_or(p).to_string()
        })
        .collect();
    v.sort();
    v
}

/// Asserts two sorted lists are equal, printing a line diff when not.
pub fn assert_lines(expected: &[&str], actual: &[String]) {
    let mut exp: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    exp.sort();
    if exp != actual {
        let mut diff = String::new();
        for e in &exp {
            if !actual.contains(e) {
                diff.push_str(&format!("- {e}\n"));
            }
        }
        for a in actual {
            if !exp.contains(a) {
                diff.push_str(&format!("+ {a}\n"));
            }
        }
        panic!("output differs (- expected, + actual):\n{diff}");
    }
}

/// Rule names of a finding.
pub fn rules_of(f: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = f["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rule"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// YARA files (`.yar`, `.yara`) below `dir`, sorted.
pub fn yara_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yara" || x == "yar") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A finished child with its peak resident memory.
pub struct Measured {
    pub output: Output,
    /// Peak resident set of the child, in KiB (`ru_maxrss` from wait4).
    pub peak_kib: u64,
}

/// Runs `cmd` to completion (stdout and stderr captured) and returns its
/// output with its own peak memory, read from `wait4` so other children of
/// the test do not count. Prints `peak RSS <label>: N MiB` so a test log
/// shows the bound of every hostile case. A child still running after
/// `limit` is killed and the test fails: a hang is a failure, not a stall.
pub fn run_measured(label: &str, limit: std::time::Duration, cmd: &mut Command) -> Measured {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let pid = child.id() as libc::pid_t;
    let finished = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (finished, killed) = (finished.clone(), killed.clone());
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !finished.load(Ordering::SeqCst) {
                if start.elapsed() > limit {
                    killed.store(true, Ordering::SeqCst);
                    // SAFETY: plain kill(2) of our own unreaped child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unreaped child; both pointers are to
        // live, writable locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    finished.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    // The child is reaped; `child` must not wait on it again.
    drop(child);
    assert!(
        !killed.load(Ordering::SeqCst),
        "{label}: {cmd:?} did not finish within {limit:?} (a hang)"
    );
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    };
    let peak_kib = usage.ru_maxrss.max(0) as u64;
    eprintln!("peak RSS {label}: {} MiB", peak_kib / 1024);
    Measured { output, peak_kib }
}

/// Runs a tool a test needs; a missing tool fails the test naming the
/// Debian package to install (tests/run-all.sh installs them), and so does
/// a tool that fails (its output in the message).
pub fn run_tool(cmd: &mut Command, package: &str) -> Output {
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{cmd:?} not found: install the Debian package `{package}`")
        }
        Err(e) => panic!("{cmd:?}: {e}"),
    };
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
