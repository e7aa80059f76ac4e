//! The Unix-socket syslog target on Windows, where there is no
//! `/dev/log`: `unix:` targets are refused when the sender connects, with
//! an error that names the targets Windows has (`tcp://`, `udp://`).
//! [`UnixConn`] has no values, so nothing past the refusal exists.

use std::path::Path;

/// A Unix-socket connection, which cannot exist on Windows.
pub enum UnixConn {}

impl UnixConn {
    pub fn open(path: &Path) -> std::io::Result<UnixConn> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!(
                "{}: Unix sockets are not used on Windows; send to tcp://HOST:PORT or udp://HOST:PORT",
                crate::engine::pathfmt::display(path)
            ),
        ))
    }

    pub fn write(&self, _msg: &[u8]) -> std::io::Result<()> {
        match *self {}
    }

    pub fn peer_closed(&self) -> bool {
        match *self {}
    }
}
