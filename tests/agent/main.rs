//! Test binary `agent`: `kensa run` with real mounts (FUSE, loop devices,
//! signals) and the Debian package. Needs root, /dev/fuse and loop devices;
//! a test that cannot get them fails and says why.
//! Run: `cargo test --release --test agent`.

#[path = "../support/mod.rs"]
mod support;

mod agent;
mod gate;
mod hostile_watch;
mod logs;
mod packaging;
mod syslog;
