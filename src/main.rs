//! The `kensa` binary: runs a command and maps its outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match kensa::commands::run(std::env::args_os()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("kensa: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
