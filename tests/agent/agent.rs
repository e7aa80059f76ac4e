//! End-to-end tests of `kensa run` with real mounts: a FAT image mounted
//! with FUSE (fusefat), ext4 images loop-mounted, lazy unmounts mid-scan,
//! SIGTERM and SIGHUP. They need root, /dev/fuse and loop devices, as CI
//! has; tests/run-all.sh installs fusefat, dosfstools, mtools, e2fsprogs.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

pub(crate) fn require_root() {
    assert_eq!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() },
        0,
        "the agent end-to-end tests mount file systems and must run as root (CI does)"
    );
}

/// Unmounts (lazily) on drop so a failing test leaves no mount behind.
pub(crate) struct MountGuard(pub(crate) PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A FAT image with the given files, made with mkfs.vfat and mcopy.
fn fat_image(dir: &Path, name: &str, label: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let img = dir.join(name);
    run_ok(Command::new("truncate").arg("-s").arg("16M").arg(&img));
    run_ok(Command::new("mkfs.vfat").arg("-n").arg(label).arg(&img));
    for (fname, content) in files {
        let src = dir.join(format!("src-{fname}"));
        std::fs::write(&src, content).unwrap();
        run_ok(
            Command::new("mcopy")
                .arg("-i")
                .arg(&img)
                .arg(&src)
                .arg(format!("::/{fname}")),
        );
    }
    img
}

/// An ext4 image filled from a directory (mkfs.ext4 -d).
fn ext4_image(dir: &Path, name: &str, label: &str, size: &str, content: &Path) -> PathBuf {
    let img = dir.join(name);
    run_ok(Command::new("truncate").arg("-s").arg(size).arg(&img));
    run_ok(
        Command::new("mkfs.ext4")
            .args(["-q", "-L", label, "-d"])
            .arg(content)
            .arg(&img),
    );
    img
}

pub(crate) struct Agent {
    pub(crate) child: Child,
    log: PathBuf,
}

impl Agent {
    pub(crate) fn start(env: &TestEnv, media_root: &Path, extra: &[&str]) -> Agent {
        let log = env.base().join("agent.log");
        let logf = std::fs::File::create(&log).unwrap();
        let child = env
            .command()
            .arg("-v")
            .arg("run")
            .arg("--media-root")
            .arg(media_root)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("start kensa run");
        let a = Agent { child, log };
        a.wait_log("agent running", Duration::from_secs(30));
        a
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str, timeout: Duration) {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{needle:?} not logged within {timeout:?}; log:\n{}",
            self.log_text()
        );
    }

    pub(crate) fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child; no memory is shared.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    pub(crate) fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits for the agent to exit, failing the test if
    /// it takes longer than `limit`; returns how it exited and how long it
    /// took (printed too).
    pub(crate) fn terminate(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        self.signal(libc::SIGTERM);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t.elapsed() < limit,
                "SIGTERM must stop the agent within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        eprintln!("SIGTERM to exit: {:?}", t.elapsed());
        (status, t.elapsed())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every record in the journal, in order (the library's reader: a bad line
/// fails the test).
pub(crate) fn journal(state: &Path) -> Vec<serde_json::Value> {
    support::journal::records(state)
}

/// Waits until `pred` holds over the journal; returns the records.
pub(crate) fn wait_journal(
    state: &Path,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> (Vec<serde_json::Value>, Duration) {
    let t = Instant::now();
    loop {
        let recs = journal(state);
        if pred(&recs) {
            return (recs, t.elapsed());
        }
        if t.elapsed() > timeout {
            panic!("{what}: not in the journal within {timeout:?}; journal: {recs:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finding_under<'a>(
    recs: &'a [serde_json::Value],
    prefix: &str,
    name: &str,
) -> Option<&'a serde_json::Value> {
    recs.iter().find(|r| {
        r["type"] == "finding"
            && r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with(prefix) && p.to_ascii_lowercase().ends_with(name))
    })
}

#[test]
fn fuse_fat_medium_is_scanned_and_watched_then_ext4_loop_medium_too() {
    require_root();
    let env = TestEnv::new();
    let media = env.base().join("media");
    std::fs::create_dir_all(media.join("stick")).unwrap();
    let mut agent = Agent::start(&env, &media, &[]);

    let img = fat_image(
        env.base(),
        "stick.img",
        "PLANTSTICK",
        &[
            ("eicar.com", eicar()),
            ("readme.txt", b"maintenance notes\n".to_vec()),
        ],
    );
    let mp = media.join("stick");
    run_ok(
        Command::new("fusefat")
            .arg("-o")
            .arg("rw+")
            .arg(&img)
            .arg(&mp),
    );
    let _g = MountGuard(mp.clone());
    let mp_s = mp.display().to_string();
    let (recs, took) = wait_journal(&env.state, Duration::from_secs(5), "FAT finding", |r| {
        finding_under(r, &mp_s, "eicar.com").is_some()
    });
    eprintln!("FUSE FAT medium: finding journaled {took:?} after mount");
    let f = finding_under(&recs, &mp_s, "eicar.com").unwrap();
    assert_eq!(f["sha256"], EICAR_SHA256);
    assert_eq!(f["location"], "removable");
    assert_eq!(f["taxonomy"]["event"], "precursor");
    let session = recs
        .iter()
        .find(|r| r["type"] == "session" && r["id"] == f["session"])
        .expect("the finding's session is journaled");
    assert_eq!(session["medium"]["mount_point"], mp_s);
    assert_eq!(session["medium"]["filesystem"], "fuse.fusefat");
    assert_eq!(session["medium"]["detected_by"], "media_root");
    assert!(session["medium"]["capacity"].as_u64().unwrap() > 10 << 20);
    assert!(session["agent"].as_str().is_some_and(|a| a.len() == 16));

    // A file written onto the mounted medium is scanned once writes settle.
    std::fs::write(mp.join("dropped.com"), eicar()).unwrap();
    let (_, took) = wait_journal(
        &env.state,
        Duration::from_secs(10),
        "new file finding",
        |r| finding_under(r, &mp_s, "dropped.com").is_some(),
    );
    eprintln!("file written to the medium: finding journaled {took:?} after the write");

    // An ext4 image loop-mounted under the media root.
    let content = env.base().join("ext-content");
    std::fs::create_dir_all(content.join("tools")).unwrap();
    std::fs::write(content.join("tools/payload.com"), eicar()).unwrap();
    std::fs::write(content.join("clean.txt"), b"ok").unwrap();
    let ext = ext4_image(env.base(), "ext.img", "EXTSTICK", "16M", &content);
    let mp2 = media.join("ext");
    std::fs::create_dir_all(&mp2).unwrap();
    run_ok(
        Command::new("mount")
            .arg("-o")
            .arg("loop,ro")
            .arg(&ext)
            .arg(&mp2),
    );
    let _g2 = MountGuard(mp2.clone());
    let mp2_s = mp2.display().to_string();
    let (recs, took) = wait_journal(&env.state, Duration::from_secs(5), "ext4 finding", |r| {
        finding_under(r, &mp2_s, "payload.com").is_some()
    });
    eprintln!("ext4 loop medium: finding journaled {took:?} after mount");
    let f = finding_under(&recs, &mp2_s, "payload.com").unwrap();
    let session = recs
        .iter()
        .find(|r| r["type"] == "session" && r["id"] == f["session"])
        .unwrap();
    assert_eq!(session["medium"]["filesystem"], "ext4");
    assert_eq!(session["medium"]["label"], "EXTSTICK");
    assert!(session["medium"]["uuid"]
        .as_str()
        .is_some_and(|u| u.len() == 36));
    assert!(session["medium"]["device"]
        .as_str()
        .unwrap()
        .starts_with("/dev/loop"));
    let warn = agent.log_text();
    assert!(
        warn.contains("WARN") && warn.contains("detection"),
        "a WARN line per detection: {warn}"
    );
    assert!(agent.alive());
}

#[test]
fn unmount_mid_scan_ends_session_incomplete_and_agent_carries_on() {
    require_root();
    let env = TestEnv::new();
    // A deliberately slow rule and one worker, so the scan of the medium
    // is still running when it disappears.
    let rules = env.base().join("slow.yar");
    std::fs::write(
        &rules,
        "rule Slow { condition: for any i in (0..filesize) : (for any j in (0..8) : (uint8(i) == j + 200)) }\n\
         rule Marker { strings: $m = \"MARKER-AFTER\" condition: $m }\n",
    )
    .unwrap();
    std::fs::write(&env.config, "[scan]\nthreads = 1\n").unwrap();
    let content = env.base().join("big");
    std::fs::create_dir_all(&content).unwrap();
    for i in 0..400 {
        std::fs::write(content.join(format!("f{i:04}.bin")), vec![0u8; 64 << 10]).unwrap();
    }
    let img = ext4_image(env.base(), "big.img", "BIG", "64M", &content);
    let media = env.base().join("media");
    let mp = media.join("big");
    std::fs::create_dir_all(&mp).unwrap();
    let mut agent = Agent::start(&env, &media, &["--rules", rules.to_str().unwrap()]);
    run_ok(
        Command::new("mount")
            .arg("-o")
            .arg("loop,ro")
            .arg(&img)
            .arg(&mp),
    );
    let guard = MountGuard(mp.clone());
    let mp_s = mp.display().to_string();
    wait_journal(&env.state, Duration::from_secs(5), "session start", |r| {
        r.iter()
            .any(|x| x["type"] == "session" && x["medium"]["mount_point"] == mp_s)
    });
    std::thread::sleep(Duration::from_millis(300));
    run_ok(Command::new("umount").arg("-l").arg(&mp));
    drop(guard);
    let (recs, _) = wait_journal(
        &env.state,
        Duration::from_secs(10),
        "incomplete summary",
        |r| {
            r.iter()
                .any(|x| x["type"] == "summary" && x["completed"] == false)
        },
    );
    let summary = recs
        .iter()
        .find(|x| x["type"] == "summary" && x["completed"] == false)
        .unwrap();
    assert!(
        summary["files"].as_u64().unwrap() < 400,
        "the scan was cut short: {summary}"
    );
    assert!(recs.iter().any(|x| x["type"] == "skip"
        && x["reason"] == "media_removed"
        && x["session"] == summary["session"]));
    assert!(agent.alive(), "the agent keeps running");

    // ... and still notices the next medium.
    let content2 = env.base().join("small");
    std::fs::create_dir_all(&content2).unwrap();
    std::fs::write(content2.join("m.txt"), b"xx MARKER-AFTER xx").unwrap();
    let img2 = ext4_image(env.base(), "small.img", "SMALL", "8M", &content2);
    let mp2 = media.join("small");
    std::fs::create_dir_all(&mp2).unwrap();
    run_ok(
        Command::new("mount")
            .arg("-o")
            .arg("loop,ro")
            .arg(&img2)
            .arg(&mp2),
    );
    let _g2 = MountGuard(mp2.clone());
    let mp2_s = mp2.display().to_string();
    wait_journal(&env.state, Duration::from_secs(5), "next medium", |r| {
        finding_under(r, &mp2_s, "m.txt").is_some()
    });
}

#[test]
fn sigterm_exits_0_quickly_and_sighup_with_broken_rules_keeps_old_ones() {
    require_root();
    let env = TestEnv::new();
    let rules = env.base().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.yar"),
        "rule Old_Rule { strings: $m = \"MARKER-OLD\" condition: $m }\n",
    )
    .unwrap();
    let media = env.base().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let watched = env.base().join("incoming");
    std::fs::create_dir_all(&watched).unwrap();
    let mut agent = Agent::start(
        &env,
        &media,
        &[
            "--rules",
            rules.to_str().unwrap(),
            "--watch",
            watched.to_str().unwrap(),
        ],
    );

    // Replace the good rule with a new one plus a file that does not compile.
    std::fs::write(
        rules.join("a.yar"),
        "rule New_Rule { strings: $m = \"MARKER-NEW\" condition: $m }\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("broken.yar"),
        "rule Broken { condition: no_such_thing }\n",
    )
    .unwrap();
    agent.signal(libc::SIGHUP);
    agent.wait_log("reload refused", Duration::from_secs(10));

    // A watched host directory: the old rule still applies, the new does not.
    std::fs::write(watched.join("old.txt"), b"MARKER-OLD").unwrap();
    std::fs::write(watched.join("new.txt"), b"MARKER-NEW").unwrap();
    let w = watched.display().to_string();
    let (recs, _) = wait_journal(&env.state, Duration::from_secs(10), "host finding", |r| {
        finding_under(r, &w, "old.txt").is_some()
    });
    let f = finding_under(&recs, &w, "old.txt").unwrap();
    assert_eq!(f["location"], "host");
    assert_eq!(f["taxonomy"]["event"], "malware_infection");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        finding_under(&journal(&env.state), &w, "new.txt").is_none(),
        "the refused rules must not be in use"
    );

    // A good reload is taken.
    std::fs::remove_file(rules.join("broken.yar")).unwrap();
    agent.signal(libc::SIGHUP);
    agent.wait_log("reloaded configuration and rules", Duration::from_secs(10));
    std::fs::write(watched.join("new2.txt"), b"MARKER-NEW").unwrap();
    wait_journal(
        &env.state,
        Duration::from_secs(10),
        "new rule finding",
        |r| finding_under(r, &w, "new2.txt").is_some(),
    );

    let (status, _) = agent.terminate(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn rule_pack_installed_while_the_agent_runs_is_journalled_by_the_agent() {
    let env = TestEnv::new();
    let media = env.base().join("media");
    std::fs::create_dir_all(&media).unwrap();
    // A publisher key and a pack built with the library.
    let publisher = kensa::keys::SecretKey::generate().unwrap();
    let pubfile = env.base().join("publisher.pub");
    publisher.public().save(&pubfile).unwrap();
    let src = env.base().join("pack-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("p.yar"),
        "rule Pack_Rule { strings: $m = \"MARKER-PACK\" condition: $m }\n",
    )
    .unwrap();
    let (bytes, manifest, _) = kensa::rules::pack::build(&src, 5, &publisher).unwrap();
    let pack = env.base().join("v5.pack");
    std::fs::write(&pack, bytes).unwrap();
    let out = env.run(["rules".as_ref(), "trust".as_ref(), pubfile.as_os_str()]);
    assert!(out.status.success());

    let mut agent = Agent::start(&env, &media, &["--no-scan-present"]);
    // The agent holds the journal: a journalled scan is refused clearly.
    env.file("x.txt", b"nothing");
    let out = env.run([
        "scan".as_ref(),
        "--journal".as_ref(),
        "--no-progress".as_ref(),
        env.root.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("held by another kensa process"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The install queues its record; the agent journals it on the reload.
    let out = env.run(["rules".as_ref(), "install".as_ref(), pack.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (recs, took) = wait_journal(&env.state, Duration::from_secs(10), "rules_change", |r| {
        r.iter().any(|v| v["type"] == "rules_change")
    });
    eprintln!("rules_change journalled {took:?} after the install returned");
    let c = recs.iter().find(|v| v["type"] == "rules_change").unwrap();
    assert_eq!(c["to"]["version"], 5);
    assert_eq!(c["to"]["digest"], manifest.digest());
    assert_eq!(c["publisher"], publisher.key_id_hex());
    agent.wait_log("reloaded configuration and rules", Duration::from_secs(10));
    agent.signal(libc::SIGTERM);
    assert_eq!(agent.child.wait().unwrap().code(), Some(0));
    let public =
        kensa::keys::PublicKey::load(&kensa::state::StateDir::new(env.state.clone()).public_key())
            .unwrap();
    kensa::journal::verify(
        &kensa::state::StateDir::new(env.state.clone()).journal_dir(),
        &public,
    )
    .unwrap();
}
