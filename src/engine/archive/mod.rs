//! Recursion into containers (zip and the OOXML/ODF documents built on it,
//! tar, gzip, bzip2, xz, 7z) with fail-closed limits. [`detect`] recognises a
//! container by its magic bytes, or where it does not start the file by its
//! end structures (module `locate`: zips behind stubs, 7z and RAR in PE
//! overlays, V7 tar); [`walk`] decompresses every member in memory and hands
//! it to a visitor so the engine can hash and scan it like a file. A RAR
//! (no reader here) is reported as an `unsupported_container` gap, never
//! passed as clean.
//!
//! Every limit is enforced on bytes actually produced, never on sizes the
//! archive declares; a limit that is hit becomes an [`MemberEvent::Skip`]
//! (and, for ratio and depth bombs, a [`MemberEvent::Suspicious`]) so a
//! bomb can never look clean. Member names are data: they are carried in the
//! chain as stored (made text by `pathfmt::bytes_to_string`) and never used
//! as paths; nothing is written to disk.
//!
//! Compression layers (gzip, bzip2, xz) add no element to the chain: the
//! decompressed stream of `a.tar.gz` is reported under the chain of the
//! `.gz` itself, and the tar members below it as `a.tar.gz → member`.

use std::cell::Cell;
use std::io::{self, Cursor, Read};
use std::time::{Duration, Instant};

use super::pathfmt::bytes_to_string;
use locate::{locate, Found};

mod locate;
pub use crate::findings::SkipReason;

pub const MIB: u64 = 1024 * 1024;
/// Bytes read from a decoder per step; limits and the clock are checked
/// after every step.
const CHUNK: usize = 64 * 1024;
/// Dictionary/model memory a single xz block or 7z coder may ask for.
const DECODER_MEM_LIMIT_KIB: u32 = 128 * 1024;

/// A 7z archive read from memory.
type SevenZReader<'d> = sevenz_rust2::ArchiveReader<Cursor<&'d [u8]>>;

/// Limits applied per top-level file (the whole tree below it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Containers nested deeper than this are not opened (ClamAV `MaxRecursion`).
    pub max_depth: u32,
    /// Members (files, directories, nested containers) visited in all.
    pub max_members: u64,
    /// Bytes produced by decompression across all levels.
    pub max_total_bytes: u64,
    /// Bytes one member may produce; larger members are skipped.
    pub max_member_size: u64,
    /// Largest acceptable ratio of produced to compressed bytes, checked for
    /// each member and for the whole top-level file.
    pub max_ratio: u64,
    /// The ratio is only judged once this many bytes have been produced, so
    /// small highly compressible files are not called bombs.
    pub ratio_min_bytes: u64,
    /// Wall-clock time spent decompressing one top-level file.
    pub max_time: Duration,
}

impl Default for ArchiveLimits {
    /// ClamAV-spirit defaults. Depth 16 (ClamAV `MaxRecursion` 17 counts the
    /// file itself). Members 10 000 (`MaxFiles`). Member 100 MiB
    /// (`MaxFileSize`). Total 256 MiB, below ClamAV's 400 MiB `MaxScanSize`
    /// because kensa holds the chain of members in memory for YARA and must
    /// stay small on maintenance PCs: the sum of buffers alive at once is
    /// bounded by this figure. Ratio 500 once 16 MiB have been produced:
    /// deflate tops out near 1030:1 on zeros, ordinary documents and
    /// executables compress 2–20:1, so only near-empty payloads of more than
    /// 16 MiB trip it. Time 120 s (`MaxScanTime`).
    fn default() -> Self {
        ArchiveLimits {
            max_depth: 16,
            max_members: 10_000,
            max_total_bytes: 256 * MIB,
            max_member_size: 100 * MIB,
            max_ratio: 500,
            ratio_min_bytes: 16 * MIB,
            max_time: Duration::from_secs(120),
        }
    }
}

/// Container formats kensa recognises; it opens all of them but RAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Zip,
    Tar,
    Gzip,
    Bzip2,
    Xz,
    SevenZ,
    /// Recognised but not readable by kensa: always a gap.
    Rar,
}

