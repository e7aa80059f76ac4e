//! The frames the sandboxed parser sends its parent on its stdout. Each
//! frame is a one-byte tag, a little-endian `u32` payload length and the
//! payload; the first frame is [`Frame::Hello`] with [`VERSION`], the last
//! [`Frame::Done`]. Names travel as raw bytes (a count, then each
//! component's length and bytes), so any name a medium holds arrives as it
//! is. The parent reads the child as untrusted: [`FrameReader`] refuses a
//! frame longer than [`MAX_FRAME`], a path with more than
//! [`MAX_COMPONENTS`] components or a component longer than [`MAX_NAME`],
//! text longer than [`MAX_TEXT`], and waits at most the parser timeout for
//! any byte.

use super::{Layout, VolumeInfo};
use kensa_diskfs::{Attributes, ProblemKind};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Protocol version; the parent refuses any other.
pub const VERSION: u32 = 1;
/// Longest frame payload.
pub const MAX_FRAME: usize = (1 << 20) + 4096;
/// Bytes of file data per `Data` frame the child sends.
pub const CHUNK: usize = 256 * 1024;
/// Components in one path.
pub const MAX_COMPONENTS: usize = 256;
/// Bytes in one component.
pub const MAX_NAME: usize = 4096;
/// Bytes of a problem's detail.
pub const MAX_TEXT: usize = 4096;
/// Volumes in one layout.
pub const MAX_VOLUMES: usize = 512;
/// A declared file size above this is refused (1 PiB).
pub const MAX_FILE_SIZE: u64 = 1 << 50;

/// What the child says.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Hello(u32),
    /// The probe's result.
    Layout(Layout),
    /// A file starts: in the volume (`true`) or on the device (`$mbr`).
    File {
        in_volume: bool,
        path: Vec<Vec<u8>>,
        size: u64,
        attrs: Attributes,
    },
    /// The next bytes of the current file.
    Data(Vec<u8>),
    /// The current file ended; `Some`: its data could not all be read.
    End(Option<String>),
    Problem {
        in_volume: bool,
        path: Vec<Vec<u8>>,
        kind: WireProblem,
        detail: String,
    },
    /// The job could not run (the probe failed).
    Failed(String),
    Done,
}

/// A problem's kind on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireProblem {
    Fs(ProblemKind),
    UnsupportedFs,
    Corrupt,
}

impl WireProblem {
    fn code(self) -> u8 {
        match self {
            WireProblem::Fs(ProblemKind::Corrupt) => 1,
            WireProblem::Fs(ProblemKind::Unsupported) => 2,
            WireProblem::Fs(ProblemKind::Limit) => 3,
            WireProblem::Fs(ProblemKind::Io) => 4,
            WireProblem::UnsupportedFs => 5,
            WireProblem::Corrupt => 6,
        }
    }

    fn from_code(c: u8) -> Option<WireProblem> {
        Some(match c {
            1 => WireProblem::Fs(ProblemKind::Corrupt),
            2 => WireProblem::Fs(ProblemKind::Unsupported),
            3 => WireProblem::Fs(ProblemKind::Limit),
            4 => WireProblem::Fs(ProblemKind::Io),
            5 => WireProblem::UnsupportedFs,
            6 => WireProblem::Corrupt,
            _ => return None,
        })
    }
}

const T_HELLO: u8 = 1;
const T_LAYOUT: u8 = 2;
const T_FILE: u8 = 3;
const T_DATA: u8 = 4;
const T_END: u8 = 5;
const T_PROBLEM: u8 = 6;
const T_FAILED: u8 = 7;
const T_DONE: u8 = 8;

fn put_path(out: &mut Vec<u8>, path: &[Vec<u8>]) {
    let n = path.len().min(MAX_COMPONENTS);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for c in &path[..n] {
        let c = &c[..c.len().min(MAX_NAME)];
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(c);
    }
}

fn put_text(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&s.as_bytes()[..end]);
}

fn attr_bits(a: Attributes) -> u8 {
    u8::from(a.hidden) | (u8::from(a.system) << 1)
}

