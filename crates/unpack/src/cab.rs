//! Microsoft cabinet files (`MSCF`): the header, folder and file tables are
//! parsed here (every field bounds-checked; names kept as the raw bytes
//! stored), and each folder is decoded once, front to back, as a stream of
//! its data blocks from which the files are cut in offset order. Members
//! are named by their stored name. Methods: stored, MSZIP (each block a
//! raw deflate stream whose history carries over, decoded with `flate2`
//! and a preset dictionary) and LZX through the `lzxd` crate (the decoder
//! the `cab` crate itself uses; small, used by Rust Windows tooling, no
//! open panic reports, but it holds `assert!`s, so each block is decoded
//! under `catch_unwind` and a caught panic is a corrupt folder). The `cab`
//! crate's own reader is not used: it re-decodes a folder from its start
//! for every file (quadratic on cabinets of many files), turns names into
//! lossy text, and refuses the whole cabinet when one folder is of a kind
//! it cannot read. Quantum folders (no Rust decoder exists) and files that
//! continue into another cabinet of a set are `Unsupported` gaps. Declared
//! sizes are never used to allocate: a member ends where its folder's data
//! ends, whatever its size field says.

use std::cell::Cell;
use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

const SIG: &[u8; 4] = b"MSCF";
/// Fixed part of the cabinet header.
const HEADER_LEN: usize = 36;
const FLAG_PREV: u16 = 1;
const FLAG_NEXT: u16 = 2;
const FLAG_RESERVE: u16 = 4;
/// Largest uncompressed size of one data block.
const BLOCK_MAX: usize = 32 * 1024;
/// Times a folder is decoded again for files that overlap earlier ones
/// (each restart allocates a new LZX window).
const MAX_RESTARTS: u32 = 64;
/// MSZIP's history: one deflate window.
const MSZIP_WINDOW: usize = 32 * 1024;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A cabinet header at the start of `d`: signature, zero reserved fields,
/// version 1.x, at least one folder and one file, known flags, and a file
/// table inside the declared cabinet size.
pub(crate) fn is_cab_start(d: &[u8]) -> bool {
    let ok = || -> Option<bool> {
        let size = u32_at(d, 8)?;
        let files_at = u32_at(d, 16)?;
        Some(
            d.starts_with(SIG)
                && u32_at(d, 4)? == 0
                && u32_at(d, 12)? == 0
                && u32_at(d, 20)? == 0
                && *d.get(25)? == 1
                && u16_at(d, 26)? > 0
                && u16_at(d, 28)? > 0
                && u16_at(d, 30)? & !7 == 0
                && files_at >= HEADER_LEN as u32
                && files_at < size,
        )
    };
    ok().unwrap_or(false)
}

/// Recognise a cabinet at the start of `data`.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    is_cab_start(data).then_some(Found {
        kind: ContainerKind::Cab,
        offset: 0,
    })
}

/// Compression of a folder (the low 4 bits of `typeCompress`; LZX keeps
/// its window bits above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Stored,
    MsZip,
    Quantum,
    Lzx(u8),
    Unknown(u16),
}

impl Method {
    fn from_bits(bits: u16) -> Method {
        match bits & 0xf {
            0 => Method::Stored,
            1 => Method::MsZip,
            2 => Method::Quantum,
            3 => Method::Lzx(((bits >> 8) & 0x1f) as u8),
            _ => Method::Unknown(bits),
        }
    }
}

struct Folder {
    first_block: usize,
    blocks: u16,
    method: Method,
}

struct CabFile {
    name: Vec<u8>,
    size: u64,
    offset: u64,
    folder: u16,
}

/// The parsed tables of a cabinet.
struct Cab {
    folders: Vec<Folder>,
    files: Vec<CabFile>,
    data_reserve: usize,
}

/// Read a NUL-terminated string of at most 256 bytes at `*at`.
fn cstr(d: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    let rest = d.get(*at..)?;
    let n = rest.iter().take(257).position(|&b| b == 0)?;
    *at += n + 1;
    Some(rest[..n].to_vec())
}

