//! Directory handles on Windows: the walker's and the workers' only way
//! to reach files below a root, with the same interface as the Unix
//! `dirfd` module. A directory is held open (`FILE_FLAG_BACKUP_SEMANTICS`)
//! without `FILE_SHARE_DELETE` for as long as something below it is still
//! to be visited, so it cannot be renamed or replaced meanwhile; every
//! entry below it is opened by its `\\?\` long path (no `MAX_PATH` limit,
//! no name rewriting) with `FILE_FLAG_OPEN_REPARSE_POINT`, and an entry
//! that is a reparse point (symlink, junction, mount point) is refused,
//! never followed. Files are read with `ReadFile` through `std::fs::File`
//! (no memory maps). [`Stat`] carries the volume serial number and file
//! index (the identity a swapped directory is caught by) and the
//! attribute bits.
//!
//! A file's alternate data streams are listed on its open handle
//! (`GetFileInformationByHandleEx(FileStreamInfo)`, [`stream_info`]) and
//! each is opened relative to that handle (`NtOpenFile` with the handle as
//! root and `:name:$DATA` as the name, [`open_stream`]), never by a path
//! resolved again; only on a volume that says it holds named streams
//! (`FILE_NAMED_STREAMS`, asked once per directory opened).

use super::winfile;
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle};
use std::path::{Component, Path, PathBuf};
use windows_sys::Win32::Foundation::{
    RtlNtStatusToDosError, ERROR_DIRECTORY, ERROR_HANDLE_EOF, ERROR_INVALID_NAME, ERROR_MORE_DATA,
    ERROR_STOPPED_ON_SYMLINK, HANDLE, OBJ_CASE_INSENSITIVE, UNICODE_STRING,
};
use windows_sys::Win32::Storage::FileSystem::{
    FileStreamInfo, GetFileInformationByHandle, GetFileInformationByHandleEx,
    GetVolumeInformationByHandleW, BY_HANDLE_FILE_INFORMATION, FILE_ATTRIBUTE_DEVICE,
    FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_FLAG_OPEN_REPARSE_POINT, FILE_LIST_DIRECTORY, FILE_READ_ATTRIBUTES, FILE_READ_DATA,
    FILE_SHARE_READ, FILE_SHARE_WRITE, SYNCHRONIZE,
};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

/// The facts of one directory entry that the walker decides by, from
/// `GetFileInformationByHandle` on a handle that did not follow links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// `FILE_ATTRIBUTE_*` bits.
    pub attributes: u32,
    /// The volume serial number.
    pub dev: u64,
    /// The file index on that volume.
    pub ino: u64,
    pub size: u64,
}

impl Stat {
    fn from_info(i: &BY_HANDLE_FILE_INFORMATION) -> Stat {
        Stat {
            attributes: i.dwFileAttributes,
            dev: u64::from(i.dwVolumeSerialNumber),
            ino: (u64::from(i.nFileIndexHigh) << 32) | u64::from(i.nFileIndexLow),
            size: (u64::from(i.nFileSizeHigh) << 32) | u64::from(i.nFileSizeLow),
        }
    }
    fn has(&self, bit: u32) -> bool {
        self.attributes & bit != 0
    }
    pub fn is_symlink(&self) -> bool {
        self.has(FILE_ATTRIBUTE_REPARSE_POINT)
    }
    pub fn is_dir(&self) -> bool {
        !self.is_symlink() && self.has(FILE_ATTRIBUTE_DIRECTORY)
    }
    pub fn is_file(&self) -> bool {
        !self.is_symlink() && !self.has(FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_DEVICE)
    }
    /// Whether `other` is the same file (volume and file index).
    pub fn same_file(&self, other: &Stat) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
    /// What kind of file this is, for messages.
    pub fn kind(&self) -> &'static str {
        if self.is_symlink() {
            "reparse point"
        } else if self.is_dir() {
            "directory"
        } else if self.has(FILE_ATTRIBUTE_DEVICE) {
            "device"
        } else {
            "regular file"
        }
    }
}

/// An open directory and the long path it was opened by.
#[derive(Debug)]
pub(crate) struct Dir {
    path: PathBuf,
    handle: File,
    /// Whether its volume can hold named streams.
    named_streams: bool,
}

/// A borrowed [`Dir`], what the functions below take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DirRef<'a>(&'a Dir);

