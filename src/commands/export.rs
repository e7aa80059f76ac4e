//! `kensa export --out DIR [--all | --since SEQ]`: writes a signed bundle of
//! the journal (by default everything not exported yet).

use super::Context;
use crate::bundle::{self, ExportRange};
use crate::cli::ExportArgs;
use crate::journal::Journal;
use crate::keys::SecretKey;
use anyhow::Context as _;

pub fn run(ctx: &Context, args: &ExportArgs) -> anyhow::Result<u8> {
    let sk_path = ctx.state.secret_key();
    let key = SecretKey::load(&sk_path).with_context(|| {
        format!(
            "loading the agent key {} (run kensa keygen)",
            sk_path.display()
        )
    })?;
    let dir = ctx.state.journal_dir();
    let mut j = Journal::open(&dir, &key)
        .with_context(|| format!("opening the journal {}", dir.display()))?;
    let range = match (args.all, args.since) {
        (true, _) => ExportRange::All,
        (false, Some(s)) => ExportRange::Since(s),
        (false, None) => ExportRange::SinceLastExport,
    };
    let out = super::absolute(args.out.clone())?;
    let e = bundle::export(&mut j, &key, &out, range).context("exporting")?;
    println!(
        "exported seq {}-{} of agent {}",
        e.claim.from, e.claim.to, e.claim.agent
    );
    println!("bundle:     {}", e.bundle.display());
    println!("signature:  {}", e.signature.display());
    println!("sha256:     {}", e.sha256);
    println!("head:       {}", e.claim.head);
    Ok(0)
}
