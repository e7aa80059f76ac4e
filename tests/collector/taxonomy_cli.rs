//! `kensa taxonomy` (issue 12.12): every event and cause code `triage`
//! accepts, with Japanese and English labels; `triage --help` points to it
//! and says that a new decision's causes replace the previous ones.

use crate::support::TestEnv;

#[test]
fn taxonomy_lists_every_code_with_both_labels() {
    let env = TestEnv::new();
    let out = env.run(["taxonomy", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = doc["events"].as_array().unwrap();
    let causes = doc["causes"].as_array().unwrap();
    assert_eq!(events.len(), 8, "the seed's eight event kinds");
    assert_eq!(causes.len(), 17, "the seed's seventeen causes");
    for row in events.iter().chain(causes) {
        for k in ["code", "group_ja", "group_en", "label_ja", "label_en"] {
            assert!(!row[k].as_str().unwrap().is_empty(), "{row}");
        }
    }
    let text = String::from_utf8(env.run(["taxonomy"]).stdout).unwrap();
    for row in events.iter().chain(causes) {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == row["code"].as_str())
            .unwrap_or_else(|| panic!("{} missing from:\n{text}", row["code"]));
        assert!(line.contains(row["label_ja"].as_str().unwrap()), "{line}");
        assert!(line.contains(row["label_en"].as_str().unwrap()), "{line}");
    }
    assert!(text.contains("malware_infection") && text.contains("マルウェア等の感染"));

    // Every listed code is one `triage` accepts: clap's parser agrees.
    for row in events {
        let code = row["code"].as_str().unwrap();
        let out = env.run(["triage", "no-such-incident", "--event", code]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("invalid value"), "{code}: {err}");
    }
    for row in causes {
        let code = row["code"].as_str().unwrap();
        let out = env.run(["triage", "no-such-incident", "--cause", code]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("invalid value"), "{code}: {err}");
    }
}

#[test]
fn triage_help_points_to_the_taxonomy_and_says_causes_are_replaced() {
    let env = TestEnv::new();
    let help = String::from_utf8(env.run(["triage", "--help"]).stdout).unwrap();
    // Wrapped to the terminal's width: compare with the lines joined.
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("kensa taxonomy"), "{help}");
    assert!(
        flat.contains("replace all causes of the previous decision"),
        "{help}"
    );
}
