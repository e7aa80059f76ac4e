//! ISO 9660 reader (with Joliet and Rock Ridge names): kensa's own, compact
//! and bounded. It owns the volume descriptors, the directory records and
//! their System Use areas, and the extent lists files are read through
//! ([`Extents`], which the UDF reader shares).
//!
//! Why not a crate: `cdfs` (the successor of ids1024's `iso9660`) calls
//! itself "very much a work-in-progress", last released in 2023, with an
//! `assertions` feature on by default; `iso9660` refused a real image over
//! its dates (its PR #8); `hadris-iso` is young, rewritten between major
//! versions, and had an `assert!` reachable from image contents
//! (`ext.len() <= 3`, reported against 0.0.2). None shows a fuzzing
//! record. A reader of the few structures a listing needs is smaller than
//! any of them and is fuzzed here (`fuzz/fuzz_targets/iso.rs`).
//!
//! Names: the primary tree with Rock Ridge `NM` names when the root's
//! `SP` entry says Rock Ridge is in use (following `CE` continuation areas,
//! at most [`MAX_CE_HOPS`]); else the Joliet tree (UCS-2 big-endian →
//! WTF-8); else the primary names with the `;1` version and a trailing dot
//! stripped. A multi-extent file (flag 0x80 on all records but the last)
//! is one file over all its extents. Directory records are read inside the
//! directory's extent only, a directory whose extent was already walked (a
//! loop) is reported and not entered, and the directory bytes one walk
//! reads are capped ([`MAX_DIR_BYTES`]). The "existence" flag is
//! `Attributes::hidden`. Rock Ridge symlinks and devices are skipped; a
//! directory relocated by mkisofs (`RE`, under `rr_moved`) is listed where
//! its `CL` link puts it and not again under `rr_moved`. A bootable disc's
//! El Torito initial image is handed over as the pseudo-file `$eltorito`.
//! Label: the volume identifier (Joliet's when present); serial: the
//! volume creation date as blkid prints it (`2024-01-02-03-04-05-00`).
//!
//! A disc with both Rock Ridge and a Joliet tree: the Joliet tree is what
//! Windows shows, so a hostile disc could name a file in it only. After
//! the Rock Ridge walk, kensa walks the Joliet tree too and hands over only
//! the files whose data (compared by [`runs_key`], a SHA-256 over where the
//! bytes lie on the device) the Rock Ridge walk did not, under the first
//! path component [`JOLIET_PREFIX`] (`$joliet/SETUP/evil.exe`), counted
//! against the same [`Limits`]: an ordinary `-J -R` disc lists each file
//! once, and nothing under `$joliet`. (A Joliet record of a Rock Ridge
//! symlink, if a tool writes one, may show there as a small file.) A Joliet
//! root that cannot be read beside a readable Rock Ridge tree is a Corrupt
//! problem at `$joliet`, and the walk ends normally.
//!
//! For the UDF reader it also walks a bridge disc's ISO 9660 tree under a
//! prefix, skipping files whose data the UDF walk read (by [`runs_key`]);
//! the Joliet pass above runs there too, skipping what either the UDF or
//! the Rock Ridge walk read (`$iso9660/$joliet/...`).

use crate::bytes::{le16, le32, wtf8_from_utf16be};
use crate::{
    Attributes, Device, Entry, FileSystem, Flow, FsError, Limits, ProblemKind, Visitor, VolumeLabel,
};
use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::Arc;

/// The size of a volume descriptor and of the sectors records are packed in.
const SECTOR: u64 = 2048;
/// Volume descriptors looked at before giving up on a terminator.
const MAX_DESCRIPTORS: u64 = 64;
/// Directory bytes one walk reads, over all directories.
const MAX_DIR_BYTES: u64 = 256 << 20;
/// Extents of one multi-extent file.
const MAX_EXTENTS: usize = 4096;
/// Rock Ridge continuation areas followed for one record.
const MAX_CE_HOPS: usize = 16;
/// Bytes of one Rock Ridge name (NAME_MAX).
const MAX_NAME: usize = 255;

/// How the walked tree names its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Names {
    /// Primary tree, Rock Ridge `NM` names; `skip` bytes before each
    /// System Use area's first entry (from `SP`).
    RockRidge {
        skip: usize,
    },
    Joliet,
    Primary,
}

/// A directory's place: its first block and its length in bytes.
#[derive(Clone, Copy, Debug)]
struct DirExtent {
    block: u32,
    len: u32,
}

