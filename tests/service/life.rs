//! The package's life under a booted systemd, in one container and in the
//! order a plant PC lives it: the previous release is installed, its
//! configuration edited, the service started (key created, start line in
//! `systemctl status`), a loop medium with EICAR noticed, a rule pack
//! installed; the new release is installed over it (conffile kept, state
//! kept, service restarted); under the shipped unit a second medium, a
//! large archive within `MemoryMax`, `systemctl reload`, `systemctl stop`
//! mid-scan within 5 s with a signed checkpoint, an export; no EPERM or
//! SIGSYS in any log; then the same actions under a drop-in that logs
//! (kernel audit) every system call the unit's filter would refuse, and
//! none is; finally `remove` keeps state and `purge` deletes the
//! configuration and keeps the journal unless debconf is told otherwise.

use crate::fixtures::{self, Debs, Packs};
use crate::lab::{self, poll, Container, Loop, Tmpfs};
use crate::support;

use serde_json::Value;
use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the test's files are inside the container.
const DIR: &str = "/root/kensa-test";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The unit's MemoryMax=512M.
const MEMORY_MAX: u64 = 512 << 20;

/// Fields drop in order: the container is powered off before its root's
/// tmpfs is unmounted, the loop devices are detached and the directory
/// holding everything is removed.
struct Lab {
    c: Container,
    _root: Tmpfs,
    stick: Loop,
    big: Loop,
    debs: Debs,
    packs: Packs,
    /// What every kensa and dpkg command printed in the container, checked
    /// for denials at the end.
    cli_output: RefCell<String>,
    _dir: tempfile::TempDir,
}

/// What the previous release left behind, to compare after the upgrade.
struct Before {
    key: Vec<u8>,
    agent: String,
    pid: u32,
    records: Vec<Value>,
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

impl Lab {
    /// Runs a command that must succeed; keeps its output for the final
    /// denial check.
    fn cli(&self, script: &str, limit_s: u64) -> String {
        let out = self.c.ok(script, limit_s);
        self.cli_output
            .borrow_mut()
            .push_str(&format!("$ {script}\n{out}\n"));
        out
    }

    fn unit_log(&self) -> String {
        self.c.ok("journalctl -b -u kensa --no-pager -o cat", 30)
    }

    fn journal(&self) -> Vec<Value> {
        support::journal::records(&self.c.path("/var/lib/kensa"))
    }

    fn main_pid(&self) -> u32 {
        let pid = self.c.ok("systemctl show -P MainPID kensa", 30);
        pid.trim().parse().unwrap_or(0)
    }

    fn is_active(&self) -> String {
        stdout(&self.c.sh("systemctl is-active kensa", 30))
    }

    fn agent_id(&self) -> String {
        let p = self.c.path("/var/lib/kensa/keys/agent.pub");
        kensa::keys::PublicKey::load(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .key_id_hex()
    }

    /// Fails with the unit's log and status when `probe` gives nothing.
    fn wait<T>(
        &self,
        what: &str,
        limit: Duration,
        probe: impl FnMut() -> Option<T>,
    ) -> (T, Duration) {
        match poll(limit, probe) {
            Some(v) => v,
            None => panic!(
                "{what}: not within {limit:?}\n{}\n{}",
                stdout(&self.c.sh("systemctl status kensa --no-pager -l -n 0", 30)),
                self.unit_log()
            ),
        }
    }

    fn wait_journal(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Duration {
        self.wait(what, limit, || pred(&self.journal()).then_some(()))
            .1
    }

    /// Waits until the unit's log has `n` lines containing `needle`.
    fn wait_log_count(&self, needle: &str, n: usize, limit: Duration) -> Duration {
        self.wait(
            &format!("{n} x {needle:?} in journalctl -u kensa"),
            limit,
            || (self.unit_log().matches(needle).count() >= n).then_some(()),
        )
        .1
    }

    /// `systemctl start kensa`: active, and the start line of this agent
    /// in `systemctl status`. Returns that line.
    fn start(&self) -> String {
        let runs = self.unit_log().matches("agent running").count();
        self.c.ok("systemctl start kensa", 60);
        assert_eq!(self.is_active(), "active");
        self.wait_log_count("agent running", runs + 1, Duration::from_secs(30));
        self.start_line()
    }

    /// The newest start line, as `systemctl status` shows it: version,
    /// agent id (the key's), rules.
    fn start_line(&self) -> String {
        let status = self.c.sh("systemctl status kensa --no-pager -l -n 100", 30);
        let status = String::from_utf8_lossy(&status.stdout).into_owned();
        let want = format!(
            "kensa {VERSION} agent running: agent {}, rules ",
            self.agent_id()
        );
        let line = status
            .lines()
            .rev()
            .find(|l| l.contains(&want))
            .unwrap_or_else(|| panic!("no start line {want:?} in systemctl status:\n{status}"));
        eprintln!("start line: {}", line.trim());
        line.to_string()
    }
}

fn findings_at<'a>(recs: &'a [Value], path: &str) -> Vec<&'a Value> {
    recs.iter()
        .filter(|r| r["type"] == "finding" && r["path"] == path)
        .collect()
}

fn session_of<'a>(recs: &'a [Value], id: &Value) -> &'a Value {
    recs.iter()
        .find(|r| r["type"] == "session" && &r["id"] == id)
        .expect("the finding's session is journalled")
}

