//! The sandboxed parser process: kensa re-executed (`/proc/self/exe`)
//! with the hidden first argument [`ENTRY`], checked in `main.rs` before
//! any argument parsing (so it is in no help text, man page or
//! completion). The device is its stdin, frames (`proto`) go to its
//! stdout, its stderr is closed, its environment empty. Before it touches
//! the medium it closes every other descriptor, sets `PR_SET_NO_NEW_PRIVS`,
//! resource limits (address space = `parser_memory`, no core files, few
//! descriptors, a CPU-time backstop; its OOM score raised to the top, so
//! memory pressure in the agent's cgroup kills the parser, not the agent)
//! and a seccomp filter, then runs one
//! job with the in-process code (`inproc`): the probe, the `$mbr`
//! pseudo-file, or one volume.
//!
//! The filter is a short BPF program written here over `libc` rather than
//! a crate (`seccompiler` from rust-vmm was the alternative: well kept and
//! used by Firecracker, but its JSON front end and rule compiler are more
//! than an allowlist of some twenty calls needs). It allows, measured with
//! `strace -f` over a probe and a read: `read`/`pread64`/`lseek` on the
//! device (fd 0) only, `write` on fds 1 and 2 only, memory calls
//! (`mmap`/`mprotect` without `PROT_EXEC`, `munmap`, `mremap`, `brk`,
//! `madvise`), `futex`, `sched_yield`, `getrandom`, `clock_gettime`,
//! `sigaltstack`, `rt_sigprocmask`, `rt_sigreturn`, `close`, `exit`,
//! `exit_group`, and `getpid`/`gettid`/`tgkill` on itself (how `abort`
//! ends the process when an allocation fails). Everything else — `open`,
//! `openat`, `socket`, `execve`, `ptrace`, any call of another
//! architecture's table — kills the process (SIGSYS), which the parent
//! reports as a parser death.
//!
//! Test hook (test-only, not a setting): the environment variable
//! `KENSA_TEST_PARSER_FAULT` = `syscall` (open a file), `hang` (spin) or
//! `alloc` (allocate without end), optionally `@N` for partition N only,
//! makes a volume's child misbehave after its sandbox is in place, so
//! tests show each death is contained. Only the child acts on it.

use super::{inproc, proto, DiskOptions, DiskVisitor, Layout, VolumeInfo, Where};
use kensa_diskfs::{Attributes, Device, FdDevice, Flow};
use proto::{Frame, WireProblem};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

/// The hidden first argument that makes kensa the parser.
pub const ENTRY: &str = "__kensa-disk-parser";
/// The test hook's variable (see the module docs).
pub const FAULT_VAR: &str = "KENSA_TEST_PARSER_FAULT";
/// Exit status: the job argument was missing or malformed.
pub const EXIT_BAD_JOB: u8 = 3;
/// Exit status: the sandbox could not be set up.
pub const EXIT_NO_SANDBOX: u8 = 4;

/// What one child does, passed as its second argument (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Job {
    pub what: JobKind,
    /// Device length (the parent measured it; the child calls no `fstat`).
    pub len: u64,
    pub memory: u64,
    pub cpu_secs: u64,
    pub max_entries: u64,
    pub max_depth: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) enum JobKind {
    Probe,
    Mbr(u64),
    Volume(VolumeInfo),
}

impl Job {
    pub(super) fn new(what: JobKind, len: u64, opts: &DiskOptions) -> Job {
        Job {
            what,
            len,
            memory: opts.parser_memory,
            // A backstop only: silence is what the parent watches.
            cpu_secs: opts.parser_timeout.as_secs().saturating_mul(60).max(3600),
            max_entries: opts.limits.max_entries,
            max_depth: opts.limits.max_depth,
        }
    }
}

/// When this process was started as the parser, runs it and returns its
/// exit status; `None` otherwise (the normal command line follows).
pub fn run_if_parser() -> Option<u8> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != ENTRY {
        return None;
    }
    Some(child(args.next()))
}

