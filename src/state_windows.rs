//! The state folder on Windows: its default place, `%ProgramData%\kensa`
//! (the ProgramData known folder, `SHGetKnownFolderPath`, else the
//! `ProgramData` environment variable; never a hard-coded drive), and its
//! protection. A private folder (the state folder, its `keys` folder) is
//! created with [`crate::dacl::PRIVATE_SDDL`] in the same call
//! (`CreateDirectoryW` with the descriptor: never a moment with the
//! parent's inherited entries), `kensa service install` sets that list on
//! a state folder that already exists (`SetNamedSecurityInfoW`), and
//! [`access`] reads a folder's descriptor back as SDDL
//! (`GetNamedSecurityInfoW`, `ConvertSecurityDescriptorToString...`) for
//! the agent's start check and `kensa status`, judged against the account
//! kensa runs as ([`current_sid`], from the process token).
//!
//! Wine (8) keeps no access lists: it turns a descriptor into Unix mode
//! bits (the private list becomes 0750) and reads back SYSTEM plus the
//! Wine user for the owner bits and Everyone for the others bits; the
//! Wine user is the account kensa runs as there, so the check still tells
//! a private folder (0750) from one Everyone may read (0755).

use crate::dacl::{self, Grant, PRIVATE_SDDL};
use std::ffi::{OsStr, OsString};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
use windows_sys::Win32::Foundation::{LocalFree, ERROR_ALREADY_EXISTS, ERROR_SUCCESS};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    GetSecurityDescriptorDacl, GetTokenInformation, TokenUser, DACL_SECURITY_INFORMATION,
    GROUP_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
use windows_sys::Win32::System::Com::CoTaskMemFree;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
use windows_sys::Win32::UI::Shell::{FOLDERID_ProgramData, SHGetKnownFolderPath, KF_FLAG_DEFAULT};

/// Longest SDDL text read back (UTF-16 units).
const MAX_SDDL_UNITS: u32 = 128 << 10;

/// A security descriptor made from SDDL, freed on drop.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Descriptor {
    fn from_sddl(sddl: &str) -> std::io::Result<Descriptor> {
        let w = wide(OsStr::new(sddl));
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a NUL-terminated UTF-16 string; `sd` receives a
        // LocalAlloc'd descriptor that Drop frees.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                w.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 || sd.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Descriptor(sd))
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by the system with LocalAlloc, freed once.
        unsafe { LocalFree(self.0) };
    }
}

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

/// The ProgramData folder: the known folder, else `%ProgramData%`.
pub fn program_data() -> std::io::Result<PathBuf> {
    let mut p: *mut u16 = std::ptr::null_mut();
    // SAFETY: a static GUID; `p` receives a CoTaskMemAlloc'd NUL-terminated
    // string (also on failure, possibly null), freed below.
    let hr = unsafe {
        SHGetKnownFolderPath(
            &FOLDERID_ProgramData,
            KF_FLAG_DEFAULT as u32,
            std::ptr::null_mut(),
            &mut p,
        )
    };
    let mut found = None;
    if hr >= 0 && !p.is_null() {
        // SAFETY: the string is NUL-terminated; its length is found first
        // and is bounded by the path limit of the API (32 767 units).
        let units = unsafe {
            let mut n = 0usize;
            while n < 32_767 && *p.add(n) != 0 {
                n += 1;
            }
            std::slice::from_raw_parts(p, n)
        };
        found = Some(PathBuf::from(OsString::from_wide(units)));
    }
    // SAFETY: null or the string SHGetKnownFolderPath allocated.
    unsafe { CoTaskMemFree(p as *const _) };
    if let Some(dir) = found.filter(|d| d.is_absolute()) {
        return Ok(dir);
    }
    match std::env::var_os("ProgramData").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Ok(dir),
        _ => Err(std::io::Error::other(
            "cannot find the ProgramData folder (no known folder, no ProgramData variable)",
        )),
    }
}

/// `%ProgramData%\kensa`.
pub fn default_dir() -> std::io::Result<PathBuf> {
    Ok(program_data()?.join("kensa"))
}

