//! The walker: visits each root through directory file descriptors
//! ([`super::dirfd`]): the root is opened once (a root the user names
//! that is a symlink, to a file or a directory, is followed once), and
//! everything below it is reached one name at a time relative to its
//! parent's descriptor, never by a path, so no symlink met during the
//! walk is followed and nothing outside the root can be opened whatever
//! the tree does meanwhile. A subdirectory whose device and inode when
//! opened differ from those listed was swapped and is a skip. Special
//! files are never opened; every entry passed over is recorded as a skip.
//!
//! Memory and descriptors stay bounded: at most `max_dir_entries` names
//! of a directory are kept (sorted, for stable output), and the
//! depth-first stack holds names; a directory's descriptor is kept only
//! while it still has subdirectories to visit or queued files to open.
//! Paths below a session's `base` (the agent's watched directory) are
//! opened component by component from the base in the same way. A root
//! that is a block device or a disk image is not walked but read in user
//! space ([`super::device`]); a block device met during a walk stays a
//! special file.

use super::device::{DiskRoot, Feeder, ReadItem};
use super::dirfd::{self, AsFd, Dir, Listing, Stat};
use super::gate::MemoryGate;
use super::watchdog::Watch;
use super::{io_detail, io_skip_reason, pathfmt, Cancel, Message, SessionCtx};
use crate::findings::{Record, SkipReason};
use crossbeam_channel::Sender;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Why a directory opened is not walked.
const SWAPPED: &str =
    "replaced (by another directory, a symlink or a file) between listing and opening; not entered";

/// A regular file for a worker: opened relative to its directory, or
/// already read from a device by the reader thread.
pub(crate) struct WorkItem {
    /// The path shown in records.
    pub path: PathBuf,
    /// Size when listed; the memory gate reserves by it.
    pub size: u64,
    pub source: Source,
}

pub(crate) enum Source {
    /// Listed in a directory: `name` in `dir`, with the attribute names
    /// of its listing (Windows; none on Unix).
    Listed {
        dir: Arc<Dir>,
        name: OsString,
        attrs: Vec<String>,
    },
    /// Read from a device, already charged at the memory gate.
    Read(Box<ReadItem>),
}

impl WorkItem {
    pub fn read(path: PathBuf, size: u64, item: ReadItem) -> WorkItem {
        WorkItem {
            path,
            size,
            source: Source::Read(Box::new(item)),
        }
    }
}

/// The walker was abandoned by the watchdog: it must return at once.
struct Gone;

/// A name listed in a directory and its `lstat`.
type Listed = (OsString, std::io::Result<Stat>);

/// A directory still holding subdirectories to visit.
struct Frame {
    dir: Arc<Dir>,
    path: PathBuf,
    /// Names with their listed identity, last to visit first.
    subdirs: Vec<(OsString, Stat)>,
}

/// Where one named path starts.
enum Start {
    Dir { fd: Dir, path: PathBuf },
    Entry(Entry),
}

/// One listed entry and the directory it is in.
struct Entry {
    dir: Arc<Dir>,
    name: OsString,
    stat: Stat,
    path: PathBuf,
}

pub(crate) struct Walker {
    pub roots: Vec<PathBuf>,
    /// When set, every root lies below it and is reached from it without
    /// following links.
    pub base: Option<PathBuf>,
    pub one_file_system: bool,
    pub max_dir_entries: usize,
    pub session: Arc<SessionCtx>,
    pub cancel: Arc<Cancel>,
    pub watch: Arc<Watch>,
    /// Per root (same order): the disk it is read as, if any.
    pub disks: Vec<Option<DiskRoot>>,
    pub disk: Arc<crate::disk::DiskOptions>,
    pub rules: Arc<crate::rules::RuleSet>,
    pub gate: Arc<MemoryGate>,
    pub max_file_size: u64,
}

impl Walker {
    pub fn run(self, work: &Sender<WorkItem>, events: &Sender<Message>) {
        for (i, named) in self.roots.iter().enumerate() {
            if self.cancel.is_stopped() {
                return;
            }
            if let Some(Some(root)) = self.disks.get(i) {
                if self.read_disk(root, work, events).is_err() {
                    return;
                }
                continue;
            }
            let start = match &self.base {
                Some(base) => self.open_below(base, named, events),
                None => self.open_named(named, events),
            };
            let result = match start {
                Ok(Some(Start::Dir { fd, path })) => self.walk_tree(fd, path, work, events),
                Ok(Some(Start::Entry(e))) => self.root_entry(e, work, events),
                Ok(None) => Ok(()),
                Err(Gone) => Err(Gone),
            };
            if result.is_err() {
                return;
            }
        }
    }

