//! `kensa report [--fy YEAR] [--as-of DATE] [--lang ja|en] [--format ...] [--out FILE] [--no-bom]`:
//! builds the NISC quarterly tables from the collector store and prints or
//! writes them (a file is written via temp file + fsync + rename). The
//! fiscal year defaults to the one the report date falls in and may not be
//! one that has not begun; CSV starts with a UTF-8 byte-order mark unless
//! `--no-bom`; HTML gets the organisation, the generation time and the
//! appendix of counted incidents.

use super::incidents::open_store;
use super::Context;
use crate::cli::ReportArgs;
use crate::collector::incidents::{self, Filter, Incident};
use crate::report::{self, fiscal, AppendixEntry, Format, ReportIncident};
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
    let list = incidents::list(&store, &Filter::default()).context("reading incidents")?;
    let input = readable(&list);
    let mut r = report::build(
        &input.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        fy,
        as_of,
        tz,
    );
    if args.format == Format::Html {
        r.organisation = ctx.config.report.organisation.clone();
        r.generated = Some(chrono::Utc::now());
        r.appendix = appendix(&r, &input, &tz);
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

/// The incidents whose time parses, each with what the report counts;
/// the others are named in a warning and left out.
fn readable(list: &[Incident]) -> Vec<(&Incident, ReportIncident)> {
    let mut out = Vec::with_capacity(list.len());
    for i in list {
        match i.to_report() {
            Some(r) => out.push((i, r)),
            None => eprintln!(
                "kensa: warning: incident {} has an unreadable time {:?}; left out of the report",
                crate::output::sanitize(&i.id),
                crate::output::sanitize(&i.time)
            ),
        }
    }
    out
}

/// The appendix: every incident the report counts, with its column.
fn appendix(
    r: &report::Report,
    input: &[(&Incident, ReportIncident)],
    tz: &chrono_tz::Tz,
) -> Vec<AppendixEntry> {
    input
        .iter()
        .filter_map(|(i, ri)| {
            Some(AppendixEntry {
                column: r.counted_column(ri, tz)?,
                time: ri.time,
                id: i.id.clone(),
                agent: i.agent.clone(),
                host: i.host.clone(),
                medium: i.medium_text(),
                classification: ri.classification.clone(),
                triaged: ri.triaged,
            })
        })
        .collect()
}
