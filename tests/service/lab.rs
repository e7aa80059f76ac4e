//! The lab the service tests run in: a minimal Debian 12 root file system
//! built once with mmdebstrap and cached under the target directory (its
//! name is a digest of what goes in, so a change to the package list
//! builds a new one), a container booted from a fresh copy of it with
//! `systemd-nspawn --boot`, commands run inside it through `nsenter` into
//! its init's namespaces (each under `timeout`), loop devices attached on
//! the host and mounted inside, and the host kernel's audit lines. Every
//! guard cleans up on drop: the container is powered off (SIGTERM to
//! nspawn, SIGKILL after 60 s), loop devices are detached.

use crate::support::run_tool;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Installed beside minbase: systemd as init, and D-Bus as on any Debian
/// server. kensa's own dependencies (libc6, debconf) are in minbase.
const PACKAGES: &[&str] = &["systemd", "systemd-sysv", "dbus"];
const HOSTNAME: &str = "kensa-test";
/// Bumped when the way the tarball is made changes.
const RECIPE: &str = "1";

pub fn require_root() {
    assert_eq!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() },
        0,
        "booting a container and installing packages needs root (CI is root)"
    );
}

/// Whether systemd runs the host (then nspawn registers the container
/// with machined and gets a delegated cgroup of its own).
fn host_runs_systemd() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn cache_key() -> String {
    use sha2::Digest;
    let recipe = format!("{SUITE}|minbase|{MIRROR}|{PACKAGES:?}|{HOSTNAME}|{RECIPE}");
    hex::encode(sha2::Sha256::digest(recipe.as_bytes()))[..16].to_string()
}

/// The root file system as a tarball, built with mmdebstrap when it is not
/// in the cache yet (needs network to the mirror; about 2.5 minutes).
pub fn rootfs_tar() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("service-rootfs");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = dir.join(format!("debian-{SUITE}-{}.tar", cache_key()));
    let lock = File::create(dir.join("lock")).unwrap();
    // SAFETY: flock on a descriptor this function owns; released on close.
    let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(rc, 0, "lock {}", dir.display());
    if tar.is_file() {
        eprintln!("root file system: cached {}", tar.display());
        return tar;
    }
    run_tool(Command::new("mmdebstrap").arg("--version"), "mmdebstrap");
    let partial = dir.join("partial.tar");
    let t = Instant::now();
    let out = Command::new("timeout")
        .args([
            "-k",
            "10",
            "1200",
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
        ])
        .arg("--aptopt=Acquire::Retries \"3\"")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(format!(
            "--customize-hook=echo {HOSTNAME} > \"$1/etc/hostname\""
        ))
        .arg(SUITE)
        .arg(&partial)
        .arg(MIRROR)
        .output()
        .expect("run mmdebstrap");
    assert!(
        out.status.success(),
        "mmdebstrap could not build the Debian {SUITE} root file system from {MIRROR} \
         (it needs network to the mirror): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &tar).unwrap();
    eprintln!(
        "root file system: built {} in {:?}",
        tar.display(),
        t.elapsed()
    );
    tar
}

/// A tmpfs mounted on the host; unmounted on drop. The container's root
/// lives in one: unpacking it and dpkg's many fsyncs cost no disk I/O, and
/// removing it is one unmount (deleting the booted tree from a busy disk
/// took 30 s).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        run_tool(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size},mode=0755"))
                .arg("tmpfs")
                .arg(at),
            "mount",
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A loop device attached read-only to an image on the host; detached on
/// drop.
pub struct Loop {
    pub dev: String,
    /// "7:3": what `mknod` needs inside the container.
    pub major_minor: (String, String),
}

