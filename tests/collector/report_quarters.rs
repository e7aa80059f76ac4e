//! Quarter and fiscal-year edges: an incident one second before a quarter
//! starts and one at its first second (Tokyo time) land in different
//! columns, for every edge of a fiscal year. Times are stored in UTC in the
//! journal, so this also checks the time-zone conversion.

use crate::support::report_common;

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Tokyo;
use kensa::collector::incidents::{self, Filter};
use kensa::findings::taxonomy::{Cause, Event};
use kensa::findings::Location;
use kensa::report::{Counts, Report};
use report_common::*;

fn utc(local: (i32, u32, u32, u32, u32, u32)) -> String {
    let (y, mo, d, h, mi, s) = local;
    Tokyo
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339()
}

/// Builds a store with one incident at each given Tokyo time and reports
/// `fy` as of `as_of` in `tz`.
fn report_with(
    times: &[(i32, u32, u32, u32, u32, u32)],
    fy: i32,
    as_of: (i32, u32, u32),
    tz: chrono_tz::Tz,
) -> Report {
    let env = crate::env();
    let conn = env.store();
    let mut j = Journal::new(&conn, "agent");
    for t in times {
        j.incident(
            &utc(*t),
            Location::Removable,
            Some(&class(Event::Precursor, &[Cause::Unknown])),
            1,
        );
    }
    j.flush();
    let list = incidents::list(&conn, &Filter::default()).unwrap();
    assert_eq!(list.len(), times.len());
    assert!(list.iter().all(|i| i.to_report().is_some()));
    store_report(
        &conn,
        fy,
        NaiveDate::from_ymd_opt(as_of.0, as_of.1, as_of.2).unwrap(),
        tz,
    )
}

fn cells(c: &Counts) -> Vec<Option<u64>> {
    c.cells()
}

#[test]
fn fiscal_year_edge_31_march_vs_1_april() {
    let r = report_with(
        &[(2019, 3, 31, 23, 59, 59), (2019, 4, 1, 0, 0, 0)],
        2019,
        (2020, 4, 1),
        Tokyo,
    );
    // FY2018 total 1, FY2019 1Q 1.
    assert_eq!(
        cells(&r.incidents),
        vec![
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(0),
            Some(1)
        ]
    );
    // The same instants seen in UTC are both in FY2018 (15:00 UTC on 31 March).
    let r = report_with(
        &[(2019, 3, 31, 23, 59, 59), (2019, 4, 1, 0, 0, 0)],
        2019,
        (2020, 4, 1),
        chrono_tz::UTC,
    );
    assert_eq!(r.incidents.years, [Some(0), Some(0), Some(0), Some(2)]);
    assert_eq!(r.incidents.total, Some(0));
}

#[test]
fn edge_1q_2q() {
    let r = report_with(
        &[(2019, 6, 30, 23, 59, 59), (2019, 7, 1, 0, 0, 0)],
        2019,
        (2020, 3, 31),
        Tokyo,
    );
    assert_eq!(r.incidents.quarters, [Some(1), Some(1), Some(0), Some(0)]);
}

#[test]
fn edge_2q_3q() {
    let r = report_with(
        &[(2019, 9, 30, 23, 59, 59), (2019, 10, 1, 0, 0, 0)],
        2019,
        (2020, 3, 31),
        Tokyo,
    );
    assert_eq!(r.incidents.quarters, [Some(0), Some(1), Some(1), Some(0)]);
}

#[test]
fn edge_3q_4q_across_the_calendar_year() {
    let r = report_with(
        &[(2019, 12, 31, 23, 59, 59), (2020, 1, 1, 0, 0, 0)],
        2019,
        (2020, 3, 31),
        Tokyo,
    );
    assert_eq!(r.incidents.quarters, [Some(0), Some(0), Some(1), Some(1)]);
    assert_eq!(r.incidents.total, Some(2));
}

#[test]
fn edge_4q_next_fiscal_year() {
    let times = [(2020, 3, 31, 23, 59, 59), (2020, 4, 1, 0, 0, 0)];
    let r = report_with(&times, 2019, (2020, 4, 1), Tokyo);
    assert_eq!(r.incidents.quarters, [Some(0), Some(0), Some(0), Some(1)]);
    let r = report_with(&times, 2020, (2020, 7, 1), Tokyo);
    assert_eq!(
        cells(&r.incidents),
        vec![
            Some(0),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(0),
            None,
            None,
            Some(1)
        ]
    );
    // On 1 July 2Q is open: counted so far (0), the total provisional.
    assert_eq!(r.open_quarter, Some(2));
}

#[test]
fn open_quarter_counts_so_far_and_closes_on_its_last_day() {
    let times = [(2019, 5, 1, 12, 0, 0), (2019, 7, 2, 12, 0, 0)];
    // On the last day of 1Q, 1Q is closed; 2Q has not begun.
    let r = report_with(&times, 2019, (2019, 6, 30), Tokyo);
    assert_eq!(r.incidents.quarters, [Some(1), None, None, None]);
    assert_eq!(r.open_quarter, None);
    // On its first day 2Q is open, its count so far 0.
    let r = report_with(&times, 2019, (2019, 7, 1), Tokyo);
    assert_eq!(r.incidents.quarters, [Some(1), Some(0), None, None]);
    assert_eq!(r.open_quarter, Some(2));
    // During 2Q, the 2Q incident counts provisionally, and in the total.
    let r = report_with(&times, 2019, (2019, 9, 29), Tokyo);
    assert_eq!(r.incidents.quarters, [Some(1), Some(1), None, None]);
    assert_eq!(r.incidents.total, Some(2));
    assert_eq!(r.open_quarter, Some(2));
    // On its last day 2Q is closed: the same count, final.
    let r = report_with(&times, 2019, (2019, 9, 30), Tokyo);
    assert_eq!(r.incidents.quarters, [Some(1), Some(1), None, None]);
    assert_eq!(r.open_quarter, None);
    assert_eq!(r.provisional(), [false; 9]);
}
