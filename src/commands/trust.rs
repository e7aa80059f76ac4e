//! `kensa trust add KEY.pub [--name NAME] | list | remove ID|NAME`. Names
//! and paths are made inert before they are printed.

use super::Context;
use crate::cli::{TrustAction, TrustArgs};
use crate::collector::{trust, Store};
use crate::engine::pathfmt;
use crate::keys::PublicKey;
use crate::output::sanitize;
use anyhow::Context as _;

pub fn run(ctx: &Context, args: TrustArgs) -> anyhow::Result<u8> {
    let db = super::database(ctx, &args.db)?;
    let store =
        Store::open_database(&db).with_context(|| format!("opening {}", sanitize(&db.shown())))?;
    match args.action {
        TrustAction::Add { key, name } => {
            let key_path = super::absolute(key)?;
            let pk = PublicKey::load(&key_path)
                .with_context(|| format!("reading {}", sanitize(&pathfmt::display(&key_path))))?;
            let row = trust::add(&store, &pk, name.as_deref()).context("trusting the key")?;
            println!(
                "trusted agent {}{}",
                sanitize(&row.agent),
                row.name
                    .map(|n| format!(" ({})", sanitize(&n)))
                    .unwrap_or_default()
            );
            Ok(0)
        }
        TrustAction::List => {
            for k in trust::list(&store)? {
                println!(
                    "{}  {}  {}  added {}",
                    sanitize(&k.agent),
                    k.name.as_deref().map(sanitize).unwrap_or_default(),
                    sanitize(&k.pubkey),
                    sanitize(&k.added)
                );
            }
            Ok(0)
        }
        TrustAction::Remove { id } => {
            let n = trust::remove(&store, &id)?;
            if n == 0 {
                anyhow::bail!("no trusted key with id or name \"{}\"", sanitize(&id));
            }
            println!("removed {n} key(s); records already imported stay");
            Ok(0)
        }
    }
}
