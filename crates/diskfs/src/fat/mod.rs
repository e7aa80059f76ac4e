//! FAT12/16/32, read-only, written here. Owns the BIOS parameter block
//! checks, the directory walk (8.3 and VFAT long names, the FAT12/16 fixed
//! root and the FAT32 root chain, hidden/system attributes, the volume
//! label entry) and, in [`table`], the FAT and cluster-chain reading that
//! the exFAT reader shares.
//!
//! Why not the `fatfs` crate (rafalh/rust-fatfs): it wants `Read + Write +
//! Seek` storage and is built to write; its last release (0.3.6) is from
//! 2022 and the 0.4 line is unreleased; an open report (issue #72) has a
//! fuzzed image panic on an integer overflow in its file reader, and it has
//! no bound we could rely on for a looping chain in a hostile image. FAT is
//! small, so kensa reads it itself, with every structure checked against
//! the volume and the device.
//!
//! Hostile input: every chain is followed with loop detection and every
//! cluster checked against the heap ([`table::Chain`]); a directory is at
//! most 65,536 entries (2 MiB, the specification's limit) and each of its
//! clusters may belong to one directory only, so a directory cycle (a
//! subdirectory pointing at an ancestor) or a cross-linked directory is a
//! `Corrupt` problem and is not followed; short names are kept as raw OEM
//! bytes (the code page is not recorded on the volume), long names are
//! WTF-8.

pub(crate) mod names;
pub(crate) mod table;

use crate::{
    Attributes, Device, Entry, FileSystem, Flow, FsError, Limits, ProblemKind, Visitor, VolumeLabel,
};
use names::LongName;
use std::sync::Arc;
use table::{
    device_max_cluster, visit_chain, Chain, ChainError, ChainReader, ClusterSet, Table, Width,
};

/// The most bytes a FAT directory may hold (65,536 entries).
const DIR_CAP: u64 = 65_536 * 32;

/// Opens the FAT volume on `dev`.
pub fn open(dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    let mut bs = [0u8; 512];
    dev.read_at(0, &mut bs)
        .map_err(|e| FsError::Corrupt(format!("no boot sector: {e}")))?;
    let geo = Geometry::parse(&bs)?;
    let on_device = device_max_cluster(dev.len(), geo.heap_start, geo.cluster_len);
    let table = Arc::new(Table {
        max_cluster: u64::from(geo.max_cluster).min(on_device) as u32,
        dev,
        width: geo.width,
        fat_start: geo.fat_start,
        fat_len: geo.fat_len,
        heap_start: geo.heap_start,
        cluster_len: geo.cluster_len,
    });
    if let Root::Chain(c) = geo.root {
        if !table.in_heap(c) {
            return Err(FsError::Corrupt(format!(
                "root directory cluster {c} is outside the cluster heap"
            )));
        }
    }
    let mut fs = Fat {
        table,
        root: geo.root,
        label: VolumeLabel {
            label: geo.label,
            serial: geo.serial,
        },
        boot_len: geo.boot_len,
    };
    let (root, _) = fs.read_dir(&fs.root.clone(), &mut ClusterSet::default());
    if let Some(l) = root_label(&root) {
        fs.label.label = Some(l);
    }
    Ok(Box::new(fs))
}

/// Where a directory's entries are.
#[derive(Clone, Copy, Debug)]
enum Root {
    /// FAT12/16: the fixed root region (byte offset, length).
    Fixed(u64, u64),
    /// A cluster chain (FAT32 root, every subdirectory).
    Chain(u32),
}

