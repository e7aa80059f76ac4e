//! UDF reader (ECMA-167 / OSTA UDF 1.02–2.50), kensa's own: no crate fit
//! (the few on crates.io — `udf-core`, `hadris-udf`, `lamfold-udf` — are
//! months old, one-author, with no fuzzing record or crash history to
//! judge them by). It owns the anchor, the volume descriptor sequence, the
//! partition maps, the file set descriptor, ICBs and their allocation
//! descriptors, and directories (file identifier descriptors).
//!
//! The anchor is looked for at block 256, then at the last block and 256
//! blocks before it, for block sizes 2048, 512, 1024 and 4096. Every
//! descriptor read is checked: its tag checksum, and its tag location
//! against where it was read. Partition maps: type 1 (physical), type 2
//! sparable (read as physical: a spared packet is read from its original
//! place) and metadata (UDF 2.50: the metadata file's extents map the
//! metadata partition); a virtual (VAT) map is `Unsupported`. Files are
//! file entries (tag 261) and extended file entries (tag 266) with short,
//! long or extended allocation descriptors (continuation extents followed,
//! at most [`MAX_AD_HOPS`]) or data embedded in the ICB; unrecorded
//! extents read as zeros. Names are OSTA CS0 (8-bit → UTF-8 from Latin-1,
//! 16-bit → WTF-8). The "hidden" file characteristic is
//! `Attributes::hidden`; deleted and parent entries are skipped; symlinks,
//! devices and other non-regular types are skipped. Every count and length
//! from the medium is capped (directory size [`MAX_DIR`], directory bytes
//! per walk, descriptors per file) and directory ICBs already walked (a
//! loop) are reported, not entered. Label: the logical volume identifier;
//! serial: from the volume set identifier's first 16 characters, as blkid
//! forms it.
//!
//! A bridge disc (`genisoimage -udf`, DVD-Video) carries a UDF and an ISO
//! 9660 tree, normally over the same file data. kensa reads the UDF tree
//! (what blkid names the volume, what Windows and a Linux `mount` without
//! `-t` show), recording each file's data as where it lies on the device
//! (a SHA-256 over its run list, [`crate::iso::runs_key`]). Then, as a
//! hostile disc can name data in its ISO 9660 tree only (what `mount -t
//! iso9660`, many tools and older Windows show), it walks the ISO 9660
//! tree too (Rock Ridge, else Joliet, names, and the El Torito image, as
//! the ISO reader does) and hands over only the files whose run list is
//! not exactly one the UDF walk read, under the first path component
//! [`ISO_PREFIX`] (`$iso9660/SETUP/evil.exe`): an ordinary bridge disc's
//! files are read once, and data only one tree names is read too. Its
//! entries count against the same [`Limits`] as the UDF walk's. An ISO
//! 9660 tree that cannot be opened beside a readable UDF one is a Corrupt
//! problem at `$iso9660` (a mount could still show it), and the walk ends
//! normally. When the UDF tree cannot be read, the ISO 9660 tree alone is
//! read, with its own names, after a reported problem saying so.

use crate::bytes::{le16, le32, le64, wtf8_from_utf16be};
use crate::iso::{runs_key, Extents, Run, RunsKey};
use crate::{
    Attributes, Device, Entry, FileSystem, Flow, FsError, Limits, ProblemKind, Visitor, VolumeLabel,
};
use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

/// Bytes of one directory's data read into memory.
const MAX_DIR: u64 = 16 << 20;
/// Directory bytes one walk reads, over all directories.
const MAX_DIR_BYTES: u64 = 64 << 20;
/// Allocation descriptors of one file.
const MAX_ADS: usize = 65_536;
/// Allocation extent descriptors (continuations) followed for one file.
const MAX_AD_HOPS: usize = 1024;
/// Descriptors read from one volume descriptor sequence.
const MAX_VDS: u64 = 256;
/// Partition maps in one logical volume.
const MAX_MAPS: usize = 16;

const TAG_PVD: u16 = 1;
const TAG_AVDP: u16 = 2;
const TAG_PD: u16 = 5;
const TAG_LVD: u16 = 6;
const TAG_TD: u16 = 7;
const TAG_FSD: u16 = 256;
const TAG_FID: u16 = 257;
const TAG_AED: u16 = 258;
const TAG_FE: u16 = 261;
const TAG_EFE: u16 = 266;