/// Creates `dir` (and its parents as usual) with the private access list
/// when it does not exist yet; an existing folder is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let sd = Descriptor::from_sddl(PRIVATE_SDDL)?;
    let sa = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd.0,
        bInheritHandle: 0,
    };
    let w = wide(dir.as_os_str());
    // SAFETY: a NUL-terminated path and a valid descriptor kept alive by `sd`.
    if unsafe { CreateDirectoryW(w.as_ptr(), &sa) } == 0 {
        let e = std::io::Error::last_os_error();
        // Made meanwhile by someone else: as for an existing folder.
        if e.raw_os_error() == Some(ERROR_ALREADY_EXISTS as i32) && dir.is_dir() {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Sets the private access list on an existing folder (protected: the
/// parent's entries no longer reach it).
pub fn protect(dir: &Path) -> std::io::Result<()> {
    let sd = Descriptor::from_sddl(PRIVATE_SDDL)?;
    let (mut present, mut defaulted) = (0, 0);
    let mut acl = std::ptr::null_mut();
    // SAFETY: `sd` is a valid descriptor; `acl` points into it.
    if unsafe { GetSecurityDescriptorDacl(sd.0, &mut present, &mut acl, &mut defaulted) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let w = wide(dir.as_os_str());
    // SAFETY: a NUL-terminated path; `acl` lives as long as `sd`.
    let rc = unsafe {
        SetNamedSecurityInfoW(
            w.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            acl,
            std::ptr::null(),
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(rc as i32));
    }
    Ok(())
}

/// A folder's security descriptor (owner, group, DACL) as SDDL.
pub fn sddl(path: &Path) -> std::io::Result<String> {
    let w = wide(path.as_os_str());
    let what = OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: a NUL-terminated path; only the descriptor is asked for,
    // LocalAlloc'd by the system and owned by `_owned` below.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            w.as_ptr(),
            SE_FILE_OBJECT,
            what,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != ERROR_SUCCESS || sd.is_null() {
        return Err(std::io::Error::from_raw_os_error(rc as i32));
    }
    let _owned = Descriptor(sd);
    let mut text: *mut u16 = std::ptr::null_mut();
    let mut len = 0u32;
    // SAFETY: a valid descriptor; `text` receives a LocalAlloc'd string of
    // `len` units, freed below.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd,
            SDDL_REVISION_1,
            what,
            &mut text,
            &mut len,
        )
    };
    if ok == 0 || text.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let n = len.min(MAX_SDDL_UNITS) as usize;
    // SAFETY: the system wrote `len` units (with the NUL) at `text`.
    let units = unsafe { std::slice::from_raw_parts(text, n) };
    let s = String::from_utf16_lossy(units)
        .trim_end_matches('\0')
        .to_string();
    // SAFETY: allocated by the conversion with LocalAlloc, freed once.
    unsafe { LocalFree(text as _) };
    Ok(s)
}

/// Why a folder's access could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("cannot read the security descriptor of {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot judge the security descriptor of {path}: {source}")]
    Parse {
        path: String,
        source: dacl::DaclError,
    },
}

/// The SID (as text) of the account this process runs as, from its
/// token; `None` when the token cannot be read.
pub fn current_sid() -> Option<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo handle of this process; `token` receives a
    // handle closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    // A TOKEN_USER and its SID (at most 68 bytes) fit; u64s for alignment.
    let mut buf = [0u64; 64];
    let mut len = 0u32;
    // SAFETY: `buf` holds the size passed; the token is open.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            std::mem::size_of_val(&buf) as u32,
            &mut len,
        )
    };
    // SAFETY: opened above, closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return None;
    }
    // SAFETY: the call succeeded, so `buf` starts with a TOKEN_USER whose
    // SID points into `buf`.
    let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: a valid SID; `text` receives a LocalAlloc'd NUL-terminated
    // string, freed below.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 || text.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated; a SID's text is under 200 units.
    let units = unsafe {
        let mut n = 0usize;
        while n < 256 && *text.add(n) != 0 {
            n += 1;
        }
        std::slice::from_raw_parts(text, n)
    };
    let s = String::from_utf16_lossy(units);
    // SAFETY: allocated by ConvertSidToStringSidW, freed once.
    unsafe { LocalFree(text as _) };
    Some(s)
}

/// A folder's descriptor as SDDL and who besides SYSTEM, Administrators
/// and the account kensa runs as it lets read or change.
pub fn access(path: &Path) -> Result<(String, Vec<Grant>), AccessError> {
    let show = || crate::engine::pathfmt::display(path);
    let text = sddl(path).map_err(|source| AccessError::Read {
        path: show(),
        source,
    })?;
    let d = dacl::parse(&text).map_err(|source| AccessError::Parse {
        path: show(),
        source,
    })?;
    Ok((text, dacl::others(&d, current_sid().as_deref())))
}

/// Why the agent refuses its state.
#[derive(Debug, thiserror::Error)]
pub enum StateAccessError {
    #[error(
        "the keys folder {path} lets others in ({who}); only SYSTEM and Administrators may \
         read the agent key. Set its list with `icacls \"{path}\" /inheritance:r /grant:r \
         *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F`, remove other entries, and consider \
         the key exposed (kensa keygen --force)"
    )]
    KeysOpen { path: String, who: String },
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// The agent's start check: the keys folder must let no one but SYSTEM
/// and Administrators in (refused otherwise: the agent key is there); a
/// state folder that lets others read its journal and database is
/// warned about (they hold no secret, and an administrator may have
/// made the folder beforehand).
pub fn check_agent_state(state: &crate::state::StateDir) -> Result<(), StateAccessError> {
    let keys = state.keys_dir();
    if keys.is_dir() {
        let (_, who) = access(&keys)?;
        if !who.is_empty() {
            return Err(StateAccessError::KeysOpen {
                path: crate::engine::pathfmt::display(&keys),
                who: dacl::describe(&who),
            });
        }
    }
    let (_, who) = access(state.root())?;
    if !who.is_empty() {
        tracing::warn!(
            state = %crate::engine::pathfmt::display(state.root()),
            "the state folder lets others in ({}); `kensa service install` sets SYSTEM and \
             Administrators only",
            dacl::describe(&who)
        );
    }
    Ok(())
}
