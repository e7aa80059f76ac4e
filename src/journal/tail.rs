//! Reading a journal backwards from its newest line, for a quick look
//! (`kensa status`) that takes no lock and must not cost more with the
//! journal's size. [`Backward`] yields complete lines newest first, checks
//! that each links to the one after it (seq and `prev`), stops after a
//! byte budget, and reports a torn last line instead of failing on it.
//! It verifies no signature: that is [`super::Journal::open`]'s and
//! [`super::verify`]'s job.

use super::line::{line_hash, parse_prefix};
use super::{read_segment, segments, JournalError, JournalLine};
use std::path::PathBuf;

/// Newest-first reader over the complete lines of a journal.
pub struct Backward {
    segs: Vec<(u64, PathBuf)>,
    /// The segment whose bytes are in `data` (an index into `segs`).
    idx: usize,
    data: Vec<u8>,
    /// End of the part of `data` not yet returned (just past a newline).
    end: usize,
    /// (seq, prev) of the line returned last: the next one must be its
    /// predecessor.
    after: Option<(u64, String)>,
    budget: u64,
    torn: bool,
    exhausted: bool,
}

impl Backward {
    /// Starts at the end of the journal in `dir` (a missing directory reads
    /// as empty); reads at most about `budget` bytes of lines.
    pub fn open(dir: &std::path::Path, budget: u64) -> Result<Backward, JournalError> {
        let segs = segments(dir)?;
        let mut b = Backward {
            idx: segs.len(),
            segs,
            data: Vec::new(),
            end: 0,
            after: None,
            budget,
            torn: false,
            exhausted: false,
        };
        if b.load_previous()? {
            let complete = b
                .data
                .iter()
                .rposition(|&x| x == b'\n')
                .map_or(0, |i| i + 1);
            b.torn = complete < b.data.len();
            b.end = complete;
        }
        Ok(b)
    }

    /// True when the newest segment ends in a partial line (a write cut
    /// short; the next open of the journal moves it aside).
    pub fn torn(&self) -> bool {
        self.torn
    }

    /// True when reading stopped at the byte budget rather than at the
    /// first line of the journal.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Loads the segment before the current one; false when there is none.
    fn load_previous(&mut self) -> Result<bool, JournalError> {
        if self.idx == 0 {
            return Ok(false);
        }
        self.idx -= 1;
        self.data = read_segment(&self.segs[self.idx].1)?;
        self.end = self.data.len();
        Ok(true)
    }

    fn tampered(&self, seq: Option<u64>, reason: impl ToString) -> JournalError {
        JournalError::Tampered {
            segment: self.segs[self.idx].1.clone(),
            line: 0,
            seq,
            reason: reason.to_string(),
        }
    }

    fn step(&mut self) -> Result<Option<JournalLine>, JournalError> {
        while self.end == 0 {
            if !self.load_previous()? {
                return Ok(None);
            }
            if self.data.last().is_some_and(|&b| b != b'\n') {
                return Err(self.tampered(None, "closed segment does not end with a newline"));
            }
        }
        if self.budget == 0 {
            self.exhausted = true;
            return Ok(None);
        }
        let body = &self.data[..self.end - 1];
        let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let bytes = body[start..].to_vec();
        self.end = start;
        self.budget = self.budget.saturating_sub(bytes.len() as u64 + 1);
        let Some((seq, prev)) = parse_prefix(&bytes) else {
            return Err(self.tampered(None, "line does not start with {\"seq\":N,\"prev\":..."));
        };
        let prev = prev.to_string();
        let hash = line_hash(&bytes);
        if let Some((next_seq, next_prev)) = &self.after {
            if seq + 1 != *next_seq || hash != *next_prev {
                return Err(self.tampered(
                    Some(seq),
                    format!("line does not link to seq {next_seq} after it"),
                ));
            }
        }
        self.after = Some((seq, prev));
        Ok(Some(JournalLine { seq, hash, bytes }))
    }
}

impl Iterator for Backward {
    type Item = Result<JournalLine, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(Some(l)) => Some(Ok(l)),
            Ok(None) => None,
            Err(e) => {
                // Nothing after an error: end the iteration.
                self.idx = 0;
                self.end = 0;
                Some(Err(e))
            }
        }
    }
}

/// True for the journal's own bookkeeping records (checkpoints and export
/// notes): they carry no finding or event, so they alone are never worth
/// a bundle and never count as "not yet exported".
pub fn is_bookkeeping(kind: Option<&str>) -> bool {
    matches!(kind, Some("checkpoint" | "export"))
}

/// Whether the journal in `dir` holds any record after seq `after` that is
/// not bookkeeping. Reads back from the end only as far as `after`.
pub fn has_records_after(dir: &std::path::Path, after: u64) -> Result<bool, JournalError> {
    for line in Backward::open(dir, u64::MAX)? {
        let line = line?;
        if line.seq <= after {
            break;
        }
        if !is_bookkeeping(super::line::peek_kind(&line.bytes).as_deref()) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Journal, JournalOptions};
    use crate::keys::SecretKey;
    use std::io::Write;

    #[test]
    fn reads_newest_first_across_segments_and_notes_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let opts = JournalOptions {
            segment_max: 700,
            ..JournalOptions::default()
        };
        let mut j = Journal::open_with(dir.path(), &key, opts).unwrap();
        for i in 0..20 {
            j.append(&crate::journal::tests::skip(i)).unwrap();
        }
        let (head, _) = j.head();
        drop(j);
        assert!(segments(dir.path()).unwrap().len() > 2);
        let seqs: Vec<u64> = Backward::open(dir.path(), u64::MAX)
            .unwrap()
            .map(|l| l.unwrap().seq)
            .collect();
        assert_eq!(seqs, (1..=head).rev().collect::<Vec<_>>());
        let last = segments(dir.path()).unwrap().pop().unwrap().1;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&last)
            .unwrap();
        f.write_all(b"{\"seq\":").unwrap();
        let mut b = Backward::open(dir.path(), 300).unwrap();
        assert!(b.torn());
        assert_eq!(b.next().unwrap().unwrap().seq, head);
        assert!(b.by_ref().count() < head as usize);
        assert!(b.exhausted());
    }
}