/// Mounts the EICAR stick (a loop device) under /media: the finding is in
/// kensa's journal and in `journalctl -u kensa`, with its fields. Returns
/// how long after the mount it was journalled.
fn eicar_medium(lab: &Lab) -> Duration {
    let path = "/media/stick/eicar.com";
    let before = findings_at(&lab.journal(), path).len();
    let line = format!("detection: malicious file {path}");
    let detections = lab.unit_log().matches(&line).count();
    lab.c.mount_loop(&lab.stick, "/media/stick");
    let took = lab.wait_journal(
        "EICAR finding of the loop medium",
        Duration::from_secs(30),
        |r| findings_at(r, path).len() > before,
    );
    let recs = lab.journal();
    let f = *findings_at(&recs, path).last().unwrap();
    assert_eq!(f["sha256"], support::EICAR_SHA256);
    let medium = &session_of(&recs, &f["session"])["medium"];
    assert_eq!(medium["device"], lab.stick.dev.as_str());
    assert_eq!(medium["detected_by"], "media_root");
    // Label and UUID come from the device itself, read through the unit's
    // DeviceAllow=block-loop r.
    assert_eq!(medium["label"], "STICK1", "{medium}");
    assert!(
        medium["uuid"].as_str().is_some_and(|u| u.len() == 36),
        "{medium}"
    );
    lab.wait_log_count(&line, detections + 1, Duration::from_secs(10));
    let fields = lab.c.ok(
        &format!(
            "journalctl -b -u kensa --no-pager -o cat KENSA_RULE=EICAR_Test_File KENSA_SESSION={}",
            f["session"].as_str().unwrap()
        ),
        30,
    );
    assert!(
        fields.contains(path),
        "journald fields of the detection:\n{fields}"
    );
    lab.c.ok("umount /media/stick", 30);
    took
}

/// `kensa rules install` while the service runs: the agent journals the
/// change and reloads with the pack.
fn install_pack(lab: &Lab, version: u64) {
    let reloads = lab
        .unit_log()
        .matches("reloaded configuration and rules")
        .count();
    lab.cli(&format!("kensa rules install {DIR}/v{version}.pack"), 120);
    let took = lab.wait_journal("rules_change", Duration::from_secs(30), |r| {
        r.iter()
            .any(|x| x["type"] == "rules_change" && x["to"]["version"] == version)
    });
    let recs = lab.journal();
    let change = recs
        .iter()
        .find(|x| x["type"] == "rules_change" && x["to"]["version"] == version)
        .unwrap();
    assert_eq!(change["publisher"], lab.packs.publisher.as_str());
    lab.wait_log_count(
        "reloaded configuration and rules",
        reloads + 1,
        Duration::from_secs(20),
    );
    let log = lab.unit_log();
    assert!(log.contains(&format!("rule pack v{version}")), "{log}");
    eprintln!("rule pack v{version}: rules_change journalled {took:?} after the install");
}

