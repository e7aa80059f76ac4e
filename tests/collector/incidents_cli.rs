//! The analyst's commands end to end through the `kensa` binary: list
//! untriaged incidents, triage one twice, show its history, write a report.

use crate::support::{report_common, TestEnv};

use kensa::findings::Location;
use report_common::*;
use std::process::Output;

fn kensa(env: &TestEnv, args: &[&str]) -> Output {
    env.command()
        .args(args)
        .env_remove("KENSA_CONFIG")
        .env("USER", "tester")
        .output()
        .expect("run kensa")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "kensa failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn analyst_quarter() {
    let env = crate::env();
    let (a, b) = {
        let conn = env.store();
        let mut j = Journal::new(&conn, "hmi-agent");
        let a = j.incident("2019-05-10T03:00:00Z", Location::Removable, None, 3);
        let b = j.incident("2019-06-01T03:00:00Z", Location::Host, None, 1);
        (a, b)
    };
    let state = &env;

    let list = stdout(&kensa(state, &["incidents", "list", "--untriaged"]));
    assert!(list.contains(&a[..12]) && list.contains(&b[..12]), "{list}");
    assert!(
        list.contains("2019-05-10 12:00"),
        "times shown in Tokyo time:\n{list}"
    );
    assert!(list.contains("2 incident(s), 2 untriaged"), "{list}");

    let json = stdout(&kensa(state, &["incidents", "list", "--format", "json"]));
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["detections"], 3);
    assert_eq!(rows[0]["automatic"]["event"], "precursor");
    assert_eq!(rows[0]["current"]["event"], "precursor");
    assert_eq!(rows[0]["state"], "untriaged");
    assert_eq!(rows[1]["current"]["event"], "malware_infection");

    stdout(&kensa(
        state,
        &[
            "triage",
            &a[..8],
            "--event",
            "malware_infection",
            "--cause",
            "suspicious_file",
            "--note",
            "first look",
        ],
    ));
    stdout(&kensa(
        state,
        &[
            "triage",
            &a[..8],
            "--cause",
            "contractor_mismanagement,suspicious_file",
            "--by",
            "suzuki",
        ],
    ));
    let bad = kensa(state, &["triage", &a[..8], "--event", "meltdown"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("meltdown") && err.contains("malware_infection"),
        "{err}"
    );
    let none = kensa(state, &["triage", &a[..8]]);
    assert!(!none.status.success(), "a triage must decide something");

    let show = stdout(&kensa(state, &["incidents", "show", &a[..12]]));
    assert!(show.contains("findings (3):"), "{show}");
    assert!(show.contains("triage history (2):"), "{show}");
    assert!(
        show.contains("#1") && show.contains("by tester") && show.contains("note: first look"),
        "{show}"
    );
    assert!(
        show.contains("#2")
            && show.contains(
                "by suzuki: malware_infection / suspicious_file,contractor_mismanagement"
            ),
        "{show}"
    );

    let untriaged = stdout(&kensa(state, &["incidents", "list", "--untriaged"]));
    assert!(
        untriaged.contains("1 incident(s), 1 untriaged"),
        "{untriaged}"
    );

    let out = env.base().join("fy2019.csv");
    stdout(&kensa(
        state,
        &[
            "report",
            "--fy",
            "2019",
            "--as-of",
            "2019-07-19",
            "--lang",
            "en",
            "--format",
            "csv",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let csv = std::fs::read_to_string(&out).unwrap();
    let line = |prefix: &str| {
        csv.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {csv}"))
            .to_string()
    };
    assert_eq!(
        line("Incidents reported,"),
        "Incidents reported,0,0,0,0,2,0,—,—,2"
    );
    assert!(line(
        "Event type › Events that occurred › Events leading to the above › Malware infection,"
    )
    .ends_with(",0,0,0,0,2,0,—,—,2"));
    assert!(
        line("Cause › Accidental causes › Contractor management error,").ends_with(",1,0,—,—,1")
    );
    assert!(line("Cause › Other causes › Unknown,").ends_with(",1,0,—,—,1"));

    let text = stdout(&kensa(
        state,
        &["report", "--fy", "2019", "--as-of", "2019-07-19"],
    ));
    assert!(
        text.contains("未トリアージ (自動分類のまま計上): 1 件"),
        "{text}"
    );

    // A state directory with no database (SQLite: nothing to open).
    let missing = kensa(&TestEnv::new(), &["incidents", "list"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no collector database"));
}

#[test]
fn triage_without_by_or_user_takes_the_system_account_name() {
    let env = crate::env();
    let a = {
        let conn = env.store();
        let mut j = Journal::new(&conn, "hmi-agent");
        j.incident("2019-05-10T03:00:00Z", Location::Removable, None, 1)
    };
    let out = env
        .command()
        .args(["triage", &a[..12], "--event", "malware_infection"])
        .env_remove("KENSA_CONFIG")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .expect("run kensa");
    let text = stdout(&out);
    let account = kensa::system::current_user();
    assert!(text.contains(&format!("by {account}")), "{text}");
}
