//! The bundled signatures over the machine's whole `/usr`, with every
//! container, document and installer opened: no finding. Real files of a
//! real Debian system are the false-positive corpus; a rule or a decoder
//! that turns ordinary bytes into a detection fails here. Gaps (damaged or
//! unsupported containers, limits) are allowed and printed by reason.

use crate::support::{of_type, parse_lines, run_measured, TestEnv};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[test]
fn bundled_signatures_find_nothing_in_usr() {
    let env = TestEnv::new();
    let mut cmd = env.command();
    cmd.args(["scan", "--format", "json", "--no-progress", "/usr"]);
    let m = run_measured("usr", Duration::from_secs(1800), &mut cmd);
    let recs = parse_lines(&m.output);
    let findings: Vec<&Value> = of_type(&recs, "finding");
    let paths: Vec<&str> = findings
        .iter()
        .map(|f| f["path"].as_str().unwrap_or("?"))
        .collect();
    assert!(findings.is_empty(), "false positives in /usr: {paths:#?}");
    let mut gaps: BTreeMap<String, u64> = BTreeMap::new();
    for s in of_type(&recs, "skip") {
        *gaps
            .entry(s["reason"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let summary = of_type(&recs, "summary");
    let summary = summary.first().expect("a summary record");
    eprintln!(
        "/usr: {} files, {} bytes, {} s, skips by reason {gaps:?}",
        summary["files"], summary["bytes"], summary["seconds"]
    );
    assert!(summary["files"].as_u64().unwrap_or(0) > 1000, "{summary}");
    let code = m.output.status.code();
    assert!(matches!(code, Some(0) | Some(2)), "exit {code:?}");
}
