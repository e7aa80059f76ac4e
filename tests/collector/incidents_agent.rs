//! `kensa incidents|triage|report` on an agent work over its own journal:
//! journalled scans show up as incidents without any export or import, and
//! each later scan adds its incident once.

use crate::support;

use std::path::Path;
use support::*;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn journalled_scan(env: &TestEnv, dir: &Path) {
    let out = env.run([
        "scan".as_ref(),
        "--journal".as_ref(),
        "--no-progress".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the EICAR file must be found: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn incidents(env: &TestEnv) -> Vec<serde_json::Value> {
    ok(&env.run(["incidents", "list", "--format", "json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn incidents_on_an_agent_come_from_its_own_journal() {
    let env = crate::env();
    ok(&env.run(["keygen"]));
    let agent =
        kensa::keys::PublicKey::load(&kensa::state::StateDir::new(env.state.clone()).public_key())
            .unwrap()
            .key_id_hex();
    let first = env.root.join("first");
    let second = env.root.join("second");
    env.file("first/tools/eicar.com", &eicar());
    env.file("first/readme.txt", b"notes\n");
    env.file("second/eicar.txt", &eicar());

    journalled_scan(&env, &first);
    assert!(!env.database_exists());
    let list = incidents(&env);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["agent"], agent.as_str());
    assert_eq!(list[0]["detections"], 1);
    assert_eq!(list[0]["state"], "untriaged");
    // Listing again imports nothing twice.
    assert_eq!(incidents(&env).len(), 1);

    journalled_scan(&env, &second);
    let list = incidents(&env);
    assert_eq!(list.len(), 2, "{list:?}");
    let ids: Vec<&str> = list.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_ne!(ids[0], ids[1]);

    // Triage and the report read the same store.
    let shown = ok(&env.run(["incidents", "show", ids[0]]));
    assert!(shown.contains("eicar"), "{shown}");
    ok(&env.run([
        "triage",
        ids[0],
        "--event",
        "malware_infection",
        "--cause",
        "user_error",
        "--by",
        "analyst",
    ]));
    let list = incidents(&env);
    assert_eq!(
        list.iter().filter(|i| i["state"] == "triaged").count(),
        1,
        "{list:?}"
    );

    use chrono::Datelike;
    let today = chrono::Local::now().date_naive();
    let fy = if today.month() < 4 {
        today.year() - 1
    } else {
        today.year()
    };
    // As of the year's end, so today's quarter counts as closed.
    let report = ok(&env.run([
        "report",
        "--fy",
        &fy.to_string(),
        "--as-of",
        &format!("{}-04-01", fy + 1),
        "--format",
        "json",
    ]));
    // The events table counts both incidents in the year's total column.
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let events = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["rows"][0]["code"] == "precursor")
        .expect("the events table");
    let total: u64 = events["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["cells"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 2, "{events}");

    // The journal stays intact and is only read.
    kensa::journal::verify(
        &kensa::state::StateDir::new(env.state.clone()).journal_dir(),
        &kensa::keys::PublicKey::load(&kensa::state::StateDir::new(env.state.clone()).public_key())
            .unwrap(),
    )
    .unwrap();
}
