//! Test binary `collector_pg`: the collector tests of `tests/collector`
//! (the same source files) with the collector database on PostgreSQL: a
//! private server started by `support::pg` (Debian's `postgresql`
//! package), a fresh database per test environment. Import, idempotence,
//! gap and fork refusal with the database unchanged, concurrent importers,
//! triage history and the seed-table golden report, through the `kensa`
//! binary and the library's store alike; and (`migration`, this binary's
//! own) a database at schema version 3 migrated with its back-fill. The modules that touch no
//! database (taxonomy) and the browser rendering of the HTML report run
//! in `collector` only.
//! Run: `cargo test --release --test collector_pg`.

#[path = "../support/mod.rs"]
mod support;

/// Whether the collector database of these tests is PostgreSQL.
const POSTGRES: bool = true;

/// A test environment on this binary's backend.
fn env() -> support::TestEnv {
    support::TestEnv::with_backend(POSTGRES)
}

#[path = "../collector/analyst_views.rs"]
mod analyst_views;
#[path = "../collector/forge.rs"]
mod forge;
#[path = "../collector/future_and_refused.rs"]
mod future_and_refused;
#[path = "../collector/hostile_import.rs"]
mod hostile_import;
#[path = "../collector/import_concurrency.rs"]
mod import_concurrency;
#[path = "../collector/import_dir.rs"]
mod import_dir;
#[path = "../collector/incidents_agent.rs"]
mod incidents_agent;
#[path = "../collector/incidents_cli.rs"]
mod incidents_cli;
#[path = "../collector/incidents_same_session.rs"]
mod incidents_same_session;
#[path = "../collector/incidents_triage.rs"]
mod incidents_triage;
#[path = "../collector/many_writers.rs"]
mod many_writers;
mod migration;
#[path = "../collector/refusals.rs"]
mod refusals;
#[path = "../collector/report_golden.rs"]
mod report_golden;
#[path = "../collector/report_handover.rs"]
mod report_handover;
#[path = "../collector/report_quarters.rs"]
mod report_quarters;
