//! Test binary `service`: the Debian package's service under a real
//! systemd. A minimal Debian 12 root file system (mmdebstrap, cached under
//! the target directory) is booted with `systemd-nspawn --boot`; inside it
//! the package is installed, upgraded, removed and purged, and the unit is
//! started, fed media on loop devices, reloaded, stopped and audited for
//! system calls its filter would deny. Needs root, network to a Debian
//! mirror the first time (the root file system is cached), loop devices,
//! cargo-deb, and the Debian packages mmdebstrap, systemd-container and
//! e2fsprogs (tests/run-all.sh installs them).
//! Run: `cargo test --release --test service`.

#[path = "../support/mod.rs"]
mod support;

mod fixtures;
mod lab;
mod life;
