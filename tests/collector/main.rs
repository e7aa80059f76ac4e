//! Test binary `collector`: importing into the collector database, incident
//! listing and triage, and the NISC-taxonomy report (against the seed tables
//! in tests/data/nisc-2019q1-tables.txt), text, CSV and HTML.
//! Run: `cargo test --release --test collector`.

#[path = "../support/mod.rs"]
mod support;

mod incidents_agent;
mod incidents_cli;
mod incidents_triage;
mod report_golden;
mod report_html;
mod report_quarters;
mod taxonomy_cli;
mod taxonomy_seed;