impl Loop {
    pub fn attach(img: &Path) -> Loop {
        let out = run_tool(
            Command::new("losetup")
                .args(["--find", "--show", "--read-only"])
                .arg(img),
            "mount",
        );
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let name = dev.trim_start_matches("/dev/");
        let mm = std::fs::read_to_string(format!("/sys/block/{name}/dev")).unwrap();
        let (major, minor) = mm.trim().split_once(':').expect("MAJOR:MINOR");
        Loop {
            major_minor: (major.to_string(), minor.to_string()),
            dev,
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// A booted container; powered off on drop.
pub struct Container {
    nspawn: Option<Child>,
    leader: i32,
    pub root: PathBuf,
    log: PathBuf,
    /// The kernel's cgroup v1 controllers were read-only inside and were
    /// made writable (see [`Container::delegate_cgroups`]).
    pub cgroup_fix: bool,
}

impl Container {
    /// Boots `root` and waits until its systemd reports the system up.
    pub fn boot(root: &Path, log: &Path) -> Container {
        let mut cmd = nspawn_command(root, log);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("systemd-nspawn not found: install the Debian package `systemd-container`")
            }
            Err(e) => panic!("systemd-nspawn: {e}"),
        };
        let t = Instant::now();
        let mut c = Container {
            leader: 0,
            nspawn: Some(child),
            root: root.to_path_buf(),
            log: log.to_path_buf(),
            cgroup_fix: false,
        };
        c.leader = c.wait_leader(Duration::from_secs(60));
        // Until its init has made its private socket, systemctl cannot
        // connect and prints nothing.
        let state = poll(Duration::from_secs(120), || {
            let out = c.sh("systemctl is-system-running --wait", 120);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (!state.is_empty()).then_some(state)
        })
        .map(|(s, _)| s)
        .unwrap_or_default();
        if state == "degraded" {
            eprintln!("{}", c.ok("systemctl --failed --no-legend", 30));
        }
        assert!(
            state == "running" || state == "degraded",
            "the container did not come up ({state:?}); nspawn log:\n{}",
            c.log_text()
        );
        eprintln!("container booted ({state}) in {:?}", t.elapsed());
        c.cgroup_fix = c.delegate_cgroups();
        c
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The container's init: the child of nspawn that runs systemd.
    fn wait_leader(&mut self, limit: Duration) -> i32 {
        let t = Instant::now();
        let nspawn = self.nspawn.as_mut().expect("started");
        let parent = nspawn.id().to_string();
        loop {
            if let Some(status) = nspawn.try_wait().unwrap() {
                panic!(
                    "systemd-nspawn exited ({status}) before the container booted:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Some(pid) = child_named(&parent, "systemd") {
                return pid;
            }
            assert!(t.elapsed() < limit, "no container init after {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// nspawn without a delegated cgroup (a host whose cgroup v1
    /// controllers are not delegated, as in a container or sandbox VM)
    /// mounts the memory and devices hierarchies read-only in the
    /// container, so its systemd could not apply `MemoryMax` or
    /// `DeviceAllow`. Such mounts are made writable in the container's
    /// mount namespace and systemd re-executed to pick them up. Returns
    /// whether that was needed. On a unified (v2) host nothing is done.
    fn delegate_cgroups(&self) -> bool {
        let out = self.ok(
            "fixed=no
             for c in memory devices; do
                 d=/sys/fs/cgroup/$c
                 if [ -d \"$d\" ] && [ ! -w \"$d\" ]; then
                     mount -o remount,bind,rw \"$d\" && fixed=yes
                 fi
             done
             if [ $fixed = yes ]; then systemctl daemon-reexec; fi
             echo $fixed",
            60,
        );
        let fixed = out.trim() == "yes";
        if fixed {
            eprintln!(
                "cgroup v1 memory and devices controllers were read-only in the container \
                 (no delegation on this host): remounted read-write, systemd re-executed"
            );
        }
        fixed
    }

    /// Runs `script` with /bin/sh inside the container (as root, in all
    /// its init's namespaces), killed after `limit_s` seconds.
    pub fn sh(&self, script: &str, limit_s: u64) -> Output {
        let out = Command::new("timeout")
            .args(["-k", "5"])
            .arg(limit_s.to_string())
            .arg("nsenter")
            .arg("-t")
            .arg(self.leader.to_string())
            .args(["-a", "--", "/bin/sh", "-c", script])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .env("SYSTEMD_PAGER", "cat")
            .env("SYSTEMD_COLORS", "0")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("nsenter: {e}"));
        assert!(
            !matches!(out.status.code(), Some(124) | Some(137)),
            "timed out after {limit_s} s in the container: {script}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// [`Container::sh`] that must succeed; returns stdout and stderr.
    pub fn ok(&self, script: &str, limit_s: u64) -> String {
        let out = self.sh(script, limit_s);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "failed in the container ({}): {script}\n{text}",
            out.status
        );
        text
    }

    /// A path of the container's file system, seen from the host.
    pub fn path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Mounts `lo` read-only at `mount_point` inside the container (the
    /// device node is made in the container's /dev first).
    pub fn mount_loop(&self, lo: &Loop, mount_point: &str) {
        let (major, minor) = &lo.major_minor;
        let dev = &lo.dev;
        self.ok(
            &format!(
                "[ -b {dev} ] || mknod {dev} b {major} {minor}
                 mkdir -p {mount_point} && mount -o ro {dev} {mount_point}"
            ),
            30,
        );
    }

    /// Powers the container off; returns how long that took.
    pub fn stop(&mut self) -> Option<Duration> {
        let mut child = self.nspawn.take()?;
        let t = Instant::now();
        // SAFETY: kill(2) of our own child; nspawn turns SIGTERM into a
        // clean shutdown of the container.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        while t.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("the container did not power off within 60 s: killed");
        let _ = child.kill();
        let _ = child.wait();
        Some(t.elapsed())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `systemd-nspawn --boot` of `root`, its output to `log`, powered off by
/// SIGTERM should the test thread die first.
fn nspawn_command(root: &Path, log: &Path) -> Command {
    let logf = File::create(log).unwrap();
    let mut cmd = Command::new("systemd-nspawn");
    cmd.arg("--directory")
        .arg(root)
        .args(["--boot", "--private-network", "--link-journal=no"])
        .arg("--console=read-only")
        .arg(format!("--machine=kensa-test-{}", std::process::id()));
    if !host_runs_systemd() {
        // No systemd on the host: no machined to register with and no
        // bus to ask for a scope; the container runs in our cgroup.
        cmd.args(["--register=no", "--keep-unit"]);
    }
    cmd.stdin(Stdio::null())
        .stdout(logf.try_clone().unwrap())
        .stderr(logf);
    // SAFETY: prctl in the forked child before exec touches no memory
    // of the parent; it powers the container off should the test die.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// The pid of a child of `parent` whose command name is `comm`.
fn child_named(parent: &str, comm: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split at
        // the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or("");
        let ppid = tail.split_whitespace().nth(1).unwrap_or("");
        if name == comm && ppid == parent {
            return Some(pid);
        }
    }
    None
}

/// The host kernel's seccomp audit lines (`type=1326`): from the kernel
/// ring buffer, and from the host's journal when systemd runs the host
/// (journald may take audit messages off the kernel log).
pub fn audit_lines() -> Vec<String> {
    let mut text = String::from_utf8_lossy(
        &run_tool(Command::new("dmesg").arg("--notime"), "util-linux").stdout,
    )
    .into_owned();
    if host_runs_systemd() {
        if let Ok(out) = Command::new("journalctl")
            .args(["--no-pager", "-o", "cat", "-b", "_TRANSPORT=audit"])
            .output()
        {
            text.push_str(&String::from_utf8_lossy(&out.stdout));
        }
    }
    text.lines()
        .filter(|l| l.contains("type=1326"))
        .map(str::to_string)
        .collect()
}

/// Polls `probe` every 100 ms until it gives a value (with the time it
/// took), or `None` after `limit`.
pub fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<(T, Duration)> {
    let t = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some((v, t.elapsed()));
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
