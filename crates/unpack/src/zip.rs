//! zip and the documents built on it (OOXML, ODF, JAR, APK): the central
//! directory first, the local headers front to back when it is unreadable.
//! Stored and deflate are decoded here from the raw bytes (declared sizes
//! and CRCs bound nothing); other methods go through the `zip` crate.

use std::cell::Cell;
use std::io::{Cursor, Read};

use crate::walker::{Counting, Walker};
use crate::{Gap, RULE_ZIP_OVERLAP};

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
                Err(zip::result::ZipError::UnsupportedArchive(m)) => {
                    return self.skip(Gap::Corrupt, format!("zip: unsupported: {m}"))
                }
                Err(e) => return self.skip(Gap::Corrupt, format!("zip: {e}")),
            };
            self.read_member(&mut f, &|| denom)
        };
        self.finish(out, end, depth, "zip member");
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
