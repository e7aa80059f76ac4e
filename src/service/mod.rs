//! kensa as a Windows service (`kensa service install|uninstall|start|
//! stop|run`): the portable half. It names the service, builds the command
//! line the service control manager (SCM) starts (`kensa.exe --config FILE
//! --state-dir DIR service run`), and turns the SCM's Win32 error codes
//! into errors that say what to do ([`ServiceError::from_code`]); both are
//! unit-tested on Linux. The SCM calls themselves and the service's entry
//! point (dispatcher, control handler, status reports) are `windows.rs`,
//! behind `cfg(windows)`. Elsewhere the command refuses and names systemd.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{dispatch, install, start, stop, uninstall, AgentMain, Ready};

/// The service's name in the SCM.
pub const NAME: &str = "kensa";
/// What `services.msc` shows.
pub const DISPLAY_NAME: &str = "kensa media inspection agent";
/// The service's description.
pub const DESCRIPTION: &str = "Scans removable media and watched folders with SHA-256, YARA-X \
    rules and hash lists; keeps a signed journal of what it found.";
/// Longest wait for the service to run after a start (the first start
/// compiles the rules).
pub const START_WAIT: Duration = Duration::from_secs(120);
/// Longest wait for the service to stop (sessions get 4 s, then the
/// journal's final checkpoint).
pub const STOP_WAIT: Duration = Duration::from_secs(30);

// Win32 error codes the SCM answers with (winerror.h).
const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_SERVICE_DISABLED: i32 = 1058;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_CANNOT_ACCEPT_CTRL: i32 = 1061;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;
const ERROR_SERVICE_MARKED_FOR_DELETE: i32 = 1072;
const ERROR_SERVICE_EXISTS: i32 = 1073;

/// What went wrong with the service, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "`kensa service` manages the Windows service; on Linux the agent runs under systemd \
         (the package installs kensa.service: `systemctl enable --now kensa`)"
    )]
    Unsupported,
    #[error("the service `{NAME}` is not installed (kensa service install)")]
    NotInstalled,
    #[error("the service `{NAME}` is already installed (kensa service uninstall first)")]
    AlreadyInstalled,
    #[error("{what}: access denied; run kensa from an elevated (Administrator) prompt")]
    AccessDenied { what: &'static str },
    #[error("the service `{NAME}` is already running")]
    AlreadyRunning,
    #[error("the service `{NAME}` is not running")]
    NotRunning,
    #[error("the service `{NAME}` is disabled (sc config {NAME} start= auto)")]
    Disabled,
    #[error(
        "the service `{NAME}` is marked for deletion; close services.msc and every program \
         holding it open, then try again"
    )]
    MarkedForDelete,
    #[error("the service `{NAME}` cannot take this control now (it is starting or stopping)")]
    Busy,
    #[error(
        "`kensa service run` is started by the service control manager, not from a console \
         (use `kensa run` there, or `kensa service start`)"
    )]
    NotUnderScm,
    #[error("{what}: still {state} after {} s", .waited.as_secs())]
    Timeout {
        what: &'static str,
        state: &'static str,
        waited: Duration,
    },
    #[error(
        "the service `{NAME}` stopped while starting (exit code {code}); the Application \
         event log (source kensa) says why"
    )]
    StoppedAtStart { code: String },
    #[error("{what}: {source}")]
    Scm {
        what: &'static str,
        source: std::io::Error,
    },
}

impl ServiceError {
    /// The error for a failed SCM call `what` that answered `code`.
    pub fn from_code(what: &'static str, code: Option<i32>, source: std::io::Error) -> Self {
        match code {
            Some(ERROR_ACCESS_DENIED) => ServiceError::AccessDenied { what },
            Some(ERROR_SERVICE_DOES_NOT_EXIST) => ServiceError::NotInstalled,
            Some(ERROR_SERVICE_EXISTS) => ServiceError::AlreadyInstalled,
            Some(ERROR_SERVICE_ALREADY_RUNNING) => ServiceError::AlreadyRunning,
            Some(ERROR_SERVICE_NOT_ACTIVE) => ServiceError::NotRunning,
            Some(ERROR_SERVICE_DISABLED) => ServiceError::Disabled,
            Some(ERROR_SERVICE_MARKED_FOR_DELETE) => ServiceError::MarkedForDelete,
            Some(ERROR_SERVICE_CANNOT_ACCEPT_CTRL) => ServiceError::Busy,
            Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) => ServiceError::NotUnderScm,
            _ => ServiceError::Scm { what, source },
        }
    }
}

/// The arguments the SCM starts `kensa.exe` with: the configuration file
/// (when there is one: a missing default file means built-in defaults),
/// the state folder, and the service entry point.
pub fn launch_arguments(config: Option<&Path>, state: &Path) -> Vec<OsString> {
    let mut v = Vec::new();
    if let Some(c) = config {
        v.push("--config".into());
        v.push(c.as_os_str().to_owned());
    }
    v.push("--state-dir".into());
    v.push(state.as_os_str().to_owned());
    v.push("service".into());
    v.push("run".into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: i32) -> ServiceError {
        ServiceError::from_code(
            "opening the service",
            Some(code),
            std::io::Error::from_raw_os_error(code),
        )
    }

    #[test]
    fn scm_codes_become_advice() {
        assert!(matches!(err(1060), ServiceError::NotInstalled));
        assert!(matches!(err(1073), ServiceError::AlreadyInstalled));
        assert!(matches!(err(1056), ServiceError::AlreadyRunning));
        assert!(matches!(err(1062), ServiceError::NotRunning));
        assert!(matches!(err(1072), ServiceError::MarkedForDelete));
        assert!(matches!(err(1063), ServiceError::NotUnderScm));
        let denied = err(5).to_string();
        assert!(
            denied.contains("opening the service: access denied"),
            "{denied}"
        );
        assert!(denied.contains("elevated"), "{denied}");
        assert!(err(1060).to_string().contains("kensa service install"));
        // Anything else keeps the call and the system's words.
        assert!(matches!(err(87), ServiceError::Scm { .. }));
        assert!(err(87).to_string().starts_with("opening the service: "));
    }

    #[test]
    fn launch_arguments_name_config_state_and_entry_point() {
        let a = launch_arguments(Some(Path::new("C:/k/kensa.toml")), Path::new("C:/k"));
        assert_eq!(
            a,
            [
                "--config",
                "C:/k/kensa.toml",
                "--state-dir",
                "C:/k",
                "service",
                "run"
            ]
            .map(OsString::from)
        );
        let b = launch_arguments(None, Path::new("D:/state"));
        assert_eq!(
            b,
            ["--state-dir", "D:/state", "service", "run"].map(OsString::from)
        );
    }

    #[test]
    fn elsewhere_the_command_points_at_systemd() {
        let t = ServiceError::Unsupported.to_string();
        assert!(t.contains("systemctl enable --now kensa"), "{t}");
    }
}