impl ContainerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerKind::Zip => "zip",
            ContainerKind::Tar => "tar",
            ContainerKind::Gzip => "gzip",
            ContainerKind::Bzip2 => "bzip2",
            ContainerKind::Xz => "xz",
            ContainerKind::SevenZ => "7z",
            ContainerKind::Rar => "rar",
        }
    }
}

/// Recognise a container: magic bytes at offset 0, else a zip's end of
/// central directory in the tail, a V7 tar header checksum, a 7z or RAR
/// signature at the start of a PE overlay. Bounded reads only (module
/// `locate`), so it costs about a microsecond per 16 KiB of a file that is
/// not an archive, at most a few microseconds (only the tail is searched).
pub fn detect(data: &[u8]) -> Option<ContainerKind> {
    locate(data).map(|f| f.kind)
}

/// What [`walk`] reports, in document order.
#[derive(Debug)]
pub enum MemberEvent<'a> {
    /// A member, fully decompressed (nested containers are reported too,
    /// before their own members). `chain` holds the member names from the top
    /// file down, the top file's own path not included. `complete` is false
    /// when the member is corrupt and `data` is only its readable part; a
    /// `Skip` with reason `Corrupt` for the same chain follows.
    Member {
        chain: &'a [String],
        data: &'a [u8],
        complete: bool,
    },
    /// Something not fully checked: `ArchiveLimit` (detail names the limit),
    /// `Encrypted`, `Corrupt` or `UnsupportedContainer` (a RAR).
    Skip {
        chain: &'a [String],
        reason: SkipReason,
        detail: String,
    },
    /// A bomb (ratio, depth, overlapping zip entries): becomes a `suspicious`
    /// finding, so the scan's exit code can never be 0.
    Suspicious {
        chain: &'a [String],
        rule: &'static str,
        detail: String,
    },
}

/// Rule names of [`MemberEvent::Suspicious`].
pub const RULE_RATIO_BOMB: &str = "archive_ratio_bomb";
pub const RULE_DEPTH_BOMB: &str = "archive_depth_bomb";
pub const RULE_ZIP_OVERLAP: &str = "zip_overlapping_entries";

/// Walk the container in `data` (if it is one) and report every member to
/// `visit`. Never panics on hostile input, never allocates more than the
/// limits allow, never writes to disk.
pub fn walk(data: &[u8], limits: &ArchiveLimits, visit: &mut dyn FnMut(MemberEvent<'_>)) {
    let Some(found) = locate(data) else { return };
    let mut w = Walker {
        limits,
        start: Instant::now(),
        top_len: data.len() as u64,
        total: 0,
        members: 0,
        stopped: false,
        flagged_depth: false,
        chain: Vec::new(),
        visit,
    };
    w.container(found, data, 1);
}

/// Why reading a member stopped early.
#[derive(Debug)]
enum Limit {
    MemberSize,
    TotalBytes,
    Time,
    /// (produced, compressed, whole_file)
    Ratio(u64, u64, bool),
}

/// How reading one member ended.
enum End {
    Complete,
    Limit(Limit),
    Error(io::Error),
}

/// Counts the compressed bytes a decoder consumed, for the ratio check.
struct Counting<'c, R> {
    inner: R,
    n: &'c Cell<u64>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.set(self.n.get().saturating_add(k as u64));
        Ok(k)
    }
}

struct Walker<'l, 'v> {
    limits: &'l ArchiveLimits,
    start: Instant,
    top_len: u64,
    /// Bytes produced so far, all levels.
    total: u64,
    members: u64,
    /// A walk-wide limit was hit: stop everything.
    stopped: bool,
    flagged_depth: bool,
    chain: Vec<String>,
    visit: &'v mut dyn FnMut(MemberEvent<'_>),
}

impl Walker<'_, '_> {
    fn skip(&mut self, reason: SkipReason, detail: String) {
        (self.visit)(MemberEvent::Skip {
            chain: &self.chain,
            reason,
            detail,
        });
    }

    fn suspicious(&mut self, rule: &'static str, detail: String) {
        (self.visit)(MemberEvent::Suspicious {
            chain: &self.chain,
            rule,
            detail,
        });
    }

