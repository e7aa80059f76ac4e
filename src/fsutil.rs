//! Small file-system helpers every module shares, each written once:
//!
//! - [`read_capped`]: the one way kensa reads a file that a user or a
//!   medium supplies (bundles, signatures, keys, configs, rule files,
//!   packs). It opens without blocking, refuses anything but a regular
//!   file before reading a byte (a FIFO or `/dev/zero` is an error, not a
//!   hang), and never reads more than its cap.
//! - [`write_atomic`]: every state file (keys, bundles, cache entries,
//!   rule-pack metadata, reports) is written to a uniquely named temporary
//!   file beside its destination, synced, renamed over it, and the
//!   directory synced ([`sync_dir`]). A crash or a pulled stick leaves the
//!   old file or the new one, never half of one.
//! - [`lock_exclusive`]: the advisory lock files that keep two processes
//!   from changing the same state at once, held by a [`LockGuard`].
//! - [`PathError`]: an I/O error with the path it happened on.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// An I/O error and the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", crate::engine::pathfmt::show(path))]
pub struct PathError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl PathError {
    pub fn new(path: &Path, source: std::io::Error) -> PathError {
        PathError {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

/// `map_err(at(path))`: attaches `path` to an I/O error.
pub fn at(path: &Path) -> impl FnOnce(std::io::Error) -> PathError + '_ {
    move |source| PathError::new(path, source)
}

/// Why [`read_capped`] refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(
        "{}: not a regular file ({kind}); refused",
        crate::engine::pathfmt::show(path)
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: larger than {cap} bytes; refused",
        crate::engine::pathfmt::show(path)
    )]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("{}: not UTF-8 text", crate::engine::pathfmt::show(path))]
    NotText { path: PathBuf },
}

impl ReadError {
    /// The reason alone, for messages that already name the file.
    pub fn reason(&self) -> String {
        match self {
            ReadError::Io(e) => e.source.to_string(),
            ReadError::NotRegular { kind, .. } => format!("not a regular file ({kind})"),
            ReadError::TooLarge { cap, .. } => format!("larger than {cap} bytes"),
            ReadError::NotText { .. } => "not UTF-8 text".to_string(),
        }
    }

    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What kind of non-regular file `ft` is, for messages.
pub fn file_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "FIFO";
        } else if ft.is_socket() {
            return "socket";
        } else if ft.is_block_device() {
            return "block device";
        } else if ft.is_char_device() {
            return "character device";
        }
    }
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Whether opening follows a symlink at the last component of the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// The user named this path: a symlink is followed.
    Follow,
    /// A file found during a walk: a symlink is refused (ELOOP).
    NoFollow,
}

/// Opens `path` for reading without blocking (a FIFO with no writer opens
/// at once) and without becoming its controlling terminal, and checks it
/// is a regular file before anything is read; returns it with its
/// metadata from the open descriptor.
pub fn open_regular(path: &Path, links: Links) -> Result<(File, std::fs::Metadata), ReadError> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if links == Links::NoFollow {
            libc::O_NOFOLLOW
        } else {
            0
        };
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | nofollow);
    }
    // A reparse point (symlink, junction) is opened as itself and then
    // refused as not a regular file.
    #[cfg(windows)]
    if links == Links::NoFollow {
        use std::os::windows::fs::OpenOptionsExt;
        opts.custom_flags(windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT);
    }
    let f = opts.open(path).map_err(at(path))?;
    let meta = f.metadata().map_err(at(path))?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            kind: file_kind(&meta.file_type()),
        });
    }
    Ok((f, meta))
}

/// Reads a whole regular file of at most `cap` bytes. Every file kensa
/// reads on behalf of a user or from a medium goes through here.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let (f, meta) = open_regular(path, Links::Follow)?;
    let too_large = || ReadError::TooLarge {
        path: path.to_path_buf(),
        cap,
    };
    let len = meta.len();
    if len > cap {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(cap + 1).read_to_end(&mut buf).map_err(at(path))?;
    if buf.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(buf)
}

/// [`read_capped`] for UTF-8 text.
pub fn read_capped_text(path: &Path, cap: u64) -> Result<String, ReadError> {
    String::from_utf8(read_capped(path, cap)?).map_err(|_| ReadError::NotText {
        path: path.to_path_buf(),
    })
}

