//! Subcommands, one file each. Each turns flags plus configuration into the
//! objects that do the work, runs them, and returns the process exit code.
//! Errors carry context for people (anyhow); `main` prints them.

pub mod config;
pub mod export;
pub mod forward;
pub mod generate;
pub mod import;
pub mod incidents;
pub mod inspect;
pub mod keygen;
#[cfg(target_os = "linux")]
pub mod release;
pub mod report;
pub mod rules;
pub mod run;
pub mod scan;
#[cfg(windows)]
pub mod service_windows;
pub mod status;
pub mod taxonomy;
pub mod triage;
pub mod trust;
pub mod verify;

use crate::cli::{Cli, Command};
use crate::config::{default_config, Config};
use crate::state::{default_state_dir, StateDir};
use anyhow::Context as _;
use clap::Parser;
use std::path::PathBuf;

/// What every command gets: the loaded configuration and the state dir.
pub struct Context {
    pub config: Config,
    pub config_path: PathBuf,
    pub state: StateDir,
    pub verbose: u8,
}

/// The collector database of a command: `--database`, else `[collector]
/// database`, else the SQLite file `<state>/kensa.db`; the password file
/// likewise from the flag, then the config.
pub fn database(
    ctx: &Context,
    args: &crate::cli::DatabaseArgs,
) -> anyhow::Result<crate::collector::Database> {
    let url = args
        .database
        .as_deref()
        .or(ctx.config.collector.database.as_deref());
    let password_file = match &args.database_password_file {
        Some(p) => Some(absolute(p.clone())?),
        None => ctx.config.collector.password_file.clone(),
    };
    Ok(crate::collector::Database::select(
        &ctx.state,
        url,
        password_file.as_deref(),
    )?)
}

/// Parses the command line and runs the command; returns the exit code.
pub fn run<I, T>(args: I) -> anyhow::Result<u8>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    tune_allocator();
    let cli = Cli::parse_from(args);
    #[cfg(windows)]
    if matches!(
        cli.command,
        Command::Service(crate::cli::ServiceCommand::Run)
    ) {
        // The service logs to the Event Log (logging_windows.rs); set
        // before any thread starts.
        std::env::set_var(crate::logging::EVENT_LOG_ENV, "1");
    }
    crate::logging::init(cli.verbose);
    let (config_path, required) = match &cli.config {
        Some(p) => (p.clone(), true),
        None => (
            default_config().context("finding the default configuration file")?,
            false,
        ),
    };
    let config = match Config::load(&config_path, required) {
        Ok(c) => c,
        // `config check` reports every problem in the file itself.
        Err(_) if matches!(cli.command, Command::Config(_)) => Config::default(),
        Err(e) => return Err(e).context("loading configuration"),
    };
    let state = StateDir::new(absolute(match cli.state_dir.clone() {
        Some(p) => p,
        None => default_state_dir().context("finding the default state folder")?,
    })?);
    let ctx = Context {
        config,
        config_path,
        state,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Scan(args) => scan::run(&ctx, args),
        Command::Config(cmd) => config::run(&ctx, &cmd),
        Command::Run(args) => run::run(&ctx, &args),
        Command::Status(args) => status::run(&ctx, &args),
        #[cfg(target_os = "linux")]
        Command::Release(args) => release::run(&ctx, &args),
        #[cfg(not(target_os = "linux"))]
        Command::Release(_) => Err(anyhow::anyhow!(crate::gate::GateError::Unsupported)),
        Command::Inspect(args) => inspect::run(&ctx, &args),
        Command::Incidents(args) => incidents::run(&ctx, args),
        Command::Triage(args) => triage::run(&ctx, args),
        Command::Report(args) => report::run(&ctx, args),
        Command::Taxonomy(args) => taxonomy::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Rules(cmd) => rules::run(&ctx, cmd),
        Command::Keygen(args) => keygen::run(&ctx, &args),
        Command::Export(args) => export::run(&ctx, &args),
        Command::Verify(args) => verify::run(&ctx, &args),
        Command::Trust(args) => trust::run(&ctx, args),
        Command::Import(args) => import::run(&ctx, &args),
        Command::Forward(args) => forward::run(&ctx, &args),
        #[cfg(windows)]
        Command::Service(cmd) => service_windows::run(&ctx, &cmd),
        #[cfg(not(windows))]
        Command::Service(_) => Err(anyhow::anyhow!(crate::service::ServiceError::Unsupported)),
    }
}

/// Large buffers (file contents) are mapped and unmapped by glibc rather
/// than kept in the heap after use: its dynamic mmap threshold would
/// otherwise keep freed multi-megabyte buffers resident for good.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any
    // thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Makes a path absolute against the current directory once, at start-up,
/// so nothing later depends on the working directory.
pub fn absolute(p: PathBuf) -> anyhow::Result<PathBuf> {
    std::path::absolute(&p)
        .with_context(|| format!("cannot resolve path {}", crate::engine::pathfmt::show(&p)))
}

/// [`absolute`] for every path of a list.
pub fn absolute_all(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    crate::fsutil::absolute_all(paths).context("cannot resolve path")
}

/// Says on stderr that some rule files were left out (the log has which).
pub fn warn_failed_rule_files(set: &crate::rules::RuleSet) {
    if set.files_failed > 0 {
        eprintln!(
            "kensa: warning: {} rule file(s) failed to compile and were left out (run with -v to see them)",
            set.files_failed
        );
    }
}
