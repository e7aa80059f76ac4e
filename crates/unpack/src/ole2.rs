//! OLE2 compound files (`.doc .xls .ppt .msi .msg`, `vbaProject.bin`):
//! every stream is a member named by its path inside the file
//! (`Macros/VBA/dir`, `\x05SummaryInformation`: the stored UTF-16 names as
//! UTF-8, control characters kept for the caller to escape). On top of the
//! streams: the source of every VBA module, decompressed (module `vba`,
//! MS-OVBA) and reported as `$vba/<module name>`; MSI stream names decoded
//! (module `msi`: `Binary.foo`, `cab1.cab`, tables as `!_Tables`); and an
//! Outlook `.msg` attachment's data stream named
//! `__attach_version1.0_#XXXXXXXX/<attachment file name>` when the
//! attachment stores its name (embedded messages are storages below it and
//! are walked like the rest).
//!
//! The sector tables are read by the `cfb` crate (mdsteele/rust-cfb, kept
//! up to date, permissive by default): it validates the FAT (no sector
//! pointed to twice, so no FAT cycle), the DIFAT and directory chains (no
//! repeated sector) and the directory tree (no loop) when the file is
//! opened, and reads nothing past the file's length. It had panics on
//! hostile input in the past (mdsteele/rust-cfb issues 16 and 18, fixed
//! since), so every call into it runs under `catch_unwind` and a caught
//! panic is a `corrupt` gap. What it cannot tell us is kensa's: storage
//! names `.`/`..` (its path API would resolve them) and two entries with
//! the same name in one storage (only one is reachable by path) are gaps,
//! not silently skipped streams; entries listed are bounded by the member
//! limit.

mod msi;
mod project;
mod vba;

use std::collections::HashMap;
use std::io::{self, Cursor, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

const MAGIC: &[u8; 8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";
/// `.msg`: an attachment's storage, its data and its file names (long
/// before short, UTF-16 before 8-bit).
const ATTACH_PREFIX: &str = "__attach_version1.0_#";
const ATTACH_DATA: &str = "__substg1.0_37010102";
const ATTACH_NAMES: [&str; 4] = [
    "__substg1.0_3707001F",
    "__substg1.0_3707001E",
    "__substg1.0_3704001F",
    "__substg1.0_3704001E",
];
/// Longest attachment file name read.
const NAME_MAX: u64 = 4096;
/// Storages nested deeper than this are not listed (an `.msg` nests an
/// attachment and its embedded message per level; real files stay far
/// below).
const MAX_STORAGE_DEPTH: usize = 64;

type Cfb<'d> = cfb::CompoundFile<Cursor<&'d [u8]>>;

/// Recognise an OLE2 compound file by its signature at offset 0.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    data.starts_with(MAGIC).then_some(Found {
        kind: ContainerKind::Ole2,
        offset: 0,
    })
}

/// One storage or stream: the names from the root down.
struct Entry {
    path: Vec<String>,
    stream: bool,
}

impl Entry {
    fn parent(&self) -> &[String] {
        self.path.split_last().map(|(_, p)| p).unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.path.last().map(String::as_str).unwrap_or_default()
    }
}

/// The path API's form of a list of names.
fn cfb_path(names: &[String]) -> PathBuf {
    let mut p = PathBuf::from("/");
    p.extend(names);
    p
}

/// Case-insensitive key of a name in its storage (CFB compares names so).
fn key(parent: &[String], name: &str) -> (Vec<String>, String) {
    let up = |s: &str| s.to_uppercase();
    (parent.iter().map(|s| up(s)).collect(), up(name))
}

/// Run a call into `cfb`, turning a panic into an error.
fn guarded<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the compound-file reader failed on this input",
        ))
    })
}

/// Why a read beside the members (a name, a VBA stream) failed.
enum SideError {
    /// The side-read budget is spent.
    Budget,
    Io(io::Error),
}

