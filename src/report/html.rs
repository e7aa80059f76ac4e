//! Self-contained HTML rendering of a [`Report`] to hand over: a header
//! (organisation, period, report date, generation time), an inline SVG bar
//! chart of the year's quarters (stacked by event type; the open quarter
//! drawn pale and its total marked `*`), the three tables, the footnotes and
//! an appendix listing each counted incident. No scripts, web fonts, images
//! or other external assets: the file is read on closed networks, so the
//! font stack names the Japanese system fonts of Windows, macOS and Linux.

use super::{
    cell_text, column_names, footnotes, report_title, tables, total_word, Lang, Report, Table,
    PREVIOUS_YEARS,
};
use crate::findings::taxonomy::{Entry, Event, EVENTS};
use std::fmt::Write as _;

/// One fill colour per event row, in EVENTS order.
const COLOURS: [&str; 8] = [
    "#9e9e9e", "#d32f2f", "#7b1fa2", "#f57c00", "#1976d2", "#0097a7", "#388e3c", "#5d4037",
];

pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Japanese-capable system fonts: Windows (Yu Gothic, Meiryo), macOS
/// (Hiragino), Linux (Noto Sans CJK JP, IPAGothic), then the generic family.
pub(super) const FONT_STACK: &str = "\"Yu Gothic\", YuGothic, Meiryo, \"Hiragino Sans\", \"Hiragino Kaku Gothic ProN\", \"Noto Sans CJK JP\", \"IPAGothic\", sans-serif";

const STYLE: &str = "body{margin:2em;color:#222;background:#fff}
table{border-collapse:collapse;margin:1em 0 2em}
th,td{border:1px solid #999;padding:.25em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th.g{text-align:left;background:#eee}
thead th{background:#ddd}
.legend span{display:inline-block;margin-right:1em}
.sw{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
.org{font-size:1.1em;font-weight:bold;margin:0}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0 0 1.5em}
dl.meta dt{font-weight:bold}
dl.meta dd{margin:0}
table.appendix td{font-size:.9em}
@media print{body{margin:1cm}}
";

pub(super) fn html(report: &Report, lang: Lang) -> String {
    let title = esc(&report_title(report, lang));
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\nbody{{font-family:{FONT_STACK}}}\n{STYLE}</style>\n</head>\n<body>\n",
    );
    header(&mut o, report, lang, &title);
    chart(&mut o, report, lang);
    let cols = column_names(report, lang);
    for t in tables(report, lang) {
        table(&mut o, &t, &cols, report, lang);
    }
    let _ = writeln!(o, "<ul>");
    for f in footnotes(report, lang) {
        let _ = writeln!(o, "<li>{}</li>", esc(&f));
    }
    let _ = writeln!(o, "</ul>");
    super::appendix::write(&mut o, report, lang);
    let _ = writeln!(o, "</body>\n</html>");
    o
}

/// Text from an agent, a medium or the configuration: sanitised, then
/// escaped for HTML.
pub(super) fn esc_name(s: &str) -> String {
    esc(&crate::output::sanitize(s))
}

/// The report's time zone (UTC if its name no longer parses).
pub(super) fn zone(report: &Report) -> chrono_tz::Tz {
    super::parse_tz(&report.time_zone).unwrap_or(chrono_tz::UTC)
}

/// The organisation as configured, when it names one.
fn organisation(report: &Report) -> Option<&str> {
    report
        .organisation
        .as_deref()
        .filter(|s| !s.trim().is_empty())
}

/// The report year with its dates, and the years shown for comparison.
fn period_text(report: &Report, lang: Lang) -> String {
    let first = report.previous_years[0];
    let (start, end) = (
        super::fiscal::quarter_dates(report.fy, 1).map(|d| d.0),
        super::fiscal::quarter_dates(report.fy, 4).map(|d| d.1),
    );
    let span = match (start, end) {
        (Some(s), Some(e)) => format!("FY{} ({s} – {e})", report.fy),
        _ => format!("FY{}", report.fy),
    };
    match lang {
        Lang::Ja => format!("{span}、比較として FY{first}–FY{} の年度計", report.fy - 1),
        Lang::En => format!(
            "{span}, with FY{first}–FY{} totals for comparison",
            report.fy - 1
        ),
    }
}

/// The organisation, the title, and what the document covers: the period,
/// the report date and when it was made.
fn header(o: &mut String, report: &Report, lang: Lang, title: &str) {
    let _ = writeln!(o, "<header>");
    if let Some(org) = organisation(report) {
        let _ = writeln!(o, "<p class=\"org\">{}</p>", esc_name(org));
    }
    let _ = writeln!(o, "<h1>{title}</h1>\n<dl class=\"meta\">");
    let ja = lang == Lang::Ja;
    let tz = zone(report);
    let mut row = |k: &str, v: String| {
        let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    if let Some(org) = organisation(report) {
        let org = crate::output::sanitize(org).into_owned();
        row(if ja { "組織" } else { "Organisation" }, org);
    }
    row(
        if ja { "対象期間" } else { "Period" },
        period_text(report, lang),
    );
    row(
        if ja { "基準日" } else { "As of" },
        format!("{} ({})", report.as_of, report.time_zone),
    );
    if let Some(t) = report.generated {
        let local = t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S");
        row(
            if ja { "作成日時" } else { "Generated" },
            format!("{local} ({})", tz.name()),
        );
    }
    let _ = writeln!(o, "</dl>\n</header>");
}

/// One table: two heading rows (previous years, then the year's quarters
/// under its FY), group rows and count rows.
fn table(o: &mut String, t: &Table, cols: &[String], report: &Report, lang: Lang) {
    let _ = writeln!(o, "<h2>{}</h2>\n<table>\n<thead>", esc(&t.title));
    let _ = writeln!(
        o,
        "<tr><th rowspan=\"2\">{}</th>{}<th colspan=\"5\">FY{}</th></tr>",
        esc(&t.label_heading),
        cols[..PREVIOUS_YEARS]
            .iter()
            .map(|c| format!("<th rowspan=\"2\">{} {}</th>", esc(c), total_word(lang)))
            .collect::<String>(),
        report.fy
    );
    let _ = writeln!(
        o,
        "<tr>{}</tr>\n</thead>\n<tbody>",
        cols[PREVIOUS_YEARS..]
            .iter()
            .map(|c| format!("<th>{}</th>", esc(c)))
            .collect::<String>()
    );
    let provisional = report.provisional();
    for (depth, text, cells) in super::render::label_lines(t) {
        let indent = 0.6 + 1.2 * depth as f32;
        match cells {
            None => {
                let _ = writeln!(
                    o,
                    "<tr><th class=\"g\" colspan=\"{}\" style=\"padding-left:{indent}em\">{}</th></tr>",
                    cols.len() + 1,
                    esc(text)
                );
            }
            Some(cells) => {
                let _ = write!(
                    o,
                    "<tr><td style=\"padding-left:{indent}em\">{}</td>",
                    esc(text)
                );
                for (c, p) in cells.iter().zip(provisional) {
                    let _ = write!(o, "<td class=\"n\">{}</td>", cell_text(*c, p));
                }
                let _ = writeln!(o, "</tr>");
            }
        }
    }
    let _ = writeln!(o, "</tbody>\n</table>");
}

/// The chart's drawing area, in SVG user units.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    top: f64,
    /// y of the axis line.
    base: f64,
    /// The count drawn at full height (at least 1).
    max: f64,
}

impl Frame {
    fn new(report: &Report) -> Frame {
        let (w, h, left, bottom, top) = (640.0, 320.0, 50.0, 40.0, 20.0);
        let max = report
            .incidents
            .quarters
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        Frame {
            w,
            h,
            left,
            top,
            base: h - bottom,
            max,
        }
    }

    fn plot_h(&self) -> f64 {
        self.base - self.top
    }
}

fn event_name(e: &Entry<Event>, lang: Lang) -> &'static str {
    if lang == Lang::Ja {
        e.label_ja
    } else {
        e.label_en
    }
}