/// What the boot sector says.
struct Geometry {
    width: Width,
    fat_start: u64,
    fat_len: u64,
    heap_start: u64,
    cluster_len: u64,
    max_cluster: u32,
    root: Root,
    boot_len: u64,
    label: Option<String>,
    serial: Option<String>,
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn bad(what: &str) -> FsError {
    FsError::Corrupt(format!("FAT boot sector: {what}"))
}

impl Geometry {
    /// Checks the BIOS parameter block; the FAT type follows Linux: a zero
    /// 16-bit FAT size means the FAT32 layout, otherwise FAT12 or FAT16 by
    /// the count of clusters.
    fn parse(bs: &[u8; 512]) -> Result<Geometry, FsError> {
        let (bps, spc, reserved, fats) = sizes(bs)?;
        let root_entries = le16(bs, 17);
        let total = match le16(bs, 19) {
            0 => le32(bs, 32),
            n => n,
        };
        let fat32 = le16(bs, 22) == 0;
        let fat_size = if fat32 { le32(bs, 36) } else { le16(bs, 22) };
        if fat_size == 0 || (!fat32 && root_entries == 0) {
            return Err(bad("no FAT or no root directory"));
        }
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let root_start = reserved + fats * fat_size;
        let data_start = root_start + root_sectors;
        let clusters = total
            .checked_sub(data_start)
            .ok_or_else(|| bad("the volume ends before its data region"))?
            / spc;
        let width = match (fat32, clusters) {
            (true, _) => Width::Fat32,
            (false, 0..=4084) => Width::Fat12,
            _ => Width::Fat16,
        };
        let active = if fat32 && bs[40] & 0x80 != 0 {
            u64::from(bs[40] & 0x0F)
        } else {
            0
        };
        if active >= fats {
            return Err(bad("the active FAT does not exist"));
        }
        let fat_len = fat_size * bps;
        let capacity = Table::capacity(width, fat_len);
        let max_cluster = (clusters + 1)
            .min(capacity.saturating_sub(1))
            .min(0x0FFF_FFF6) as u32;
        let (label, serial) = label_and_serial(bs, if fat32 { 64 } else { 36 });
        Ok(Geometry {
            width,
            fat_start: (reserved + active * fat_size) * bps,
            fat_len,
            heap_start: data_start * bps,
            cluster_len: spc * bps,
            max_cluster,
            root: if fat32 {
                Root::Chain(le32(bs, 44) as u32)
            } else {
                Root::Fixed(root_start * bps, root_entries * 32)
            },
            boot_len: reserved * bps,
            label,
            serial,
        })
    }
}

/// Bytes per sector, sectors per cluster, reserved sectors and FAT count,
/// checked.
fn sizes(bs: &[u8; 512]) -> Result<(u64, u64, u64, u64), FsError> {
    let bps = le16(bs, 11);
    let spc = u64::from(bs[13]);
    let reserved = le16(bs, 14);
    let fats = u64::from(bs[16]);
    if !matches!(bps, 512 | 1024 | 2048 | 4096) {
        return Err(bad("bytes per sector is not 512, 1024, 2048 or 4096"));
    }
    if !spc.is_power_of_two() || reserved == 0 || fats == 0 {
        return Err(bad("sectors per cluster, reserved sectors or FAT count"));
    }
    Ok((bps, spc, reserved, fats))
}

/// The label and serial of the extended boot record at `ext` (drive
/// number, reserved, signature 0x28/0x29, serial, label).
fn label_and_serial(bs: &[u8; 512], ext: usize) -> (Option<String>, Option<String>) {
    let sig = bs[ext + 2];
    if sig != 0x28 && sig != 0x29 {
        return (None, None);
    }
    let id = le32(bs, ext + 3);
    let serial = Some(serial_text(id as u32));
    let label = if sig == 0x29 {
        label_text(&bs[ext + 7..ext + 18]).filter(|l| l != "NO NAME")
    } else {
        None
    };
    (label, serial)
}

/// A volume serial as `blkid` prints it: `ABCD-1234`.
pub(crate) fn serial_text(id: u32) -> String {
    format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF)
}

/// An 11-byte label with trailing spaces cut (`None` when empty).
fn label_text(raw: &[u8]) -> Option<String> {
    let mut raw = raw.to_vec();
    if raw.first() == Some(&0x05) {
        raw[0] = 0xE5;
    }
    let end = raw.iter().rposition(|&b| b != b' ' && b != 0)?;
    Some(String::from_utf8_lossy(&raw[..=end]).into_owned())
}

/// The label entry of a root directory's bytes, if any.
fn root_label(dir: &[u8]) -> Option<String> {
    for e in dir.chunks_exact(32) {
        match e[0] {
            0 => return None,
            0xE5 => continue,
            _ => {}
        }
        if e[11] & 0x3F != 0x0F && e[11] & 0x08 != 0 {
            return label_text(&e[..11]);
        }
    }
    None
}

