//! Kernel uevents of block devices: a netlink socket (`AF_NETLINK`,
//! `NETLINK_KOBJECT_UEVENT`, multicast group 1 = the kernel's own events,
//! which arrive before udev has processed them and so before any
//! automounter acts) and the parser of one message (`ACTION@DEVPATH` then
//! `KEY=VALUE` fields, each NUL-terminated). Messages from anyone but the
//! kernel (sender port id 0) are dropped; only `SUBSYSTEM=block` events
//! are returned.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Largest uevent message read (the kernel's own cap is 2048 bytes of
/// environment plus the header).
const MAX_MESSAGE: usize = 8192;
/// Kernel events (udev's re-broadcasts are group 2).
const KERNEL_GROUP: u32 = 1;

/// One block-device uevent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uevent {
    /// `add`, `remove`, `change`, …
    pub action: String,
    /// The sysfs path below `/sys` (`/devices/virtual/block/loop3`).
    pub devpath: String,
    /// Kernel name (`sdb`, `sdb1`, `loop3`).
    pub devname: String,
    /// `disk` or `partition`.
    pub devtype: String,
}

/// The listening socket.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Binds to the kernel's uevent multicast group.
    pub fn open() -> std::io::Result<Listener> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_KOBJECT_UEVENT,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = KERNEL_GROUP;
        // SAFETY: addr is a valid sockaddr_nl of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Listener { fd })
    }

    /// The next block-device event, waiting at most `timeout`; `Ok(None)`
    /// on timeout or when the message was not one.
    pub fn next(&self, timeout: Duration) -> std::io::Result<Option<Uevent>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if n == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; MAX_MESSAGE];
        // SAFETY: sockaddr_nl is plain data.
        let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: buf and from are valid for the sizes given.
        let got = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_nl).cast(),
                &mut len,
            )
        };
        if got < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(None),
                // ENOBUFS: events were lost; the caller rescans.
                _ => Err(e),
            };
        }
        if from.nl_pid != 0 {
            return Ok(None);
        }
        let got = usize::try_from(got).unwrap_or(0).min(buf.len());
        Ok(parse(&buf[..got]))
    }
}

/// One kernel uevent message, when it is about a block device.
pub fn parse(msg: &[u8]) -> Option<Uevent> {
    let mut parts = msg.split(|b| *b == 0).filter(|p| !p.is_empty());
    let head = std::str::from_utf8(parts.next()?).ok()?;
    let (action, _) = head.split_once('@')?;
    let mut ev = Uevent {
        action: action.to_string(),
        devpath: String::new(),
        devname: String::new(),
        devtype: String::new(),
    };
    let mut block = false;
    for p in parts {
        let Ok(kv) = std::str::from_utf8(p) else {
            continue;
        };
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        match k {
            "ACTION" => ev.action = v.to_string(),
            "DEVPATH" => ev.devpath = v.to_string(),
            "DEVNAME" => ev.devname = v.trim_start_matches("/dev/").to_string(),
            "DEVTYPE" => ev.devtype = v.to_string(),
            "SUBSYSTEM" => block = v == "block",
            _ => {}
        }
    }
    if !block || ev.devpath.is_empty() {
        return None;
    }
    if ev.devname.is_empty() {
        ev.devname = ev.devpath.rsplit('/').next()?.to_string();
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_block_event_and_drops_others() {
        let m = b"change@/devices/virtual/block/loop3\0ACTION=change\0DEVPATH=/devices/virtual/block/loop3\0SUBSYSTEM=block\0DEVNAME=loop3\0DEVTYPE=disk\0SEQNUM=5\0";
        let e = parse(m).unwrap();
        assert_eq!(e.action, "change");
        assert_eq!(e.devname, "loop3");
        assert_eq!(e.devtype, "disk");
        assert!(parse(b"add@/x\0SUBSYSTEM=usb\0DEVPATH=/x\0").is_none());
        assert!(parse(b"").is_none());
        assert!(parse(b"\xff\xfe").is_none());
    }
}
