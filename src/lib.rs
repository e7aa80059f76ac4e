//! kensa — inspection agent for removable media and maintenance PCs on closed
//! OT networks. The library holds every piece of logic; `main.rs` only maps
//! errors to exit codes.

// Production code handles every error; `unwrap` is for tests only.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod agent;
pub mod bundle;
pub mod cli;
pub mod collector;
pub mod commands;
pub mod config;
pub mod dacl;
pub mod disk;
pub use kensa_diskfs as diskfs;
pub mod engine;
pub mod findings;
pub mod forward;
pub mod fsutil;
#[cfg(target_os = "linux")]
pub mod gate;
#[cfg(not(target_os = "linux"))]
#[path = "gate/elsewhere.rs"]
pub mod gate;
pub mod journal;
pub mod keys;
pub mod logging;
pub mod media;
pub mod notify;
#[cfg(windows)]
pub mod notify_windows;
pub mod output;
pub mod report;
pub mod rules;
pub mod service;
pub mod state;
pub mod system;
