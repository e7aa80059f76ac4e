//! Removable-media detection: which mounted file systems count as media,
//! and the identity of each medium (mount point, file system, label, UUID
//! or serial, capacity). OS-specific code lives behind `cfg` in submodules;
//! the decision of what counts as media is plain logic here. This module
//! never scans files.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{current_mounts, removable_mount_points, MountWatcher};
#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub use windows::{capacity, current_mounts, removable_mount_points, MountWatcher};

pub mod volume;

use crate::engine::pathfmt;
use crate::findings::Medium;
use std::path::{Path, PathBuf};

/// Default directories under which anything mounted is a medium.
pub const DEFAULT_ROOTS: &[&str] = &["/media", "/run/media", "/mnt"];

/// File systems typical of removable media.
pub const REMOVABLE_FILESYSTEMS: &[&str] = &[
    "vfat", "msdos", "exfat", "ntfs", "ntfs3", "fuseblk", "iso9660", "udf",
];

/// The file-system names that make a mount a medium on this system: the
/// configured ones, except on Windows, where every drive has a file
/// system (fixed disks are NTFS, and Wine answers NTFS for every drive)
/// and only the drive type (`GetDriveTypeW`, through
/// [`removable_mount_points`]) tells a medium.
pub fn filesystem_rule(configured: &[String]) -> Vec<String> {
    if cfg!(windows) {
        Vec::new()
    } else {
        configured.to_vec()
    }
}

/// Mount points that are never media even with a removable-style file
/// system (an EFI system partition is vfat).
const SYSTEM_MOUNTS: &[&str] = &["/", "/boot", "/boot/efi", "/efi", "/usr", "/var", "/home"];

/// One entry of the mount table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fstype: String,
    /// The mount source: a device node, an image file, or a FUSE name.
    pub source: PathBuf,
}

/// What decides which mounts are media.
#[derive(Clone, Debug)]
pub struct MediaPolicy {
    pub roots: Vec<PathBuf>,
    pub filesystems: Vec<String>,
    /// Mount points sysinfo reports as removable.
    pub removable: Vec<PathBuf>,
}

impl Default for MediaPolicy {
    fn default() -> Self {
        MediaPolicy {
            roots: DEFAULT_ROOTS.iter().map(PathBuf::from).collect(),
            filesystems: REMOVABLE_FILESYSTEMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            removable: Vec::new(),
        }
    }
}

impl MediaPolicy {
    /// Why `m` is a medium (`media_root`, `sysinfo`, `filesystem`), or None.
    pub fn detect(&self, m: &Mount) -> Option<&'static str> {
        let under_root = self
            .roots
            .iter()
            .any(|r| m.mount_point != *r && m.mount_point.starts_with(r));
        if under_root {
            return Some("media_root");
        }
        if self.removable.contains(&m.mount_point) {
            return Some("sysinfo");
        }
        let system = SYSTEM_MOUNTS.iter().any(|s| Path::new(s) == m.mount_point);
        // Generic FUSE mounts (sshfs, image mounters, desktop plumbing) count
        // only below a media root; `fuseblk` (NTFS/exFAT on a block device)
        // counts anywhere, like the kernel file systems in the list.
        let generic_fuse = m.fstype == "fuse" || m.fstype.starts_with("fuse.");
        let fs_removable = self.filesystems.contains(&m.fstype) && !generic_fuse;
        if fs_removable && !system && !is_pseudo_fuse(m) {
            return Some("filesystem");
        }
        None
    }
}

/// FUSE mounts that are plumbing, not media.
fn is_pseudo_fuse(m: &Mount) -> bool {
    matches!(
        m.fstype.as_str(),
        "fuse.gvfsd-fuse"
            | "fuse.portal"
            | "fuse.lxcfs"
            | "fusectl"
            | "fuse.snapfuse"
            | "fuse.sshfs"
            | "fuse.rclone"
    ) || m.mount_point.starts_with("/proc")
        || m.mount_point.starts_with("/sys")
        || m.mount_point.starts_with("/run/user")
}

/// The identity of a mounted medium, as far as the system tells.
pub fn identify(m: &Mount, detected_by: &str) -> Medium {
    let vol = volume::probe(&m.source);
    Medium {
        mount_point: pathfmt::display(&m.mount_point),
        device: (!m.source.as_os_str().is_empty()).then(|| pathfmt::display(&m.source)),
        filesystem: Some(m.fstype.clone()),
        label: vol.as_ref().and_then(|v| v.label.clone()),
        uuid: vol.as_ref().and_then(|v| v.uuid.clone()),
        serial: vol.as_ref().and_then(|v| v.serial.clone()),
        capacity: capacity(&m.mount_point),
        removable: true,
        detected_by: detected_by.to_string(),
    }
}

/// Total size of the file system at `p`, from statvfs.
#[cfg(unix)]
pub fn capacity(p: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is a plain C struct; all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid out pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_blocks as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mp: &str, fs: &str) -> Mount {
        Mount {
            mount_point: PathBuf::from(mp),
            fstype: fs.into(),
            source: "/dev/sdb1".into(),
        }
    }

    #[test]
    fn what_counts_as_media() {
        let p = MediaPolicy::default();
        assert_eq!(p.detect(&m("/media/usb", "ext4")), Some("media_root"));
        assert_eq!(
            p.detect(&m("/run/media/op/STICK", "vfat")),
            Some("media_root")
        );
        assert_eq!(
            p.detect(&m("/media", "tmpfs")),
            None,
            "the root itself is not a medium"
        );
        assert_eq!(p.detect(&m("/boot/efi", "vfat")), None);
        assert_eq!(p.detect(&m("/srv/stick", "vfat")), Some("filesystem"));
        assert_eq!(
            p.detect(&m("/srv/img", "fuse.fusefat")),
            None,
            "generic FUSE only below a media root"
        );
        assert_eq!(
            p.detect(&m("/media/img", "fuse.fusefat")),
            Some("media_root")
        );
        assert_eq!(p.detect(&m("/srv/ntfs", "fuseblk")), Some("filesystem"));
        assert_eq!(p.detect(&m("/run/user/1000/gvfs", "fuse.gvfsd-fuse")), None);
        assert_eq!(p.detect(&m("/var/lib/docker", "ext4")), None);
        let mut p2 = p.clone();
        p2.removable.push(PathBuf::from("/data/sd"));
        assert_eq!(p2.detect(&m("/data/sd", "ext4")), Some("sysinfo"));
    }
}