/// Parse the header, folder table and file table; a message naming what
/// is wrong otherwise.
fn parse(d: &[u8]) -> Result<Cab, &'static str> {
    const SHORT: &str = "header truncated";
    let flags = u16_at(d, 30).ok_or(SHORT)?;
    let (n_folders, n_files) = (u16_at(d, 26).ok_or(SHORT)?, u16_at(d, 28).ok_or(SHORT)?);
    let mut at = HEADER_LEN;
    let (mut folder_reserve, mut data_reserve) = (0usize, 0usize);
    if flags & FLAG_RESERVE != 0 {
        let header_reserve = usize::from(u16_at(d, at).ok_or(SHORT)?);
        folder_reserve = usize::from(*d.get(at + 2).ok_or(SHORT)?);
        data_reserve = usize::from(*d.get(at + 3).ok_or(SHORT)?);
        at += 4 + header_reserve;
    }
    for flag in [FLAG_PREV, FLAG_NEXT] {
        if flags & flag != 0 {
            cstr(d, &mut at).ok_or(SHORT)?;
            cstr(d, &mut at).ok_or(SHORT)?;
        }
    }
    let mut folders = Vec::with_capacity(usize::from(n_folders));
    for _ in 0..n_folders {
        let first = u32_at(d, at).ok_or("folder table truncated")?;
        folders.push(Folder {
            first_block: usize::try_from(first).map_err(|_| "folder offset")?,
            blocks: u16_at(d, at + 4).ok_or("folder table truncated")?,
            method: Method::from_bits(u16_at(d, at + 6).ok_or("folder table truncated")?),
        });
        at += 8 + folder_reserve;
    }
    let mut at = usize::try_from(u32_at(d, 16).ok_or(SHORT)?).map_err(|_| SHORT)?;
    let mut files = Vec::with_capacity(usize::from(n_files));
    for _ in 0..n_files {
        const FT: &str = "file table truncated";
        let size = u32_at(d, at).ok_or(FT)?;
        let offset = u32_at(d, at + 4).ok_or(FT)?;
        let folder = u16_at(d, at + 8).ok_or(FT)?;
        at += 16;
        let name = cstr(d, &mut at).ok_or(FT)?;
        files.push(CabFile {
            name,
            size: size.into(),
            offset: offset.into(),
            folder,
        });
    }
    Ok(Cab {
        folders,
        files,
        data_reserve,
    })
}

/// The decoder of one folder.
enum Codec {
    Stored,
    MsZip {
        inflate: flate2::Decompress,
        history: Vec<u8>,
    },
    Lzx(Box<lzxd::Lzxd>),
}

impl Codec {
    fn new(method: Method) -> Option<Codec> {
        use lzxd::WindowSize as W;
        Some(match method {
            Method::Stored => Codec::Stored,
            Method::MsZip => Codec::MsZip {
                inflate: flate2::Decompress::new(false),
                history: Vec::new(),
            },
            Method::Lzx(bits) => {
                let window = match bits {
                    15 => W::KB32,
                    16 => W::KB64,
                    17 => W::KB128,
                    18 => W::KB256,
                    19 => W::KB512,
                    20 => W::MB1,
                    21 => W::MB2,
                    _ => return None,
                };
                Codec::Lzx(Box::new(lzxd::Lzxd::new(window)))
            }
            Method::Quantum | Method::Unknown(_) => return None,
        })
    }

    /// Decode one data block of `input` into exactly `size` bytes.
    fn block(&mut self, input: &[u8], size: usize) -> Result<Vec<u8>, String> {
        match self {
            Codec::Stored => {
                if input.len() != size {
                    return Err(format!("stored block of {} bytes says {size}", input.len()));
                }
                Ok(input.to_vec())
            }
            Codec::MsZip { inflate, history } => mszip_block(inflate, history, input, Some(size)),
            Codec::Lzx(lzx) => {
                let r = catch_unwind(AssertUnwindSafe(|| {
                    lzx.decompress_next(input, size).map(<[u8]>::to_vec)
                }));
                match r {
                    Ok(Ok(out)) => Ok(out),
                    Ok(Err(e)) => Err(format!("lzx: {e}")),
                    Err(_) => Err("lzx decoder failed on this block".into()),
                }
            }
        }
    }
}