pub(crate) struct Iso {
    dev: Arc<dyn Device>,
    /// Logical block size (2048 on every real disc).
    bs: u64,
    root: DirExtent,
    names: Names,
    label: VolumeLabel,
    /// The El Torito initial image: (offset, length).
    eltorito: Option<(u64, u64)>,
    /// The Joliet root, when the walk names by Rock Ridge and a Joliet
    /// tree is there too (walked after, for files only it names).
    joliet_root: Option<DirExtent>,
}

/// The first path component of files only the Joliet tree names.
pub(crate) const JOLIET_PREFIX: &[u8] = b"$joliet";

/// Opens the ISO 9660 volume on `dev`.
pub fn open(dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    Ok(Box::new(open_tree(dev)?))
}

/// Opens the ISO 9660 tree on `dev` (for the UDF reader, which walks a
/// bridge disc's ISO 9660 tree after its own through [`Iso::walk_unseen`]).
pub(crate) fn open_tree(dev: Arc<dyn Device>) -> Result<Iso, FsError> {
    let vds = read_descriptors(&*dev)?;
    let pvd = vds
        .primary
        .ok_or_else(|| FsError::Corrupt("no primary volume descriptor".into()))?;
    let bs = u64::from(le16(&pvd, 128));
    if !matches!(bs, 512 | 1024 | 2048) {
        return Err(FsError::Corrupt(format!("logical block size {bs}")));
    }
    let root_rec = &pvd[156..190];
    let root = DirExtent {
        block: le32(root_rec, 2),
        len: le32(root_rec, 10),
    };
    let mut iso = Iso {
        dev,
        bs,
        root,
        names: Names::Primary,
        label: VolumeLabel {
            label: trimmed(&pvd[40..72]),
            serial: creation_serial(&pvd[813..830]),
        },
        eltorito: None,
        joliet_root: None,
    };
    let joliet_root = vds.joliet.as_ref().map(|svd| DirExtent {
        block: le32(svd, 156 + 2),
        len: le32(svd, 156 + 10),
    });
    if let Some(skip) = iso.rock_ridge_skip() {
        iso.names = Names::RockRidge { skip };
        iso.joliet_root = joliet_root;
    } else if let Some(root) = joliet_root {
        iso.root = root;
        iso.names = Names::Joliet;
    }
    if let Some(svd) = &vds.joliet {
        let name = wtf8_from_utf16be(&svd[40..72]);
        let name = String::from_utf8_lossy(&name).trim_end().to_string();
        if !name.is_empty() {
            iso.label.label = Some(name);
        }
    }
    iso.eltorito = vds.boot_catalog.and_then(|c| iso.eltorito_image(c));
    Ok(iso)
}

#[derive(Default)]
struct Descriptors {
    primary: Option<Vec<u8>>,
    joliet: Option<Vec<u8>>,
    /// Block of the El Torito boot catalog.
    boot_catalog: Option<u32>,
}

fn read_descriptors(dev: &dyn Device) -> Result<Descriptors, FsError> {
    let mut out = Descriptors::default();
    for i in 0..MAX_DESCRIPTORS {
        let mut d = vec![0u8; SECTOR as usize];
        if dev.read_at((16 + i) * SECTOR, &mut d).is_err() {
            break;
        }
        if &d[1..6] != b"CD001" {
            break;
        }
        match d[0] {
            0 if d[7..30] == *b"EL TORITO SPECIFICATION" => {
                out.boot_catalog = Some(le32(&d, 0x47));
            }
            1 if out.primary.is_none() => out.primary = Some(d),
            2 if out.joliet.is_none() && is_joliet(&d) => out.joliet = Some(d),
            255 => break,
            _ => {}
        }
    }
    Ok(out)
}

/// A supplementary descriptor is Joliet when its escape sequences name
/// UCS-2 level 1, 2 or 3.
fn is_joliet(d: &[u8]) -> bool {
    d[88] == b'%' && d[89] == b'/' && matches!(d[90], b'@' | b'C' | b'E')
}

/// A space-padded identifier as text (`None` when blank).
fn trimmed(b: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(b)
        .trim_end_matches([' ', '\0'])
        .to_string();
    (!s.is_empty()).then_some(s)
}

/// The volume creation date (`YYYYMMDDHHMMSScc` + zone) as blkid's UUID
/// form `YYYY-MM-DD-HH-MM-SS-cc`; `None` when unset or not digits.
fn creation_serial(d: &[u8]) -> Option<String> {
    let digits = d.get(..16)?;
    if !digits.iter().all(u8::is_ascii_digit) || digits.iter().all(|&c| c == b'0') {
        return None;
    }
    let s = std::str::from_utf8(digits).ok()?;
    Some(format!(
        "{}-{}-{}-{}-{}-{}-{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14],
        &s[14..16]
    ))
}

