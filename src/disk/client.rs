//! The parent's side of the sandboxed parser: starts one child per job
//! (the probe, `$mbr`, each volume), reads its frames as untrusted input
//! (`proto` caps every frame, name and count), hands files and problems to
//! the visitor, kills a child that says nothing for `parser_timeout` (the
//! data `Read` given to the visitor waits no longer either), always reaps
//! it, and turns a death into a [`DiskProblem::ParserDied`] problem in
//! plain words before going on with the next volume. The parent never
//! reads the medium: it only measures its length and hands the descriptor
//! to the child.

use super::proto::{self, Frame, FrameReader, ProtoError, WireProblem};
use super::sandbox::{self, Job, JobKind};
use super::{DiskError, DiskOptions, DiskProblem, DiskVisitor, Layout, VolumeInfo, Where};
use kensa_diskfs::{FdDevice, Flow};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// One running child.
struct Parser {
    child: Child,
    frames: FrameReader<ChildStdout>,
    timeout: Duration,
    /// Set when the parent killed it for silence.
    silent: bool,
    reaped: Option<ExitStatus>,
}

impl Parser {
    fn spawn(dev: &File, opts: &DiskOptions, job: &Job) -> io::Result<Parser> {
        let arg = serde_json::to_string(job).map_err(io::Error::other)?;
        let mut cmd = Command::new(&opts.parser_exe);
        cmd.arg(sandbox::ENTRY)
            .arg(arg)
            .stdin(Stdio::from(dev.try_clone()?))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env_clear()
            .current_dir("/");
        if let Some(f) = std::env::var_os(sandbox::FAULT_VAR) {
            cmd.env(sandbox::FAULT_VAR, f);
        }
        let mut child = cmd.spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("the parser has no stdout"))?;
        widen_pipe(&out);
        Ok(Parser {
            child,
            frames: FrameReader::new(out, opts.parser_timeout),
            timeout: opts.parser_timeout,
            silent: false,
            reaped: None,
        })
    }

    /// The next frame; silence kills the child.
    fn next(&mut self) -> Result<Frame, ProtoError> {
        let r = self.frames.next();
        if let Err(ProtoError::Silent(_)) = r {
            self.silent = true;
            self.kill();
        }
        r
    }

    fn kill(&mut self) {
        if self.reaped.is_none() {
            let _ = self.child.kill();
            self.reaped = self.child.wait().ok();
        }
    }

    /// Waits for the child to exit after its last frame (at most the
    /// timeout, then it is killed).
    fn finish(&mut self) -> Option<ExitStatus> {
        let end = Instant::now() + self.timeout;
        while self.reaped.is_none() {
            match self.child.try_wait() {
                Ok(Some(s)) => self.reaped = Some(s),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    self.silent = true;
                    self.kill();
                }
            }
        }
        self.reaped
    }

    /// Why the child is gone, in plain words (`why`: what the parent saw
    /// on the pipe, when the child did not simply die).
    fn death(&mut self, why: Option<&ProtoError>) -> String {
        let eof = matches!(why, None | Some(ProtoError::Eof | ProtoError::Io(_)));
        if eof {
            // It closed its output: let it end on its own, then reap it.
            self.finish();
        } else {
            self.kill();
        }
        if self.silent {
            return format!(
                "the file-system parser sent nothing for {} s and was killed (parser_timeout)",
                self.timeout.as_secs()
            );
        }
        match (self.reaped, why) {
            (Some(s), _) if s.signal().is_some() || s.code() != Some(0) => describe(s),
            (_, Some(e)) => format!("the file-system parser broke off: {e}"),
            _ => "the file-system parser ended without finishing".to_string(),
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child's exit status in plain words.
/// Asks for a 1 MiB pipe (the default is 64 KiB), so the child streams a
/// file's chunks without waking the parent for each; the kernel may give
/// less (`pipe-max-size`), which only costs speed.
fn widen_pipe(out: &std::process::ChildStdout) {
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own; no memory passed.
    let _ = unsafe { libc::fcntl(out.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
}

fn describe(s: ExitStatus) -> String {
    if let Some(sig) = s.signal() {
        let (name, why) = match sig {
            libc::SIGSYS => ("SIGSYS", " (system-call filter)"),
            libc::SIGKILL => ("SIGKILL", ""),
            libc::SIGSEGV => ("SIGSEGV", " (a memory fault)"),
            libc::SIGBUS => ("SIGBUS", " (a memory fault)"),
            libc::SIGABRT => (
                "SIGABRT",
                " (it aborted; an allocation over parser_memory ends this way)",
            ),
            libc::SIGXCPU => ("SIGXCPU", " (its CPU-time limit)"),
            _ => ("a signal", ""),
        };
        let name = if name == "a signal" {
            format!("signal {sig}")
        } else {
            name.to_string()
        };
        return format!("the file-system parser was killed by {name}{why}");
    }
    let code = s.code().unwrap_or(-1);
    let why = match code {
        101 => " (a panic)",
        c if c == i32::from(sandbox::EXIT_NO_SANDBOX) => " (it could not set up its sandbox)",
        c if c == i32::from(sandbox::EXIT_BAD_JOB) => " (it was started wrongly)",
        _ => "",
    };
    format!("the file-system parser exited with status {code}{why}")
}

fn start(dev: &File, opts: &DiskOptions, what: JobKind) -> io::Result<Parser> {
    let len = FdDevice::size_of(dev)?;
    Parser::spawn(dev, opts, &Job::new(what, len, opts))
}

/// Checks the child's first frame.
fn hello(p: &mut Parser) -> Result<(), String> {
    match p.next() {
        Ok(Frame::Hello(proto::VERSION)) => Ok(()),
        Ok(Frame::Hello(v)) => Err(format!(
            "the file-system parser speaks protocol {v}, not {}",
            proto::VERSION
        )),
        Ok(_) => Err(p.death(Some(&ProtoError::Malformed("no greeting")))),
        Err(e) => Err(p.death(Some(&e))),
    }
}

/// See [`super::probe`].
pub(super) fn probe(dev: &File, opts: &DiskOptions) -> Result<Layout, DiskError> {
    let mut p = start(dev, opts, JobKind::Probe)?;
    hello(&mut p).map_err(DiskError::Parser)?;
    let layout = match p.next() {
        Ok(Frame::Layout(l)) => l,
        Ok(Frame::Failed(why)) => return Err(DiskError::Io(io::Error::other(why))),
        Ok(_) => {
            let e = ProtoError::Malformed("no layout");
            return Err(DiskError::Parser(p.death(Some(&e))));
        }
        Err(e) => return Err(DiskError::Parser(p.death(Some(&e)))),
    };
    match p.next() {
        Ok(Frame::Done) => match p.finish() {
            Some(s) if s.success() => Ok(layout),
            _ => Err(DiskError::Parser(p.death(None))),
        },
        Ok(_) => Err(DiskError::Parser(
            p.death(Some(&ProtoError::Malformed("frames after the layout"))),
        )),
        Err(e) => Err(DiskError::Parser(p.death(Some(&e)))),
    }
}

/// See [`super::read`].
pub(super) fn read(
    dev: &File,
    layout: &Layout,
    opts: &DiskOptions,
    visit: &mut dyn DiskVisitor,
) -> Result<(), DiskError> {
    let device = Where {
        volume: None,
        path: &[],
    };
    for why in &layout.problems {
        if visit.problem(device, DiskProblem::Corrupt, why) == Flow::Stop {
            return Ok(());
        }
    }
    if layout.mbr_len > 0 && job(dev, opts, JobKind::Mbr(layout.mbr_len), None, visit) == Flow::Stop
    {
        return Ok(());
    }
    for v in &layout.volumes {
        if job(dev, opts, JobKind::Volume(v.clone()), Some(v), visit) == Flow::Stop {
            break;
        }
    }
    Ok(())
}

/// Runs one child and passes on what it sends; a death is one problem.
fn job(
    dev: &File,
    opts: &DiskOptions,
    what: JobKind,
    volume: Option<&VolumeInfo>,
    visit: &mut dyn DiskVisitor,
) -> Flow {
    let mbr = [b"$mbr".to_vec()];
    let here = Where {
        volume,
        path: if volume.is_some() { &[] } else { &mbr },
    };
    let mut p = match start(dev, opts, what) {
        Ok(p) => p,
        Err(e) => {
            let why = format!("the file-system parser could not be started: {e}");
            return visit.problem(here, DiskProblem::ParserDied, &why);
        }
    };
    let ended = hello(&mut p).and_then(|()| relay(&mut p, opts, volume, visit));
    match ended {
        Ok(flow) => flow,
        Err(why) => visit.problem(here, DiskProblem::ParserDied, &why),
    }
}

/// Passes frames to the visitor until `Done`; `Err`: how the child died.
fn relay(
    p: &mut Parser,
    opts: &DiskOptions,
    volume: Option<&VolumeInfo>,
    visit: &mut dyn DiskVisitor,
) -> Result<Flow, String> {
    // Each entry is at most a file and a problem, plus the volume's own.
    let cap = opts.limits.max_entries.saturating_mul(2).saturating_add(64);
    let mut count: u64 = 0;
    loop {
        let frame = p.next().map_err(|e| p.death(Some(&e)))?;
        count += 1;
        if count > cap {
            return Err(p.death(Some(&ProtoError::Malformed(
                "more entries than the limits allow",
            ))));
        }
        let flow = match frame {
            Frame::File {
                in_volume,
                path,
                size,
                attrs,
            } => {
                let at = Where {
                    volume: volume.filter(|_| in_volume),
                    path: &path,
                };
                pass_file(p, at, size, attrs, visit)?
            }
            Frame::Problem {
                in_volume,
                path,
                kind,
                detail,
            } => {
                let at = Where {
                    volume: volume.filter(|_| in_volume),
                    path: &path,
                };
                visit.problem(at, problem_kind(kind), &detail)
            }
            Frame::Done => {
                return match p.finish() {
                    Some(s) if s.success() => Ok(Flow::Continue),
                    _ => Err(p.death(None)),
                }
            }
            _ => return Err(p.death(Some(&ProtoError::Malformed("an unexpected frame")))),
        };
        if flow == Flow::Stop {
            p.kill();
            return Ok(Flow::Stop);
        }
    }
}

/// Hands one streamed file to the visitor, then reads past whatever of it
/// the visitor left unread; `Err`: the child broke off mid-file.
fn pass_file(
    p: &mut Parser,
    at: Where<'_>,
    size: u64,
    attrs: kensa_diskfs::Attributes,
    visit: &mut dyn DiskVisitor,
) -> Result<Flow, String> {
    let mut data = Data::new(p, size);
    let flow = visit.file(at, size, attrs, &mut data);
    if flow == Flow::Stop {
        // The caller kills the child; the rest of the file is not wanted.
        return Ok(flow);
    }
    let drained = data.drain();
    drained.map_err(|e| p.death(Some(&e)))?;
    Ok(flow)
}

fn problem_kind(k: WireProblem) -> DiskProblem {
    match k {
        WireProblem::Fs(k) => DiskProblem::Fs(k),
        WireProblem::UnsupportedFs => DiskProblem::UnsupportedFs,
        WireProblem::Corrupt => DiskProblem::Corrupt,
    }
}

#[derive(Debug)]
enum State {
    Open,
    /// The end frame came; `Some`: the child could not read it all.
    Ended(Option<String>),
    /// The child failed mid-file (the error is kept for the relay).
    Broken(ProtoError),
}

/// A file's bytes as the child streams them: at most the declared size,
/// each wait bounded by the parser timeout.
struct Data<'a> {
    p: &'a mut Parser,
    left: u64,
    state: State,
    /// The current `Data` frame and how much of it was handed out.
    pending: Vec<u8>,
    pos: usize,
}

impl<'a> Data<'a> {
    fn new(p: &'a mut Parser, size: u64) -> Self {
        Data {
            p,
            left: size,
            state: State::Open,
            pending: Vec::new(),
            pos: 0,
        }
    }

    /// Takes the next frame of the file.
    fn step(&mut self) {
        self.state = match self.p.next() {
            Ok(Frame::Data(d)) if d.len() as u64 > self.left => {
                State::Broken(ProtoError::Malformed("more bytes than the file's size"))
            }
            Ok(Frame::Data(d)) => {
                self.left -= d.len() as u64;
                self.pending = d;
                self.pos = 0;
                State::Open
            }
            Ok(Frame::End(None)) if self.left > 0 => State::Ended(Some(format!(
                "the parser ended the file {} bytes short of its size",
                self.left
            ))),
            Ok(Frame::End(e)) => State::Ended(e),
            Ok(_) => State::Broken(ProtoError::Malformed("a frame inside a file's data")),
            Err(e) => State::Broken(e),
        };
    }

    /// Reads up to the end frame, discarding what the visitor left unread.
    fn drain(&mut self) -> Result<(), ProtoError> {
        while matches!(self.state, State::Open) {
            self.pending.clear();
            self.pos = 0;
            self.step();
        }
        match std::mem::replace(&mut self.state, State::Ended(None)) {
            State::Broken(e) => Err(e),
            _ => Ok(()),
        }
    }
}

impl Read for Data<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.pos);
                buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match &self.state {
                State::Open => self.step(),
                State::Ended(None) => return Ok(0),
                State::Ended(Some(e)) => return Err(io::Error::other(e.clone())),
                State::Broken(e) => return Err(io::Error::other(e.to_string())),
            }
        }
    }
}
