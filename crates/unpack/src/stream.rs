//! Compression layers: gzip (multi-member), bzip2 (multi-stream), xz and
//! zstd (multi-frame), decoded as one member under the chain of the
//! compressed file itself. zstd goes through the `zstd` crate (bindings to
//! the reference libzstd, which is continuously fuzzed by OSS-Fuzz; the
//! crate is already in the build for the zip reader's method 93): its
//! streaming decoder with the window limited to [`ZSTD_WINDOW_LOG_MAX`], so
//! a hostile frame header cannot make it allocate more than 128 MiB.

use std::cell::Cell;
use std::io::{self, Read};

use crate::walker::{Counting, End, Walker};
use crate::{ContainerKind, DECODER_MEM_LIMIT_KIB};

/// Largest zstd window accepted: 2^27 = 128 MiB, the same budget as an xz
/// dictionary ([`DECODER_MEM_LIMIT_KIB`]). `zstd -19` uses 8 MiB windows,
/// `--long` 128 MiB; larger windows are refused (a `Corrupt` skip naming
/// the error).
pub(crate) const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// A streaming zstd decoder over `input` with the window limit set.
pub(crate) fn zstd_reader<'a, R: Read + 'a>(input: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut dec = zstd::stream::read::Decoder::new(input)?;
    dec.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
    Ok(Box::new(dec))
}

impl Walker<'_, '_> {
    pub(crate) fn stream(&mut self, kind: ContainerKind, data: &[u8], depth: u32) {
        if !self.admit() {
            return;
        }
        let consumed = Cell::new(0u64);
        let input = Counting {
            inner: data,
            n: &consumed,
        };
        let dec: io::Result<Box<dyn Read + '_>> = match kind {
            ContainerKind::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(input))),
            ContainerKind::Bzip2 => Ok(Box::new(bzip2::read::MultiBzDecoder::new(input))),
            ContainerKind::Zstd => zstd_reader(input),
            _ => Ok(Box::new(lzma_rust2::XzReader::new_mem_limit(
                input,
                true,
                DECODER_MEM_LIMIT_KIB,
            ))),
        };
        let (out, end) = match dec {
            Ok(mut dec) => self.read_member(&mut dec, &|| consumed.get()),
            Err(e) => (Vec::new(), End::Error(e)),
        };
        self.finish(out, end, depth, kind.as_str());
    }
}
