//! Holding a device and letting it go. [`Hold::open`] opens the whole
//! disk `O_RDONLY|O_EXCL`: the kernel then refuses every other exclusive
//! claim, which mount(2) makes, on the disk and on each of its partitions
//! (a partition cannot be claimed while its whole disk is held by another
//! holder: `bd_may_claim` in block/bdev.c), so nothing mounts it until
//! the descriptor is closed. The opened node must be the device sysfs
//! names (same `major:minor`). [`mount_volumes`] mounts a released
//! medium's volumes read-only with `nosuid,nodev,noexec` by mount(2)
//! directly; [`deauthorise`] makes a USB device unusable until it is
//! plugged in again.

use super::device::{self, Disk};
use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a device node may take to appear after its uevent.
const NODE_WAIT: Duration = Duration::from_secs(2);
/// File systems tried in turn when the reader did not name one.
const FS_TRIED: [&str; 6] = ["ext4", "vfat", "exfat", "ntfs3", "iso9660", "udf"];

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("{0} is in use (mounted or held by another program); not gated")]
    Busy(String),
    #[error("{0} is not the device sysfs names")]
    WrongNode(String),
    #[error("cannot open {0}: {1}")]
    Open(String, std::io::Error),
}

/// An exclusively held whole disk; dropping it releases the device.
#[derive(Debug)]
pub struct Hold {
    pub file: File,
}

impl Hold {
    pub fn open(disk: &Disk) -> Result<Hold, HoldError> {
        let shown = crate::engine::pathfmt::display(&disk.node);
        let started = std::time::Instant::now();
        let file = loop {
            match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&disk.node)
            {
                Ok(f) => break f,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    return Err(HoldError::Busy(shown))
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && started.elapsed() < NODE_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(HoldError::Open(shown, e)),
            }
        };
        let meta = file
            .metadata()
            .map_err(|e| HoldError::Open(shown.clone(), e))?;
        let rdev = meta.rdev();
        let want = format!("{}:{}", libc::major(rdev), libc::minor(rdev));
        if !meta.file_type().is_block_device_like() || want != disk.dev {
            return Err(HoldError::WrongNode(shown));
        }
        Ok(Hold { file })
    }
}

trait BlockLike {
    fn is_block_device_like(&self) -> bool;
}

impl BlockLike for std::fs::FileType {
    fn is_block_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_block_device()
    }
}

/// A mount kensa made.
#[derive(Clone, Debug)]
pub struct Mounted {
    pub source: PathBuf,
    pub target: PathBuf,
    pub fstype: String,
}

/// The mount(2) file-system type for a reader's name.
fn kernel_fs(reader: &str) -> Option<&'static str> {
    Some(match reader {
        "ext2" | "ext3" | "ext4" => "ext4",
        "fat12" | "fat16" | "fat32" | "vfat" => "vfat",
        "exfat" => "exfat",
        "ntfs" => "ntfs3",
        "iso9660" => "iso9660",
        "udf" => "udf",
        _ => return None,
    })
}

/// A directory name from a volume label: letters, digits, `.`, `_`, `-`
/// kept, anything else `_`; the kernel name when nothing usable is left.
pub fn dir_name(label: Option<&str>, fallback: &str) -> String {
    let cleaned: String = label
        .unwrap_or("")
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('.').to_string();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '_') {
        fallback.to_string()
    } else {
        cleaned
    }
}

/// A fresh mount point below `root` for `name` (`name`, `name-2`, …).
fn mount_point(root: &Path, name: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    for i in 1..100 {
        let p = if i == 1 {
            root.join(name)
        } else {
            root.join(format!("{name}-{i}"))
        };
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let empty = std::fs::read_dir(&p)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
                if empty && !is_mount_point(&p) {
                    return Ok(p);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free mount point name"))
}

fn is_mount_point(p: &Path) -> bool {
    let (Ok(a), Some(Ok(b))) = (std::fs::metadata(p), p.parent().map(std::fs::metadata)) else {
        return false;
    };
    a.dev() != b.dev()
}

fn cstr(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::Error::other("NUL in path"))
}

/// mount(2) read-only, nosuid, nodev, noexec.
fn mount_ro(source: &Path, target: &Path, fstype: &str) -> std::io::Result<()> {
    let src = cstr(source)?;
    let dst = cstr(target)?;
    let fs = CString::new(fstype).map_err(|_| std::io::Error::other("NUL in type"))?;
    let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: every pointer is a valid NUL-terminated string; data is null.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fs.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Mounts each volume of a released disk below `root`; a volume whose
/// partition has no node, or that no file system mounts, is logged and
/// left. `layout` is what the user-space reader found.
pub fn mount_volumes(
    disk: &Disk,
    layout: Option<&crate::disk::Layout>,
    root: &Path,
) -> Vec<Mounted> {
    let mut out = Vec::new();
    let bare = [crate::disk::VolumeInfo::default()];
    let volumes = match layout {
        Some(l) if !l.volumes.is_empty() => &l.volumes[..],
        _ => &bare[..],
    };
    for v in volumes {
        let source = match v.index {
            None => disk.node.clone(),
            Some(i) => match device::partition_node(&disk.name, i) {
                Some(p) => p,
                None => {
                    tracing::warn!(device = %disk.name, partition = i, "no node for the partition; not mounted");
                    continue;
                }
            },
        };
        let name = dir_name(v.label.as_deref(), &disk.name);
        match mount_one(&source, root, &name, v.fs.as_deref()) {
            Ok(m) => out.push(m),
            Err(e) => {
                tracing::warn!(source = %crate::engine::pathfmt::display(&source), "not mounted: {e}")
            }
        }
    }
    out
}

fn mount_one(source: &Path, root: &Path, name: &str, fs: Option<&str>) -> std::io::Result<Mounted> {
    let target = mount_point(root, name)?;
    let tried: Vec<&str> = match fs.and_then(kernel_fs) {
        Some(k) => vec![k],
        None => FS_TRIED.to_vec(),
    };
    let mut last = std::io::Error::other("no file system to try");
    for t in tried {
        match mount_ro(source, &target, t) {
            Ok(()) => {
                return Ok(Mounted {
                    source: source.to_path_buf(),
                    target,
                    fstype: t.to_string(),
                })
            }
            Err(e) => last = e,
        }
    }
    let _ = std::fs::remove_dir(&target);
    Err(last)
}

/// Deauthorises the USB device `disk` sits on (sysfs `authorized` = 0):
/// the kernel unbinds its drivers and it stays unusable until it is
/// unplugged and plugged in again. `None`: the disk is not on USB.
pub fn deauthorise(disk: &Disk) -> Option<std::io::Result<PathBuf>> {
    let usb = disk.usb_device()?;
    Some(std::fs::write(usb.join("authorized"), b"0").map(|()| usb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_dir_names_are_inert() {
        assert_eq!(dir_name(Some("CLEAN"), "loop3"), "CLEAN");
        assert_eq!(dir_name(Some("../.."), "loop3"), "loop3");
        assert_eq!(dir_name(Some("a/b c"), "loop3"), "a_b_c");
        assert_eq!(dir_name(None, "sdb"), "sdb");
        assert_eq!(dir_name(Some("\u{202e}x"), "sdb"), "_x");
    }
}
