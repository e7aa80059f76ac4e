//! Desktop notifications of the gate's verdicts: one freedesktop
//! `org.freedesktop.Notifications.Notify` call on the session bus of each
//! logged-in user (`/run/user/UID/bus`), sent as that user. The agent
//! never speaks to a user's bus itself: it starts kensa with the hidden
//! first argument [`ENTRY`] (checked in `main.rs` before any argument
//! parsing) under the user's uid and gid, which speaks the
//! small part of the D-Bus wire protocol it needs (`AUTH EXTERNAL`,
//! `Hello`, `Notify` with NO_REPLY_EXPECTED, then `GetId` so the bus has
//! routed the notification before the connection closes). No D-Bus crate:
//! zbus would bring an async runtime for three messages.
//!
//! Test-only: `KENSA_TEST_NOTIFY_BUS=unix:path=…` sends to that bus
//! alone, as the agent's own user.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The hidden first argument that makes kensa the notifier.
pub const ENTRY: &str = "__kensa-gate-notify";
/// The test hook's environment variable.
pub const TEST_BUS_ENV: &str = "KENSA_TEST_NOTIFY_BUS";
/// Longest a notifying child may take.
const CHILD_LIMIT: Duration = Duration::from_secs(5);
/// Largest D-Bus message read back.
const MAX_MESSAGE: usize = 64 * 1024;
/// Longest text sent in a notification.
const MAX_TEXT: usize = 1024;

/// A session bus to notify and whom to be there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub address: String,
    /// `None`: as the agent's own user (the test hook).
    pub user: Option<(u32, u32)>,
}

/// The session buses of logged-in users (`/run/user/UID/bus`), or the
/// test bus.
pub fn targets() -> Vec<Target> {
    if let Ok(a) = std::env::var(TEST_BUS_ENV) {
        return vec![Target {
            address: a,
            user: None,
        }];
    }
    let Ok(rd) = std::fs::read_dir("/run/user") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.filter_map(|e| e.ok()).take(256) {
        let Some(uid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let bus = e.path().join("bus");
        let Ok(meta) = std::fs::symlink_metadata(&bus) else {
            continue;
        };
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        if !meta.file_type().is_socket() || meta.uid() != uid || uid == 0 {
            continue;
        }
        out.push(Target {
            address: format!("unix:path={}", bus.display()),
            user: Some((uid, meta.gid())),
        });
    }
    out
}

/// Sends `summary`/`body` to every target, each through a child process,
/// on a thread of its own (never blocks the caller).
pub fn send_all(summary: String, body: String) {
    let targets = targets();
    if targets.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("kensa-notify".into())
        .spawn(move || {
            for t in targets {
                if let Err(e) = send_as(&t, &summary, &body) {
                    tracing::debug!(bus = %t.address, "no desktop notification: {e}");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the notification thread: {e}");
    }
}

fn send_as(t: &Target, summary: &str, body: &str) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args([ENTRY, &t.address, summary, body])
        .env_remove("KENSA_STATE_DIR")
        .env_remove("KENSA_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some((uid, gid)) = t.user {
        cmd.uid(uid).gid(gid);
        cmd.env("HOME", "/").current_dir("/");
    }
    let mut child = cmd.spawn()?;
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            return if st.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "the notifier ended with {st}"
                )))
            };
        }
        if start.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("the notifier timed out"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Text for a notification: no NUL, no markup (the body may be read as
/// a subset of HTML), capped.
pub fn inert(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(MAX_TEXT) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The path of a `unix:path=` address.
fn socket_path(address: &str) -> std::io::Result<PathBuf> {
    let first = address.split(';').next().unwrap_or("");
    let rest = first
        .strip_prefix("unix:")
        .ok_or_else(|| std::io::Error::other("only unix: bus addresses are supported"))?;
    for kv in rest.split(',') {
        if let Some(p) = kv.strip_prefix("path=") {
            return Ok(PathBuf::from(p));
        }
    }
    Err(std::io::Error::other("the bus address has no path="))
}

/// When this process was started as the notifier (`ENTRY ADDRESS SUMMARY
/// BODY`), sends the notification and returns the exit status (0 sent, 1
/// not sent, 3 bad arguments); `None` otherwise.
pub fn run_if_notifier() -> Option<u8> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != ENTRY {
        return None;
    }
    let mut text = || args.next().and_then(|a| a.into_string().ok());
    let (Some(address), Some(summary), Some(body)) = (text(), text(), text()) else {
        return Some(3);
    };
    Some(match notify(&address, &summary, &body) {
        Ok(()) => 0,
        Err(_) => 1,
    })
}

/// One notification on the bus at `address`, as the calling user.
pub fn notify(address: &str, summary: &str, body: &str) -> std::io::Result<()> {
    let path = socket_path(address)?;
    let mut s = UnixStream::connect(Path::new(&path))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.set_write_timeout(Some(Duration::from_secs(3)))?;
    auth(&mut s)?;
    let bus = (
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
    );
    s.write_all(&call(1, 0, bus, "Hello", "", &[]))?;
    read_reply(&mut s, 1)?;
    let body_bytes = notify_body(&inert(summary), &inert(body));
    let target = (
        "org.freedesktop.Notifications",
        "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications",
    );
    s.write_all(&call(
        2,
        NO_REPLY_EXPECTED,
        target,
        "Notify",
        "susssasa{sv}i",
        &body_bytes,
    ))?;
    s.write_all(&call(3, 0, bus, "GetId", "", &[]))?;
    read_reply(&mut s, 3)
}

fn auth(s: &mut UnixStream) -> std::io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let hex_uid = hex::encode(uid.to_string());
    s.write_all(format!("\0AUTH EXTERNAL {hex_uid}\r\n").as_bytes())?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() > 512 || s.read(&mut b)? == 0 {
            return Err(std::io::Error::other(
                "the bus closed during authentication",
            ));
        }
        line.push(b[0]);
    }
    if !line.starts_with(b"OK ") {
        return Err(std::io::Error::other("the bus refused authentication"));
    }
    s.write_all(b"BEGIN\r\n")
}