fn corrupt(what: impl Into<String>) -> FsError {
    FsError::Corrupt(what.into())
}

/// Whether `b` starts with a descriptor tag of kind `id`, its checksum
/// right and its recorded location `loc` (`None`: location not checked).
fn tag_ok(b: &[u8], id: u16, loc: Option<u32>) -> bool {
    if b.len() < 16 || le16(b, 0) != id {
        return false;
    }
    let sum = b[..16]
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 4)
        .fold(0u8, |s, (_, &x)| s.wrapping_add(x));
    sum == b[4] && loc.is_none_or(|l| le32(b, 12) == l)
}

/// OSTA CS0 → bytes: 8-bit (Latin-1) as UTF-8, 16-bit as WTF-8.
fn cs0(b: &[u8]) -> Option<Vec<u8>> {
    let (&id, rest) = b.split_first()?;
    match id {
        8 | 254 => Some(
            rest.iter()
                .map(|&c| char::from(c))
                .collect::<String>()
                .into_bytes(),
        ),
        16 | 255 => Some(wtf8_from_utf16be(rest)),
        _ => None,
    }
}

/// A `dstring` field: CS0 bytes, the used length in its last byte.
fn dstring(field: &[u8]) -> Option<String> {
    let (&used, body) = field.split_last()?;
    let body = body.get(..usize::from(used))?;
    let s = String::from_utf8_lossy(&cs0(body)?).trim_end().to_string();
    (!s.is_empty()).then_some(s)
}

/// blkid's UUID from a volume set identifier: its first 16 characters
/// when they are hex digits; else 8 of them and 4 more bytes as hex; else
/// the first 8 bytes as hex.
fn volset_serial(field: &[u8]) -> Option<String> {
    let (&used, body) = field.split_last()?;
    let body = body.get(..usize::from(used))?;
    let (&id, rest) = body.split_first()?;
    let chars: Vec<u8> = match id {
        8 | 254 => rest.to_vec(),
        16 | 255 => rest.chunks_exact(2).map(|c| c[1]).collect(),
        _ => return None,
    };
    let chars: Vec<u8> = chars.into_iter().take_while(|&c| c != 0).take(16).collect();
    if chars.is_empty() {
        return None;
    }
    let hex_len = chars.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    let lower = |b: &[u8]| String::from_utf8_lossy(b).to_ascii_lowercase();
    Some(if hex_len >= 16 {
        lower(&chars[..16])
    } else if hex_len >= 8 {
        let tail: Vec<u8> = chars.iter().skip(8).take(4).copied().collect();
        format!("{}{}", lower(&chars[..8]), hex::encode(tail))
    } else {
        hex::encode(&chars[..chars.len().min(8)])
    })
}

/// A `long_ad`: an extent in a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct LongAd {
    len: u32,
    block: u32,
    part: u16,
}

fn long_ad(b: &[u8], off: usize) -> LongAd {
    LongAd {
        len: le32(b, off),
        block: le32(b, off + 4),
        part: le16(b, off + 8),
    }
}

/// How a partition reference's blocks reach the device.
#[derive(Clone, Debug)]
enum PartMap {
    /// `len` blocks from block `start` of the device.
    Physical {
        start: u64,
        len: u64,
    },
    /// Through the metadata file's extents (byte runs on the device).
    Metadata {
        runs: Vec<Run>,
    },
    Unsupported(String),
}

struct Udf {
    dev: Arc<dyn Device>,
    bs: u64,
    maps: Vec<PartMap>,
    root: LongAd,
    label: VolumeLabel,
}

/// Opens the UDF volume on `dev`. On a bridge disc (an ISO 9660 volume
/// descriptor at 32 KiB too) whose UDF tree cannot be read, the ISO 9660
/// tree is read instead and the walk first reports why.
pub fn open(dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    match open_udf(dev.clone()) {
        Ok(fs) => Ok(fs),
        Err(e) => {
            if !is_bridge(&*dev) {
                return Err(e);
            }
            let inner = crate::iso::open(dev)?;
            Ok(Box::new(Bridge { inner, why: e }))
        }
    }
}

