//! Directory file descriptors: the only way the walker and the workers
//! reach files below a root. A root is opened once by path (a root the
//! user names is followed if it is a symlink); everything below it is
//! reached one name at a time relative to its parent's descriptor with
//! `openat(O_NOFOLLOW)` and `fstatat(AT_SYMLINK_NOFOLLOW)`. A name never
//! holds a `/`, so the only link the kernel could follow is the last
//! component, and `O_NOFOLLOW` refuses that one (`ELOOP`): a directory
//! renamed and replaced by a symlink between listing and opening can
//! never lead outside the root, whatever races the medium plays. (This is
//! what `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` would add for
//! multi-component paths; with one component per call plain `openat` is
//! enough and works on every kernel.)
//!
//! Listings ([`Listing`]) read a fresh descriptor of the directory with
//! `fdopendir`/`readdir`, one entry at a time, so the caller decides how
//! many it keeps.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub(crate) use std::os::fd::{AsFd, OwnedFd as Dir};

/// True when an open was refused because the last component is a
/// symlink (`O_NOFOLLOW`'s `ELOOP`).
pub(crate) fn is_link_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// True when a listed directory is no longer one (or is now a symlink).
pub(crate) fn is_swap(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP))
}

/// The facts of one directory entry that the walker decides by, from
/// `fstatat(AT_SYMLINK_NOFOLLOW)` or `fstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
}

impl Stat {
    fn from_raw(st: &libc::stat) -> Stat {
        Stat {
            mode: st.st_mode,
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
        }
    }
    fn fmt(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.fmt() == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.fmt() == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.fmt() == libc::S_IFLNK
    }
    /// Whether `other` is the same file (device and inode).
    pub fn same_file(&self, other: &Stat) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
    /// What kind of file this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self.fmt() {
            libc::S_IFIFO => "FIFO",
            libc::S_IFSOCK => "socket",
            libc::S_IFBLK => "block device",
            libc::S_IFCHR => "character device",
            libc::S_IFDIR => "directory",
            libc::S_IFLNK => "symlink",
            libc::S_IFREG => "regular file",
            _ => "special file",
        }
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A single path component: not empty, no `/`, not `.` or `..`.
fn component(name: &OsStr) -> io::Result<CString> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    cstring(b)
}

/// Retries a call interrupted by a signal.
fn retry(mut f: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by
    // nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Opens a root directory the user named, following a symlink to it.
pub(crate) fn open_root_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = cstring(path.as_os_str().as_bytes())?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: `c` is a valid C string for the duration of the call.
    retry(|| unsafe { libc::open(c.as_ptr(), flags) }).map(owned)
}