    /// A device or disk image named as a root, read in user space: its
    /// files go to the workers in memory (see [`super::device`]).
    fn read_disk(
        &self,
        root: &DiskRoot,
        work: &Sender<WorkItem>,
        events: &Sender<Message>,
    ) -> Result<(), Gone> {
        let mut feeder = Feeder {
            top: pathfmt::display(&root.shown),
            session: &self.session,
            rules: &self.rules,
            gate: &self.gate,
            max_file_size: self.max_file_size,
            cancel: &self.cancel,
            watch: &self.watch,
            work,
            events,
            gone: false,
        };
        self.watch.begin(&root.shown);
        feeder.run(root, &self.disk);
        if feeder.gone || !self.watch.end() {
            return Err(Gone);
        }
        Ok(())
    }

    fn busy<T>(&self, what: &Path, f: impl FnOnce() -> T) -> Result<T, Gone> {
        self.watch.busy(what, f).ok_or(Gone)
    }

    fn skip(&self, events: &Sender<Message>, path: &Path, reason: SkipReason, detail: String) {
        self.skip_with(events, path, reason, detail, Vec::new());
    }

    /// A skip carrying the attribute names of the entry passed over.
    fn skip_with(
        &self,
        events: &Sender<Message>,
        path: &Path,
        reason: SkipReason,
        detail: String,
        attributes: Vec<String>,
    ) {
        let mut skip = self.session.skip(pathfmt::display(path), reason, detail);
        skip.attributes = attributes;
        let _ = events.send(Message::Record(Box::new(Record::Skip(skip))));
    }

    fn skip_io(&self, events: &Sender<Message>, path: &Path, what: &str, e: &std::io::Error) {
        self.skip(events, path, io_skip_reason(e), io_detail(what, e));
    }

    /// A listed subdirectory that could not be opened; no longer a
    /// directory (`O_DIRECTORY | O_NOFOLLOW` refused it) means swapped.
    fn skip_open_dir(&self, events: &Sender<Message>, path: &Path, e: &std::io::Error) {
        if dirfd::is_swap(e) {
            self.skip(events, path, SkipReason::Vanished, SWAPPED.into());
        } else {
            self.skip_io(events, path, "cannot open directory", e);
        }
    }

    /// A path the user named: followed once if it is a symlink (as
    /// ripgrep and clamscan do; records then show the resolved path);
    /// links met below it are never followed.
    fn open_named(&self, named: &Path, events: &Sender<Message>) -> Result<Option<Start>, Gone> {
        let looked = self.busy(named, || {
            let link = std::fs::symlink_metadata(named)?.file_type().is_symlink();
            let shown = match link {
                true => std::fs::canonicalize(named)?,
                false => named.to_path_buf(),
            };
            Ok::<_, std::io::Error>((std::fs::metadata(&shown)?.is_dir(), shown))
        })?;
        let (is_dir, shown) = match looked {
            Ok(x) => x,
            Err(e) => {
                self.skip_io(events, named, "cannot open", &e);
                return Ok(None);
            }
        };
        let (Some(parent), Some(name)) = (shown.parent(), shown.file_name()) else {
            // The file system root itself.
            return self.open_root(&shown, events);
        };
        if is_dir {
            return self.open_root(&shown, events);
        }
        let opened = self.busy(named, || {
            let fd = dirfd::open_root_dir(parent)?;
            let stat = dirfd::stat_at(fd.as_fd(), name)?;
            Ok::<_, std::io::Error>((fd, stat))
        })?;
        Ok(match opened {
            Ok((fd, stat)) => Some(Start::Entry(Entry {
                dir: Arc::new(fd),
                name: name.to_os_string(),
                stat,
                path: shown.clone(),
            })),
            Err(e) => {
                self.skip_io(events, &shown, "cannot open", &e);
                None
            }
        })
    }

