//! `kensa triage ID --event CODE --cause CODE... [--note] [--by] [--false-positive]`:
//! appends one triage decision to an incident's history in the collector
//! store and prints what is now recorded (its time in `report.timezone`).

use super::incidents::open_store;
use super::Context;
use crate::cli::TriageArgs;
use crate::collector::incidents::{self, Selector, Triage};
use crate::output::sanitize;
use anyhow::Context as _;

pub fn run(ctx: &Context, args: TriageArgs) -> anyhow::Result<u8> {
    // As git does: the flag, else $USER/$LOGNAME, else the account name
    // the system has for this process (a root shell, a script, a service).
    let by = args
        .by
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(crate::system::current_user);
    let tz = super::incidents::zone(ctx, None)?;
    let store = open_store(ctx, &args.db)?;
    let t = Triage {
        event: args.event,
        causes: args.cause,
        false_positive: args.false_positive,
        note: args.note,
        by,
    };
    let sel = Selector {
        id: &args.id,
        agent: args.agent.as_deref(),
    };
    let context = || format!("triaging incident {}", sanitize(&args.id));
    let incident = incidents::find(&store, sel).with_context(context)?;
    let e = incidents::triage_incident(&store, &incident, &t).with_context(context)?;
    println!(
        "incident {}: {} / {}{} (by {} at {})",
        sanitize(&incident.id),
        e.event.slug(),
        e.causes
            .iter()
            .map(|c| c.slug())
            .collect::<Vec<_>>()
            .join(","),
        if e.false_positive {
            ", false positive"
        } else {
            ""
        },
        sanitize(&e.by),
        crate::output::time::local(&e.time, &tz)
    );
    Ok(0)
}
