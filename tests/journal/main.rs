//! Test binary `journal`: the signed hash-chained journal and its bundles:
//! crash safety, tamper detection, the stock minisign cross-check and a
//! bundle exported by an earlier kensa (tests/data/bundle-v1).
//! Run: `cargo test --release --test journal`.

#[path = "../support/mod.rs"]
mod support;

mod bundle_fixture;
mod bundle_minisign;
mod bundle_tamper;
mod journal_crash;
mod key_rotation;
mod schema;
mod status;
mod unbounded_reads;
