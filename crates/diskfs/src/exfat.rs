//! exFAT, read-only, written here from Microsoft's published exFAT
//! specification. Owns the main boot sector checks, the directory walk
//! (entry sets: File 0x85, Stream Extension 0xC0, File Name 0xC1, each set
//! accepted only when its SetChecksum matches; the Volume Label 0x83) and
//! file data (a FAT chain, or a contiguous run when the stream's
//! `NoFatChain` flag is set; bytes past `ValidDataLength` read as zeros).
//! The FAT and chain reading is shared with the FAT reader
//! ([`crate::fat::table`]); the allocation bitmap and up-case table are
//! not needed to read and are not read.
//!
//! Why not a crate: the readers on crates.io (`exfat` 0.1.0, one release
//! in 2023; `exfat-fs`, young and aimed at formatting; `embedded-exfat`,
//! no_std and async) have no fuzzing record, and `exfat` locks a `Mutex`
//! with `unwrap` and converts with `unsafe` transmutes in its reader. The
//! format is small enough to read here, checked against the volume.
//!
//! Hostile input: each directory is read at most [`DIR_CAP`] bytes and each
//! of its clusters may belong to one directory only (a cycle is a
//! `Corrupt` problem, not followed); chains are followed with loop
//! detection and every cluster checked against the heap.

use crate::bytes::wtf8_from_utf16;
use crate::fat::serial_text;
use crate::fat::table::{
    device_max_cluster, visit_chain, Chain, ChainError, ChainReader, ClusterSet, Table, Width,
};
use crate::{
    Attributes, Device, Entry, FileSystem, Flow, FsError, Limits, ProblemKind, Visitor, VolumeLabel,
};
use std::sync::Arc;

/// The most bytes of one directory read (the specification allows 256 MiB;
/// more than 32 MiB, over a million entries, is a `Limit` problem).
const DIR_CAP: u64 = 32 << 20;

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn bad(what: &str) -> FsError {
    FsError::Corrupt(format!("exFAT boot sector: {what}"))
}

/// Opens the exFAT volume on `dev`.
pub fn open(dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    let mut bs = [0u8; 512];
    dev.read_at(0, &mut bs)
        .map_err(|e| FsError::Corrupt(format!("no boot sector: {e}")))?;
    let table = Arc::new(table(&bs, dev)?);
    let root = le32(&bs, 96) as u32;
    if !table.in_heap(root) {
        return Err(bad("root directory cluster is outside the cluster heap"));
    }
    let mut fs = Exfat {
        table,
        root,
        label: VolumeLabel {
            label: None,
            serial: Some(serial_text(le32(&bs, 100) as u32)),
        },
        boot_len: 12 << bs[108],
    };
    let (bytes, _) = fs.read_dir(&fs.root_dir(Vec::new()), &mut ClusterSet::default());
    fs.label.label = bytes
        .chunks_exact(32)
        .take_while(|e| e[0] != 0)
        .find(|e| e[0] == 0x83)
        .map(|e| {
            let n = usize::from(e[1].min(11));
            let units: Vec<u16> = (0..n).map(|i| le16(e, 2 + 2 * i) as u16).collect();
            String::from_utf16_lossy(&units)
        });
    Ok(Box::new(fs))
}

