//! The NISC quarterly report: counts incidents per fiscal period into the
//! seed's three tables (incident count, incidents by event type, incidents by
//! cause) and renders them as text, Markdown, CSV, JSON or self-contained
//! HTML, in Japanese or English. Columns are the four previous fiscal years'
//! totals, the report year's 1Q–4Q and 計; the quarter still running on the
//! report date (the open quarter) shows its count so far marked provisional
//! (`1*`, a footnote, a flag in JSON, and 計 with it), a period that has not
//! begun shows — (null in JSON), never a zero for a period that has not
//! happened, and a footnote says when the report year has not begun. False
//! positives are left out; untriaged incidents count under their automatic
//! classification and a footnote says how many there are. The HTML document
//! also carries a hand-over header (organisation, period, report date,
//! generation time) and an appendix of the counted incidents
//! ([`AppendixEntry`], filled by the caller). The counts come in as
//! [`Tally`]s: the collector groups incidents in SQL per column, triage
//! state and classification over the instants [`periods`] gives each
//! column (local days in the report's zone turned into UTC ranges here,
//! with chrono-tz: SQLite knows no IANA time zones, so the store compares
//! instants only), or
//! [`build`] makes them from a list of incidents; the same code puts either
//! into the tables. This module decides nothing about verdicts.

mod appendix;
pub mod fiscal;
mod html;
mod render;
pub(crate) use render::display_width;

use crate::findings::taxonomy::{Cause, Classification, Event, CAUSES, EVENTS};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Number of previous fiscal years shown as totals.
pub const PREVIOUS_YEARS: usize = 4;

/// Language of the labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Markdown,
    Csv,
    Json,
    Html,
}

/// A `--lang` or `--format` value that is not known.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {expected}")]
pub struct UnknownOption {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// A `--tz` value (or configured time zone) that is not an IANA name.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone {name:?} (use an IANA name such as Asia/Tokyo): {detail}")]
pub struct UnknownTimeZone {
    pub name: String,
    pub detail: String,
}

/// Parses an IANA time-zone name (the zone reports count fiscal periods in).
pub fn parse_tz(name: &str) -> Result<chrono_tz::Tz, UnknownTimeZone> {
    name.parse::<chrono_tz::Tz>().map_err(|e| UnknownTimeZone {
        name: name.into(),
        detail: e.to_string(),
    })
}

impl FromStr for Lang {
    type Err = UnknownOption;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ja" => Ok(Lang::Ja),
            "en" => Ok(Lang::En),
            _ => Err(UnknownOption {
                kind: "language",
                value: s.into(),
                expected: "ja, en",
            }),
        }
    }
}

impl FromStr for Format {
    type Err = UnknownOption;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Format::Text),
            "markdown" | "md" => Ok(Format::Markdown),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            _ => Err(UnknownOption {
                kind: "format",
                value: s.into(),
                expected: "text, markdown, csv, json, html",
            }),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        })
    }
}

/// One incident as the report sees it: when, what (current classification:
/// the latest triage, else the automatic one), and its triage state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportIncident {
    pub time: DateTime<Utc>,
    pub classification: Classification,
    pub false_positive: bool,
    pub triaged: bool,
}

/// One row's cells: previous years' totals and the year's quarters (`None`
/// = not begun (a year: not closed), shown as —; the open quarter holds its
/// count so far) and the year's total (`None` when no quarter has begun).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub years: [Option<u64>; PREVIOUS_YEARS],
    pub quarters: [Option<u64>; 4],
    pub total: Option<u64>,
}

impl Counts {
    fn empty(years_closed: [bool; PREVIOUS_YEARS], shown: [bool; 4]) -> Counts {
        let any = shown.iter().any(|c| *c);
        Counts {
            years: years_closed.map(|c| c.then_some(0)),
            quarters: shown.map(|c| c.then_some(0)),
            total: any.then_some(0),
        }
    }

    /// The nine cells in column order.
    pub fn cells(&self) -> Vec<Option<u64>> {
        let mut v: Vec<Option<u64>> = self.years.to_vec();
        v.extend(self.quarters);
        v.push(self.total);
        v
    }

