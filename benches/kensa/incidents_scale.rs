//! Scale check: time to list incidents, triage one and build a report over
//! a store with many sessions and findings (KENSA_SCALE_INCIDENTS, default
//! 20,000). Run: `cargo bench --bench kensa -- incidents`

use crate::support::report_common;

use chrono::NaiveDate;
use chrono_tz::Asia::Tokyo;
use kensa::collector::incidents::{self, Filter, Triage};
use kensa::findings::taxonomy::{Cause, Event};
use kensa::findings::Location;
use kensa::report::{self, Format, Lang};
use report_common::*;
use std::time::Instant;

pub fn list_and_report_at_scale() {
    let n: usize = std::env::var("KENSA_SCALE_INCIDENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let conn = open_store(dir.path());
    let t0 = Instant::now();
    {
        let mut j = Journal::new(&conn, "agent");
        let c = class(Event::Precursor, &[Cause::Unknown]);
        for i in 0..n {
            let day = 1 + (i % 28) as u32;
            let month = 1 + (i / 28 % 12) as u32;
            let t = format!("2019-{month:02}-{day:02}T03:00:00Z");
            j.incident(&t, Location::Removable, Some(&c), 1 + i % 3);
        }
    }
    let records = conn.max_seq("agent").unwrap();
    eprintln!(
        "store: {n} incidents, {records} records, built in {:.2?}",
        t0.elapsed()
    );

    let t = Instant::now();
    let list = incidents::list(&conn, &Filter::default()).unwrap();
    eprintln!("list: {} incidents in {:.2?}", list.len(), t.elapsed());
    assert_eq!(list.len(), n);

    let t = Instant::now();
    let id = list[n / 2].id.clone();
    let triage = Triage {
        event: Some(Event::Leak),
        by: "x".into(),
        ..Triage::default()
    };
    incidents::triage(&conn, &id, &triage).unwrap();
    eprintln!("triage by id: {:.2?}", t.elapsed());

    let t = Instant::now();
    let input: Vec<_> = incidents::list(&conn, &Filter::default())
        .unwrap()
        .iter()
        .filter_map(|i| i.to_report())
        .collect();
    let r = report::build(
        &input,
        2019,
        NaiveDate::from_ymd_opt(2020, 4, 1).unwrap(),
        Tokyo,
    );
    let html = report::render(&r, Lang::Ja, Format::Html);
    eprintln!(
        "list + build + render HTML: {:.2?} ({} bytes)",
        t.elapsed(),
        html.len()
    );
    let total: u64 =
        r.incidents.years.iter().flatten().sum::<u64>() + r.incidents.total.unwrap_or(0);
    assert_eq!(total as usize, n);
}
