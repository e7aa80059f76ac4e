//! Output of `kensa status`: the JSON document's journal and sessions
//! parts, and the text form of the whole document. Medium names and paths
//! are sanitised here.

use super::{sanitize, time};
use crate::engine::pathfmt;
use crate::journal::status::JournalStatus;
use serde_json::{json, Value};
use std::path::Path;

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

/// The `sessions` array of the status document, newest first.
pub fn sessions_json(j: &JournalStatus) -> serde_json::Result<Value> {
    serde_json::to_value(&j.sessions)
}

/// The text form of the status document (the JSON `kensa status --format
/// json` prints), its times in `tz` with the zone named.
pub fn text(v: &Value, tz: &chrono_tz::Tz) -> String {
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
    session_lines(v, tz, &mut s);
    s
}

/// The "recent sessions" block of the text output.
fn session_lines(v: &Value, tz: &chrono_tz::Tz, s: &mut String) {
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
                time::local(x["time"].as_str().unwrap_or(""), tz),
                x["location"].as_str().unwrap_or(""),
                sanitize(&what),
                x["files"],
                x["findings"],
                state
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_a_bare_state_dir() {
        let v = json!({
            "ruleset": {"rules": 3, "hashes": 0, "digest": "ab"},
            "pack": null,
            "key": null,
            "journal": null,
            "sessions": [],
        });
        assert_eq!(
            text(&v, &chrono_tz::Asia::Tokyo),
            "rules:      3 rules, 0 hashes, digest ab\n\
             rule pack:  none installed (bundled signatures only)\n\
             agent key:  none (created on the first `kensa run`, or run `kensa keygen`)\n\
             journal:    none yet\n"
        );
    }

    #[test]
    fn sessions_show_medium_or_first_path_and_state() {
        let v = json!({"sessions": [
            {"time": "2026-01-01T00:00:00.000Z", "location": "removable", "medium": "USB\u{1b}[31m", "paths": ["/m"],
             "files": 2, "findings": 1, "completed": true},
            {"time": "t2", "location": "host", "medium": null, "paths": ["/srv"], "completed": null},
        ]});
        let mut s = String::new();
        session_lines(&v, &chrono_tz::Asia::Tokyo, &mut s);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.first(), Some(&"recent sessions:"));
        assert!(lines[1].starts_with("  2026-01-01 09:00:00 JST  removable"));
        assert!(lines[1].contains(&*sanitize("USB\u{1b}[31m")) && lines[1].ends_with(" complete"));
        assert!(!lines[1].contains('\u{1b}'));
        assert!(lines[2].contains("/srv") && lines[2].ends_with("running or cut off"));
        assert!(lines[2].contains("files null"));
    }
}