const NO_REPLY_EXPECTED: u8 = 0x1;

/// A little-endian D-Bus marshaller (alignment relative to its start,
/// which is 8-aligned in the message).
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn pad(&mut self, n: usize) {
        while !self.0.len().is_multiple_of(n) {
            self.0.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, v: &str) {
        let len = u32::try_from(v.len()).unwrap_or(0);
        self.u32(len);
        self.0.extend_from_slice(&v.as_bytes()[..len as usize]);
        self.0.push(0);
    }
    fn sig(&mut self, v: &str) {
        self.0.push(u8::try_from(v.len()).unwrap_or(0));
        self.0.extend_from_slice(v.as_bytes());
        self.0.push(0);
    }
    /// One header field `(y v)` with a string-like value of type `t`.
    fn field(&mut self, code: u8, t: &str, v: &str) {
        self.pad(8);
        self.0.push(code);
        self.sig(t);
        if t == "g" {
            self.sig(v);
        } else {
            self.str(v);
        }
    }
}

fn notify_body(summary: &str, body: &str) -> Vec<u8> {
    let mut w = W::default();
    w.str("kensa");
    w.u32(0);
    w.str("drive-removable-media");
    w.str(summary);
    w.str(body);
    w.u32(0); // actions: empty as
    w.u32(0); // hints: empty a{sv} …
    w.pad(8); // … whose entries would start 8-aligned
    w.u32(u32::MAX); // expire_timeout -1: the server's default
    w.0
}

