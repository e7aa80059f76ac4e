//! A collector database that PostgreSQL holds at schema version 3 (before
//! the aggregation columns) migrates on the next open: each incident's
//! time, automatic classification, current state and id are back-filled,
//! so the listing, its filters and the report are what they were.

use crate::support::report_common::*;
use chrono::NaiveDate;
use chrono_tz::Asia::Tokyo;
use kensa::collector::incidents::{self, Filter, Incident, Triage, TriageState};
use kensa::findings::taxonomy::{Cause, Event};
use kensa::findings::Location;

/// Takes the database back to version 3: what migrations 4 and 5 added is
/// dropped, and version 3's two functions are there again.
const TO_VERSION_3: &str = "
DROP TABLE forward_cursors;
DROP INDEX incidents_state;
DROP INDEX incidents_event;
DROP INDEX incidents_time;
ALTER TABLE incidents DROP COLUMN utc_ms, DROP COLUMN auto_event, DROP COLUMN auto_causes,
  DROP COLUMN triage_id, DROP COLUMN state, DROP COLUMN event, DROP COLUMN causes,
  DROP COLUMN id_need;
CREATE FUNCTION kensa_utc(t TEXT) RETURNS TEXT LANGUAGE sql AS 'SELECT t';
CREATE FUNCTION kensa_json_event(t TEXT) RETURNS TEXT LANGUAGE sql AS 'SELECT t';
UPDATE kensa_schema SET version = 3;
";

/// What a listing shows of each incident.
fn shown(list: &[Incident]) -> Vec<String> {
    list.iter()
        .map(|i| {
            format!(
                "{} {} {} {:?} {:?} {:?}",
                i.id,
                i.time,
                i.detections,
                i.automatic,
                i.current(),
                i.triage.as_ref().map(|t| (t.false_positive, &t.by))
            )
        })
        .collect()
}

fn untriaged() -> Filter {
    Filter {
        state: Some(TriageState::Untriaged),
        ..Filter::default()
    }
}

#[test]
fn a_version_3_database_gets_its_aggregation_columns() {
    let env = crate::env();
    let store = env.store();
    let ids = {
        let mut j = Journal::new(&store, "plant-a");
        let leak = class(Event::Leak, &[Cause::Insider]);
        vec![
            j.incident("2019-05-10T03:00:00Z", Location::Removable, None, 3),
            j.incident("2019-06-01T03:00:00+09:00", Location::Host, None, 1),
            j.incident("2019-07-02T03:00:00Z", Location::Removable, Some(&leak), 2),
            j.incident("2018-12-24T03:00:00Z", Location::Removable, Some(&leak), 1),
        ]
    };
    let triage = |fp: bool| Triage {
        event: Some(Event::MalwareInfection),
        causes: vec![Cause::SuspiciousFile],
        false_positive: fp,
        note: None,
        by: if fp { "b" } else { "a" }.into(),
    };
    incidents::triage(&store, &ids[0][..12], &triage(false)).unwrap();
    incidents::triage(&store, &ids[3][..12], &triage(true)).unwrap();
    let as_of = NaiveDate::from_ymd_opt(2019, 9, 30).unwrap();
    let before = shown(&incidents::list(&store, &Filter::default()).unwrap());
    let before_untriaged = shown(&incidents::list(&store, &untriaged()).unwrap());
    let report = store_report(&store, 2019, as_of, Tokyo);
    drop(store);

    let url = env.database.clone().expect("a PostgreSQL environment");
    let target =
        kensa::collector::PgTarget::new(&url, Some(&crate::support::pg::server().password_file))
            .unwrap();
    let mut client = target.connect().unwrap();
    client.batch_execute(TO_VERSION_3).unwrap();
    drop(client);

    let store = env.store();
    assert_eq!(store.schema_version().unwrap(), 5);
    assert_eq!(
        shown(&incidents::list(&store, &Filter::default()).unwrap()),
        before
    );
    assert_eq!(
        shown(&incidents::list(&store, &untriaged()).unwrap()),
        before_untriaged
    );
    assert_eq!(before_untriaged.len(), 2);
    assert_eq!(store_report(&store, 2019, as_of, Tokyo), report);
    assert_eq!(report.false_positives, 1);
}
