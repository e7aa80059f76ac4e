//! ext2, ext3 and ext4, read in user space by kensa's own reader. This
//! module owns the superblock, group descriptors, inodes, both ways of
//! mapping a file's blocks (the ext2/3 direct/indirect block map and the
//! ext4 extent tree) and the linear reading of directories (an htree
//! directory's index blocks look like empty entries, so a linear pass sees
//! every name).
//!
//! Why not a crate: `ext4-view` (read-only, fuzzed, reads ext2/3/4) was
//! judged first, but its API is path-based and never exposes inode numbers,
//! so it cannot keep the visited-inode set this reader needs: a hard link
//! must be read once and a directory linked into its own subtree must be
//! reported, not walked until the depth limit (with several such links,
//! exponentially). This reader is small, reads only what it needs, and is
//! fuzzed (`crates/diskfs/fuzz`, target `ext`).
//!
//! Bounds against a hostile volume: every block number is checked against
//! the volume's block count before it is read; the extent tree is at most
//! five levels deep and the runs of one file are capped by the volume's
//! block count; indirect blocks read for one file are capped the same way;
//! a recorded size larger than the volume is a `Corrupt` problem (nothing is
//! allocated by it); a directory entry pointing at an ancestor is a reported
//! cycle; a directory reached twice is walked once. Not read (each a
//! reported `Unsupported` gap): meta_bg and other incompatible layouts,
//! encrypted and compressed inodes, inline data beyond the inode's 60 bytes,
//! and the journal: a volume whose journal needs recovery is read as its
//! home blocks stand, with a reported gap saying so.

use crate::bytes::{le16, le32};
use crate::{
    Attributes, Device, Entry, FileSystem, Flow, FsError, Limits, ProblemKind, Visitor, VolumeLabel,
};
use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::Arc;

const ROOT_INO: u32 = 2;
const INCOMPAT_COMPRESSION: u32 = 0x1;
const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_DIRDATA: u32 = 0x1000;
const FLAG_COMPR: u32 = 0x4;
const FLAG_ENCRYPT: u32 = 0x800;
const FLAG_EXTENTS: u32 = 0x8_0000;
const FLAG_INLINE: u32 = 0x1000_0000;
const S_IFMT: u16 = 0xF000;
const S_IFREG: u16 = 0x8000;
const S_IFDIR: u16 = 0x4000;
/// The deepest extent tree ext4 makes.
const MAX_EXTENT_DEPTH: u16 = 5;

fn corrupt(what: impl Into<String>) -> FsError {
    FsError::Corrupt(what.into())
}

/// What the superblock says, checked.
struct Super {
    block_size: u64,
    blocks: u64,
    first_data_block: u64,
    inodes: u32,
    inodes_per_group: u32,
    inode_size: u64,
    desc_size: u64,
    filetype: bool,
    /// The journal holds changes not yet written home (not replayed here).
    needs_recovery: bool,
    label: Option<String>,
    uuid: String,
}

impl Super {
    fn read(dev: &dyn Device) -> Result<Super, FsError> {
        let mut sb = [0u8; 1024];
        dev.read_at(1024, &mut sb)?;
        if le16(&sb, 0x38) != 0xEF53 {
            return Err(corrupt("no ext superblock magic"));
        }
        let log = le32(&sb, 0x18);
        if log > 6 {
            return Err(corrupt(format!("block size 1024 << {log}")));
        }
        let block_size = 1024u64 << log;
        let rev = le32(&sb, 0x4C);
        let incompat = if rev >= 1 { le32(&sb, 0x60) } else { 0 };
        let unsupported = incompat
            & (INCOMPAT_COMPRESSION | INCOMPAT_JOURNAL_DEV | INCOMPAT_META_BG | INCOMPAT_DIRDATA);
        if unsupported != 0 {
            return Err(FsError::Unsupported(format!(
                "ext incompatible features {unsupported:#x}"
            )));
        }
        let wide = incompat & INCOMPAT_64BIT != 0;
        let mut blocks = u64::from(le32(&sb, 0x04));
        if wide {
            blocks |= u64::from(le32(&sb, 0x150)) << 32;
        }
        let inode_size = if rev >= 1 {
            u64::from(le16(&sb, 0x58))
        } else {
            128
        };
        let desc_size = if wide { u64::from(le16(&sb, 0xFE)) } else { 32 };
        let inodes_per_group = le32(&sb, 0x28);
        if blocks.checked_mul(block_size).is_none()
            || inode_size < 128
            || !inode_size.is_power_of_two()
            || inode_size > block_size
            || inodes_per_group == 0
            || !(32..=1024).contains(&desc_size)
        {
            return Err(corrupt("inconsistent ext superblock geometry"));
        }
        Ok(Super {
            block_size,
            blocks,
            first_data_block: u64::from(le32(&sb, 0x14)),
            inodes: le32(&sb, 0x00),
            inodes_per_group,
            inode_size,
            desc_size,
            filetype: incompat & INCOMPAT_FILETYPE != 0,
            needs_recovery: incompat & INCOMPAT_RECOVER != 0,
            label: label_text(&sb[0x78..0x88]),
            uuid: uuid_text(&sb[0x68..0x78]),
        })
    }