#[test]
fn the_package_and_its_service_under_a_booted_systemd() {
    lab::require_root();
    let t0 = Instant::now();
    let mut clock = Clock::new();
    let tar = lab::rootfs_tar();
    clock.lap("root file system (cache or mmdebstrap)");
    let lab = prepare(&tar);
    clock.lap("packages, images, archive, boot");
    let before = previous_release(&lab);
    clock.lap("previous release: install, start, medium, rule pack");
    upgrade(&lab, &before);
    clock.lap("upgrade");
    under_the_shipped_unit(&lab);
    clock.lap("new release under the shipped unit");
    filter_audit(&lab);
    clock.lap("system-call audit run");
    remove_and_purge(&lab);
    clock.lap("remove, purge");
    no_denials_in_the_logs(&lab);
    let mut lab = lab;
    if let Some(off) = lab.c.stop() {
        eprintln!("container powered off in {off:?}");
    }
    drop(lab);
    clock.lap("clean-up");
    eprintln!("service test: {:.1} s in all", t0.elapsed().as_secs_f64());
}

/// Prints how long each phase took.
struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now())
    }
    fn lap(&mut self, what: &str) {
        eprintln!("== {what}: {:.1} s", self.0.elapsed().as_secs_f64());
        self.0 = Instant::now();
    }
}

/// `stick.img` (ext4 "STICK1": eicar.com, readme.txt) and `big.img`
/// (ext4 "BIGLOGS": a zip of 540 MiB of text and an EICAR member).
fn media_images(dir: &Path) {
    let stick_src = dir.join("stick");
    std::fs::create_dir_all(&stick_src).unwrap();
    std::fs::write(stick_src.join("eicar.com"), support::eicar()).unwrap();
    std::fs::write(stick_src.join("readme.txt"), b"maintenance notes\n").unwrap();
    fixtures::ext4_image(&dir.join("stick.img"), "STICK1", 16, &stick_src);
    let big_src = dir.join("big");
    std::fs::create_dir_all(&big_src).unwrap();
    let content = fixtures::big_archive(&big_src.join("plant-logs.zip"), 6, 90);
    assert!(
        content > MEMORY_MAX,
        "the archive's content exceeds MemoryMax"
    );
    let big_size = std::fs::metadata(big_src.join("plant-logs.zip"))
        .unwrap()
        .len();
    fixtures::ext4_image(
        &dir.join("big.img"),
        "BIGLOGS",
        (big_size >> 20) + 48,
        &big_src,
    );
}