/// Whether `dev` holds an ISO 9660 volume descriptor at 32 KiB (a
/// bridge disc).
fn is_bridge(dev: &dyn Device) -> bool {
    let mut magic = [0u8; 5];
    dev.read_at(0x8001, &mut magic).is_ok() && &magic == b"CD001"
}

/// The first path component of a bridge disc's ISO 9660-only files.
pub(crate) const ISO_PREFIX: &[u8] = b"$iso9660";

/// The ISO 9660 tree of a bridge disc whose UDF tree failed.
struct Bridge {
    inner: Box<dyn FileSystem>,
    why: FsError,
}

impl FileSystem for Bridge {
    fn label(&self) -> VolumeLabel {
        self.inner.label()
    }
    fn boot_len(&self) -> u64 {
        self.inner.boot_len()
    }
    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError> {
        let why = format!("UDF tree not read ({}); the ISO 9660 tree is", self.why);
        if visit.problem(&[], ProblemKind::Corrupt, &why) == Flow::Stop {
            return Ok(());
        }
        self.inner.walk(limits, visit)
    }
}

fn open_udf(dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    let (bs, avdp) = find_anchor(&*dev)?;
    let vds = read_vds(&*dev, bs, le32(&avdp, 16), le32(&avdp, 20))
        .or_else(|_| read_vds(&*dev, bs, le32(&avdp, 24), le32(&avdp, 28)))?;
    let lvd_bs = u64::from(le32(&vds.lvd, 212));
    if lvd_bs != bs {
        return Err(FsError::Unsupported(format!(
            "logical block size {lvd_bs} differs from the sector size {bs}"
        )));
    }
    let label = VolumeLabel {
        label: dstring(&vds.lvd[84..212]),
        serial: vds.pvd.as_ref().and_then(|p| volset_serial(&p[72..200])),
    };
    let mut udf = Udf {
        dev,
        bs,
        maps: Vec::new(),
        root: long_ad(&[], 0),
        label,
    };
    udf.maps = udf.partition_maps(&vds)?;
    let fsd_ad = long_ad(&vds.lvd, 248);
    let fsd = udf.read_block(fsd_ad.part, fsd_ad.block)?;
    if !tag_ok(&fsd, TAG_FSD, Some(fsd_ad.block)) {
        return Err(corrupt(
            "no file set descriptor where the logical volume says",
        ));
    }
    udf.root = long_ad(&fsd, 400);
    Ok(Box::new(udf))
}

/// The anchor volume descriptor pointer and the block size it was found
/// with.
fn find_anchor(dev: &dyn Device) -> Result<(u64, Vec<u8>), FsError> {
    for bs in [2048u64, 512, 1024, 4096] {
        let last = (dev.len() / bs).saturating_sub(1);
        for block in [256, last, last.saturating_sub(256)] {
            let mut b = vec![0u8; 512];
            let Ok(loc) = u32::try_from(block) else {
                continue;
            };
            if block == 0 || dev.read_at(block * bs, &mut b).is_err() {
                continue;
            }
            if tag_ok(&b, TAG_AVDP, Some(loc)) {
                return Ok((bs, b));
            }
        }
    }
    Err(corrupt("no anchor volume descriptor pointer"))
}

/// What a volume descriptor sequence gives.
struct Vds {
    pvd: Option<Vec<u8>>,
    lvd: Vec<u8>,
    /// Partition descriptors: (partition number, start block, length).
    parts: Vec<(u16, u32, u32)>,
}

fn read_vds(dev: &dyn Device, bs: u64, len: u32, loc: u32) -> Result<Vds, FsError> {
    let mut pvd = None;
    let mut lvd = None;
    let mut parts = Vec::new();
    let count = (u64::from(len) / bs).min(MAX_VDS);
    for i in 0..count {
        let block = u64::from(loc) + i;
        let mut b = vec![0u8; bs as usize];
        dev.read_at(block * bs, &mut b)?;
        let id = le16(&b, 0);
        if !tag_ok(&b, id, u32::try_from(block).ok()) {
            continue;
        }
        match id {
            TAG_PVD if pvd.is_none() => pvd = Some(b),
            TAG_LVD if lvd.is_none() => lvd = Some(b),
            TAG_PD if parts.len() < MAX_MAPS => {
                parts.push((le16(&b, 22), le32(&b, 188), le32(&b, 192)))
            }
            TAG_TD => break,
            _ => {}
        }
    }
    let lvd = lvd.ok_or_else(|| corrupt("no logical volume descriptor"))?;
    if lvd.len() < 440 {
        return Err(corrupt("logical volume descriptor too short"));
    }
    Ok(Vds { pvd, lvd, parts })
}