/// An open compound file and its listed entries.
struct Doc<'d> {
    cf: Cfb<'d>,
    entries: Vec<Entry>,
    /// `key(parent, name)` → index in `entries`.
    index: HashMap<(Vec<String>, String), usize>,
    /// Bytes still allowed for reads the walker's limits do not see
    /// (attachment names, VBA `dir` streams and module streams before
    /// decompression): streams may share sectors, so without it a small
    /// file could make these reads repeat without end.
    side_budget: u64,
}

impl Doc<'_> {
    /// The entry `name` (any case) in storage `parent`.
    fn find(&self, parent: &[String], name: &str) -> Option<&Entry> {
        self.index
            .get(&key(parent, name))
            .and_then(|&i| self.entries.get(i))
    }

    /// The raw bytes of a stream, at most `max` of them, charged to the
    /// side-read budget.
    fn raw(&mut self, path: &[String], max: u64) -> Result<Vec<u8>, SideError> {
        if self.side_budget == 0 {
            return Err(SideError::Budget);
        }
        let max = max.min(self.side_budget);
        let p = cfb_path(path);
        let cf = &mut self.cf;
        let out = guarded(|| {
            let mut out = Vec::new();
            cf.open_stream(&p)?.take(max).read_to_end(&mut out)?;
            Ok(out)
        })
        .map_err(SideError::Io)?;
        self.side_budget = self.side_budget.saturating_sub(out.len() as u64);
        Ok(out)
    }
}

impl Walker<'_, '_> {
    pub(crate) fn ole2(&mut self, data: &[u8], depth: u32) {
        let cf = match guarded(|| cfb::CompoundFile::open(Cursor::new(data))) {
            Ok(cf) => cf,
            Err(e) => return self.skip(Gap::Corrupt, format!("ole2: {e}")),
        };
        let mut doc = Doc {
            cf,
            entries: Vec::new(),
            index: HashMap::new(),
            side_budget: (data.len() as u64)
                .saturating_mul(4)
                .saturating_add(1 << 20),
        };
        self.ole2_entries(&mut doc);
        let msi = doc.entries.iter().any(|e| msi::is_table_name(e.name()));
        let attach_names = self.ole2_attachment_names(&mut doc);
        for i in 0..doc.entries.len() {
            if !doc.entries[i].stream {
                continue;
            }
            if self.stopped || !self.admit() {
                return;
            }
            let e = &doc.entries[i];
            let name = match attach_names.get(e.parent()) {
                Some(n) if e.name().eq_ignore_ascii_case(ATTACH_DATA) => {
                    let mut p = e.parent().to_vec();
                    p.push(n.clone());
                    p.join("/").into_bytes()
                }
                _ if msi => {
                    let decoded: Vec<String> = e.path.iter().map(|n| msi::decode(n)).collect();
                    decoded.join("/").into_bytes()
                }
                _ => e.path.join("/").into_bytes(),
            };
            let path = cfb_path(&e.path);
            self.named(name, |w| w.ole2_stream(&mut doc.cf, &path, depth));
        }
        self.ole2_projects(&mut doc, depth);
    }

    /// List every storage and stream below the root into `doc`, storages
    /// before what they hold; entries that cannot be read by path, and
    /// listing limits, are reported here.
    fn ole2_entries(&mut self, doc: &mut Doc<'_>) {
        let bound = self.limits.max_members.saturating_mul(4);
        let mut todo: Vec<Vec<String>> = vec![Vec::new()];
        while let Some(dir) = todo.pop() {
            let p = cfb_path(&dir);
            let cf = &doc.cf;
            let listed = guarded(|| {
                Ok(cf
                    .read_storage(&p)?
                    .map(|e| (e.name().to_string(), e.is_stream()))
                    .collect::<Vec<_>>())
            });
            let children = match listed {
                Ok(c) => c,
                Err(e) => {
                    self.skip(Gap::Corrupt, format!("ole2 storage {p:?}: {e}"));
                    continue;
                }
            };
            for (name, stream) in children {
                if doc.entries.len() as u64 >= bound {
                    return self.skip(
                        Gap::Limit,
                        format!("ole2: more than {bound} entries; the rest not listed"),
                    );
                }
                let mut path = dir.clone();
                path.push(name);
                let e = Entry { path, stream };
                if !self.ole2_reachable(&e, doc) {
                    continue;
                }
                if !stream {
                    todo.push(e.path.clone());
                }
                doc.entries.push(e);
            }
        }
    }