/// One directory record, borrowed from its sector.
struct Record<'a> {
    block: u32,
    len: u32,
    xattr: u8,
    flags: u8,
    interleaved: bool,
    name: &'a [u8],
    system_use: &'a [u8],
}

const FLAG_HIDDEN: u8 = 0x01;
const FLAG_DIR: u8 = 0x02;
const FLAG_MORE: u8 = 0x80;

/// Parses the record at the start of `b` (`b[0]` is its length, checked
/// by the caller to fit in `b`).
fn parse_record(b: &[u8]) -> Option<Record<'_>> {
    let len = usize::from(*b.first()?);
    if len < 34 || len > b.len() {
        return None;
    }
    let name_len = usize::from(b[32]);
    let name_end = 33 + name_len;
    if name_end > len {
        return None;
    }
    let su_start = (name_end + (name_len + 1) % 2).min(len);
    Some(Record {
        block: le32(b, 2),
        len: le32(b, 10),
        xattr: b[1],
        flags: b[25],
        interleaved: b[26] != 0 || b[27] != 0,
        name: &b[33..name_end],
        system_use: &b[su_start..len],
    })
}

/// What the Rock Ridge entries of one record say.
#[derive(Default)]
struct RockRidge {
    name: Vec<u8>,
    has_name: bool,
    /// Not a regular file or directory (symlink, device, FIFO, socket).
    special: bool,
    /// A directory moved here by mkisofs (listed through its `CL`).
    relocated: bool,
    /// Where a relocated directory really is.
    child_link: Option<u32>,
    /// The `CE` chain was cut or pointed outside the device.
    broken: bool,
}

impl Iso {
    /// The root "." record's `SP` entry, which says Rock Ridge (SUSP) is
    /// used and how many bytes each System Use area skips.
    fn rock_ridge_skip(&self) -> Option<usize> {
        let mut sector = vec![0u8; SECTOR as usize];
        let off = u64::from(self.root.block).checked_mul(self.bs)?;
        self.dev.read_at(off, &mut sector).ok()?;
        let rec = parse_record(&sector)?;
        let su = rec.system_use;
        if su.len() >= 7 && &su[0..2] == b"SP" && su[4] == 0xBE && su[5] == 0xEF {
            Some(usize::from(su[6]))
        } else {
            None
        }
    }

    /// Reads a record's System Use entries, following `CE` areas.
    fn rock_ridge(&self, system_use: &[u8], skip: usize) -> RockRidge {
        let mut rr = RockRidge::default();
        let mut area = system_use.get(skip..).unwrap_or(&[]).to_vec();
        for hop in 0..=MAX_CE_HOPS {
            let next = rr_entries(&area, &mut rr);
            let Some((block, off, len)) = next else {
                break;
            };
            if hop == MAX_CE_HOPS || len == 0 || u64::from(off) + u64::from(len) > self.bs {
                rr.broken = true;
                break;
            }
            area = vec![0u8; len as usize];
            let at = u64::from(block) * self.bs + u64::from(off);
            if self.dev.read_at(at, &mut area).is_err() {
                rr.broken = true;
                break;
            }
        }
        rr
    }

    /// The El Torito initial/default entry's image, clipped to the device.
    fn eltorito_image(&self, catalog: u32) -> Option<(u64, u64)> {
        let mut c = [0u8; 64];
        self.dev
            .read_at(u64::from(catalog).checked_mul(self.bs)?, &mut c)
            .ok()?;
        if c[0] != 1 || c[30] != 0x55 || c[31] != 0xAA {
            return None;
        }
        let count = u64::from(le16(&c, 38)).max(1);
        let len = match c[33] & 0x0F {
            1 => 1_228_800,
            2 => 1_474_560,
            3 => 2_949_120,
            _ => count * 512,
        };
        let off = u64::from(le32(&c, 40)) * SECTOR;
        let len = len.min(self.dev.len().checked_sub(off)?);
        (len > 0).then_some((off, len))
    }
}