fn child(job: Option<OsString>) -> u8 {
    let job: Job = match job.and_then(|j| serde_json::from_slice(j.as_bytes()).ok()) {
        Some(j) => j,
        None => return EXIT_BAD_JOB,
    };
    let fault = std::env::var(FAULT_VAR).ok();
    if harden(&job).is_err() {
        return EXIT_NO_SANDBOX;
    }
    if let Some(f) = fault.as_deref().and_then(|f| fault_for(f, &job)) {
        test_fault(f);
    }
    // SAFETY: fds 0 and 1 are the device and the pipe the parent gave this
    // process; nothing else owns them, and ManuallyDrop keeps them open.
    let (dev, out) = unsafe { (File::from_raw_fd(0), File::from_raw_fd(1)) };
    let mut out = ManuallyDrop::new(out);
    let dev: Arc<dyn Device> = Arc::new(FdDevice::new(dev, job.len));
    match work(&job, &dev, &mut *out) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn work(job: &Job, dev: &Arc<dyn Device>, out: &mut File) -> io::Result<()> {
    proto::write_frame(out, &Frame::Hello(proto::VERSION))?;
    let opts = DiskOptions {
        limits: kensa_diskfs::Limits {
            max_entries: job.max_entries,
            max_depth: job.max_depth,
        },
        ..DiskOptions::default()
    };
    let mut sink = Sink {
        out,
        buf: Vec::new(),
        broken: None,
    };
    match &job.what {
        JobKind::Probe => {
            let frame = match inproc::probe(dev) {
                Ok(l) => Frame::Layout(cap_layout(l)),
                Err(e) => Frame::Failed(e.to_string()),
            };
            proto::write_frame(sink.out, &frame)?;
        }
        JobKind::Mbr(len) => {
            inproc::read_mbr(dev, *len, &mut sink);
        }
        JobKind::Volume(v) => {
            inproc::read_volume(dev, v, &opts, &mut sink);
        }
    }
    if let Some(e) = sink.broken {
        return Err(e);
    }
    proto::write_frame(sink.out, &Frame::Done)
}

/// A layout within what the parent accepts.
fn cap_layout(mut l: Layout) -> Layout {
    l.volumes.truncate(proto::MAX_VOLUMES);
    l.problems.truncate(64);
    l
}

/// Sends what the reader finds as frames.
struct Sink<'a> {
    out: &'a mut File,
    buf: Vec<u8>,
    broken: Option<io::Error>,
}

impl Sink<'_> {
    fn send(&mut self, f: &Frame) -> Flow {
        if self.broken.is_some() {
            return Flow::Stop;
        }
        match proto::write_frame(self.out, f) {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.broken = Some(e);
                Flow::Stop
            }
        }
    }

    /// Streams `data` in chunks; the end frame says whether it all came.
    fn stream(&mut self, data: &mut dyn Read) -> Flow {
        self.buf.resize(proto::CHUNK, 0);
        loop {
            match data.read(&mut self.buf) {
                Ok(0) => return self.send(&Frame::End(None)),
                Ok(n) => {
                    let chunk = Frame::Data(self.buf[..n].to_vec());
                    if self.send(&chunk) == Flow::Stop {
                        return Flow::Stop;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.send(&Frame::End(Some(e.to_string()))),
            }
        }
    }
}

impl DiskVisitor for Sink<'_> {
    fn file(&mut self, at: Where<'_>, size: u64, attrs: Attributes, data: &mut dyn Read) -> Flow {
        let head = Frame::File {
            in_volume: at.volume.is_some(),
            path: at.path.to_vec(),
            size,
            attrs,
        };
        if self.send(&head) == Flow::Stop {
            return Flow::Stop;
        }
        self.stream(data)
    }

    fn problem(&mut self, at: Where<'_>, kind: super::DiskProblem, detail: &str) -> Flow {
        let kind = match kind {
            super::DiskProblem::Fs(k) => WireProblem::Fs(k),
            super::DiskProblem::UnsupportedFs => WireProblem::UnsupportedFs,
            // The child never reports its own death.
            super::DiskProblem::Corrupt | super::DiskProblem::ParserDied => WireProblem::Corrupt,
        };
        self.send(&Frame::Problem {
            in_volume: at.volume.is_some(),
            path: at.path.to_vec(),
            kind,
            detail: detail.to_string(),
        })
    }
}

/// The fault the test hook asks of this job: `KIND` for every volume job,
/// `KIND@N` for partition N's only (the probe and `$mbr` never fault).
fn fault_for<'a>(spec: &'a str, job: &Job) -> Option<&'a str> {
    let JobKind::Volume(v) = &job.what else {
        return None;
    };
    match spec.split_once('@') {
        None => Some(spec),
        Some((kind, n)) => (v.index.map(|i| i.to_string()).as_deref() == Some(n)).then_some(kind),
    }
}

/// The test hook: misbehave inside the sandbox.
fn test_fault(what: &str) {
    match what {
        "syscall" => {
            // A call the filter forbids: opening a file.
            // SAFETY: a valid NUL-terminated path; the call never returns
            // under the filter (the process is killed).
            unsafe {
                libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY);
            }
        }
        "hang" => loop {
            std::hint::spin_loop();
        },
        "alloc" => {
            let mut v: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut block = vec![0u8; 64 << 20];
                block[0] = 1;
                v.push(std::hint::black_box(block));
            }
        }
        _ => {}
    }
}

