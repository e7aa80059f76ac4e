//! `kensa verify BUNDLE... [--pubkey KEY.pub]`: checks each bundle and says
//! exactly which check failed on which line. `kensa verify --journal`
//! re-verifies the agent's whole journal (opening it checks only the part
//! after its last checkpoint). A bundle passes only when every record in it
//! also has a shape kensa stores (as `import` checks). Every name printed
//! is made inert first.

use super::Context;
use crate::bundle;
use crate::cli::VerifyArgs;
use crate::engine::pathfmt;
use crate::keys::PublicKey;
use crate::output::sanitize;
use anyhow::Context as _;
use std::path::Path;

/// A path as printed: escaped (`pathfmt`), then made safe for a terminal.
fn shown(p: &Path) -> String {
    sanitize(&pathfmt::display(p)).into_owned()
}

pub fn run(ctx: &Context, args: &VerifyArgs) -> anyhow::Result<u8> {
    let pk_path = match &args.pubkey {
        Some(p) => super::absolute(p.clone())?,
        None => ctx.state.public_key(),
    };
    let key = PublicKey::load(&pk_path)
        .with_context(|| format!("loading the public key {}", shown(&pk_path)))?;
    let mut code = 0;
    if args.journal {
        code = verify_journal(&ctx.state.journal_dir(), &key);
    }
    let mut verified = Vec::new();
    for path in &args.bundles {
        let path = super::absolute(path.clone())?;
        let result = bundle::read_files(&path).and_then(|(data, sig)| {
            let key = own_key_for(ctx, args, &sig).unwrap_or_else(|| key.clone());
            bundle::verify_bytes(&data, &sig, &key)
        });
        let result = result
            .map_err(|e| e.to_string())
            .and_then(|vb| match schema_error(&vb) {
                Some(e) => Err(e),
                None => Ok(vb),
            });
        match result {
            Ok(vb) => {
                println!(
                    "OK       {}: agent {} seq {}-{} ({} records), head {}{}",
                    shown(&path),
                    sanitize(&vb.claim.agent),
                    vb.claim.from,
                    vb.claim.to,
                    vb.lines.len(),
                    vb.claim.head,
                    key_note(&vb)
                );
                verified.push((shown(&path), vb));
            }
            Err(e) => {
                println!("REFUSED  {}: {}", shown(&path), sanitize(&e));
                code = 1;
            }
        }
    }
    let refs: Vec<(String, &bundle::VerifiedBundle)> =
        verified.iter().map(|(n, b)| (n.clone(), b)).collect();
    if let Err(e) = bundle::check_consistent(&refs) {
        println!("REFUSED  {}", sanitize(&e.to_string()));
        code = 1;
    }
    Ok(code)
}

/// Why a verified bundle would still be refused by import: its first line
/// that is not a record of a known shape (`collector::validate`).
fn schema_error(vb: &bundle::VerifiedBundle) -> Option<String> {
    vb.lines.iter().find_map(|l| {
        crate::collector::validate::record(l.seq, l.line.as_bytes())
            .err()
            .map(|why| {
                format!(
                    "record seq {} does not match the record schema: {why}",
                    l.seq
                )
            })
    })
}

/// Without `--pubkey`, a bundle signed by one of this agent's earlier keys
/// (kept as `keys/agent-<id>.pub` by a key rotation) is checked with it.
fn own_key_for(ctx: &Context, args: &VerifyArgs, sig: &str) -> Option<PublicKey> {
    if args.pubkey.is_some() {
        return None;
    }
    let id = bundle::signature_key_id(sig).ok()?;
    let path = ctx.state.keys_dir().join(format!("agent-{id}.pub"));
    PublicKey::load(&path).ok().filter(|k| k.key_id_hex() == id)
}

/// What the output says about keys when the bundle is not simply signed
/// by the agent's own key.
fn key_note(vb: &bundle::VerifiedBundle) -> String {
    let mut note = String::new();
    if vb.signer.key_id_hex() != vb.claim.agent {
        note.push_str(&format!(
            ", signed by rotated key {}",
            vb.signer.key_id_hex()
        ));
    }
    for r in &vb.rotations {
        note.push_str(&format!(
            ", key rotation at seq {}: {} -> {}",
            r.seq,
            r.old.key_id_hex(),
            r.new.key_id_hex()
        ));
    }
    note
}

/// Verifies the journal in `dir` from genesis; prints the outcome and
/// returns the exit code (1: tampered, damaged or torn).
fn verify_journal(dir: &std::path::Path, key: &PublicKey) -> u8 {
    match crate::journal::verify(dir, key) {
        Ok(r) => {
            println!(
                "OK       journal {}: agent {}, {} records, {} checkpoints, {} recoveries, head seq {} {}",
                shown(dir),
                r.agent,
                r.records,
                r.checkpoints,
                r.recoveries,
                r.head_seq,
                r.head
            );
            for rot in &r.rotations {
                println!(
                    "         key rotation at seq {}: {} -> {} (signed by both)",
                    rot.seq,
                    rot.old.key_id_hex(),
                    rot.new.key_id_hex()
                );
            }
            0
        }
        Err(e) => {
            println!(
                "REFUSED  journal {}: {}",
                shown(dir),
                sanitize(&e.to_string())
            );
            1
        }
    }
}
