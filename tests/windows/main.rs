//! The Windows build (`x86_64-pc-windows-gnu`) tested under Wine from
//! Linux: [`wine`] sets up the binary and a private prefix; `scan` holds
//! the scan tests, `bundles` the journal, bundle and rule-pack exchange
//! between the Windows and the Linux build, `collector` the collector and
//! report on Windows, `ntfs` what a Windows file is beyond its bytes
//! (attributes, locked files, alternate data streams). When the Windows
//! part cannot run (no cross-built binary, no Wine, no mingw) every test
//! here fails saying so.

#[path = "../support/mod.rs"]
mod support;

mod bundles;
mod collector;
mod ntfs;
mod scan;
mod wine;