/// Makes every path absolute against the current directory, once, so
/// nothing later depends on the working directory.
pub fn absolute_all(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PathError> {
    paths
        .iter()
        .map(|p| std::path::absolute(p).map_err(at(p)))
        .collect()
}

/// Creates `dir` (and its parents) with mode 0700 for the last component
/// when it is new (on Windows with the SYSTEM-and-Administrators-only
/// access list, `state::windows`); an existing directory is left as it is.
#[cfg(windows)]
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    crate::state::windows::create_private_dir(dir)
}

/// Creates `dir` (and its parents) with mode 0700 for the last component
/// when it is new; an existing directory is left as it is.
#[cfg(not(windows))]
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Opens `path` for appending, creating it (mode 0640 on Unix; on Windows
/// it inherits its folder's ACL). A symbolic link (or any reparse point)
/// at `path` is refused, never followed.
pub fn open_append_nofollow(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o640).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        // FILE_FLAG_OPEN_REPARSE_POINT: the link itself is opened, and
        // refused below.
        opts.custom_flags(0x0020_0000);
    }
    let f = opts.open(path)?;
    if f.metadata()?.file_type().is_symlink() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a symbolic link or reparse point (not followed)",
        ));
    }
    Ok(f)
}

/// Writes `data` to `path` atomically and durably; `mode` sets the new
/// file's permission bits (Unix).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_parts(path, &[data], mode)
}

/// As [`write_atomic`], for content made of several parts.
pub fn write_atomic_parts(path: &Path, parts: &[&[u8]], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::findings::new_id()));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        // Windows has no mode bits: the file inherits its folder's ACL.
        #[cfg(windows)]
        let _ = mode;
        let mut f = opts.open(&tmp)?;
        for p in parts {
            f.write_all(p)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsyncs a directory, so a rename or a new entry in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    return File::open(dir)?.sync_all();
    // NTFS journals its directory changes itself; a directory cannot be
    // flushed through a plain handle there.
    #[cfg(windows)]
    return std::fs::metadata(dir).map(drop);
}

/// An exclusive advisory lock, held until this guard is dropped (the lock
/// belongs to the open file description and goes with it).
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl LockGuard {
    /// The locked file (for callers that record who holds it).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Writes this process's id into the lock file (`PID\n`), for
    /// [`lock_holder`] to name who holds it.
    pub fn record_pid(&self) -> std::io::Result<()> {
        let text = format!("{}\n", std::process::id());
        self.file.set_len(0)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt as _;
            self.file.write_all_at(text.as_bytes(), 0)
        }
        #[cfg(windows)]
        {
            use std::os::windows::fs::FileExt as _;
            self.file.seek_write(text.as_bytes(), 0).map(drop)
        }
    }
}

/// Who holds the exclusive lock on a lock file, as [`lock_holder`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockHolder {
    /// No lock file, or nobody holds its lock.
    Free,
    /// Held by a process; its id when known (the kernel's lock table, else
    /// what the holder wrote with [`LockGuard::record_pid`]).
    Held { pid: Option<u32> },
    /// The lock table (`/proc/locks`) could not be read.
    Unknown,
}

/// Most bytes of `/proc/locks` read.
#[cfg(unix)]
const MAX_PROC_LOCKS: u64 = 8 << 20;

/// Whether someone holds the `flock` on `path`, found in the kernel's lock
/// table (`/proc/locks`) by the file's device and inode: it takes no lock
/// and creates nothing (the file is opened read-only if it exists).
#[cfg(unix)]
pub fn lock_holder(path: &Path) -> LockHolder {
    let (mut f, meta) = match open_regular(path, Links::NoFollow) {
        Ok(x) => x,
        Err(e) if e.is_not_found() => return LockHolder::Free,
        Err(_) => return LockHolder::Unknown,
    };
    let mut recorded = String::new();
    let _ = (&mut f).take(32).read_to_string(&mut recorded);
    let recorded = recorded.trim().parse::<u32>().ok();
    let mut table = String::new();
    let read =
        File::open("/proc/locks").and_then(|t| t.take(MAX_PROC_LOCKS).read_to_string(&mut table));
    if read.is_err() {
        return LockHolder::Unknown;
    }
    match flock_writer(&table, &meta) {
        None => LockHolder::Free,
        Some(pid) => LockHolder::Held {
            pid: pid.or(recorded),
        },
    }
}