/// Why the sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
enum SandboxError {
    #[error("{0} failed: {1}")]
    Call(&'static str, io::Error),
    #[error("no system-call filter for this architecture")]
    Arch,
}

fn check(name: &'static str, rc: libc::c_int) -> Result<(), SandboxError> {
    if rc < 0 {
        Err(SandboxError::Call(name, io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

/// Closes inherited descriptors, then limits, then the filter.
fn harden(job: &Job) -> Result<(), SandboxError> {
    close_others();
    // Under memory pressure in the agent's cgroup, the kernel kills the
    // parser rather than the agent (raising one's own score needs no
    // privilege; failing to is no reason not to run).
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    limit(libc::RLIMIT_CORE, 0, 0)?;
    limit(libc::RLIMIT_NOFILE, 8, 8)?;
    limit(
        libc::RLIMIT_CPU,
        job.cpu_secs,
        job.cpu_secs.saturating_add(5),
    )?;
    limit(libc::RLIMIT_AS, job.memory, job.memory)?;
    // SAFETY: prctl with integer arguments only.
    check("PR_SET_NO_NEW_PRIVS", unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    })?;
    // SAFETY: as above; no core dumps of a process that held medium bytes.
    check("PR_SET_DUMPABLE", unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
    })?;
    install_filter()
}

fn close_others() {
    // SAFETY: closes descriptors 3 and up of this process only; nothing in
    // it holds them (the parent opened none for it, std has none open).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc != 0 {
        for fd in 3..1024 {
            // SAFETY: as above, one descriptor at a time.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

fn limit(which: libc::__rlimit_resource_t, soft: u64, hard: u64) -> Result<(), SandboxError> {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a valid rlimit struct for the call's duration.
    check("setrlimit", unsafe { libc::setrlimit(which, &r) })
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET: u16 = 0x06; // BPF_RET | BPF_K
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

fn arg_off(i: u32) -> u32 {
    16 + 8 * i
}

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// How an allowed call's arguments are checked.
enum Rule {
    Any,
    /// Argument `i` (low 32 bits) equals `v`.
    ArgIs(u32, u32),
    /// Argument `i` has none of the bits `m`.
    ArgLacks(u32, u32),
}

fn nr(n: libc::c_long) -> u32 {
    n as u32
}

fn rules() -> Vec<(u32, Rule)> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    let prot_exec = libc::PROT_EXEC as u32;
    use libc::*;
    let mut r = vec![
        (nr(SYS_read), Rule::ArgIs(0, 0)),
        (nr(SYS_pread64), Rule::ArgIs(0, 0)),
        (nr(SYS_lseek), Rule::ArgIs(0, 0)),
        (nr(SYS_write), Rule::ArgIs(0, 1)),
        (nr(SYS_write), Rule::ArgIs(0, 2)),
        (nr(SYS_mmap), Rule::ArgLacks(2, prot_exec)),
        (nr(SYS_mprotect), Rule::ArgLacks(2, prot_exec)),
        (nr(SYS_tgkill), Rule::ArgIs(0, pid)),
    ];
    for n in [
        SYS_munmap,
        SYS_mremap,
        SYS_brk,
        SYS_madvise,
        SYS_futex,
        SYS_sched_yield,
        SYS_getrandom,
        SYS_clock_gettime,
        SYS_sigaltstack,
        SYS_rt_sigprocmask,
        SYS_rt_sigreturn,
        SYS_close,
        SYS_exit,
        SYS_exit_group,
        SYS_getpid,
        SYS_gettid,
    ] {
        r.push((nr(n), Rule::Any));
    }
    r
}

/// The BPF program: right architecture, then one block per rule, then kill.
fn program(arch: u32) -> Vec<libc::sock_filter> {
    let mut p = vec![
        op(LD_ABS, 0, 0, OFF_ARCH),
        op(JEQ, 1, 0, arch),
        op(RET, 0, 0, RET_KILL_PROCESS),
        op(LD_ABS, 0, 0, OFF_NR),
        // x32 calls (bit 30) share the x86-64 arch value: refuse them.
        op(JGE, 0, 1, 0x4000_0000),
        op(RET, 0, 0, RET_KILL_PROCESS),
    ];
    for (n, rule) in rules() {
        p.push(op(LD_ABS, 0, 0, OFF_NR));
        match rule {
            Rule::Any => {
                p.push(op(JEQ, 0, 1, n));
            }
            Rule::ArgIs(i, v) => {
                p.push(op(JEQ, 0, 3, n));
                p.push(op(LD_ABS, 0, 0, arg_off(i)));
                p.push(op(JEQ, 0, 1, v));
            }
            Rule::ArgLacks(i, m) => {
                p.push(op(JEQ, 0, 3, n));
                p.push(op(LD_ABS, 0, 0, arg_off(i)));
                p.push(op(JSET, 1, 0, m));
            }
        }
        p.push(op(RET, 0, 0, RET_ALLOW));
    }
    p.push(op(RET, 0, 0, RET_KILL_PROCESS));
    p
}

fn install_filter() -> Result<(), SandboxError> {
    let arch = AUDIT_ARCH.ok_or(SandboxError::Arch)?;
    let mut prog = program(arch);
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `prog`, alive for the call; the kernel
    // copies the program.
    check("PR_SET_SECCOMP", unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    })
}