/// Builds the packages and media, unpacks a fresh root file system, puts
/// the files in it and boots it.
fn prepare(tar: &Path) -> Lab {
    let dir = tempfile::Builder::new()
        .prefix("service-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let debs = fixtures::debs(dir.path());
    let packs = fixtures::rule_packs(dir.path(), &[5, 6]);
    media_images(dir.path());
    let root = dir.path().join("root");
    let root_fs = Tmpfs::mount(&root, "1G");
    support::run_ok(
        std::process::Command::new("tar")
            .arg("-xf")
            .arg(tar)
            .arg("-C")
            .arg(&root),
    );
    let inside = root.join(DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::copy(&debs.new, inside.join("new.deb")).unwrap();
    std::fs::copy(&debs.prev, inside.join("prev.deb")).unwrap();
    std::fs::copy(&packs.publisher_pub, inside.join("publisher.pub")).unwrap();
    for (v, f) in &packs.packs {
        std::fs::copy(f, inside.join(format!("v{v}.pack"))).unwrap();
    }
    let stick = Loop::attach(&dir.path().join("stick.img"));
    let big = Loop::attach(&dir.path().join("big.img"));
    let c = Container::boot(&root, &dir.path().join("nspawn.log"));
    Lab {
        c,
        _root: root_fs,
        stick,
        big,
        debs,
        packs,
        cli_output: RefCell::new(String::new()),
        _dir: dir,
    }
}

/// The previous release: installed (enabled, not started), configuration
/// edited, started (key created), a medium, a rule pack.
fn previous_release(lab: &Lab) -> Before {
    lab.cli(&format!("dpkg -i {DIR}/prev.deb"), 180);
    assert_eq!(lab.c.ok("systemctl is-enabled kensa", 30).trim(), "enabled");
    assert_eq!(
        lab.is_active(),
        "inactive",
        "installing does not start the service"
    );
    assert!(!lab.c.path("/var/lib/kensa/keys/agent.pub").exists());
    // The plant's administrator allows archives up to 1 GiB of content.
    lab.c.ok(
        r#"sed -i 's/^max_total_size = "256M"$/max_total_size = "1G"/' /etc/kensa/kensa.toml
           grep -qx 'max_total_size = "1G"' /etc/kensa/kensa.toml"#,
        30,
    );
    lab.start();
    let agent = lab.agent_id();
    let took = eicar_medium(lab);
    eprintln!("previous release: EICAR medium journalled {took:?} after the mount");
    lab.cli(&format!("kensa rules trust {DIR}/publisher.pub"), 30);
    install_pack(lab, 5);
    Before {
        key: std::fs::read(lab.c.path("/var/lib/kensa/keys/agent.pub")).unwrap(),
        agent,
        pid: lab.main_pid(),
        records: lab.journal(),
    }
}

/// dpkg -i of the new release over the previous one, the conffile question
/// answered as Debian's unattended upgrades do (keep the admin's file).
fn upgrade(lab: &Lab, before: &Before) {
    let runs = lab.unit_log().matches("agent running").count();
    let out = lab.cli(
        &format!("dpkg --force-confdef --force-confold -i {DIR}/new.deb"),
        180,
    );
    let version = lab.c.ok("dpkg-query -W -f '${Version}' kensa", 30);
    assert_eq!(version.trim(), lab.debs.new_version, "{out}");
    assert_ne!(lab.debs.prev_version, lab.debs.new_version);
    // The edited configuration stays; the release's own is beside it.
    lab.c.ok(
        r#"grep -qx 'max_total_size = "1G"' /etc/kensa/kensa.toml"#,
        30,
    );
    let dist = std::fs::read_to_string(lab.c.path("/etc/kensa/kensa.toml.dpkg-dist"))
        .unwrap_or_else(|e| panic!("kensa.toml.dpkg-dist: {e}\n{out}"));
    let shipped = std::fs::read_to_string(support::repo().join("packaging/kensa.toml")).unwrap();
    assert_eq!(dist, shipped);
    // Restarted by the package: a new process and a second start line.
    assert_eq!(lab.is_active(), "active");
    let pid = lab.main_pid();
    assert!(
        pid != before.pid && pid != 0,
        "restarted: pid {} -> {pid}",
        before.pid
    );
    lab.wait_log_count("agent running", runs + 1, Duration::from_secs(30));
    // State kept: the same key, the journal continued, the pack in use.
    let key = std::fs::read(lab.c.path("/var/lib/kensa/keys/agent.pub")).unwrap();
    assert_eq!(key, before.key, "the agent key survives the upgrade");
    assert_eq!(lab.agent_id(), before.agent);
    let recs = lab.journal();
    assert!(recs.len() >= before.records.len());
    assert_eq!(&recs[..before.records.len()], &before.records[..]);
    let status = lab.c.ok("kensa rules status", 30);
    assert!(status.contains("version:    5"), "{status}");
    assert!(lab.start_line().contains("rule pack v5"));
    let verify = lab.c.ok("kensa verify --journal", 60);
    assert!(verify.starts_with("OK"), "{verify}");
    eprintln!(
        "upgrade {} -> {}: pid {} -> {pid}",
        lab.debs.prev_version, lab.debs.new_version, before.pid
    );
}

/// The unit's device policy as the kernel has it. With cgroup v1 the
/// allow list is readable: closed (no `a *:* rwm`), loop devices read-only.
/// With cgroup v2 it is a BPF program, which is not inspected here; the
/// medium's label read from its loop device shows the allowed side.
fn device_policy(lab: &Lab) {
    let out = lab.c.ok(
        r#"pid=$(systemctl show -P MainPID kensa)
           cg=$(sed -n 's/^[0-9]*:devices:\(.*\)$/\1/p' /proc/$pid/cgroup)
           f=/sys/fs/cgroup/devices$cg/devices.list
           if [ -n "$cg" ] && [ -f $f ]; then cat $f; else echo cgroup2; fi"#,
        30,
    );
    if out.trim() == "cgroup2" {
        eprintln!("device policy: cgroup v2 (a BPF program; not inspected)");
        return;
    }
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(!lines.contains(&"a *:* rwm"), "DevicePolicy=closed: {out}");
    assert!(
        lines.contains(&"b 7:* r"),
        "DeviceAllow=block-loop r: {out}"
    );
    // "b 0:0" names no device: systemd's placeholder in a closed list.
    let writable = |l: &&str| l.starts_with("b ") && !l.starts_with("b 0:0 ") && l.contains('w');
    assert!(
        !lines.iter().any(writable),
        "block devices read-only: {out}"
    );
    eprintln!(
        "device policy (cgroup v1 devices.list): {}",
        lines.join(", ")
    );
}

/// The new release under the shipped unit.
fn under_the_shipped_unit(lab: &Lab) {
    device_policy(lab);
    let took = eicar_medium(lab);
    eprintln!("new release: EICAR medium journalled {took:?} after the mount");
    memory_max_holds(lab);
    let reloads = lab
        .unit_log()
        .matches("reloaded configuration and rules")
        .count();
    lab.c.ok("systemctl reload kensa", 30);
    let took = lab.wait_log_count(
        "reloaded configuration and rules",
        reloads + 1,
        Duration::from_secs(20),
    );
    eprintln!("systemctl reload: reloaded after {took:?}");
    stop_mid_scan(lab);
    export(lab);
    lab.start();
}

/// The service's memory limit as the kernel has it, and its peak so far:
/// (limit, peak, note) from cgroup v1 or v2.
fn memory_cgroup(lab: &Lab) -> (u64, u64, String) {
    let out = lab.c.ok(
        r#"pid=$(systemctl show -P MainPID kensa)
           cg=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/$pid/cgroup)
           d=/sys/fs/cgroup/memory$cg
           if [ -n "$cg" ] && [ -f $d/memory.limit_in_bytes ]; then
               echo v1 $(cat $d/memory.limit_in_bytes $d/memory.max_usage_in_bytes $d/memory.failcnt)
           else
               cg=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/$pid/cgroup)
               d=/sys/fs/cgroup$cg
               echo v2 $(cat $d/memory.max $d/memory.peak) $(grep '^oom_kill ' $d/memory.events)
           fi"#,
        30,
    );
    let f: Vec<&str> = out.split_whitespace().collect();
    let num = |i: usize| {
        f.get(i)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    (num(1), num(2), out.trim().to_string())
}

fn vm_hwm_kib(lab: &Lab) -> u64 {
    let line = lab.c.ok(
        "grep '^VmHWM:' /proc/$(systemctl show -P MainPID kensa)/status",
        30,
    );
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("VmHWM: {line}"))
}

