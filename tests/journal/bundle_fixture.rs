//! A bundle written by an earlier kensa (tests/data/bundle-v1, see its
//! README) still verifies, imports after `trust add`, and its incident is
//! listed: bundles already on sticks stay readable across versions.

use crate::support::{self, TestEnv};
use std::path::PathBuf;
use std::process::Output;

const AGENT: &str = "BE414BFADCE88E89";
const BUNDLE: &str = "kensa-BE414BFADCE88E89-1-5.jsonl";
/// The first 12 hex digits of the fixture's session id.
const INCIDENT: &str = "ec5fd41e291c";

/// Copies the fixture into the test's temporary folder (import and verify
/// must not write next to the repository's files).
fn fixture(env: &TestEnv) -> (PathBuf, PathBuf) {
    let src = support::data().join("bundle-v1");
    let dst = env.base().join("bundle-v1");
    std::fs::create_dir_all(&dst).unwrap();
    for name in [
        BUNDLE.to_string(),
        format!("{BUNDLE}.minisig"),
        "agent.pub".to_string(),
    ] {
        std::fs::copy(src.join(&name), dst.join(&name))
            .unwrap_or_else(|e| panic!("fixture file {name}: {e}"));
    }
    (dst.join(BUNDLE), dst.join("agent.pub"))
}

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn bundle_from_before_issue_10_verifies_imports_and_lists_its_incident() {
    let env = TestEnv::new();
    let (bundle, pubkey) = fixture(&env);

    let out = env.run([
        "verify".as_ref(),
        "--pubkey".as_ref(),
        pubkey.as_os_str(),
        bundle.as_os_str(),
    ]);
    ok(&out, "kensa verify");

    let out = env.run([
        "trust".as_ref(),
        "add".as_ref(),
        pubkey.as_os_str(),
        "--name".as_ref(),
        "fixture".as_ref(),
    ]);
    ok(&out, "kensa trust add");

    let out = env.run(["import".as_ref(), bundle.as_os_str()]);
    let text = ok(&out, "kensa import");
    assert!(text.contains("5 new"), "import output: {text}");

    let text = ok(&env.run(["incidents", "list"]), "kensa incidents list");
    // Incident ids are AGENT/SESSION (issue 11, point 10).
    let shown = format!("{}/{INCIDENT}", &AGENT[..4]);
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with(&shown)).collect();
    assert_eq!(rows.len(), 1, "incident {INCIDENT} in:\n{text}");
    // The agent by the name it is trusted under (issue 12, point 13).
    assert!(rows[0].contains("  fixture  "), "{}", rows[0]);
    assert!(text.contains("1 incident(s)"), "{text}");

    let text = ok(
        &env.run(["incidents", "show", INCIDENT]),
        "kensa incidents show",
    );
    assert!(text.contains("kensa_fixture_marker"), "{text}");
}

#[test]
fn the_fixture_holds_no_test_virus() {
    // The finding is a harmless marker: no committed file is a detection.
    let dir = support::data().join("bundle-v1");
    let marker = support::eicar();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_slice()),
            "{} holds EICAR",
            p.display()
        );
    }
}