    fn container(&mut self, found: Found, data: &[u8], depth: u32) {
        let kind = found.kind;
        if self.stopped {
            return;
        }
        if depth > self.limits.max_depth {
            if !self.flagged_depth {
                self.flagged_depth = true;
                self.suspicious(
                    RULE_DEPTH_BOMB,
                    format!("containers nested deeper than {}", self.limits.max_depth),
                );
            }
            self.skip(
                SkipReason::ArchiveLimit,
                format!(
                    "max_depth ({}): {} container not opened",
                    self.limits.max_depth,
                    kind.as_str()
                ),
            );
            return;
        }
        let inner = data.get(found.offset..).unwrap_or_default();
        match kind {
            // The zip reader gets the whole file: it finds the archive's
            // start itself, whether its offsets count from the file or from
            // the zip; `inner` (from the first local header) is only for
            // reading without a central directory.
            ContainerKind::Zip => self.zip(data, inner, depth),
            ContainerKind::Tar => self.tar(data, depth),
            ContainerKind::Gzip | ContainerKind::Bzip2 | ContainerKind::Xz => {
                self.stream(kind, data, depth)
            }
            ContainerKind::SevenZ => self.sevenz(inner, depth),
            ContainerKind::Rar => self.skip(
                SkipReason::UnsupportedContainer,
                format!(
                    "rar archive at offset {}: kensa has no RAR reader, members not scanned",
                    found.offset
                ),
            ),
        }
    }

    /// Count one member; false (after reporting) when the member limit is hit.
    fn admit(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        self.members += 1;
        if self.members > self.limits.max_members {
            self.stop(format!(
                "max_members ({}): remaining members not scanned",
                self.limits.max_members
            ));
            return false;
        }
        true
    }