    fn add(&mut self, slot: Slot, n: u64) {
        match slot {
            Slot::Year(i) => {
                if let Some(c) = self.years.get_mut(i).and_then(Option::as_mut) {
                    *c += n;
                }
            }
            Slot::Quarter(q) => {
                if let Some(c) = self.quarters.get_mut(q).and_then(Option::as_mut) {
                    *c += n;
                }
                if let Some(t) = self.total.as_mut() {
                    *t += n;
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRow {
    pub code: Event,
    pub counts: Counts,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CauseRow {
    pub code: Cause,
    pub counts: Counts,
}

/// The computed report, independent of language and format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub fy: i32,
    pub as_of: NaiveDate,
    pub time_zone: String,
    /// The previous fiscal years shown as totals, oldest first.
    pub previous_years: [i32; PREVIOUS_YEARS],
    /// Which of them have closed as of `as_of` (the others show —).
    pub years_closed: [bool; PREVIOUS_YEARS],
    /// Which of the year's quarters have closed as of `as_of`.
    pub quarters_closed: [bool; 4],
    /// The quarter (1..=4) running on `as_of`: shown with its count so far,
    /// marked provisional, and so is the total.
    pub open_quarter: Option<u8>,
    pub incidents: Counts,
    pub events: Vec<EventRow>,
    pub causes: Vec<CauseRow>,
    /// Counted incidents (any column) still under automatic classification.
    pub untriaged: u64,
    /// Incidents in the report's periods left out as false positives.
    pub false_positives: u64,
    /// Who the report is from (`report.organisation`), for the HTML header.
    pub organisation: Option<String>,
    /// When the document was made, for the HTML header.
    pub generated: Option<DateTime<Utc>>,
    /// The counted incidents, for the HTML appendix (oldest first).
    pub appendix: Vec<AppendixEntry>,
}

/// One counted incident as the HTML appendix lists it. Names come from
/// agents and media: renderers sanitise and escape them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppendixEntry {
    /// The column it is counted in (0..=8, as [`Counts::cells`]).
    pub column: usize,
    pub time: DateTime<Utc>,
    pub id: String,
    pub agent: String,
    pub host: Option<String>,
    pub medium: String,
    pub classification: Classification,
    pub triaged: bool,
}

#[derive(Clone, Copy)]
enum Slot {
    Year(usize),
    Quarter(usize),
}

impl Slot {
    /// The slot of a column (0..=8, as [`Counts::cells`]); the total's
    /// column and columns past it are no slot.
    fn of_column(column: usize) -> Option<Slot> {
        if column < PREVIOUS_YEARS {
            Some(Slot::Year(column))
        } else if column < PREVIOUS_YEARS + 4 {
            Some(Slot::Quarter(column - PREVIOUS_YEARS))
        } else {
            None
        }
    }

    fn column(self) -> usize {
        match self {
            Slot::Year(i) => i,
            Slot::Quarter(q) => PREVIOUS_YEARS + q,
        }
    }
}

/// Incidents counted together: how many, in which column (0..=7, as
/// [`Counts::cells`]), under which current classification and in which
/// triage state. The store counts them (grouped in SQL); [`build`] makes
/// them from a list of incidents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    pub column: usize,
    pub classification: Classification,
    pub false_positive: bool,
    pub triaged: bool,
    pub count: u64,
}

/// The instants counted in one column: `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnPeriod {
    pub column: usize,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Report {
    /// A report with every count at zero.
    fn empty(fy: i32, as_of: NaiveDate, tz: chrono_tz::Tz) -> Report {
        let previous_years: [i32; PREVIOUS_YEARS] =
            std::array::from_fn(|i| fy - PREVIOUS_YEARS as i32 + i as i32);
        let quarters_closed: [bool; 4] =
            std::array::from_fn(|i| fiscal::quarter_closed(fy, i as u8 + 1, as_of));
        let open_quarter = fiscal::open_quarter(fy, as_of);
        let shown: [bool; 4] =
            std::array::from_fn(|i| quarters_closed[i] || open_quarter == Some(i as u8 + 1));
        // A fiscal year has closed when its last quarter has.
        let years_closed = previous_years.map(|y| fiscal::quarter_closed(y, 4, as_of));
        let empty = || Counts::empty(years_closed, shown);
        Report {
            fy,
            as_of,
            time_zone: tz.name().to_string(),
            previous_years,
            years_closed,
            quarters_closed,
            open_quarter,
            incidents: empty(),
            events: EVENTS
                .iter()
                .map(|e| EventRow {
                    code: e.code,
                    counts: empty(),
                })
                .collect(),
            causes: CAUSES
                .iter()
                .map(|c| CauseRow {
                    code: c.code,
                    counts: empty(),
                })
                .collect(),
            untriaged: 0,
            false_positives: 0,
            organisation: None,
            generated: None,
            appendix: Vec::new(),
        }
    }

    /// Which of the nine cells ([`Counts::cells`]) are counts so far: the
    /// open quarter and the total.
    pub fn provisional(&self) -> [bool; 9] {
        let mut p = [false; 9];
        if let Some(q) = self.open_quarter {
            p[PREVIOUS_YEARS + q as usize - 1] = true;
            p[PREVIOUS_YEARS + 4] = true;
        }
        p
    }

    /// The column an instant falls in, if it is shown at all.
    fn slot(&self, time: &DateTime<Utc>, tz: &chrono_tz::Tz) -> Option<Slot> {
        let (date, fq) = fiscal::of_instant(time, tz);
        if date > self.as_of {
            return None;
        }
        if let Some(i) = self.previous_years.iter().position(|y| *y == fq.fy) {
            Some(Slot::Year(i))
        } else if fq.fy == self.fy
            && (self.quarters_closed[fq.quarter as usize - 1]
                || self.open_quarter == Some(fq.quarter))
        {
            Some(Slot::Quarter(fq.quarter as usize - 1))
        } else {
            None
        }
    }

    /// Counts a tally in its column: the total, its event and each of its
    /// causes once per incident.
    fn count(&mut self, t: &Tally) {
        let Some(slot) = Slot::of_column(t.column) else {
            return;
        };
        let n = t.count;
        if t.false_positive {
            self.false_positives += n;
            return;
        }
        if !t.triaged {
            self.untriaged += n;
        }
        self.incidents.add(slot, n);
        if let Some(row) = self
            .events
            .iter_mut()
            .find(|r| r.code == t.classification.event)
        {
            row.counts.add(slot, n);
        }
        let causes: BTreeSet<Cause> = t.classification.causes.iter().copied().collect();
        for c in causes {
            if let Some(row) = self.causes.iter_mut().find(|r| r.code == c) {
                row.counts.add(slot, n);
            }
        }
    }
}

/// Builds the report for fiscal year `fy` as of the local date `as_of`,
/// placing each incident by its local date in `tz`. Incidents after `as_of`
/// or outside the five fiscal years are ignored.
pub fn build(incidents: &[ReportIncident], fy: i32, as_of: NaiveDate, tz: chrono_tz::Tz) -> Report {
    let report = Report::empty(fy, as_of, tz);
    let tallies: Vec<Tally> = incidents
        .iter()
        .filter_map(|inc| {
            Some(Tally {
                column: report.slot(&inc.time, &tz)?.column(),
                classification: inc.classification.clone(),
                false_positive: inc.false_positive,
                triaged: inc.triaged,
                count: 1,
            })
        })
        .collect();
    from_tallies(&tallies, fy, as_of, tz)
}

/// Builds the report from tallies (see [`periods`] for the instants each
/// column counts).
pub fn from_tallies(tallies: &[Tally], fy: i32, as_of: NaiveDate, tz: chrono_tz::Tz) -> Report {
    let mut report = Report::empty(fy, as_of, tz);
    for t in tallies {
        report.count(t);
    }
    report
}

/// The instants each column of the report for `fy` as of `as_of` counts:
/// each previous fiscal year and each quarter of `fy` that has begun, from
/// the start of its first local day in `tz` to the start of the day after
/// its last one or after `as_of`, whichever is first. An incident whose
/// time is in a period counts in its column (the same column
/// [`build`] places it in by its local date).
pub fn periods(fy: i32, as_of: NaiveDate, tz: chrono_tz::Tz) -> Vec<ColumnPeriod> {
    let report = Report::empty(fy, as_of, tz);
    let stop = as_of.succ_opt();
    let mut spans: Vec<(usize, Option<NaiveDate>, Option<NaiveDate>)> = Vec::new();
    for (i, y) in report.previous_years.iter().enumerate() {
        let start = NaiveDate::from_ymd_opt(*y, 4, 1);
        spans.push((i, start, NaiveDate::from_ymd_opt(*y + 1, 4, 1)));
    }
    for q in 1..=4u8 {
        let shown = report.quarters_closed[q as usize - 1] || report.open_quarter == Some(q);
        if let Some((start, last)) = fiscal::quarter_dates(fy, q).filter(|_| shown) {
            spans.push((
                PREVIOUS_YEARS + q as usize - 1,
                Some(start),
                last.succ_opt(),
            ));
        }
    }
    spans
        .into_iter()
        .filter_map(|(column, start, next)| {
            let (start, next) = (start?, next?.min(stop?));
            (start < next).then_some(())?;
            Some(ColumnPeriod {
                column,
                from: fiscal::day_start(start, &tz)?,
                to: fiscal::day_start(next, &tz)?,
            })
        })
        .collect()
}

/// The column whose period holds `time`, if any.
pub fn column_at(periods: &[ColumnPeriod], time: DateTime<Utc>) -> Option<usize> {
    periods
        .iter()
        .find(|p| p.from <= time && time < p.to)
        .map(|p| p.column)
}

/// Renders a report in one language and format.
pub fn render(report: &Report, lang: Lang, format: Format) -> String {
    match format {
        Format::Text => render::text(report, lang),
        Format::Markdown => render::markdown(report, lang),
        Format::Csv => render::csv(report, lang),
        Format::Json => render::json(report, lang),
        Format::Html => html::html(report, lang),
    }
}

/// A table as renderers see it: a title, a label-column heading and rows,
/// each under a path of group headings.
struct Table {
    title: String,
    label_heading: String,
    rows: Vec<Row>,
}

struct Row {
    /// Group headings above the row, outermost first (may be empty).
    path: Vec<&'static str>,
    label: &'static str,
    code: Option<&'static str>,
    cells: Vec<Option<u64>>,
}

fn event_path(code: Event, lang: Lang) -> Vec<&'static str> {
    let e = code.entry();
    let (group, occurred) = match lang {
        Lang::Ja => (e.group_ja, "発生した事象"),
        Lang::En => (e.group_en, "Events that occurred"),
    };
    if code == Event::Precursor {
        vec![group]
    } else if e.group_ja == e.label_ja {
        vec![occurred]
    } else {
        vec![occurred, group]
    }
}

fn tables(report: &Report, lang: Lang) -> [Table; 3] {
    [
        incidents_table(report, lang),
        events_table(report, lang),
        causes_table(report, lang),
    ]
}

fn incidents_table(report: &Report, lang: Lang) -> Table {
    let ja = lang == Lang::Ja;
    Table {
        title: if ja {
            "情報連絡 件数 (単位:件)"
        } else {
            "Incidents reported (count)"
        }
        .into(),
        label_heading: if ja { "実施形態" } else { "Kind" }.into(),
        rows: vec![Row {
            path: vec![],
            label: if ja {
                "重要インフラ事業者等からNISCへの情報連絡"
            } else {
                "Incidents reported"
            },
            code: None,
            cells: report.incidents.cells(),
        }],
    }
}

fn events_table(report: &Report, lang: Lang) -> Table {
    let ja = lang == Lang::Ja;
    Table {
        title: if ja {
            "※1) 事象別内訳"
        } else {
            "*1) Incidents by event type"
        }
        .into(),
        label_heading: if ja { "事象の種類" } else { "Event type" }.into(),
        rows: report
            .events
            .iter()
            .map(|r| {
                let e = r.code.entry();
                Row {
                    path: event_path(r.code, lang),
                    label: if ja { e.label_ja } else { e.label_en },
                    code: Some(e.slug),
                    cells: r.counts.cells(),
                }
            })
            .collect(),
    }
}

fn causes_table(report: &Report, lang: Lang) -> Table {
    let ja = lang == Lang::Ja;
    Table {
        title: if ja {
            "※2) 原因別類型 (複数選択)"
        } else {
            "*2) Incidents by cause (several may apply)"
        }
        .into(),
        label_heading: if ja { "原因別類型" } else { "Cause" }.into(),
        rows: report
            .causes
            .iter()
            .map(|r| {
                let c = r.code.entry();
                let (group, label) = if ja {
                    (c.group_ja, c.label_ja)
                } else {
                    (c.group_en, c.label_en)
                };
                Row {
                    // A group that is its own only row (他分野の障害からの波及) has no heading.
                    path: if c.group_ja == c.label_ja {
                        vec![]
                    } else {
                        vec![group]
                    },
                    label,
                    code: Some(c.slug),
                    cells: r.counts.cells(),
                }
            })
            .collect(),
    }
}

/// Column headings in order: `FY2015`…, `1Q`…`4Q`, `計`/`Total`.
fn column_names(report: &Report, lang: Lang) -> Vec<String> {
    let mut v: Vec<String> = report
        .previous_years
        .iter()
        .map(|y| format!("FY{y}"))
        .collect();
    v.extend(["1Q", "2Q", "3Q", "4Q"].map(String::from));
    v.push(total_word(lang).into());
    v
}

fn total_word(lang: Lang) -> &'static str {
    match lang {
        Lang::Ja => "計",
        Lang::En => "Total",
    }
}

/// A cell as shown: the count, `1*` when provisional, — when the period
/// has not begun.
fn cell_text(c: Option<u64>, provisional: bool) -> String {
    match c {
        None => "—".to_string(),
        Some(n) if provisional => format!("{n}*"),
        Some(n) => n.to_string(),
    }
}

/// The footnote lines under the tables, and a note when periods have not
/// begun or closed yet.
fn footnotes(report: &Report, lang: Lang) -> Vec<String> {
    let mut notes = base_footnotes(report, lang);
    if let Some(note) = provisional_footnote(report, lang) {
        notes.insert(2, note);
    }
    let begun = fiscal::quarter_dates(report.fy, 1).is_some_and(|(start, _)| start <= report.as_of);
    let open_years: Vec<String> = report
        .previous_years
        .iter()
        .zip(report.years_closed)
        .filter(|(_, closed)| !closed)
        .map(|(y, _)| format!("FY{y}"))
        .collect();
    match lang {
        Lang::Ja => {
            if !begun {
                notes.push(format!(
                    "{}年度は {} 時点でまだ始まっていません (すべての四半期が —)",
                    report.fy, report.as_of
                ));
            }
            if !open_years.is_empty() {
                notes.push(format!(
                    "{} は {} 時点で終了していない年度のため —",
                    open_years.join("、"),
                    report.as_of
                ));
            }
        }
        Lang::En => {
            if !begun {
                notes.push(format!(
                    "FY{} has not begun as of {}: every quarter shows —",
                    report.fy, report.as_of
                ));
            }
            if !open_years.is_empty() {
                notes.push(format!(
                    "{}: not closed as of {}, shown as —",
                    open_years.join(", "),
                    report.as_of
                ));
            }
        }
    }
    notes
}

fn base_footnotes(report: &Report, lang: Lang) -> Vec<String> {
    match lang {
        Lang::Ja => vec![
            "(注) FY:年度、Q:四半期".into(),
            format!(
                "—: {} 時点でまだ始まっていない四半期 (タイムゾーン {})",
                report.as_of, report.time_zone
            ),
            format!("未トリアージ (自動分類のまま計上): {} 件", report.untriaged),
            format!("誤検知として除外: {} 件", report.false_positives),
        ],
        Lang::En => vec![
            "FY: fiscal year (April to March), Q: quarter".into(),
            format!(
                "—: quarter not begun as of {} (time zone {})",
                report.as_of, report.time_zone
            ),
            format!(
                "Untriaged (counted under automatic classification): {}",
                report.untriaged
            ),
            format!("Excluded as false positives: {}", report.false_positives),
        ],
    }
}

/// The note that explains `*`, when a quarter is open.
fn provisional_footnote(report: &Report, lang: Lang) -> Option<String> {
    let q = report.open_quarter?;
    Some(match lang {
        Lang::Ja => format!(
            "*: 暫定値 ({}Q は {} 時点で集計中のため、その時点までの件数。{}もこれを含む暫定値)",
            q,
            report.as_of,
            total_word(lang)
        ),
        Lang::En => format!(
            "*: provisional: {}Q has not closed as of {}; the count so far (the total includes it)",
            q, report.as_of
        ),
    })
}

fn report_title(report: &Report, lang: Lang) -> String {
    match lang {
        Lang::Ja => format!(
            "重要インフラにおける情報共有件数について ({}年度)",
            report.fy
        ),
        Lang::En => format!("Incident reports under the NISC taxonomy, FY{}", report.fy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Tokyo;

    #[test]
    fn parse_tz_names_the_bad_zone() {
        assert_eq!(parse_tz("Asia/Tokyo").ok(), Some(Tokyo));
        let e = parse_tz("Mars/Olympus").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("unknown time zone \"Mars/Olympus\" (use an IANA name")));
    }

    fn inc(
        local: (i32, u32, u32, u32, u32, u32),
        event: Event,
        causes: &[Cause],
    ) -> ReportIncident {
        let (y, mo, d, h, mi, s) = local;
        ReportIncident {
            time: Tokyo
                .with_ymd_and_hms(y, mo, d, h, mi, s)
                .unwrap()
                .with_timezone(&Utc),
            classification: Classification {
                event,
                causes: causes.to_vec(),
            },
            false_positive: false,
            triaged: true,
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn counts_quarters_years_and_dashes() {
        let list = vec![
            inc(
                (2016, 5, 1, 0, 0, 0),
                Event::Leak,
                &[Cause::Insider, Cause::Insider],
            ),
            inc(
                (2019, 4, 2, 0, 0, 0),
                Event::Outage,
                &[Cause::EquipmentFailure, Cause::Vulnerability],
            ),
            inc(
                (2019, 7, 2, 0, 0, 0),
                Event::Outage,
                &[Cause::EquipmentFailure],
            ),
            inc(
                (2019, 7, 30, 0, 0, 0),
                Event::Outage,
                &[Cause::EquipmentFailure],
            ),
            inc(
                (2014, 7, 30, 0, 0, 0),
                Event::Outage,
                &[Cause::EquipmentFailure],
            ),
        ];
        let r = build(&list, 2019, date(2019, 7, 19), Tokyo);
        assert_eq!(r.previous_years, [2015, 2016, 2017, 2018]);
        assert_eq!(
            r.incidents.cells(),
            vec![
                Some(0),
                Some(1),
                Some(0),
                Some(0),
                Some(1),
                Some(1),
                None,
                None,
                Some(2)
            ]
        );
        // 2Q is open on 19 July: its count so far (7/2; 7/30 is later) and
        // the total are provisional.
        assert_eq!(r.open_quarter, Some(2));
        assert_eq!(
            r.provisional(),
            [false, false, false, false, false, true, false, false, true]
        );
        let text = render(&r, Lang::En, Format::Text);
        assert!(
            text.contains("*: provisional: 2Q has not closed as of 2019-07-19"),
            "{text}"
        );
        let line = text
            .lines()
            .find(|l| l.starts_with("Incidents reported  "))
            .unwrap();
        assert!(
            line.ends_with(" 1      1*       —       —      2*"),
            "{line:?}"
        );
        let insider = r.causes.iter().find(|c| c.code == Cause::Insider).unwrap();
        assert_eq!(
            insider.counts.years,
            [Some(0), Some(1), Some(0), Some(0)],
            "a cause counts once per incident"
        );
        let vul = r
            .causes
            .iter()
            .find(|c| c.code == Cause::Vulnerability)
            .unwrap();
        assert_eq!(vul.counts.quarters, [Some(1), Some(0), None, None]);
        // As of the end of the year every quarter shows.
        let r = build(&list, 2019, date(2020, 3, 31), Tokyo);
        assert_eq!(r.incidents.quarters, [Some(1), Some(2), Some(0), Some(0)]);
        assert_eq!(r.incidents.total, Some(3));
        // Before any quarter closes, 1Q and the total are counts so far.
        let r = build(&list, 2019, date(2019, 5, 1), Tokyo);
        assert_eq!(r.incidents.quarters, [Some(1), None, None, None]);
        assert_eq!(r.incidents.total, Some(1));
        assert_eq!(r.open_quarter, Some(1));
        // Before the year begins, every quarter and the total are —.
        let r = build(&list, 2019, date(2019, 3, 31), Tokyo);
        assert_eq!(r.incidents.total, None);
        assert_eq!(r.open_quarter, None);
    }

    #[test]
    fn false_positives_and_untriaged() {
        let mut a = inc((2019, 5, 1, 0, 0, 0), Event::Precursor, &[Cause::Unknown]);
        a.triaged = false;
        let mut b = inc((2019, 5, 2, 0, 0, 0), Event::Precursor, &[Cause::Unknown]);
        b.false_positive = true;
        let r = build(&[a, b], 2019, date(2019, 7, 19), Tokyo);
        assert_eq!(r.incidents.total, Some(1));
        assert_eq!(r.untriaged, 1);
        assert_eq!(r.false_positives, 1);
        let text = render(&r, Lang::Ja, Format::Text);
        assert!(
            text.contains("未トリアージ (自動分類のまま計上): 1 件"),
            "{text}"
        );
        let text = render(&r, Lang::En, Format::Text);
        assert!(
            text.contains("Untriaged (counted under automatic classification): 1"),
            "{text}"
        );
    }

    #[test]
    fn periods_place_instants_as_local_dates_do() {
        let zones = [
            Tokyo,
            chrono_tz::America::Santiago,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::Europe::London,
        ];
        for tz in zones {
            for as_of in [date(2019, 6, 30), date(2019, 7, 19), date(2020, 3, 31)] {
                let r = Report::empty(2019, as_of, tz);
                let p = periods(2019, as_of, tz);
                let mut t = Utc.with_ymd_and_hms(2014, 12, 31, 0, 0, 0).unwrap();
                let end = Utc.with_ymd_and_hms(2020, 4, 3, 0, 0, 0).unwrap();
                while t < end {
                    let want = r.slot(&t, &tz).map(Slot::column);
                    assert_eq!(column_at(&p, t), want, "{tz} as of {as_of}: {t}");
                    t += chrono::Duration::minutes(37);
                }
            }
        }
    }

    #[test]
    fn tallies_count_as_incidents_do() {
        let mut list = vec![
            inc((2016, 5, 1, 0, 0, 0), Event::Leak, &[Cause::Insider]),
            inc(
                (2019, 4, 2, 0, 0, 0),
                Event::Outage,
                &[Cause::Vulnerability],
            ),
            inc(
                (2019, 4, 3, 0, 0, 0),
                Event::Outage,
                &[Cause::Vulnerability],
            ),
        ];
        list[2].false_positive = true;
        let as_of = date(2019, 7, 19);
        let built = build(&list, 2019, as_of, Tokyo);
        let tallies = [
            Tally {
                column: 1,
                classification: list[0].classification.clone(),
                false_positive: false,
                triaged: true,
                count: 1,
            },
            Tally {
                column: 4,
                classification: list[1].classification.clone(),
                false_positive: false,
                triaged: true,
                count: 1,
            },
            Tally {
                column: 4,
                classification: list[2].classification.clone(),
                false_positive: true,
                triaged: true,
                count: 1,
            },
        ];
        assert_eq!(from_tallies(&tallies, 2019, as_of, Tokyo), built);
        assert_eq!(built.false_positives, 1);
        assert_eq!(built.incidents.total, Some(1));
    }

    #[test]
    fn options_parse() {
        assert_eq!("en".parse::<Lang>().unwrap(), Lang::En);
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        let e = "pdf".parse::<Format>().unwrap_err().to_string();
        assert!(e.contains("pdf") && e.contains("html"), "{e}");
    }
}
