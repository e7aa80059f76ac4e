//! What `kensa rules` prints: the `check` report (text or JSON), the
//! trusted publishers, a written pack, an install's outcome and note, and
//! the installed pack (`status`, text or JSON). Names that came from rule
//! files are sanitised here.

use super::{sanitize, Format};
use crate::engine::pathfmt;
use crate::keys::PublicKey;
use crate::rules::check::Report;
use crate::rules::pack::{InstallOutcome, InstalledPack, Manifest};
use std::path::{Path, PathBuf};

/// Prints the `rules check` report.
pub fn print_check(report: &Report, format: Format) {
    match format {
        Format::Json => println!("{}", check_json(report)),
        Format::Text => print_check_text(report),
    }
}

fn check_json(report: &Report) -> serde_json::Value {
    let (total, failed) = (report.files.len(), report.failed());
    let files: Vec<serde_json::Value> = report
        .files
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": pathfmt::display(&f.path),
                "compiled": f.compiled,
                "errors": f.errors,
                "warnings": f.warnings,
            })
        })
        .collect();
    serde_json::json!({
        "v": 1,
        "files": files,
        "totals": {
            "files": total,
            "compiled": total - failed,
            "failed": failed,
            "rules": report.rules,
            "hashes": report.hashes,
        }
    })
}

fn print_check_text(report: &Report) {
    for f in &report.files {
        let state = if f.compiled { "ok    " } else { "FAILED" };
        let extra = if f.warnings.is_empty() {
            String::new()
        } else {
            format!(" ({} warning(s))", f.warnings.len())
        };
        println!("{state} {}{extra}", pathfmt::display(&f.path));
        for i in f.errors.iter().chain(f.warnings.iter()) {
            println!("  {}", sanitize(&i.to_string()));
        }
    }
    let (total, failed) = (report.files.len(), report.failed());
    println!(
        "{total} file(s): {} compiled, {failed} failed; {} rule(s), {} hash(es)",
        total - failed,
        report.rules,
        report.hashes
    );
}

/// Prints the trusted publisher keys, or how to add one.
pub fn print_trusted(keys: &[PublicKey]) {
    if keys.is_empty() {
        println!("no trusted rule pack publishers (add one with `kensa rules trust PUBKEY`)");
    }
    for k in keys {
        println!("{}", k.key_id_hex());
    }
}

/// Notes on stderr the files `rules pack` left out of the pack.
pub fn print_skipped(skipped: &[PathBuf]) {
    for s in skipped {
        eprintln!(
            "kensa: note: {} is not a rule or hash-list file; left out",
            pathfmt::display(s)
        );
    }
}

/// Says what `rules pack` wrote: `bytes` long, signed by key `signer`.
pub fn print_pack(out: &Path, bytes: usize, manifest: &Manifest, signer: &str) {
    println!(
        "wrote {}: version {}, {} file(s), {bytes} bytes, digest {}, signed by {}",
        pathfmt::show(out),
        manifest.version,
        manifest.files.len(),
        manifest.digest(),
        signer
    );
}

/// Says on stderr that the agent key was created to record rule changes.
pub fn print_key_created(path: &Path, key_id: &str) {
    eprintln!(
        "kensa: note: created the agent key {} (agent {key_id}) to record rule changes",
        pathfmt::show(path)
    );
}

/// Says on stderr that the `rules_change` record was queued in the inbox
/// of the journal in `dir`, held by another process.
pub fn print_change_queued(dir: &Path) {
    eprintln!(
        "kensa: note: the journal {} is held by another kensa process (normally the running agent, which keeps it until it stops); the rules_change record is queued there and that process journals it (the agent does when it picks up the new pack, within seconds)",
        pathfmt::show(dir)
    );
}

/// Says what `rules install` did.
pub fn print_install(outcome: &InstallOutcome) {
    match outcome {
        InstallOutcome::AlreadyInstalled(p) => {
            println!(
                "rule pack version {} (digest {}) is already installed; nothing to do",
                p.version,
                short(&p.digest)
            );
        }
        InstallOutcome::Installed { pack, previous, .. } => {
            let prev = previous
                .as_ref()
                .map(|p| format!("version {}", p.version))
                .unwrap_or_else(|| "bundled signatures only".into());
            println!(
                "installed rule pack version {} (digest {}, publisher {}, {} file(s), {} rule(s) active); was {prev}{}",
                pack.version,
                short(&pack.digest),
                pack.publisher,
                pack.files,
                pack.rules,
                if pack.downgrade { " [downgrade, recorded]" } else { "" }
            );
        }
    }
}

/// The first 16 characters of a digest.
fn short(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}

/// Prints the installed pack (`rules status`), or that there is none.
pub fn print_status(pack: Option<&InstalledPack>, format: Format) {
    match format {
        Format::Json => {
            let v = match pack {
                Some(p) => serde_json::json!({"v": 1, "installed": true, "pack": p, "dir": p.dir}),
                None => serde_json::json!({"v": 1, "installed": false}),
            };
            println!("{v}");
        }
        Format::Text => match pack {
            None => println!("no rule pack installed: bundled signatures only"),
            Some(p) => {
                println!("version:    {}", p.version);
                println!("digest:     {}", p.digest);
                println!("publisher:  {}", p.publisher);
                println!("created:    {}", p.created);
                println!("installed:  {}", p.installed);
                println!("files:      {}", p.files);
                println!("rules:      {} (bundled + pack)", p.rules);
                if p.downgrade {
                    println!("note:       installed as a downgrade (--allow-downgrade)");
                }
            }
        },
    }
}