    /// The volume's size in bytes as the superblock gives it.
    fn volume_bytes(&self) -> u64 {
        self.blocks.saturating_mul(self.block_size)
    }
}

/// The volume name: up to its first NUL (none when empty).
fn label_text(raw: &[u8]) -> Option<String> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    (end > 0).then(|| String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// A UUID as `blkid` prints it: 8-4-4-4-12 lower-case hex.
fn uuid_text(b: &[u8]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The parts of an inode this reader uses.
struct Inode {
    mode: u16,
    size: u64,
    flags: u32,
    block: [u8; 60],
}

impl Inode {
    fn kind(&self) -> u16 {
        self.mode & S_IFMT
    }
}

/// A range of a file's blocks: `len` blocks from logical block `logical`
/// at physical block `phys` (`None`: reads as zeros — an uninitialised
/// extent).
#[derive(Clone, Copy, Debug)]
struct Run {
    logical: u64,
    phys: Option<u64>,
    len: u64,
}

/// Collects a file's runs with the caps that keep a hostile map bounded.
struct RunSink {
    runs: Vec<Run>,
    /// Blocks of the file that hold data (beyond them nothing is kept).
    file_blocks: u64,
    /// Map blocks (indirect blocks, extent nodes) still allowed.
    budget: u64,
    max_runs: usize,
}

impl RunSink {
    fn push(&mut self, logical: u64, phys: Option<u64>, len: u64) -> Result<(), FsError> {
        if logical >= self.file_blocks || len == 0 {
            return Ok(());
        }
        let len = len.min(self.file_blocks - logical);
        if let (Some(last), Some(p)) = (self.runs.last_mut(), phys) {
            if let Some(lp) = last.phys {
                if last.logical + last.len == logical && lp + last.len == p {
                    last.len += len;
                    return Ok(());
                }
            }
        }
        if self.runs.len() >= self.max_runs {
            return Err(corrupt("more block runs than the volume has blocks"));
        }
        self.runs.push(Run { logical, phys, len });
        Ok(())
    }

    fn spend(&mut self) -> Result<(), FsError> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| corrupt("block map reads more blocks than the volume has"))?;
        Ok(())
    }
}

struct Ext {
    dev: Arc<dyn Device>,
    sb: Super,
}

/// Opens an ext2/3/4 volume on `dev`.
pub fn open(dev: Arc<dyn Device>) -> Result<Box<dyn FileSystem>, FsError> {
    let sb = Super::read(&*dev)?;
    let fs = Ext { dev, sb };
    // The root must be a directory, or there is nothing to walk.
    let root = fs.inode(ROOT_INO)?;
    if root.kind() != S_IFDIR {
        return Err(corrupt("the root inode is not a directory"));
    }
    Ok(Box::new(fs))
}

impl Ext {
    fn read_block(&self, block: u64, buf: &mut [u8]) -> Result<(), FsError> {
        if block >= self.sb.blocks {
            return Err(corrupt(format!(
                "block {block} is past the volume's {} blocks",
                self.sb.blocks
            )));
        }
        self.dev.read_at(block * self.sb.block_size, buf)?;
        Ok(())
    }