impl Udf {
    /// The logical volume's partition maps, resolved.
    fn partition_maps(&self, vds: &Vds) -> Result<Vec<PartMap>, FsError> {
        let table_len = (le32(&vds.lvd, 264) as usize).min(vds.lvd.len() - 440);
        let table = &vds.lvd[440..440 + table_len];
        let count = (le32(&vds.lvd, 268) as usize).min(MAX_MAPS);
        let mut maps = Vec::new();
        let mut pos = 0usize;
        let physical = |num: u16| {
            vds.parts
                .iter()
                .find(|p| p.0 == num)
                .map(|&(_, start, len)| PartMap::Physical {
                    start: u64::from(start),
                    len: u64::from(len),
                })
        };
        for _ in 0..count {
            let Some(&[kind, len]) = table.get(pos..pos + 2) else {
                break;
            };
            let map = table
                .get(pos..pos + usize::from(len))
                .ok_or_else(|| corrupt("partition map passes its table"))?;
            if len < 2 {
                return Err(corrupt("partition map of length 0"));
            }
            pos += usize::from(len);
            let m = match (kind, len) {
                (1, 6) => physical(le16(map, 4))
                    .unwrap_or_else(|| PartMap::Unsupported("no such partition".into())),
                (2, 64) => self.type2_map(map, physical(le16(map, 38))),
                _ => PartMap::Unsupported(format!("partition map type {kind}")),
            };
            maps.push(m);
        }
        if maps.is_empty() {
            return Err(corrupt("no partition maps"));
        }
        Ok(maps)
    }

    /// A type 2 map: sparable (read as physical), metadata (through the
    /// metadata file), or something kensa does not read.
    fn type2_map(&self, map: &[u8], base: Option<PartMap>) -> PartMap {
        let ident = &map[5..28];
        let Some(base) = base else {
            return PartMap::Unsupported("no such partition".into());
        };
        if ident.starts_with(b"*UDF Sparable Partition") {
            return base;
        }
        if !ident.starts_with(b"*UDF Metadata Partition") {
            let name = String::from_utf8_lossy(ident)
                .trim_end_matches('\0')
                .to_string();
            return PartMap::Unsupported(format!("partition map {name}"));
        }
        let inner = Udf {
            dev: self.dev.clone(),
            bs: self.bs,
            maps: vec![base],
            root: long_ad(&[], 0),
            label: VolumeLabel::default(),
        };
        let meta = LongAd {
            len: 0,
            block: le32(map, 40),
            part: 0,
        };
        match inner.icb(meta) {
            Ok(icb) => PartMap::Metadata { runs: icb.runs },
            Err(e) => PartMap::Unsupported(format!("metadata file: {e}")),
        }
    }

    /// The device byte runs of `len` bytes from `block` in partition
    /// `part` (a metadata partition's extent may span several runs).
    fn extent(&self, part: u16, block: u32, len: u64) -> Result<Vec<Run>, FsError> {
        let map = self
            .maps
            .get(usize::from(part))
            .ok_or_else(|| corrupt(format!("partition reference {part}")))?;
        match map {
            PartMap::Physical { start, len: plen } => {
                let blocks = len.div_ceil(self.bs);
                if u64::from(block) + blocks > *plen {
                    return Err(corrupt("extent passes its partition's end"));
                }
                let at = (start + u64::from(block)) * self.bs;
                Ok(vec![Run { at: Some(at), len }])
            }
            PartMap::Metadata { runs } => Ok(slice_runs(runs, u64::from(block) * self.bs, len)),
            PartMap::Unsupported(why) => Err(FsError::Unsupported(why.clone())),
        }
    }

