//! The HTML report's appendix: each counted incident (the column it is
//! counted in, id, local time, agent and host, medium, event, causes,
//! triage state), oldest first, so the figures can be checked one by one.

use super::html::{esc, esc_name, zone};
use super::{column_names, AppendixEntry, Lang, Report, PREVIOUS_YEARS};
use std::fmt::Write as _;

/// Column headings of the appendix table.
fn headings(lang: Lang) -> [&'static str; 8] {
    match lang {
        Lang::Ja => [
            "計上期間",
            "ID",
            "日時",
            "エージェント / ホスト",
            "媒体",
            "事象の種類",
            "原因",
            "状態",
        ],
        Lang::En => [
            "Counted in",
            "ID",
            "Time",
            "Agent / host",
            "Medium",
            "Event type",
            "Causes",
            "State",
        ],
    }
}

/// The period an entry is counted in: `FY2016`, or `FY2019 2Q` (`2Q*`
/// when provisional).
fn period(report: &Report, lang: Lang, column: usize) -> String {
    let cols = column_names(report, lang);
    let name = cols.get(column).cloned().unwrap_or_default();
    if column < PREVIOUS_YEARS {
        return name;
    }
    let mark = if report.provisional().get(column).copied().unwrap_or(false) {
        "*"
    } else {
        ""
    };
    format!("FY{} {name}{mark}", report.fy)
}

fn causes(e: &AppendixEntry, lang: Lang) -> String {
    let sep = if lang == Lang::Ja { "、" } else { "; " };
    e.classification
        .causes
        .iter()
        .map(|c| {
            let c = c.entry();
            if lang == Lang::Ja {
                c.label_ja
            } else {
                c.label_en
            }
        })
        .collect::<Vec<_>>()
        .join(sep)
}

fn state(e: &AppendixEntry, lang: Lang) -> &'static str {
    match (lang, e.triaged) {
        (Lang::Ja, true) => "トリアージ済",
        (Lang::Ja, false) => "未トリアージ (自動分類)",
        (Lang::En, true) => "triaged",
        (Lang::En, false) => "untriaged (automatic classification)",
    }
}

/// One table row: every cell escaped, names sanitised first.
fn row(report: &Report, lang: Lang, tz: &chrono_tz::Tz, e: &AppendixEntry) -> String {
    let event = e.classification.event.entry();
    let host = e.host.as_deref().unwrap_or("-");
    let cells = [
        esc(&period(report, lang, e.column)),
        esc_name(&e.id),
        esc(&e
            .time
            .with_timezone(tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()),
        format!("{} / {}", esc_name(&e.agent), esc_name(host)),
        esc_name(&e.medium),
        esc(if lang == Lang::Ja {
            event.label_ja
        } else {
            event.label_en
        }),
        esc(&causes(e, lang)),
        esc(state(e, lang)),
    ];
    let mut s = String::from("<tr>");
    for c in cells {
        let _ = write!(s, "<td>{c}</td>");
    }
    s.push_str("</tr>");
    s
}

/// Writes the appendix: a heading with the count and the table, or a line
/// saying no incident is counted.
pub(super) fn write(o: &mut String, report: &Report, lang: Lang) {
    let n = report.appendix.len();
    let heading = match lang {
        Lang::Ja => format!("付録: 計上したインシデント一覧 ({n} 件)"),
        Lang::En => format!("Appendix: incidents counted ({n})"),
    };
    let _ = writeln!(o, "<section id=\"appendix\">\n<h2>{}</h2>", esc(&heading));
    if n == 0 {
        let none = match lang {
            Lang::Ja => "計上したインシデントはありません。",
            Lang::En => "No incident is counted.",
        };
        let _ = writeln!(o, "<p>{none}</p>\n</section>");
        return;
    }
    let tz = zone(report);
    let _ = write!(o, "<table class=\"appendix\">\n<thead><tr>");
    for h in headings(lang) {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    let _ = writeln!(o, "</tr></thead>\n<tbody>");
    let mut entries: Vec<&AppendixEntry> = report.appendix.iter().collect();
    entries.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    for e in entries {
        let _ = writeln!(o, "{}", row(report, lang, &tz, e));
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</section>");
}
