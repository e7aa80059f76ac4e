//! Incidents and triage over the collector store: one session with many
//! findings is one incident; two triages of one incident keep both in the
//! history while the report counts the latest; ids resolve by prefix;
//! false positives leave the report.

use crate::support::report_common;

use chrono::NaiveDate;
use chrono_tz::Asia::Tokyo;
use kensa::collector::incidents::{self, Filter, IncidentError, Triage};
use kensa::findings::taxonomy::{Cause, Event};
use kensa::findings::Location;
use kensa::report;
use report_common::*;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2019, 7, 19).unwrap()
}

fn build(conn: &kensa::collector::Store) -> report::Report {
    store_report(conn, 2019, as_of(), Tokyo)
}

fn row(r: &report::Report, e: Event) -> Option<u64> {
    r.events
        .iter()
        .find(|x| x.code == e)
        .unwrap()
        .counts
        .quarters[0]
}

fn cause(r: &report::Report, c: Cause) -> Option<u64> {
    r.causes
        .iter()
        .find(|x| x.code == c)
        .unwrap()
        .counts
        .quarters[0]
}

#[test]
fn two_triages_latest_wins_history_kept() {
    let env = crate::env();
    let conn = env.store();
    let id = {
        let mut j = Journal::new(&conn, "hmi-agent");
        // 40 infected files on one stick, recorded with the policy default.
        let id = j.incident("2019-05-10T03:00:00Z", Location::Removable, None, 40);
        j.incident("2019-05-11T03:00:00Z", Location::Host, None, 1);
        id
    };
    let list = incidents::list(&conn, &Filter::default()).unwrap();
    assert_eq!(list.len(), 2, "one incident per session");
    let first = list.iter().find(|i| i.session == id).unwrap();
    assert_eq!(first.detections, 40);
    assert_eq!(first.automatic.event, Event::Precursor);
    assert_eq!(first.automatic.causes, vec![Cause::Unknown]);
    assert_eq!(first.host.as_deref(), Some("hmi-07"));
    assert_eq!(first.medium_text(), "VENDOR-01, serial 0401ABCD");
    let host = list.iter().find(|i| i.session != id).unwrap();
    assert_eq!(host.automatic.event, Event::MalwareInfection);

    let r = build(&conn);
    assert_eq!(row(&r, Event::Precursor), Some(1));
    assert_eq!(r.untriaged, 2);

    let t1 = incidents::triage(
        &conn,
        &first.id,
        &Triage {
            event: Some(Event::MalwareInfection),
            causes: vec![Cause::SuspiciousFile],
            note: Some("opened on the HMI".into()),
            by: "sato".into(),
            ..Triage::default()
        },
    )
    .unwrap();
    assert_eq!(t1.event, Event::MalwareInfection);
    let r = build(&conn);
    assert_eq!(row(&r, Event::Precursor), Some(0));
    assert_eq!(row(&r, Event::MalwareInfection), Some(2));
    assert_eq!(r.untriaged, 1);

    // Second triage, by a short prefix: the contractor's stick; event kept.
    let t2 = incidents::triage(
        &conn,
        &id[..6],
        &Triage {
            causes: vec![
                Cause::ContractorMismanagement,
                Cause::SuspiciousFile,
                Cause::ContractorMismanagement,
            ],
            by: "suzuki".into(),
            ..Triage::default()
        },
    )
    .unwrap();
    assert_eq!(
        t2.event,
        Event::MalwareInfection,
        "event kept when not given"
    );
    assert_eq!(
        t2.causes,
        vec![Cause::SuspiciousFile, Cause::ContractorMismanagement],
        "duplicates dropped, taxonomy order"
    );

    let r = build(&conn);
    assert_eq!(cause(&r, Cause::ContractorMismanagement), Some(1));
    assert_eq!(cause(&r, Cause::SuspiciousFile), Some(1));
    assert_eq!(
        cause(&r, Cause::Unknown),
        Some(1),
        "only the untriaged host incident"
    );

    let detail = incidents::show(&conn, &first.id).unwrap();
    assert_eq!(detail.findings.len(), 40);
    assert!(detail.findings.iter().all(|f| f.session == id));
    assert_eq!(detail.history.len(), 2);
    assert_eq!(detail.history[0].by, "sato");
    assert_eq!(detail.history[0].note.as_deref(), Some("opened on the HMI"));
    assert_eq!(detail.history[1].by, "suzuki");
    assert_eq!(detail.incident.triage.as_ref(), Some(&detail.history[1]));

    let untriaged = incidents::list(
        &conn,
        &Filter {
            state: Some(kensa::collector::incidents::TriageState::Untriaged),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(untriaged.len(), 1);
    assert_eq!(untriaged[0].session, host.session);

    // A false positive leaves the tables, and says so in the footnote.
    incidents::triage(
        &conn,
        &host.id,
        &Triage {
            false_positive: true,
            by: "sato".into(),
            ..Triage::default()
        },
    )
    .unwrap();
    let r = build(&conn);
    assert_eq!(r.incidents.quarters[0], Some(1));
    assert_eq!(r.false_positives, 1);
    assert_eq!(r.untriaged, 0);
}

#[test]
fn id_errors_are_clear() {
    let env = crate::env();
    let conn = env.store();
    {
        let mut j = Journal::new(&conn, "a");
        j.incident("2019-05-10T03:00:00Z", Location::Removable, None, 1);
        j.incident("2019-05-10T04:00:00Z", Location::Removable, None, 1);
    }
    let t = Triage {
        by: "x".into(),
        ..Triage::default()
    };
    assert!(matches!(
        incidents::triage(&conn, "ab", &t),
        Err(IncidentError::TooShort(_))
    ));
    assert!(matches!(
        incidents::triage(&conn, "zzzzzz", &t),
        Err(IncidentError::NotFound(_))
    ));
    assert!(matches!(
        incidents::show(&conn, "zzzzzz"),
        Err(IncidentError::NotFound(_))
    ));
    let id = incidents::list(&conn, &Filter::default()).unwrap()[0]
        .id
        .clone();
    let nobody = Triage {
        by: "  ".into(),
        ..Triage::default()
    };
    assert!(matches!(
        incidents::triage(&conn, &id, &nobody),
        Err(IncidentError::NoAnalyst)
    ));
    let long = Triage {
        by: "x".into(),
        note: Some("n".repeat(5000)),
        ..Triage::default()
    };
    assert!(matches!(
        incidents::triage(&conn, &id, &long),
        Err(IncidentError::TooLong("note"))
    ));
    // Nothing was recorded by the failed attempts.
    assert!(incidents::show(&conn, &id).unwrap().history.is_empty());
}

#[test]
fn ambiguous_prefix_is_refused() {
    let env = crate::env();
    let conn = env.store();
    {
        let mut j = Journal::new(&conn, "a");
        j.incident_with_id(
            "abcdef0123456789aaaa",
            "2019-05-10T01:00:00Z",
            Location::Removable,
            None,
            1,
        );
        j.incident_with_id(
            "abcdef0123456789bbbb",
            "2019-05-10T02:00:00Z",
            Location::Removable,
            None,
            1,
        );
        j.incident_with_id(
            "ffff0000111122223333",
            "2019-05-10T03:00:00Z",
            Location::Removable,
            None,
            1,
        );
    }
    let list = incidents::list(&conn, &Filter::default()).unwrap();
    let ids: Vec<&str> = list.iter().map(|i| i.id.as_str()).collect();
    // Displayed ids are AGENT/SESSION; the session part grows past 12
    // characters until they differ.
    assert_eq!(
        ids,
        vec![
            "a/abcdef0123456789a",
            "a/abcdef0123456789b",
            "a/ffff00001111"
        ]
    );
    let t = Triage {
        by: "x".into(),
        ..Triage::default()
    };
    let e = incidents::triage(&conn, "abcdef", &t).unwrap_err();
    assert!(matches!(e, IncidentError::Ambiguous { .. }), "{e}");
    assert!(
        e.to_string().contains("abcdef0123456789aaaa")
            && e.to_string().contains("abcdef0123456789bbbb")
    );
    incidents::triage(&conn, "abcdef0123456789b", &t).unwrap();
    incidents::triage(&conn, "ffff", &t).unwrap();
    assert_eq!(
        incidents::list(
            &conn,
            &Filter {
                state: Some(kensa::collector::incidents::TriageState::Untriaged),
                ..Filter::default()
            }
        )
        .unwrap()
        .len(),
        1
    );
}

#[test]
fn an_empty_store_has_no_incidents() {
    let env = crate::env();
    let conn = env.store();
    assert!(incidents::list(&conn, &Filter::default())
        .unwrap()
        .is_empty());
    let e = incidents::show(&conn, "abcdef").unwrap_err();
    assert!(matches!(e, IncidentError::NotFound(_)), "{e}");
}
