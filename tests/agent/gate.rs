//! End-to-end tests of the device gate (`kensa run --gate`) with loop
//! devices: a device is held exclusively from its uevent on, so `mount`
//! fails; a clean ext4 image becomes mountable after its verdict (or is
//! mounted read-only by kensa with `gate.mount`); an image with EICAR
//! stays held, `kensa status` lists it, `kensa release` frees it with a
//! journalled override; a parser killed by its own limit leaves the
//! device held and the agent up; SIGTERM releases held devices; the
//! verdicts reach a desktop session bus as freedesktop notifications (a
//! FAT image there: that test mounts nothing).
//!
//! Each test gates ONE loop device by its name (`gate.devices =
//! ["loopN"]`, N picked free from 150 up), not `loop*`: other tests on the
//! machine attach loop devices too, and a gate on `loop*` would hold
//! theirs. Images are ext4 (the kernel here mounts ext4; vfat, exfat,
//! iso9660 and udf modules are absent). Needs root and loop devices;
//! tests/run-all.sh installs e2fsprogs and dbus (dbus-daemon,
//! dbus-monitor). Every loop device and mount is undone on drop, also
//! when a test fails.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const VERDICT_LIMIT: Duration = Duration::from_secs(90);

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "the gate tests attach loop devices and mount them; they must run as root (CI does)"
    );
    assert!(
        Path::new("/dev/loop-control").exists(),
        "cannot run: no /dev/loop-control (loop devices are needed)"
    );
}

/// A loop device of a chosen number, detached on drop.
struct GateLoop {
    dev: PathBuf,
}

impl GateLoop {
    /// A free loop number from 150 up (spread by pid and by a counter, so
    /// tests running in parallel do not pick the same one; `losetup`
    /// refuses a busy one).
    fn pick() -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let start = 150 + (std::process::id() % 10) * 10;
        for _ in 0..150 {
            let n = start + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 150;
            let busy = Path::new(&format!("/sys/class/block/loop{n}/loop/backing_file")).exists();
            if !busy {
                return format!("loop{n}");
            }
        }
        panic!("cannot run: no free loop device number between 150 and 300");
    }

    fn attach(name: &str, image: &Path) -> GateLoop {
        let dev = PathBuf::from(format!("/dev/{name}"));
        let out = Command::new("losetup")
            .arg(&dev)
            .arg(image)
            .output()
            .expect("losetup runs");
        assert!(
            out.status.success(),
            "cannot attach {}: {}",
            dev.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        GateLoop { dev }
    }
}