/// Reads the SUSP entries of one area into `rr`; returns the `CE`
/// continuation (block, offset, length) when there is one.
fn rr_entries(area: &[u8], rr: &mut RockRidge) -> Option<(u32, u32, u32)> {
    let mut next = None;
    let mut i = 0;
    while i + 4 <= area.len() {
        let len = usize::from(area[i + 2]);
        if len < 4 || i + len > area.len() {
            break;
        }
        let data = &area[i + 4..i + len];
        match &area[i..i + 2] {
            // CURRENT / PARENT names are "." and "..": not a name.
            b"NM"
                if !data.is_empty()
                    && data[0] & 0x06 == 0
                    && rr.name.len() + data.len() <= MAX_NAME + 1 =>
            {
                rr.name.extend_from_slice(&data[1..]);
                rr.has_name = true;
            }
            b"PX" if data.len() >= 4 => {
                let mode = le32(data, 0) & 0o170_000;
                if mode != 0o100_000 && mode != 0o040_000 {
                    rr.special = true;
                }
            }
            b"SL" | b"PN" => rr.special = true,
            b"RE" => rr.relocated = true,
            b"CL" if data.len() >= 4 => rr.child_link = Some(le32(data, 0)),
            b"CE" if data.len() >= 20 => {
                next = Some((le32(data, 0), le32(data, 8), le32(data, 16)));
            }
            b"ST" => break,
            _ => {}
        }
        i += len;
    }
    next
}

/// A primary (or Joliet, after decoding) name without its `;version`.
fn strip_version(mut name: Vec<u8>, primary: bool) -> Vec<u8> {
    if let Some(p) = name.iter().rposition(|&c| c == b';') {
        if name[p + 1..].iter().all(u8::is_ascii_digit) {
            name.truncate(p);
        }
    }
    if primary && name.len() > 1 && name.last() == Some(&b'.') {
        name.pop();
    }
    name
}

/// One child of a directory, gathered before any is visited.
enum Child {
    File {
        name: Vec<u8>,
        runs: Vec<Run>,
        size: u64,
        hidden: bool,
    },
    Dir {
        name: Vec<u8>,
        at: DirExtent,
    },
    /// A directory known only by its block (Rock Ridge `CL`).
    Linked {
        name: Vec<u8>,
        block: u32,
    },
}

/// A multi-extent file being gathered.
struct Pending {
    name: Vec<u8>,
    runs: Vec<Run>,
    size: u64,
    hidden: bool,
}

struct Walk<'v> {
    limits: Limits,
    visit: &'v mut dyn Visitor,
    visited: HashSet<u32>,
    entries: u64,
    dir_bytes: u64,
    stopped: bool,
    /// Files whose [`runs_key`] is here are not visited (their data was
    /// read through another tree).
    seen: Option<&'v HashSet<RunsKey>>,
    /// How the tree being walked names its entries.
    names: Names,
    /// The [`runs_key`] of every file this walk handed over, when a
    /// Joliet walk is to follow (`Some`).
    read: Option<HashSet<RunsKey>>,
    /// Walking the Joliet tree: files in `read` are not visited.
    joliet: bool,
}

impl<'v> Walk<'v> {
    fn new(iso: &Iso, limits: &Limits, visit: &'v mut dyn Visitor) -> Walk<'v> {
        Walk {
            limits: *limits,
            visit,
            visited: HashSet::new(),
            entries: 0,
            dir_bytes: 0,
            stopped: false,
            seen: None,
            names: iso.names,
            read: iso.joliet_root.map(|_| HashSet::new()),
            joliet: false,
        }
    }
}

impl Walk<'_> {
    fn problem(&mut self, path: &[Vec<u8>], kind: ProblemKind, detail: &str) {
        if self.visit.problem(path, kind, detail) == Flow::Stop {
            self.stopped = true;
        }
    }

    /// Whether a file's data was read through another tree (`seen`, or,
    /// on the Joliet walk, the Rock Ridge walk); else records it as read
    /// when a Joliet walk is to follow.
    fn already_read(&mut self, runs: &[Run]) -> bool {
        if self.seen.is_none() && self.read.is_none() {
            return false;
        }
        let key = runs_key(runs);
        if self.seen.is_some_and(|seen| seen.contains(&key)) {
            return true;
        }
        match &mut self.read {
            Some(read) if self.joliet => read.contains(&key),
            Some(read) => {
                read.insert(key);
                false
            }
            None => false,
        }
    }

    /// Counts one entry; false (and a reported limit) past the limit.
    fn count(&mut self, path: &[Vec<u8>]) -> bool {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            self.problem(path, ProblemKind::Limit, "entry limit reached");
            self.stopped = true;
            return false;
        }
        true
    }
}

