//! `kensa keygen [--force]`: creates the agent key pair under `<state>/keys`.

use super::Context;
use crate::cli::KeygenArgs;
use anyhow::Context as _;

pub fn run(ctx: &Context, args: &KeygenArgs) -> anyhow::Result<u8> {
    let sk_path = ctx.state.secret_key();
    let pk_path = ctx.state.public_key();
    if !args.force && (sk_path.exists() || pk_path.exists()) {
        anyhow::bail!(
            "{} already exists; refusing to replace the agent key (use --force; records signed with the old key then need the old agent.pub to verify)",
            sk_path.display()
        );
    }
    let sk = crate::keys::create_agent_key(&ctx.state).context("creating the agent key")?;
    println!("agent id:    {}", sk.key_id_hex());
    println!(
        "secret key:  {} (mode 0600, unencrypted)",
        sk_path.display()
    );
    println!("public key:  {}", pk_path.display());
    println!("{}", sk.public().to_base64());
    println!("Give agent.pub to the collector: kensa trust add agent.pub --name <this host>");
    Ok(0)
}