    fn inode(&self, ino: u32) -> Result<Inode, FsError> {
        if ino == 0 || ino > self.sb.inodes {
            return Err(corrupt(format!("inode number {ino} out of range")));
        }
        let group = u64::from((ino - 1) / self.sb.inodes_per_group);
        let index = u64::from((ino - 1) % self.sb.inodes_per_group);
        let gdt = (self.sb.first_data_block + 1) * self.sb.block_size;
        let mut desc = [0u8; 64];
        let dlen = self.sb.desc_size.min(64) as usize;
        self.dev
            .read_at(gdt + group * self.sb.desc_size, &mut desc[..dlen])?;
        let mut table = u64::from(le32(&desc, 0x08));
        if dlen >= 64 {
            table |= u64::from(le32(&desc, 0x28)) << 32;
        }
        let off = table
            .checked_mul(self.sb.block_size)
            .and_then(|t| t.checked_add(index * self.sb.inode_size))
            .filter(|&o| o < self.sb.volume_bytes())
            .ok_or_else(|| corrupt(format!("inode {ino}: its table is out of range")))?;
        let mut raw = [0u8; 160];
        let rlen = self.sb.inode_size.min(160) as usize;
        self.dev.read_at(off, &mut raw[..rlen])?;
        let mut block = [0u8; 60];
        block.copy_from_slice(&raw[0x28..0x64]);
        Ok(Inode {
            mode: le16(&raw, 0x00),
            size: u64::from(le32(&raw, 0x04)) | u64::from(le32(&raw, 0x6C)) << 32,
            flags: le32(&raw, 0x20),
            block,
        })
    }

    /// The runs of an inode's blocks, sorted, checked to lie inside the
    /// volume and not to overlap.
    fn runs(&self, inode: &Inode) -> Result<Vec<Run>, FsError> {
        let file_blocks = inode.size.div_ceil(self.sb.block_size);
        let mut sink = RunSink {
            runs: Vec::new(),
            file_blocks,
            // A real map needs at most about one map block per data block.
            budget: file_blocks.saturating_add(8).min(self.sb.blocks),
            max_runs: usize::try_from(self.sb.blocks.max(16)).unwrap_or(usize::MAX),
        };
        if inode.flags & FLAG_EXTENTS != 0 {
            self.extent_node(&inode.block, MAX_EXTENT_DEPTH, &mut sink)?;
        } else {
            self.block_map(inode, &mut sink)?;
        }
        let mut runs = sink.runs;
        runs.sort_by_key(|r| r.logical);
        for pair in runs.windows(2) {
            if pair[0].logical + pair[0].len > pair[1].logical {
                return Err(corrupt("overlapping extents"));
            }
        }
        for r in &runs {
            if let Some(p) = r.phys {
                if p.checked_add(r.len).is_none_or(|end| end > self.sb.blocks) {
                    return Err(corrupt(format!(
                        "extent at block {p} (+{}) passes the volume's end",
                        r.len
                    )));
                }
            }
        }
        Ok(runs)
    }

    fn extent_node(&self, node: &[u8], depth_left: u16, sink: &mut RunSink) -> Result<(), FsError> {
        if le16(node, 0) != 0xF30A {
            return Err(corrupt("bad extent header magic"));
        }
        let entries = usize::from(le16(node, 2));
        let depth = le16(node, 6);
        if depth >= depth_left || 12 + entries * 12 > node.len() {
            return Err(corrupt("extent tree too deep or too full"));
        }
        for i in 0..entries {
            let e = &node[12 + i * 12..24 + i * 12];
            let logical = u64::from(le32(e, 0));
            if depth == 0 {
                let raw_len = le16(e, 4);
                let (len, init) = if raw_len > 32768 {
                    (raw_len - 32768, false)
                } else {
                    (raw_len, true)
                };
                let phys = u64::from(le16(e, 6)) << 32 | u64::from(le32(e, 8));
                sink.push(logical, init.then_some(phys), u64::from(len))?;
            } else {
                if logical >= sink.file_blocks {
                    continue;
                }
                let child = u64::from(le32(e, 4)) | u64::from(le16(e, 8)) << 32;
                sink.spend()?;
                let mut buf = vec![0u8; self.sb.block_size as usize];
                self.read_block(child, &mut buf)?;
                self.extent_node(&buf, depth, sink)?;
            }
        }
        Ok(())
    }

    fn block_map(&self, inode: &Inode, sink: &mut RunSink) -> Result<(), FsError> {
        for i in 0..12 {
            let b = le32(&inode.block, i * 4);
            if b != 0 {
                sink.push(i as u64, Some(u64::from(b)), 1)?;
            }
        }
        let per = self.sb.block_size / 4;
        let mut start = 12u64;
        let mut span = per;
        for level in 0..3 {
            let b = le32(&inode.block, 48 + level * 4);
            if b != 0 && start < sink.file_blocks {
                self.indirect(u64::from(b), level, start, sink)?;
            }
            start = start.saturating_add(span);
            span = span.saturating_mul(per);
        }
        Ok(())
    }

