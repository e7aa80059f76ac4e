//! The verdict as a message box on the Windows desktop: from the service
//! (session 0, which has no desktop anyone sees) into the active console
//! session (`WTSGetActiveConsoleSessionId`), from an interactive `kensa
//! run` into its own session; `WTSSendMessageW` with `bWait = FALSE`, so
//! the agent never waits for the box to be dismissed. Whether it was
//! shown, or why not, is logged; nothing here fails the agent.

use crate::notify::{MediumVerdict, Notice};
use windows_sys::Win32::System::RemoteDesktop::{
    ProcessIdToSessionId, WTSGetActiveConsoleSessionId, WTSSendMessageW, WTS_CURRENT_SERVER_HANDLE,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    MB_ICONINFORMATION, MB_ICONWARNING, MB_OK, MB_SETFOREGROUND, MB_TOPMOST,
};

/// `WTSGetActiveConsoleSessionId`'s answer when no one is at the console.
const NO_SESSION: u32 = u32::MAX;

/// Why a notice was not shown.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("cannot tell which session kensa runs in: {0}")]
    OwnSession(std::io::Error),
    #[error("no one is logged on at the console")]
    NoActiveSession,
    #[error("WTSSendMessageW refused session {session} without an error code")]
    RefusedSilently { session: u32 },
    #[error("WTSSendMessageW refused session {session}: {err}")]
    Refused { session: u32, err: std::io::Error },
}

/// The session that should see the box: the active console session when
/// kensa runs as a service (session 0), else its own.
fn target_session() -> Result<u32, NoticeError> {
    let mut own = 0u32;
    // SAFETY: a valid out pointer.
    if unsafe { ProcessIdToSessionId(std::process::id(), &mut own) } == 0 {
        return Err(NoticeError::OwnSession(std::io::Error::last_os_error()));
    }
    if own != 0 {
        return Ok(own);
    }
    // SAFETY: no arguments.
    match unsafe { WTSGetActiveConsoleSessionId() } {
        NO_SESSION => Err(NoticeError::NoActiveSession),
        s => Ok(s),
    }
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Sends the box to `session` without waiting for it to be dismissed.
fn send(session: u32, notice: &Notice) -> Result<(), NoticeError> {
    let title = utf16(&notice.title);
    let body = utf16(&notice.body);
    let icon = match notice.verdict {
        MediumVerdict::Clean => MB_ICONINFORMATION,
        _ => MB_ICONWARNING,
    };
    let mut response = 0;
    // Lengths are in bytes without the terminating NUL.
    let bytes = |v: &[u16]| (v.len().saturating_sub(1) * 2) as u32;
    // SAFETY: NUL-terminated buffers whose byte lengths are passed, and
    // a valid out pointer; with bWait = FALSE nothing is kept after return.
    let ok = unsafe {
        WTSSendMessageW(
            WTS_CURRENT_SERVER_HANDLE,
            session,
            title.as_ptr(),
            bytes(&title),
            body.as_ptr(),
            bytes(&body),
            MB_OK | icon | MB_SETFOREGROUND | MB_TOPMOST,
            0,
            &mut response,
            0,
        )
    };
    if ok != 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(0) | None => Err(NoticeError::RefusedSilently { session }),
        Some(_) => Err(NoticeError::Refused { session, err }),
    }
}

/// Shows `notice` on the desktop and logs the outcome.
pub fn deliver(notice: &Notice) {
    match target_session().and_then(|s| send(s, notice).map(|()| s)) {
        Ok(session) => tracing::info!(session, "desktop notice shown: {}", notice.title),
        Err(e) => tracing::warn!("desktop notice not shown ({}): {e}", notice.title),
    }
}