/// A medium with a zip of 540 MiB of content: the scan completes, finds
/// the EICAR member at its end, and the service stays inside MemoryMax.
fn memory_max_holds(lab: &Lab) {
    let (limit, _, raw) = memory_cgroup(lab);
    assert_eq!(
        limit, MEMORY_MAX,
        "the kernel holds the unit's MemoryMax=512M: {raw}"
    );
    let pid = lab.main_pid();
    let t = Instant::now();
    lab.c.mount_loop(&lab.big, "/media/big");
    let took = large_archive_scanned_whole(lab);
    let hwm = vm_hwm_kib(lab);
    let (limit, peak, raw) = memory_cgroup(lab);
    eprintln!(
        "large archive: scanned in {took:?} ({:?} since the mount); agent peak RSS {} MiB; cgroup: {raw}",
        t.elapsed(),
        hwm >> 10
    );
    assert_eq!(limit, MEMORY_MAX);
    assert!(peak <= MEMORY_MAX, "cgroup peak {peak} within the limit");
    assert!(
        hwm << 10 < MEMORY_MAX,
        "agent peak RSS {hwm} KiB under MemoryMax"
    );
    assert_eq!(
        lab.main_pid(),
        pid,
        "the agent was not killed and restarted"
    );
    assert_eq!(
        lab.c.ok("systemctl show -P NRestarts kensa", 30).trim(),
        "0"
    );
    lab.c.ok("umount /media/big", 30);
}

