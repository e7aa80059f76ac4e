//! The Windows build (`x86_64-pc-windows-gnu`) tested under Wine from
//! Linux: [`wine`] sets up the binary and a private prefix; `scan` holds
//! the scan tests, `bundles` the journal, bundle and rule-pack exchange
//! between the Windows and the Linux build, `collector` the collector and
//! report on Windows, `service` the Windows service under Wine's service
//! control manager and the state folder's access list, `media` removable
//! drives arriving and leaving through Wine's mount manager and the
//! operator's verdict, `release` the zip and MSI of
//! `packaging/windows/release.sh` (the MSI installed by Wine's msiexec),
//! `ntfs` what a Windows file is beyond its bytes (attributes, locked
//! files, alternate data streams), `tamper` the bundle tamper cases
//! refused by the Windows build's verifier and importer.
//! When the Windows part cannot run (no cross-built binary, no Wine, no
//! mingw) every test here fails saying so.

#[path = "../support/mod.rs"]
mod support;

mod bundles;
mod collector;
mod media;
mod ntfs;
mod release;
mod scan;
mod service;
mod tamper;
mod wine;
