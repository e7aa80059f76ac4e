//! The Windows build under Wine, driven from Linux. [`win`] finds
//! `target/x86_64-pc-windows-gnu/release/kensa.exe` (tests/run-all.sh
//! builds it; a missing or stale one FAILS every test here, loudly,
//! naming the command), copies it into `target/wine/bin` beside a
//! `bcryptprimitives.dll` built from `prng_shim.c` with mingw (Wine 8 has
//! no `ProcessPrng`, which Rust's std needs; the shim exists only here,
//! never in a release), and runs it with `wine64` in a private
//! `WINEPREFIX` under `target/wine/prefix`. Linux paths reach Wine as
//! `Z:\...` (Wine maps Z: to /). Every run is bounded by a time limit;
//! the wineserver exits by itself a few seconds after its last client.

use crate::support::{self, TestEnv};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Longest one kensa.exe run may take under Wine.
pub const LIMIT: Duration = Duration::from_secs(180);

pub struct Win {
    wine: PathBuf,
    pub bin: PathBuf,
    pub prefix: PathBuf,
}

static WIN: OnceLock<Win> = OnceLock::new();

fn loud(what: &str) -> ! {
    panic!(
        "\n==== WINDOWS TESTS CANNOT RUN ====\n{what}\n\
         tests/run-all.sh installs gcc-mingw-w64-x86-64 and wine64, runs \
         `rustup target add x86_64-pc-windows-gnu` and builds \
         `cargo build --release --target x86_64-pc-windows-gnu --bin kensa`.\n\
         ==================================\n"
    )
}

pub fn exe_path() -> PathBuf {
    support::repo().join("target/x86_64-pc-windows-gnu/release/kensa.exe")
}

fn newest_source(dir: &Path, newest: &mut SystemTime) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_source(&p, newest);
        } else if p.extension().is_some_and(|x| x == "rs") {
            if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(m);
            }
        }
    }
}

fn wine_binary() -> PathBuf {
    for c in ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"] {
        if Path::new(c).is_file() {
            return PathBuf::from(c);
        }
    }
    loud("wine64 is not installed (Debian package wine64)")
}

fn build_shim(bin: &Path) {
    let src = support::repo().join("tests/windows/prng_shim.c");
    let out = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-O2", "-shared", "-o"])
        .arg(bin.join("bcryptprimitives.dll"))
        .arg(&src)
        .arg("-ladvapi32")
        .output()
        .unwrap_or_else(|e| loud(&format!("x86_64-w64-mingw32-gcc cannot run: {e}")));
    if !out.status.success() {
        loud(&format!(
            "building the ProcessPrng shim failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

fn setup() -> Win {
    let exe = exe_path();
    let built = std::fs::metadata(&exe)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| loud(&format!("{} is missing", exe.display())));
    let mut newest = SystemTime::UNIX_EPOCH;
    newest_source(&support::repo().join("src"), &mut newest);
    newest_source(&support::repo().join("crates"), &mut newest);
    if newest > built {
        loud(&format!(
            "{} is older than the sources (stale)",
            exe.display()
        ));
    }
    let wine = wine_binary();
    let root = support::repo().join("target/wine");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(&exe, bin.join("kensa.exe")).unwrap();
    build_shim(&bin);
    let win = Win {
        wine,
        bin,
        prefix: root.join("prefix"),
    };
    let mut boot = win.command_for(Path::new("wineboot"));
    boot.arg("-i");
    let out = support::run_measured("wineboot", LIMIT, &mut boot).output;
    if !out.status.success() {
        loud(&format!(
            "wineboot failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    win
}

/// The Wine set-up, made once per test binary.
pub fn win() -> &'static Win {
    WIN.get_or_init(setup)
}

/// `p` as Wine's Windows programs see it (`Z:\...`).
pub fn zpath(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

impl Win {
    /// `program` (a Windows program: kensa.exe, `sc`, `wineboot`) under
    /// Wine in the test prefix.
    pub fn command_for(&self, program: &Path) -> Command {
        let mut c = Command::new(&self.wine);
        c.arg(program);
        c.env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("KENSA_LOG")
            .env_remove("DISPLAY");
        c
    }

    /// `kensa.exe` with no state or config arguments.
    pub fn bare(&self) -> Command {
        self.command_for(&self.bin.join("kensa.exe"))
    }

    /// `kensa.exe --state-dir STATE --config CONFIG` of `env`, with a
    /// config whose signatures path is the repository's as Wine sees it.
    pub fn kensa(&self, env: &TestEnv) -> Command {
        let config = env.base().join("kensa-windows.toml");
        let sig = zpath(&support::repo().join("signatures"));
        std::fs::write(&config, format!("[rules]\nsignatures = '{sig}'\n")).unwrap();
        let mut c = self.bare();
        c.arg("--state-dir").arg(zpath(&env.state));
        c.arg("--config").arg(zpath(&config));
        c
    }

    /// Runs kensa.exe in `env` with `args` (Linux paths already turned
    /// into `Z:` paths by the caller), bounded by [`LIMIT`].
    pub fn run(&self, env: &TestEnv, label: &str, args: &[&str]) -> Output {
        let mut c = self.kensa(env);
        c.args(args);
        support::run_measured(label, LIMIT, &mut c).output
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