/// Borrows a directory handle (`as_fd` for the same spelling as Unix).
pub(crate) trait AsFd {
    fn as_fd(&self) -> DirRef<'_>;
}

impl AsFd for Dir {
    fn as_fd(&self) -> DirRef<'_> {
        DirRef(self)
    }
}

fn win_error(code: u32) -> io::Error {
    io::Error::from_raw_os_error(i32::try_from(code).unwrap_or(i32::MAX))
}

/// True when an open was refused because the entry is a reparse point
/// (what `ELOOP` means on Unix).
pub(crate) fn is_link_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(ERROR_STOPPED_ON_SYMLINK as i32)
}

/// True when a listed directory is no longer one (or now a link).
pub(crate) fn is_swap(e: &io::Error) -> bool {
    is_link_refusal(e) || e.raw_os_error() == Some(ERROR_DIRECTORY as i32)
}

/// `name` as one component: no separator, no `.`/`..`, no drive prefix.
fn child(dir: DirRef<'_>, name: &OsStr) -> io::Result<PathBuf> {
    let mut comps = Path::new(name).components();
    match (comps.next(), comps.next()) {
        (Some(Component::Normal(n)), None) if n == name => Ok(dir.0.path.join(name)),
        _ => Err(win_error(ERROR_INVALID_NAME)),
    }
}