/// Opens the subdirectory `name` of `parent` without following a symlink.
pub(crate) fn open_subdir(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let c = component(name)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let dfd = parent.as_raw_fd();
    // SAFETY: a valid descriptor and C string for the duration of the call.
    retry(|| unsafe { libc::openat(dfd, c.as_ptr(), flags) }).map(owned)
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)` of `name` in `dir`.
pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Stat> {
    let c = component(name)?;
    stat_raw(dir, &c, libc::AT_SYMLINK_NOFOLLOW)
}

fn stat_raw(dir: BorrowedFd<'_>, c: &CStr, flags: libc::c_int) -> io::Result<Stat> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let dfd = dir.as_raw_fd();
    // SAFETY: a valid descriptor, C string and out pointer for the call.
    retry(|| unsafe { libc::fstatat(dfd, c.as_ptr(), &mut st, flags) })?;
    Ok(Stat::from_raw(&st))
}

/// `fstat` of an open descriptor.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    stat_raw(fd, c"", libc::AT_EMPTY_PATH)
}

/// The target of the symlink `name` in `dir`, for messages.
pub(crate) fn read_link_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<PathBuf> {
    let c = component(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its length; descriptor and name are valid.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    buf.truncate(n);
    Ok(PathBuf::from(OsString::from_vec(buf)))
}

/// Why [`open_file_at`] refused.
#[derive(Debug)]
pub(crate) enum OpenError {
    Io(io::Error),
    /// Not a regular file when opened (a FIFO, device, directory...).
    NotRegular(&'static str),
}

/// Opens the regular file `name` in `dir` for reading: no symlink
/// followed, no blocking on a FIFO, no controlling terminal; checks it is
/// a regular file by `fstat` of the open descriptor before anything is
/// read, then makes reads blocking again.
pub(crate) fn open_file_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> Result<(File, std::fs::Metadata), OpenError> {
    let c = component(name).map_err(OpenError::Io)?;
    let flags =
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    let dfd = dir.as_raw_fd();
    // SAFETY: a valid descriptor and C string for the duration of the call.
    let fd = retry(|| unsafe { libc::openat(dfd, c.as_ptr(), flags) })
        .map(owned)
        .map_err(OpenError::Io)?;
    let f = File::from(fd);
    let meta = f.metadata().map_err(OpenError::Io)?;
    if !meta.is_file() {
        return Err(OpenError::NotRegular(crate::fsutil::file_kind(
            &meta.file_type(),
        )));
    }
    let raw = f.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function owns.
    let fl = retry(|| unsafe { libc::fcntl(raw, libc::F_GETFL) }).map_err(OpenError::Io)?;
    // SAFETY: as above.
    retry(|| unsafe { libc::fcntl(raw, libc::F_SETFL, fl & !libc::O_NONBLOCK) })
        .map_err(OpenError::Io)?;
    Ok((f, meta))
}

/// The entries of one directory, read lazily from its own descriptor
/// (`.` and `..` left out).
pub(crate) struct Listing {
    dir: std::ptr::NonNull<libc::DIR>,
}

impl Listing {
    /// Starts listing `dir` (through a new descriptor of it, so `dir`
    /// itself stays usable for `openat`).
    pub fn new(dir: BorrowedFd<'_>) -> io::Result<Listing> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let dfd = dir.as_raw_fd();
        // SAFETY: a valid descriptor and a static C string.
        let fd = retry(|| unsafe { libc::openat(dfd, c".".as_ptr(), flags) })?;
        // SAFETY: fdopendir takes ownership of the descriptor on success.
        let p = unsafe { libc::fdopendir(fd) };
        match std::ptr::NonNull::new(p) {
            Some(dir) => Ok(Listing { dir }),
            None => {
                let e = io::Error::last_os_error();
                drop(owned(fd));
                Err(e)
            }
        }
    }
}

fn clear_errno() {
    // SAFETY: errno is thread-local and always writable.
    unsafe {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            *libc::__errno_location() = 0;
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            *libc::__error() = 0;
        }
    }
}

impl Iterator for Listing {
    type Item = io::Result<OsString>;

    fn next(&mut self) -> Option<io::Result<OsString>> {
        loop {
            clear_errno();
            // SAFETY: `self.dir` is an open DIR owned by this listing.
            let ent = unsafe { libc::readdir(self.dir.as_ptr()) };
            if ent.is_null() {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(0) | None => None,
                    Some(_) => Some(Err(e)),
                };
            }
            // SAFETY: readdir returned an entry whose d_name is a
            // NUL-terminated string valid until the next readdir.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            return Some(Ok(OsString::from_vec(name.to_vec())));
        }
    }
}

impl Drop for Listing {
    fn drop(&mut self) {
        // SAFETY: the DIR is open and closed only here.
        unsafe { libc::closedir(self.dir.as_ptr()) };
    }
}

// SAFETY: the DIR stream is used by one thread at a time (through &mut).
unsafe impl Send for Listing {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn walks_by_name_and_refuses_links_and_dots() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/f"), b"x").unwrap();
        std::os::unix::fs::symlink(d.path().join("sub"), d.path().join("link")).unwrap();
        let root = open_root_dir(d.path()).unwrap();
        let mut names: Vec<_> = Listing::new(root.as_fd())
            .unwrap()
            .map(|n| n.unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["link", "sub"]);
        let sub = open_subdir(root.as_fd(), OsStr::new("sub")).unwrap();
        let listed = stat_at(root.as_fd(), OsStr::new("sub")).unwrap();
        assert!(listed.is_dir() && listed.same_file(&fstat(sub.as_fd()).unwrap()));
        // O_DIRECTORY | O_NOFOLLOW on a symlink: ENOTDIR (ELOOP on some
        // systems); refused either way.
        let err = open_subdir(root.as_fd(), OsStr::new("link")).unwrap_err();
        assert!(matches!(
            err.raw_os_error(),
            Some(libc::ENOTDIR | libc::ELOOP)
        ));
        assert!(stat_at(root.as_fd(), OsStr::new("link"))
            .unwrap()
            .is_symlink());
        assert_eq!(
            read_link_at(root.as_fd(), OsStr::new("link")).unwrap(),
            d.path().join("sub")
        );
        for bad in ["..", ".", "sub/f", ""] {
            assert!(open_subdir(root.as_fd(), OsStr::new(bad)).is_err(), "{bad}");
        }
        let (mut f, meta) = open_file_at(sub.as_fd(), OsStr::new("f")).unwrap();
        assert_eq!(meta.len(), 1);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert_eq!(s, "x");
        assert!(matches!(
            open_file_at(root.as_fd(), OsStr::new("sub")),
            Err(OpenError::NotRegular("directory"))
        ));
    }

    #[test]
    fn files_open_without_following_links_or_blocking_on_fifos() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(d.path().join("f"), d.path().join("l")).unwrap();
        let fifo = CString::new(d.path().join("p").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string naming a new file in a temp dir.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let root = open_root_dir(d.path()).unwrap();
        match open_file_at(root.as_fd(), OsStr::new("l")) {
            Err(OpenError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::ELOOP)),
            other => panic!("a symlink was opened: {other:?}"),
        }
        assert!(matches!(
            open_file_at(root.as_fd(), OsStr::new("p")),
            Err(OpenError::NotRegular("FIFO"))
        ));
        let (f, _) = open_file_at(root.as_fd(), OsStr::new("f")).unwrap();
        // SAFETY: F_GETFL on an open descriptor.
        let fl = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0, "reads must block again");
    }
}
