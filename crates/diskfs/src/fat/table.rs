//! The file allocation table and the cluster chains it links, shared by the
//! FAT12/16/32 reader and the exFAT reader: [`Table`] is where the FAT and
//! the cluster heap lie on the device, [`Chain`] follows one chain cluster by
//! cluster (or walks a contiguous run, exFAT's `NoFatChain`) and reports a
//! loop (Brent's cycle detection: constant memory, found within a few
//! lengths of the loop), a free or bad cluster, or a cluster outside the
//! heap as [`ChainError::Corrupt`]; [`ChainReader`] hands a file's bytes
//! through `Read`, at most its size, zeros past exFAT's valid data length,
//! and an error (never garbage) where its chain breaks.

use crate::{Device, Entry, Flow, ProblemKind, Visitor};
use std::io::{self, Read};
use std::sync::Arc;

/// How wide a FAT entry is and what its end and bad marks are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    Fat12,
    Fat16,
    Fat32,
    Exfat,
}

/// A FAT on a device and the cluster heap it describes.
pub(crate) struct Table {
    pub dev: Arc<dyn Device>,
    pub width: Width,
    /// Byte offset of the (active) FAT on the device.
    pub fat_start: u64,
    /// Bytes of the FAT.
    pub fat_len: u64,
    /// Byte offset of cluster 2.
    pub heap_start: u64,
    /// Bytes per cluster.
    pub cluster_len: u64,
    /// The highest data cluster (the first is 2); below 2 when the volume
    /// has no data clusters.
    pub max_cluster: u32,
}

impl Table {
    /// Whether `c` names a data cluster.
    pub fn in_heap(&self, c: u32) -> bool {
        c >= 2 && c <= self.max_cluster
    }

    /// Byte offset of data cluster `c` (which must be in the heap).
    pub fn offset_of(&self, c: u32) -> u64 {
        self.heap_start + u64::from(c - 2) * self.cluster_len
    }

    /// How many entries the FAT's bytes hold.
    pub fn capacity(width: Width, fat_len: u64) -> u64 {
        match width {
            Width::Fat12 => fat_len * 2 / 3,
            Width::Fat16 => fat_len / 2,
            Width::Fat32 | Width::Exfat => fat_len / 4,
        }
    }
}

/// The highest data cluster whose first byte lies on a device of
/// `dev_len` bytes, for a heap at `heap_start` of `cluster_len`-byte
/// clusters: a volume that claims more clusters than its device holds is
/// cut to what is there (links past it are `Corrupt`), which also bounds
/// [`ClusterSet`] by the device.
pub(crate) fn device_max_cluster(dev_len: u64, heap_start: u64, cluster_len: u64) -> u64 {
    dev_len.saturating_sub(heap_start).div_ceil(cluster_len) + 1
}

/// A set of cluster numbers: a bitmap grown to the highest member (at
/// most the volume's cluster count, itself bounded by the device).
#[derive(Default)]
pub(crate) struct ClusterSet {
    words: Vec<u64>,
}

impl ClusterSet {
    /// Adds `c`; `false` when it was already there.
    pub fn insert(&mut self, c: u32) -> bool {
        let (w, bit) = ((c / 64) as usize, 1u64 << (c % 64));
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let fresh = self.words[w] & bit == 0;
        self.words[w] |= bit;
        fresh
    }
}

/// What a FAT entry says follows a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Next(u32),
    End,
    Bad,
    Free,
    Invalid(u32),
}

/// Bytes of the FAT read at once and kept (per chain).
const BLOCK: u64 = 4096;

/// A reading position in a FAT with a one-block cache.
struct Cursor {
    table: Arc<Table>,
    block_at: u64,
    block: Vec<u8>,
}

impl Cursor {
    fn new(table: Arc<Table>) -> Cursor {
        Cursor {
            table,
            block_at: u64::MAX,
            block: Vec::new(),
        }
    }

    /// The FAT byte at `off` (inside the FAT).
    fn byte(&mut self, off: u64) -> io::Result<u8> {
        let base = off - off % BLOCK;
        if base != self.block_at {
            let len = BLOCK.min(self.table.fat_len - base) as usize;
            self.block.resize(len, 0);
            self.table
                .dev
                .read_at(self.table.fat_start + base, &mut self.block)?;
            self.block_at = base;
        }
        Ok(self.block[(off - base) as usize])
    }