/// One live entry of a directory.
struct Child {
    name: Vec<u8>,
    dir: bool,
    attrs: Attributes,
    cluster: u32,
    size: u32,
}

/// Parses a directory's bytes into its children, skipping deleted
/// entries, the volume label, `.` and `..`; stops at the end mark.
fn parse_dir(bytes: &[u8], fat32: bool) -> Vec<Child> {
    let mut out = Vec::new();
    let mut long = LongName::default();
    for chunk in bytes.chunks_exact(32) {
        let mut e = [0u8; 32];
        e.copy_from_slice(chunk);
        if e[0] == 0 {
            break;
        }
        let attr = e[11];
        if e[0] == 0xE5 {
            long.reset();
            continue;
        }
        if attr & 0x3F == 0x0F {
            long.push(&e);
            continue;
        }
        let mut short = [0u8; 11];
        short.copy_from_slice(&e[..11]);
        if attr & 0x08 != 0 || &short == b".          " || &short == b"..         " {
            long.reset();
            continue;
        }
        let name = long.finish(&short).unwrap_or_else(|| names::short_name(&e));
        let hi = if fat32 { le16(&e, 20) << 16 } else { 0 };
        out.push(Child {
            name,
            dir: attr & 0x10 != 0,
            attrs: Attributes {
                hidden: attr & 0x02 != 0,
                system: attr & 0x04 != 0,
            },
            cluster: (hi | le16(&e, 26)) as u32,
            size: le32(&e, 28) as u32,
        });
    }
    out
}

/// An opened FAT volume.
struct Fat {
    table: Arc<Table>,
    root: Root,
    label: VolumeLabel,
    boot_len: u64,
}

/// A directory waiting to be read.
struct Pending {
    at: Root,
    path: Vec<Vec<u8>>,
    depth: u32,
}

impl Fat {
    /// A directory's bytes, up to its end mark. `seen` holds every cluster
    /// of every directory read so far: a cluster met again is a cycle (or
    /// a cross-link) and ends the read with a problem.
    fn read_dir(&self, at: &Root, seen: &mut ClusterSet) -> (Vec<u8>, Option<ChainError>) {
        match *at {
            Root::Fixed(start, len) => {
                let mut buf = vec![0u8; len.min(DIR_CAP) as usize];
                match self.table.dev.read_at(start, &mut buf) {
                    Ok(()) => (buf, None),
                    Err(e) => (Vec::new(), Some(ChainError::Io(e))),
                }
            }
            Root::Chain(first) => self.read_dir_chain(first, seen),
        }
    }

    fn read_dir_chain(&self, first: u32, seen: &mut ClusterSet) -> (Vec<u8>, Option<ChainError>) {
        let cl = self.table.cluster_len;
        let mut chain = Chain::new(Arc::clone(&self.table), first, false);
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = match chain.next_cluster() {
                Ok(Some(c)) => c,
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            };
            if !seen.insert(c) {
                let what = format!(
                    "directory cluster {c} already belongs to a directory read before (a cycle or a cross-link); not followed"
                );
                return (out, Some(ChainError::Corrupt(what)));
            }
            if out.len() as u64 + cl > DIR_CAP.max(cl) {
                let what = "directory is longer than 65,536 entries; the rest is not read";
                return (out, Some(ChainError::Corrupt(what.into())));
            }
            let at = out.len();
            out.resize(at + cl as usize, 0);
            if let Err(e) = self
                .table
                .dev
                .read_at(self.table.offset_of(c), &mut out[at..])
            {
                out.truncate(at);
                return (out, Some(ChainError::Io(e)));
            }
            if out[at..].chunks_exact(32).any(|e| e[0] == 0) {
                return (out, None);
            }
        }
    }
}

/// One walk's state.
struct Walk<'a> {
    fs: &'a Fat,
    limits: &'a Limits,
    visit: &'a mut dyn Visitor,
    entries: u64,
    seen: ClusterSet,
}

