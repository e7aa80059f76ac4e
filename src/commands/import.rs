//! `kensa import BUNDLE|DIR...`: verifies each bundle against the trusted
//! keys and adds its records to the collector database (`<state>/kensa.db`,
//! or PostgreSQL: `--database`), one transaction per bundle. A directory stands for every bundle in it (`*.jsonl` files named
//! `kensa-*` or with a `.minisig` beside them, not recursing), and a
//! `.minisig` given by mistake for its bundle; a directory with no bundle
//! is an error. All bundles are taken in seq order per agent, so a stick
//! holding several consecutive bundles imports in one go whatever their
//! file names. Every name printed (bundle file names, agent ids, error
//! texts that quote them) is made inert first.

use super::Context;
use crate::bundle;
use crate::cli::ImportArgs;
use crate::collector::{import_bundle_file, Store};
use crate::engine::pathfmt;
use crate::fsutil::read_capped_text;
use crate::output::sanitize;
use anyhow::Context as _;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// A path as printed: escaped (`pathfmt`), then made safe for a terminal.
fn shown(p: &Path) -> String {
    sanitize(&pathfmt::display(p)).into_owned()
}

/// Whether `name` is a bundle's file name in a directory: `*.jsonl`, and
/// either `kensa-*` as `kensa export` names them or with a `.minisig`
/// beside it.
fn is_bundle(dir: &Path, name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    bytes.ends_with(b".jsonl")
        && (bytes.starts_with(b"kensa-") || bundle::signature_path(&dir.join(name)).is_file())
}

/// The bundles in a directory (not recursing); an error when there are
/// none.
fn bundles_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", shown(dir)))? {
        let entry = entry.with_context(|| format!("reading {}", shown(dir)))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir && is_bundle(dir, &entry.file_name()) {
            found.push(entry.path());
        }
    }
    if found.is_empty() {
        anyhow::bail!(
            "{}: no bundles in this directory (kensa-*.jsonl, each with its .minisig)",
            shown(dir)
        );
    }
    Ok(found)
}

/// The bundle files the arguments name: directories expanded, a
/// `.minisig` mapped to its bundle, each file once.
fn bundle_paths(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in args {
        let p = super::absolute(p.clone())?;
        if p.is_dir() {
            out.extend(bundles_in(&p)?);
        } else if let Some(b) = p.as_os_str().as_encoded_bytes().strip_suffix(b".minisig") {
            // SAFETY: cutting an ASCII suffix off a string's encoded bytes
            // leaves a valid encoding (std's documented split rule).
            out.push(PathBuf::from(unsafe {
                OsStr::from_encoded_bytes_unchecked(b)
            }));
        } else {
            out.push(p);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

/// The bundles in import order: by (agent, from) as the signature's
/// trusted comment names them, unreadable ones first, then by path. The
/// comment is only a sort key here; import verifies it.
fn in_seq_order(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut keyed: Vec<_> = paths
        .into_iter()
        .map(|p| {
            let key = read_capped_text(&bundle::signature_path(&p), crate::keys::MAX_KEY_FILE)
                .ok()
                .and_then(|s| crate::keys::SignatureFile::parse(&s).ok())
                .and_then(|s| bundle::Claim::parse(&s.trusted_comment).ok())
                .map(|c| (c.agent, c.from));
            (key, p)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, p)| p).collect()
}

pub fn run(ctx: &Context, args: &ImportArgs) -> anyhow::Result<u8> {
    let paths = in_seq_order(bundle_paths(&args.bundles)?);
    let db = super::database(ctx, &args.db)?;
    let mut store =
        Store::open_database(&db).with_context(|| format!("opening {}", sanitize(&db.shown())))?;
    let mut code = 0;
    for path in paths {
        match import_bundle_file(&mut store, &path) {
            Ok(o) => println!(
                "IMPORTED {}: agent {} seq {}-{}: {} new, {} already held",
                shown(&path),
                sanitize(&o.agent),
                o.from,
                o.to,
                o.added,
                o.duplicates
            ),
            Err(e) => {
                println!("REFUSED  {}: {}", shown(&path), sanitize(&e.to_string()));
                code = 1;
            }
        }
    }
    Ok(code)
}
