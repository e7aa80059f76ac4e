//! `kensa run --watch` against a hostile watched directory: a watched
//! subdirectory renamed and replaced by a symlink to another directory
//! before its new file is scanned must not lead the scan outside (the
//! outside file holds EICAR: any read of it is a finding); and SIGTERM
//! while a watched file never ends (`/proc/PID/pagemap` bind-mounted over
//! it) and another blocks in the kernel forever (a tracefs `trace_pipe`)
//! still closes the session with an incomplete summary.

use crate::agent::{journal, require_root, wait_journal, Agent, MountGuard};
use crate::support::{eicar, run_ok, TestEnv, EICAR_SHA256};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn session_with_path<'a>(recs: &'a [serde_json::Value], path: &Path) -> Option<&'a str> {
    let p = path.display().to_string();
    recs.iter()
        .find(|r| {
            r["type"] == "session"
                && r["paths"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|x| x == p.as_str()))
        })
        .and_then(|r| r["id"].as_str())
}

fn summary_of<'a>(recs: &'a [serde_json::Value], id: &str) -> Option<&'a serde_json::Value> {
    recs.iter()
        .find(|r| r["type"] == "summary" && r["session"] == id)
}

#[test]
fn watched_subdirectory_swapped_for_a_symlink_is_not_followed() {
    require_root();
    let env = TestEnv::new();
    let media = env.base().join("media");
    let watched = env.base().join("incoming");
    let outside = env.base().join("outside");
    for d in [&media, &watched.join("sub"), &outside] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(outside.join("new.txt"), eicar()).unwrap();
    let mut agent = Agent::start(&env, &media, &["--watch", watched.to_str().unwrap()]);

    // A new file in a watched subdirectory; before it settles, the
    // subdirectory is renamed away and a symlink to `outside` (holding a
    // file of the same name) takes its place.
    let new = watched.join("sub/new.txt");
    std::fs::write(&new, b"benign").unwrap();
    std::fs::rename(watched.join("sub"), watched.join("sub.old")).unwrap();
    std::os::unix::fs::symlink(&outside, watched.join("sub")).unwrap();

    let (recs, took) = wait_journal(
        &env.state,
        Duration::from_secs(20),
        "the session over the changed file",
        |r| session_with_path(r, &new).is_some_and(|id| summary_of(r, id).is_some()),
    );
    eprintln!("swapped watch: session over {took:?}");
    // Any other session started by the swap ends too.
    std::thread::sleep(Duration::from_millis(2500));
    let recs = {
        let later = journal(&env.state);
        if later.len() >= recs.len() {
            later
        } else {
            recs
        }
    };
    let text = serde_json::to_string(&recs).unwrap();
    assert!(
        !text.contains(EICAR_SHA256) && !recs.iter().any(|r| r["type"] == "finding"),
        "a file outside the watched directory was read: {recs:#?}"
    );
    assert!(agent.alive());
    agent.signal(libc::SIGTERM);
}

#[test]
fn sigterm_closes_a_session_stuck_on_endless_and_blocked_watched_files() {
    require_root();
    let env = TestEnv::new();
    let media = env.base().join("media");
    let watched = env.base().join("incoming");
    let tracefs = env.base().join("tracefs");
    for d in [&media, &watched, &tracefs] {
        std::fs::create_dir_all(d).unwrap();
    }
    // One trace_pipe reader at a time across test binaries.
    let lock = std::fs::File::create("/tmp/kensa-test-trace-pipe.lock").unwrap();
    // SAFETY: flock on a descriptor we own.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0);
    let out = Command::new("mount")
        .args(["-t", "tracefs", "nodev"])
        .arg(&tracefs)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "this test needs tracefs (mount -t tracefs) for a read that blocks forever: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _trace_mount = MountGuard(tracefs.clone());
    let mut sleeper = Command::new("sleep")
        .arg("600")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = Agent::start(&env, &media, &["--watch", watched.to_str().unwrap()]);

    // Two new files; before they settle, an endless file and a blocking
    // one are bind-mounted over them.
    let (endless, blocked) = (watched.join("endless"), watched.join("blocked"));
    std::fs::write(&endless, b"").unwrap();
    std::fs::write(&blocked, b"").unwrap();
    let pagemap = format!("/proc/{}/pagemap", sleeper.id());
    run_ok(
        Command::new("mount")
            .arg("--bind")
            .arg(&pagemap)
            .arg(&endless),
    );
    let _m1 = MountGuard(endless.clone());
    run_ok(
        Command::new("mount")
            .arg("--bind")
            .arg(tracefs.join("trace_pipe"))
            .arg(&blocked),
    );
    let _m2 = MountGuard(blocked.clone());

    let (recs, _) = wait_journal(
        &env.state,
        Duration::from_secs(20),
        "the session over the endless file",
        |r| session_with_path(r, &endless).is_some(),
    );
    let id = session_with_path(&recs, &endless).unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        summary_of(&journal(&env.state), &id).is_none(),
        "the session ended before SIGTERM"
    );
    let (status, _) = agent.terminate(Duration::from_secs(10));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(status.code(), Some(0), "{}", agent.log_text());
    let recs = journal(&env.state);
    let summary = summary_of(&recs, &id)
        .unwrap_or_else(|| panic!("the stopped session has no summary: {recs:#?}"));
    assert_eq!(summary["completed"], false, "{summary}");
}
