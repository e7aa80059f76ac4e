//! `kensa status`: what an agent is doing — the rule set in use (digest,
//! count, installed pack), the key, the journal head, how many records are
//! not yet exported, and the most recent sessions. It reads the journal
//! backwards from its end (`journal::status`, a bounded look whatever the
//! journal's size), takes no lock and never creates the state directory.

use super::Context;
use crate::cli::{StatusArgs, StatusFormat};
use crate::engine::pathfmt;
use crate::keys::PublicKey;
use crate::output::status::{journal_json, sessions_json, text};
use anyhow::Context as _;
use serde_json::{json, Value};

pub fn run(ctx: &Context, args: &StatusArgs) -> anyhow::Result<u8> {
    let mut out = serde_json::Map::new();
    out.insert(
        "state_dir".into(),
        json!(crate::engine::pathfmt::display(ctx.state.root())),
    );
    out.insert("key".into(), key(ctx));
    let set = crate::rules::active::load(&ctx.state, &ctx.config.rules, &Default::default())
        .context("loading the rule set in use")?;
    out.insert("ruleset".into(), serde_json::to_value(&set.info)?);
    out.insert(
        "pack".into(),
        match crate::rules::pack::installed(&ctx.state) {
            Some(p) => json!({"version": p.version, "digest": p.digest, "publisher": p.publisher, "installed": p.installed}),
            None => json!(null),
        },
    );
    let dir = ctx.state.journal_dir();
    let (journal, sessions) = if dir.is_dir() {
        let j = crate::journal::status::look_back(&dir, args.sessions)
            .with_context(|| format!("reading the journal {}", pathfmt::show(&dir)))?;
        (journal_json(&j, &dir), sessions_json(&j)?)
    } else {
        (json!(null), json!([]))
    };
    out.insert("journal".into(), journal);
    out.insert("sessions".into(), sessions);
    let v = Value::Object(out);
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        StatusFormat::Text => {
            // Config loading checked the zone; UTC if it is somehow not one.
            let tz = crate::report::parse_tz(&ctx.config.report.timezone).unwrap_or(chrono_tz::UTC);
            print!("{}", text(&v, &tz))
        }
    }
    Ok(0)
}

/// The agent key, or null.
fn key(ctx: &Context) -> Value {
    let pk = ctx.state.public_key();
    match PublicKey::load(&pk) {
        Ok(k) => {
            // After a key rotation the agent id is the journal's first key's.
            let agent = crate::journal::agent_of(&ctx.state.journal_dir())
                .ok()
                .flatten()
                .unwrap_or_else(|| k.key_id_hex());
            json!({"agent": agent, "key_id": k.key_id_hex(), "public_key": k.to_base64(), "path": pathfmt::display(&pk)})
        }
        Err(_) => json!(null),
    }
}