/// The FAT and cluster heap the main boot sector describes, checked.
fn table(bs: &[u8; 512], dev: Arc<dyn Device>) -> Result<Table, FsError> {
    if &bs[3..11] != b"EXFAT   " || bs[11..64].iter().any(|&b| b != 0) {
        return Err(bad("not an exFAT main boot sector"));
    }
    let bps_shift = u32::from(bs[108]);
    let spc_shift = u32::from(bs[109]);
    if !(9..=12).contains(&bps_shift) || bps_shift + spc_shift > 25 {
        return Err(bad("sector or cluster size out of range"));
    }
    let fats = u64::from(bs[110]);
    if !(1..=2).contains(&fats) {
        return Err(bad("number of FATs is not 1 or 2"));
    }
    let (fat_off, fat_sectors) = (le32(bs, 80), le32(bs, 84));
    let (heap_off, count) = (le32(bs, 88), le32(bs, 92));
    if fat_off < 24 || fat_sectors == 0 || heap_off < fat_off + fat_sectors * fats {
        return Err(bad(
            "FAT or cluster heap placed inside the boot region or each other",
        ));
    }
    let active = if fats == 2 { le16(bs, 106) & 1 } else { 0 };
    let fat_len = fat_sectors << bps_shift;
    let (heap_start, cluster_len) = (heap_off << bps_shift, 1 << (bps_shift + spc_shift));
    let max_cluster = (count + 1)
        .min(Table::capacity(Width::Exfat, fat_len).saturating_sub(1))
        .min(device_max_cluster(dev.len(), heap_start, cluster_len))
        .min(0xFFFF_FFF6) as u32;
    Ok(Table {
        dev,
        width: Width::Exfat,
        fat_start: (fat_off + active * fat_sectors) << bps_shift,
        fat_len,
        heap_start,
        cluster_len,
        max_cluster,
    })
}

/// An opened exFAT volume.
struct Exfat {
    table: Arc<Table>,
    root: u32,
    label: VolumeLabel,
    boot_len: u64,
}

/// A directory waiting to be read.
struct Pending {
    first: u32,
    contiguous: bool,
    /// DataLength (`None`: the root, which has none: its chain ends it).
    len: Option<u64>,
    path: Vec<Vec<u8>>,
    depth: u32,
}

/// One file or directory from an entry set.
struct Child {
    name: Vec<u8>,
    attrs: Attributes,
    dir: bool,
    first: u32,
    contiguous: bool,
    valid: u64,
    len: u64,
}

impl Exfat {
    fn root_dir(&self, path: Vec<Vec<u8>>) -> Pending {
        Pending {
            first: self.root,
            contiguous: false,
            len: None,
            path,
            depth: 0,
        }
    }

    /// A directory's bytes up to its end mark, at most [`DIR_CAP`]. `seen`
    /// holds every directory cluster read so far: one met again is a cycle
    /// (or a cross-link) and ends the read with a problem.
    fn read_dir(&self, d: &Pending, seen: &mut ClusterSet) -> (Vec<u8>, Option<ChainError>) {
        let cl = self.table.cluster_len;
        let want = d.len.unwrap_or(u64::MAX);
        let mut chain = Chain::new(Arc::clone(&self.table), d.first, d.contiguous);
        let mut out: Vec<u8> = Vec::new();
        while (out.len() as u64) < want {
            if out.len() as u64 + cl > DIR_CAP.max(cl) {
                let what = "directory is larger than 32 MiB; the rest is not read";
                return (out, Some(ChainError::Corrupt(what.into())));
            }
            let c = match chain.next_cluster() {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            };
            if !seen.insert(c) {
                let what = format!(
                    "directory cluster {c} already belongs to a directory read before (a cycle or a cross-link); not followed"
                );
                return (out, Some(ChainError::Corrupt(what)));
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
                break;
            }
        }
        (out, None)
    }
}

/// The checksum of an entry set (its first entry's checksum bytes 2..4
/// left out).
fn set_checksum(set: &[u8]) -> u16 {
    set.iter().enumerate().fold(0u16, |sum, (i, &b)| {
        if i == 2 || i == 3 {
            sum
        } else {
            sum.rotate_right(1).wrapping_add(u16::from(b))
        }
    })
}