impl Walk<'_> {
    /// Reads one directory, visits its files and queues its
    /// subdirectories. `Stop` when the visitor or a limit ends the walk.
    fn dir(&mut self, d: Pending, queue: &mut Vec<Pending>) -> Flow {
        let (bytes, err) = self.fs.read_dir(&d.at, &mut self.seen);
        if let Some(e) = err {
            let text = format!("directory: {e}");
            if self.visit.problem(&d.path, e.kind(), &text) == Flow::Stop {
                return Flow::Stop;
            }
        }
        for child in parse_dir(&bytes, self.fs.table.width == Width::Fat32) {
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                let text = format!("more than {} entries", self.limits.max_entries);
                self.visit.problem(&d.path, ProblemKind::Limit, &text);
                return Flow::Stop;
            }
            let mut path = d.path.clone();
            if child.name.is_empty() {
                let text = "an entry with an empty name (all spaces); not read";
                if self.visit.problem(&d.path, ProblemKind::Corrupt, text) == Flow::Stop {
                    return Flow::Stop;
                }
                continue;
            }
            path.push(child.name.clone());
            let flow = if child.dir {
                self.subdir(child, path, d.depth + 1, queue)
            } else {
                self.file(&child, &path)
            };
            if flow == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    fn subdir(
        &mut self,
        child: Child,
        path: Vec<Vec<u8>>,
        depth: u32,
        q: &mut Vec<Pending>,
    ) -> Flow {
        if depth > self.limits.max_depth {
            let text = format!(
                "deeper than {} directories; not read",
                self.limits.max_depth
            );
            return self.visit.problem(&path, ProblemKind::Limit, &text);
        }
        if child.cluster == 0 {
            let text = "subdirectory has no cluster (it would be the root: a cycle); not followed";
            return self.visit.problem(&path, ProblemKind::Corrupt, text);
        }
        q.push(Pending {
            at: Root::Chain(child.cluster),
            path,
            depth,
        });
        Flow::Continue
    }

    fn file(&mut self, child: &Child, path: &[Vec<u8>]) -> Flow {
        let size = u64::from(child.size);
        let chain = Chain::new(Arc::clone(&self.fs.table), child.cluster, false);
        let data = ChainReader::new(chain, size, 0);
        let entry = Entry {
            path,
            size,
            attrs: child.attrs,
        };
        visit_chain(self.visit, &entry, data)
    }
}

impl FileSystem for Fat {
    fn label(&self) -> VolumeLabel {
        self.label.clone()
    }

    fn boot_len(&self) -> u64 {
        self.boot_len
    }

    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError> {
        let mut w = Walk {
            fs: self,
            limits,
            visit,
            entries: 0,
            seen: ClusterSet::default(),
        };
        let mut queue = vec![Pending {
            at: self.root,
            path: Vec::new(),
            depth: 0,
        }];
        while let Some(d) = queue.pop() {
            if w.dir(d, &mut queue) == Flow::Stop {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_printed_like_blkid() {
        assert_eq!(serial_text(0xABCD_1234), "ABCD-1234");
        assert_eq!(serial_text(0x0000_00FF), "0000-00FF");
    }

    #[test]
    fn parse_skips_dots_labels_and_deleted() {
        let mut d = Vec::new();
        let mut push = |name: &[u8; 11], attr: u8, first: u8| {
            let mut e = [0u8; 32];
            e[..11].copy_from_slice(name);
            e[0] = first;
            e[11] = attr;
            e[26] = 5;
            e[28] = 9;
            d.extend_from_slice(&e);
        };
        push(b".          ", 0x10, b'.');
        push(b"..         ", 0x10, b'.');
        push(b"LABEL      ", 0x08, b'L');
        push(b"GONE    TXT", 0x20, 0xE5);
        push(b"KEPT    TXT", 0x22, b'K');
        push(b"SUB        ", 0x14, b'S');
        push(b"AFTER   TXT", 0x20, 0);
        let kids = parse_dir(&d, false);
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].name, b"KEPT.TXT");
        assert!(kids[0].attrs.hidden && !kids[0].attrs.system);
        assert_eq!((kids[0].cluster, kids[0].size), (5, 9));
        assert!(kids[1].dir && kids[1].attrs.system);
        assert_eq!(root_label(&d).as_deref(), Some("LABEL"));
    }
}
