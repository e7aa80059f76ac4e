//! Output of `kensa incidents list|show`: the incident table (one line
//! each, times in the report time zone) and one incident's facts, findings
//! and triage history as text, or JSON. Every name that came from an agent
//! or a medium is sanitised here.

use super::{sanitize, Format};
use crate::collector::incidents::{Incident, IncidentDetail, TriageEntry};
use crate::findings::{Cause, Classification};
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

/// Writes one incident: pretty JSON, or text.
pub fn write_show(out: &mut impl Write, d: &IncidentDetail, format: Format) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, d)?;
            writeln!(out)
        }
        Format::Text => show_text(out, d),
    }
}

/// `rfc3339` as local time in `tz` to the minute, or (sanitised) as it is
/// when it does not parse.
fn local_time(rfc3339: &str, tz: &chrono_tz::Tz) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| sanitize(rfc3339).into_owned())
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

/// The list as a table, one incident a line, and a count.
fn list_text(out: &mut impl Write, list: &[Incident], tz: &chrono_tz::Tz) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<22} {:<16} {:<12} {:<24} {:<16} {:>4}  {:<18} {:<28} STATE",
        "ID",
        "AGENT",
        "HOST",
        "MEDIUM",
        format!("TIME ({})", tz.name())
            .chars()
            .take(16)
            .collect::<String>(),
        "DET",
        "EVENT",
        "CAUSES"
    )?;
    for i in list {
        let c = i.current();
        writeln!(
            out,
            "{:<22} {:<16} {:<12} {:<24} {:<16} {:>4}  {:<18} {:<28} {}",
            sanitize(&i.id),
            sanitize(&i.agent),
            sanitize(i.host.as_deref().unwrap_or("-")),
            sanitize(&i.medium_text()),
            local_time(&i.time, tz),
            i.detections,
            c.event.slug(),
            causes_text(&c.causes),
            state(i)
        )?;
    }
    let untriaged = list.iter().filter(|i| !i.is_triaged()).count();
    writeln!(out, "{} incident(s), {untriaged} untriaged", list.len())
}

fn write_entry(out: &mut impl Write, n: usize, t: &TriageEntry) -> std::io::Result<()> {
    writeln!(
        out,
        "  #{n} {} by {}: {} / {}{}",
        sanitize(&t.time),
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
fn show_text(out: &mut impl Write, d: &IncidentDetail) -> std::io::Result<()> {
    let i = &d.incident;
    writeln!(out, "incident {}  ({})", sanitize(&i.id), state(i))?;
    writeln!(out, "  agent    {}", sanitize(&i.agent))?;
    writeln!(out, "  session  {}", sanitize(&i.session))?;
    writeln!(
        out,
        "  host     {}",
        sanitize(i.host.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "  medium   {}", sanitize(&i.medium_text()))?;
    writeln!(out, "  time     {}", sanitize(&i.time))?;
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
    writeln!(out, "triage history ({}):", d.history.len())?;
    for (n, t) in d.history.iter().enumerate() {
        write_entry(out, n + 1, t)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_in_zone_or_sanitised_as_is() {
        let tz = chrono_tz::Asia::Tokyo;
        assert_eq!(local_time("2026-04-01T00:30:00Z", &tz), "2026-04-01 09:30");
        assert_eq!(local_time("not\ta time", &tz), sanitize("not\ta time"));
    }

    #[test]
    fn causes_joined_by_slug() {
        assert_eq!(causes_text(&[]), "");
        let c = Cause::SuspiciousMail;
        assert_eq!(causes_text(&[c, c]), format!("{0},{0}", c.slug()));
    }
}
