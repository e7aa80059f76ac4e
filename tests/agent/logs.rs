//! What a sysadmin sees of `kensa run` (issue 12, points 7 and 8): at the
//! default level one start line (version, rule digest and counts, pack,
//! agent id) and one per reload, plain lines without colour or Rust
//! `Debug` text when stderr is a file; under systemd (`JOURNAL_STREAM`
//! naming stderr) native journald datagrams whose finding entry carries
//! `KENSA_RULE`, `KENSA_SHA256`, `KENSA_SESSION` and `KENSA_PATH` (a socket
//! bound here stands in for journald, through the `KENSA_JOURNAL_SOCKET`
//! test hook); `-vv` without dependency chatter; and `kensa status` naming
//! the running agent's pid. No mounts needed: a watched host directory.

use crate::support::{eicar, TestEnv, EICAR_SHA256};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `kensa run` child killed on drop, its stderr in a file.
struct Run {
    child: Child,
    log: PathBuf,
    watched: PathBuf,
}

impl Run {
    /// `kensa run` at the default level over an empty media root and a
    /// watched directory, with extra environment variables.
    fn start(env: &TestEnv, vars: &[(&str, String)]) -> Run {
        let log = env.base().join("agent.log");
        let media = env.base().join("media");
        let watched = env.base().join("incoming");
        std::fs::create_dir_all(&media).unwrap();
        std::fs::create_dir_all(&watched).unwrap();
        let logf = std::fs::File::create(&log).unwrap();
        let mut cmd = env.command();
        cmd.arg("run")
            .arg("--media-root")
            .arg(&media)
            .arg("--watch")
            .arg(&watched)
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(logf);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start kensa run");
        Run {
            child,
            log,
            watched,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `n` lines containing `needle`; returns it.
    fn wait_log(&self, needle: &str, n: usize) -> String {
        let t = Instant::now();
        loop {
            let text = self.log_text();
            if text.lines().filter(|l| l.contains(needle)).count() >= n {
                return text;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{needle:?} not logged {n} time(s) within 30 s; log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn drop_eicar(&self) {
        std::fs::write(self.watched.join("eicar.com"), eicar()).unwrap();
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agent id `kensa status` reports for `env`.
fn agent_id(env: &TestEnv) -> String {
    let v = crate::support::journal::status_json(env);
    v["key"]["agent"]
        .as_str()
        .expect("an agent key")
        .to_string()
}

/// Text that would be Rust `Debug` output or a colour escape in a log.
fn assert_no_debug_or_ansi(text: &str) {
    for bad in ["\u{1b}", "Some(", "None", "Os {", "kind: ", "[\"", "\\\""] {
        assert!(!text.contains(bad), "{bad:?} in the log:\n{text}");
    }
}

#[test]
fn default_level_logs_one_start_line_one_per_reload_and_plain_findings() {
    let env = TestEnv::new();
    let run = Run::start(&env, &[]);
    run.wait_log("agent running", 1);
    // Give any other start-up line time to appear.
    std::thread::sleep(Duration::from_millis(1500));
    let text = run.log_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line at start:\n{text}");
    let start = lines[0];
    let agent = agent_id(&env);
    let digest = crate::support::journal::status_json(&env)["ruleset"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    for want in [
        format!("kensa {} agent running", env!("CARGO_PKG_VERSION")),
        format!("agent {agent}"),
        format!("digest={digest}"),
        format!("rules {}", &digest[..16]),
        "no rule pack".to_string(),
        "pack=none".to_string(),
        " rules=".to_string(),
        " hashes=".to_string(),
    ] {
        assert!(start.contains(&want), "{want:?} not in {start}");
    }
    assert!(start.contains(" INFO "), "{start}");

    run.drop_eicar();
    let text = run.wait_log("detection", 1);
    let finding = text.lines().find(|l| l.contains("detection")).unwrap();
    assert!(finding.contains(" WARN "), "{finding}");
    assert!(
        finding.contains(&format!("sha256={EICAR_SHA256}")),
        "{finding}"
    );
    assert!(finding.contains("verdict=malicious"), "{finding}");
    assert!(
        finding.contains("rule=") && finding.contains("session="),
        "{finding}"
    );

    // SIGHUP: exactly one more line, the reload.
    let before = run.log_text().lines().count();
    // SAFETY: kill(2) on our own child; no memory is shared.
    unsafe { libc::kill(run.child.id() as libc::pid_t, libc::SIGHUP) };
    run.wait_log("reloaded configuration and rules", 1);
    std::thread::sleep(Duration::from_millis(500));
    let text = run.log_text();
    let new: Vec<&str> = text.lines().skip(before).collect();
    assert_eq!(new.len(), 1, "one line per reload:\n{text}");
    assert!(new[0].contains(&format!("agent {agent}")) && new[0].contains(&digest[..16]));
    assert_no_debug_or_ansi(&text);
}

/// The fields of a journald native-protocol datagram, in order.
fn parse_datagram(d: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < d.len() {
        let nl = i + d[i..].iter().position(|&b| b == b'\n').expect("field ends");
        match d[i..nl].iter().position(|&b| b == b'=') {
            Some(eq) => {
                let name = String::from_utf8(d[i..i + eq].to_vec()).unwrap();
                out.push((name, d[i + eq + 1..nl].to_vec()));
                i = nl + 1;
            }
            None => {
                let name = String::from_utf8(d[i..nl].to_vec()).unwrap();
                let len = u64::from_le_bytes(d[nl + 1..nl + 9].try_into().unwrap()) as usize;
                let start = nl + 9;
                assert_eq!(
                    d[start + len],
                    b'\n',
                    "binary field {name} ends in a newline"
                );
                out.push((name, d[start..start + len].to_vec()));
                i = start + len + 1;
            }
        }
    }
    out
}

fn values<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
        .collect()
}

/// Receives datagrams until one has a `MESSAGE` containing `needle`.
fn receive(sock: &UnixDatagram, needle: &str) -> Vec<(String, Vec<u8>)> {
    let t = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        assert!(t.elapsed() < Duration::from_secs(30), "no {needle:?} entry");
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        let fields = parse_datagram(&buf[..n]);
        if values(&fields, "MESSAGE")
            .iter()
            .any(|m| m.contains(needle))
        {
            return fields;
        }
    }
}

#[test]
fn under_systemd_findings_go_to_journald_with_fields() {
    let env = TestEnv::new();
    let sock_path = env.base().join("journal.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // systemd sets JOURNAL_STREAM to DEVICE:INODE of the stream it gives
    // stderr; here stderr is the log file.
    let log = env.base().join("agent.log");
    std::fs::File::create(&log).unwrap();
    let m = std::fs::metadata(&log).unwrap();
    let stream = format!("{}:{}", m.dev(), m.ino());
    let run = Run::start(
        &env,
        &[
            ("JOURNAL_STREAM", stream),
            (
                "KENSA_JOURNAL_SOCKET",
                sock_path.to_string_lossy().into_owned(),
            ),
        ],
    );
    let start = receive(&sock, "agent running");
    let agent = agent_id(&env);
    assert_eq!(values(&start, "SYSLOG_IDENTIFIER"), ["kensa"]);
    assert_eq!(values(&start, "PRIORITY"), ["6"]);
    assert_eq!(values(&start, "KENSA_AGENT"), [agent.as_str()]);
    assert_eq!(values(&start, "KENSA_PACK"), ["none"]);
    assert_eq!(values(&start, "KENSA_DIGEST")[0].len(), 64);

    run.drop_eicar();
    let f = receive(&sock, "detection");
    assert_eq!(values(&f, "PRIORITY"), ["4"]);
    assert_eq!(values(&f, "KENSA_SHA256"), [EICAR_SHA256]);
    let rules = values(&f, "KENSA_RULE");
    assert!(
        rules.contains(&"EICAR_Test_File"),
        "one KENSA_RULE per matched rule: {rules:?}"
    );
    let path = run.watched.join("eicar.com");
    assert_eq!(values(&f, "KENSA_PATH"), [path.to_str().unwrap()]);
    let session = values(&f, "KENSA_SESSION");
    // The line is logged as the record goes to the journal.
    let (recs, _) =
        crate::agent::wait_journal(&env.state, Duration::from_secs(10), "finding", |r| {
            r.iter().any(|v| v["type"] == "finding")
        });
    let finding = recs.iter().find(|r| r["type"] == "finding").unwrap();
    assert_eq!(session, [finding["session"].as_str().unwrap()]);
    // Everything went to journald: nothing on stderr.
    assert_eq!(run.log_text(), "");
}

#[test]
fn very_verbose_shows_kensa_debug_but_no_compiler_chatter() {
    let env = TestEnv::new();
    env.file("a.txt", b"hello");
    // A fresh state dir: the rules are compiled (wasmtime, cranelift).
    let out = env.run(["-vv".as_ref(), "scan".as_ref(), env.root.as_os_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DEBUG") && err.contains("rules loaded"),
        "{err}"
    );
    for chatter in ["timing:", "egraph", "cranelift", "wasmtime", "Number of"] {
        assert!(!err.contains(chatter), "{chatter:?} at -vv:\n{err}");
    }
    assert!(err.lines().count() < 20, "{err}");
    assert_no_debug_or_ansi(&err);
}

/// `kensa status --format json` and text in `env`.
fn status(env: &TestEnv) -> (serde_json::Value, String) {
    let v = crate::support::journal::status_json(env);
    let out = env.run(["status"]);
    (v, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn status_names_the_running_agent_and_its_pid() {
    let env = TestEnv::new();
    let mut run = Run::start(&env, &[]);
    run.wait_log("agent running", 1);
    let pid = run.child.id();
    let (v, text) = status(&env);
    assert_eq!(v["agent"]["running"], true);
    assert_eq!(v["agent"]["pid"], pid);
    assert!(
        text.starts_with(&format!(
            "agent:      running, pid {pid} (holds the journal lock)\n"
        )),
        "{text}"
    );
    // SAFETY: kill(2) on our own child; no memory is shared.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(run.child.wait().unwrap().code(), Some(0));
    let (v, text) = status(&env);
    assert_eq!(v["agent"]["running"], false);
    assert!(text.starts_with("agent:      no agent running\n"), "{text}");
}

#[test]
fn a_watch_that_fails_is_one_plain_error_line() {
    let env = TestEnv::new();
    let missing = env.base().join("no-such-dir");
    let mut run = Run::start(&env, &[]);
    run.child.kill().unwrap();
    run.child.wait().unwrap();
    let logf = std::fs::File::create(&run.log).unwrap();
    run.child = env
        .command()
        .arg("run")
        .arg("--media-root")
        .arg(env.base().join("media"))
        .arg("--watch")
        .arg(&missing)
        .stdout(Stdio::null())
        .stderr(logf)
        .spawn()
        .unwrap();
    let text = run.wait_log("agent running", 1);
    let line = text
        .lines()
        .find(|l| l.contains("cannot watch"))
        .unwrap_or_else(|| panic!("no error line:\n{text}"));
    assert!(line.contains(" ERROR cannot watch: "), "{line}");
    assert!(
        line.contains(&format!("dir={}", missing.display())),
        "{line}"
    );
    assert_no_debug_or_ansi(&text);
}
