//! Test binary `scan`: `kensa scan` end to end, archives (walker, CLI and
//! containers behind stubs),
//! the compiled-rules cache, real public rule sets and signed rule packs.
//! Run one area: `cargo test --release --test scan`; one module:
//! `cargo test --release --test scan archive_walk::`.

#[path = "../support/mod.rs"]
mod support;

mod archive_offsets;
mod archive_scan;
mod archive_walk;
mod cli_docs;
mod config_check;
mod deep_cab;
mod deep_ole2;
mod deep_pdf;
mod deep_rar;
mod deep_text;
mod deep_unix;
mod deep_upx;
mod false_positives;
mod hostile_walk;
mod operator_output;
mod rules_cache;
mod rules_compat;
mod rules_pack;
mod scan;