    /// One block of a partition.
    fn read_block(&self, part: u16, block: u32) -> Result<Vec<u8>, FsError> {
        let runs = self.extent(part, block, self.bs)?;
        let mut b = vec![0u8; self.bs as usize];
        let mut r = Extents::new(self.dev.clone(), runs);
        r.read_exact(&mut b)?;
        Ok(b)
    }
}

/// `len` bytes from byte `from` of the data the runs hold, as runs; a
/// part beyond the runs is a run that fails to read.
fn slice_runs(runs: &[Run], from: u64, len: u64) -> Vec<Run> {
    let mut out = Vec::new();
    let mut skip = from;
    let mut want = len;
    for r in runs {
        if want == 0 {
            break;
        }
        if skip >= r.len {
            skip -= r.len;
            continue;
        }
        let n = (r.len - skip).min(want);
        out.push(Run {
            at: r.at.map(|a| a.saturating_add(skip)),
            len: n,
        });
        skip = 0;
        want -= n;
    }
    if want > 0 {
        out.push(Run {
            at: Some(u64::MAX),
            len: want,
        });
    }
    out
}

/// An ICB read: what it is and where its bytes are.
struct Icb {
    file_type: u8,
    size: u64,
    runs: Vec<Run>,
}

impl Udf {
    /// Reads the (extended) file entry at `ad` and its allocation
    /// descriptors.
    fn icb(&self, ad: LongAd) -> Result<Icb, FsError> {
        let b = self.read_block(ad.part, ad.block)?;
        let (ea_at, ext) = if tag_ok(&b, TAG_FE, Some(ad.block)) {
            (168, 176)
        } else if tag_ok(&b, TAG_EFE, Some(ad.block)) {
            (208, 216)
        } else {
            return Err(corrupt("no file entry where the directory says"));
        };
        if le16(&b, 20) != 4 {
            return Err(FsError::Unsupported(format!(
                "ICB strategy {}",
                le16(&b, 20)
            )));
        }
        let file_type = b[27];
        let flags = le16(&b, 34);
        let size = le64(&b, 56);
        let l_ea = le32(&b, ea_at) as usize;
        let l_ad = le32(&b, ea_at + 4) as usize;
        let start = ext + l_ea;
        let ads = start
            .checked_add(l_ad)
            .and_then(|end| b.get(start..end))
            .ok_or_else(|| corrupt("file entry's descriptors pass its block"))?;
        let runs = match flags & 7 {
            3 => {
                if size > l_ad as u64 {
                    return Err(corrupt("embedded data longer than its room"));
                }
                let runs = self.extent(ad.part, ad.block, self.bs)?;
                match runs.first() {
                    Some(&Run { at: Some(at), len }) if len >= start as u64 + size => vec![Run {
                        at: Some(at + start as u64),
                        len: size,
                    }],
                    _ => return Err(corrupt("file entry split across extents")),
                }
            }
            kind @ 0..=2 => self.ad_runs(ad.part, ads, kind, size)?,
            other => return Err(corrupt(format!("allocation type {other}"))),
        };
        Ok(Icb {
            file_type,
            size,
            runs,
        })
    }

    /// The runs allocation descriptors of `kind` (0 short, 1 long, 2
    /// extended) describe, following continuation extents, cut to `size`.
    fn ad_runs(&self, part: u16, first: &[u8], kind: u16, size: u64) -> Result<Vec<Run>, FsError> {
        let step = [8usize, 16, 20][usize::from(kind)];
        let mut area = first.to_vec();
        let mut runs = Vec::new();
        let mut total = 0u64;
        let mut count = 0usize;
        for _ in 0..MAX_AD_HOPS {
            let mut next = None;
            for d in area.chunks_exact(step) {
                count += 1;
                if count > MAX_ADS || total >= size {
                    break;
                }
                let raw = le32(d, 0);
                let len = u64::from(raw & 0x3FFF_FFFF);
                let (block, p) = match kind {
                    0 => (le32(d, 4), part),
                    1 => (le32(d, 4), le16(d, 8)),
                    _ => (le32(d, 12), le16(d, 16)),
                };
                if len == 0 {
                    break;
                }
                match raw >> 30 {
                    0 => runs.extend(self.extent(p, block, len.min(size - total))?),
                    3 => {
                        next = Some((p, block));
                        break;
                    }
                    _ => runs.push(Run {
                        at: None,
                        len: len.min(size - total),
                    }),
                }
                total += len.min(size - total);
            }
            let Some((p, block)) = next else {
                break;
            };
            let b = self.read_block(p, block)?;
            if !tag_ok(&b, TAG_AED, Some(block)) {
                return Err(corrupt("bad allocation extent descriptor"));
            }
            let l = (le32(&b, 20) as usize).min(b.len() - 24);
            area = b[24..24 + l].to_vec();
        }
        if total < size {
            return Err(corrupt(format!(
                "allocation descriptors cover {total} of {size} bytes"
            )));
        }
        Ok(runs)
    }
}

