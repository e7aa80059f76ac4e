//! `kensa keygen [--force]`: creates the agent key pair under `<state>/keys`.

use super::Context;
use crate::cli::KeygenArgs;
use crate::keys::{public_key_path, secret_key_path, SecretKey};
use anyhow::Context as _;

pub fn run(ctx: &Context, args: &KeygenArgs) -> anyhow::Result<u8> {
    let sk_path = secret_key_path(&ctx.state_dir);
    let pk_path = public_key_path(&ctx.state_dir);
    if !args.force && (sk_path.exists() || pk_path.exists()) {
        anyhow::bail!(
            "{} already exists; refusing to replace the agent key (use --force; records signed with the old key then need the old agent.pub to verify)",
            sk_path.display()
        );
    }
    let sk = create_agent_key(&ctx.state_dir)?;
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

/// Generates the agent key pair under `<state>/keys` (directory 0700,
/// secret key 0600), replacing what is there. Used by `keygen` and by the
/// agent's first start.
pub fn create_agent_key(state_dir: &std::path::Path) -> anyhow::Result<SecretKey> {
    let sk_path = secret_key_path(state_dir);
    let pk_path = public_key_path(state_dir);
    let dir = sk_path.parent().unwrap_or(state_dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    let sk = SecretKey::generate().context("generating the key")?;
    sk.save(&sk_path).context("writing the secret key")?;
    sk.public()
        .save(&pk_path)
        .context("writing the public key")?;
    Ok(sk)
}

/// Loads the agent key, creating it (as on the agent's first start) when
/// there is none yet; the second value says whether it was created.
pub fn load_or_create_agent_key(state_dir: &std::path::Path) -> anyhow::Result<(SecretKey, bool)> {
    let path = secret_key_path(state_dir);
    if path.exists() {
        let key = SecretKey::load(&path)
            .with_context(|| format!("loading the agent key {}", path.display()))?;
        return Ok((key, false));
    }
    Ok((create_agent_key(state_dir)?, true))
}
