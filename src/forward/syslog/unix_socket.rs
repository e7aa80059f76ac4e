//! The Unix-socket transport of syslog (`unix:/dev/log`): a datagram
//! socket first, as `/dev/log` is, else a stream socket carrying
//! octet-counted frames, connected without ever waiting on a full
//! listener queue. Windows has its own `unix_socket_windows.rs`, where
//! this target is refused.

use super::encode::octet_counted;
use super::transport::WRITE_TIMEOUT;
use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

/// An open connection to a Unix socket.
pub enum UnixConn {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

impl UnixConn {
    /// A datagram socket connected to `path`, or a stream socket when the
    /// socket at `path` is a stream one.
    pub fn open(path: &Path) -> std::io::Result<UnixConn> {
        let s = UnixDatagram::unbound()?;
        match s.connect(path) {
            Ok(()) => {
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                Ok(UnixConn::Datagram(s))
            }
            Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                Ok(UnixConn::Stream(unix_stream_connect(path)?))
            }
            Err(e) => Err(e),
        }
    }

    /// Sends one message: whole as a datagram, framed on a stream.
    pub fn write(&self, msg: &[u8]) -> std::io::Result<()> {
        match self {
            UnixConn::Datagram(s) => match s.send(msg)? == msg.len() {
                true => Ok(()),
                false => Err(std::io::Error::other("the datagram was cut")),
            },
            UnixConn::Stream(s) => (&*s).write_all(&octet_counted(msg)),
        }
    }

    /// For a stream: whether the peer has closed it (or it failed), seen
    /// without blocking and without taking any data.
    pub fn peer_closed(&self) -> bool {
        let UnixConn::Stream(s) = self else {
            return false;
        };
        let mut b = [0u8; 1];
        // SAFETY: recv writes at most 1 byte into `b`, which outlives the
        // call; the socket is open and owned by `self`.
        let n = unsafe {
            libc::recv(
                s.as_raw_fd(),
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => true,
            n if n > 0 => false,
            _ => std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

/// A Unix stream connection that never waits: a connect on a blocking
/// socket would wait for as long as the listener's queue stays full, so
/// the socket connects non-blocking and a full queue is an error.
fn unix_stream_connect(path: &Path) -> std::io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is a plain C struct; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a valid Unix socket path",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: socket(2) has no memory preconditions.
    let fd = unsafe { libc::socket(libc::AF_UNIX, flags, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes that outlives
    // the call; `fd` is open (owned above).
    let rc = unsafe { libc::connect(fd, (&raw const addr).cast(), len) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "the receiver's connection queue is full",
            ));
        }
        return Err(e);
    }
    let s = UnixStream::from(owned);
    s.set_nonblocking(false)?;
    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    Ok(s)
}