    /// A root directory, opened by its path.
    fn open_root(&self, path: &Path, events: &Sender<Message>) -> Result<Option<Start>, Gone> {
        Ok(match self.busy(path, || dirfd::open_root_dir(path))? {
            Ok(fd) => Some(Start::Dir {
                fd,
                path: path.to_path_buf(),
            }),
            Err(e) => {
                self.skip_io(events, path, "cannot open directory", &e);
                None
            }
        })
    }

    /// A path below `base`: the base is opened (followed once, the user
    /// named it), then each component below it without following links.
    fn open_below(
        &self,
        base: &Path,
        named: &Path,
        events: &Sender<Message>,
    ) -> Result<Option<Start>, Gone> {
        let parts: Option<Vec<&std::ffi::OsStr>> = named.strip_prefix(base).ok().and_then(|rel| {
            rel.components()
                .filter(|c| *c != Component::CurDir)
                .map(|c| match c {
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect()
        });
        let Some(parts) = parts else {
            let detail = "not below the watched directory; not opened".into();
            self.skip(events, named, SkipReason::SpecialFile, detail);
            return Ok(None);
        };
        let opened = self.busy(named, || {
            let mut fd = dirfd::open_root_dir(base)?;
            let Some((last, dirs)) = parts.split_last() else {
                return Ok((fd, None));
            };
            for d in dirs {
                fd = dirfd::open_subdir(fd.as_fd(), d)?;
            }
            let stat = dirfd::stat_at(fd.as_fd(), last)?;
            Ok::<_, std::io::Error>((fd, Some((last.to_os_string(), stat))))
        })?;
        let path = named.to_path_buf();
        Ok(match opened {
            Ok((fd, None)) => Some(Start::Dir { fd, path }),
            Ok((fd, Some((name, stat)))) => Some(Start::Entry(Entry {
                dir: Arc::new(fd),
                name,
                stat,
                path,
            })),
            Err(e) => {
                self.skip_io(events, named, "cannot open", &e);
                None
            }
        })
    }

    /// A named root reached through its parent: a directory is opened
    /// (checked to be the one just looked at) and walked; anything else
    /// is one entry.
    fn root_entry(
        &self,
        e: Entry,
        work: &Sender<WorkItem>,
        events: &Sender<Message>,
    ) -> Result<(), Gone> {
        if !e.stat.is_dir() {
            let dev = e.stat.dev;
            return self.entry(e, dev, work, events, &mut Vec::new());
        }
        let opened = self.busy(&e.path, || {
            let fd = dirfd::open_subdir(e.dir.as_fd(), &e.name)?;
            let st = dirfd::fstat(fd.as_fd())?;
            Ok::<_, std::io::Error>((fd, st))
        })?;
        match opened {
            Ok((fd, st)) if st.same_file(&e.stat) => self.walk_tree(fd, e.path, work, events),
            Ok(_) => {
                self.skip(events, &e.path, SkipReason::Vanished, SWAPPED.into());
                Ok(())
            }
            Err(err) => {
                self.skip_open_dir(events, &e.path, &err);
                Ok(())
            }
        }
    }

    /// Depth-first over one root with an explicit stack of names (no
    /// recursion limit to hit on deep hostile trees).
    fn walk_tree(
        &self,
        fd: Dir,
        path: PathBuf,
        work: &Sender<WorkItem>,
        events: &Sender<Message>,
    ) -> Result<(), Gone> {
        let dev = match dirfd::fstat(fd.as_fd()) {
            Ok(st) => st.dev,
            Err(e) => {
                self.skip_io(events, &path, "cannot stat", &e);
                return Ok(());
            }
        };
        let mut stack = Vec::new();
        self.visit(Arc::new(fd), path, dev, work, events, &mut stack)?;
        while let Some(top) = stack.last_mut() {
            if self.cancel.is_stopped() {
                return Ok(());
            }
            let Some((name, listed)) = top.subdirs.pop() else {
                stack.pop();
                continue;
            };
            let parent = top.dir.clone();
            let path = top.path.join(&name);
            if top.subdirs.is_empty() {
                stack.pop();
            }
            let opened = self.busy(&path, || {
                let fd = dirfd::open_subdir(parent.as_fd(), &name)?;
                let st = dirfd::fstat(fd.as_fd())?;
                Ok::<_, std::io::Error>((fd, st))
            })?;
            drop(parent);
            match opened {
                Ok((fd, st)) if st.same_file(&listed) => {
                    self.visit(Arc::new(fd), path, dev, work, events, &mut stack)?
                }
                Ok(_) => self.skip(events, &path, SkipReason::Vanished, SWAPPED.into()),
                Err(e) => self.skip_open_dir(events, &path, &e),
            }
        }
        Ok(())
    }

    /// Lists one directory, hands its files to the workers and pushes a
    /// frame for its subdirectories.
    fn visit(
        &self,
        dir: Arc<Dir>,
        path: PathBuf,
        dev: u64,
        work: &Sender<WorkItem>,
        events: &Sender<Message>,
        stack: &mut Vec<Frame>,
    ) -> Result<(), Gone> {
        let entries = self.list(&dir, &path, events)?;
        let mut subdirs = Vec::new();
        for (name, stat) in entries {
            let p = path.join(&name);
            match stat {
                Ok(stat) => {
                    let e = Entry {
                        dir: dir.clone(),
                        name,
                        stat,
                        path: p,
                    };
                    self.entry(e, dev, work, events, &mut subdirs)?
                }
                Err(e) => self.skip_io(events, &p, "cannot stat", &e),
            }
        }
        if !subdirs.is_empty() {
            subdirs.reverse();
            stack.push(Frame { dir, path, subdirs });
        }
        Ok(())
    }

    /// The entries of one directory (at most `max_dir_entries`) with their
    /// `lstat`, sorted by name for stable output.
    fn list(&self, dir: &Dir, path: &Path, events: &Sender<Message>) -> Result<Vec<Listed>, Gone> {
        let mut listing = match self.busy(path, || Listing::new(dir.as_fd()))? {
            Ok(l) => l,
            Err(e) => {
                self.skip_io(events, path, "cannot list directory", &e);
                return Ok(Vec::new());
            }
        };
        let mut names = Vec::new();
        loop {
            let name = match self.busy(path, || listing.next())? {
                None => break,
                Some(Ok(name)) => name,
                Some(Err(e)) => {
                    self.skip_io(events, path, "cannot read directory entry", &e);
                    break;
                }
            };
            if names.len() >= self.max_dir_entries {
                let detail = format!(
                    "more than {} entries; the rest of the directory was not visited",
                    self.max_dir_entries
                );
                self.skip(events, path, SkipReason::TooManyEntries, detail);
                break;
            }
            let stat = self.busy(path, || dirfd::stat_at(dir.as_fd(), &name))?;
            names.push((name, stat));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(names)
    }

    fn entry(
        &self,
        e: Entry,
        dev: u64,
        work: &Sender<WorkItem>,
        events: &Sender<Message>,
        subdirs: &mut Vec<(OsString, Stat)>,
    ) -> Result<(), Gone> {
        let st = e.stat;
        if st.is_symlink() {
            let target = self
                .busy(&e.path, || dirfd::read_link_at(e.dir.as_fd(), &e.name))?
                .map(|t| pathfmt::display(&t))
                .unwrap_or_default();
            let detail = format!("symlink to {target}; not followed");
            let attrs = attribute_names(&st);
            self.skip_with(events, &e.path, SkipReason::Symlink, detail, attrs);
        } else if st.is_dir() {
            if self.one_file_system && st.dev != dev {
                let detail = "another file system; not entered".into();
                self.skip(events, &e.path, SkipReason::SpecialFile, detail);
            } else {
                subdirs.push((e.name, st));
            }
        } else if st.is_file() {
            let _ = work.send(WorkItem {
                path: e.path,
                size: st.size,
                source: Source::Listed {
                    dir: e.dir,
                    name: e.name,
                    attrs: attribute_names(&st),
                },
            });
        } else {
            let detail = format!("{}; not opened", st.kind());
            let attrs = attribute_names(&st);
            self.skip_with(events, &e.path, SkipReason::SpecialFile, detail, attrs);
        }
        Ok(())
    }
}

/// The attribute names records carry for an entry: its `FILE_ATTRIBUTE_*`
/// bits on Windows ([`super::winfile`]).
#[cfg(windows)]
fn attribute_names(st: &Stat) -> Vec<String> {
    super::winfile::attribute_names(st.attributes)
}

/// Unix has no hidden/system attributes in a directory listing (a dot
/// file is listed and scanned like any other): none.
#[cfg(unix)]
fn attribute_names(_: &Stat) -> Vec<String> {
    Vec::new()
}
