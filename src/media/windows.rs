//! Removable media on Windows: the drive set from
//! `GetLogicalDriveStringsW`, each drive's kind from `GetDriveTypeW`
//! (removable and CD/DVD drives are media; fixed, network and RAM disks
//! are not), and its file system, label and serial number from
//! `GetVolumeInformationW`. Arrival and removal are noticed by polling
//! that set once a second ([`MountWatcher`]): a drive letter appearing,
//! going, or its volume serial changing (a card swapped in a reader). The
//! decisions are plain functions of the recorded API answers
//! ([`Drive`]), unit-tested without Windows.

use super::volume::Volume;
use super::Mount;
use std::ffi::OsString;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use windows_sys::Win32::Storage::FileSystem::{
    GetDiskFreeSpaceExW, GetDriveTypeW, GetLogicalDriveStringsW, GetVolumeInformationW,
};
use windows_sys::Win32::System::WindowsProgramming::{DRIVE_CDROM, DRIVE_REMOVABLE};

/// What the volume APIs answered for one drive root (`E:\`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drive {
    pub root: PathBuf,
    /// `GetDriveTypeW`'s answer.
    pub kind: u32,
    /// `GetVolumeInformationW`'s file-system name (`FAT32`, `NTFS`...);
    /// `None` when no medium is in the drive.
    pub fs: Option<String>,
    pub label: Option<String>,
    pub serial: Option<u32>,
}

impl Drive {
    /// Whether this drive holds a removable medium.
    pub fn is_medium(&self) -> bool {
        matches!(self.kind, DRIVE_REMOVABLE | DRIVE_CDROM) && self.fs.is_some()
    }

    /// The mount-table entry of this drive (file systems named as on
    /// Linux, so one media policy serves both).
    pub fn mount(&self) -> Mount {
        let letter = self.root.to_string_lossy();
        let device = format!(r"\\.\{}", letter.trim_end_matches('\\'));
        Mount {
            mount_point: self.root.clone(),
            fstype: linux_fs_name(self.fs.as_deref().unwrap_or("")),
            source: PathBuf::from(device),
        }
    }
}

