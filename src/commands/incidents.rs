//! `kensa incidents list|show`: the incidents in the collector store
//! (`<state>/kensa.db`), one line each, or one incident's findings and
//! triage history. Also holds the store-opening wiring the triage and
//! report commands share (`collector::open_with_own_journal`, plus the
//! torn-tail warning).

use super::Context;
use crate::cli::{IncidentsArgs, IncidentsCommand, IncidentsListArgs, IncidentsShowArgs};
use crate::collector::incidents::{self, Filter, Selector};
use crate::collector::{self, Store};
use crate::output::incidents::{write_list, write_show};
use anyhow::Context as _;

/// Opens the collector store (on an agent, after importing its own
/// journal), warning when its newest line was left out.
pub fn open_store(ctx: &Context) -> anyhow::Result<Store> {
    let opened = collector::open_with_own_journal(&ctx.state)?;
    if let Some(e) = opened.torn_tail {
        eprintln!(
            "kensa: warning: the newest journal line is incomplete (still being written, or torn by a crash, which the agent's next start recovers) and was not imported: {e}"
        );
    }
    Ok(opened.store)
}

pub fn run(ctx: &Context, args: IncidentsArgs) -> anyhow::Result<u8> {
    match args.command {
        IncidentsCommand::List(a) => list(ctx, a),
        IncidentsCommand::Show(a) => show(ctx, a),
    }
}

fn list(ctx: &Context, a: IncidentsListArgs) -> anyhow::Result<u8> {
    let tz = crate::report::parse_tz(a.tz.as_deref().unwrap_or(&ctx.config.report.timezone))?;
    let store = open_store(ctx)?;
    let agent = a
        .agent
        .as_deref()
        .map(|t| incidents::resolve_agent(&store, t))
        .transpose()
        .context("--agent")?;
    let filter = Filter {
        untriaged: a.untriaged,
        agent,
        ..Filter::default()
    };
    let list = incidents::list(&store, &filter).context("listing incidents")?;
    write_list(&mut std::io::stdout().lock(), &list, &tz, a.format)?;
    Ok(0)
}

fn show(ctx: &Context, a: IncidentsShowArgs) -> anyhow::Result<u8> {
    let store = open_store(ctx)?;
    let sel = Selector {
        id: &a.id,
        agent: a.agent.as_deref(),
    };
    let d = incidents::show(&store, sel)
        .with_context(|| format!("incident {}", crate::output::sanitize(&a.id)))?;
    write_show(&mut std::io::stdout().lock(), &d, a.format)?;
    Ok(0)
}