    /// False (after a gap) for an entry the path API cannot reach (named
    /// `.` or `..`, or a second entry of the same name in its storage) or
    /// that is nested too deep; true after indexing it otherwise.
    fn ole2_reachable(&mut self, e: &Entry, doc: &mut Doc<'_>) -> bool {
        let k = key(e.parent(), e.name());
        let (gap, why) = if e.name() == "." || e.name() == ".." || e.name().is_empty() {
            (Gap::Corrupt, "an entry named \"\", \".\" or \"..\"")
        } else if doc.index.contains_key(&k) {
            (
                Gap::Corrupt,
                "a second entry of the same name in one storage",
            )
        } else if e.path.len() > MAX_STORAGE_DEPTH {
            (Gap::Limit, "storages nested deeper than 64")
        } else {
            doc.index.insert(k, doc.entries.len());
            return true;
        };
        let name = e.path.join("/").into_bytes();
        self.named(name, |w| w.skip(gap, format!("ole2: {why}: not read")));
        false
    }

    /// File names of `.msg` attachments by attachment storage, for every
    /// attachment storage that stores one.
    fn ole2_attachment_names(&mut self, doc: &mut Doc<'_>) -> HashMap<Vec<String>, String> {
        let storages: Vec<Vec<String>> = doc
            .entries
            .iter()
            .filter(|e| !e.stream && e.name().starts_with(ATTACH_PREFIX))
            .map(|e| e.path.clone())
            .collect();
        let mut out = HashMap::new();
        for storage in storages {
            for (rank, stream) in ATTACH_NAMES.iter().enumerate() {
                let Some(path) = doc.find(&storage, stream).map(|e| e.path.clone()) else {
                    continue;
                };
                let raw = match doc.raw(&path, NAME_MAX) {
                    Ok(r) => r,
                    Err(e) => {
                        self.ole2_side_error(&path, e);
                        continue;
                    }
                };
                let name = if rank % 2 == 0 {
                    vba::utf16le(&raw)
                } else {
                    raw.iter().map(|&b| char::from(b)).collect()
                };
                let name = name.trim_end_matches('\0');
                if !name.is_empty() {
                    out.insert(storage, name.to_string());
                    break;
                }
            }
        }
        out
    }

    /// Report a failed side read of the stream at `path`.
    fn ole2_side_error(&mut self, path: &[String], e: SideError) {
        let at = path.join("/");
        match e {
            SideError::Budget => self.skip(
                Gap::Limit,
                format!("ole2: {at} not read: streams read more often than the file allows"),
            ),
            SideError::Io(e) => self.skip(Gap::Corrupt, format!("ole2 stream {at}: {e}")),
        }
    }

    /// Read one stream through the limits and visit it.
    fn ole2_stream(&mut self, cf: &mut Cfb<'_>, path: &std::path::Path, depth: u32) {
        let mut stream = match guarded(|| cf.open_stream(path)) {
            Ok(s) => s,
            Err(err) => return self.skip(Gap::Corrupt, format!("ole2 stream: {err}")),
        };
        // Streams are stored as they are: no ratio to judge per member.
        let read = panic::catch_unwind(AssertUnwindSafe(|| {
            self.read_member(&mut stream, &|| u64::MAX)
        }));
        match read {
            Ok((out, end)) => self.finish(out, end, depth, "ole2 stream"),
            Err(_) => self.skip(
                Gap::Corrupt,
                "ole2 stream: the compound-file reader failed on this input".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
