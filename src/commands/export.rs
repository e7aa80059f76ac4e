//! `kensa export --out DIR [--all | --since SEQ]`: writes a signed bundle of
//! the journal (by default everything not exported yet). The output folder
//! is made and checked writable before anything is exported, so a refused
//! export leaves the journal as it was (an export appends a checkpoint).

use super::Context;
use crate::bundle::{self, ExportRange};
use crate::cli::ExportArgs;
use crate::engine::pathfmt;
use crate::journal::Journal;
use crate::keys::SecretKey;
use crate::output::sanitize;
use anyhow::Context as _;
use std::path::Path;

/// Makes `out` and checks a file can be created in it (a probe file,
/// written and removed), so export fails before it touches the journal.
fn check_out_dir(out: &Path) -> anyhow::Result<()> {
    let shown = || sanitize(&pathfmt::display(out)).into_owned();
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the output folder {}", shown()))?;
    let probe = out.join(format!(".kensa-export-probe.{}", crate::findings::new_id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("the output folder {} is not writable", shown()))?;
    std::fs::remove_file(&probe)
        .with_context(|| format!("removing the probe file in {}", shown()))?;
    Ok(())
}

pub fn run(ctx: &Context, args: &ExportArgs) -> anyhow::Result<u8> {
    let sk_path = ctx.state.secret_key();
    let key = SecretKey::load(&sk_path).with_context(|| {
        format!(
            "loading the agent key {} (run kensa keygen)",
            sanitize(&pathfmt::display(&sk_path))
        )
    })?;
    let out = super::absolute(args.out.clone())?;
    check_out_dir(&out)?;
    let dir = ctx.state.journal_dir();
    let mut j = Journal::open(&dir, &key)
        .with_context(|| format!("opening the journal {}", sanitize(&pathfmt::display(&dir))))?;
    let range = match (args.all, args.since) {
        (true, _) => ExportRange::All,
        (false, Some(s)) => ExportRange::Since(s),
        (false, None) => ExportRange::SinceLastExport,
    };
    let e = match bundle::export(&mut j, &key, &out, range) {
        Err(bundle::BundleError::NothingNew { through }) => {
            println!("nothing new to export: every record through seq {through} is in an earlier bundle; no bundle written");
            return Ok(0);
        }
        other => other.context("exporting")?,
    };
    println!(
        "exported seq {}-{} of agent {}",
        e.claim.from, e.claim.to, e.claim.agent
    );
    println!("bundle:     {}", sanitize(&pathfmt::display(&e.bundle)));
    println!("signature:  {}", sanitize(&pathfmt::display(&e.signature)));
    println!("sha256:     {}", e.sha256);
    println!("head:       {}", e.claim.head);
    Ok(0)
}