/// The holder of an exclusive `flock` on the file of `meta` in the text
/// of `/proc/locks` (`N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF`,
/// device numbers in hex): `Some(pid)` when listed (`None` inside when
/// the pid is not visible here).
#[cfg(unix)]
fn flock_writer(table: &str, meta: &std::fs::Metadata) -> Option<Option<u32>> {
    use std::os::unix::fs::MetadataExt as _;
    let dev = meta.dev() as libc::dev_t;
    let want = format!(
        "{:02x}:{:02x}:{}",
        libc::major(dev),
        libc::minor(dev),
        meta.ino()
    );
    table.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Waiting requests are listed as `N: -> FLOCK ...`.
        match f.as_slice() {
            [_, "FLOCK", _, "WRITE", pid, id, ..] if *id == want => {
                Some(pid.parse::<u32>().ok().filter(|p| *p > 0))
            }
            _ => None,
        }
    })
}

/// Opens (creating) `path` and takes an exclusive `flock` on it, held until
/// the returned guard is dropped. `wait` None blocks until the lock is free;
/// `Some(d)` retries for up to `d` and returns `Ok(None)` if another
/// process still holds it. Without Unix locks the guard holds no lock.
pub fn lock_exclusive(
    path: &Path,
    wait: Option<std::time::Duration>,
) -> std::io::Result<Option<LockGuard>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        let deadline = wait.map(|w| std::time::Instant::now() + w);
        let flags = if wait.is_some() {
            libc::LOCK_EX | libc::LOCK_NB
        } else {
            libc::LOCK_EX
        };
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is shared.
            if unsafe { libc::flock(f.as_raw_fd(), flags) } == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) => {}
                _ => return Err(err),
            }
            if deadline.is_none_or(|d| std::time::Instant::now() >= d) {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    #[cfg(windows)]
    if !lock_windows(&f, wait)? {
        return Ok(None);
    }
    Ok(Some(LockGuard { file: f }))
}

/// `LockFileEx` on the whole file (std's `File::lock`): `wait` None
/// blocks, `Some(d)` retries for up to `d`; false when still held.
#[cfg(windows)]
fn lock_windows(f: &File, wait: Option<std::time::Duration>) -> std::io::Result<bool> {
    let Some(w) = wait else {
        f.lock()?;
        return Ok(true);
    };
    let deadline = std::time::Instant::now() + w;
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether someone holds the lock on `path` (Windows: a shared lock is
/// tried and dropped at once; the holder's pid is not known, since a
/// locked file cannot be read by another handle).
#[cfg(windows)]
pub fn lock_holder(path: &Path) -> LockHolder {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LockHolder::Free,
        Err(_) => return LockHolder::Unknown,
    };
    match f.try_lock_shared() {
        Ok(()) => {
            let _ = f.unlock();
            LockHolder::Free
        }
        Err(std::fs::TryLockError::WouldBlock) => LockHolder::Held { pid: None },
        Err(std::fs::TryLockError::Error(_)) => LockHolder::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic_parts(&p, &[b"tw", b"o"], 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_held_lock_is_busy_until_released() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let held = lock_exclusive(&p, None).unwrap().unwrap();
        let short = Some(std::time::Duration::from_millis(100));
        // flock locks belong to the open file: a second open conflicts.
        assert!(lock_exclusive(&p, short).unwrap().is_none());
        drop(held);
        assert!(lock_exclusive(&p, short).unwrap().is_some());
    }

    #[test]
    fn lock_holder_names_this_process_without_taking_or_creating() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        assert_eq!(lock_holder(&p), LockHolder::Free);
        assert!(!p.exists(), "lock_holder created the file");
        let held = lock_exclusive(&p, None).unwrap().unwrap();
        held.record_pid().unwrap();
        let me = std::process::id();
        assert_eq!(lock_holder(&p), LockHolder::Held { pid: Some(me) });
        assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("{me}\n"));
        drop(held);
        assert_eq!(lock_holder(&p), LockHolder::Free);
        // Looking took no lock: it can be taken at once.
        let short = Some(std::time::Duration::from_millis(10));
        assert!(lock_exclusive(&p, short).unwrap().is_some());
    }

    #[test]
    fn capped_reads_refuse_fifos_and_large_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_capped(&p, 5).unwrap(), b"12345");
        assert!(matches!(
            read_capped(&p, 4),
            Err(ReadError::TooLarge { cap: 4, .. })
        ));
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string naming a new file in a temp dir.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_capped(&fifo, 100),
            Err(ReadError::NotRegular { kind: "FIFO", .. })
        ));
        assert!(matches!(
            read_capped(d.path(), 100),
            Err(ReadError::NotRegular {
                kind: "directory",
                ..
            })
        ));
        assert!(read_capped(&d.path().join("missing"), 1)
            .unwrap_err()
            .is_not_found());
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_capped_text(&p, 10),
            Err(ReadError::NotText { .. })
        ));
    }
}
