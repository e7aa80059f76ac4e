//! `kensa taxonomy` output: the event and cause tables as aligned text
//! (columns padded by display width, so Japanese labels line up) or as one
//! JSON document.

use crate::findings::taxonomy::{Entry, CAUSES, EVENTS};
use crate::report::display_width;

/// Version of the JSON document.
pub const JSON_VERSION: u32 = 1;

fn pad(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn table<T>(title: &str, rows: &[Entry<T>]) -> String {
    let cells: Vec<[&str; 5]> = rows
        .iter()
        .map(|e| [e.slug, e.group_ja, e.group_en, e.label_ja, e.label_en])
        .collect();
    let header = ["CODE", "区分", "GROUP", "分類", "LABEL"];
    let mut widths = header.map(display_width);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(display_width(c));
        }
    }
    let line = |row: &[&str; 5]| {
        let parts: Vec<String> = row.iter().zip(widths).map(|(c, w)| pad(c, w)).collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = format!("{title}\n{}\n", line(&header));
    for row in &cells {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// Both tables as text.
pub fn text() -> String {
    format!(
        "{}\n{}\n`kensa triage ID --event CODE --cause CODE[,CODE...]` takes the codes \
         in the first column; a decision's causes replace the previous decision's.\n",
        table("Events (事象の種類)", EVENTS),
        table("Causes (原因別類型; several may apply)", CAUSES)
    )
}

fn rows<T>(rows: &[Entry<T>]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|e| {
            serde_json::json!({
                "code": e.slug,
                "group_ja": e.group_ja,
                "group_en": e.group_en,
                "label_ja": e.label_ja,
                "label_en": e.label_en,
            })
        })
        .collect()
}

/// Both tables as one JSON document (with a trailing newline).
pub fn json() -> serde_json::Result<String> {
    let doc = serde_json::json!({
        "v": JSON_VERSION,
        "events": rows(EVENTS),
        "causes": rows(CAUSES),
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
