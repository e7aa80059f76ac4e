//! Test binary `collector`: importing into the collector database, incident
//! listing and triage, and the NISC-taxonomy report (against the seed tables
//! in tests/data/nisc-2019q1-tables.txt), text, CSV and HTML; hostile
//! bundles, names and races against import (`forge` signs bundles of any
//! content with a test agent's key); `kensa forward` as OCSF and ECS,
//! validated against the schemas in tests/data/ocsf-1.8.0 and
//! tests/data/ecs, and its per-destination cursors.
//! Every test here runs on SQLite; `tests/collector_pg` runs the same
//! modules on PostgreSQL.
//! Run: `cargo test --release --test collector`.

#[path = "../support/mod.rs"]
mod support;

/// Whether the collector database of these tests is PostgreSQL.
const POSTGRES: bool = false;

/// A test environment on this binary's backend.
fn env() -> support::TestEnv {
    support::TestEnv::with_backend(POSTGRES)
}

mod analyst_views;
mod forge;
mod forward;
mod future_and_refused;
mod hostile_import;
mod import_concurrency;
mod import_dir;
mod incidents_agent;
mod incidents_cli;
mod incidents_same_session;
mod incidents_triage;
mod many_writers;
mod refusals;
mod report_golden;
mod report_handover;
mod report_html;
mod report_quarters;
mod taxonomy_cli;
mod taxonomy_seed;
