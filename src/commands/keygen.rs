//! `kensa keygen [--force]`: creates the agent key pair under `<state>/keys`;
//! with `--force` replaces it through a journalled key change
//! ([`crate::journal::rekey`]) and says what the collector needs.

use super::Context;
use crate::cli::KeygenArgs;
use crate::journal::rekey::{change_agent_key, Rekeyed};
use crate::journal::JournalOptions;
use anyhow::Context as _;

pub fn run(ctx: &Context, args: &KeygenArgs) -> anyhow::Result<u8> {
    let sk_path = ctx.state.secret_key();
    let pk_path = ctx.state.public_key();
    if !args.force && (sk_path.exists() || pk_path.exists()) {
        anyhow::bail!(
            "{} already exists; refusing to replace the agent key (--force rotates it: the old key signs a journal record naming the new one)",
            crate::engine::pathfmt::show(&sk_path)
        );
    }
    let sk = if args.force {
        let done = change_agent_key(&ctx.state, "keygen --force", JournalOptions::default())
            .context("changing the agent key")?;
        print_change(&done);
        crate::keys::SecretKey::load(&sk_path).context("loading the new agent key")?
    } else {
        crate::keys::create_agent_key(&ctx.state).context("creating the agent key")?
    };
    println!("key id:      {}", sk.key_id_hex());
    println!(
        "secret key:  {} (mode 0600, unencrypted)",
        crate::engine::pathfmt::show(&sk_path)
    );
    println!("public key:  {}", crate::engine::pathfmt::show(&pk_path));
    println!("{}", sk.public().to_base64());
    println!("Give agent.pub to the collector: kensa trust add agent.pub --name <this host>");
    Ok(0)
}

fn print_change(done: &Rekeyed) {
    match done {
        Rekeyed::Rotated {
            agent,
            old_key,
            new_key,
            seq,
            old_public,
        } => {
            println!("ROTATED agent {agent}: key {old_key} -> {new_key}, journal seq {seq}");
            println!("The old key signed the rotation record; the agent id stays {agent}.");
            println!(
                "Old public key kept as {} (it verifies records before seq {seq}).",
                crate::engine::pathfmt::show(old_public)
            );
            println!("The collector refuses bundles signed by the new key until it trusts it:");
            println!("  carry agent.pub to the collector and run: kensa trust add agent.pub");
        }
        Rekeyed::Finished { agent, new_key } => {
            println!("FINISHED an interrupted rotation of agent {agent} to key {new_key}.");
            println!("  carry agent.pub to the collector and run: kensa trust add agent.pub");
        }
        Rekeyed::Reset {
            lost,
            new_agent,
            previous,
            closed,
            unexported_findings,
            public_key_kept,
        } => {
            print_reset(lost, new_agent, previous, closed);
            print_unexported(previous, closed, *unexported_findings, *public_key_kept);
        }
        Rekeyed::Created { new_key } => println!("CREATED key {new_key} (there was no journal)"),
    }
}

fn print_reset(
    lost: &str,
    new_agent: &str,
    previous: &crate::journal::KeyReset,
    closed: &std::path::Path,
) {
    let old = previous.previous_agent.as_deref().unwrap_or("(unknown)");
    println!("OLD KEY LOST ({lost}): nothing can sign a rotation.");
    println!(
        "CLOSED the journal of agent {old} (head seq {}): moved into {}",
        previous.previous_head_seq,
        crate::engine::pathfmt::show(closed)
    );
    println!(
        "STARTED a new journal: new agent id {new_agent}; its first record (key_reset) names the old one."
    );
    println!(
        "At the collector: kensa trust add agent.pub (a new agent id; the old one stays trusted)."
    );
}

/// What became of the closed journal's records that were not exported.
fn print_unexported(
    previous: &crate::journal::KeyReset,
    closed: &std::path::Path,
    findings: u64,
    key_kept: bool,
) {
    let old = previous.previous_agent.as_deref().unwrap_or("(unknown)");
    let (from, to) = (
        previous.previous_exported_through + 1,
        previous.previous_head_seq,
    );
    if from > to {
        println!("Everything in the closed journal was exported (through seq {to}).");
        return;
    }
    println!(
        "NOT EXPORTED: seq {from}-{to} of agent {old} ({findings} findings). No bundle can be signed for them without the old key."
    );
    println!(
        "  They are kept unchanged in {}; its checkpoints, signed by the old key, still verify:",
        crate::engine::pathfmt::show(closed)
    );
    println!(
        "  kensa --state-dir {} verify --journal{}",
        crate::engine::pathfmt::show(closed),
        if key_kept {
            ""
        } else {
            " --pubkey <the old agent.pub>"
        }
    );
    println!("  Carry that directory (and this output) to the collector's operator: those findings are not in any bundle.");
}