/// One directory entry.
struct Fid {
    name: Vec<u8>,
    icb: LongAd,
    dir: bool,
    hidden: bool,
}

/// Parses a directory's file identifier descriptors (deleted and parent
/// entries left out).
fn parse_fids(data: &[u8]) -> (Vec<Fid>, Option<String>) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 38 <= data.len() {
        let d = &data[pos..];
        if !tag_ok(d, TAG_FID, None) {
            return (
                out,
                Some(format!("bad file identifier descriptor at {pos}")),
            );
        }
        let chars = d[18];
        let l_fi = usize::from(d[19]);
        let l_iu = usize::from(le16(d, 36));
        let len = (38 + l_iu + l_fi + 3) & !3;
        let Some(fi) = d.get(38 + l_iu..38 + l_iu + l_fi) else {
            return (out, Some("file identifier passes the directory".into()));
        };
        pos += len;
        if chars & (0x04 | 0x08) != 0 {
            continue;
        }
        let Some(name) = cs0(fi).filter(|n| !n.is_empty()) else {
            return (out, Some("bad file identifier name".into()));
        };
        out.push(Fid {
            name,
            icb: long_ad(d, 20),
            dir: chars & 0x02 != 0,
            hidden: chars & 0x01 != 0,
        });
    }
    (out, None)
}

struct Walk<'v> {
    limits: Limits,
    visit: &'v mut dyn Visitor,
    visited: HashSet<(u16, u32)>,
    entries: u64,
    dir_bytes: u64,
    stopped: bool,
    /// The [`runs_key`] of every file handed to the visitor.
    read: HashSet<RunsKey>,
}

impl Walk<'_> {
    fn problem(&mut self, path: &[Vec<u8>], kind: ProblemKind, detail: &str) {
        if self.visit.problem(path, kind, detail) == Flow::Stop {
            self.stopped = true;
        }
    }

    fn error(&mut self, path: &[Vec<u8>], e: &FsError) {
        let kind = match e {
            FsError::Io(_) => ProblemKind::Io,
            FsError::Corrupt(_) => ProblemKind::Corrupt,
            FsError::Unsupported(_) => ProblemKind::Unsupported,
        };
        self.problem(path, kind, &e.to_string());
    }
}

impl Udf {
    /// A directory's bytes, capped.
    fn dir_data(&self, w: &mut Walk<'_>, icb: &Icb) -> Result<Vec<u8>, FsError> {
        if icb.size > MAX_DIR {
            return Err(corrupt(format!("directory of {} bytes", icb.size)));
        }
        w.dir_bytes += icb.size;
        if w.dir_bytes > MAX_DIR_BYTES {
            return Err(corrupt("directory bytes limit reached for this volume"));
        }
        let mut data = vec![0u8; icb.size as usize];
        Extents::new(self.dev.clone(), icb.runs.clone()).read_exact(&mut data)?;
        Ok(data)
    }

