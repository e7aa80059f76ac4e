//! The agent (`kensa.exe run`) under Wine noticing removable media and
//! watched host directories. A drive is made to arrive and leave while
//! the agent runs through Wine's mount manager (`drive_helper.c`, the
//! ioctl winecfg uses): the drive letter maps to a folder, typed
//! removable, with the label and serial Wine reads from the folder's
//! `.windows-label` and `.windows-serial`. The agent runs in the
//! background under an [`AgentGuard`] that kills it on drop; every wait
//! on its log is bounded.

use crate::support::{self, TestEnv};
use crate::wine::{win, zpath};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Longest wait for one expected log line (Wine start-up included).
const WAIT: Duration = Duration::from_secs(90);

/// The agent tests share the prefix's drive table: one at a time.
static AGENTS: Mutex<()> = Mutex::new(());

static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// `drive_helper.exe`, built with mingw once per test binary.
fn helper() -> &'static Path {
    HELPER.get_or_init(|| {
        let out = win().bin.join("drive_helper.exe");
        let src = support::repo().join("tests/windows/drive_helper.c");
        let built = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("x86_64-w64-mingw32-gcc cannot run: {e}"));
        assert!(
            built.status.success(),
            "building drive_helper.exe failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        out
    })
}

/// Runs the drive helper (bounded); true on success.
fn drive(args: &[&str]) -> bool {
    let mut c = win().command_for(helper());
    c.args(args);
    let out = support::run_measured("drive_helper", crate::wine::LIMIT, &mut c).output;
    if !out.status.success() {
        eprintln!(
            "drive_helper {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// Removes the drive letters a test defined, also when it fails.
struct DriveGuard(&'static [&'static str]);

impl Drop for DriveGuard {
    fn drop(&mut self) {
        for l in self.0 {
            drive(&["remove", l]);
        }
    }
}

/// `kensa.exe run` in the background, its log in a file; killed (and
/// waited for) on drop.
struct AgentGuard {
    child: Child,
    log: PathBuf,
}

impl AgentGuard {
    fn start(env: &TestEnv, extra: &[&str]) -> AgentGuard {
        let log = env.base().join("agent.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut c = win().kensa(env);
        c.args(["-v", "run"]).args(extra);
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting kensa.exe run: {e}"));
        AgentGuard { child, log }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded by [`WAIT`]) until a log line holds every part of
    /// `parts`; returns that line.
    fn wait_line(&mut self, what: &str, parts: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if let Some(l) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return l.to_string();
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("the agent exited ({st}) before {what}; its log:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {WAIT:?}; the agent's log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for AgentGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stick(env: &TestEnv, name: &str, label: &str, serial: &str) -> PathBuf {
    env.file(format!("{name}/.windows-label"), label.as_bytes());
    env.file(format!("{name}/.windows-serial"), serial.as_bytes());
    env.root.join(name)
}

#[test]
fn removable_drive_arrives_is_judged_and_leaves() {
    let _one = AGENTS.lock().unwrap_or_else(|p| p.into_inner());
    let env = TestEnv::new();
    let bad = stick(&env, "bad", "BADSTICK", "1234abcd");
    env.file("bad/eicar.com", &support::eicar());
    env.file("bad/readme.txt", b"notes");
    let good = stick(&env, "good", "GOODSTICK", "00c0ffee");
    env.file("good/plan.txt", b"maintenance plan");
    let _drives = DriveGuard(&["e", "f"]);
    drive(&["remove", "e"]);
    drive(&["remove", "f"]);
    let mut agent = AgentGuard::start(&env, &[]);
    agent.wait_line("start", &["agent running"]);

    assert!(drive(&["define", "e", bad.to_str().unwrap()]), "define E:");
    let mounted = agent.wait_line("arrival of E:", &["medium mounted", r"E:\"]);
    assert!(mounted.contains("label=BADSTICK"), "{mounted}");
    assert!(mounted.contains("serial=1234-ABCD"), "{mounted}");
    let verdict = agent.wait_line("a verdict on E:", &["INFECTED, 1 finding"]);
    assert!(verdict.contains(r#"E:\\ "BADSTICK""#), "{verdict}");
    agent.wait_line(
        "a detection on E:",
        &["detection: malicious file", "eicar.com"],
    );
    let notice = agent.wait_line("the desktop notice outcome", &["desktop notice"]);
    assert!(notice.contains("kensa: INFECTED"), "{notice}");
    eprintln!("desktop notice under Wine: {notice}");

    assert!(drive(&["remove", "e"]), "remove E:");
    agent.wait_line("removal of E:", &["medium removed", r"E:\"]);

    assert!(drive(&["define", "f", good.to_str().unwrap()]), "define F:");
    let clean = agent.wait_line("a verdict on F:", &["GOODSTICK", ": CLEAN."]);
    assert!(clean.contains("3 files checked"), "{clean}");
    let text = agent.text();
    for fixed in [r"mount_point=C:\", r"mount_point=Z:\"] {
        assert!(
            !text.contains(fixed),
            "a fixed drive was taken for a medium:\n{text}"
        );
    }
}

#[test]
fn watched_host_directory_scans_a_new_file() {
    let _one = AGENTS.lock().unwrap_or_else(|p| p.into_inner());
    let env = TestEnv::new();
    let inbox = env.root.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let watch = zpath(&inbox);
    let mut agent = AgentGuard::start(&env, &["--watch", &watch]);
    agent.wait_line("the watch", &["watching host directory", "inbox"]);
    agent.wait_line("start", &["agent running"]);
    env.file("inbox/dropped.com", &support::eicar());
    let hit = agent.wait_line(
        "a detection in the watched directory",
        &["detection: malicious file", "dropped.com"],
    );
    assert!(hit.contains(support::EICAR_SHA256), "{hit}");
    agent.wait_line("the session's end", &["session finished", "findings=1"]);
}
