//! Output of `kensa incidents list|show`: the incident table (one line
//! each, times in the report time zone) and one incident's facts, findings
//! and triage history as text, or JSON. Every name that came from an agent
//! or a medium is sanitised here.

use super::{sanitize, time, Format};
use crate::collector::incidents::{Incident, IncidentDetail, TriageEntry};
use crate::findings::{Cause, Classification};
use crate::report::display_width;
use std::io::Write;

/// Writes the incident list: JSON Lines (each incident plus what counts now
/// and its triage state) or a text table and a count.
pub fn write_list(
    out: &mut impl Write,
    list: &[Incident],
    tz: &chrono_tz::Tz,
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for i in list {
                let row = JsonRow {
                    incident: i,
                    current: i.current(),
                    state: state(i),
                };
                serde_json::to_writer(&mut *out, &row)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Text => list_text(out, list, tz),
    }
}

/// Writes one incident: pretty JSON (times as stored), or text (times in
/// `tz`, the zone named).
pub fn write_show(
    out: &mut impl Write,
    d: &IncidentDetail,
    tz: &chrono_tz::Tz,
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, d)?;
            writeln!(out)
        }
        Format::Text => show_text(out, d, tz),
    }
}

fn causes_text(causes: &[Cause]) -> String {
    causes
        .iter()
        .map(|c| c.slug())
        .collect::<Vec<_>>()
        .join(",")
}

fn state(i: &Incident) -> &'static str {
    match &i.triage {
        None => "untriaged",
        Some(t) if t.false_positive => "false-positive",
        Some(_) => "triaged",
    }
}

/// One line of `incidents list --format json`: the incident plus what
/// counts now and its triage state.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    incident: &'a Incident,
    current: Classification,
    state: &'static str,
}

/// Widest a host or medium cell gets in the table (display columns); the
/// rest is cut with `…` (`incidents show` has it whole).
const MAX_CELL: usize = 40;