impl Iso {
    /// Reads one directory's records into its children (problems
    /// reported on the way).
    fn read_dir(&self, w: &mut Walk<'_>, path: &[Vec<u8>], at: DirExtent) -> Vec<Child> {
        let mut out = Vec::new();
        let mut pending: Option<Pending> = None;
        let start = u64::from(at.block) * self.bs;
        let len = u64::from(at.len);
        let mut sector = vec![0u8; SECTOR as usize];
        let mut pos = 0u64;
        while pos < len && !w.stopped {
            w.dir_bytes += SECTOR;
            if w.dir_bytes > MAX_DIR_BYTES {
                w.problem(path, ProblemKind::Limit, "directory bytes limit reached");
                break;
            }
            let n = (len - pos).min(SECTOR) as usize;
            if let Err(e) = self.dev.read_at(start + pos, &mut sector[..n]) {
                w.problem(path, ProblemKind::Io, &format!("directory: {e}"));
                break;
            }
            self.sector_records(w, path, &sector[..n], &mut pending, &mut out);
            pos += SECTOR;
        }
        if let Some(p) = pending {
            let mut child = path.to_vec();
            child.push(p.name);
            w.problem(
                &child,
                ProblemKind::Corrupt,
                "multi-extent file without its last extent",
            );
        }
        out
    }

    /// The records of one directory sector.
    fn sector_records(
        &self,
        w: &mut Walk<'_>,
        path: &[Vec<u8>],
        sector: &[u8],
        pending: &mut Option<Pending>,
        out: &mut Vec<Child>,
    ) {
        let mut i = 0usize;
        while i < sector.len() && !w.stopped {
            let len = usize::from(sector[i]);
            if len == 0 {
                break; // the rest of the sector is padding
            }
            let Some(rec) = parse_record(&sector[i..]) else {
                w.problem(path, ProblemKind::Corrupt, "bad directory record");
                break;
            };
            i += len;
            if rec.name.len() == 1 && rec.name[0] <= 1 {
                continue; // "." and ".."
            }
            if !w.count(path) {
                break;
            }
            self.record_child(w, path, &rec, pending, out);
        }
    }

    /// Turns one record into a child (or a part of a pending file).
    fn record_child(
        &self,
        w: &mut Walk<'_>,
        path: &[Vec<u8>],
        rec: &Record<'_>,
        pending: &mut Option<Pending>,
        out: &mut Vec<Child>,
    ) {
        let mut name = match w.names {
            Names::Joliet => strip_version(wtf8_from_utf16be(rec.name), false),
            _ => strip_version(rec.name.to_vec(), true),
        };
        if let Names::RockRidge { skip } = w.names {
            let rr = self.rock_ridge(rec.system_use, skip);
            if rr.has_name {
                name = rr.name.clone();
            }
            if rr.broken {
                let mut p = path.to_vec();
                p.push(name.clone());
                w.problem(
                    &p,
                    ProblemKind::Corrupt,
                    "Rock Ridge continuation area out of range",
                );
            }
            if rr.special || rr.relocated {
                return;
            }
            if let Some(block) = rr.child_link {
                out.push(Child::Linked { name, block });
                return;
            }
        }
        if rec.flags & FLAG_DIR != 0 {
            let at = DirExtent {
                block: rec.block,
                len: rec.len,
            };
            out.push(Child::Dir { name, at });
            return;
        }
        if rec.interleaved {
            let mut p = path.to_vec();
            p.push(name);
            w.problem(&p, ProblemKind::Unsupported, "interleaved file");
            return;
        }
        self.file_part(w, path, rec, name, pending, out);
    }

    /// Adds one extent of a file; a file is done at its record without
    /// the multi-extent flag.
    fn file_part(
        &self,
        w: &mut Walk<'_>,
        path: &[Vec<u8>],
        rec: &Record<'_>,
        name: Vec<u8>,
        pending: &mut Option<Pending>,
        out: &mut Vec<Child>,
    ) {
        let run = Run {
            at: Some((u64::from(rec.block) + u64::from(rec.xattr)) * self.bs),
            len: u64::from(rec.len),
        };
        let mut p = match pending.take() {
            Some(p) if p.name == name => p,
            other => {
                if let Some(old) = other {
                    let mut op = path.to_vec();
                    op.push(old.name);
                    w.problem(
                        &op,
                        ProblemKind::Corrupt,
                        "multi-extent file without its last extent",
                    );
                }
                Pending {
                    name,
                    runs: Vec::new(),
                    size: 0,
                    hidden: false,
                }
            }
        };
        p.hidden |= rec.flags & FLAG_HIDDEN != 0;
        p.size = p.size.saturating_add(run.len);
        if p.runs.len() >= MAX_EXTENTS {
            let mut fp = path.to_vec();
            fp.push(p.name);
            w.problem(&fp, ProblemKind::Limit, "too many extents in one file");
            return;
        }
        p.runs.push(run);
        if rec.flags & FLAG_MORE != 0 {
            *pending = Some(p);
        } else {
            out.push(Child::File {
                name: p.name,
                runs: p.runs,
                size: p.size,
                hidden: p.hidden,
            });
        }
    }

