//! Output of `kensa status`: the JSON document's agent, journal, gate and
//! sessions parts, and the text form of the whole document (times in the
//! configured time zone, named). Medium names and paths are sanitised here.

use super::{sanitize, time, ScanVerdict};
use crate::engine::pathfmt;
use crate::fsutil::LockHolder;
use crate::journal::status::{JournalStatus, SessionStatus};
use serde_json::{json, Value};
use std::path::Path;

/// The `agent` object: whether a process holds the journal lock, and its
/// pid (`running` null when that could not be told).
pub fn agent_json(holder: LockHolder) -> Value {
    match holder {
        LockHolder::Free => json!({"running": false}),
        LockHolder::Held { pid } => json!({"running": true, "pid": pid}),
        LockHolder::Unknown => json!({"running": null}),
    }
}

/// The `journal` object of the status document.
pub fn journal_json(j: &JournalStatus, dir: &Path) -> Value {
    json!({
        "dir": pathfmt::display(dir),
        "head_seq": j.head_seq,
        "head": j.head,
        "exported_through": j.exported,
        "unexported": j.unexported,
        "unexported_exact": j.unexported_exact,
        "torn_tail": j.torn,
    })
}

/// The verdict of a summarised session, as `kensa scan` would have ended
/// it (the rule of `Summary::exit_code`); None while it runs or when it
/// was cut off.
pub fn session_verdict(s: &SessionStatus) -> Option<ScanVerdict> {
    let completed = s.completed?;
    let findings = s.findings.unwrap_or(0);
    Some(if findings > 0 && s.malicious.unwrap_or(0) > 0 {
        ScanVerdict::Infected
    } else if findings > 0 {
        ScanVerdict::Suspicious
    } else if s.gaps.unwrap_or(0) > 0 || !completed {
        ScanVerdict::Incomplete
    } else {
        ScanVerdict::Clean
    })
}

/// The `sessions` array of the status document, newest first, each with
/// its `verdict` (lower case; null while it runs or when it was cut off).
pub fn sessions_json(j: &JournalStatus) -> serde_json::Result<Value> {
    let mut rows = Vec::with_capacity(j.sessions.len());
    for s in &j.sessions {
        let mut v = serde_json::to_value(s)?;
        v["verdict"] = match session_verdict(s) {
            Some(x) => json!(x.word().to_ascii_lowercase()),
            None => Value::Null,
        };
        rows.push(v);
    }
    Ok(Value::Array(rows))
}