    /// An indirect block at `level` (0: its pointers are data blocks)
    /// whose first pointer maps logical block `start`.
    fn indirect(
        &self,
        block: u64,
        level: usize,
        start: u64,
        sink: &mut RunSink,
    ) -> Result<(), FsError> {
        sink.spend()?;
        let mut buf = vec![0u8; self.sb.block_size as usize];
        self.read_block(block, &mut buf)?;
        let per = self.sb.block_size / 4;
        let child_span = per.saturating_pow(level as u32);
        for i in 0..per {
            let logical = start.saturating_add(i.saturating_mul(child_span));
            if logical >= sink.file_blocks {
                break;
            }
            let b = u64::from(le32(&buf, (i * 4) as usize));
            if b == 0 {
                continue;
            }
            if level == 0 {
                sink.push(logical, Some(b), 1)?;
            } else {
                self.indirect(b, level - 1, logical, sink)?;
            }
        }
        Ok(())
    }

    /// A reader over a regular file's bytes.
    fn data(&self, inode: &Inode) -> Result<Box<dyn Read>, FsError> {
        if inode.flags & (FLAG_ENCRYPT | FLAG_COMPR) != 0 {
            return Err(FsError::Unsupported("encrypted or compressed inode".into()));
        }
        if inode.size > self.sb.volume_bytes() {
            return Err(corrupt(format!(
                "recorded size {} exceeds the volume's {} bytes",
                inode.size,
                self.sb.volume_bytes()
            )));
        }
        if inode.flags & FLAG_INLINE != 0 {
            if inode.size > 60 {
                return Err(FsError::Unsupported(
                    "inline data beyond the inode (system.data)".into(),
                ));
            }
            let inline = inode.block[..inode.size as usize].to_vec();
            return Ok(Box::new(io::Cursor::new(inline)));
        }
        Ok(Box::new(FileData {
            dev: self.dev.clone(),
            block_size: self.sb.block_size,
            runs: self.runs(inode)?,
            size: inode.size,
            pos: 0,
            next: 0,
        }))
    }
}

/// A file's bytes through its runs; holes read as zeros.
struct FileData {
    dev: Arc<dyn Device>,
    block_size: u64,
    runs: Vec<Run>,
    size: u64,
    pos: u64,
    /// Index of the first run that may still hold `pos`.
    next: usize,
}

impl Read for FileData {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size.saturating_sub(self.pos);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(left).min(1 << 20);
        let block = self.pos / self.block_size;
        while self
            .runs
            .get(self.next)
            .is_some_and(|r| r.logical + r.len <= block)
        {
            self.next += 1;
        }
        let n = match self.runs.get(self.next) {
            Some(r) if r.logical <= block => {
                let run_end = (r.logical + r.len) * self.block_size;
                let n = want.min(run_end - self.pos) as usize;
                match r.phys {
                    Some(p) => {
                        let at = p * self.block_size + (self.pos - r.logical * self.block_size);
                        self.dev.read_at(at, &mut buf[..n])?;
                    }
                    None => buf[..n].fill(0),
                }
                n
            }
            other => {
                // A hole up to the next run (or the end).
                let hole_end = other.map_or(u64::MAX, |r| r.logical * self.block_size);
                let n = want.min(hole_end - self.pos) as usize;
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// One walk's state.
struct Walk<'a> {
    fs: &'a Ext,
    limits: &'a Limits,
    visit: &'a mut dyn Visitor,
    entries: u64,
    files_seen: HashSet<u32>,
    dirs_seen: HashSet<u32>,
    ancestors: Vec<u32>,
    path: Vec<Vec<u8>>,
    stopped: bool,
}

impl Walk<'_> {
    fn problem(&mut self, kind: ProblemKind, detail: &str) {
        if self.visit.problem(&self.path, kind, detail) == Flow::Stop {
            self.stopped = true;
        }
    }

    fn problem_of(&mut self, e: &FsError) {
        let (kind, detail) = match e {
            FsError::Io(io) => (ProblemKind::Io, io.to_string()),
            FsError::Corrupt(s) => (ProblemKind::Corrupt, s.clone()),
            FsError::Unsupported(s) => (ProblemKind::Unsupported, s.clone()),
        };
        self.problem(kind, &detail);
    }

    /// Walks directory `ino` (whose path is `self.path`).
    fn dir(&mut self, ino: u32) {
        let inode = match self.fs.inode(ino) {
            Ok(i) => i,
            Err(e) => return self.problem_of(&e),
        };
        if inode.flags & FLAG_INLINE != 0 {
            return self.problem(ProblemKind::Unsupported, "inline-data directory");
        }
        if inode.size > self.fs.sb.volume_bytes() {
            return self.problem(ProblemKind::Corrupt, "directory larger than the volume");
        }
        let runs = match self.fs.runs(&inode) {
            Ok(r) => r,
            Err(e) => return self.problem_of(&e),
        };
        self.ancestors.push(ino);
        let bs = self.fs.sb.block_size;
        let mut buf = vec![0u8; bs as usize];
        'runs: for run in runs {
            let Some(phys) = run.phys else { continue };
            for k in 0..run.len {
                if let Err(e) = self.fs.read_block(phys + k, &mut buf) {
                    self.problem_of(&e);
                    continue;
                }
                self.dir_block(&buf);
                if self.stopped {
                    break 'runs;
                }
            }
        }
        self.ancestors.pop();
    }