/// Waits for the summary of the large medium's session: complete, no skip
/// (the edited `max_total_size = "1G"` is in force), the EICAR member at
/// the archive's end found. Returns how long after the mount it came.
fn large_archive_scanned_whole(lab: &Lab) -> Duration {
    let done = |r: &[Value]| {
        let s = r
            .iter()
            .find(|x| x["type"] == "session" && x["medium"]["mount_point"] == "/media/big")?;
        r.iter()
            .find(|x| x["type"] == "summary" && x["session"] == s["id"])
            .cloned()
    };
    let (summary, took) = lab.wait(
        "the large archive's session summary",
        Duration::from_secs(600),
        || done(&lab.journal()),
    );
    let recs = lab.journal();
    let session = &summary["session"];
    let of = |kind: &str| -> Vec<&Value> {
        recs.iter()
            .filter(|x| x["type"] == kind && &x["session"] == session)
            .collect()
    };
    let (findings, skips) = (of("finding"), of("skip"));
    assert!(skips.is_empty(), "{summary}\nskips: {skips:?}");
    assert_eq!(summary["completed"], true, "{summary}");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["sha256"], support::EICAR_SHA256);
    took
}

/// `systemctl stop` while the large medium is being scanned: stopped within
/// 5 s, the session ended with a summary, a signed checkpoint last, and
/// the whole journal verifies.
fn stop_mid_scan(lab: &Lab) {
    let sessions = |r: &[Value]| {
        r.iter()
            .filter(|x| x["type"] == "session" && x["medium"]["mount_point"] == "/media/big")
            .count()
    };
    let n = sessions(&lab.journal());
    lab.c.mount_loop(&lab.big, "/media/big");
    lab.wait_journal(
        "a second session of the large medium",
        Duration::from_secs(30),
        |r| sessions(r) > n,
    );
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    lab.c.ok("systemctl stop kensa", 30);
    let took = t.elapsed();
    eprintln!("systemctl stop mid-scan: {took:?}");
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert_eq!(
        lab.c.ok("systemctl show -P Result kensa", 30).trim(),
        "success"
    );
    assert_eq!(
        lab.c
            .ok("systemctl show -P ExecMainStatus kensa", 30)
            .trim(),
        "0"
    );
    lab.c.ok("umount /media/big", 30);
    let recs = lab.journal();
    let session = recs
        .iter()
        .rev()
        .find(|x| x["type"] == "session" && x["medium"]["mount_point"] == "/media/big")
        .unwrap();
    let summary = recs
        .iter()
        .find(|x| x["type"] == "summary" && x["session"] == session["id"])
        .expect("the interrupted session has its summary");
    eprintln!(
        "interrupted session: completed {} after {} files",
        summary["completed"], summary["files"]
    );
    let last = recs.last().unwrap();
    assert_eq!(last["type"], "checkpoint", "{last}");
    assert!(
        last["sig"].as_str().is_some_and(|s| !s.is_empty()),
        "{last}"
    );
    let verify = lab.c.ok("kensa verify --journal", 60);
    assert!(verify.starts_with("OK"), "{verify}");
}

