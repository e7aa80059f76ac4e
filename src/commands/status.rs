//! `kensa status`: what an agent is doing — whether one is running (the
//! journal lock's holder and its pid, `fsutil::lock_holder`), the rule set
//! in use (digest, count, installed pack), the devices the gate holds
//! (`<state>/gate.json`), the key, the journal head, how
//! many records are not yet exported, the last medium's verdict and the
//! most recent sessions (times in `report.timezone`); on Windows the
//! access lists of the state and keys folders (`access` in JSON: SDDL and
//! who else may read or change them). It reads the journal
//! backwards from its end (`journal::status`, a bounded look whatever the
//! journal's size), takes no lock and never creates the state directory or
//! any file.

use super::Context;
use crate::cli::{StatusArgs, StatusFormat};
use crate::engine::pathfmt;
use crate::keys::PublicKey;
use crate::output::print_all;
use crate::output::status::{agent_json, gate_json, journal_json, sessions_json, text};
use anyhow::Context as _;
use serde_json::{json, Value};

pub fn run(ctx: &Context, args: &StatusArgs) -> anyhow::Result<u8> {
    let mut out = serde_json::Map::new();
    out.insert(
        "state_dir".into(),
        json!(crate::engine::pathfmt::display(ctx.state.root())),
    );
    let tz = crate::report::parse_tz(&ctx.config.report.timezone)?;
    out.insert("timezone".into(), json!(tz.name()));
    let dir = ctx.state.journal_dir();
    let holder = crate::fsutil::lock_holder(&dir.join(crate::journal::LOCK_FILE));
    let running_pid = match holder {
        crate::fsutil::LockHolder::Held { pid } => pid.map(u64::from),
        _ => None,
    };
    out.insert("agent".into(), agent_json(holder));
    out.insert("gate".into(), gate(ctx, running_pid));
    out.insert("key".into(), key(ctx));
    #[cfg(windows)]
    out.insert("access".into(), access(ctx));
    let req = crate::rules::active::RuleRequest {
        read_only: true,
        ..Default::default()
    };
    let set = crate::rules::active::load(&ctx.state, &ctx.config.rules, &req)
        .context("loading the rule set in use")?;
    out.insert("ruleset".into(), serde_json::to_value(&set.info)?);
    out.insert(
        "pack".into(),
        match crate::rules::pack::installed(&ctx.state) {
            Some(p) => json!({"version": p.version, "digest": p.digest, "publisher": p.publisher, "installed": p.installed}),
            None => json!(null),
        },
    );
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
        StatusFormat::Json => print_all(&format!("{}\n", serde_json::to_string_pretty(&v)?))?,
        StatusFormat::Text => print_all(&text(&v, &tz))?,
    }
    Ok(0)
}

/// The devices the agent's gate holds, or null when no gate state exists.
fn gate(ctx: &Context, running_pid: Option<u64>) -> Value {
    match crate::gate::state::read(&crate::gate::state::path(&ctx.state)) {
        Ok(Some(g)) => gate_json(&g, running_pid),
        Ok(None) => Value::Null,
        Err(e) => json!({"error": e}),
    }
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

/// On Windows: the account kensa runs as (SID), the state folder's and
/// the keys folder's security descriptors (SDDL) and who besides SYSTEM,
/// Administrators and that account they let in (`state::windows::access`);
/// null for a folder that does not exist.
#[cfg(windows)]
fn access(ctx: &Context) -> Value {
    let one = |p: &std::path::Path| {
        if !p.is_dir() {
            return Value::Null;
        }
        match crate::state::windows::access(p) {
            Ok((sddl, who)) => {
                let others: Vec<String> = who.iter().map(ToString::to_string).collect();
                json!({"sddl": sddl, "others": others})
            }
            Err(e) => json!({"error": e.to_string()}),
        }
    };
    json!({
        "account": crate::state::windows::current_sid(),
        "state": one(ctx.state.root()),
        "keys": one(&ctx.state.keys_dir()),
    })
}
