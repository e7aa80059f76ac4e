//! Text, Markdown, CSV and JSON renderings of a [`Report`]. Text output pads
//! by display width (CJK characters take two columns). A provisional cell
//! (the open quarter, the total) is `1*` in text and Markdown; in CSV its
//! cells stay plain numbers, its column heading carries the `*` and the
//! footnote follows the rows; in JSON a flag per column says so.

use super::{
    cell_text, column_names, footnotes, report_title, tables, total_word, Lang, Report, Table,
};
use serde::Serialize;
use std::fmt::Write as _;

/// Version of the JSON report format. 2: the open quarter's cells hold its
/// count so far (v1: null) and `provisional` flags them.
pub const JSON_VERSION: u32 = 2;

/// Display width of a string in a terminal: East Asian wide and full-width
/// characters count two columns.
pub(crate) fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = matches!(u,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
                | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
                | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

fn pad_right(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

fn pad_left(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{}{s}", " ".repeat(width.saturating_sub(w)))
}

/// One line of a table's label column: indent depth, text, cells if a data row.
pub(super) type LabelLine<'a> = (usize, &'a str, Option<&'a [Option<u64>]>);

/// A table's rows with their group headings interleaved, each heading
/// once where the group starts.
pub(super) fn label_lines(t: &Table) -> Vec<LabelLine<'_>> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for r in &t.rows {
        let common = current
            .iter()
            .zip(&r.path)
            .take_while(|(a, b)| a == b)
            .count();
        for (depth, g) in r.path.iter().enumerate().skip(common) {
            out.push((depth, *g, None));
        }
        current = r.path.clone();
        out.push((r.path.len(), r.label, Some(r.cells.as_slice())));
    }
    out
}

/// Width of the label column: the widest label (indented) or heading, plus 2.
fn label_width(tabs: &[Table]) -> usize {
    tabs.iter()
        .flat_map(|t| {
            let mut v: Vec<usize> = label_lines(t)
                .iter()
                .map(|(d, s, _)| 2 * d + display_width(s))
                .collect();
            v.push(display_width(&t.label_heading));
            v
        })
        .max()
        .unwrap_or(0)
        + 2
}

/// Narrowest count column.
const COL_W: usize = 8;

pub(super) fn text(report: &Report, lang: Lang) -> String {
    let tabs = tables(report, lang);
    let cols = column_names(report, lang);
    let label_w = label_width(&tabs);
    let mut out = String::new();
    let _ = writeln!(out, "{}", report_title(report, lang));
    let _ = writeln!(out);
    for t in &tabs {
        text_table(&mut out, t, &cols, label_w, report, lang);
        let _ = writeln!(out);
    }
    for f in footnotes(report, lang) {
        let _ = writeln!(out, "{f}");
    }
    out
}

