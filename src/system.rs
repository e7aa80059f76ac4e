//! Facts this host's system knows: its name and account names. Unix
//! account lookups go through libc's `getpwuid_r` (passwd files and NSS,
//! as `id` and git do); elsewhere the numbers are shown.

/// This host's name, for session records.
pub fn host_name() -> String {
    sysinfo::System::host_name().unwrap_or_else(|| "unknown".to_string())
}

#[cfg(windows)]
#[path = "system_windows.rs"]
mod windows;
#[cfg(windows)]
pub use windows::{current_user, file_owner};

/// The account running this process, as the system names it (the name
/// `git` falls back to when no name is configured).
#[cfg(unix)]
pub fn current_user() -> String {
    // SAFETY: geteuid has no preconditions.
    user_name(unsafe { libc::geteuid() })
}

/// The account name of `uid` from the system (getpwuid_r: passwd, NSS),
/// or the number when it has none.
#[cfg(unix)]
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: passwd is a plain C struct; all-zero is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both valid for the
    // given sizes; `result` is either null or points at `pwd`.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return uid.to_string();
    }
    // SAFETY: pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_string_lossy().into_owned()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn root_and_unknown_ids() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "4000000000");
        assert!(!current_user().is_empty());
    }
}