    /// The extent of a directory known by its block: its "." record says
    /// how long it is.
    fn linked_dir(&self, block: u32) -> Option<DirExtent> {
        let mut sector = vec![0u8; SECTOR as usize];
        self.dev
            .read_at(u64::from(block).checked_mul(self.bs)?, &mut sector)
            .ok()?;
        let rec = parse_record(&sector)?;
        (rec.name == [0] && rec.block == block).then_some(DirExtent {
            block,
            len: rec.len,
        })
    }

    fn visit_file(
        &self,
        w: &mut Walk<'_>,
        path: &[Vec<u8>],
        runs: Vec<Run>,
        size: u64,
        attrs: Attributes,
    ) {
        if w.already_read(&runs) {
            return;
        }
        let mut data = Extents::new(self.dev.clone(), runs);
        let entry = Entry { path, size, attrs };
        if w.visit.file(&entry, &mut data) == Flow::Stop {
            w.stopped = true;
        }
    }

    fn walk_dir(&self, w: &mut Walk<'_>, path: &mut Vec<Vec<u8>>, at: DirExtent, depth: u32) {
        if !w.visited.insert(at.block) {
            w.problem(
                path,
                ProblemKind::Corrupt,
                "directory loop: extent already walked",
            );
            return;
        }
        if depth > w.limits.max_depth {
            w.problem(path, ProblemKind::Limit, "directory depth limit reached");
            return;
        }
        for child in self.read_dir(w, path, at) {
            if w.stopped {
                return;
            }
            match child {
                Child::File {
                    name,
                    runs,
                    size,
                    hidden,
                } => {
                    path.push(name);
                    let attrs = Attributes {
                        hidden,
                        system: false,
                    };
                    self.visit_file(w, path, runs, size, attrs);
                    path.pop();
                }
                Child::Dir { name, at } => {
                    path.push(name);
                    self.walk_dir(w, path, at, depth + 1);
                    path.pop();
                }
                Child::Linked { name, block } => {
                    path.push(name);
                    match self.linked_dir(block) {
                        Some(at) => self.walk_dir(w, path, at, depth + 1),
                        None => w.problem(path, ProblemKind::Corrupt, "bad Rock Ridge child link"),
                    }
                    path.pop();
                }
            }
        }
    }
}

impl FileSystem for Iso {
    fn label(&self) -> VolumeLabel {
        self.label.clone()
    }

    fn boot_len(&self) -> u64 {
        (16 * SECTOR).min(self.dev.len())
    }

    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError> {
        let mut w = Walk::new(self, limits, visit);
        self.walk_all(&mut w, Vec::new());
        Ok(())
    }
}

impl Iso {
    /// The El Torito image and the tree, every path under `prefix`.
    fn walk_all(&self, w: &mut Walk<'_>, prefix: Vec<Vec<u8>>) {
        if let Some((at, len)) = self.eltorito {
            let mut path = prefix.clone();
            path.push(b"$eltorito".to_vec());
            let runs = vec![Run { at: Some(at), len }];
            self.visit_file(w, &path, runs, len, Attributes::default());
        }
        if !w.stopped {
            let mut path = prefix.clone();
            self.walk_dir(w, &mut path, self.root, 0);
        }
        if let Some(root) = self.joliet_root.filter(|_| !w.stopped) {
            let mut path = prefix;
            path.push(JOLIET_PREFIX.to_vec());
            self.walk_joliet(w, &mut path, root);
        }
    }

    /// After the Rock Ridge walk, the Joliet tree under `path`: only the
    /// files whose data the Rock Ridge walk did not hand over.
    fn walk_joliet(&self, w: &mut Walk<'_>, path: &mut Vec<Vec<u8>>, root: DirExtent) {
        if let Err(why) = self.dir_start(root) {
            let why = format!("Joliet tree not read: {why}");
            return w.problem(path, ProblemKind::Corrupt, &why);
        }
        w.names = Names::Joliet;
        w.joliet = true;
        // Its directories are other extents: a loop is within this tree.
        w.visited.clear();
        self.walk_dir(w, path, root, 0);
    }

    /// Checks that a directory starts with its "." record.
    fn dir_start(&self, at: DirExtent) -> Result<(), String> {
        let mut sector = vec![0u8; SECTOR as usize];
        let off = u64::from(at.block)
            .checked_mul(self.bs)
            .ok_or("root block out of range")?;
        self.dev
            .read_at(off, &mut sector)
            .map_err(|e| format!("root directory: {e}"))?;
        match parse_record(&sector) {
            Some(rec) if rec.name == [0] && at.len > 0 => Ok(()),
            _ => Err("no \".\" record at the root".into()),
        }
    }

