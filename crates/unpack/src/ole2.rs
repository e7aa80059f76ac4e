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
mod vba;

use std::collections::HashSet;
use std::io::{self, Cursor, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

const MAGIC: &[u8; 8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";
/// `.msg`: an attachment's storage, its data and its file names.
const ATTACH_PREFIX: &str = "__attach_version1.0_#";
const ATTACH_DATA: &str = "__substg1.0_37010102";
const ATTACH_NAMES: [&str; 4] = [
    "__substg1.0_3707001F",
    "__substg1.0_3707001E",
    "__substg1.0_3704001F",
    "__substg1.0_3704001E",
];
/// Largest attachment name or VBA `dir` stream read.
const SMALL_STREAM: u64 = 1 << 20;

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
    fn cfb_path(&self) -> PathBuf {
        let mut p = PathBuf::from("/");
        p.extend(&self.path);
        p
    }

    fn parent(&self) -> &[String] {
        self.path.split_last().map(|(_, p)| p).unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.path.last().map(String::as_str).unwrap_or_default()
    }
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

/// The raw bytes of a stream, at most `max` of them.
fn read_raw(cf: &mut Cfb<'_>, path: &[String], max: u64) -> io::Result<Vec<u8>> {
    let mut p = PathBuf::from("/");
    p.extend(path);
    guarded(|| {
        let mut out = Vec::new();
        cf.open_stream(&p)?.take(max).read_to_end(&mut out)?;
        Ok(out)
    })
}

/// Case-insensitive key of a name in its storage (CFB compares names so).
fn key(parent: &[String], name: &str) -> (Vec<String>, String) {
    let up = |s: &str| s.to_uppercase();
    (parent.iter().map(|s| up(s)).collect(), up(name))
}

impl Walker<'_, '_> {
    pub(crate) fn ole2(&mut self, data: &[u8], depth: u32) {
        let mut cf = match guarded(|| cfb::CompoundFile::open(Cursor::new(data))) {
            Ok(cf) => cf,
            Err(e) => return self.skip(Gap::Corrupt, format!("ole2: {e}")),
        };
        let entries = self.ole2_entries(&cf);
        let msi = entries.iter().any(|e| msi::is_table_name(e.name()));
        let attach_names = self.ole2_attachment_names(&mut cf, &entries);
        for e in entries.iter().filter(|e| e.stream) {
            if self.stopped || !self.admit() {
                return;
            }
            let name = self.ole2_member_name(e, msi, &attach_names);
            self.named(name, |w| w.ole2_stream(&mut cf, e, depth));
        }
        for e in entries.iter().filter(|e| e.stream) {
            if self.stopped {
                return;
            }
            if e.name().eq_ignore_ascii_case("dir") {
                self.ole2_vba(&mut cf, &entries, e, data.len() as u64, depth);
            }
        }
    }

    /// Every storage and stream below the root, storages before what they
    /// hold; names that cannot be read by path are reported here.
    fn ole2_entries(&mut self, cf: &Cfb<'_>) -> Vec<Entry> {
        let bound = self.limits.max_members.saturating_mul(4);
        let mut out: Vec<Entry> = Vec::new();
        let mut seen = HashSet::new();
        let mut todo: Vec<Vec<String>> = vec![Vec::new()];
        while let Some(dir) = todo.pop() {
            let mut p = PathBuf::from("/");
            p.extend(&dir);
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
                if out.len() as u64 >= bound {
                    self.skip(
                        Gap::Limit,
                        format!("ole2: more than {bound} entries; the rest not listed"),
                    );
                    return out;
                }
                let mut path = dir.clone();
                path.push(name);
                let e = Entry { path, stream };
                if !self.ole2_reachable(&e, &mut seen) {
                    continue;
                }
                if !stream {
                    todo.push(e.path.clone());
                }
                out.push(e);
            }
        }
        out
    }

    /// False (after a gap) for an entry the path API cannot reach: named
    /// `.` or `..`, or a second entry of the same name in its storage.
    fn ole2_reachable(&mut self, e: &Entry, seen: &mut HashSet<(Vec<String>, String)>) -> bool {
        let why = if e.name() == "." || e.name() == ".." || e.name().is_empty() {
            "an entry named \"\", \".\" or \"..\""
        } else if !seen.insert(key(e.parent(), e.name())) {
            "a second entry of the same name in one storage"
        } else {
            return true;
        };
        let name = e.path.join("/").into_bytes();
        self.named(name, |w| {
            w.skip(Gap::Corrupt, format!("ole2: {why}: not read"))
        });
        false
    }

    /// The member name of a stream: its path; MSI names decoded; an
    /// `.msg` attachment's data named by the attachment's file name.
    fn ole2_member_name(
        &self,
        e: &Entry,
        msi: bool,
        attach_names: &[(Vec<String>, String)],
    ) -> Vec<u8> {
        if e.name().eq_ignore_ascii_case(ATTACH_DATA) {
            if let Some((_, n)) = attach_names.iter().find(|(p, _)| p == e.parent()) {
                let mut name = e.parent().join("/");
                name.push('/');
                name.push_str(n);
                return name.into_bytes();
            }
        }
        if msi {
            let decoded: Vec<String> = e.path.iter().map(|n| msi::decode(n)).collect();
            return decoded.join("/").into_bytes();
        }
        e.path.join("/").into_bytes()
    }

    /// File names of `.msg` attachments: (storage path, name) for every
    /// attachment storage that stores one.
    fn ole2_attachment_names(
        &mut self,
        cf: &mut Cfb<'_>,
        entries: &[Entry],
    ) -> Vec<(Vec<String>, String)> {
        let mut out = Vec::new();
        for e in entries.iter().filter(|e| e.stream) {
            let parent = e.parent();
            let is_attach = parent.last().is_some_and(|p| p.starts_with(ATTACH_PREFIX));
            let Some(rank) = ATTACH_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(e.name()))
            else {
                continue;
            };
            if !is_attach {
                continue;
            }
            let Ok(raw) = read_raw(cf, &e.path, SMALL_STREAM) else {
                continue;
            };
            let name = if rank % 2 == 0 {
                vba::utf16le(&raw)
            } else {
                raw.iter().map(|&b| char::from(b)).collect()
            };
            let name = name.trim_end_matches('\0').to_string();
            if name.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(p, _)| p == parent) {
                // Long names (3707) come first in ATTACH_NAMES; keep them.
                Some((_, (r, _))) if *r <= rank => {}
                Some(slot) => slot.1 = (rank, name),
                None => out.push((parent.to_vec(), (rank, name))),
            }
        }
        out.into_iter().map(|(p, (_, n))| (p, n)).collect()
    }

    /// Read one stream through the limits and visit it.
    fn ole2_stream(&mut self, cf: &mut Cfb<'_>, e: &Entry, depth: u32) {
        let path = e.cfb_path();
        let mut stream = match guarded(|| cf.open_stream(&path)) {
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

impl Walker<'_, '_> {
    /// The VBA project whose `dir` stream is `dir`: each module's source,
    /// decompressed, as `$vba/<module name>`.
    fn ole2_vba(
        &mut self,
        cf: &mut Cfb<'_>,
        entries: &[Entry],
        dir: &Entry,
        file_len: u64,
        depth: u32,
    ) {
        let at = dir.path.join("/");
        let raw = match read_raw(cf, &dir.path, file_len) {
            Ok(r) => r,
            Err(e) => return self.skip(Gap::Corrupt, format!("vba project {at}: {e}")),
        };
        let (text, err) = vba::decompress(&raw, (SMALL_STREAM * 16) as usize);
        if let Some(e) = err {
            self.skip(Gap::Corrupt, format!("vba project {at}: {e}"));
        }
        let (modules, err) = vba::modules(&text);
        if let Some(e) = err {
            self.skip(Gap::Corrupt, format!("vba project {at}: {e}"));
        }
        for m in modules {
            if self.stopped || !self.admit() {
                return;
            }
            let mut name = b"$vba/".to_vec();
            name.extend(m.display_name());
            self.named(name, |w| {
                w.ole2_vba_module(cf, entries, dir.parent(), &m, file_len, depth)
            });
        }
    }

    /// One module's source: its stream from the module's text offset on,
    /// decompressed up to the member cap.
    fn ole2_vba_module(
        &mut self,
        cf: &mut Cfb<'_>,
        entries: &[Entry],
        storage: &[String],
        m: &vba::Module,
        file_len: u64,
        depth: u32,
    ) {
        let want = m.stream_name().to_uppercase();
        let Some(e) = entries
            .iter()
            .find(|e| e.stream && e.parent() == storage && e.name().to_uppercase() == want)
        else {
            return self.skip(
                Gap::Corrupt,
                format!("vba module stream {want:?} not in the project"),
            );
        };
        let raw = match read_raw(cf, &e.path, file_len) {
            Ok(r) => r,
            Err(err) => return self.skip(Gap::Corrupt, format!("vba module: {err}")),
        };
        let Some(src) = usize::try_from(m.offset).ok().and_then(|o| raw.get(o..)) else {
            return self.skip(
                Gap::Corrupt,
                format!("vba module: source offset {} past the stream", m.offset),
            );
        };
        let (out, err) = vba::decompress(src, self.cap());
        let err = err.map(|e| e.to_string());
        self.decoded(out, src.len() as u64, err, depth, "vba module");
    }
}

#[cfg(test)]
mod tests;