/// Parses the entry set whose File entry starts `dir` (the directory's
/// bytes from there on): the child and the number of entries it spans.
fn parse_set(dir: &[u8]) -> Result<(Child, usize), String> {
    let count = 1 + usize::from(dir[1]);
    if !(3..=19).contains(&count) {
        return Err(format!("entry set of {count} entries (3 to 19 allowed)"));
    }
    let set = dir
        .get(..count * 32)
        .ok_or("entry set runs past the directory's end")?;
    // Fuzzing builds accept any checksum, so the fuzzer reaches the
    // parsing past it.
    #[allow(unexpected_cfgs)]
    let sum_ok = cfg!(fuzzing) || set_checksum(set) == le16(set, 2) as u16;
    if !sum_ok {
        return Err("entry set checksum does not match".into());
    }
    let stream = &set[32..64];
    if stream[0] != 0xC0 {
        return Err("entry set has no stream extension".into());
    }
    let name_len = usize::from(stream[3]);
    let parts = name_len.div_ceil(15);
    if name_len == 0 || parts > count - 2 {
        return Err("entry set's name length does not fit its entries".into());
    }
    let mut units = Vec::with_capacity(parts * 15);
    for part in set[64..].chunks_exact(32).take(parts) {
        if part[0] != 0xC1 {
            return Err("entry set's name entries are missing".into());
        }
        units.extend((0..15).map(|i| le16(part, 2 + 2 * i) as u16));
    }
    units.truncate(name_len);
    let attrs = le16(set, 4);
    let child = Child {
        name: wtf8_from_utf16(units.iter().copied()),
        attrs: Attributes {
            hidden: attrs & 0x02 != 0,
            system: attrs & 0x04 != 0,
        },
        dir: attrs & 0x10 != 0,
        first: le32(stream, 20) as u32,
        contiguous: stream[1] & 0x02 != 0,
        valid: le64(stream, 8),
        len: le64(stream, 24),
    };
    Ok((child, count))
}

/// What one directory holds: its children and the problems met.
fn parse_dir(bytes: &[u8]) -> (Vec<Child>, Vec<(ProblemKind, String)>) {
    let (mut kids, mut problems) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at + 32 <= bytes.len() {
        let t = bytes[at];
        let mut used = 1;
        match t {
            0 => break,
            0x85 => match parse_set(&bytes[at..]) {
                Ok((child, n)) => {
                    kids.push(child);
                    used = n;
                }
                Err(e) => problems.push((
                    ProblemKind::Corrupt,
                    format!("entry {}: {e}; skipped", at / 32),
                )),
            },
            // Unknown critical primary entries: their meaning is unknown.
            0x80 | 0x84 | 0x86..=0x9F => problems.push((
                ProblemKind::Unsupported,
                format!("entry {}: unknown critical entry type {t:#04x}", at / 32),
            )),
            // Unused or deleted entries, bitmap, up-case table, label,
            // benign primaries and stray secondaries.
            _ => {}
        }
        at += used * 32;
    }
    (kids, problems)
}

/// One walk's state.
struct Walk<'a> {
    fs: &'a Exfat,
    limits: &'a Limits,
    visit: &'a mut dyn Visitor,
    entries: u64,
    seen: ClusterSet,
}

impl Walk<'_> {
    /// Reads one directory, visits its files and queues its
    /// subdirectories. `Stop` when the visitor or a limit ends the walk.
    fn dir(&mut self, d: Pending, queue: &mut Vec<Pending>) -> Flow {
        let (bytes, err) = self.fs.read_dir(&d, &mut self.seen);
        let (kids, mut problems) = parse_dir(&bytes);
        if let Some(e) = err {
            problems.insert(0, (e.kind(), format!("directory: {e}")));
        }
        for (kind, text) in problems {
            if self.visit.problem(&d.path, kind, &text) == Flow::Stop {
                return Flow::Stop;
            }
        }
        for child in kids {
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                let text = format!("more than {} entries", self.limits.max_entries);
                self.visit.problem(&d.path, ProblemKind::Limit, &text);
                return Flow::Stop;
            }
            let mut path = d.path.clone();
            path.push(child.name.clone());
            let flow = if child.dir {
                self.subdir(&child, path, d.depth + 1, queue)
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
        child: &Child,
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
        if child.len > 0 {
            q.push(Pending {
                first: child.first,
                contiguous: child.contiguous,
                len: Some(child.len),
                path,
                depth,
            });
        }
        Flow::Continue
    }

    fn file(&mut self, child: &Child, path: &[Vec<u8>]) -> Flow {
        let (valid, len, trouble) = self.lengths(child);
        if let Some(text) = trouble {
            if self.visit.problem(path, ProblemKind::Corrupt, text) == Flow::Stop {
                return Flow::Stop;
            }
        }
        let chain = Chain::new(Arc::clone(&self.fs.table), child.first, child.contiguous);
        let data = ChainReader::new(chain, valid, len - valid);
        let entry = Entry {
            path,
            size: len,
            attrs: child.attrs,
        };
        visit_chain(self.visit, &entry, data)
    }
}