/// Stacked bars, one per quarter of the year, segments by event type.
fn chart(o: &mut String, report: &Report, lang: Lang) {
    let f = Frame::new(report);
    let heading = match lang {
        Lang::Ja => format!("FY{} 四半期別 事象の種類", report.fy),
        Lang::En => format!("FY{} incidents per quarter by event type", report.fy),
    };
    let _ = writeln!(o, "<h2>{}</h2>", esc(&heading));
    let (w, h) = (f.w, f.h);
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(&heading)
    );
    axes(o, &f);
    for q in 0..4 {
        bar(o, &f, report, lang, q);
    }
    let _ = writeln!(o, "</svg>");
    let _ = write!(o, "<p class=\"legend\">");
    for (i, e) in EVENTS.iter().enumerate() {
        let _ = write!(
            o,
            "<span><i class=\"sw\" style=\"background:{}\"></i>{}</span>",
            COLOURS[i % COLOURS.len()],
            esc(event_name(e, lang))
        );
    }
    let _ = writeln!(o, "</p>");
}

/// Background, the two axes and the 0 and maximum labels.
fn axes(o: &mut String, f: &Frame) {
    let (w, h, left, top, base) = (f.w, f.h, f.left, f.top, f.base);
    let _ = writeln!(
        o,
        "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>"
    );
    let _ = writeln!(
        o,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/>",
        w - 10.0
    );
    let _ = writeln!(
        o,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\" stroke=\"#333\"/>"
    );
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
        left - 6.0,
        top + 4.0,
        f.max as u64
    );
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{base}\" font-size=\"12\" text-anchor=\"end\">0</text>",
        left - 6.0
    );
}

/// Quarter `q`'s label and its stacked bar with the total above it (the
/// open quarter pale, its total marked `*`), or — when the quarter has not
/// begun.
fn bar(o: &mut String, f: &Frame, report: &Report, lang: Lang, q: usize) {
    let slot = (f.w - f.left - 10.0) / 4.0;
    let bar_w = slot * 0.5;
    let x = f.left + slot * q as f64 + (slot - bar_w) / 2.0;
    let mid = x + bar_w / 2.0;
    let base = f.base;
    let label = format!("{}Q", q + 1);
    let _ = writeln!(
        o,
        "<text x=\"{mid}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\">{label}</text>",
        base + 18.0
    );
    let Some(total) = report.incidents.quarters[q] else {
        let _ = writeln!(
            o,
            "<text x=\"{mid}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\" fill=\"#666\">—</text>",
            base - 6.0
        );
        return;
    };
    let open = report.open_quarter == Some(q as u8 + 1);
    let opacity = if open { " fill-opacity=\"0.45\"" } else { "" };
    let mut y = base;
    for (i, row) in report.events.iter().enumerate() {
        let n = row.counts.quarters[q].unwrap_or(0);
        if n == 0 {
            continue;
        }
        let seg = f.plot_h() * n as f64 / f.max;
        y -= seg;
        let _ = writeln!(
            o,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{seg:.1}\" fill=\"{}\"{opacity}><title>{label} {}: {n}{}</title></rect>",
            COLOURS[i % COLOURS.len()],
            esc(event_name(row.code.entry(), lang)),
            if open { "*" } else { "" }
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{mid:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\">{}</text>",
        y - 4.0,
        cell_text(Some(total), open)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