/// One MSZIP block: `CK`, then a deflate stream that may refer to the
/// previous block's last 32 KiB. `size` is the block's uncompressed size
/// when the container says it (CAB); without it (KWAJ) the block must end
/// its deflate stream within 32 KiB.
pub(crate) fn mszip_block(
    inflate: &mut flate2::Decompress,
    history: &mut Vec<u8>,
    input: &[u8],
    size: Option<usize>,
) -> Result<Vec<u8>, String> {
    let body = input
        .strip_prefix(b"CK")
        .ok_or("mszip block without its CK signature")?;
    inflate.reset(false);
    if !history.is_empty() {
        inflate
            .set_dictionary(history)
            .map_err(|e| format!("mszip: {e}"))?;
    }
    let mut out = Vec::with_capacity(size.unwrap_or(MSZIP_WINDOW));
    let status = inflate
        .decompress_vec(body, &mut out, flate2::FlushDecompress::Finish)
        .map_err(|e| format!("mszip: {e}"))?;
    match size {
        Some(size) if out.len() != size => {
            return Err(format!("mszip block gave {} bytes, says {size}", out.len()))
        }
        None if status != flate2::Status::StreamEnd => {
            return Err("mszip block does not end within 32 KiB".into())
        }
        _ => {}
    }
    history.extend_from_slice(&out);
    let excess = history.len().saturating_sub(MSZIP_WINDOW);
    history.drain(..excess);
    Ok(out)
}

/// The uncompressed bytes of one folder, block after block.
struct FolderStream<'d> {
    data: &'d [u8],
    next: usize,
    blocks_left: u16,
    reserve: usize,
    codec: Codec,
    buf: Vec<u8>,
    at: usize,
    /// Uncompressed bytes handed out so far.
    pos: u64,
    consumed: &'d Cell<u64>,
    failed: Option<String>,
}

impl<'d> FolderStream<'d> {
    /// The stream of `folder`, or `None` for a method kensa cannot decode.
    fn new(
        data: &'d [u8],
        folder: &Folder,
        reserve: usize,
        consumed: &'d Cell<u64>,
    ) -> Option<Self> {
        Codec::new(folder.method).map(|codec| FolderStream {
            data,
            next: folder.first_block,
            blocks_left: folder.blocks,
            reserve,
            codec,
            buf: Vec::new(),
            at: 0,
            pos: 0,
            consumed,
            failed: None,
        })
    }

    fn load(&mut self) -> Result<(), String> {
        let d = self.data;
        let at = self.next;
        let short = || "data block truncated".to_string();
        let packed = usize::from(u16_at(d, at + 4).ok_or_else(short)?);
        let size = usize::from(u16_at(d, at + 6).ok_or_else(short)?);
        if size > BLOCK_MAX {
            return Err(format!("data block of {size} bytes (at most {BLOCK_MAX})"));
        }
        let start = at + 8 + self.reserve;
        let input = d.get(start..start + packed).ok_or_else(short)?;
        self.buf = self.codec.block(input, size)?;
        self.at = 0;
        self.next = start + packed;
        self.blocks_left -= 1;
        self.consumed
            .set(self.consumed.get().saturating_add(8 + packed as u64));
        Ok(())
    }
}

