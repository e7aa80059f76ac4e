//! `kensa forward --format ocsf|ecs (--out FILE|- | --syslog TARGET) [--all]`:
//! builds the destination (a syslog target is connected to at once), opens
//! the collector store as `report` does and runs `forward::forward`; the count of what was sent goes to stderr (stdout
//! may be the destination).

use super::incidents::open_store;
use super::Context;
use crate::cli::ForwardArgs;
use crate::forward::syslog::Target;
use crate::forward::{self, Destination, FileOut, StdoutOut, SyslogOut};
use anyhow::Context as _;
use std::path::Path;

pub fn run(ctx: &Context, args: &ForwardArgs) -> anyhow::Result<u8> {
    let mut dest = destination(ctx, args)?;
    let store = open_store(ctx, &args.db)?;
    let key = dest.key().to_string();
    let o = forward::forward(&store, args.format, dest.as_mut(), args.all)
        .with_context(|| format!("forwarding to {}", crate::output::sanitize(&key)))?;
    if o.left_out > 0 {
        eprintln!(
            "kensa: warning: {} stored record(s) could not be read and were not sent (run with -v to see them)",
            o.left_out
        );
    }
    eprintln!(
        "kensa: forwarded {} event(s) ({} finding(s), {} scan start(s), {} scan end(s)) from {} agent(s) to {}",
        o.sent(),
        o.findings,
        o.sessions,
        o.summaries,
        o.agents,
        crate::output::sanitize(&key)
    );
    Ok(0)
}

/// The destination the flags name (clap makes exactly one be given).
/// Syslog messages take the `[syslog]` facility of the configuration.
fn destination(ctx: &Context, args: &ForwardArgs) -> anyhow::Result<Box<dyn Destination>> {
    match (&args.out, &args.syslog) {
        (Some(p), _) if p == Path::new("-") => Ok(Box::new(StdoutOut::new(args.format))),
        (Some(p), _) => {
            let p = super::absolute(p.clone())?;
            Ok(Box::new(FileOut::open(p, args.format)?))
        }
        (None, Some(text)) => {
            let target = match text.parse::<Target>()? {
                Target::Unix(p) => Target::Unix(super::absolute(p)?),
                other => other,
            };
            let facility = ctx.config.syslog.facility;
            Ok(Box::new(SyslogOut::connect(
                &target,
                args.format,
                facility,
            )?))
        }
        (None, None) => anyhow::bail!("give --out FILE|- or --syslog TARGET"),
    }
}