    /// The little-endian value of `n` FAT bytes at `off`, or `None` when
    /// they pass the FAT's end.
    fn value(&mut self, off: u64, n: u64) -> io::Result<Option<u32>> {
        if off + n > self.table.fat_len {
            return Ok(None);
        }
        let mut v = 0u32;
        for i in (0..n).rev() {
            v = (v << 8) | u32::from(self.byte(off + i)?);
        }
        Ok(Some(v))
    }

    fn link(&mut self, c: u32) -> io::Result<Link> {
        let c64 = u64::from(c);
        let t = Arc::clone(&self.table);
        let raw = match t.width {
            Width::Fat12 => {
                self.value(c64 + c64 / 2, 2)?
                    .map(|v| if c % 2 == 1 { v >> 4 } else { v & 0xFFF })
            }
            Width::Fat16 => self.value(c64 * 2, 2)?,
            Width::Fat32 => self.value(c64 * 4, 4)?.map(|v| v & 0x0FFF_FFFF),
            Width::Exfat => self.value(c64 * 4, 4)?,
        };
        let Some(raw) = raw else {
            return Ok(Link::Invalid(c));
        };
        let (bad, end) = match t.width {
            Width::Fat12 => (0xFF7, 0xFF8),
            Width::Fat16 => (0xFFF7, 0xFFF8),
            Width::Fat32 => (0x0FFF_FFF7, 0x0FFF_FFF8),
            Width::Exfat => (0xFFFF_FFF7, 0xFFFF_FFF8),
        };
        Ok(match raw {
            0 => Link::Free,
            r if r >= end => Link::End,
            r if r == bad => Link::Bad,
            r if t.in_heap(r) => Link::Next(r),
            r => Link::Invalid(r),
        })
    }
}

/// Why a chain could not be followed.
#[derive(Debug)]
pub(crate) enum ChainError {
    /// The chain itself is wrong (loop, free/bad/out-of-range cluster).
    Corrupt(String),
    /// The device failed to read.
    Io(io::Error),
}

impl ChainError {
    pub fn kind(&self) -> ProblemKind {
        match self {
            ChainError::Corrupt(_) => ProblemKind::Corrupt,
            // A read past the device's end means the volume claims more
            // than the device holds: a corrupt structure, not a failing disk.
            ChainError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => ProblemKind::Corrupt,
            ChainError::Io(_) => ProblemKind::Io,
        }
    }
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainError::Corrupt(s) => f.write_str(s),
            ChainError::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

impl From<io::Error> for ChainError {
    fn from(e: io::Error) -> Self {
        ChainError::Io(e)
    }
}

/// Brent's cycle detection over the clusters a chain visits.
struct Brent {
    tortoise: u32,
    power: u64,
    steps: u64,
}

impl Brent {
    fn new(first: u32) -> Brent {
        Brent {
            tortoise: first,
            power: 1,
            steps: 0,
        }
    }

    /// Whether `hare` closes a loop.
    fn step(&mut self, hare: u32) -> bool {
        if hare == self.tortoise {
            return true;
        }
        self.steps += 1;
        if self.steps == self.power {
            self.tortoise = hare;
            self.power = self.power.saturating_mul(2);
            self.steps = 0;
        }
        false
    }
}

/// One cluster chain, followed one cluster at a time.
pub(crate) struct Chain {
    cursor: Cursor,
    /// exFAT `NoFatChain`: clusters follow each other, the FAT is not read.
    contiguous: bool,
    first: u32,
    current: Option<u32>,
    brent: Brent,
    done: bool,
}

impl Chain {
    pub fn new(table: Arc<Table>, first: u32, contiguous: bool) -> Chain {
        Chain {
            cursor: Cursor::new(table),
            contiguous,
            first,
            current: None,
            brent: Brent::new(first),
            done: false,
        }
    }

    pub fn table(&self) -> &Table {
        &self.cursor.table
    }