/// The Linux name of a Windows file-system name.
pub fn linux_fs_name(win: &str) -> String {
    match win.to_ascii_uppercase().as_str() {
        "FAT" | "FAT12" | "FAT16" | "FAT32" => "vfat".into(),
        "EXFAT" => "exfat".into(),
        "NTFS" => "ntfs".into(),
        "CDFS" => "iso9660".into(),
        "UDF" => "udf".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn wide(p: &Path) -> Vec<u16> {
    p.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

fn until_nul(buf: &[u16]) -> String {
    let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    OsString::from_wide(&buf[..n])
        .to_string_lossy()
        .into_owned()
}

/// Splits `GetLogicalDriveStringsW`'s answer (`A:\0C:\0\0`) into roots.
pub fn split_roots(buf: &[u16]) -> Vec<PathBuf> {
    buf.split(|&c| c == 0)
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(OsString::from_wide(s)))
        .collect()
}

fn drive_roots() -> std::io::Result<Vec<PathBuf>> {
    let mut buf = vec![0u16; 512];
    // SAFETY: `buf` holds the length passed.
    let n = unsafe { GetLogicalDriveStringsW(buf.len() as u32, buf.as_mut_ptr()) } as usize;
    if n == 0 || n > buf.len() {
        return Err(std::io::Error::last_os_error());
    }
    Ok(split_roots(&buf[..n]))
}

/// Asks the volume APIs about one drive root.
pub fn query(root: &Path) -> Drive {
    let w = wide(root);
    // SAFETY: a NUL-terminated path.
    let kind = unsafe { GetDriveTypeW(w.as_ptr()) };
    let mut label = vec![0u16; 261];
    let mut fs = vec![0u16; 261];
    let mut serial = 0u32;
    // SAFETY: buffers of the sizes passed; unused outputs are null.
    let ok = unsafe {
        GetVolumeInformationW(
            w.as_ptr(),
            label.as_mut_ptr(),
            label.len() as u32,
            &mut serial,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            fs.as_mut_ptr(),
            fs.len() as u32,
        )
    } != 0;
    let label = until_nul(&label);
    Drive {
        root: root.to_path_buf(),
        kind,
        fs: ok.then(|| until_nul(&fs)),
        label: (ok && !label.is_empty()).then_some(label),
        serial: ok.then_some(serial),
    }
}

/// Every drive and what the APIs say of it.
pub fn drives() -> std::io::Result<Vec<Drive>> {
    Ok(drive_roots()?.iter().map(|r| query(r)).collect())
}

/// The drives as a mount table (every drive with a medium in it).
pub fn current_mounts() -> std::io::Result<Vec<Mount>> {
    Ok(drives()?
        .into_iter()
        .filter(|d| d.fs.is_some())
        .map(|d| d.mount())
        .collect())
}

/// Roots of the drives holding removable media.
pub fn removable_mount_points() -> Vec<PathBuf> {
    drives()
        .unwrap_or_default()
        .into_iter()
        .filter(Drive::is_medium)
        .map(|d| d.root)
        .collect()
}

/// The label and serial of the volume behind `\\.\E:` (the Windows form
/// of `volume::probe`), as `XXXX-XXXX` like `vol` prints it.
pub fn volume_identity(source: &Path) -> Option<Volume> {
    let s = source.to_str()?.strip_prefix(r"\\.\")?;
    let d = query(&PathBuf::from(format!("{s}\\")));
    let serial = d.serial?;
    Some(Volume {
        label: d.label,
        uuid: None,
        serial: Some(format!("{:04X}-{:04X}", serial >> 16, serial & 0xFFFF)),
    })
}

/// Total size of the volume at `p` (`GetDiskFreeSpaceExW`).
pub fn capacity(p: &Path) -> Option<u64> {
    let w = wide(p);
    let mut total = 0u64;
    // SAFETY: a NUL-terminated path; unused outputs are null.
    let ok = unsafe {
        GetDiskFreeSpaceExW(
            w.as_ptr(),
            std::ptr::null_mut(),
            &mut total,
            std::ptr::null_mut(),
        )
    };
    (ok != 0).then_some(total)
}

/// What identifies the drive set for change detection.
pub fn signature(drives: &[Drive]) -> Vec<(PathBuf, u32, Option<u32>)> {
    drives
        .iter()
        .map(|d| (d.root.clone(), d.kind, d.serial))
        .collect()
}

/// Polls the drive set (see the module docs).
pub struct MountWatcher {
    last: Vec<(PathBuf, u32, Option<u32>)>,
}

impl MountWatcher {
    pub fn new() -> std::io::Result<MountWatcher> {
        Ok(MountWatcher {
            last: signature(&drives()?),
        })
    }

    /// Sleeps `timeout` (the poll interval), then true when the drive set
    /// differs from the last look.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        std::thread::sleep(timeout);
        let Ok(now) = drives() else { return false };
        let now = signature(&now);
        let changed = now != self.last;
        self.last = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use windows_sys::Win32::System::WindowsProgramming::{DRIVE_FIXED, DRIVE_REMOTE};

    fn drive(root: &str, kind: u32, fs: Option<&str>, serial: Option<u32>) -> Drive {
        Drive {
            root: PathBuf::from(root),
            kind,
            fs: fs.map(str::to_string),
            label: None,
            serial,
        }
    }

    #[test]
    fn recorded_answers_decide_media() {
        // Answers recorded from a laptop with a stick in E: and an empty
        // card reader F:.
        let buf: Vec<u16> = "C:\\\0E:\\\0F:\\\0Z:\\\0\0".encode_utf16().collect();
        let roots = split_roots(&buf);
        assert_eq!(roots.len(), 4);
        let ds = [
            drive(r"C:\", DRIVE_FIXED, Some("NTFS"), Some(1)),
            drive(r"E:\", DRIVE_REMOVABLE, Some("FAT32"), Some(0x1234_ABCD)),
            drive(r"F:\", DRIVE_REMOVABLE, None, None),
            drive(r"Z:\", DRIVE_REMOTE, Some("NTFS"), Some(2)),
        ];
        let media: Vec<_> = ds.iter().filter(|d| d.is_medium()).collect();
        assert_eq!(media.len(), 1);
        let m = media[0].mount();
        assert_eq!(m.fstype, "vfat");
        assert_eq!(m.source, PathBuf::from(r"\\.\E:"));
        // A card swapped in F: changes the signature.
        let mut later = ds.clone();
        later[2] = drive(r"F:\", DRIVE_REMOVABLE, Some("exFAT"), Some(7));
        assert_ne!(signature(&ds), signature(&later));
        assert_eq!(linux_fs_name("CDFS"), "iso9660");
    }
}