/// Writes one frame (the child's side).
pub fn write_frame(w: &mut dyn Write, f: &Frame) -> io::Result<()> {
    let mut p = Vec::new();
    let tag = match f {
        Frame::Hello(v) => {
            p.extend_from_slice(&v.to_le_bytes());
            T_HELLO
        }
        Frame::Layout(l) => {
            p = serde_json::to_vec(l).map_err(io::Error::other)?;
            T_LAYOUT
        }
        Frame::File {
            in_volume,
            path,
            size,
            attrs,
        } => {
            p.push(u8::from(*in_volume));
            p.extend_from_slice(&size.to_le_bytes());
            p.push(attr_bits(*attrs));
            put_path(&mut p, path);
            T_FILE
        }
        Frame::Data(d) => return write_raw(w, T_DATA, d),
        Frame::End(e) => {
            if let Some(e) = e {
                put_text(&mut p, e);
            }
            T_END
        }
        Frame::Problem {
            in_volume,
            path,
            kind,
            detail,
        } => {
            p.push(u8::from(*in_volume));
            p.push(kind.code());
            put_path(&mut p, path);
            put_text(&mut p, detail);
            T_PROBLEM
        }
        Frame::Failed(s) => {
            put_text(&mut p, s);
            T_FAILED
        }
        Frame::Done => T_DONE,
    };
    write_raw(w, tag, &p)
}

fn write_raw(w: &mut dyn Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::other("frame too long"));
    }
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    w.write_all(&head)?;
    w.write_all(payload)
}