/// `s` cut to at most `max` display columns, ending in `…` when cut.
fn fit(s: &str, max: usize) -> String {
    if display_width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = display_width(c.encode_utf8(&mut [0; 4]));
        if w + cw > max.saturating_sub(1) {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// The agent as the table shows it: the name it is trusted under, else
/// its id.
fn agent_text(i: &Incident) -> String {
    sanitize(i.agent_name.as_deref().unwrap_or(&i.agent)).into_owned()
}

/// One table row's cells, in column order.
fn row_cells(i: &Incident, tz: &chrono_tz::Tz) -> [String; 9] {
    let c = i.current();
    [
        sanitize(&i.id).into_owned(),
        agent_text(i),
        fit(&sanitize(i.host.as_deref().unwrap_or("-")), MAX_CELL),
        fit(&sanitize(&i.medium_text()), MAX_CELL),
        time::local_minute(&i.time, tz),
        i.detections.to_string(),
        c.event.slug().to_string(),
        causes_text(&c.causes),
        state(i).to_string(),
    ]
}

/// Writes rows of cells with every column as wide as its widest cell
/// (display width), two spaces between columns; column `right` is aligned
/// right and the last column is not padded.
fn write_table(out: &mut impl Write, rows: &[Vec<String>], right: usize) -> std::io::Result<()> {
    let n = rows.first().map_or(0, Vec::len);
    let mut widths = vec![0; n];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(display_width(c));
        }
    }
    for r in rows {
        let mut line = String::new();
        for (k, (c, w)) in r.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w.saturating_sub(display_width(c)));
            if k > 0 {
                line.push_str("  ");
            }
            if k == right {
                line.push_str(&pad);
                line.push_str(c);
            } else if k + 1 == n {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&pad);
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The list as a table, one incident a line, and a count.
fn list_text(out: &mut impl Write, list: &[Incident], tz: &chrono_tz::Tz) -> std::io::Result<()> {
    let header = [
        "ID".to_string(),
        "AGENT".into(),
        "HOST".into(),
        "MEDIUM".into(),
        time::header("TIME", tz),
        "DET".into(),
        "EVENT".into(),
        "CAUSES".into(),
        "STATE".into(),
    ];
    let mut rows = vec![header.to_vec()];
    rows.extend(list.iter().map(|i| row_cells(i, tz).to_vec()));
    write_table(out, &rows, 5)?;
    let untriaged = list.iter().filter(|i| !i.is_triaged()).count();
    writeln!(out, "{} incident(s), {untriaged} untriaged", list.len())
}

fn write_entry(
    out: &mut impl Write,
    n: usize,
    t: &TriageEntry,
    tz: &chrono_tz::Tz,
) -> std::io::Result<()> {
    writeln!(
        out,
        "  #{n} {} by {}: {} / {}{}",
        time::local(&t.time, tz),
        sanitize(&t.by),
        t.event.slug(),
        causes_text(&t.causes),
        if t.false_positive {
            " (false positive)"
        } else {
            ""
        }
    )?;
    if let Some(note) = &t.note {
        writeln!(out, "     note: {}", sanitize(note))?;
    }
    Ok(())
}

/// One incident as text: its facts, findings and triage history.
fn show_text(out: &mut impl Write, d: &IncidentDetail, tz: &chrono_tz::Tz) -> std::io::Result<()> {
    let i = &d.incident;
    writeln!(out, "incident {}  ({})", sanitize(&i.id), state(i))?;
    match &i.agent_name {
        Some(name) => writeln!(
            out,
            "  agent    {} ({})",
            sanitize(name),
            sanitize(&i.agent)
        )?,
        None => writeln!(out, "  agent    {}", sanitize(&i.agent))?,
    }
    writeln!(out, "  session  {}", sanitize(&i.session))?;
    writeln!(
        out,
        "  host     {}",
        sanitize(i.host.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "  medium   {}", sanitize(&i.medium_text()))?;
    writeln!(
        out,
        "  time     {} ({})",
        time::local(&i.time, tz),
        tz.name()
    )?;
    writeln!(
        out,
        "  automatic {} / {}",
        i.automatic.event.slug(),
        causes_text(&i.automatic.causes)
    )?;
    let c = i.current();
    writeln!(
        out,
        "  current   {} / {}",
        c.event.slug(),
        causes_text(&c.causes)
    )?;
    write_findings(out, d)?;
    writeln!(out, "triage history ({}):", d.history.len())?;
    for (n, t) in d.history.iter().enumerate() {
        write_entry(out, n + 1, t, tz)?;
    }
    Ok(())
}

/// The findings block of `incidents show`.
fn write_findings(out: &mut impl Write, d: &IncidentDetail) -> std::io::Result<()> {
    writeln!(out, "findings ({}):", d.findings.len())?;
    for f in &d.findings {
        let rules: Vec<String> = f
            .matches
            .iter()
            .map(|m| format!("{}:{}", sanitize(&m.kind), sanitize(&m.rule)))
            .collect();
        writeln!(
            out,
            "  {:?} {}  sha256 {}  [{}]",
            f.verdict,
            sanitize(&f.path),
            sanitize(&f.sha256),
            rules.join(", ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_by_display_width() {
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
        assert_eq!(fit("工場のＰＣ", 6), "工場…");
        assert_eq!(display_width(&fit("工場のＰＣ", 6)), 5);
    }

    #[test]
    fn table_columns_fit_the_widest_cell() {
        let rows = vec![
            vec!["A".to_string(), "N".into(), "Z".into()],
            vec!["工場".to_string(), "12".into(), "x".into()],
        ];
        let mut out = Vec::new();
        write_table(&mut out, &rows, 1).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A      N  Z\n工場  12  x\n"
        );
    }

    #[test]
    fn causes_joined_by_slug() {
        assert_eq!(causes_text(&[]), "");
        let c = Cause::SuspiciousMail;
        assert_eq!(causes_text(&[c, c]), format!("{0},{0}", c.slug()));
    }
}
