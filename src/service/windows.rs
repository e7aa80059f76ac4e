//! The service control manager's side of kensa (Windows, through the
//! `windows-service` crate): registering the service (own process,
//! automatic start, LocalSystem), deleting it, starting and stopping it
//! with bounded waits, and the entry point the SCM starts: the dispatcher
//! connects to the SCM, the service main reports `StartPending` while the
//! agent sets up, `Running` once it runs, and `Stopped` (with the agent's
//! exit code) after it returned. Stop and Shutdown set the agent's
//! terminate flag (the same clean stop as SIGTERM under systemd), and
//! ParamChange its reload flag (as SIGHUP).

use super::{ServiceError, DESCRIPTION, DISPLAY_NAME, NAME, START_WAIT, STOP_WAIT};
use crate::agent::Control;
use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use windows_service::service::{
    Service, ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl,
    ServiceExitCode, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

/// How often a pending state is polled.
const POLL: Duration = Duration::from_millis(250);
/// What the service announces it needs to start (rules compile).
const START_HINT: Duration = Duration::from_secs(120);
/// What the service announces it needs to stop.
const STOP_HINT: Duration = Duration::from_secs(30);

fn scm(what: &'static str) -> impl Fn(windows_service::Error) -> ServiceError {
    move |e| match e {
        windows_service::Error::Winapi(io) => ServiceError::from_code(what, io.raw_os_error(), io),
        other => ServiceError::Scm {
            what,
            source: std::io::Error::other(other.to_string()),
        },
    }
}

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, ServiceError> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(scm("connecting to the service control manager"))
}

fn open(access: ServiceAccess) -> Result<Service, ServiceError> {
    manager(ServiceManagerAccess::CONNECT)?
        .open_service(NAME, access)
        .map_err(scm("opening the service"))
}

/// Registers the service: `exe` started with `arguments`, automatic
/// start, as LocalSystem.
pub fn install(exe: &Path, arguments: Vec<OsString>) -> Result<(), ServiceError> {
    let m = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let info = ServiceInfo {
        name: NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe.to_path_buf(),
        launch_arguments: arguments,
        dependencies: Vec::new(),
        account_name: None,
        account_password: None,
    };
    let s = m
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(scm("creating the service"))?;
    s.set_description(DESCRIPTION)
        .map_err(scm("setting the service description"))
}

/// Stops the service if it runs, deletes it and waits until the SCM
/// forgot it.
pub fn uninstall() -> Result<(), ServiceError> {
    let s = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)?;
    let st = s.query_status().map_err(scm("querying the service"))?;
    if st.current_state != ServiceState::Stopped {
        stop_and_wait(&s)?;
    }
    s.delete().map_err(scm("deleting the service"))?;
    drop(s);
    let m = manager(ServiceManagerAccess::CONNECT)?;
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        match m.open_service(NAME, ServiceAccess::QUERY_STATUS) {
            Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(1060) => {
                return Ok(())
            }
            _ if Instant::now() >= deadline => return Err(ServiceError::MarkedForDelete),
            _ => std::thread::sleep(POLL),
        }
    }
}

/// Starts the service and waits until it runs (or stopped again).
pub fn start() -> Result<(), ServiceError> {
    let s = open(ServiceAccess::QUERY_STATUS | ServiceAccess::START)?;
    // Asked first: Wine's StartService answers a running service with
    // success, Windows with ERROR_SERVICE_ALREADY_RUNNING.
    let now = s.query_status().map_err(scm("querying the service"))?;
    match now.current_state {
        ServiceState::Stopped => {}
        ServiceState::Running => return Err(ServiceError::AlreadyRunning),
        _ => return Err(ServiceError::Busy),
    }
    s.start::<&str>(&[]).map_err(scm("starting the service"))?;
    let st = wait_while(
        &s,
        ServiceState::StartPending,
        START_WAIT,
        "starting the service",
    )?;
    match st.current_state {
        ServiceState::Running => Ok(()),
        _ => Err(ServiceError::StoppedAtStart {
            code: exit_code_text(&st.exit_code),
        }),
    }
}

/// Stops the service and waits until it stopped.
pub fn stop() -> Result<(), ServiceError> {
    let s = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP)?;
    stop_and_wait(&s)
}

fn stop_and_wait(s: &Service) -> Result<(), ServiceError> {
    match s.stop() {
        Ok(_) => {}
        // Stopped meanwhile: the wait below sees it.
        Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(1062) => {}
        Err(e) => return Err(scm("stopping the service")(e)),
    }
    let st = wait_while(
        s,
        ServiceState::StopPending,
        STOP_WAIT,
        "stopping the service",
    )?;
    if st.current_state == ServiceState::Stopped {
        Ok(())
    } else {
        Err(ServiceError::Timeout {
            what: "stopping the service",
            state: state_name(st.current_state),
            waited: STOP_WAIT,
        })
    }
}

