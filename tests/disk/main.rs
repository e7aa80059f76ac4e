//! Test binary `disk`: disks and disk images read in user space — each
//! file system's reader against a real mount of the same image, partition
//! tables, hostile images, the sandboxed parser, and the gate in the agent.
//! Run one area: `cargo test --release --test disk`; one module:
//! `cargo test --release --test disk fat::`.

mod iso;
#[path = "../support/mod.rs"]
mod support;

mod exfat;
mod ext;
mod fat;
mod ntfs;
mod partition;
mod sandbox;
mod udf;