/// A METHOD_CALL message.
fn call(
    serial: u32,
    flags: u8,
    (dest, path, iface): (&str, &str, &str),
    member: &str,
    signature: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut f = W::default();
    f.field(1, "o", path);
    f.field(2, "s", iface);
    f.field(3, "s", member);
    f.field(6, "s", dest);
    if !signature.is_empty() {
        f.field(8, "g", signature);
    }
    let mut m = vec![b'l', 1, flags, 1];
    m.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_le_bytes());
    m.extend_from_slice(&serial.to_le_bytes());
    m.extend_from_slice(&u32::try_from(f.0.len()).unwrap_or(0).to_le_bytes());
    // The field array starts at 16, already 8-aligned.
    m.extend_from_slice(&f.0);
    while !m.len().is_multiple_of(8) {
        m.push(0);
    }
    m.extend_from_slice(body);
    m
}

/// Reads messages until the method return (Ok) or error (Err) that
/// answers call `serial`; signals (NameAcquired) and the bus's answers to
/// other calls (an error for a Notify nobody serves) are passed over.
fn read_reply(s: &mut UnixStream, serial: u32) -> std::io::Result<()> {
    for _ in 0..16 {
        let mut head = [0u8; 16];
        s.read_exact(&mut head)?;
        let le = head[0] == b'l';
        let word = |b: &[u8], i: usize| -> u32 {
            let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
            if le {
                u32::from_le_bytes(w)
            } else {
                u32::from_be_bytes(w)
            }
        };
        let (body, fields) = (word(&head, 4) as usize, word(&head, 12) as usize);
        let rest = fields.div_ceil(8) * 8 + body;
        if rest > MAX_MESSAGE {
            return Err(std::io::Error::other("oversized message from the bus"));
        }
        let mut tail = vec![0u8; rest];
        s.read_exact(&mut tail)?;
        if reply_serial(&tail[..fields], &word) != Some(serial) {
            continue;
        }
        match head[1] {
            2 => return Ok(()),
            3 => return Err(std::io::Error::other("the bus answered with an error")),
            _ => {}
        }
    }
    Err(std::io::Error::other("no reply from the bus"))
}

/// The REPLY_SERIAL header field (code 5) of a message's field array
/// (which starts 8-aligned in the message).
fn reply_serial(f: &[u8], word: &dyn Fn(&[u8], usize) -> u32) -> Option<u32> {
    let mut i = 0usize;
    let align = |i: usize, n: usize| i.div_ceil(n) * n;
    while i < f.len() {
        i = align(i, 8);
        let code = *f.get(i)?;
        let siglen = usize::from(*f.get(i + 1)?);
        let sig = f.get(i + 2..i + 2 + siglen)?.to_vec();
        i += 3 + siglen;
        match sig.as_slice() {
            b"u" => {
                i = align(i, 4);
                f.get(i..i + 4)?;
                let v = word(f, i);
                if code == 5 {
                    return Some(v);
                }
                i += 4;
            }
            b"s" | b"o" => {
                i = align(i, 4);
                f.get(i..i + 4)?;
                i += 4 + word(f, i) as usize + 1;
            }
            b"g" => i += 1 + usize::from(*f.get(i)?) + 1,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_controls_are_inert() {
        assert_eq!(inert("a<b>&\u{1b}[2J"), "a&lt;b&gt;&amp; [2J");
    }

    #[test]
    fn message_layout() {
        let m = call(7, 1, ("d", "/p", "i"), "M", "", &[]);
        assert_eq!(&m[..4], &[b'l', 1, 1, 1]);
        assert_eq!(m.len() % 8, 0);
        let body = notify_body("s", "b");
        // hints' 8-alignment: the final i32 starts 4-aligned after it.
        assert_eq!(body.len() % 4, 0);
        assert_eq!(
            socket_path("unix:path=/x/bus,guid=1").unwrap(),
            PathBuf::from("/x/bus")
        );
        assert!(socket_path("tcp:host=x").is_err());
    }

    #[test]
    fn reply_serial_is_found_among_fields() {
        let mut f = W::default();
        f.field(6, "s", ":1.1");
        f.pad(8);
        f.0.push(5);
        f.sig("u");
        f.u32(3);
        let le = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        assert_eq!(reply_serial(&f.0, &le), Some(3));
        assert_eq!(reply_serial(&f.0[..5], &le), None);
        assert_eq!(reply_serial(&[0xff; 40], &le), None);
    }
}