/// Polls the status while it is `pending` (and, for a stop, running),
/// up to `limit`.
fn wait_while(
    s: &Service,
    pending: ServiceState,
    limit: Duration,
    what: &'static str,
) -> Result<ServiceStatus, ServiceError> {
    let deadline = Instant::now() + limit;
    loop {
        let st = s.query_status().map_err(scm("querying the service"))?;
        let waiting = st.current_state == pending
            || (pending == ServiceState::StopPending && st.current_state == ServiceState::Running);
        if !waiting {
            return Ok(st);
        }
        if Instant::now() >= deadline {
            return Err(ServiceError::Timeout {
                what,
                state: state_name(st.current_state),
                waited: limit,
            });
        }
        std::thread::sleep(POLL);
    }
}

fn state_name(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Stopped => "stopped",
        ServiceState::StartPending => "starting",
        ServiceState::StopPending => "stopping",
        ServiceState::Running => "running",
        ServiceState::ContinuePending => "continuing",
        ServiceState::PausePending => "pausing",
        ServiceState::Paused => "paused",
    }
}

fn exit_code_text(c: &ServiceExitCode) -> String {
    match c {
        ServiceExitCode::Win32(n) => format!("Win32 error {n}"),
        ServiceExitCode::ServiceSpecific(n) => format!("kensa exit {n}"),
    }
}

/// Called by the agent once it set up and runs.
pub type Ready = Box<dyn Fn() + Send + Sync>;
/// The agent loop the service runs: stops when its control says so.
pub type AgentMain = Box<dyn FnOnce(Control, Ready) -> anyhow::Result<()> + Send>;

static AGENT: Mutex<Option<AgentMain>> = Mutex::new(None);
static HANDLE: OnceLock<ServiceStatusHandle> = OnceLock::new();

/// Runs `agent` as the service: connects to the SCM (which then calls the
/// service main on its own thread) and returns once the service stopped.
pub fn dispatch(agent: AgentMain) -> Result<(), ServiceError> {
    *AGENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(agent);
    service_dispatcher::start(NAME, ffi_service_main)
        .map_err(scm("connecting to the service control manager"))
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = serve() {
        tracing::error!("the service failed: {e}");
    }
}

fn report(state: ServiceState, exit: ServiceExitCode) -> Result<(), ServiceError> {
    let Some(h) = HANDLE.get() else {
        return Ok(());
    };
    let (accept, hint) = match state {
        ServiceState::Running => (
            ServiceControlAccept::STOP
                | ServiceControlAccept::SHUTDOWN
                | ServiceControlAccept::PARAM_CHANGE,
            Duration::ZERO,
        ),
        ServiceState::StartPending => (ServiceControlAccept::empty(), START_HINT),
        ServiceState::StopPending => (ServiceControlAccept::empty(), STOP_HINT),
        _ => (ServiceControlAccept::empty(), Duration::ZERO),
    };
    h.set_service_status(ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: exit,
        checkpoint: u32::from(hint > Duration::ZERO),
        wait_hint: hint,
        process_id: None,
    })
    .map_err(scm("reporting the service status"))
}

fn serve() -> Result<(), ServiceError> {
    let control = Control::default();
    let c = control.clone();
    let handler = move |ev| match ev {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            c.terminate.store(true, Ordering::SeqCst);
            let _ = report(ServiceState::StopPending, ServiceExitCode::NO_ERROR);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::ParamChange => {
            c.reload.store(true, Ordering::SeqCst);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let h = service_control_handler::register(NAME, handler)
        .map_err(scm("registering the control handler"))?;
    let _ = HANDLE.set(h);
    report(ServiceState::StartPending, ServiceExitCode::NO_ERROR)?;
    let agent = AGENT.lock().unwrap_or_else(|p| p.into_inner()).take();
    let ready: Ready = Box::new(|| {
        if let Err(e) = report(ServiceState::Running, ServiceExitCode::NO_ERROR) {
            tracing::error!("{e}");
        }
    });
    let exit = match agent.map(|run| run(control, ready)) {
        Some(Ok(())) => ServiceExitCode::NO_ERROR,
        Some(Err(e)) => {
            tracing::error!("the agent stopped: {e:#}");
            ServiceExitCode::ServiceSpecific(2)
        }
        None => ServiceExitCode::ServiceSpecific(2),
    };
    report(ServiceState::Stopped, exit)
}
