//! `kensa status`: what an agent is doing — the rule set in use (digest,
//! count, installed pack), the key, the journal head, how many records are
//! not yet exported, and the most recent sessions.

use super::Context;
use crate::cli::{StatusArgs, StatusFormat};
use crate::keys::PublicKey;
use anyhow::Context as _;
use serde_json::{json, Value};
use std::collections::VecDeque;

/// One session as seen in the journal.
fn session_row(v: &Value) -> Value {
    json!({
        "id": v["id"],
        "time": v["time"],
        "location": v["location"],
        "paths": v["paths"],
        "medium": v["medium"]["label"].as_str().or(v["medium"]["mount_point"].as_str()),
    })
}

pub fn run(ctx: &Context, args: &StatusArgs) -> anyhow::Result<u8> {
    let mut out = serde_json::Map::new();
    out.insert(
        "state_dir".into(),
        json!(ctx.state.root().display().to_string()),
    );

    // The key.
    let pk = ctx.state.public_key();
    out.insert(
        "key".into(),
        match PublicKey::load(&pk) {
            Ok(k) => json!({"agent": k.key_id_hex(), "public_key": k.to_base64(), "path": pk.display().to_string()}),
            Err(_) => json!(null),
        },
    );

    // The rule set in use (cached compile: cheap after the first time).
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

    // The journal: head, unexported records, recent sessions.
    let dir = ctx.state.journal_dir();
    if dir.is_dir() {
        let mut head = (0u64, String::new());
        let mut sessions: VecDeque<Value> = VecDeque::new();
        let mut summaries = std::collections::HashMap::new();
        for line in crate::journal::read_all(&dir)? {
            let line = line.with_context(|| format!("reading the journal {}", dir.display()))?;
            head = (line.seq, line.hash.clone());
            let is = |t: &[u8]| line.bytes.windows(t.len()).any(|w| w == t);
            if is(b"\"type\":\"session\"") || is(b"\"type\":\"summary\"") {
                let v: Value = serde_json::from_slice(&line.bytes).unwrap_or(Value::Null);
                if v["type"] == "session" {
                    sessions.push_back(session_row(&v));
                    if sessions.len() > args.sessions {
                        sessions.pop_front();
                    }
                } else if v["type"] == "summary" {
                    if let Some(id) = v["session"].as_str() {
                        summaries.insert(id.to_string(), v.clone());
                        // Keep only summaries of sessions we may show.
                        if summaries.len() > 4 * args.sessions.max(1) + 64 {
                            let keep: std::collections::HashSet<String> = sessions
                                .iter()
                                .filter_map(|s| s["id"].as_str().map(String::from))
                                .collect();
                            summaries.retain(|k, _| keep.contains(k));
                        }
                    }
                }
            }
        }
        for s in sessions.iter_mut() {
            if let Some(sum) = s["id"].as_str().and_then(|id| summaries.get(id)) {
                s["files"] = sum["files"].clone();
                s["findings"] = sum["findings"].clone();
                s["gaps"] = sum["gaps"].clone();
                s["completed"] = sum["completed"].clone();
            } else {
                s["completed"] = json!(null);
            }
        }
        let exported = crate::bundle::last_exported(&dir)?;
        out.insert(
            "journal".into(),
            json!({
                "dir": dir.display().to_string(),
                "head_seq": head.0,
                "head": head.1,
                "exported_through": exported,
                "unexported": head.0.saturating_sub(exported),
            }),
        );
        out.insert(
            "sessions".into(),
            Value::Array(sessions.into_iter().rev().collect()),
        );
    } else {
        out.insert("journal".into(), json!(null));
        out.insert("sessions".into(), json!([]));
    }

    let v = Value::Object(out);
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        StatusFormat::Text => print!("{}", text(&v)),
    }
    Ok(0)
}

fn text(v: &Value) -> String {
    use crate::output::sanitize;
    let mut s = String::new();
    let r = &v["ruleset"];
    s.push_str(&format!(
        "rules:      {} rules, {} hashes, digest {}\n",
        r["rules"],
        r["hashes"],
        r["digest"].as_str().unwrap_or("")
    ));
    match &v["pack"] {
        Value::Null => s.push_str("rule pack:  none installed (bundled signatures only)\n"),
        p => s.push_str(&format!(
            "rule pack:  version {} from publisher {} installed {}\n",
            p["version"],
            p["publisher"].as_str().unwrap_or(""),
            p["installed"].as_str().unwrap_or("")
        )),
    }
    match &v["key"] {
        Value::Null => s.push_str(
            "agent key:  none (created on the first `kensa run`, or run `kensa keygen`)\n",
        ),
        k => s.push_str(&format!(
            "agent key:  {} ({})\n",
            k["agent"].as_str().unwrap_or(""),
            k["path"].as_str().unwrap_or("")
        )),
    }
    match &v["journal"] {
        Value::Null => s.push_str("journal:    none yet\n"),
        j => s.push_str(&format!(
            "journal:    head seq {} ({}), {} record(s) not yet exported\n",
            j["head_seq"],
            j["head"].as_str().unwrap_or("").get(..16).unwrap_or(""),
            j["unexported"]
        )),
    }
    let sessions = v["sessions"].as_array().cloned().unwrap_or_default();
    if !sessions.is_empty() {
        s.push_str("recent sessions:\n");
        for x in sessions {
            let what = x["medium"]
                .as_str()
                .map(|m| m.to_string())
                .unwrap_or_else(|| x["paths"][0].as_str().unwrap_or("").to_string());
            let state = match x["completed"].as_bool() {
                Some(true) => "complete",
                Some(false) => "INCOMPLETE",
                None => "running or cut off",
            };
            s.push_str(&format!(
                "  {}  {:<9} {:<40} files {:<6} findings {:<4} {}\n",
                x["time"].as_str().unwrap_or(""),
                x["location"].as_str().unwrap_or(""),
                sanitize(&what),
                x["files"],
                x["findings"],
                state
            ));
        }
    }
    s
}
