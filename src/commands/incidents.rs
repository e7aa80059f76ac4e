//! `kensa incidents list|show`: the incidents in the collector store
//! (`<state>/kensa.db` or PostgreSQL, `--database`), one line each, or one incident's findings and
//! triage history. Also holds the store-opening wiring the triage and
//! report commands share (`collector::open_with_own_journal`, plus the
//! torn-tail warning).

use super::Context;
use crate::cli::{
    DatabaseArgs, IncidentsArgs, IncidentsCommand, IncidentsListArgs, IncidentsShowArgs,
};
use crate::collector::incidents::{self, Filter, Selector, TriageState};
use crate::collector::{self, Store};
use crate::output::incidents::{write_list, write_show};
use crate::output::print_all;
use crate::output::time::{self, End};
use anyhow::Context as _;

/// Opens the collector store (on an agent, after importing its own
/// journal), warning when its newest line was left out.
pub fn open_store(ctx: &Context, db: &DatabaseArgs) -> anyhow::Result<Store> {
    let db = super::database(ctx, db)?;
    let opened = collector::open_with_own_journal(&ctx.state, &db)?;
    if let Some(e) = opened.torn_tail {
        eprintln!(
            "kensa: warning: the newest journal line is incomplete (still being written, or torn by a crash, which the agent's next start recovers) and was not imported: {e}"
        );
    }
    Ok(opened.store)
}

pub fn run(ctx: &Context, args: IncidentsArgs) -> anyhow::Result<u8> {
    match args.command {
        IncidentsCommand::List(a) => list(ctx, a, &args.db),
        IncidentsCommand::Show(a) => show(ctx, a, &args.db),
    }
}

/// The zone times are shown in: `--tz`, else `report.timezone`.
pub fn zone(ctx: &Context, flag: Option<&str>) -> anyhow::Result<chrono_tz::Tz> {
    Ok(time::zone(flag, &ctx.config.report.timezone)?)
}

fn list(ctx: &Context, a: IncidentsListArgs, db: &DatabaseArgs) -> anyhow::Result<u8> {
    let tz = zone(ctx, a.tz.as_deref())?;
    let since = a
        .since
        .as_deref()
        .map(|t| time::bound(t, &tz, End::Start))
        .transpose()
        .context("--since")?;
    let before = a
        .until
        .as_deref()
        .map(|t| time::bound(t, &tz, End::End))
        .transpose()
        .context("--until")?;
    let store = open_store(ctx, db)?;
    let agent = a
        .agent
        .as_deref()
        .map(|t| incidents::resolve_agent(&store, t))
        .transpose()
        .context("--agent")?;
    let filter = Filter {
        state: a.state.or(a.untriaged.then_some(TriageState::Untriaged)),
        agent,
        since,
        before,
        event: a.event,
    };
    let list = incidents::list(&store, &filter).context("listing incidents")?;
    let mut text = Vec::new();
    write_list(&mut text, &list, &tz, a.format)?;
    print_all(&String::from_utf8_lossy(&text))?;
    Ok(0)
}

fn show(ctx: &Context, a: IncidentsShowArgs, db: &DatabaseArgs) -> anyhow::Result<u8> {
    let tz = zone(ctx, a.tz.as_deref())?;
    let store = open_store(ctx, db)?;
    let sel = Selector {
        id: &a.id,
        agent: a.agent.as_deref(),
    };
    let d = incidents::show(&store, sel)
        .with_context(|| format!("incident {}", crate::output::sanitize(&a.id)))?;
    let mut text = Vec::new();
    write_show(&mut text, &d, &tz, a.format)?;
    print_all(&String::from_utf8_lossy(&text))?;
    Ok(0)
}
