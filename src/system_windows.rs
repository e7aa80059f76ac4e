//! Account names on Windows: the account running kensa (`GetUserNameW`)
//! and the owner of an open file (its security descriptor's owner SID,
//! `GetSecurityInfo`, named by `LookupAccountSidW` as `DOMAIN\user`; the
//! SID is never shown raw, an unnamed owner is `unknown`).

use std::ffi::OsString;
use std::fs::File;
use std::os::windows::ffi::OsStringExt;
use std::os::windows::io::AsRawHandle;
use windows_sys::Win32::Foundation::{LocalFree, ERROR_SUCCESS};
use windows_sys::Win32::Security::Authorization::{GetSecurityInfo, SE_FILE_OBJECT};
use windows_sys::Win32::Security::{
    LookupAccountSidW, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SID_NAME_USE,
};
use windows_sys::Win32::System::WindowsProgramming::GetUserNameW;

/// Longest account or domain name asked for (in UTF-16 units).
const NAME_MAX: usize = 512;

fn text(buf: &[u16], len: u32) -> String {
    let n = (len as usize).min(buf.len());
    OsString::from_wide(&buf[..n])
        .to_string_lossy()
        .into_owned()
}

/// The account running this process, or `unknown`.
pub fn current_user() -> String {
    let mut buf = vec![0u16; NAME_MAX];
    let mut len = NAME_MAX as u32;
    // SAFETY: `buf` holds `len` units; `len` is updated with the count
    // written including the terminating NUL.
    if unsafe { GetUserNameW(buf.as_mut_ptr(), &mut len) } == 0 || len == 0 {
        return "unknown".to_string();
    }
    text(&buf, len - 1)
}

/// The owner of an open file as `DOMAIN\user`, or `unknown`.
pub fn file_owner(file: &File) -> String {
    let mut owner: PSID = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: a handle owned by `file`; `owner` points into `sd`, which
    // the system allocates and LocalFree releases below.
    let rc = unsafe {
        GetSecurityInfo(
            file.as_raw_handle(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != ERROR_SUCCESS || owner.is_null() {
        return "unknown".to_string();
    }
    let name = account_name(owner);
    // SAFETY: `sd` was allocated by GetSecurityInfo and is freed once.
    unsafe { LocalFree(sd) };
    name.unwrap_or_else(|| "unknown".to_string())
}

fn account_name(sid: PSID) -> Option<String> {
    let mut name = vec![0u16; NAME_MAX];
    let mut domain = vec![0u16; NAME_MAX];
    let (mut nlen, mut dlen) = (NAME_MAX as u32, NAME_MAX as u32);
    let mut use_: SID_NAME_USE = 0;
    // SAFETY: both buffers hold the counts passed; `sid` is valid while
    // its security descriptor lives (the caller's).
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut nlen,
            domain.as_mut_ptr(),
            &mut dlen,
            &mut use_,
        )
    };
    if ok == 0 {
        return None;
    }
    let (n, d) = (text(&name, nlen), text(&domain, dlen));
    Some(if d.is_empty() { n } else { format!("{d}\\{n}") })
}