impl Walk<'_> {
    /// A file's valid data length and data length, cut to what the
    /// cluster heap can hold (so zeros past the valid length end), and
    /// why they were cut.
    fn lengths(&self, child: &Child) -> (u64, u64, Option<&'static str>) {
        let t = &self.fs.table;
        let heap = u64::from(t.max_cluster.saturating_sub(1)) * t.cluster_len;
        let mut trouble = None;
        let mut len = child.len;
        if len > heap {
            trouble = Some("data length exceeds the cluster heap; read to the heap's size");
            len = heap;
        }
        let mut valid = child.valid;
        if valid > len {
            trouble = trouble.or(Some("valid data length exceeds the data length"));
            valid = len;
        }
        (valid, len, trouble)
    }
}

impl FileSystem for Exfat {
    fn label(&self) -> VolumeLabel {
        self.label.clone()
    }

    fn boot_len(&self) -> u64 {
        self.boot_len
    }

    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError> {
        let mut queue = vec![self.root_dir(Vec::new())];
        let mut w = Walk {
            fs: self,
            limits,
            visit,
            entries: 0,
            seen: ClusterSet::default(),
        };
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

    /// A file entry set for `name` with a stream of `len` bytes at cluster 5.
    fn set(name: &str, attrs: u16, len: u64) -> Vec<u8> {
        let units: Vec<u16> = name.encode_utf16().collect();
        let parts = units.len().div_ceil(15);
        let mut s = vec![0u8; (2 + parts) * 32];
        s[0] = 0x85;
        s[1] = (1 + parts) as u8;
        s[4..6].copy_from_slice(&attrs.to_le_bytes());
        s[32] = 0xC0;
        s[33] = 0x03;
        s[35] = units.len() as u8;
        s[40..48].copy_from_slice(&len.to_le_bytes());
        s[52..56].copy_from_slice(&5u32.to_le_bytes());
        s[56..64].copy_from_slice(&len.to_le_bytes());
        for (i, u) in units.iter().enumerate() {
            let at = 64 + (i / 15) * 32;
            s[at] = 0xC1;
            s[at + 2 + (i % 15) * 2..at + 4 + (i % 15) * 2].copy_from_slice(&u.to_le_bytes());
        }
        let sum = set_checksum(&s);
        s[2..4].copy_from_slice(&sum.to_le_bytes());
        s
    }

    #[test]
    fn entry_sets_parse_and_checksums_are_checked() {
        let name = "a rather long exFAT file name.txt";
        let mut dir = set(name, 0x22, 77);
        dir.extend(set("sub", 0x10, 4096));
        let mut broken = set("broken", 0x20, 1);
        broken[40] ^= 1;
        dir.extend(broken);
        dir.extend([0u8; 32]);
        let (kids, problems) = parse_dir(&dir);
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].name, name.as_bytes());
        assert!(kids[0].attrs.hidden && !kids[0].dir && kids[0].contiguous);
        assert_eq!((kids[0].len, kids[0].valid, kids[0].first), (77, 77, 5));
        assert!(kids[1].dir);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("checksum"));
    }

    #[test]
    fn a_set_past_the_end_is_refused() {
        let s = set("x", 0x20, 1);
        assert!(parse_set(&s[..64]).is_err());
    }
}
