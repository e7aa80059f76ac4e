//! The gate's control socket (`<state>/gate.sock`, `AF_UNIX`, mode 0600):
//! `kensa release` asks the running agent to let go of a held device. One
//! JSON line in (`{"release": "loop3", "by": …, "note": …}`, at most
//! [`MAX_REQUEST`] bytes), one JSON line out (`{"ok": …}` or `{"error":
//! …}`). The peer's credentials (`SO_PEERCRED`) must be root or the
//! socket file's owner (the agent's user); anyone else is refused before
//! the request is read.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest request line.
pub const MAX_REQUEST: u64 = 64 * 1024;
/// How long either side waits for the other.
const IO_LIMIT: Duration = Duration::from_secs(30);

/// The socket of the gate under a state directory.
pub fn socket_path(state: &crate::state::StateDir) -> PathBuf {
    state.root().join("gate.sock")
}

/// What `kensa release` asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Device node or kernel name.
    pub release: String,
    pub by: String,
    pub note: String,
}

/// The agent's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no agent with the gate is running (no control socket at {0})")]
    NoAgent(String),
    #[error("talking to the agent: {0}")]
    Io(#[from] std::io::Error),
    #[error("the agent's answer is not understood: {0}")]
    Reply(String),
}

/// Binds the socket (replacing a stale one), mode 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The peer's uid.
fn peer_uid(s: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for getsockopt(SO_PEERCRED).
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// Reads the request of an accepted connection after checking who sent
/// it; `Err` carries the reply for a refused one.
pub fn read_request(s: &UnixStream, socket: &Path) -> Result<Request, String> {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(IO_LIMIT));
    let _ = s.set_write_timeout(Some(IO_LIMIT));
    let uid = peer_uid(s).map_err(|e| format!("cannot tell who is asking: {e}"))?;
    let owner = std::fs::metadata(socket).map(|m| m.uid()).ok();
    if uid != 0 && Some(uid) != owner {
        return Err(format!(
            "uid {uid} may not control the gate (root or the agent's user only)"
        ));
    }
    let mut line = Vec::new();
    BufReader::new(s.take(MAX_REQUEST + 1))
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the request: {e}"))?;
    if line.len() as u64 > MAX_REQUEST {
        return Err("request too large".into());
    }
    serde_json::from_slice(&line).map_err(|e| format!("bad request: {e}"))
}

/// Writes one reply line.
pub fn answer(mut s: &UnixStream, reply: &Reply) {
    if let Ok(mut text) = serde_json::to_vec(reply) {
        text.push(b'\n');
        let _ = s.write_all(&text);
    }
}

/// Client side: sends `req` to the agent behind `socket`.
pub fn ask(socket: &Path, req: &Request) -> Result<Reply, ControlError> {
    let shown = crate::engine::pathfmt::display(socket);
    let mut s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ControlError::NoAgent(shown))
        }
        Err(e) => return Err(e.into()),
    };
    s.set_read_timeout(Some(IO_LIMIT))?;
    s.set_write_timeout(Some(IO_LIMIT))?;
    let mut text = serde_json::to_vec(req).map_err(|e| ControlError::Reply(e.to_string()))?;
    text.push(b'\n');
    s.write_all(&text)?;
    let mut line = Vec::new();
    BufReader::new((&s).take(MAX_REQUEST)).read_until(b'\n', &mut line)?;
    serde_json::from_slice(&line).map_err(|e| ControlError::Reply(e.to_string()))
}
