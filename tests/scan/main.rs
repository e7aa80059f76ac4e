//! Test binary `scan`: `kensa scan` end to end, archives (walker and CLI),
//! the compiled-rules cache, real public rule sets and signed rule packs.
//! Run one area: `cargo test --release --test scan`; one module:
//! `cargo test --release --test scan archive_walk::`.

#[path = "../support/mod.rs"]
mod support;

mod archive_scan;
mod archive_walk;
mod hostile_walk;
mod rules_cache;
mod rules_compat;
mod rules_pack;
mod scan;
