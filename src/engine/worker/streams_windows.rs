//! Alternate data streams of a file listed in a directory, on Windows:
//! after the file's own bytes, every named `$DATA` stream its open handle
//! lists is opened relative to that handle and scanned like a file (the
//! same capped reader with a deadline of its own, YARA, hash lists,
//! containers), recorded under the path `file.txt:name`
//! ([`winfile::stream_path`]) with the file's attributes. A list that
//! cannot be read or parsed, a stream that cannot be opened or read to its
//! end, and streams beyond [`winfile::MAX_STREAMS`] are gaps, never
//! silence. Only on volumes that hold named streams (NTFS, ReFS); each
//! stream counts as one file in the summary.

use super::{Contents, Worker};
use crate::engine::dirfd::{self, AsFd, Dir};
use crate::engine::winfile::{self, NamedStream};
use crate::engine::{io_detail, io_skip_reason, Message};
use crate::findings::{Record, SkipReason};
use std::fs::File;
use std::path::Path;
use std::time::Instant;

impl Worker<'_> {
    /// Scans the named streams of `file` (listed in `dir` as `fname`,
    /// both in text form, shown as `display`, watched as `path`).
    pub(super) fn streams(
        &mut self,
        (dir, file): (&Dir, &File),
        path: &Path,
        display: &str,
        fname: &str,
    ) {
        if !dirfd::has_named_streams(dir.as_fd()) || self.stop.is_stopped() {
            return;
        }
        let Some(raw) = self.watch.busy(path, || dirfd::stream_info(file)) else {
            self.gone = true;
            return;
        };
        let gap = |w: &Self, reason, detail: String| {
            w.emit(Record::Skip(w.skip(display, reason, detail)));
        };
        let list = match raw.map(|b| winfile::parse_stream_info(&b, winfile::MAX_STREAMS)) {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                let detail = format!("alternate data streams not scanned: {e}");
                return gap(self, SkipReason::Corrupt, detail);
            }
            Err(e) => {
                let detail = io_detail("alternate data streams not listed", &e);
                return gap(self, io_skip_reason(&e), detail);
            }
        };
        if list.more > 0 {
            let detail = format!(
                "{} alternate data streams beyond the first {}; not scanned",
                list.more,
                winfile::MAX_STREAMS
            );
            gap(self, SkipReason::TooManyEntries, detail);
        }
        for s in &list.named {
            if self.gone || self.stop.is_stopped() {
                return;
            }
            self.stream(file, path, (display, fname), s);
        }
    }

    /// One named stream: opened relative to `file`, read, scanned.
    fn stream(&mut self, file: &File, path: &Path, shown: (&str, &str), s: &NamedStream) {
        let name = winfile::stream_path(shown.1, &s.name);
        let shown = winfile::stream_path(shown.0, &s.name);
        let _ = self.out.send(Message::Reading(shown.clone()));
        self.hold(self.charge(s.size));
        let deadline = Instant::now() + self.opts.read_timeout;
        self.watch.begin(path);
        let read =
            dirfd::open_stream(file, &s.name).map(|mut f| self.read_file(&mut f, s.size, deadline));
        if !self.watch.end() {
            self.gone = true;
            self.buf = Vec::new();
            return;
        }
        match read {
            Err(e) => {
                let detail = io_detail("cannot open alternate data stream", &e);
                self.give_up(&shown, io_skip_reason(&e), detail, 0);
            }
            Ok(Err((stop, bytes))) => {
                self.release_buffer();
                self.read_stopped(&shown, stop, bytes);
            }
            Ok(Ok(Contents::Streamed { size, digests })) => {
                self.too_large(&shown, size, &digests);
            }
            Ok(Ok(Contents::InMemory { size, digests })) => {
                let owner = crate::system::file_owner(file);
                self.scan_buffer(&name, &shown, size, &digests, &owner);
            }
        }
    }
}