/// The `\\?\` form of `path` (absolute, verbatim), which lifts the
/// `MAX_PATH` limit and stops Win32 from rewriting names such as `CON`,
/// `aux.txt` or a trailing dot.
pub(crate) fn long_path(path: &Path) -> io::Result<PathBuf> {
    use std::path::Prefix;
    let abs = std::path::absolute(path)?;
    let mut comps = abs.components();
    let Some(Component::Prefix(prefix)) = comps.next() else {
        return Ok(abs);
    };
    let mut out = match prefix.kind() {
        Prefix::Verbatim(_) | Prefix::VerbatimUNC(..) | Prefix::VerbatimDisk(_) => {
            return Ok(abs);
        }
        Prefix::UNC(server, share) => {
            let mut o = OsString::from(r"\\?\UNC\");
            o.push(server);
            o.push(r"\");
            o.push(share);
            o
        }
        Prefix::Disk(_) | Prefix::DeviceNS(_) => {
            let mut o = OsString::from(r"\\?\");
            o.push(prefix.as_os_str());
            o
        }
    };
    let mut sep = false;
    for c in comps {
        match c {
            Component::RootDir => out.push(r"\"),
            Component::Normal(n) => {
                if sep {
                    out.push(r"\");
                }
                out.push(n);
                sep = true;
            }
            Component::Prefix(_) | Component::CurDir | Component::ParentDir => {
                return Err(win_error(ERROR_INVALID_NAME));
            }
        }
    }
    Ok(PathBuf::from(out))
}

fn info(f: &File) -> io::Result<Stat> {
    // SAFETY: an all-zero BY_HANDLE_FILE_INFORMATION is a valid value.
    let mut i: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: a handle owned by `f` and a pointer to a live struct.
    if unsafe { GetFileInformationByHandle(f.as_raw_handle(), &mut i) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Stat::from_info(&i))
}

fn open_dir_handle(path: &Path, follow: bool) -> io::Result<File> {
    let mut flags = FILE_FLAG_BACKUP_SEMANTICS;
    if !follow {
        flags |= FILE_FLAG_OPEN_REPARSE_POINT;
    }
    OpenOptions::new()
        .access_mode(FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .custom_flags(flags)
        .open(path)
}

fn checked_dir(path: PathBuf, handle: File) -> io::Result<Dir> {
    let st = info(&handle)?;
    if st.is_symlink() {
        return Err(win_error(ERROR_STOPPED_ON_SYMLINK));
    }
    if !st.is_dir() {
        return Err(win_error(ERROR_DIRECTORY));
    }
    Ok(dir(path, handle))
}

/// A directory and whether its volume holds named streams
/// ([`winfile::holds_named_streams`]).
fn dir(path: PathBuf, handle: File) -> Dir {
    let mut flags = 0u32;
    // SAFETY: a handle owned by `handle`; every buffer is null with
    // length 0 except the flags, a live u32.
    let ok = unsafe {
        GetVolumeInformationByHandleW(
            handle.as_raw_handle(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut flags,
            std::ptr::null_mut(),
            0,
        )
    };
    Dir {
        path,
        handle,
        named_streams: winfile::holds_named_streams((ok != 0).then_some(flags)),
    }
}

/// Opens a directory the user named (links in its path are followed).
pub(crate) fn open_root_dir(path: &Path) -> io::Result<Dir> {
    let long = long_path(path)?;
    let handle = open_dir_handle(&long, true)?;
    let st = info(&handle)?;
    if !st.has(FILE_ATTRIBUTE_DIRECTORY) {
        return Err(win_error(ERROR_DIRECTORY));
    }
    Ok(dir(long, handle))
}

/// Opens the subdirectory `name` of `parent`; a reparse point is refused.
pub(crate) fn open_subdir(parent: DirRef<'_>, name: &OsStr) -> io::Result<Dir> {
    let path = child(parent, name)?;
    let handle = open_dir_handle(&path, false)?;
    checked_dir(path, handle)
}

/// The identity of `name` in `dir`, without following a link.
pub(crate) fn stat_at(dir: DirRef<'_>, name: &OsStr) -> io::Result<Stat> {
    let path = child(dir, name)?;
    let f = OpenOptions::new()
        .access_mode(FILE_READ_ATTRIBUTES)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(&path)?;
    info(&f)
}

/// The identity of an open directory.
pub(crate) fn fstat(dir: DirRef<'_>) -> io::Result<Stat> {
    info(&dir.0.handle)
}

/// The target of the reparse point `name` in `dir`, for messages.
pub(crate) fn read_link_at(dir: DirRef<'_>, name: &OsStr) -> io::Result<PathBuf> {
    std::fs::read_link(child(dir, name)?)
}

/// Why [`open_file_at`] refused.
#[derive(Debug)]
pub(crate) enum OpenError {
    Io(io::Error),
    /// Not a regular file when opened (a directory, device...).
    NotRegular(&'static str),
}

/// Opens the regular file `name` in `dir` for reading, without following
/// a reparse point; checks on the open handle that it is a regular file.
pub(crate) fn open_file_at(
    dir: DirRef<'_>,
    name: &OsStr,
) -> Result<(File, std::fs::Metadata), OpenError> {
    let path = child(dir, name).map_err(OpenError::Io)?;
    let f = OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(&path)
        .map_err(OpenError::Io)?;
    let st = info(&f).map_err(OpenError::Io)?;
    if !st.is_file() {
        return Err(OpenError::NotRegular(st.kind()));
    }
    let meta = f.metadata().map_err(OpenError::Io)?;
    Ok((f, meta))
}

/// `OBJECT_ATTRIBUTES` (wdm.h), declared here rather than through
/// windows-sys's `Wdk` features, which would rebuild every crate that
/// uses windows-sys.
#[repr(C)]
struct ObjectAttributes {
    length: u32,
    root_directory: HANDLE,
    object_name: *const UNICODE_STRING,
    attributes: u32,
    security_descriptor: *const std::ffi::c_void,
    security_quality_of_service: *const std::ffi::c_void,
}

/// `NtOpenFile` open options (wdm.h).
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;

#[link(name = "ntdll")]
unsafe extern "system" {
    fn NtOpenFile(
        handle: *mut HANDLE,
        access: u32,
        attributes: *const ObjectAttributes,
        status: *mut IO_STATUS_BLOCK,
        share: u32,
        options: u32,
    ) -> i32;
}

/// Whether files in `dir` can have named streams worth listing.
pub(crate) fn has_named_streams(dir: DirRef<'_>) -> bool {
    dir.0.named_streams
}

/// The raw `FILE_STREAM_INFO` list of the open file `f` (empty when it
/// has no stream at all), for [`winfile::parse_stream_info`]. The buffer
/// grows while Windows says it is too small, up to
/// [`winfile::MAX_STREAM_INFO`] bytes.
pub(crate) fn stream_info(f: &File) -> io::Result<Vec<u8>> {
    let mut words = 4096 / 8;
    loop {
        // u64 words: FILE_STREAM_INFO needs 8-byte alignment.
        let mut buf = vec![0u64; words];
        let bytes = u32::try_from(words * 8).map_err(io::Error::other)?;
        // SAFETY: a handle owned by `f` and a live buffer of `bytes` bytes.
        let ok = unsafe {
            GetFileInformationByHandleEx(
                f.as_raw_handle(),
                FileStreamInfo,
                buf.as_mut_ptr().cast(),
                bytes,
            )
        };
        if ok != 0 {
            return Ok(buf.iter().flat_map(|w| w.to_le_bytes()).collect());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error().and_then(|c| u32::try_from(c).ok()) {
            Some(ERROR_HANDLE_EOF) => return Ok(Vec::new()),
            Some(ERROR_MORE_DATA) if words * 8 < winfile::MAX_STREAM_INFO => words *= 2,
            Some(ERROR_MORE_DATA) => {
                return Err(io::Error::other(format!(
                    "the stream list is larger than {} bytes",
                    winfile::MAX_STREAM_INFO
                )))
            }
            _ => return Err(e),
        }
    }
}

/// Opens the named stream `name` of the open file `f` for reading,
/// relative to `f`'s handle (no path is resolved again), and checks that
/// it belongs to the same file.
pub(crate) fn open_stream(f: &File, name: &[u16]) -> io::Result<File> {
    let mut object = winfile::stream_object_name(name);
    let len = u16::try_from(object.len() * 2).map_err(|_| win_error(ERROR_INVALID_NAME))?;
    let ustr = UNICODE_STRING {
        Length: len,
        MaximumLength: len,
        Buffer: object.as_mut_ptr(),
    };
    let attrs = ObjectAttributes {
        length: std::mem::size_of::<ObjectAttributes>() as u32,
        root_directory: f.as_raw_handle(),
        object_name: &ustr,
        attributes: OBJ_CASE_INSENSITIVE,
        security_descriptor: std::ptr::null(),
        security_quality_of_service: std::ptr::null(),
    };
    // SAFETY: an all-zero IO_STATUS_BLOCK is a valid value.
    let mut io_status: IO_STATUS_BLOCK = unsafe { std::mem::zeroed() };
    let mut handle: HANDLE = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live local for the whole call;
    // the name buffer outlives it.
    let status = unsafe {
        NtOpenFile(
            &mut handle,
            FILE_READ_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
            &attrs,
            &mut io_status,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
            FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE | FILE_OPEN_REPARSE_POINT,
        )
    };
    if status < 0 {
        // SAFETY: a plain conversion of a status code.
        return Err(win_error(unsafe { RtlNtStatusToDosError(status) }));
    }
    // SAFETY: NtOpenFile succeeded: `handle` is open and owned by nobody else.
    let stream = unsafe { File::from_raw_handle(handle) };
    if !info(&stream)?.same_file(&info(f)?) {
        return Err(io::Error::other(
            "the stream opened belongs to another file",
        ));
    }
    Ok(stream)
}

/// The entries of one directory (`FindFirstFileW`/`FindNextFileW` through
/// `std::fs::read_dir`), one at a time.
pub(crate) struct Listing {
    inner: std::fs::ReadDir,
}

impl Listing {
    pub fn new(dir: DirRef<'_>) -> io::Result<Listing> {
        Ok(Listing {
            inner: std::fs::read_dir(&dir.0.path)?,
        })
    }
}

impl Iterator for Listing {
    type Item = io::Result<OsString>;

    fn next(&mut self) -> Option<io::Result<OsString>> {
        self.inner.next().map(|e| e.map(|e| e.file_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_verbatim() {
        let p = long_path(Path::new(r"C:\data\x")).unwrap();
        assert_eq!(p, PathBuf::from(r"\\?\C:\data\x"));
        let u = long_path(Path::new(r"\\server\share\x")).unwrap();
        assert_eq!(u, PathBuf::from(r"\\?\UNC\server\share\x"));
        let v = long_path(Path::new(r"\\?\C:\con")).unwrap();
        assert_eq!(v, PathBuf::from(r"\\?\C:\con"));
    }

    #[test]
    fn names_are_single_components() {
        let d = tempfile::tempdir().unwrap();
        let dir = open_root_dir(d.path()).unwrap();
        for bad in ["..", ".", r"a\b", "a/b", r"C:x"] {
            assert!(stat_at(dir.as_fd(), OsStr::new(bad)).is_err(), "{bad}");
        }
    }
}
