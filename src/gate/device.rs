//! What sysfs says about a block device: its whole disk, whether the gate
//! takes it (removable, on a USB bus, or named by `gate.devices`; a loop
//! device only with a backing file and a size), its identity (vendor,
//! model, serial, size) and a fingerprint that tells a new medium from a
//! uevent about the one already judged. Every value read from sysfs is
//! capped and trimmed; a kernel name is accepted only as one plain path
//! component.

use crate::findings::policy::glob_match;
use std::path::{Path, PathBuf};

/// Longest sysfs attribute read.
const MAX_ATTR: u64 = 4096;
/// How far up the device tree a USB serial number is looked for.
const MAX_PARENT_STEPS: usize = 12;

/// The sysfs class directory of block devices (a test may not move it).
const SYS_BLOCK: &str = "/sys/class/block";

/// Why the gate takes a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Removable,
    Usb,
    Configured,
}

impl Why {
    pub fn word(self) -> &'static str {
        match self {
            Why::Removable => "removable",
            Why::Usb => "usb",
            Why::Configured => "gate.devices",
        }
    }
}

/// A whole disk as sysfs describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disk {
    /// Kernel name (`sdb`, `loop3`).
    pub name: String,
    /// Its device node.
    pub node: PathBuf,
    /// `major:minor`.
    pub dev: String,
    pub size: u64,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// A loop device's backing file.
    pub backing: Option<String>,
    /// The resolved sysfs path.
    pub syspath: PathBuf,
}

impl Disk {
    /// What changes when another medium takes this device's place.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.size,
            self.serial.as_deref().unwrap_or(""),
            self.model.as_deref().unwrap_or(""),
            self.backing.as_deref().unwrap_or("")
        )
    }

    /// A short human name: vendor and model, or the backing file.
    pub fn describe(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(v) = &self.vendor {
            parts.push(v);
        }
        if let Some(m) = &self.model {
            parts.push(m);
        }
        if parts.is_empty() {
            if let Some(b) = &self.backing {
                return format!("{} ({b})", self.name);
            }
            return self.name.clone();
        }
        format!("{} ({})", parts.join(" "), self.name)
    }

    /// The USB device directory this disk sits below (`…/usb1/1-1`), if any.
    pub fn usb_device(&self) -> Option<PathBuf> {
        let mut p = self.syspath.as_path();
        for _ in 0..MAX_PARENT_STEPS {
            if p.join("authorized").is_file() && p.join("idVendor").is_file() {
                return Some(p.to_path_buf());
            }
            p = p.parent()?;
        }
        None
    }
}

/// True for a plain kernel name (one path component, printable ASCII).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'\\')
}

fn attr(path: &Path) -> Option<String> {
    let bytes = crate::fsutil::read_capped(path, MAX_ATTR).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let t: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// The whole disk a kernel name belongs to (itself for a disk).
pub fn whole_disk(name: &str) -> Option<String> {
    if !valid_name(name) {
        return None;
    }
    let dir = Path::new(SYS_BLOCK).join(name);
    if !dir.join("partition").exists() {
        return dir.exists().then(|| name.to_string());
    }
    let real = std::fs::canonicalize(&dir).ok()?;
    let parent = real.parent()?.file_name()?.to_str()?.to_string();
    valid_name(&parent).then_some(parent)
}

/// Reads a whole disk's description; `None` when sysfs has no such disk.
pub fn read_disk(name: &str) -> Option<Disk> {
    if !valid_name(name) {
        return None;
    }
    let dir = Path::new(SYS_BLOCK).join(name);
    let syspath = std::fs::canonicalize(&dir).ok()?;
    let sectors: u64 = attr(&dir.join("size"))?.parse().ok()?;
    let mut d = Disk {
        name: name.to_string(),
        node: Path::new("/dev").join(name),
        dev: attr(&dir.join("dev")).unwrap_or_default(),
        size: sectors.saturating_mul(512),
        vendor: attr(&dir.join("device/vendor")),
        model: attr(&dir.join("device/model")),
        serial: attr(&dir.join("device/serial")),
        backing: attr(&dir.join("loop/backing_file")),
        syspath,
    };
    if d.serial.is_none() {
        d.serial = d.usb_device().and_then(|u| attr(&u.join("serial")));
    }
    Some(d)
}

/// Whether the gate takes `disk`, and why; `None`: it does not.
pub fn gated(disk: &Disk, globs: &[String]) -> Option<Why> {
    if disk.size == 0 {
        return None;
    }
    if disk.name.starts_with("loop") && disk.backing.is_none() {
        return None;
    }
    let dir = Path::new(SYS_BLOCK).join(&disk.name);
    if attr(&dir.join("removable")).as_deref() == Some("1") {
        return Some(Why::Removable);
    }
    if disk.syspath.to_string_lossy().contains("/usb") {
        return Some(Why::Usb);
    }
    if globs.iter().any(|g| glob_match(g, &disk.name)) {
        return Some(Why::Configured);
    }
    None
}

/// The kernel names of `disk`'s partitions.
pub fn partitions(disk: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(Path::new(SYS_BLOCK).join(disk)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("partition").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| valid_name(n) && n.starts_with(disk))
        .take(256)
        .collect();
    out.sort();
    out
}

/// The node of partition `index` of `disk` (`sdb1`, `loop3p1`,
/// `mmcblk0p1`), when the kernel made one.
pub fn partition_node(disk: &str, index: u32) -> Option<PathBuf> {
    let sep = if disk.ends_with(|c: char| c.is_ascii_digit()) {
        "p"
    } else {
        ""
    };
    let name = format!("{disk}{sep}{index}");
    partitions(disk)
        .contains(&name)
        .then(|| Path::new("/dev").join(name))
}

/// Asks udev to process `disk` again (the kernel emits a `change` uevent),
/// so an automounter sees a device it ignored while it was held.
pub fn retrigger(disk: &str) -> std::io::Result<()> {
    let mut names = vec![disk.to_string()];
    names.extend(partitions(disk));
    for n in names {
        std::fs::write(Path::new(SYS_BLOCK).join(n).join("uevent"), b"change")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components() {
        assert!(valid_name("sdb1"));
        assert!(valid_name("loop3"));
        assert!(!valid_name(""));
        assert!(!valid_name(".."));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
    }

    #[test]
    fn describe_and_fingerprint() {
        let d = Disk {
            name: "sdb".into(),
            size: 512,
            vendor: Some("ACME".into()),
            model: Some("Stick".into()),
            ..Default::default()
        };
        assert_eq!(d.describe(), "ACME Stick (sdb)");
        let mut e = d.clone();
        e.size = 1024;
        assert_ne!(d.fingerprint(), e.fingerprint());
    }
}
