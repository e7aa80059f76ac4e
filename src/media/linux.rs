//! Linux mount table: parsing `/proc/self/mountinfo`, asking sysinfo which
//! disks are removable, and waiting for mount-table changes with poll(2)
//! (the kernel flags the file with POLLPRI on every mount or unmount), so an
//! idle agent does no work at all between changes.

use super::Mount;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Decodes the octal escapes (`\040` for space, ...) of mountinfo fields;
/// every other byte is kept as it is (a name need not be UTF-8).
fn unescape(b: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Parses mountinfo; malformed lines are ignored. Bytes, not text: a
/// medium's label (and so its mount point) need not be UTF-8, and one such
/// stick must not blind the agent to every other mount.
pub fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if sep < 6 || fields.len() < sep + 3 {
            continue;
        }
        out.push(Mount {
            mount_point: unescape(fields[4]),
            fstype: String::from_utf8_lossy(fields[sep + 1]).into_owned(),
            source: unescape(fields[sep + 2]),
        });
    }
    out
}

/// The current mount table.
pub fn current_mounts() -> std::io::Result<Vec<Mount>> {
    Ok(parse_mountinfo(&std::fs::read(MOUNTINFO)?))
}

/// Mount points that sysinfo marks removable.
pub fn removable_mount_points() -> Vec<PathBuf> {
    sysinfo::Disks::new_with_refreshed_list()
        .list()
        .iter()
        .filter(|d| d.is_removable())
        .map(|d| d.mount_point().to_path_buf())
        .collect()
}

/// Waits for mount-table changes.
pub struct MountWatcher {
    file: std::fs::File,
}

impl MountWatcher {
    pub fn new() -> std::io::Result<MountWatcher> {
        let mut file = std::fs::File::open(MOUNTINFO)?;
        let mut sink = Vec::new();
        file.read_to_end(&mut sink)?;
        Ok(MountWatcher { file })
    }

    /// Blocks up to `timeout`; true when the mount table changed.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLPRI | libc::POLLERR,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc > 0 && pfd.revents & (libc::POLLPRI | libc::POLLERR) != 0 {
            // Re-read to re-arm the notification.
            let _ = self.file.seek(SeekFrom::Start(0));
            let mut sink = Vec::new();
            let _ = self.file.read_to_end(&mut sink);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines() {
        let text = b"36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 36 0:51 / /media/My\\040Stick rw,nosuid - vfat /dev/sdb1 rw\n\
                    41 36 0:52 / /media/img rw shared:3 - fuse.fusefat /tmp/a\\040b.img rw\n\
                    garbage line\n\
                    42 36 0:53 / /media/\xff\\134x rw - vfat /dev/sdc1 rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[3].mount_point.as_os_str().as_encoded_bytes(),
            b"/media/\xff\\x"
        );
        assert_eq!(m[1].mount_point, PathBuf::from("/media/My Stick"));
        assert_eq!(m[1].fstype, "vfat");
        assert_eq!(m[2].fstype, "fuse.fusefat");
        assert_eq!(m[2].source, PathBuf::from("/tmp/a b.img"));
    }

    #[test]
    fn reads_this_machine() {
        let m = current_mounts().unwrap();
        assert!(m.iter().any(|x| x.mount_point == std::path::Path::new("/")));
    }
}
