//! zip and the documents built on it (OOXML, ODF, JAR, APK): the central
//! directory first, the local headers front to back when it is unreadable.
//! Stored and deflate are decoded here from the raw bytes (declared sizes
//! and CRCs bound nothing); implode (method 6) by our own decoder
//! (`zip/implode.rs`); deflate64, bzip2, LZMA, xz and zstd go through the
//! `zip` crate (the maintained zip reader of the Rust ecosystem, fuzzed in
//! its own repository; its zstd decoder is libzstd). Shrink (1), reduce
//! (2-5), PPMd, AES and any other method are recognised and recorded as
//! `Gap::Unsupported` naming the method, never as clean or corrupt.

use std::cell::Cell;
use std::io::{Cursor, Read};

use crate::walker::{Counting, Walker};
use crate::{Gap, RULE_ZIP_OVERLAP};

mod implode;

/// A zip compression method's name for a gap's detail.
fn method_name(m: zip::CompressionMethod) -> String {
    use zip::CompressionMethod as M;
    let known = [
        (M::SHRINK, "shrink (1)"),
        (M::REDUCE_1, "reduce (2)"),
        (M::REDUCE_2, "reduce (3)"),
        (M::REDUCE_3, "reduce (4)"),
        (M::REDUCE_4, "reduce (5)"),
        (M::IMPLODE, "implode (6)"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == m)
        .map_or_else(|| format!("{m:?}"), |(_, n)| (*n).to_string())
}

/// Methods decoded here or by the crate.
fn decodable(m: zip::CompressionMethod) -> bool {
    use zip::CompressionMethod as M;
    matches!(
        m,
        M::Stored | M::Deflated | M::Deflate64 | M::Bzip2 | M::Lzma | M::Xz | M::Zstd
    ) || m == M::IMPLODE
}

impl Walker<'_, '_> {
    /// A zip in `data`; `from_first_header` is the part from its first
    /// local header on.
    pub(crate) fn zip(&mut self, data: &[u8], from_first_header: &[u8], depth: u32) {
        let mut ar = match zip::ZipArchive::new(Cursor::new(data)) {
            Ok(a) => a,
            Err(e) => {
                // No usable central directory (truncated, damaged): read the
                // local headers front to back instead.
                self.skip(
                    Gap::Corrupt,
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
    pub(crate) fn zip_members(
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
                    f.name_raw().to_vec(),
                    f.encrypted(),
                    f.compression(),
                    f.is_dir(),
                    f.compressed_size(),
                ),
                Err(e) => {
                    self.skip(Gap::Corrupt, format!("zip entry {i}: {e}"));
                    continue;
                }
            };
            if is_dir {
                continue;
            }
            self.named(name, |w| {
                if encrypted {
                    return w.skip(Gap::Encrypted, "zip entry is encrypted".into());
                }
                w.zip_entry(ar, i, method, declared, archive_len, depth);
            });
            if self.stopped {
                return;
            }
        }
    }

    pub(crate) fn zip_entry(
        &mut self,
        ar: &mut zip::ZipArchive<Cursor<&[u8]>>,
        i: usize,
        method: zip::CompressionMethod,
        declared: u64,
        archive_len: u64,
        depth: u32,
    ) {
        use zip::CompressionMethod as M;
        if !decodable(method) {
            return self.skip(
                Gap::Unsupported,
                format!(
                    "zip member compressed with method {}: no decoder, not scanned",
                    method_name(method)
                ),
            );
        }
        if method == M::IMPLODE {
            return self.zip_implode(ar, i, depth);
        }
        // Stored and deflate are decoded here from the raw bytes so the
        // declared uncompressed size and CRC (which may lie) bound nothing;
        // other methods go through the crate, which stops at the declared
        // size and reports the excess as an error (a `Corrupt` skip).
        let consumed = Cell::new(0u64);
        let denom = declared.min(archive_len);
        let (out, end) = if method == M::Stored || method == M::Deflated {
            let raw = match ar.by_index_raw(i) {
                Ok(r) => r,
                Err(e) => return self.skip(Gap::Corrupt, format!("zip: {e}")),
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
                Err(e) => return self.zip_open_error(e),
            };
            self.read_member(&mut f, &|| denom)
        };
        self.finish(out, end, depth, "zip member");
    }

    /// The crate refused to open a member: a method or variant it cannot
    /// read is `Unsupported`, anything else `Corrupt`.
    fn zip_open_error(&mut self, e: zip::result::ZipError) {
        match e {
            zip::result::ZipError::UnsupportedArchive(m) => {
                self.skip(Gap::Unsupported, format!("zip: unsupported: {m}"))
            }
            e => self.skip(Gap::Corrupt, format!("zip: {e}")),
        }
    }

    /// An imploded member: its raw bytes (at most the archive) through
    /// [`implode::explode`], which stops at the declared size or the cap.
    fn zip_implode(&mut self, ar: &mut zip::ZipArchive<Cursor<&[u8]>>, i: usize, depth: u32) {
        let mut raw = match ar.by_index_raw(i) {
            Ok(r) => r,
            Err(e) => return self.skip(Gap::Corrupt, format!("zip: {e}")),
        };
        let (flags, size) = (raw.flags().as_u16(), raw.size());
        let mut input = Vec::new();
        if let Err(e) = raw.read_to_end(&mut input) {
            return self.skip(Gap::Corrupt, format!("zip: {e}"));
        }
        drop(raw);
        let (out, err) = implode::explode(&input, flags, size, self.cap());
        let err = err.map(|e| e.to_string());
        self.decoded(out, input.len() as u64, err, depth, "zip member (implode)");
    }

    /// Fallback for zips without a readable central directory.
    pub(crate) fn zip_stream(&mut self, data: &[u8], depth: u32) {
        let mut cur = Cursor::new(data);
        loop {
            if self.stopped {
                return;
            }
            let before = cur.position();
            let mut f = match zip::read::read_zipfile_from_stream(&mut cur) {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e @ zip::result::ZipError::UnsupportedArchive(_)) => {
                    return self.zip_open_error(e)
                }
                Err(e) => {
                    return self.skip(
                        Gap::Corrupt,
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
            let name = f.name_raw().to_vec();
            let encrypted = f.encrypted();
            let denom = f.compressed_size().clamp(1, data.len() as u64);
            self.named(name, |w| {
                if encrypted {
                    return w.skip(Gap::Encrypted, "zip entry is encrypted".into());
                }
                let (out, end) = w.read_member(&mut f, &|| denom);
                w.finish(out, end, depth, "zip member");
            });
        }
    }
}
