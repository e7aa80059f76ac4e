//! Where syslog messages go: `unix:PATH`, `tcp:HOST:PORT` or
//! `udp:HOST:PORT` (an IPv6 address in brackets: `tcp:[::1]:6514`), parsed
//! with a message that says what is wrong and what is expected.

use super::SyslogError;
use std::path::PathBuf;

/// Longest path of a Unix socket address (`sun_path` holds 108 bytes with
/// the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;
/// What a destination looks like, for error messages.
const EXPECTED: &str = "expected unix:PATH, tcp:HOST:PORT or udp:HOST:PORT \
                        (an IPv6 address in brackets: tcp:[::1]:514)";

/// A syslog destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Unix socket, datagram (as `/dev/log` is) or stream.
    Unix(PathBuf),
    /// TCP with octet-counted framing (RFC 6587 §3.4.1).
    Tcp { host: String, port: u16 },
    /// UDP, one message per datagram (RFC 5426).
    Udp { host: String, port: u16 },
}

impl Target {
    /// True for a Unix socket (the only kind the agent may use).
    pub fn is_unix(&self) -> bool {
        matches!(self, Target::Unix(_))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = |h: &str| match h.contains(':') {
            true => format!("[{h}]"),
            false => h.to_string(),
        };
        match self {
            Target::Unix(p) => write!(f, "unix:{}", crate::engine::pathfmt::show(p)),
            Target::Tcp { host: h, port } => write!(f, "tcp:{}:{port}", host(h)),
            Target::Udp { host: h, port } => write!(f, "udp:{}:{port}", host(h)),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = SyslogError;

    fn from_str(s: &str) -> Result<Target, SyslogError> {
        let bad = |why: &str| SyslogError::Target {
            given: crate::output::sanitize(&s.chars().take(120).collect::<String>()).into_owned(),
            why: why.to_string(),
        };
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(bad(EXPECTED));
        };
        match scheme {
            "unix" => unix_path(rest).map(Target::Unix).map_err(bad),
            "tcp" => host_port(rest)
                .map(|(host, port)| Target::Tcp { host, port })
                .map_err(bad),
            "udp" => host_port(rest)
                .map(|(host, port)| Target::Udp { host, port })
                .map_err(bad),
            _ => Err(bad(&format!("unknown kind of destination; {EXPECTED}"))),
        }
    }
}

/// The path of `unix:PATH`.
fn unix_path(p: &str) -> Result<PathBuf, &'static str> {
    if p.is_empty() {
        return Err("no socket path after unix:");
    }
    if p.contains('\0') {
        return Err("a socket path cannot hold a NUL character");
    }
    if p.len() > MAX_SOCKET_PATH {
        return Err("the socket path is longer than a Unix socket address holds (107 bytes)");
    }
    Ok(PathBuf::from(p))
}

/// `HOST:PORT` or `[IPV6]:PORT`.
fn host_port(s: &str) -> Result<(String, u16), &'static str> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (addr, port) = rest
            .split_once("]:")
            .ok_or("an IPv6 address in brackets must be followed by :PORT")?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "not an IPv6 address between the brackets")?;
        (addr, port)
    } else {
        let (host, port) = s.rsplit_once(':').ok_or("no :PORT after the host")?;
        if host.contains(':') {
            return Err("an IPv6 address goes in brackets, as in tcp:[::1]:514");
        }
        let name_ok = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if host.is_empty() || host.len() > 253 || !name_ok {
            return Err("the host must be a name (letters, digits, '.', '-') or an IP address");
        }
        (host, port)
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or("the port must be a number from 1 to 65535")?;
    Ok((host.to_string(), port))
}