    fn walk_dir(&self, w: &mut Walk<'_>, path: &mut Vec<Vec<u8>>, ad: LongAd, depth: u32) {
        if !w.visited.insert((ad.part, ad.block)) {
            w.problem(
                path,
                ProblemKind::Corrupt,
                "directory loop: ICB already walked",
            );
            return;
        }
        if depth > w.limits.max_depth {
            w.problem(path, ProblemKind::Limit, "directory depth limit reached");
            return;
        }
        let data = match self.icb(ad).and_then(|icb| {
            if icb.file_type != 4 {
                return Err(corrupt("a directory entry names a non-directory"));
            }
            self.dir_data(w, &icb)
        }) {
            Ok(d) => d,
            Err(e) => return w.error(path, &e),
        };
        let (fids, bad) = parse_fids(&data);
        drop(data);
        if let Some(why) = bad {
            w.problem(path, ProblemKind::Corrupt, &why);
        }
        for fid in fids {
            if w.stopped {
                return;
            }
            w.entries += 1;
            if w.entries > w.limits.max_entries {
                w.problem(path, ProblemKind::Limit, "entry limit reached");
                w.stopped = true;
                return;
            }
            path.push(fid.name);
            if fid.dir {
                self.walk_dir(w, path, fid.icb, depth + 1);
            } else {
                self.visit_file(w, path, fid.icb, fid.hidden);
            }
            path.pop();
        }
    }

    fn visit_file(&self, w: &mut Walk<'_>, path: &[Vec<u8>], ad: LongAd, hidden: bool) {
        let icb = match self.icb(ad) {
            Ok(icb) => icb,
            Err(e) => return w.error(path, &e),
        };
        // 5: a regular file; 0 (unspecified) is read as one too.
        if !matches!(icb.file_type, 0 | 5) {
            return;
        }
        w.read.insert(runs_key(&icb.runs));
        let mut data = Extents::new(self.dev.clone(), icb.runs);
        let entry = Entry {
            path,
            size: icb.size,
            attrs: Attributes {
                hidden,
                system: false,
            },
        };
        if w.visit.file(&entry, &mut data) == Flow::Stop {
            w.stopped = true;
        }
    }
}

impl FileSystem for Udf {
    fn label(&self) -> VolumeLabel {
        self.label.clone()
    }

    fn boot_len(&self) -> u64 {
        32768u64.min(self.dev.len())
    }

    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError> {
        let mut w = Walk {
            limits: *limits,
            visit,
            visited: HashSet::new(),
            entries: 0,
            dir_bytes: 0,
            stopped: false,
            read: HashSet::new(),
        };
        let mut path = Vec::new();
        self.walk_dir(&mut w, &mut path, self.root, 0);
        if !w.stopped && is_bridge(&*self.dev) {
            self.walk_iso_tree(&mut w);
        }
        Ok(())
    }
}

impl Udf {
    /// A bridge disc's ISO 9660 tree, after the UDF walk: its files whose
    /// data the UDF walk did not read, under [`ISO_PREFIX`].
    fn walk_iso_tree(&self, w: &mut Walk<'_>) {
        match crate::iso::open_tree(self.dev.clone()) {
            Ok(iso) => iso.walk_unseen(&w.limits, w.visit, ISO_PREFIX, &w.read, w.entries),
            Err(e) => {
                let why = format!("ISO 9660 tree of this bridge disc not read: {e}");
                w.problem(&[ISO_PREFIX.to_vec()], ProblemKind::Corrupt, &why);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cs0_names() {
        assert_eq!(cs0(b"\x08caf\xe9").unwrap(), "café".as_bytes());
        assert_eq!(cs0(&[16, 0x30, 0x42]).unwrap(), "あ".as_bytes());
        assert!(cs0(&[3, b'a']).is_none());
    }

    #[test]
    fn serial_as_blkid_forms_it() {
        let mut f = [0u8; 128];
        let s = b"\x086523bc95LinuxUDF";
        f[..s.len()].copy_from_slice(s);
        f[127] = s.len() as u8;
        assert_eq!(volset_serial(&f).as_deref(), Some("6523bc954c696e75"));
    }

    #[test]
    fn slices_cross_runs_and_fail_past_them() {
        let runs = [
            Run {
                at: Some(1000),
                len: 10,
            },
            Run {
                at: Some(5000),
                len: 10,
            },
        ];
        let s = slice_runs(&runs, 5, 10);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].at, s[0].len, s[1].at, s[1].len),
            (Some(1005), 5, Some(5000), 5)
        );
        let s = slice_runs(&runs, 15, 10);
        assert_eq!(s.last().map(|r| r.at), Some(Some(u64::MAX)));
    }
}