    /// Walks the tree (and the El Torito image) as [`FileSystem::walk`]
    /// does, but under the first component `prefix`, visiting only the
    /// files whose [`runs_key`] is not in `seen`, and counting entries
    /// on from `entries` against `limits`.
    pub(crate) fn walk_unseen(
        &self,
        limits: &Limits,
        visit: &mut dyn Visitor,
        prefix: &[u8],
        seen: &HashSet<RunsKey>,
        entries: u64,
    ) {
        let mut w = Walk::new(self, limits, visit);
        w.entries = entries;
        w.seen = Some(seen);
        self.walk_all(&mut w, vec![prefix.to_vec()]);
    }
}

/// A file's data as where it lies on the device: a SHA-256 over its runs
/// (adjacent runs joined, empty ones dropped, holes kept), so two trees
/// naming the same bytes give the same key and a hostile disc cannot
/// make two different run lists collide.
pub(crate) type RunsKey = [u8; 32];

/// The [`RunsKey`] of a run list.
pub(crate) fn runs_key(runs: &[Run]) -> RunsKey {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut cur: Option<Run> = None;
    let mut emit = |r: Run| {
        match r.at {
            Some(at) => {
                h.update([1]);
                h.update(at.to_le_bytes());
            }
            None => h.update([0]),
        }
        h.update(r.len.to_le_bytes());
    };
    for &r in runs.iter().filter(|r| r.len > 0) {
        cur = match cur {
            Some(c) if joins(c, r) => Some(Run {
                at: c.at,
                len: c.len + r.len,
            }),
            Some(c) => {
                emit(c);
                Some(r)
            }
            None => Some(r),
        };
    }
    if let Some(c) = cur {
        emit(c);
    }
    h.finalize().into()
}

/// Whether run `b` goes on where run `a` ends (both holes, or `b`
/// starting at `a`'s end), without overflow.
fn joins(a: Run, b: Run) -> bool {
    if a.len.checked_add(b.len).is_none() {
        return false;
    }
    match (a.at, b.at) {
        (None, None) => true,
        (Some(x), Some(y)) => x.checked_add(a.len) == Some(y),
        _ => false,
    }
}

/// One piece of a file: `len` bytes at device offset `at`, or zeros
/// (`at` is `None`: a hole).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub(crate) at: Option<u64>,
    pub(crate) len: u64,
}

/// A file's bytes over its runs, in order. A run outside the device is a
/// read error, never garbage.
pub(crate) struct Extents {
    dev: Arc<dyn Device>,
    runs: Vec<Run>,
    idx: usize,
    /// Bytes already read from `runs[idx]`.
    done: u64,
}

impl Extents {
    pub(crate) fn new(dev: Arc<dyn Device>, runs: Vec<Run>) -> Extents {
        Extents {
            dev,
            runs,
            idx: 0,
            done: 0,
        }
    }
}