impl Read for FolderStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.buf.len() {
            if let Some(e) = &self.failed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e.clone()));
            }
            if self.blocks_left == 0 {
                return Ok(0);
            }
            if let Err(e) = self.load() {
                self.failed = Some(e);
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Walker<'_, '_> {
    pub(crate) fn cab(&mut self, data: &[u8], depth: u32) {
        let cab = match parse(data) {
            Ok(c) => c,
            Err(e) => return self.skip(Gap::Corrupt, format!("cab: {e}")),
        };
        let mut skipped_budget = self.limits.max_total_bytes;
        for (index, folder) in cab.folders.iter().enumerate() {
            let mut files: Vec<&CabFile> = cab
                .files
                .iter()
                .filter(|f| usize::from(f.folder) == index)
                .collect();
            files.sort_by_key(|f| f.offset);
            self.cab_folder(data, &cab, folder, &files, &mut skipped_budget, depth);
            if self.stopped {
                return;
            }
        }
        self.cab_orphans(&cab);
    }

    /// Files that belong to no folder of this cabinet: spanned from or to
    /// another cabinet of a set, or naming a folder that does not exist.
    fn cab_orphans(&mut self, cab: &Cab) {
        for f in cab
            .files
            .iter()
            .filter(|f| usize::from(f.folder) >= cab.folders.len())
        {
            if !self.admit() {
                return;
            }
            let (gap, why) = match f.folder {
                0xfffd..=0xffff => (
                    Gap::Unsupported,
                    "cab: file continues from or into another cabinet of a set; \
                     kensa reads one cabinet at a time, file not scanned",
                ),
                _ => (Gap::Corrupt, "cab: file names a folder that does not exist"),
            };
            self.named(f.name.clone(), |w| w.skip(gap, why.into()));
        }
    }

    fn cab_folder(
        &mut self,
        data: &[u8],
        cab: &Cab,
        folder: &Folder,
        files: &[&CabFile],
        budget: &mut u64,
        depth: u32,
    ) {
        let consumed = Cell::new(0u64);
        let new_stream = || FolderStream::new(data, folder, cab.data_reserve, &consumed);
        let Some(mut stream) = new_stream() else {
            return self.cab_unsupported(folder.method, files);
        };
        let mut restarts = 0u32;
        for f in files {
            if !self.admit() {
                return;
            }
            if f.offset < stream.pos {
                // Files that overlap: decode the folder again from its
                // start, a bounded number of times.
                restarts += 1;
                if restarts > MAX_RESTARTS {
                    return self.skip(
                        Gap::Limit,
                        format!("cab: more than {MAX_RESTARTS} overlapping files in a folder"),
                    );
                }
                let Some(s) = new_stream() else { return };
                stream = s;
            }
            let mut reached = true;
            self.named(f.name.clone(), |w| {
                reached = w.cab_seek(&mut stream, f.offset, budget);
                if reached {
                    w.cab_member(&mut stream, f.size, &consumed, depth);
                }
            });
            if !reached || self.stopped {
                return;
            }
        }
    }

    /// Discard folder bytes up to `offset` (charged to `budget`, so files
    /// that overlap or leave gaps cannot make a cabinet decode forever).
    fn cab_seek(&mut self, s: &mut FolderStream<'_>, offset: u64, budget: &mut u64) -> bool {
        let mut sink = [0u8; 16 * 1024];
        while s.pos < offset {
            if self.out_of_time() {
                self.stop("max_time reached while decoding a cab folder".into());
                return false;
            }
            let want = usize::try_from(offset - s.pos)
                .unwrap_or(usize::MAX)
                .min(sink.len());
            let n = match s.read(&mut sink[..want]) {
                Ok(0) => {
                    self.skip(
                        Gap::Corrupt,
                        format!("cab: folder ends before offset {offset}"),
                    );
                    return false;
                }
                Ok(n) => n,
                Err(e) => {
                    self.skip(Gap::Corrupt, format!("cab: {e}"));
                    return false;
                }
            };
            *budget = budget.saturating_sub(n as u64);
            if *budget == 0 {
                self.skip(
                    Gap::Limit,
                    "cab: bytes decoded only to reach members exceed max_total_bytes".into(),
                );
                return false;
            }
        }
        true
    }

    fn cab_member(
        &mut self,
        s: &mut FolderStream<'_>,
        size: u64,
        consumed: &Cell<u64>,
        depth: u32,
    ) {
        let (out, end) = self.read_member(&mut s.take(size), &|| consumed.get());
        let end = match end {
            crate::walker::End::Complete if (out.len() as u64) < size => {
                crate::walker::End::Error(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "folder data ends {} bytes into a {size}-byte file",
                        out.len()
                    ),
                ))
            }
            e => e,
        };
        self.finish(out, end, depth, "cab member");
    }

    /// Every file of a folder whose method kensa cannot decode.
    fn cab_unsupported(&mut self, method: Method, files: &[&CabFile]) {
        let why = match method {
            Method::Quantum => "cab: Quantum-compressed folder; kensa has no Quantum decoder, \
                                file not scanned"
                .to_string(),
            Method::Lzx(bits) => format!("cab: LZX window of 2^{bits} bytes is not valid"),
            m => format!("cab: unknown compression {m:?}, file not scanned"),
        };
        let gap = match method {
            Method::Lzx(_) => Gap::Corrupt,
            _ => Gap::Unsupported,
        };
        for f in files {
            if !self.admit() {
                return;
            }
            self.named(f.name.clone(), |w| w.skip(gap, why.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-folder stored cabinet of `files`.
    fn stored_cab(files: &[(&str, &[u8])]) -> Vec<u8> {
        let payload: Vec<u8> = files.iter().flat_map(|(_, d)| d.to_vec()).collect();
        let mut table = Vec::new();
        let mut off = 0u32;
        for (name, d) in files {
            table.extend_from_slice(&(d.len() as u32).to_le_bytes());
            table.extend_from_slice(&off.to_le_bytes());
            table.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x20, 0]);
            table.extend_from_slice(name.as_bytes());
            table.push(0);
            off += d.len() as u32;
        }
        let files_at = HEADER_LEN + 8;
        let data_at = files_at + table.len();
        let total = data_at + 8 + payload.len();
        let mut c = Vec::new();
        c.extend_from_slice(b"MSCF\0\0\0\0");
        c.extend_from_slice(&(total as u32).to_le_bytes());
        c.extend_from_slice(&[0; 4]);
        c.extend_from_slice(&(files_at as u32).to_le_bytes());
        c.extend_from_slice(&[0, 0, 0, 0, 3, 1, 1, 0]);
        c.extend_from_slice(&(files.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0; 6]);
        c.extend_from_slice(&(data_at as u32).to_le_bytes());
        c.extend_from_slice(&[1, 0, 0, 0]);
        c.extend_from_slice(&table);
        c.extend_from_slice(&[0; 4]);
        c.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        c.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        c.extend_from_slice(&payload);
        c
    }

    #[test]
    fn sniff_is_strict() {
        let c = stored_cab(&[("a.txt", b"hello")]);
        assert!(is_cab_start(&c));
        assert!(sniff(b"MSCF").is_none());
        let mut bad = c.clone();
        bad[4] = 1;
        assert!(!is_cab_start(&bad));
    }

    #[test]
    fn files_come_out_in_order_with_raw_names() {
        let c = stored_cab(&[("a.txt", b"hello"), ("b\u{e9}.bin", b"world!")]);
        let cab = parse(&c).unwrap();
        assert_eq!(cab.files.len(), 2);
        assert_eq!(cab.files[1].name, "b\u{e9}.bin".as_bytes());
        let mut got = Vec::new();
        crate::walk(&c, &crate::ArchiveLimits::default(), &mut |e| {
            if let crate::MemberEvent::Member { chain, data, .. } = e {
                got.push((chain.to_vec(), data.to_vec()));
            }
        });
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, b"hello");
        assert_eq!(got[1].1, b"world!");
    }

    #[test]
    fn a_lying_size_ends_with_the_folder() {
        let mut c = stored_cab(&[("a.txt", b"hello")]);
        let files_at = HEADER_LEN + 8;
        c[files_at..files_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut corrupt = 0;
        crate::walk(&c, &crate::ArchiveLimits::default(), &mut |e| {
            if let crate::MemberEvent::Skip { reason, .. } = e {
                assert_eq!(reason, Gap::Corrupt);
                corrupt += 1;
            }
        });
        assert_eq!(corrupt, 1);
    }
}