    /// Read a member's bytes through the limits. `consumed` reports how many
    /// compressed bytes the decoder has taken so far (for the ratio check).
    fn read_member(&mut self, r: &mut dyn Read, consumed: &dyn Fn() -> u64) -> (Vec<u8>, End) {
        let l = self.limits;
        let mut out = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if self.start.elapsed() > l.max_time {
                return (out, End::Limit(Limit::Time));
            }
            let n = match r.read(&mut chunk) {
                Ok(0) => return (out, End::Complete),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return (out, End::Error(e)),
            };
            let produced = out.len() as u64 + n as u64;
            self.total = self.total.saturating_add(n as u64);
            if produced > l.max_member_size {
                return (out, End::Limit(Limit::MemberSize));
            }
            if self.total > l.max_total_bytes {
                return (out, End::Limit(Limit::TotalBytes));
            }
            if produced >= l.ratio_min_bytes {
                let c = consumed().max(1);
                if produced / c > l.max_ratio {
                    return (out, End::Limit(Limit::Ratio(produced, c, false)));
                }
            }
            if self.total >= l.ratio_min_bytes && self.total / self.top_len.max(1) > l.max_ratio {
                return (
                    out,
                    End::Limit(Limit::Ratio(self.total, self.top_len, true)),
                );
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Report how a member read ended and visit what was read (a partial
    /// read only when it ended on an error). Walk-wide limits set `stopped`.
    fn finish(&mut self, data: Vec<u8>, end: End, depth: u32, what: &str) {
        match end {
            End::Complete => self.visit_member(&data, true, depth),
            End::Error(e) => {
                if !data.is_empty() {
                    self.visit_member(&data, false, depth);
                }
                self.skip(
                    SkipReason::Corrupt,
                    format!("{what}: {e} (after {} readable bytes)", data.len()),
                );
            }
            End::Limit(limit) => self.limit_reached(limit),
        }
    }

    /// Report a limit a member read ran into; every limit but the member
    /// size stops the walk.
    fn limit_reached(&mut self, limit: Limit) {
        let l = self.limits;
        match limit {
            Limit::MemberSize => self.skip(
                SkipReason::ArchiveLimit,
                format!("max_member_size ({} bytes) exceeded", l.max_member_size),
            ),
            Limit::TotalBytes => self.stop(format!(
                "max_total_bytes ({} bytes) reached: rest of the archive not scanned",
                l.max_total_bytes
            )),
            Limit::Time => self.stop(format!(
                "max_time ({} s) reached: rest of the archive not scanned",
                l.max_time.as_secs()
            )),
            Limit::Ratio(produced, compressed, whole) => {
                let of = if whole {
                    "the top-level file"
                } else {
                    "this member"
                };
                self.suspicious(
                    RULE_RATIO_BOMB,
                    format!(
                        "{produced} bytes produced from {compressed} bytes of {of}: ratio above {}",
                        l.max_ratio
                    ),
                );
                self.stop(format!(
                    "max_ratio ({}): decompression stopped",
                    l.max_ratio
                ));
            }
        }
    }

    /// Stop the walk, reporting the walk-wide limit that was reached.
    fn stop(&mut self, detail: String) {
        self.stopped = true;
        self.skip(SkipReason::ArchiveLimit, detail);
    }

    /// Hand a member to the visitor, then open it if it is a container.
    fn visit_member(&mut self, data: &[u8], complete: bool, depth: u32) {
        (self.visit)(MemberEvent::Member {
            chain: &self.chain,
            data,
            complete,
        });
        if let Some(found) = locate(data) {
            self.container(found, data, depth + 1);
        }
    }

    /// A named member: push its name for the duration of `f`.
    fn named(&mut self, name: String, f: impl FnOnce(&mut Self)) {
        self.chain.push(name);
        f(self);
        self.chain.pop();
    }

    fn stream(&mut self, kind: ContainerKind, data: &[u8], depth: u32) {
        if !self.admit() {
            return;
        }
        let consumed = Cell::new(0u64);
        let input = Counting {
            inner: data,
            n: &consumed,
        };
        let mut dec: Box<dyn Read + '_> = match kind {
            ContainerKind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
            ContainerKind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
            _ => Box::new(lzma_rust2::XzReader::new_mem_limit(
                input,
                true,
                DECODER_MEM_LIMIT_KIB,
            )),
        };
        let (out, end) = self.read_member(&mut dec, &|| consumed.get());
        drop(dec);
        self.finish(out, end, depth, kind.as_str());
    }

    fn tar(&mut self, data: &[u8], depth: u32) {
        let mut ar = tar::Archive::new(Cursor::new(data));
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => return self.skip(SkipReason::Corrupt, format!("tar: {e}")),
        };
        for entry in entries {
            if !self.admit() {
                return;
            }
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => return self.skip(SkipReason::Corrupt, format!("tar: {e}")),
            };
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse()) {
                continue;
            }
            let name = bytes_to_string(&entry.path_bytes());
            self.named(name, |w| {
                // tar stores members uncompressed: no ratio to judge.
                let (out, end) = w.read_member(&mut entry, &|| u64::MAX);
                w.finish(out, end, depth, "tar member");
            });
        }
    }

    /// A zip in `data`; `from_first_header` is the part from its first
    /// local header on.
    fn zip(&mut self, data: &[u8], from_first_header: &[u8], depth: u32) {
        let mut ar = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(a) => a,
            Err(e) => {
                // No usable central directory (truncated, damaged): read the
                // local headers front to back instead.
                self.skip(
                    SkipReason::Corrupt,
                    format!("zip: {e}; reading local headers only"),
                );
                return self.zip_stream(from_first_header, depth);
            }
        };
        if let Ok(true) = ar.has_overlapping_files() {
            self.suspicious(
                RULE_ZIP_OVERLAP,
                "zip entries share compressed data (overlapping-entry zip bomb)".into(),
            );
        }
        self.zip_members(&mut ar, data.len() as u64, depth);
    }

    /// Visit the members a zip's central directory lists, in order.
    fn zip_members(
        &mut self,
        ar: &mut zip::ZipArchive<Cursor<&[u8]>>,
        archive_len: u64,
        depth: u32,
    ) {
        for i in 0..ar.len() {
            if !self.admit() {
                return;
            }
            let (name, encrypted, method, is_dir, declared) = match ar.by_index_data(i) {
                Ok(f) => (
                    bytes_to_string(f.name_raw()),
                    f.encrypted(),
                    f.compression(),
                    f.is_dir(),
                    f.compressed_size(),
                ),
                Err(e) => {
                    self.skip(SkipReason::Corrupt, format!("zip entry {i}: {e}"));
                    continue;
                }
            };
            if is_dir {
                continue;
            }
            self.named(name, |w| {
                if encrypted {
                    return w.skip(SkipReason::Encrypted, "zip entry is encrypted".into());
                }
                w.zip_entry(ar, i, method, declared, archive_len, depth);
            });
            if self.stopped {
                return;
            }
        }
    }

    fn zip_entry(
        &mut self,
        ar: &mut zip::ZipArchive<Cursor<&[u8]>>,
        i: usize,
        method: zip::CompressionMethod,
        declared: u64,
        archive_len: u64,
        depth: u32,
    ) {
        use zip::CompressionMethod as M;
        // Stored and deflate are decoded here from the raw bytes so the
        // declared uncompressed size and CRC (which may lie) bound nothing;
        // other methods go through the crate, which stops at the declared
        // size and reports the excess as an error (a `Corrupt` skip).
        let consumed = Cell::new(0u64);
        let denom = declared.min(archive_len);
        let (out, end) = if method == M::Stored || method == M::Deflated {
            let raw = match ar.by_index_raw(i) {
                Ok(r) => r,
                Err(e) => return self.skip(SkipReason::Corrupt, format!("zip: {e}")),
            };
            let input = Counting {
                inner: raw,
                n: &consumed,
            };
            let mut dec: Box<dyn Read> = if method == M::Stored {
                Box::new(input)
            } else {
                Box::new(flate2::read::DeflateDecoder::new(input))
            };
            self.read_member(&mut dec, &|| consumed.get().max(1))
        } else {
            let mut f = match ar.by_index(i) {
                Ok(f) => f,
                Err(zip::result::ZipError::UnsupportedArchive(m)) => {
                    return self.skip(SkipReason::Corrupt, format!("zip: unsupported: {m}"))
                }
                Err(e) => return self.skip(SkipReason::Corrupt, format!("zip: {e}")),
            };
            self.read_member(&mut f, &|| denom)
        };
        self.finish(out, end, depth, "zip member");
    }

    /// Fallback for zips without a readable central directory.
    fn zip_stream(&mut self, data: &[u8], depth: u32) {
        let mut cur = Cursor::new(data);
        loop {
            if self.stopped {
                return;
            }
            let before = cur.position();
            let mut f = match zip::read::read_zipfile_from_stream(&mut cur) {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    return self.skip(
                        SkipReason::Corrupt,
                        format!("zip local header at offset {before}: {e}"),
                    )
                }
            };
            if !self.admit() {
                return;
            }
            if f.is_dir() {
                continue;
            }
            let name = bytes_to_string(f.name_raw());
            let encrypted = f.encrypted();
            let denom = f.compressed_size().clamp(1, data.len() as u64);
            self.named(name, |w| {
                if encrypted {
                    return w.skip(SkipReason::Encrypted, "zip entry is encrypted".into());
                }
                let (out, end) = w.read_member(&mut f, &|| denom);
                w.finish(out, end, depth, "zip member");
            });
        }
    }

    fn sevenz(&mut self, data: &[u8], depth: u32) {
        let Some(mut ar) = self.sevenz_open(data) else {
            return;
        };
        ar.set_thread_count(1);
        if self.sevenz_encrypted(&ar) {
            return;
        }
        self.sevenz_members(&mut ar, data.len() as u64, depth);
    }

    /// Open a 7z archive (its headers); `None` after reporting why not.
    fn sevenz_open<'d>(&mut self, data: &'d [u8]) -> Option<SevenZReader<'d>> {
        use sevenz_rust2::{Error as E, Password};
        match SevenZReader::new_with_memory_limit(
            Cursor::new(data),
            Password::empty(),
            DECODER_MEM_LIMIT_KIB as usize,
        ) {
            Ok(a) => Some(a),
            Err(E::UnsupportedCompressionMethod(m)) if m.contains("AES") => {
                self.skip(SkipReason::Encrypted, "7z: encrypted headers".into());
                None
            }
            Err(e) => {
                self.sevenz_error(e);
                None
            }
        }
    }

    /// Report every encrypted entry of a 7z archive, if it has any; true
    /// then (nothing of it is read).
    fn sevenz_encrypted(&mut self, ar: &SevenZReader<'_>) -> bool {
        let encrypted: Vec<String> = {
            let a = ar.archive();
            (0..a.files.len())
                .filter(|&i| a.is_file_encrypted(i))
                .map(|i| bytes_to_string(a.files[i].name().as_bytes()))
                .collect()
        };
        if encrypted.is_empty() {
            return false;
        }
        for name in encrypted {
            self.named(name, |w| {
                w.skip(SkipReason::Encrypted, "7z entry is encrypted".into())
            });
        }
        true
    }

    /// Visit the members of a 7z archive in order, abandoning a solid block
    /// whose member ran past the member size limit.
    fn sevenz_members(&mut self, ar: &mut SevenZReader<'_>, archive_len: u64, depth: u32) {
        use sevenz_rust2::EntryDecision;
        let mut block_abandoned = false;
        let result = ar.for_each_entries_with_decision_allowing_surplus(|entry, reader| {
            if !self.admit() {
                return Ok(EntryDecision::Stop);
            }
            if entry.is_directory() {
                return Ok(EntryDecision::Continue);
            }
            let mut decision = EntryDecision::Continue;
            self.named(bytes_to_string(entry.name().as_bytes()), |w| {
                let (out, end) = w.read_member(reader, &|| archive_len);
                if matches!(end, End::Limit(Limit::MemberSize)) {
                    // Draining the rest would decompress it all: abandon
                    // the block instead and say so.
                    decision = EntryDecision::SkipBlock;
                    block_abandoned = true;
                }
                w.finish(out, end, depth, "7z member");
                if w.stopped {
                    decision = EntryDecision::Stop;
                }
            });
            Ok(decision)
        });
        if block_abandoned {
            self.skip(
                SkipReason::ArchiveLimit,
                "max_member_size: later members of the same 7z block not scanned".into(),
            );
        }
        if let Err(e) = result {
            self.sevenz_error(e);
        }
    }

    /// Report a 7z error: a password error means encrypted, any other corrupt.
    fn sevenz_error(&mut self, e: sevenz_rust2::Error) {
        use sevenz_rust2::Error as E;
        match e {
            E::PasswordRequired | E::MaybeBadPassword(_) => {
                self.skip(SkipReason::Encrypted, format!("7z: {e}"))
            }
            _ => self.skip(SkipReason::Corrupt, format!("7z: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_magics() {
        assert_eq!(detect(b"PK\x03\x04rest"), Some(ContainerKind::Zip));
        assert_eq!(detect(&[0x1f, 0x8b, 0x08, 0]), Some(ContainerKind::Gzip));
        assert_eq!(
            detect(b"BZh91AY&SYxxxx"),
            Some(ContainerKind::Bzip2),
            "bzip2 block magic"
        );
        assert_eq!(detect(b"BZh9 not really"), None);
        assert_eq!(
            detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Some(ContainerKind::Xz)
        );
        assert_eq!(
            detect(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c, 0]),
            Some(ContainerKind::SevenZ)
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar), Some(ContainerKind::Tar));
        assert_eq!(detect(b"Rar!\x1a\x07\x01\x00"), Some(ContainerKind::Rar));
        assert_eq!(detect(b"Rar!\x1a\x07\x00"), Some(ContainerKind::Rar));
        assert_eq!(detect(b"PK00PK\x03\x04"), Some(ContainerKind::Zip));
        assert_eq!(detect(b"MZ\x90\x00"), None);
        assert_eq!(detect(b""), None);
        assert_eq!(detect(&[0u8; 300]), None);
    }

    #[test]
    fn non_archive_yields_nothing() {
        let mut n = 0;
        walk(b"just some text", &ArchiveLimits::default(), &mut |_| {
            n += 1
        });
        assert_eq!(n, 0);
    }
}