    /// The entries of one directory block.
    fn dir_block(&mut self, buf: &[u8]) {
        let mut off = 0usize;
        while off + 8 <= buf.len() && !self.stopped {
            let ino = le32(buf, off);
            let rec_len = usize::from(le16(buf, off + 4));
            let (name_len, ftype) = if self.fs.sb.filetype {
                (usize::from(buf[off + 6]), buf[off + 7])
            } else {
                (usize::from(le16(buf, off + 6)), 0)
            };
            if rec_len < 8 || off + rec_len > buf.len() || 8 + name_len > rec_len {
                self.problem(ProblemKind::Corrupt, "bad directory entry length");
                return;
            }
            let name = &buf[off + 8..off + 8 + name_len];
            off += rec_len;
            if ino == 0 || name == b"." || name == b".." || name.is_empty() {
                continue;
            }
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                self.problem(ProblemKind::Limit, "too many directory entries");
                self.stopped = true;
                return;
            }
            // Types 3..=7 (devices, FIFO, socket, symlink) are skipped
            // without reading their inode.
            if (3..=7).contains(&ftype) {
                continue;
            }
            self.path.push(name.to_vec());
            self.entry(ino);
            self.path.pop();
        }
    }

    fn entry(&mut self, ino: u32) {
        let inode = match self.fs.inode(ino) {
            Ok(i) => i,
            Err(e) => return self.problem_of(&e),
        };
        match inode.kind() {
            S_IFDIR => self.subdir(ino),
            // A hard link's second name is not read again.
            S_IFREG if self.files_seen.insert(ino) => self.file(&inode),
            _ => {}
        }
    }

    fn subdir(&mut self, ino: u32) {
        if self.ancestors.contains(&ino) {
            return self.problem(
                ProblemKind::Corrupt,
                &format!("directory cycle: inode {ino} is its own ancestor"),
            );
        }
        if !self.dirs_seen.insert(ino) {
            return self.problem(
                ProblemKind::Corrupt,
                &format!("directory inode {ino} is linked twice; walked once"),
            );
        }
        if self.path.len() > self.limits.max_depth as usize {
            return self.problem(ProblemKind::Limit, "directory nesting too deep");
        }
        self.dir(ino);
    }

    fn file(&mut self, inode: &Inode) {
        match self.fs.data(inode) {
            Ok(mut data) => {
                let entry = Entry {
                    path: &self.path,
                    size: inode.size,
                    attrs: Attributes::default(),
                };
                if self.visit.file(&entry, &mut *data) == Flow::Stop {
                    self.stopped = true;
                }
            }
            Err(e) => self.problem_of(&e),
        }
    }
}

impl FileSystem for Ext {
    fn label(&self) -> VolumeLabel {
        VolumeLabel {
            label: self.sb.label.clone(),
            serial: Some(self.sb.uuid.clone()),
        }
    }

    fn boot_len(&self) -> u64 {
        1024
    }

    fn walk(&mut self, limits: &Limits, visit: &mut dyn Visitor) -> Result<(), FsError> {
        let mut w = Walk {
            fs: self,
            limits,
            visit,
            entries: 0,
            files_seen: HashSet::new(),
            dirs_seen: HashSet::from([ROOT_INO]),
            ancestors: Vec::new(),
            path: Vec::new(),
            stopped: false,
        };
        if self.sb.needs_recovery {
            w.problem(
                ProblemKind::Unsupported,
                "the journal needs recovery; read without replaying it (recent changes may be missing)",
            );
        }
        w.dir(ROOT_INO);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_prints_as_blkid_does() {
        let b: Vec<u8> = (0u8..16).collect();
        assert_eq!(uuid_text(&b), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }

    #[test]
    fn garbage_is_refused_not_panicked() {
        let dev: Arc<dyn Device> = Arc::new(crate::MemDevice(vec![0u8; 4096].into()));
        assert!(open(dev).is_err());
    }
}
