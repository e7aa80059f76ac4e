//! A record sink that journals every record before passing it on: a
//! finding reaches the inner sink (the printer) only after it is durable,
//! so anything reported as found is in the journal.

use super::Journal;
use crate::engine::RecordSink;
use crate::findings::Record;

pub struct JournalSink<'a, S: RecordSink> {
    journal: &'a mut Journal,
    inner: &'a mut S,
}

impl<'a, S: RecordSink> JournalSink<'a, S> {
    pub fn new(journal: &'a mut Journal, inner: &'a mut S) -> Self {
        JournalSink { journal, inner }
    }
}

impl<S: RecordSink> RecordSink for JournalSink<'_, S> {
    fn record(&mut self, rec: Record) -> std::io::Result<()> {
        self.journal
            .append(&rec)
            .map_err(|e| std::io::Error::other(format!("journal: {e}")))?;
        self.inner.record(rec)
    }

    fn progress(&mut self, files: u64, bytes: u64) {
        self.inner.progress(files, bytes);
    }
}
