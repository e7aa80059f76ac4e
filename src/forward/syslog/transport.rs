//! Sending encoded messages: one connection to a [`Target`], with a
//! deadline on every connect, name lookup and write, and one reconnect
//! when a send fails (a receiver restarted, a stream the peer closed). A
//! Unix socket is tried as a datagram socket first (as `/dev/log` is),
//! then as a stream socket; streams (TCP, Unix stream) carry octet-counted
//! frames, datagrams (UDP, Unix datagram) one message each. Nothing
//! acknowledges syslog over these transports: a sent message is one the
//! kernel took, and a stream the peer has closed is noticed before the
//! next write (a peek), not after.

use super::{encode::octet_counted, Message, SyslogError, Target};
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
#[cfg(unix)]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
#[cfg(unix)]
use std::os::unix::net::{UnixDatagram, UnixStream};
#[cfg(unix)]
use std::path::Path;
use std::time::Duration;

/// Deadline of a connect (and of a name lookup).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of one write.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// An open connection to a syslog receiver.
pub struct Sender {
    target: Target,
    conn: Option<Conn>,
}

enum Conn {
    #[cfg(unix)]
    UnixDatagram(UnixDatagram),
    #[cfg(unix)]
    UnixStream(UnixStream),
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Sender {
    /// Connects to `target` now, so a wrong destination is reported at
    /// once.
    pub fn connect(target: &Target) -> Result<Sender, SyslogError> {
        let conn = open(target)?;
        Ok(Sender {
            target: target.clone(),
            conn: Some(conn),
        })
    }

    /// Where this sender sends.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Encodes and sends one message.
    pub fn send(&mut self, m: &Message) -> Result<(), SyslogError> {
        self.send_encoded(&m.to_rfc5424())
    }

    /// Sends one encoded message (framed here as the transport needs). A
    /// failed write is tried once more on a new connection.
    pub fn send_encoded(&mut self, msg: &[u8]) -> Result<(), SyslogError> {
        if self.conn.as_ref().is_some_and(Conn::peer_closed) {
            self.conn = None;
        }
        let mut last = None;
        for _ in 0..2 {
            let conn = match self.conn.take() {
                Some(c) => c,
                None => open(&self.target)?,
            };
            match conn.write(msg) {
                Ok(()) => {
                    self.conn = Some(conn);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(SyslogError::Send {
            target: self.target.to_string(),
            source: last.unwrap_or_else(|| std::io::Error::other("not sent")),
        })
    }
}

impl Conn {
    fn write(&self, msg: &[u8]) -> std::io::Result<()> {
        let whole = |n: usize| match n == msg.len() {
            true => Ok(()),
            false => Err(std::io::Error::other("the datagram was cut")),
        };
        match self {
            #[cfg(unix)]
            Conn::UnixDatagram(s) => whole(s.send(msg)?),
            Conn::Udp(s) => whole(s.send(msg)?),
            #[cfg(unix)]
            Conn::UnixStream(s) => (&*s).write_all(&octet_counted(msg)),
            Conn::Tcp(s) => (&*s).write_all(&octet_counted(msg)),
        }
    }

    /// For a stream: whether the peer has closed it (or it failed), seen
    /// without blocking and without taking any data.
    #[cfg(not(unix))]
    fn peer_closed(&self) -> bool {
        let Conn::Tcp(s) = self else {
            return false;
        };
        let mut b = [0u8; 1];
        if s.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match s.peek(&mut b) {
            Ok(n) => n == 0,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        };
        closed || s.set_nonblocking(false).is_err()
    }

    /// For a stream: whether the peer has closed it (or it failed), seen
    /// without blocking and without taking any data.
    #[cfg(unix)]
    fn peer_closed(&self) -> bool {
        let fd = match self {
            Conn::UnixStream(s) => s.as_raw_fd(),
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::UnixDatagram(_) | Conn::Udp(_) => return false,
        };
        let mut b = [0u8; 1];
        // SAFETY: recv writes at most 1 byte into `b`, which outlives the
        // call; `fd` is an open socket owned by `self`.
        let n = unsafe {
            libc::recv(
                fd,
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

/// Opens a connection to `target`.
fn open(target: &Target) -> Result<Conn, SyslogError> {
    let fail = |source: std::io::Error| SyslogError::Connect {
        target: target.to_string(),
        source,
    };
    match target {
        #[cfg(unix)]
        Target::Unix(path) => open_unix(path).map_err(fail),
        #[cfg(not(unix))]
        Target::Unix(_) => Err(fail(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "Unix sockets exist only on Unix",
        ))),
        Target::Tcp { host, port } => {
            let addrs = resolve(host, *port)?;
            open_tcp(&addrs).map_err(fail)
        }
        Target::Udp { host, port } => {
            let addrs = resolve(host, *port)?;
            open_udp(&addrs).map_err(fail)
        }
    }
}

/// A datagram socket connected to `path`, or a stream socket when the
/// socket at `path` is a stream one.
#[cfg(unix)]
fn open_unix(path: &Path) -> std::io::Result<Conn> {
    let s = UnixDatagram::unbound()?;
    match s.connect(path) {
        Ok(()) => {
            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
            Ok(Conn::UnixDatagram(s))
        }
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
            Ok(Conn::UnixStream(unix_stream_connect(path)?))
        }
        Err(e) => Err(e),
    }
}

/// A Unix stream connection that never waits: a connect on a blocking
/// socket would wait for as long as the listener's queue stays full, so
/// the socket connects non-blocking and a full queue is an error.
#[cfg(unix)]
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

fn open_tcp(addrs: &[SocketAddr]) -> std::io::Result<Conn> {
    let mut last = std::io::Error::other("the host has no address");
    for a in addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                s.set_nodelay(true)?;
                return Ok(Conn::Tcp(s));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn open_udp(addrs: &[SocketAddr]) -> std::io::Result<Conn> {
    let a = addrs
        .first()
        .ok_or_else(|| std::io::Error::other("the host has no address"))?;
    let local: SocketAddr = match a {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(local)?;
    s.connect(a)?;
    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
    Ok(Conn::Udp(s))
}

/// The addresses of `host` (an IP address as it is; a name looked up on a
/// helper thread, so a resolver that does not answer costs at most
/// [`CONNECT_TIMEOUT`]).
fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, SyslogError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let fail = |source| SyslogError::Resolve {
        host: host.to_string(),
        source,
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let name = host.to_string();
    std::thread::Builder::new()
        .name("kensa-resolve".into())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(found);
        })
        .map_err(fail)?;
    match rx.recv_timeout(CONNECT_TIMEOUT) {
        Ok(found) => found.map_err(fail),
        Err(_) => Err(fail(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer from the resolver",
        ))),
    }
}
