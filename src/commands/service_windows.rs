//! `kensa service install|uninstall|start|stop|run` (Windows): wiring of
//! the SCM calls (`crate::service`) and of the state folder's protection
//! (`crate::state::windows`). `install` makes the state folder private
//! (created with the SYSTEM-and-Administrators-only list, or given that
//! list when it exists) and registers this kensa.exe with the
//! configuration file (when one exists) and the state folder; `run` is
//! the entry point the SCM starts, the agent of `kensa run` under the
//! SCM's controls.

use super::Context;
use crate::cli::{RunArgs, ServiceCommand};
use crate::engine::pathfmt;
use crate::service::{self, AgentMain, ServiceError};
use anyhow::Context as _;

pub fn run(ctx: &Context, cmd: &ServiceCommand) -> anyhow::Result<u8> {
    match cmd {
        ServiceCommand::Install => install(ctx)?,
        ServiceCommand::Uninstall => {
            service::uninstall()?;
            println!(
                "service {}: stopped and deleted (the state folder stays)",
                service::NAME
            );
        }
        ServiceCommand::Start => {
            service::start()?;
            println!("service {}: running", service::NAME);
        }
        ServiceCommand::Stop => {
            service::stop()?;
            println!("service {}: stopped", service::NAME);
        }
        ServiceCommand::Run => serve(ctx)?,
    }
    Ok(0)
}

fn install(ctx: &Context) -> anyhow::Result<()> {
    let root = ctx.state.root();
    let shown = pathfmt::display(root);
    if root.is_dir() {
        // Only a folder that lets others in is given the private list; one
        // that is private already is left as it is (a repeated install
        // changes nothing).
        let (_, others) = crate::state::windows::access(root)?;
        if !others.is_empty() {
            crate::state::windows::protect(root)
                .with_context(|| format!("setting the access list of {shown}"))?;
        }
    } else {
        ctx.state
            .create()
            .with_context(|| format!("creating the state folder {shown}"))?;
    }
    let (sddl, who) = crate::state::windows::access(root)?;
    if !who.is_empty() {
        eprintln!(
            "kensa: warning: the state folder {shown} still lets others in ({}): {sddl}",
            crate::dacl::describe(&who)
        );
    }
    let exe = std::env::current_exe().context("finding kensa.exe")?;
    let config = ctx
        .config_path
        .exists()
        .then_some(ctx.config_path.as_path());
    let args = service::launch_arguments(config, root);
    service::install(&exe, args.clone())?;
    let line: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    println!(
        "service {}: installed (automatic start) as {} {}\nstate folder {shown}: {sddl}",
        service::NAME,
        pathfmt::display(&exe),
        line.join(" ")
    );
    Ok(())
}

/// The service entry point: hands the agent to the SCM's dispatcher.
fn serve(ctx: &Context) -> anyhow::Result<()> {
    let owned = Context {
        config: ctx.config.clone(),
        config_path: ctx.config_path.clone(),
        state: ctx.state.clone(),
        verbose: ctx.verbose,
    };
    let agent: AgentMain = Box::new(move |control, ready| {
        super::run::run_agent(&owned, &RunArgs::default(), control, &*ready).map(|_| ())
    });
    match service::dispatch(agent) {
        Err(e @ ServiceError::NotUnderScm) => Err(e.into()),
        other => other.context("running as the service"),
    }
}
