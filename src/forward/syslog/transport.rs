//! Sending encoded messages: one connection to a [`Target`], with a
//! deadline on every connect, name lookup and write, and one reconnect
//! when a send fails (a receiver restarted, a stream the peer closed). A
//! Unix socket is tried as a datagram socket first (as `/dev/log` is),
//! then as a stream socket; streams (TCP, Unix stream) carry octet-counted
//! frames, datagrams (UDP, Unix datagram) one message each. Nothing
//! acknowledges syslog over these transports: a sent message is one the
//! kernel took, and a stream the peer has closed is noticed before the
//! next write (a peek), not after.

use super::unix_socket::UnixConn;
use super::{encode::octet_counted, Message, SyslogError, Target};
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
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
    Unix(UnixConn),
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
            Conn::Unix(s) => s.write(msg),
            Conn::Udp(s) => whole(s.send(msg)?),
            Conn::Tcp(s) => (&*s).write_all(&octet_counted(msg)),
        }
    }

    /// For a stream: whether the peer has closed it (or it failed), seen
    /// without blocking and without taking any data.
    fn peer_closed(&self) -> bool {
        match self {
            Conn::Unix(s) => s.peer_closed(),
            Conn::Tcp(s) => tcp_peer_closed(s),
            Conn::Udp(_) => false,
        }
    }
}

/// A peek that does not wait: `Ok(0)` is the peer's close; an error other
/// than "nothing to read yet" is a broken stream.
fn tcp_peer_closed(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 1];
    let peeked = s.peek(&mut b);
    let restored = s.set_nonblocking(false).is_ok();
    match peeked {
        Ok(0) => true,
        Ok(_) => !restored,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock || !restored,
    }
}

/// Opens a connection to `target`.
fn open(target: &Target) -> Result<Conn, SyslogError> {
    let fail = |source: std::io::Error| SyslogError::Connect {
        target: target.to_string(),
        source,
    };
    match target {
        Target::Unix(path) => UnixConn::open(path).map(Conn::Unix).map_err(fail),
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
