//! The kensa modules that handle bytes from media (keys, journal lines,
//! bundles, collector import, and the incident/report code the collector
//! module pulls in), compiled from the main crate's own source
//! files so the fuzzer exercises exactly that code without building the
//! scan engine's dependencies.

#[path = "../../src/findings/mod.rs"]
pub mod findings;
#[path = "../../src/state.rs"]
pub mod state;
#[path = "../../src/fsutil.rs"]
pub mod fsutil;
#[path = "../../src/keys.rs"]
pub mod keys;
#[path = "../../src/journal/mod.rs"]
pub mod journal;
#[path = "../../src/bundle/mod.rs"]
pub mod bundle;
#[path = "../../src/collector/mod.rs"]
pub mod collector;
#[path = "../../src/report/mod.rs"]
pub mod report;
