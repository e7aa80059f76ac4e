//! `kensa report --fy YEAR [--as-of DATE] [--lang ja|en] [--format ...] [--out FILE]`:
//! builds the NISC quarterly tables from the collector store and prints or
//! writes them (a file is written via temp file + fsync + rename).

use super::incidents::open_store;
use super::Context;
use crate::cli::ReportArgs;
use crate::collector::incidents::{self, Filter};
use crate::report;
use anyhow::Context as _;
use std::io::Write;

pub fn run(ctx: &Context, args: ReportArgs) -> anyhow::Result<u8> {
    let tz = report::parse_tz(args.tz.as_deref().unwrap_or(&ctx.config.report.timezone))?;
    let as_of = args
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().with_timezone(&tz).date_naive());
    let store = open_store(ctx)?;
    let list = incidents::list(&store, &Filter::default()).context("reading incidents")?;
    let mut input = Vec::with_capacity(list.len());
    for i in &list {
        match i.to_report() {
            Some(r) => input.push(r),
            None => eprintln!(
                "kensa: warning: incident {} has an unreadable time {:?}; left out of the report",
                crate::output::sanitize(&i.id),
                crate::output::sanitize(&i.time)
            ),
        }
    }
    let r = report::build(&input, args.fy, as_of, tz);
    let text = report::render(&r, args.lang, args.format);
    match &args.out {
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
        Some(p) => {
            let p = super::absolute(p.clone())?;
            crate::fsutil::write_atomic(&p, text.as_bytes(), 0o644).with_context(|| {
                format!(
                    "writing {}",
                    crate::output::sanitize(&crate::engine::pathfmt::display(&p))
                )
            })?;
        }
    }
    Ok(0)
}
