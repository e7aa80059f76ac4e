//! The collector (SQLite) and the NISC report on Windows: a Windows
//! agent's bundle imported by the Windows build itself, listed as an
//! incident, triaged, and counted in the quarterly report.

use crate::bundles::windows_bundle;
use crate::support::TestEnv;
use crate::wine::{text, win, zpath};

fn ok(o: &std::process::Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn collector_imports_triages_and_reports_on_windows() {
    let agent = TestEnv::new();
    let bundle = windows_bundle(&agent);
    let pubkey = kensa::state::StateDir::new(agent.state.clone()).public_key();
    let c = TestEnv::new();
    let w = win();
    ok(
        &w.run(
            &c,
            "trust",
            &["trust", "add", &zpath(&pubkey), "--name", "laptop"],
        ),
        "trust add",
    );
    ok(&w.run(&c, "import", &["import", &zpath(&bundle)]), "import");
    let list = ok(
        &w.run(&c, "incidents", &["incidents", "list", "--format", "json"]),
        "incidents",
    );
    let first: serde_json::Value =
        serde_json::from_str(list.lines().next().unwrap_or("{}")).unwrap();
    let id = first["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no incident: {list}"))
        .to_string();
    ok(
        &w.run(
            &c,
            "triage",
            &[
                "triage",
                &id,
                "--event",
                "malware_infection",
                "--cause",
                "user_error",
                "--by",
                "analyst",
            ],
        ),
        "triage",
    );
    use chrono::Datelike;
    let today = chrono::Local::now().date_naive();
    let fy = if today.month() < 4 {
        today.year() - 1
    } else {
        today.year()
    };
    let as_of = format!("{}-04-01", fy + 1);
    let report = ok(
        &w.run(
            &c,
            "report",
            &[
                "report",
                "--fy",
                &fy.to_string(),
                "--as-of",
                &as_of,
                "--format",
                "json",
            ],
        ),
        "report",
    );
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        v["tables"].as_array().is_some_and(|t| !t.is_empty()),
        "{report}"
    );
    assert!(
        c.state.join("kensa.db").is_file(),
        "the collector's SQLite file"
    );
}
