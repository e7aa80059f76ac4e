//! tar (ustar, GNU, pax, V7): regular members only, stored uncompressed.

use std::io::Cursor;

use crate::walker::Walker;
use crate::Gap;

impl Walker<'_, '_> {
    pub(crate) fn tar(&mut self, data: &[u8], depth: u32) {
        let mut ar = tar::Archive::new(Cursor::new(data));
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => return self.skip(Gap::Corrupt, format!("tar: {e}")),
        };
        for entry in entries {
            if !self.admit() {
                return;
            }
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => return self.skip(Gap::Corrupt, format!("tar: {e}")),
            };
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse()) {
                continue;
            }
            let name = entry.path_bytes().to_vec();
            self.named(name, |w| {
                // tar stores members uncompressed: no ratio to judge.
                let (out, end) = w.read_member(&mut entry, &|| u64::MAX);
                w.finish(out, end, depth, "tar member");
            });
        }
    }
}
