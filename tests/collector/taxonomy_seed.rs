//! The taxonomy in code (`findings::taxonomy`) against the seed document's
//! tables (the fixture `tests/data/nisc-2019q1-tables.txt`): the same rows, in
//! the same order, with the same Japanese labels and group headings.

use crate::support::report_common;

use kensa::findings::taxonomy::{CAUSES, EVENTS};

#[test]
fn events_match_seed_rows() {
    let seed = report_common::seed_tables();
    let labels: Vec<&str> = seed.events.iter().map(|r| r.label.as_str()).collect();
    let ours: Vec<&str> = EVENTS.iter().map(|e| e.label_ja).collect();
    assert_eq!(labels, ours);
}

#[test]
fn causes_match_seed_rows() {
    let seed = report_common::seed_tables();
    let labels: Vec<&str> = seed.causes.iter().map(|r| r.label.as_str()).collect();
    let ours: Vec<&str> = CAUSES.iter().map(|e| e.label_ja).collect();
    assert_eq!(labels, ours);
}

#[test]
fn group_headings_appear_in_the_seed() {
    let text = std::fs::read_to_string(report_common::seed_path()).unwrap();
    for c in CAUSES {
        assert!(text.contains(c.group_ja), "{} not in seed", c.group_ja);
    }
    for e in EVENTS {
        assert!(text.contains(e.group_ja), "{} not in seed", e.group_ja);
    }
}
