//! 7z through `sevenz-rust2`, single-threaded, with a decoder memory limit;
//! an oversized member abandons its solid block instead of draining it.

use std::io::Cursor;

use crate::walker::{End, Limit, Walker};
use crate::{Gap, DECODER_MEM_LIMIT_KIB};

/// A 7z archive read from memory.
type SevenZReader<'d> = sevenz_rust2::ArchiveReader<Cursor<&'d [u8]>>;

impl Walker<'_, '_> {
    pub(crate) fn sevenz(&mut self, data: &[u8], depth: u32) {
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
    pub(crate) fn sevenz_open<'d>(&mut self, data: &'d [u8]) -> Option<SevenZReader<'d>> {
        use sevenz_rust2::{Error as E, Password};
        match SevenZReader::new_with_memory_limit(
            Cursor::new(data),
            Password::empty(),
            DECODER_MEM_LIMIT_KIB as usize,
        ) {
            Ok(a) => Some(a),
            Err(E::UnsupportedCompressionMethod(m)) if m.contains("AES") => {
                self.skip(Gap::Encrypted, "7z: encrypted headers".into());
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
    pub(crate) fn sevenz_encrypted(&mut self, ar: &SevenZReader<'_>) -> bool {
        let encrypted: Vec<Vec<u8>> = {
            let a = ar.archive();
            (0..a.files.len())
                .filter(|&i| a.is_file_encrypted(i))
                .map(|i| a.files[i].name().as_bytes().to_vec())
                .collect()
        };
        if encrypted.is_empty() {
            return false;
        }
        for name in encrypted {
            self.named(name, |w| {
                w.skip(Gap::Encrypted, "7z entry is encrypted".into())
            });
        }
        true
    }

    /// Visit the members of a 7z archive in order, abandoning a solid block
    /// whose member ran past the member size limit.
    pub(crate) fn sevenz_members(
        &mut self,
        ar: &mut SevenZReader<'_>,
        archive_len: u64,
        depth: u32,
    ) {
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
            self.named(entry.name().as_bytes().to_vec(), |w| {
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
                Gap::Limit,
                "max_member_size: later members of the same 7z block not scanned".into(),
            );
        }
        if let Err(e) = result {
            self.sevenz_error(e);
        }
    }

    /// Report a 7z error: a password error means encrypted, any other corrupt.
    pub(crate) fn sevenz_error(&mut self, e: sevenz_rust2::Error) {
        use sevenz_rust2::Error as E;
        match e {
            E::PasswordRequired | E::MaybeBadPassword(_) => {
                self.skip(Gap::Encrypted, format!("7z: {e}"))
            }
            _ => self.skip(Gap::Corrupt, format!("7z: {e}")),
        }
    }
}
