//! `kensa triage ID --event CODE --cause CODE... [--note] [--by] [--false-positive]`:
//! appends one triage decision to an incident's history in the collector
//! store and prints what is now recorded.

use super::incidents::open_store;
use super::Context;
use crate::cli::TriageArgs;
use crate::collector::incidents::{self, Triage};
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
    let store = open_store(ctx)?;
    let t = Triage {
        event: args.event,
        causes: args.cause,
        false_positive: args.false_positive,
        note: args.note,
        by,
    };
    let e = incidents::triage(&store, &args.id, &t)
        .with_context(|| format!("triaging incident {}", args.id))?;
    println!(
        "incident {}: {} / {}{} (by {} at {})",
        args.id,
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
        crate::output::sanitize(&e.by),
        e.time
    );
    Ok(0)
}