impl Read for Extents {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(run) = self.runs.get(self.idx) {
            let left = run.len - self.done.min(run.len);
            if left == 0 {
                self.idx += 1;
                self.done = 0;
                continue;
            }
            let n = (buf.len() as u64).min(left).min(1 << 20) as usize;
            match run.at {
                Some(at) => {
                    let off = at.checked_add(self.done).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "extent offset overflows")
                    })?;
                    self.dev.read_at(off, &mut buf[..n])?;
                }
                None => buf[..n].fill(0),
            }
            self.done += n as u64;
            return Ok(n);
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_version_and_trailing_dot() {
        assert_eq!(strip_version(b"README.TXT;1".to_vec(), true), b"README.TXT");
        assert_eq!(strip_version(b"NOEXT.;1".to_vec(), true), b"NOEXT");
        assert_eq!(strip_version(b"a;b".to_vec(), false), b"a;b");
    }

    #[test]
    fn ucs2_keeps_unpaired_surrogates() {
        assert_eq!(wtf8_from_utf16be(&[0, b'a', 0x30, 0x42]), "aあ".as_bytes());
        assert_eq!(wtf8_from_utf16be(&[0xD8, 0x00]), vec![0xED, 0xA0, 0x80]);
    }

    #[test]
    fn serial_is_blkid_form() {
        assert_eq!(
            creation_serial(b"2024010203040500\0").as_deref(),
            Some("2024-01-02-03-04-05-00")
        );
        assert_eq!(creation_serial(b"0000000000000000\0"), None);
    }

    /// A directory record: `name`, first block, length, flags.
    fn record(name: &[u8], block: u32, len: u32, flags: u8) -> Vec<u8> {
        let mut r = vec![0u8; 33];
        r[2..6].copy_from_slice(&block.to_le_bytes());
        r[6..10].copy_from_slice(&block.to_be_bytes());
        r[10..14].copy_from_slice(&len.to_le_bytes());
        r[14..18].copy_from_slice(&len.to_be_bytes());
        r[25] = flags;
        r[32] = name.len() as u8;
        r.extend_from_slice(name);
        if r.len() % 2 == 1 {
            r.push(0);
        }
        r[0] = r.len() as u8;
        r
    }

    /// A hand-made image: a multi-extent file over blocks 21 and 23 and a
    /// hidden file (no tool writes a multi-extent file below 4 GiB).
    fn multi_extent_image() -> Vec<u8> {
        let mut img = vec![0u8; 25 * 2048];
        let pvd = 16 * 2048;
        img[pvd] = 1;
        img[pvd + 1..pvd + 6].copy_from_slice(b"CD001");
        img[pvd + 128..pvd + 130].copy_from_slice(&2048u16.to_le_bytes());
        let root = record(&[0], 20, 2048, FLAG_DIR);
        img[pvd + 156..pvd + 156 + root.len()].copy_from_slice(&root);
        img[17 * 2048] = 255;
        img[17 * 2048 + 1..17 * 2048 + 6].copy_from_slice(b"CD001");
        let dir: Vec<u8> = [
            root.clone(),
            record(&[1], 20, 2048, FLAG_DIR),
            record(b"BIG.;1", 21, 2048, FLAG_MORE),
            record(b"BIG.;1", 23, 100, 0),
            record(b"H.TXT;1", 24, 3, FLAG_HIDDEN),
        ]
        .concat();
        img[20 * 2048..20 * 2048 + dir.len()].copy_from_slice(&dir);
        img[21 * 2048..22 * 2048].fill(b'a');
        img[22 * 2048..23 * 2048].fill(b'x');
        img[23 * 2048..23 * 2048 + 100].fill(b'b');
        img[24 * 2048..24 * 2048 + 3].copy_from_slice(b"hid");
        img
    }

    #[test]
    fn multi_extent_files_are_joined_and_hidden_is_flagged() {
        let dev: Arc<dyn Device> = Arc::new(crate::MemDevice(multi_extent_image().into()));
        let (files, problems) = crate::list_volume(dev, &Limits::default()).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(files.len(), 2);
        let big = &files[0];
        assert_eq!((big.path.clone(), big.size), (vec![b"BIG".to_vec()], 2148));
        let mut want = vec![b'a'; 2048];
        want.extend_from_slice(&[b'b'; 100]);
        use sha2::Digest;
        assert_eq!(big.sha256, hex::encode(sha2::Sha256::digest(&want)));
        assert!(!big.hidden);
        assert_eq!(files[1].path, vec![b"H.TXT".to_vec()]);
        assert!(files[1].hidden);
    }

    #[test]
    fn runs_key_is_where_the_bytes_lie() {
        let at = |a, len| Run { at: Some(a), len };
        let one = runs_key(&[at(4096, 100)]);
        assert_eq!(one, runs_key(&[at(4096, 60), at(0, 0), at(4156, 40)]));
        assert_ne!(one, runs_key(&[at(4096, 99)]));
        assert_ne!(one, runs_key(&[at(4096, 60), at(4157, 40)]));
        assert_ne!(one, runs_key(&[Run { at: None, len: 100 }]));
        let holes = [Run { at: None, len: 5 }, Run { at: None, len: 5 }];
        assert_eq!(runs_key(&holes), runs_key(&[Run { at: None, len: 10 }]));
        assert_eq!(runs_key(&[]), runs_key(&[at(7, 0)]));
        assert_ne!(
            runs_key(&[at(u64::MAX, 1), at(0, 1)]),
            runs_key(&[at(u64::MAX, 2)])
        );
    }

    #[test]
    fn extents_refuse_runs_past_the_device() {
        let dev: Arc<dyn Device> = Arc::new(crate::MemDevice(vec![1u8; 100].into()));
        let mut r = Extents::new(
            dev,
            vec![
                Run {
                    at: Some(90),
                    len: 10,
                },
                Run { at: None, len: 5 },
                Run {
                    at: Some(95),
                    len: 10,
                },
            ],
        );
        let mut v = Vec::new();
        assert!(r.read_to_end(&mut v).is_err());
        assert_eq!(&v[..15], &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    }
}
