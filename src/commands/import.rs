//! `kensa import BUNDLE...`: verifies each bundle against the trusted keys
//! and adds its records to `<state>/kensa.db`, one transaction per bundle.
//! Bundles are taken in seq order per agent, so a stick holding several
//! consecutive bundles imports in one go. Every name printed (bundle file
//! names, agent ids, error texts that quote them) is made inert first.

use super::Context;
use crate::bundle;
use crate::cli::ImportArgs;
use crate::collector::{import_bundle_file, Store};
use crate::engine::pathfmt;
use crate::fsutil::read_capped_text;
use crate::output::sanitize;
use anyhow::Context as _;
use std::path::Path;

/// A path as printed: escaped (`pathfmt`), then made safe for a terminal.
fn shown(p: &Path) -> String {
    sanitize(&pathfmt::display(p)).into_owned()
}

pub fn run(ctx: &Context, args: &ImportArgs) -> anyhow::Result<u8> {
    let db = ctx.state.database();
    let mut store = Store::open(&db).with_context(|| format!("opening {}", shown(&db)))?;
    // Order by (agent, from) as named in the signature's trusted comment;
    // the comment is only a sort key here, import verifies it.
    let mut paths = Vec::new();
    for p in &args.bundles {
        let p = super::absolute(p.clone())?;
        let key = read_capped_text(&bundle::signature_path(&p), crate::keys::MAX_KEY_FILE)
            .ok()
            .and_then(|s| crate::keys::SignatureFile::parse(&s).ok())
            .and_then(|s| bundle::Claim::parse(&s.trusted_comment).ok())
            .map(|c| (c.agent, c.from));
        paths.push((key, p));
    }
    paths.sort();
    let mut code = 0;
    for (_, path) in paths {
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