/// `kensa export` with the service stopped (README: it holds the journal
/// while it runs); the bundle verifies against the agent key.
fn export(lab: &Lab) {
    lab.cli("mkdir -p /root/out && kensa export --out /root/out", 60);
    let bundle = std::fs::read_dir(lab.c.path("/root/out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".jsonl"))
        .expect("a bundle");
    assert!(lab.c.path(&format!("/root/out/{bundle}.minisig")).exists());
    lab.cli(
        &format!("kensa verify /root/out/{bundle} --pubkey /var/lib/kensa/keys/agent.pub"),
        60,
    );
}

/// What a denial by the sandbox looks like in a log: a seccomp EPERM, a
/// kill by SIGSYS, a device or file the unit keeps out.
const DENIALS: &[&str] = &[
    "Operation not permitted",
    "EPERM",
    "SIGSYS",
    "Bad system call",
    "status=31/SYS",
    "Permission denied",
    "Read-only file system",
];

/// Every line of the unit's log (systemd's own lines about it included)
/// and of the commands run in the container, across start, scans, reload,
/// rule install, export and stop, holds no denial.
fn no_denials_in_the_logs(lab: &Lab) {
    let text = lab.unit_log() + &lab.cli_output.borrow();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| DENIALS.iter().any(|d| l.contains(d)))
        .collect();
    assert!(bad.is_empty(), "denials in the logs:\n{}", bad.join("\n"));
    eprintln!(
        "no denial in {} lines of `journalctl -u kensa` and command output",
        text.lines().count()
    );
}

/// The shipped filter returns EPERM quietly, so a refused call that kensa
/// handles (or ignores) would leave no log line. A drop-in therefore swaps
/// the filter for `SystemCallLog=` of exactly the calls it refuses (its
/// own lines with `~` flipped): the kernel logs each such call, and the
/// agent runs through start, a medium, a rule pack, reload and stop.
fn filter_audit(lab: &Lab) {
    lab.c.ok("systemctl stop kensa", 30);
    let (dropin, allowed) = write_audit_dropin(lab);
    audit_control(lab);
    let before = lab::audit_lines();
    lab.start();
    eicar_medium(lab);
    install_pack(lab, 6);
    lab.c.ok("systemctl reload kensa", 30);
    lab.c.ok("systemctl stop kensa", 30);
    std::fs::remove_file(&dropin).unwrap();
    lab.c.ok("systemctl daemon-reload", 60);
    std::thread::sleep(Duration::from_secs(1));
    let refused: Vec<String> = new_audit_lines(&before)
        .into_iter()
        .filter(|l| l.contains("code=0x7ffc0000"))
        .filter(|l| l.contains("exe=\"/usr/bin/kensa\"") || l.contains("comm=\"kensa\""))
        .collect();
    assert!(
        refused.is_empty(),
        "system calls the unit's filter refuses (syscall=N, x86-64 numbers):\n{}",
        refused.join("\n")
    );
    eprintln!("audit run: no system call outside the unit's filter ({allowed} allowed)");
}

/// Writes the audit drop-in: no filter, and `SystemCallLog=` from the
/// unit's own `SystemCallFilter=` lines with each `~` flipped (what the
/// filter allows is what is not logged). Checks with systemd that the
/// calls not logged are exactly the calls the shipped filter allows.
/// Returns the drop-in's path and how many calls the filter allows.
fn write_audit_dropin(lab: &Lab) -> (std::path::PathBuf, usize) {
    let shipped = call_set(&lab.c.ok("systemctl show -P SystemCallFilter kensa", 30));
    let unit = std::fs::read_to_string(lab.c.path("/lib/systemd/system/kensa.service")).unwrap();
    let mut text = String::from("[Service]\nSystemCallFilter=\n");
    for l in unit.lines() {
        let Some(list) = l.strip_prefix("SystemCallFilter=") else {
            continue;
        };
        let flipped = match list.strip_prefix('~') {
            Some(denied) => denied.to_string(),
            None => format!("~{list}"),
        };
        text.push_str(&format!("SystemCallLog={flipped}\n"));
    }
    let dir = lab.c.path("/etc/systemd/system/kensa.service.d");
    std::fs::create_dir_all(&dir).unwrap();
    let dropin = dir.join("zz-audit.conf");
    std::fs::write(&dropin, &text).unwrap();
    lab.c.ok("systemctl daemon-reload", 60);
    let logged = lab.c.ok("systemctl show -P SystemCallLog kensa", 30);
    assert!(logged.starts_with('~'), "{logged}");
    assert_eq!(
        call_set(&logged),
        shipped,
        "the drop-in logs exactly what the filter refuses"
    );
    // No filter: systemd shows an empty deny list ("~").
    let now = lab.c.ok("systemctl show -P SystemCallFilter kensa", 30);
    assert!(call_set(&now).is_empty(), "{now}");
    (dropin, shipped.len())
}

/// The kernel's audit lines must reach us here, or the audit run would
/// prove nothing: a transient unit logging `uname` must show up.
fn audit_control(lab: &Lab) {
    let before = lab::audit_lines();
    lab.c.ok(
        "systemd-run --wait --quiet -p SystemCallLog=uname /usr/bin/uname",
        60,
    );
    lab.wait("the control's audit line", Duration::from_secs(10), || {
        new_audit_lines(&before)
            .iter()
            .any(|l| l.contains("comm=\"uname\"") && l.contains("code=0x7ffc0000"))
            .then_some(())
    });
}

/// Audit lines not in `before` (each carries its own serial number).
fn new_audit_lines(before: &[String]) -> Vec<String> {
    let old: std::collections::HashSet<&String> = before.iter().collect();
    lab::audit_lines()
        .into_iter()
        .filter(|l| !old.contains(l))
        .collect()
}

/// The names in `systemctl show -P SystemCall...` output, without the
/// leading `~` of a deny list.
fn call_set(list: &str) -> std::collections::BTreeSet<String> {
    list.trim()
        .trim_start_matches('~')
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// `dpkg -r` keeps configuration and state; `dpkg --purge` deletes the
/// configuration and, unattended, keeps the journal saying so; with the
/// debconf answer preseeded to yes it deletes /var/lib/kensa too.
fn remove_and_purge(lab: &Lab) {
    let c = &lab.c;
    let key = std::fs::read(c.path("/var/lib/kensa/keys/agent.pub")).unwrap();
    lab.start();
    lab.cli("dpkg -r kensa", 120);
    assert_eq!(lab.is_active(), "inactive");
    assert!(!c.path("/usr/bin/kensa").exists());
    let status = c.ok("dpkg-query -W -f '${Status}' kensa", 30);
    assert_eq!(status.trim(), "deinstall ok config-files");
    c.ok(
        r#"grep -qx 'max_total_size = "1G"' /etc/kensa/kensa.toml"#,
        30,
    );
    assert_eq!(
        std::fs::read(c.path("/var/lib/kensa/keys/agent.pub")).unwrap(),
        key
    );
    let journal_files = std::fs::read_dir(c.path("/var/lib/kensa/journal"))
        .unwrap()
        .count();
    assert!(journal_files > 0);

    purge(lab, &key, journal_files);
}

/// Purge after remove, unattended: configuration gone, journal and key
/// kept, said so. Then installed again and purged with the debconf
/// answer preseeded to yes: /var/lib/kensa gone.
fn purge(lab: &Lab, key: &[u8], journal_files: usize) {
    let c = &lab.c;
    let out = lab.cli("dpkg --purge kensa 2>&1", 120);
    assert!(out.contains("kept /var/lib/kensa"), "{out}");
    assert!(
        !c.path("/etc/kensa").exists(),
        "purge deletes the configuration:\n{out}"
    );
    assert_eq!(
        std::fs::read(c.path("/var/lib/kensa/keys/agent.pub")).unwrap(),
        key
    );
    assert_eq!(
        std::fs::read_dir(c.path("/var/lib/kensa/journal"))
            .unwrap()
            .count(),
        journal_files
    );
    let status = c.sh("dpkg-query -W -f '${Status}' kensa", 30);
    assert!(
        !stdout(&status).contains("config-files"),
        "{}",
        stdout(&status)
    );

    lab.cli(&format!("dpkg -i {DIR}/new.deb"), 180);
    c.ok(
        "echo 'kensa kensa/purge_state boolean true' | debconf-set-selections",
        30,
    );
    let out = lab.cli("dpkg --purge kensa 2>&1", 120);
    assert!(out.contains("deleted /var/lib/kensa"), "{out}");
    assert!(!c.path("/var/lib/kensa").exists(), "{out}");
    assert!(!c.path("/etc/kensa").exists(), "{out}");
    eprintln!("remove kept state and configuration; purge kept the journal unattended, deleted it when preseeded");
}