/// One table as aligned text: its title, two heading lines and the rows.
fn text_table(
    out: &mut String,
    t: &Table,
    cols: &[String],
    label_w: usize,
    report: &Report,
    lang: Lang,
) {
    let _ = writeln!(out, "{}", t.title);
    let mut head1 = pad_right("", label_w);
    for _ in 0..super::PREVIOUS_YEARS {
        head1.push_str(&pad_left("", COL_W));
    }
    head1.push_str(&pad_left(&format!("FY{}", report.fy), COL_W));
    let _ = writeln!(out, "{}", head1.trim_end());
    let mut head2 = pad_right(&t.label_heading, label_w);
    for (i, c) in cols.iter().enumerate() {
        let name = if i < super::PREVIOUS_YEARS {
            format!("{c} {}", total_word(lang))
        } else {
            c.clone()
        };
        head2.push_str(&pad_left(&name, COL_W.max(display_width(&name) + 1)));
    }
    let _ = writeln!(out, "{head2}");
    let provisional = report.provisional();
    for (depth, label, cells) in label_lines(t) {
        let mut line = pad_right(&format!("{}{label}", "  ".repeat(depth)), label_w);
        for (i, c) in cells.unwrap_or_default().iter().enumerate() {
            let name_w = if i < super::PREVIOUS_YEARS {
                display_width(&cols[i]) + display_width(total_word(lang)) + 2
            } else {
                display_width(&cols[i]) + 1
            };
            line.push_str(&pad_left(&cell_text(*c, provisional[i]), COL_W.max(name_w)));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

pub(super) fn markdown(report: &Report, lang: Lang) -> String {
    let cols = column_names(report, lang);
    let provisional = report.provisional();
    let mut out = format!("# {}\n\n", md_escape(&report_title(report, lang)));
    for t in tables(report, lang) {
        let _ = writeln!(out, "## {}\n", md_escape(&t.title));
        let mut head = format!("| {} | |", md_escape(&t.label_heading));
        for (i, c) in cols.iter().enumerate() {
            if i < super::PREVIOUS_YEARS {
                let _ = write!(head, " {c} {} |", total_word(lang));
            } else {
                let _ = write!(head, " FY{} {c} |", report.fy);
            }
        }
        let _ = writeln!(out, "{head}");
        let _ = writeln!(out, "|---|---|{}", "---:|".repeat(cols.len()));
        for r in &t.rows {
            let group = r
                .path
                .iter()
                .map(|g| md_escape(g))
                .collect::<Vec<_>>()
                .join(" › ");
            let _ = write!(out, "| {group} | {} |", md_escape(r.label));
            for (c, p) in r.cells.iter().zip(provisional) {
                let _ = write!(out, " {} |", cell_text(*c, p));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
    }
    for f in footnotes(report, lang) {
        let _ = writeln!(out, "- {}", md_escape(&f));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One header row, then every row of the three tables. The first column is
/// the row label qualified by its table and group headings (`事象の種類 ›
/// 未発生 › 予兆・ヒヤリハット`), so labels that repeat (その他) stay distinct.
/// Cells are plain numbers (— for a period not begun). When a quarter is
/// open, its heading and the total's carry `*`, and after the rows an empty
/// line and the footnotes, one a row, say what it means.
pub(super) fn csv(report: &Report, lang: Lang) -> String {
    let mut out = String::new();
    let cols = column_names(report, lang);
    let provisional = report.provisional();
    let _ = writeln!(
        out,
        ",{}",
        cols.iter()
            .zip(provisional)
            .map(|(c, p)| csv_field(&if p { format!("{c}*") } else { c.clone() }))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (ti, t) in tables(report, lang).iter().enumerate() {
        for r in &t.rows {
            let mut parts: Vec<&str> = Vec::new();
            if ti > 0 {
                parts.push(&t.label_heading);
            }
            parts.extend(r.path.iter().copied());
            parts.push(r.label);
            let cells: Vec<String> = r
                .cells
                .iter()
                .map(|c| c.map_or_else(|| "—".into(), |n| n.to_string()))
                .collect();
            let _ = writeln!(out, "{},{}", csv_field(&parts.join(" › ")), cells.join(","));
        }
    }
    if report.open_quarter.is_some() {
        let _ = writeln!(out);
        for f in footnotes(report, lang) {
            let _ = writeln!(out, "{}", csv_field(&f));
        }
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    v: u32,
    title: String,
    fy: i32,
    as_of: chrono::NaiveDate,
    time_zone: &'a str,
    lang: String,
    columns: Vec<String>,
    years_closed: [bool; super::PREVIOUS_YEARS],
    quarters_closed: [bool; 4],
    /// The quarter running on `as_of` (1..=4), if it is this year's.
    open_quarter: Option<u8>,
    /// One flag per column: the cells are a count so far.
    provisional: [bool; 9],
    tables: Vec<JsonTable>,
    untriaged: u64,
    false_positives: u64,
    footnotes: Vec<String>,
}

#[derive(Serialize)]
struct JsonTable {
    title: String,
    label_heading: String,
    rows: Vec<JsonRow>,
}

#[derive(Serialize)]
struct JsonRow {
    groups: Vec<&'static str>,
    label: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    /// `null` for a year not closed or a quarter not begun yet; the open
    /// quarter's count so far (see `provisional`).
    cells: Vec<Option<u64>>,
}

pub(super) fn json(report: &Report, lang: Lang) -> String {
    let j = JsonReport {
        v: JSON_VERSION,
        title: report_title(report, lang),
        fy: report.fy,
        as_of: report.as_of,
        time_zone: &report.time_zone,
        lang: lang.to_string(),
        columns: column_names(report, lang),
        years_closed: report.years_closed,
        quarters_closed: report.quarters_closed,
        open_quarter: report.open_quarter,
        provisional: report.provisional(),
        tables: tables(report, lang)
            .into_iter()
            .map(|t| JsonTable {
                title: t.title,
                label_heading: t.label_heading,
                rows: t
                    .rows
                    .into_iter()
                    .map(|r| JsonRow {
                        groups: r.path,
                        label: r.label,
                        code: r.code,
                        cells: r.cells,
                    })
                    .collect(),
            })
            .collect(),
        untriaged: report.untriaged,
        false_positives: report.false_positives,
        footnotes: footnotes(report, lang),
    };
    let mut s = serde_json::to_string_pretty(&j).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_csv_quoting() {
        assert_eq!(display_width("未発生"), 6);
        assert_eq!(display_width("FY2019"), 6);
        assert_eq!(display_width("—"), 1);
        assert_eq!(csv_field("Disaster, disease"), "\"Disaster, disease\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