/// The text form of the status document (the JSON `kensa status --format
/// json` prints).
pub fn text(v: &Value, tz: &chrono_tz::Tz) -> String {
    let mut s = String::new();
    s.push_str(&agent_line(&v["agent"]));
    let r = &v["ruleset"];
    s.push_str(&format!(
        "rules:      {}, {}, digest {}\n",
        plural(r["rules"].as_u64().unwrap_or(0), "rule"),
        plural(r["hashes"].as_u64().unwrap_or(0), "hash"),
        r["digest"].as_str().unwrap_or("")
    ));
    match &v["pack"] {
        Value::Null => s.push_str("rule pack:  none installed (bundled signatures only)\n"),
        p => s.push_str(&format!(
            "rule pack:  version {} from publisher {} installed {}\n",
            p["version"],
            p["publisher"].as_str().unwrap_or(""),
            time::local(p["installed"].as_str().unwrap_or(""), tz)
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
            let bound = if j["unexported_exact"] == false {
                "up to "
            } else {
                ""
            };
            s.push_str(&format!(
                "journal:    head seq {} ({}), {bound}{} record(s) not yet exported\n",
                j["head_seq"],
                j["head"].as_str().unwrap_or("").get(..16).unwrap_or(""),
                j["unexported"]
            ));
            if j["torn_tail"] == true {
                s.push_str("            torn last line (a write was cut short); the next open of the journal sets it aside\n");
            }
        }
    }
    gate_lines(&v["gate"], tz, &mut s);
    last_medium_line(v, tz, &mut s);
    session_lines(v, tz, &mut s);
    s
}

/// The `gate` object: the devices the agent's gate holds (from
/// `<state>/gate.json`); `stale` when the agent that wrote it is not
/// the one running (then nothing holds them).
pub fn gate_json(g: &crate::gate::state::GateState, running_pid: Option<u64>) -> Value {
    json!({
        "pid": g.pid,
        "updated": g.updated,
        "stale": running_pid != Some(u64::from(g.pid)),
        "devices": g.devices,
    })
}

/// The `gate:` block: each held device, since when and why.
fn gate_lines(g: &Value, tz: &chrono_tz::Tz, s: &mut String) {
    if g.is_null() {
        return;
    }
    if let Some(e) = g["error"].as_str() {
        s.push_str(&format!("gate:       state unreadable: {}\n", sanitize(e)));
        return;
    }
    let devices = g["devices"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let stale = if g["stale"] == true {
        " (as a stopped agent left it: nothing holds them now)"
    } else {
        ""
    };
    if devices.is_empty() {
        s.push_str(&format!("gate:       on, no device held{stale}\n"));
        return;
    }
    s.push_str(&format!(
        "gate:       {} held{stale}\n",
        plural(devices.len() as u64, "device")
    ));
    for d in devices {
        let text = |k: &str| sanitize(d[k].as_str().unwrap_or("")).into_owned();
        s.push_str(&format!(
            "  {}  {} since {}: {} ({}{})\n",
            text("device"),
            text("state").to_ascii_uppercase(),
            time::local(d["since"].as_str().unwrap_or(""), tz),
            text("reason"),
            text("description"),
            d["session"]
                .as_str()
                .map(|x| format!(", session {}", sanitize(x)))
                .unwrap_or_default()
        ));
    }
}

/// The `agent:` line: the journal lock's holder.
fn agent_line(a: &Value) -> String {
    match (&a["running"], a["pid"].as_u64()) {
        (Value::Bool(true), Some(pid)) => {
            format!("agent:      running, pid {pid} (holds the journal lock)\n")
        }
        (Value::Bool(true), None) => {
            "agent:      running, pid unknown (the journal lock is held)\n".into()
        }
        (Value::Bool(false), _) => "agent:      no agent running\n".into(),
        _ => "agent:      unknown (the kernel's lock table could not be read)\n".into(),
    }
}

/// What a session scanned: its medium, else its first path; sanitised.
fn session_what(x: &Value) -> String {
    let what = x["medium"]
        .as_str()
        .or_else(|| x["paths"][0].as_str())
        .unwrap_or("");
    sanitize(what).into_owned()
}

/// The `last medium:` line: the newest removable-medium session listed,
/// with its verdict in the words `kensa scan` ends with.
fn last_medium_line(v: &Value, tz: &chrono_tz::Tz, s: &mut String) {
    let sessions = v["sessions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let Some(x) = sessions.iter().find(|x| x["location"] == "removable") else {
        return;
    };
    let verdict = match x["verdict"].as_str() {
        Some(w) => w.to_ascii_uppercase(),
        None => "RUNNING OR CUT OFF".to_string(),
    };
    s.push_str(&format!(
        "last medium: {verdict}  {} at {} ({tz}), session {}",
        session_what(x),
        time::local(x["time"].as_str().unwrap_or(""), tz),
        sanitize(x["id"].as_str().unwrap_or(""))
    ));
    if let (Some(f), Some(n)) = (x["findings"].as_u64(), x["files"].as_u64()) {
        let gaps = x["gaps"].as_u64().unwrap_or(0);
        s.push_str(&format!(
            ": {} in {}, {gaps} not fully checked",
            plural(f, "finding"),
            plural(n, "file")
        ));
    }
    s.push('\n');
}

/// `n` and the word, in the plural unless `n` is 1 (`hash` → `hashes`).
fn plural(n: u64, word: &str) -> String {
    match (n, word.ends_with('h')) {
        (1, _) => format!("1 {word}"),
        (_, true) => format!("{n} {word}es"),
        _ => format!("{n} {word}s"),
    }
}

/// A count, or `-` when there is none yet.
fn count(v: &Value) -> String {
    v.as_u64()
        .map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// The "recent sessions" block of the text output.
fn session_lines(v: &Value, tz: &chrono_tz::Tz, s: &mut String) {
    let sessions = v["sessions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if sessions.is_empty() {
        return;
    }
    s.push_str(&format!("recent sessions (times in {tz}):\n"));
    for x in sessions {
        let state = match x["completed"].as_bool() {
            Some(true) => "complete",
            Some(false) => "INCOMPLETE",
            None => "running or cut off",
        };
        let verdict = x["verdict"].as_str().unwrap_or("-").to_ascii_uppercase();
        s.push_str(&format!(
            "  {}  {}  {:<9} {:<10} {:<30} files {:<6} findings {:<4} {}\n",
            time::local_minute(x["time"].as_str().unwrap_or(""), tz),
            sanitize(x["id"].as_str().unwrap_or("")),
            x["location"].as_str().unwrap_or(""),
            verdict,
            session_what(x),
            count(&x["files"]),
            count(&x["findings"]),
            state
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKYO: chrono_tz::Tz = chrono_tz::Asia::Tokyo;

    #[test]
    fn held_devices_are_listed_with_reason() {
        let v = json!({"devices": [{"device": "/dev/sdb", "state": "blocked",
            "since": "2026-04-01T00:00:00Z", "reason": "found EICAR in /x\u{1b}[2J",
            "description": "ACME Stick (sdb)", "session": "s1", "size": 1}], "stale": false});
        let mut s = String::new();
        gate_lines(&v, &TOKYO, &mut s);
        assert!(
            s.starts_with(
                "gate:       1 device held\n  /dev/sdb  BLOCKED since 2026-04-01 09:00:00 JST"
            ),
            "{s}"
        );
        assert!(
            s.contains("found EICAR in /x") && !s.contains('\u{1b}'),
            "{s}"
        );
        assert!(s.contains("(ACME Stick (sdb), session s1)"), "{s}");
    }

    #[test]
    fn text_of_a_bare_state_dir() {
        let v = json!({
            "agent": {"running": false},
            "ruleset": {"rules": 3, "hashes": 0, "digest": "ab"},
            "pack": null,
            "key": null,
            "journal": null,
            "sessions": [],
        });
        assert_eq!(
            text(&v, &TOKYO),
            "agent:      no agent running\n\
             rules:      3 rules, 0 hashes, digest ab\n\
             rule pack:  none installed (bundled signatures only)\n\
             agent key:  none (created on the first `kensa run`, or run `kensa keygen`)\n\
             journal:    none yet\n"
        );
    }

    #[test]
    fn sessions_show_local_time_id_medium_or_first_path_and_state() {
        let v = json!({"sessions": [
            {"id": "s1", "time": "2026-04-01T00:00:00Z", "location": "removable",
             "medium": "USB\u{1b}[31m", "paths": ["/m"],
             "files": 2, "findings": 1, "completed": true, "verdict": "infected"},
            {"id": "s2", "time": "t2", "location": "host", "medium": null, "paths": ["/srv"],
             "completed": null, "verdict": null},
        ]});
        let mut s = String::new();
        session_lines(&v, &TOKYO, &mut s);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines.first(),
            Some(&"recent sessions (times in Asia/Tokyo):")
        );
        assert!(lines[1].starts_with("  2026-04-01 09:00  s1  removable INFECTED"));
        assert!(lines[1].contains(&*sanitize("USB\u{1b}[31m")) && lines[1].ends_with(" complete"));
        assert!(!lines[1].contains('\u{1b}'));
        assert!(lines[2].contains("/srv") && lines[2].ends_with("running or cut off"));
        assert!(lines[2].contains("files -"));
        let mut s = String::new();
        last_medium_line(&v, &TOKYO, &mut s);
        assert_eq!(
            s,
            format!(
                "last medium: INFECTED  {} at 2026-04-01 09:00:00 JST (Asia/Tokyo), session s1: \
                 1 finding in 2 files, 0 not fully checked\n",
                sanitize("USB\u{1b}[31m")
            )
        );
    }
}