impl Drop for GateLoop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// A mount made by the test (or by kensa), lazily unmounted on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `mount -o ro DEV DIR`: the mount on success, the error text otherwise.
fn try_mount(dev: &Path, dir: &Path) -> Result<Mount, String> {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("mount")
        .args(["-o", "ro"])
        .arg(dev)
        .arg(dir)
        .output()
        .expect("mount runs");
    if out.status.success() {
        Ok(Mount(dir.to_path_buf()))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// An ext4 image holding `files`, built without mounting (mkfs.ext4 -d).
fn ext4_image(dir: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let src = dir.join(format!("{name}.src"));
    std::fs::create_dir_all(&src).unwrap();
    for (f, data) in files {
        std::fs::write(src.join(f), data).unwrap();
    }
    let img = dir.join(name);
    run_ok(Command::new("truncate").arg("-s").arg("16M").arg(&img));
    run_ok(
        Command::new("mkfs.ext4")
            .args(["-q", "-L", "GATETEST", "-d"])
            .arg(&src)
            .arg(&img),
    );
    img
}

/// A FAT image holding `files` (mkfs.vfat + mcopy, no mount); for tests
/// that need no kernel mount (the kernel here has no vfat).
fn fat_image(dir: &Path, name: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    let img = dir.join(name);
    run_ok(Command::new("truncate").arg("-s").arg("16M").arg(&img));
    run_ok(Command::new("mkfs.vfat").args(["-n", "GATEFAT"]).arg(&img));
    for (f, data) in files {
        let src = dir.join(format!("{name}.{f}"));
        std::fs::write(&src, data).unwrap();
        run_ok(
            Command::new("mcopy")
                .arg("-i")
                .arg(&img)
                .arg(&src)
                .arg(format!("::/{f}")),
        );
    }
    img
}

fn clean_image(env: &TestEnv) -> PathBuf {
    ext4_image(
        env.base(),
        "clean.img",
        &[("readme.txt", b"maintenance notes\n".to_vec())],
    )
}

fn eicar_image(env: &TestEnv) -> PathBuf {
    ext4_image(
        env.base(),
        "eicar.img",
        &[("eicar.com", eicar()), ("readme.txt", b"notes\n".to_vec())],
    )
}

/// `kensa run --gate` gating the loop device `name` only.
struct GateAgent {
    child: Child,
    log: PathBuf,
}

impl GateAgent {
    fn start(env: &TestEnv, name: &str, gate_extra: &str, envs: &[(&str, &str)]) -> GateAgent {
        let media = env.base().join("media");
        std::fs::create_dir_all(&media).unwrap();
        let mut cfg = std::fs::read_to_string(&env.config).unwrap();
        cfg.push_str(&format!(
            "[gate]\ndevices = [\"{name}\"]\nmedia_root = \"{}\"\n{gate_extra}\n",
            env.base().join("gated").display()
        ));
        std::fs::write(&env.config, cfg).unwrap();
        let log = env.base().join("agent.log");
        let mut cmd = env.command();
        cmd.arg("-v")
            .arg("run")
            .arg("--gate")
            .arg("--media-root")
            .arg(&media)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start kensa run --gate");
        let a = GateAgent { child, log };
        a.wait_log("agent running", Duration::from_secs(60));
        assert!(a.log_text().contains("device gate on"), "{}", a.log_text());
        a
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str, limit: Duration) {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{needle:?} not logged within {limit:?}; log:\n{}",
            self.log_text()
        );
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "SIGTERM must stop the agent"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GateAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `gate` records of the journal for `dev`.
fn gate_records(state: &Path, dev: &Path) -> Vec<serde_json::Value> {
    let dev = dev.display().to_string();
    support::journal::records(state)
        .into_iter()
        .filter(|r| r["type"] == "gate" && r["device"] == dev.as_str())
        .collect()
}

/// Waits for the gate's verdict on `dev` (the first `released`,
/// `mounted` or `blocked` record) and checks it is `want`.
fn wait_verdict(env: &TestEnv, agent: &GateAgent, dev: &Path, want: &str) -> serde_json::Value {
    let t = Instant::now();
    loop {
        let verdict = gate_records(&env.state, dev).into_iter().find(|r| {
            matches!(
                r["action"].as_str(),
                Some("released" | "mounted" | "blocked")
            )
        });
        if let Some(r) = verdict {
            eprintln!("verdict after {:?}: {r}", t.elapsed());
            assert_eq!(r["action"], want, "{r}\nlog:\n{}", agent.log_text());
            return r;
        }
        assert!(
            t.elapsed() < VERDICT_LIMIT,
            "no verdict on {} within {VERDICT_LIMIT:?}; log:\n{}",
            dev.display(),
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a `gate` record with `action` for `dev`; returns it.
fn wait_action(env: &TestEnv, agent: &GateAgent, dev: &Path, action: &str) -> serde_json::Value {
    let t = Instant::now();
    loop {
        if let Some(r) = gate_records(&env.state, dev)
            .into_iter()
            .find(|r| r["action"] == action)
        {
            eprintln!("{action} after {:?}: {}", t.elapsed(), r["reason"]);
            return r;
        }
        assert!(
            t.elapsed() < VERDICT_LIMIT,
            "no gate record {action:?} for {} within {VERDICT_LIMIT:?}; records: {:#?}\nlog:\n{}",
            dev.display(),
            gate_records(&env.state, dev),
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The session record `id`'s summary.
fn summary_of(state: &Path, id: &str) -> serde_json::Value {
    support::journal::records(state)
        .into_iter()
        .find(|r| r["type"] == "summary" && r["session"] == id)
        .unwrap_or_else(|| panic!("no summary of session {id}"))
}

#[test]
fn clean_image_is_held_then_released_and_mountable() {
    require_root();
    let env = TestEnv::new();
    let name = GateLoop::pick();
    let agent = GateAgent::start(&env, &name, "", &[]);
    let img = clean_image(&env);
    let lp = GateLoop::attach(&name, &img);
    let held = wait_action(&env, &agent, &lp.dev, "held");
    assert!(
        held["reason"].as_str().unwrap().contains("gate.devices"),
        "{held}"
    );
    let released = wait_verdict(&env, &agent, &lp.dev, "released");
    let session = released["session"].as_str().expect("the judging session");
    let sum = summary_of(&env.state, session);
    assert_eq!(sum["completed"], true, "{sum}");
    assert_eq!(sum["findings"], 0, "{sum}");
    assert_eq!(sum["gaps"], 0, "{sum}");
    let m = try_mount(&lp.dev, &env.base().join("mnt"))
        .expect("a clean medium mounts after its verdict");
    assert!(m.0.join("readme.txt").exists());
    let status = support::journal::status_json(&env);
    assert_eq!(status["gate"]["devices"], serde_json::json!([]), "{status}");
}

#[test]
fn clean_image_is_mounted_by_kensa_read_only_nosuid_nodev_noexec() {
    require_root();
    let env = TestEnv::new();
    let name = GateLoop::pick();
    let agent = GateAgent::start(&env, &name, "mount = true", &[]);
    let img = clean_image(&env);
    let lp = GateLoop::attach(&name, &img);
    let rec = wait_verdict(&env, &agent, &lp.dev, "mounted");
    let gated = env.base().join("gated");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    // Fields: id parent dev root MOUNT_POINT OPTIONS ... - TYPE SOURCE ...
    let line = info
        .lines()
        .find(|l| {
            let source = l.split(" - ").nth(1).and_then(|r| r.split(' ').nth(1));
            source == Some(&lp.dev.display().to_string())
        })
        .unwrap_or_else(|| panic!("{} not in mountinfo:\n{info}", lp.dev.display()));
    let target = PathBuf::from(line.split(' ').nth(4).unwrap());
    let _m = Mount(target.clone());
    assert!(target.starts_with(&gated), "{line}");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains(&target.display().to_string()),
        "{rec}"
    );
    let opts: Vec<&str> = line.split(' ').nth(5).unwrap().split(',').collect();
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&o), "mount options {opts:?} lack {o}: {line}");
    }
    assert!(target.join("readme.txt").exists());
}

#[test]
fn eicar_image_stays_held_until_released_by_a_named_person() {
    require_root();
    let env = TestEnv::new();
    let name = GateLoop::pick();
    let agent = GateAgent::start(&env, &name, "", &[]);
    let img = eicar_image(&env);
    let lp = GateLoop::attach(&name, &img);
    let blocked = wait_action(&env, &agent, &lp.dev, "blocked");
    assert!(
        blocked["reason"].as_str().unwrap().starts_with("found "),
        "{blocked}"
    );
    let mnt = env.base().join("mnt");
    let err = try_mount(&lp.dev, &mnt)
        .err()
        .expect("a held device must not mount");
    eprintln!("mount while held: {}", err.trim());

    let status = support::journal::status_json(&env);
    let devices = status["gate"]["devices"].as_array().expect("gate devices");
    assert_eq!(devices.len(), 1, "{status}");
    assert_eq!(devices[0]["device"], lp.dev.display().to_string());
    assert_eq!(devices[0]["state"], "blocked");
    assert!(devices[0]["reason"].as_str().unwrap().starts_with("found "));
    let text = String::from_utf8(env.run(["status"]).stdout).unwrap();
    assert!(text.contains("gate:       1 device held"), "{text}");
    assert!(text.contains("BLOCKED since"), "{text}");

    let out = env.run(["release", "/dev/loop0x", "--by", "alice", "--note", "n"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("not held by the gate"), "{e}");

    let dev = lp.dev.display().to_string();
    let out = env.run([
        "release",
        &dev,
        "--by",
        "alice",
        "--note",
        "test file, checked by hand",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let over = wait_action(&env, &agent, &lp.dev, "overridden");
    assert_eq!(over["by"], "alice");
    assert_eq!(over["note"], "test file, checked by hand");
    assert_eq!(over["session"], blocked["session"]);
    wait_action(&env, &agent, &lp.dev, "released");
    let _m = try_mount(&lp.dev, &mnt).expect("a released device mounts");
}

#[test]
fn release_without_an_agent_says_so() {
    let env = TestEnv::new();
    let out = env.run(["release", "/dev/sdz", "--by", "bob", "--note", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("no agent with the gate is running"), "{e}");
}

#[test]
fn parser_killed_by_its_limit_leaves_the_device_held_and_the_agent_up() {
    require_root();
    let env = TestEnv::new();
    let name = GateLoop::pick();
    let mut agent = GateAgent::start(&env, &name, "", &[("KENSA_TEST_PARSER_FAULT", "alloc")]);
    let img = clean_image(&env);
    let lp = GateLoop::attach(&name, &img);
    let blocked = wait_action(&env, &agent, &lp.dev, "blocked");
    assert!(
        blocked["reason"]
            .as_str()
            .unwrap()
            .starts_with("incomplete"),
        "{blocked}"
    );
    let session = blocked["session"].as_str().unwrap();
    let sum = summary_of(&env.state, session);
    assert!(sum["gaps"].as_u64().unwrap() > 0, "{sum}");
    let skips: Vec<serde_json::Value> = support::journal::records(&env.state)
        .into_iter()
        .filter(|r| r["type"] == "skip" && r["session"] == session)
        .collect();
    assert!(
        skips.iter().any(|s| s["reason"] == "corrupt"),
        "the parser's death is a corrupt skip: {skips:#?}"
    );
    assert!(agent.alive(), "the agent must survive a parser death");
    try_mount(&lp.dev, &env.base().join("mnt"))
        .err()
        .expect("a device whose parser died stays held");
}

#[test]
fn sigterm_releases_held_devices() {
    require_root();
    let env = TestEnv::new();
    let name = GateLoop::pick();
    let mut agent = GateAgent::start(&env, &name, "", &[]);
    let img = eicar_image(&env);
    let lp = GateLoop::attach(&name, &img);
    wait_action(&env, &agent, &lp.dev, "blocked");
    let status = agent.terminate();
    assert!(status.success(), "{status:?}\n{}", agent.log_text());
    let last = gate_records(&env.state, &lp.dev).pop().unwrap();
    assert_eq!(last["action"], "released", "{last}");
    assert_eq!(last["reason"], "the agent stopped");
    assert!(!env.state.join("gate.json").exists());
    assert!(!env.state.join("gate.sock").exists());
    let _m = try_mount(&lp.dev, &env.base().join("mnt")).expect("released on stop");
}

#[test]
fn keep_blocked_on_stop_says_a_loop_device_cannot_stay_blocked() {
    require_root();
    let env = TestEnv::new();
    let name = GateLoop::pick();
    let mut agent = GateAgent::start(&env, &name, "keep_blocked_on_stop = true", &[]);
    let img = eicar_image(&env);
    let lp = GateLoop::attach(&name, &img);
    wait_action(&env, &agent, &lp.dev, "blocked");
    assert!(agent.terminate().success());
    let last = gate_records(&env.state, &lp.dev).pop().unwrap();
    assert_eq!(last["action"], "released", "{last}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("not a USB device"),
        "{last}"
    );
}

/// A private session bus and a monitor on it, both stopped on drop.
struct Bus {
    daemon: Child,
    monitor: Child,
    address: String,
    out: PathBuf,
}

impl Bus {
    fn start(dir: &Path) -> Bus {
        let sock = dir.join("bus");
        let address = format!("unix:path={}", sock.display());
        let daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--address", &address])
            .stdout(Stdio::null())
            .spawn()
            .expect("cannot run: dbus-daemon is missing (apt-get install dbus-daemon)");
        let t = Instant::now();
        while !sock.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "dbus-daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = dir.join("monitor.txt");
        let monitor = Command::new("dbus-monitor")
            .args(["--address", &address])
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run: dbus-monitor is missing (apt-get install dbus-bin)");
        let b = Bus {
            daemon,
            monitor,
            address,
            out,
        };
        b.wait("NameAcquired", Duration::from_secs(10));
        b
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn wait(&self, needle: &str, limit: Duration) {
        let t = Instant::now();
        while !self.text().contains(needle) {
            assert!(
                t.elapsed() < limit,
                "{needle:?} not on the bus within {limit:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.monitor.kill();
        let _ = self.monitor.wait();
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

#[test]
fn verdicts_reach_the_desktop_as_notifications() {
    require_root();
    let env = TestEnv::new();
    let bus = Bus::start(env.base());
    let name = GateLoop::pick();
    let agent = GateAgent::start(&env, &name, "", &[("KENSA_TEST_NOTIFY_BUS", &bus.address)]);
    let img = fat_image(env.base(), "eicar-fat.img", &[("eicar.com", eicar())]);
    let lp = GateLoop::attach(&name, &img);
    wait_action(&env, &agent, &lp.dev, "blocked");
    bus.wait("string \"kensa: medium blocked\"", Duration::from_secs(20));
    let text = bus.text();
    assert!(text.contains("member=Notify"), "{text}");
    assert!(text.contains("string \"kensa: medium held\""), "{text}");
    let blocked = text
        .split("member=Notify")
        .find(|m| m.contains("medium blocked"))
        .unwrap();
    assert!(
        blocked.contains(&name) && blocked.contains("found "),
        "{blocked}"
    );
    assert!(blocked.to_ascii_lowercase().contains("eicar"), "{blocked}");
}
