//! Compression layers: gzip (multi-member), bzip2 (multi-stream) and xz,
//! decoded as one member under the chain of the compressed file itself.

use std::cell::Cell;
use std::io::Read;

use crate::walker::{Counting, Walker};
use crate::{ContainerKind, DECODER_MEM_LIMIT_KIB};

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
}