/// Why the child's output was refused or ended.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("the parser sent nothing for {0} s")]
    Silent(u64),
    #[error("reading from the parser failed: {0}")]
    Io(#[from] io::Error),
    #[error("the parser's output ended")]
    Eof,
    #[error("the parser sent a malformed frame: {0}")]
    Malformed(&'static str),
}

fn bad(why: &'static str) -> ProtoError {
    ProtoError::Malformed(why)
}

/// Bytes read from the pipe at once: whatever the child has written, up
/// to this, so a small frame costs no system call of its own.
const READ_AHEAD: usize = 1 << 20;

/// Reads frames from the child's stdout, each byte awaited at most
/// `timeout`, through a read-ahead buffer.
pub struct FrameReader<R: Read + AsRawFd> {
    src: R,
    timeout: Duration,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<R: Read + AsRawFd> FrameReader<R> {
    pub fn new(src: R, timeout: Duration) -> Self {
        FrameReader {
            src,
            timeout,
            buf: vec![0u8; READ_AHEAD],
            pos: 0,
            end: 0,
        }
    }

    /// Waits until the pipe has bytes (or is closed), at most the timeout.
    fn wait(&self) -> Result<(), ProtoError> {
        let mut pfd = libc::pollfd {
            fd: self.src.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX);
        loop {
            // SAFETY: one valid pollfd, its count is 1.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            match n {
                0 => return Err(ProtoError::Silent(self.timeout.as_secs())),
                n if n > 0 => return Ok(()),
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e.into());
                    }
                }
            }
        }
    }

    fn fill(&mut self, out: &mut [u8]) -> Result<(), ProtoError> {
        let mut got = 0;
        while got < out.len() {
            if self.pos == self.end {
                self.refill()?;
            }
            let n = (self.end - self.pos).min(out.len() - got);
            out[got..got + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            got += n;
        }
        Ok(())
    }

    /// Reads what the pipe holds (at least one byte) into the empty buffer.
    fn refill(&mut self) -> Result<(), ProtoError> {
        loop {
            self.wait()?;
            match self.src.read(&mut self.buf) {
                Ok(0) => return Err(ProtoError::Eof),
                Ok(n) => {
                    self.pos = 0;
                    self.end = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next frame.
    pub fn next(&mut self) -> Result<Frame, ProtoError> {
        let mut head = [0u8; 5];
        self.fill(&mut head)?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > MAX_FRAME {
            return Err(bad("a frame longer than the cap"));
        }
        let mut p = vec![0u8; len];
        self.fill(&mut p)?;
        decode(head[0], p)
    }
}

/// A cursor over a frame's payload.
struct Cur<'a>(&'a [u8]);

impl Cur<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ProtoError> {
        if self.0.len() < n {
            return Err(bad("a frame shorter than its fields"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, ProtoError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_le_bytes([b[0], b[1]])))
    }
    fn u64(&mut self) -> Result<u64, ProtoError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn path(&mut self) -> Result<Vec<Vec<u8>>, ProtoError> {
        let n = self.u16()?;
        if n > MAX_COMPONENTS {
            return Err(bad("a path with too many components"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let len = self.u16()?;
            if len > MAX_NAME {
                return Err(bad("a name longer than the cap"));
            }
            out.push(self.take(len)?.to_vec());
        }
        Ok(out)
    }
    fn text(self) -> Result<String, ProtoError> {
        if self.0.len() > MAX_TEXT {
            return Err(bad("a text longer than the cap"));
        }
        String::from_utf8(self.0.to_vec()).map_err(|_| bad("a text that is not UTF-8"))
    }
}

fn decode(tag: u8, p: Vec<u8>) -> Result<Frame, ProtoError> {
    let mut c = Cur(&p);
    Ok(match tag {
        T_HELLO => {
            let b = c.take(4)?;
            Frame::Hello(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        T_LAYOUT => Frame::Layout(layout(&p)?),
        T_FILE => {
            let in_volume = c.u8()? != 0;
            let size = c.u64()?;
            if size > MAX_FILE_SIZE {
                return Err(bad("a file size above the cap"));
            }
            let bits = c.u8()?;
            let path = c.path()?;
            Frame::File {
                in_volume,
                path,
                size,
                attrs: Attributes {
                    hidden: bits & 1 != 0,
                    system: bits & 2 != 0,
                },
            }
        }
        T_DATA => Frame::Data(p),
        T_END if p.is_empty() => Frame::End(None),
        T_END => Frame::End(Some(c.text()?)),
        T_PROBLEM => {
            let in_volume = c.u8()? != 0;
            let kind = WireProblem::from_code(c.u8()?).ok_or(bad("an unknown problem kind"))?;
            let path = c.path()?;
            Frame::Problem {
                in_volume,
                path,
                kind,
                detail: c.text()?,
            }
        }
        T_FAILED => Frame::Failed(c.text()?),
        T_DONE => Frame::Done,
        _ => return Err(bad("an unknown frame tag")),
    })
}

/// A layout from the child, checked: a bounded number of volumes and
/// problems, short strings.
fn layout(p: &[u8]) -> Result<Layout, ProtoError> {
    let l: Layout = serde_json::from_slice(p).map_err(|_| bad("a layout that is not JSON"))?;
    let short = |s: &Option<String>| s.as_ref().is_none_or(|s| s.len() <= 256);
    let vol_ok = |v: &VolumeInfo| {
        short(&v.fs) && short(&v.label) && short(&v.serial) && short(&v.partition_type)
    };
    if l.volumes.len() > MAX_VOLUMES
        || !l.volumes.iter().all(vol_ok)
        || l.problems.len() > 64
        || l.problems.iter().any(|s| s.len() > MAX_TEXT)
    {
        return Err(bad("a layout over the caps"));
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn round_trip(frames: &[Frame]) -> Vec<Frame> {
        let (mut a, b) = UnixStream::pair().unwrap();
        for f in frames {
            write_frame(&mut a, f).unwrap();
        }
        drop(a);
        let mut r = FrameReader::new(b, Duration::from_secs(5));
        let mut out = Vec::new();
        while let Ok(f) = r.next() {
            out.push(f);
        }
        out
    }

    #[test]
    fn frames_round_trip_with_binary_names() {
        let frames = vec![
            Frame::Hello(VERSION),
            Frame::File {
                in_volume: true,
                path: vec![b"a\0b\xff/".to_vec(), b"\x1b[31m".to_vec()],
                size: 3,
                attrs: Attributes {
                    hidden: true,
                    system: false,
                },
            },
            Frame::Data(b"abc".to_vec()),
            Frame::End(None),
            Frame::Problem {
                in_volume: false,
                path: vec![],
                kind: WireProblem::Fs(ProblemKind::Limit),
                detail: "x".into(),
            },
            Frame::Layout(Layout::default()),
            Frame::End(Some("short".into())),
            Frame::Done,
        ];
        assert_eq!(round_trip(&frames), frames);
    }

    #[test]
    fn oversized_frames_and_names_are_refused() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&[T_DATA, 0xff, 0xff, 0xff, 0x7f]).unwrap();
        let mut r = FrameReader::new(b, Duration::from_secs(5));
        assert!(matches!(r.next(), Err(ProtoError::Malformed(_))));
        let mut p = vec![1u8];
        p.extend_from_slice(&0u64.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&1u16.to_le_bytes());
        p.extend_from_slice(&5000u16.to_le_bytes());
        assert!(matches!(decode(T_FILE, p), Err(ProtoError::Malformed(_))));
    }

    #[test]
    fn silence_times_out() {
        let (_a, b) = UnixStream::pair().unwrap();
        let mut r = FrameReader::new(b, Duration::from_millis(100));
        assert!(matches!(r.next(), Err(ProtoError::Silent(_))));
    }
}