    /// The next cluster of the chain, `None` after its end mark (a
    /// contiguous run has no end of its own: its owner counts).
    pub fn next_cluster(&mut self) -> Result<Option<u32>, ChainError> {
        if self.done {
            return Ok(None);
        }
        let Some(cur) = self.current else {
            if !self.cursor.table.in_heap(self.first) {
                return Err(ChainError::Corrupt(format!(
                    "first cluster {} is outside the cluster heap",
                    self.first
                )));
            }
            self.current = Some(self.first);
            return Ok(Some(self.first));
        };
        let link = if self.contiguous {
            match cur.checked_add(1) {
                Some(n) if self.cursor.table.in_heap(n) => Link::Next(n),
                _ => Link::Invalid(cur),
            }
        } else {
            self.cursor.link(cur)?
        };
        let next = match link {
            Link::Next(n) => n,
            Link::End => {
                self.done = true;
                return Ok(None);
            }
            Link::Bad => return Err(corrupt(cur, "is followed by a bad-cluster mark")),
            Link::Free => return Err(corrupt(cur, "is followed by a free cluster")),
            Link::Invalid(n) => {
                return Err(corrupt(
                    cur,
                    &format!("is followed by {n}, outside the cluster heap"),
                ))
            }
        };
        if !self.contiguous && self.brent.step(next) {
            return Err(corrupt(next, "is visited twice: the chain loops"));
        }
        self.current = Some(next);
        Ok(Some(next))
    }
}

fn corrupt(cluster: u32, what: &str) -> ChainError {
    ChainError::Corrupt(format!("cluster chain: cluster {cluster} {what}"))
}

/// Hands a file's bytes to the visitor, then reports a chain that broke
/// while it was read (a `file data:` problem at the file's path).
pub(crate) fn visit_chain(
    visit: &mut dyn Visitor,
    entry: &Entry<'_>,
    mut data: ChainReader,
) -> Flow {
    let flow = visit.file(entry, &mut data);
    if let Some(f) = data.failure.take() {
        let detail = format!("file data: {f}");
        if visit.problem(entry.path, f.kind(), &detail) == Flow::Stop {
            return Flow::Stop;
        }
    }
    flow
}

/// Reads of contiguous clusters are merged up to this many bytes.
const RUN_CAP: u64 = 1 << 20;

/// A file's bytes: `data_left` bytes from its chain, then `zero_left`
/// zeros (exFAT bytes past the valid data length).
pub(crate) struct ChainReader {
    chain: Chain,
    data_left: u64,
    zero_left: u64,
    run_pos: u64,
    run_left: u64,
    /// A cluster taken from the chain and not yet read.
    pending: Option<u32>,
    /// Where the chain broke; every later read fails with it.
    pub failure: Option<ChainError>,
}

impl ChainReader {
    pub fn new(chain: Chain, data_len: u64, zero_len: u64) -> ChainReader {
        ChainReader {
            chain,
            data_left: data_len,
            zero_left: zero_len,
            run_pos: 0,
            run_left: 0,
            pending: None,
            failure: None,
        }
    }

    fn take_cluster(&mut self) -> Result<u32, ChainError> {
        if let Some(c) = self.pending.take() {
            return Ok(c);
        }
        self.chain.next_cluster()?.ok_or_else(|| {
            ChainError::Corrupt("cluster chain ends before the file's size is reached".into())
        })
    }

    /// Finds the next run of contiguous clusters (bounded by what is left
    /// and [`RUN_CAP`]). An error after the run started is kept for later.
    fn load_run(&mut self) -> Result<(), ChainError> {
        let cl = self.chain.table().cluster_len;
        let first = self.take_cluster()?;
        let mut last = first;
        let mut len = cl;
        let want = self.data_left.min(RUN_CAP);
        while len < want {
            match self.chain.next_cluster() {
                Ok(Some(c)) if Some(c) == last.checked_add(1) => {
                    last = c;
                    len += cl;
                }
                Ok(Some(c)) => {
                    self.pending = Some(c);
                    break;
                }
                Ok(None) => {
                    self.failure = Some(ChainError::Corrupt(
                        "cluster chain ends before the file's size is reached".into(),
                    ));
                    break;
                }
                Err(e) => {
                    self.failure = Some(e);
                    break;
                }
            }
        }
        self.run_pos = self.chain.table().offset_of(first);
        self.run_left = len.min(self.data_left);
        Ok(())
    }

