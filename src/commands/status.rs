//! `kensa status`: what an agent is doing — the rule set in use (digest,
//! count, installed pack), the key, the journal head, how many records are
//! not yet exported, and the most recent sessions. It reads the journal
//! backwards from its end (a bounded look, whatever the journal's size),
//! takes no lock and never creates the state directory.

use super::Context;
use crate::cli::{StatusArgs, StatusFormat};
use crate::findings::{Record, Session, Summary};
use crate::journal::{self, tail::Backward, Entry, JournalRecord};
use crate::keys::PublicKey;
use anyhow::Context as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

/// Bytes of journal lines status reads back from the end, at most.
const MAX_LOOK_BACK: u64 = 8 << 20;

pub fn run(ctx: &Context, args: &StatusArgs) -> anyhow::Result<u8> {
    let mut out = serde_json::Map::new();
    out.insert(
        "state_dir".into(),
        json!(ctx.state.root().display().to_string()),
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
        let view = look_back(&dir, args.sessions)
            .with_context(|| format!("reading the journal {}", dir.display()))?;
        let sessions = Value::Array(view.sessions.clone());
        (view.to_json(&dir), sessions)
    } else {
        (json!(null), json!([]))
    };
    out.insert("journal".into(), journal);
    out.insert("sessions".into(), sessions);
    let v = Value::Object(out);
    match args.format {
        StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        StatusFormat::Text => print!("{}", text(&v)),
    }
    Ok(0)
}

/// The agent key, or null.
fn key(ctx: &Context) -> Value {
    let pk = ctx.state.public_key();
    match PublicKey::load(&pk) {
        Ok(k) => {
            json!({"agent": k.key_id_hex(), "public_key": k.to_base64(), "path": pk.display().to_string()})
        }
        Err(_) => json!(null),
    }
}

/// What status shows of the journal.
struct JournalView {
    head_seq: u64,
    head: String,
    exported: u64,
    torn: bool,
    /// Newest first.
    sessions: Vec<Value>,
}

impl JournalView {
    fn to_json(&self, dir: &Path) -> Value {
        json!({
            "dir": dir.display().to_string(),
            "head_seq": self.head_seq,
            "head": self.head,
            "exported_through": self.exported,
            "unexported": self.head_seq.saturating_sub(self.exported),
            "torn_tail": self.torn,
        })
    }
}

/// Reads the journal back from its end until it has `want` sessions and
/// knows the last export (from an export record, or a checkpoint that
/// carries it), or has read [`MAX_LOOK_BACK`] bytes.
fn look_back(dir: &Path, want: usize) -> anyhow::Result<JournalView> {
    let mut lines = Backward::open(dir, MAX_LOOK_BACK)?;
    let mut head = None;
    let mut exported = None;
    let mut sessions = Vec::new();
    let mut summaries: HashMap<String, Summary> = HashMap::new();
    for line in lines.by_ref() {
        let line = line?;
        head.get_or_insert_with(|| (line.seq, line.hash.clone()));
        let wanted = match journal::line::peek_kind(&line.bytes).as_deref() {
            Some("session" | "summary") => sessions.len() < want,
            Some("export" | "checkpoint") => exported.is_none(),
            _ => false,
        };
        if !wanted {
            continue;
        }
        match journal::decode(&line.bytes).map(|(_, e)| e) {
            Ok(Entry::Scan(Record::Session(s))) => {
                let sum = summaries.remove(&s.id);
                sessions.push(session_row(&s, sum.as_ref()));
            }
            Ok(Entry::Scan(Record::Summary(s))) => {
                summaries.insert(s.session.clone(), s);
            }
            Ok(Entry::Journal(JournalRecord::Export(e))) => exported = Some(e.to_seq),
            Ok(Entry::Journal(JournalRecord::Checkpoint(c))) => exported = c.exported_through,
            Ok(_) => {}
            Err(e) => anyhow::bail!("seq {}: {e}", line.seq),
        }
        if sessions.len() >= want && exported.is_some() {
            break;
        }
    }
    let exported = match exported {
        Some(e) => e,
        // Read back to the first line: no export anywhere.
        None if !lines.exhausted() => 0,
        // A journal whose checkpoints predate `exported_through`.
        None => journal::scan_exported(dir)?,
    };
    let (head_seq, head) = head.unwrap_or_default();
    Ok(JournalView {
        head_seq,
        head,
        exported,
        torn: lines.torn(),
        sessions,
    })
}

/// One session as status shows it.
fn session_row(s: &Session, summary: Option<&Summary>) -> Value {
    let medium = s
        .medium
        .as_ref()
        .map(|m| m.label.clone().unwrap_or_else(|| m.mount_point.clone()));
    let mut row = json!({
        "id": s.id,
        "time": s.time,
        "location": s.location,
        "paths": s.paths,
        "medium": medium,
    });
    match summary {
        Some(sum) => {
            row["files"] = json!(sum.files);
            row["findings"] = json!(sum.findings);
            row["gaps"] = json!(sum.gaps);
            row["completed"] = json!(sum.completed);
        }
        None => row["completed"] = json!(null),
    }
    row
}

fn text(v: &Value) -> String {
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
        j => {
            s.push_str(&format!(
                "journal:    head seq {} ({}), {} record(s) not yet exported\n",
                j["head_seq"],
                j["head"].as_str().unwrap_or("").get(..16).unwrap_or(""),
                j["unexported"]
            ));
            if j["torn_tail"] == true {
                s.push_str("            torn last line (a write was cut short); the next open of the journal sets it aside\n");
            }
        }
    }
    session_lines(v, &mut s);
    s
}

/// The "recent sessions" block of the text output.
fn session_lines(v: &Value, s: &mut String) {
    use crate::output::sanitize;
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
}
