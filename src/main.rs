//! The `kensa` binary: runs a command and maps its outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    // The sandboxed file-system parser (a hidden entry point, never on the
    // command line people use): before any argument parsing.
    #[cfg(unix)]
    if let Some(code) = kensa::disk::sandbox::run_if_parser() {
        return ExitCode::from(code);
    }
    // The device gate's desktop notifier, run as a logged-in user (hidden
    // too): before any argument parsing or configuration.
    #[cfg(target_os = "linux")]
    if let Some(code) = kensa::gate::notify::run_if_notifier() {
        return ExitCode::from(code);
    }
    match kensa::commands::run(std::env::args_os()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // The message may carry names from a medium or a bundle.
            let text = format!("{e:#}");
            eprintln!("kensa: error: {}", kensa::output::sanitize(&text));
            ExitCode::from(2)
        }
    }
}
