//! The Windows Event Log as kensa's log sink: when kensa runs as the
//! Windows service (`kensa service`, which sets [`EVENT_LOG_ENV`] before
//! logging starts), each event is reported to the Application log under
//! the source `kensa` (`RegisterEventSourceW`/`ReportEventW`): error and
//! warning levels keep their type, everything else is information, and
//! the text is the same sanitised plain line stderr would get. Outside
//! the service, or when the log refuses an event, the plain line goes to
//! stderr as on Linux.

use super::{plain_line, Fields};
use std::os::windows::ffi::OsStrExt;
use tracing::Level;
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE,
    EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
};

/// Set (to any value) by the service entry point: log to the Event Log.
pub const EVENT_LOG_ENV: &str = "KENSA_EVENT_LOG";
/// The event source name in the Application log.
pub const EVENT_SOURCE: &str = "kensa";
/// Longest message reported (the Event Log caps a string at 31 839 chars).
const MAX_EVENT_CHARS: usize = 31_000;

/// Whether events go to the Event Log (the service sets the variable).
pub(super) fn under_system_log() -> bool {
    std::env::var_os(EVENT_LOG_ENV).is_some()
}

fn wide(s: &str) -> Vec<u16> {
    std::ffi::OsStr::new(s)
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// A registered event source.
pub(super) struct SystemLog {
    handle: HANDLE,
}

// SAFETY: an event-source handle may be used from any thread (ReportEventW
// is thread-safe per its documentation); it is only closed in Drop.
unsafe impl Send for SystemLog {}
// SAFETY: as above.
unsafe impl Sync for SystemLog {}

impl SystemLog {
    pub(super) fn new() -> Option<SystemLog> {
        let name = wide(EVENT_SOURCE);
        // SAFETY: a NUL-terminated UTF-16 string; null server: this host.
        let handle = unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) };
        (!handle.is_null()).then_some(SystemLog { handle })
    }

    pub(super) fn send(&self, level: Level, f: &Fields) -> std::io::Result<()> {
        let kind = match level {
            Level::ERROR => EVENTLOG_ERROR_TYPE,
            Level::WARN => EVENTLOG_WARNING_TYPE,
            _ => EVENTLOG_INFORMATION_TYPE,
        };
        let line = plain_line(level, f, false);
        let text: String = line.trim_end().chars().take(MAX_EVENT_CHARS).collect();
        let w = wide(&text);
        let strings = [w.as_ptr()];
        // SAFETY: a live source handle; one NUL-terminated string; no SID,
        // no raw data.
        let ok = unsafe {
            ReportEventW(
                self.handle,
                kind,
                0,
                1,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for SystemLog {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is closed once.
        unsafe { DeregisterEventSource(self.handle) };
    }
}
