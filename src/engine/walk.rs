//! The walker: visits each root without following symlinks (a root the
//! user names that is a symlink, to a file or a directory, is resolved
//! once), never opens special files, and records every entry it passes
//! over as a skip.

use super::{io_skip_reason, pathfmt, Cancel, Message, SessionCtx};
use crate::findings::{Record, SkipReason};
use crossbeam_channel::Sender;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A regular file for a worker.
pub(crate) struct WorkItem {
    pub path: PathBuf,
    /// Size when listed; the memory gate reserves by it.
    pub size: u64,
}

pub(crate) struct Walker<'a> {
    pub roots: &'a [PathBuf],
    pub one_file_system: bool,
    pub max_dir_entries: usize,
    pub session: &'a SessionCtx,
    pub cancel: &'a Cancel,
}

impl Walker<'_> {
    pub fn run(self, work: &Sender<WorkItem>, events: &Sender<Message>) {
        for named in self.roots {
            if self.cancel.is_stopped() {
                return;
            }
            // A path the user names is followed once (as ripgrep and
            // clamscan do); links met below it are never followed.
            let resolved;
            let root = match std::fs::symlink_metadata(named) {
                Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(named) {
                    Ok(p) => {
                        resolved = p;
                        &resolved
                    }
                    Err(_) => named,
                },
                _ => named,
            };
            let meta = match std::fs::metadata(root) {
                Ok(m) => m,
                Err(e) => {
                    self.skip(
                        events,
                        root,
                        io_skip_reason(&e),
                        format!("cannot open: {e}"),
                    );
                    continue;
                }
            };
            if meta.is_dir() {
                self.walk_dir(root, meta.dev(), work, events);
            } else {
                self.entry(root, &meta, meta.dev(), work, events, &mut Vec::new());
            }
        }
    }

    fn skip(&self, events: &Sender<Message>, path: &Path, reason: SkipReason, detail: String) {
        let skip = self.session.skip(pathfmt::display(path), reason, detail);
        let _ = events.send(Message::Record(Box::new(Record::Skip(skip))));
    }

    /// Depth-first over one root with an explicit stack (no recursion limit
    /// to hit on deep hostile trees).
    fn walk_dir(&self, root: &Path, dev: u64, work: &Sender<WorkItem>, events: &Sender<Message>) {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.cancel.is_stopped() {
                return;
            }
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    self.skip(
                        events,
                        &dir,
                        io_skip_reason(&e),
                        format!("cannot list directory: {e}"),
                    );
                    continue;
                }
            };
            let names = self.list(&dir, rd, events);
            let mut subdirs = Vec::new();
            for (p, m) in names {
                match m {
                    Ok(m) => self.entry(&p, &m, dev, work, events, &mut subdirs),
                    Err(e) => {
                        self.skip(events, &p, io_skip_reason(&e), format!("cannot stat: {e}"))
                    }
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
    }

    /// The entries of one directory with their metadata, sorted for
    /// stable output.
    fn list(
        &self,
        dir: &Path,
        rd: std::fs::ReadDir,
        events: &Sender<Message>,
    ) -> Vec<(PathBuf, std::io::Result<Metadata>)> {
        let mut names = Vec::new();
        for ent in rd {
            if names.len() >= self.max_dir_entries {
                self.skip(
                    events,
                    dir,
                    SkipReason::TooManyEntries,
                    format!(
                        "more than {} entries; the rest of the directory was not visited",
                        self.max_dir_entries
                    ),
                );
                break;
            }
            match ent {
                Ok(ent) => {
                    let p = ent.path();
                    let m = std::fs::symlink_metadata(&p);
                    names.push((p, m));
                }
                Err(e) => self.skip(
                    events,
                    dir,
                    io_skip_reason(&e),
                    format!("cannot read directory entry: {e}"),
                ),
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names
    }

    fn entry(
        &self,
        path: &Path,
        meta: &Metadata,
        dev: u64,
        work: &Sender<WorkItem>,
        events: &Sender<Message>,
        subdirs: &mut Vec<PathBuf>,
    ) {
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(path)
                .map(|t| pathfmt::display(&t))
                .unwrap_or_default();
            self.skip(
                events,
                path,
                SkipReason::Symlink,
                format!("symlink to {target}; not followed"),
            );
        } else if ft.is_dir() {
            if self.one_file_system && meta.dev() != dev {
                self.skip(
                    events,
                    path,
                    SkipReason::SpecialFile,
                    "another file system; not entered".into(),
                );
            } else {
                subdirs.push(path.to_path_buf());
            }
        } else if ft.is_file() {
            let _ = work.send(WorkItem {
                path: path.to_path_buf(),
                size: meta.len(),
            });
        } else {
            let kind = crate::fsutil::file_kind(&ft);
            self.skip(
                events,
                path,
                SkipReason::SpecialFile,
                format!("{kind}; not opened"),
            );
        }
    }
}
