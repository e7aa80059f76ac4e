//! `kensa report [--fy YEAR] [--as-of DATE] [--lang ja|en] [--format ...] [--out FILE] [--no-bom]`:
//! builds the NISC quarterly tables from the collector store and prints or
//! writes them (a file is written via temp file + fsync + rename). The
//! fiscal year defaults to the one the report date falls in and may not be
//! one that has not begun; CSV starts with a UTF-8 byte-order mark unless
//! `--no-bom`; HTML gets the organisation, the generation time and the
//! appendix of counted incidents. The counts come from the store, grouped
//! in SQL per column ([`report::periods`]); only the HTML appendix lists
//! incidents, those in the report's periods.

use super::incidents::open_store;
use super::Context;
use crate::cli::ReportArgs;
use crate::collector::incidents::{self, Filter, Incident};
use crate::collector::Store;
use crate::report::{self, fiscal, AppendixEntry, ColumnPeriod, Format};
use anyhow::Context as _;

/// The byte-order mark Excel needs to read a CSV file as UTF-8.
const BOM: &str = "\u{feff}";

pub fn run(ctx: &Context, args: ReportArgs) -> anyhow::Result<u8> {
    let tz = report::parse_tz(args.tz.as_deref().unwrap_or(&ctx.config.report.timezone))?;
    let as_of = args
        .as_of
        .unwrap_or_else(|| chrono::Utc::now().with_timezone(&tz).date_naive());
    let fy = args.fy.unwrap_or_else(|| fiscal::current_fy(as_of));
    fiscal::check_not_future(fy, as_of)?;
    let store = open_store(ctx, &args.db)?;
    warn_untimed(&store)?;
    let mut r = incidents::report(&store, fy, as_of, tz).context("counting incidents")?;
    if args.format == Format::Html {
        r.organisation = ctx.config.report.organisation.clone();
        r.generated = Some(chrono::Utc::now());
        r.appendix = appendix(&store, &report::periods(fy, as_of, tz))?;
    }
    let mut text = report::render(&r, args.lang, args.format);
    if args.format == Format::Csv && !args.no_bom {
        text.insert_str(0, BOM);
    }
    match &args.out {
        None => crate::output::print_all(&text)?,
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

/// Names in a warning each incident whose time does not parse: it is left
/// out of the report.
fn warn_untimed(store: &Store) -> anyhow::Result<()> {
    for i in incidents::untimed(store).context("reading incidents")? {
        eprintln!(
            "kensa: warning: incident {} has an unreadable time {:?}; left out of the report",
            crate::output::sanitize(&i.id),
            crate::output::sanitize(&i.time)
        );
    }
    Ok(())
}

/// The appendix: every incident the report counts (not a false positive,
/// its time in a column's period), with its column, oldest first.
fn appendix(store: &Store, periods: &[ColumnPeriod]) -> anyhow::Result<Vec<AppendixEntry>> {
    let (Some(from), Some(to)) = (
        periods.iter().map(|p| p.from).min(),
        periods.iter().map(|p| p.to).max(),
    ) else {
        return Ok(Vec::new());
    };
    let filter = Filter {
        since: Some(from),
        before: Some(to),
        ..Filter::default()
    };
    let list = incidents::list(store, &filter).context("reading incidents")?;
    Ok(list.iter().filter_map(|i| entry(i, periods)).collect())
}

fn entry(i: &Incident, periods: &[ColumnPeriod]) -> Option<AppendixEntry> {
    let ri = i.to_report()?;
    if ri.false_positive {
        return None;
    }
    Some(AppendixEntry {
        column: report::column_at(periods, ri.time)?,
        time: ri.time,
        id: i.id.clone(),
        agent: i.agent.clone(),
        host: i.host.clone(),
        medium: i.medium_text(),
        classification: ri.classification,
        triaged: ri.triaged,
    })
}