    fn fail(&self) -> io::Error {
        let text = self
            .failure
            .as_ref()
            .map(|f| f.to_string())
            .unwrap_or_default();
        io::Error::new(io::ErrorKind::InvalidData, text)
    }
}

impl Read for ChainReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.data_left == 0 {
            let n = (buf.len() as u64).min(self.zero_left) as usize;
            buf[..n].fill(0);
            self.zero_left -= n as u64;
            return Ok(n);
        }
        if self.run_left == 0 {
            if self.failure.is_some() {
                return Err(self.fail());
            }
            if let Err(e) = self.load_run() {
                self.failure = Some(e);
                return Err(self.fail());
            }
        }
        let n = (buf.len() as u64).min(self.run_left) as usize;
        if let Err(e) = self.chain.table().dev.read_at(self.run_pos, &mut buf[..n]) {
            self.failure = Some(ChainError::Io(e));
            self.data_left = 0;
            self.zero_left = 0;
            self.run_left = 0;
            return Err(self.fail());
        }
        self.run_pos += n as u64;
        self.run_left -= n as u64;
        self.data_left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemDevice;

    /// A FAT16 table of 16 clusters in memory; `links[c]` is entry c.
    fn table(links: &[u16]) -> Arc<Table> {
        let mut bytes = Vec::new();
        for l in links {
            bytes.extend_from_slice(&l.to_le_bytes());
        }
        let fat_len = bytes.len() as u64;
        for c in 0..16u8 {
            bytes.extend(std::iter::repeat_n(c, 4));
        }
        Arc::new(Table {
            dev: Arc::new(MemDevice(bytes.into())),
            width: Width::Fat16,
            fat_start: 0,
            fat_len,
            heap_start: fat_len + 8,
            cluster_len: 4,
            max_cluster: 15,
        })
    }

    fn read_all(t: Arc<Table>, first: u32, len: u64) -> (Vec<u8>, Option<String>) {
        let mut r = ChainReader::new(Chain::new(t, first, false), len, 0);
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out);
        (out, res.err().map(|e| e.to_string()))
    }

    #[test]
    fn cluster_set_remembers() {
        let mut s = ClusterSet::default();
        assert!(s.insert(70_000));
        assert!(s.insert(2));
        assert!(!s.insert(70_000));
        assert!(!s.insert(2));
        assert!(s.insert(3));
    }

    #[test]
    fn follows_a_fragmented_chain() {
        let mut links = vec![0u16; 16];
        links[2] = 3;
        links[3] = 7;
        links[7] = 0xFFFF;
        let (data, err) = read_all(table(&links), 2, 10);
        assert_eq!(err, None);
        assert_eq!(data, vec![2, 2, 2, 2, 3, 3, 3, 3, 7, 7]);
    }

    #[test]
    fn a_loop_is_an_error_not_a_hang() {
        let mut links = vec![0u16; 16];
        links[2] = 3;
        links[3] = 4;
        links[4] = 2;
        let (_, err) = read_all(table(&links), 2, u64::from(u32::MAX));
        assert!(err.unwrap().contains("loops"));
    }

    #[test]
    fn free_and_out_of_range_links_are_errors() {
        let mut links = vec![0u16; 16];
        links[2] = 3;
        let (data, err) = read_all(table(&links), 2, 12);
        assert_eq!(data.len(), 8);
        assert!(err.unwrap().contains("free"));
        links[3] = 40;
        let (_, err) = read_all(table(&links), 2, 12);
        assert!(err.unwrap().contains("outside"));
        let (_, err) = read_all(table(&links), 99, 1);
        assert!(err.unwrap().contains("outside"));
    }

    #[test]
    fn a_short_chain_is_an_error() {
        let mut links = vec![0u16; 16];
        links[2] = 0xFFFF;
        let (_, err) = read_all(table(&links), 2, 5);
        assert!(err.unwrap().contains("ends before"));
    }

    #[test]
    fn zeros_follow_the_valid_data() {
        let mut links = vec![0u16; 16];
        links[5] = 0xFFFF;
        let mut r = ChainReader::new(Chain::new(table(&links), 5, false), 3, 4);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, vec![5, 5, 5, 0, 0, 0, 0]);
    }
}
