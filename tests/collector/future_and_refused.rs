//! Small points of issue 11 (13): a report for periods that have not
//! happened shows — (null in JSON), never zeros, and a fiscal year that has
//! not begun is refused (issue 12, 16); a refused
//! `kensa export` leaves the journal as it was (no checkpoint per attempt).

use super::forge::text;
use crate::support::{self, report_common, TestEnv};
use kensa::findings::Location;
use kensa::journal::Journal;

fn report(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["report", "--lang", "en"];
    all.extend(args);
    let o = env.run(&all);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// Data rows' cells of a JSON report.
fn json_cells(out: &str) -> Vec<Vec<serde_json::Value>> {
    let v: serde_json::Value = serde_json::from_str(out).unwrap();
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["rows"].as_array().unwrap().clone())
        .map(|r| r["cells"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn periods_that_have_not_happened_show_a_dash() {
    let env = crate::env();
    {
        let store = env.store();
        let mut j = report_common::Journal::new(&store, "agent");
        j.incident("2024-05-10T03:00:00Z", Location::Removable, None, 1);
    }
    // A fiscal year that has not begun is refused (issue 12, 16).
    for fy in ["5000", "2027"] {
        let o = env.run(["report", "--fy", fy, "--as-of", "2026-11-26"]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&format!("--fy {fy} is in the future")),
            "{}",
            text(&o)
        );
    }
    // FY2026 as of 2026-11-26: 3Q is running (its count so far), 4Q has
    // not begun: — (null in JSON), never 0.
    let args = ["--fy", "2026", "--as-of", "2026-11-26"];
    let json = report(&env, &[&args[..], &["--format", "json"]].concat());
    for cells in json_cells(&json) {
        assert!(cells[6].is_u64() && cells[7].is_null(), "{cells:?}\n{json}");
    }
    let csv = report(
        &env,
        &[&args[..], &["--format", "csv", "--no-bom"]].concat(),
    );
    for line in csv.lines().skip(1).take_while(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.rsplitn(10, ',').take(9).collect();
        assert_eq!(cells[1], "—", "{line}");
    }
    let html = report(&env, &[&args[..], &["--format", "html"]].concat());
    assert!(
        html.contains("<td class=\"n\">—</td><td class=\"n\">0*</td></tr>"),
        "{html}"
    );
    // A past year reads as before.
    let json = report(
        &env,
        &["--fy", "2025", "--as-of", "2026-11-26", "--format", "json"],
    );
    let first = &json_cells(&json)[0];
    assert!(first.iter().all(|c| c.is_u64()), "{first:?}");
    assert!(!json.contains("has not begun"), "{json}");
}

#[test]
fn a_refused_export_appends_nothing() {
    let env = crate::env();
    let key = support::journal::agent_key(&env.state);
    let mut j = Journal::open(&support::journal::journal_dir(&env.state), &key).unwrap();
    j.append(&support::journal::session("s1", "STICK")).unwrap();
    j.append(&support::journal::finding("s1", 1)).unwrap();
    drop(j);
    let before = support::journal::records(&env.state).len();
    let file = env.base().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = env.base().join("out");
    let attempts: [Vec<std::ffi::OsString>; 3] = [
        vec![
            "--since".into(),
            "999".into(),
            "--out".into(),
            out.clone().into(),
        ],
        vec!["--out".into(), file.clone().into()],
        vec![
            "--since".into(),
            "1".into(),
            "--out".into(),
            file.join("sub").into(),
        ],
    ];
    for args in &attempts {
        for _ in 0..3 {
            let o = env.command().arg("export").args(args).output().unwrap();
            assert_ne!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        }
        assert_eq!(
            support::journal::records(&env.state).len(),
            before,
            "{args:?}: a refused export appended to the journal"
        );
    }
    let o = env
        .command()
        .arg("export")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
