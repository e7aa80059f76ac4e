//! Golden test: incidents whose counts equal the seed document's tables
//! (FY2015–FY2018 totals and FY2019 1Q, events and causes) are written to a
//! collector store as journal records, some triaged, plus decoys that must
//! not count; the `--fy 2019` report as of 2019-06-30 (1Q just closed, 2Q
//! not begun) must reproduce every cell of the seed in Japanese, and the
//! same numbers in English; as of the seed's own date, 2019-07-19, every
//! closed cell is the seed's and the open 2Q shows its count so far (one
//! decoy) marked provisional, with the total.

use crate::support::report_common;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Tokyo;
use kensa::collector::incidents::{self, Filter, Triage};
use kensa::findings::taxonomy::{Cause, Classification, Event, CAUSES, EVENTS};
use kensa::findings::Location;
use kensa::report::{self, Format, Lang};
use report_common::*;

/// Period `p` (0..=3: FY2015..FY2018, 4: FY2019 1Q): first day and length in days.
fn period(p: usize) -> (NaiveDate, i64) {
    if p < 4 {
        let start = NaiveDate::from_ymd_opt(2015 + p as i32, 4, 1).unwrap();
        let next = NaiveDate::from_ymd_opt(2016 + p as i32, 4, 1).unwrap();
        (start, (next - start).num_days())
    } else {
        (NaiveDate::from_ymd_opt(2019, 4, 1).unwrap(), 91)
    }
}

/// Classifications for one period: events expanded from their counts,
/// causes dealt round-robin so each cause goes to distinct incidents and
/// every incident gets at least one.
fn classifications(seed: &SeedTables, col: usize) -> Vec<Classification> {
    let n = num(&seed.incidents.cells[col]).unwrap() as usize;
    let mut out: Vec<Classification> = Vec::with_capacity(n);
    for (row, e) in seed.events.iter().zip(EVENTS) {
        for _ in 0..num(&row.cells[col]).unwrap() {
            out.push(Classification {
                event: e.code,
                causes: vec![],
            });
        }
    }
    assert_eq!(
        out.len(),
        n,
        "event rows sum to the incident count in column {col}"
    );
    let mut next = 0usize;
    for (row, c) in seed.causes.iter().zip(CAUSES) {
        let k = num(&row.cells[col]).unwrap() as usize;
        assert!(k <= n, "cause {} appears at most once per incident", c.slug);
        for _ in 0..k {
            out[next % n].causes.push(c.code);
            next += 1;
        }
    }
    assert!(next >= n, "column {col}: every incident has a cause");
    for c in &mut out {
        c.causes.sort();
    }
    out
}

fn rfc3339(local: chrono::NaiveDateTime) -> String {
    Tokyo
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc)
        .to_rfc3339()
}

struct Built {
    _env: crate::support::TestEnv,
    conn: kensa::collector::Store,
    counted: usize,
    triaged: usize,
}

fn build_store(seed: &SeedTables) -> Built {
    let env = crate::env();
    let conn = env.store();
    let mut to_triage: Vec<(String, Classification)> = Vec::new();
    let mut counted = 0;
    {
        let mut agents = [
            Journal::new(&conn, "agent-a"),
            Journal::new(&conn, "agent-b"),
        ];
        for col in 0..5 {
            let classes = classifications(seed, col);
            let (start, days) = period(col);
            let n = classes.len();
            for (i, c) in classes.into_iter().enumerate() {
                let day = start + Duration::days(days * i as i64 / n as i64);
                let t = rfc3339(day.and_hms_opt(((i * 7) % 24) as u32, 30, 0).unwrap());
                let loc = if i % 3 == 0 {
                    Location::Host
                } else {
                    Location::Removable
                };
                let j = &mut agents[i % 2];
                if i % 10 == 0 {
                    // Recorded with the policy default; an analyst fixes it.
                    let id = j.incident(&t, loc, None, 1 + i % 3);
                    to_triage.push((id, c));
                } else {
                    j.incident(&t, loc, Some(&c), 1 + i % 4);
                }
                counted += 1;
            }
        }
        // Decoys: a false positive in 1Q, an incident in the open 2Q, one
        // after the report date, one in FY2014.
        let decoy = class(Event::Leak, &[Cause::Insider]);
        let fp = agents[0].incident("2019-05-10T01:00:00Z", Location::Removable, Some(&decoy), 2);
        agents[0].incident("2019-07-05T01:00:00Z", Location::Removable, Some(&decoy), 1);
        agents[1].incident("2019-07-25T01:00:00Z", Location::Removable, Some(&decoy), 1);
        agents[1].incident("2015-03-31T14:00:00Z", Location::Removable, Some(&decoy), 1);
        to_triage.push((fp, decoy));
    }
    let triaged = to_triage.len() - 1;
    let last = to_triage.len() - 1;
    for (k, (id, c)) in to_triage.into_iter().enumerate() {
        let t = Triage {
            event: Some(c.event),
            causes: c.causes.clone(),
            false_positive: k == last,
            note: Some("checked on site".into()),
            by: "analyst".into(),
        };
        incidents::triage(&conn, &id[..12], &t).unwrap();
    }
    Built {
        _env: env,
        conn,
        counted,
        triaged,
    }
}

fn report_for(conn: &kensa::collector::Store, as_of: (i32, u32, u32)) -> report::Report {
    let list = incidents::list(conn, &Filter::default()).unwrap();
    assert!(list.iter().all(|i| i.to_report().is_some()), "times parse");
    store_report(
        conn,
        2019,
        NaiveDate::from_ymd_opt(as_of.0, as_of.1, as_of.2).unwrap(),
        Tokyo,
    )
}

fn seed_rows(seed: &SeedTables) -> Vec<SeedRow> {
    let mut v = vec![seed.incidents.clone()];
    v.extend(seed.events.iter().cloned());
    v.extend(seed.causes.iter().cloned());
    v
}

/// (leaf label, cells) of every CSV data row; checks the header.
fn csv_rows(csv: &str, total: &str) -> Vec<(String, Vec<String>)> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(",FY2015,FY2016,FY2017,FY2018,1Q,2Q,3Q,4Q,{total}")
    );
    lines
        .map(|l| {
            // Labels may be quoted (they can contain commas); cells never are.
            let (label, rest) = if let Some(stripped) = l.strip_prefix('"') {
                let end = stripped.find("\",").expect("closing quote");
                (stripped[..end].replace("\"\"", "\""), &stripped[end + 2..])
            } else {
                let comma = l.find(',').unwrap();
                (l[..comma].to_string(), &l[comma + 1..])
            };
            let leaf = label.rsplit(" › ").next().unwrap().to_string();
            (leaf, rest.split(',').map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn report_reproduces_the_seed_tables() {
    let seed = seed_tables();
    let built = build_store(&seed);
    let r = report_for(&built.conn, (2019, 6, 30));
    let expected = seed_rows(&seed);
    if let Some(dir) = std::env::var_os("KENSA_DUMP_REPORT") {
        // Manual review: write every rendering to the given directory.
        for (lang, l) in [(Lang::Ja, "ja"), (Lang::En, "en")] {
            for (f, ext) in [
                (Format::Text, "txt"),
                (Format::Markdown, "md"),
                (Format::Csv, "csv"),
                (Format::Json, "json"),
                (Format::Html, "html"),
            ] {
                std::fs::write(
                    std::path::Path::new(&dir).join(format!("report.{l}.{ext}")),
                    report::render(&r, lang, f),
                )
                .unwrap();
            }
        }
    }

    // Japanese CSV: every label and every cell as in the seed.
    let ja = csv_rows(&report::render(&r, Lang::Ja, Format::Csv), "計");
    assert_eq!(ja.len(), expected.len());
    for (got, want) in ja.iter().zip(&expected) {
        assert_eq!(got.0, want.label);
        assert_eq!(got.1, want.cells, "row {}", want.label);
    }

    // Japanese text: the rows appear in the seed's order with the same cells.
    let text = report::render(&r, Lang::Ja, Format::Text);
    let mut lines = text.lines();
    for want in &expected {
        let found = lines.by_ref().any(|l| {
            let toks: Vec<&str> = l.split_whitespace().collect();
            toks.len() == 10
                && toks[0] == want.label
                && toks[1..] == want.cells.iter().map(String::as_str).collect::<Vec<_>>()[..]
        });
        assert!(
            found,
            "text report lacks row {} {:?} in order:\n{text}",
            want.label, want.cells
        );
    }

    // Japanese JSON: the same cells, null for —.
    let json: serde_json::Value =
        serde_json::from_str(&report::render(&r, Lang::Ja, Format::Json)).unwrap();
    let rows: Vec<&serde_json::Value> = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["rows"].as_array().unwrap())
        .collect();
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(&expected) {
        assert_eq!(row["label"], want.label.as_str());
        let cells: Vec<Option<u64>> = row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64())
            .collect();
        assert_eq!(cells, want.cells.iter().map(|c| num(c)).collect::<Vec<_>>());
    }

    // English: same numbers cell by cell, English labels.
    let en = csv_rows(&report::render(&r, Lang::En, Format::Csv), "Total");
    assert_eq!(en.len(), expected.len());
    for (got, want) in en.iter().zip(&expected) {
        assert_eq!(
            got.1, want.cells,
            "row {} in English ({})",
            want.label, got.0
        );
        assert!(got.0.is_ascii(), "English label {:?}", got.0);
    }
    assert_eq!(en[0].0, "Incidents reported");
    let en_labels: Vec<&str> = EVENTS
        .iter()
        .map(|e| e.label_en)
        .chain(CAUSES.iter().map(|c| c.label_en))
        .collect();
    assert_eq!(
        en[1..].iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        en_labels
    );
    let en_md = report::render(&r, Lang::En, Format::Markdown);
    assert!(en_md.contains("| Events that occurred › Threats to confidentiality | Information leakage | 15 | 30 | 15 | 13 | 4 | — | — | — | 4 |"), "{en_md}");

    // Footnotes: untriaged and false positives.
    assert_eq!(r.untriaged as usize, built.counted - built.triaged);
    assert_eq!(r.false_positives, 1);
    assert!(
        text.contains(&format!(
            "未トリアージ (自動分類のまま計上): {} 件",
            built.counted - built.triaged
        )),
        "{text}"
    );
    assert!(text.contains("誤検知として除外: 1 件"));
}

#[test]
fn untriaged_listing_counts() {
    let seed = seed_tables();
    let built = build_store(&seed);
    let all = incidents::list(&built.conn, &Filter::default()).unwrap();
    // counted incidents + 4 decoys
    assert_eq!(all.len(), built.counted + 4);
    let untriaged = incidents::list(
        &built.conn,
        &Filter {
            state: Some(kensa::collector::incidents::TriageState::Untriaged),
            ..Filter::default()
        },
    )
    .unwrap();
    assert_eq!(untriaged.len(), built.counted - built.triaged + 3);
    assert!(untriaged.iter().all(|i| i.triage.is_none()));
    // Ids are 12 characters and unique.
    let ids: std::collections::BTreeSet<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), all.len());
    assert!(all.iter().all(|i| i.id.len() >= 12));
}

#[test]
fn on_the_seed_date_closed_cells_are_the_seeds_and_2q_is_provisional() {
    let seed = seed_tables();
    let built = build_store(&seed);
    let r = report_for(&built.conn, (2019, 7, 19));
    let expected = seed_rows(&seed);
    let ja = report::render(&r, Lang::Ja, Format::Text);
    // The open-2Q decoy is a leak by an insider.
    let in_2q = [
        "重要インフラ事業者等からNISCへの情報連絡",
        "情報の漏えい",
        "内部不正",
    ];
    let mut lines = ja.lines();
    for want in &expected {
        let n = u64::from(in_2q.contains(&want.label.as_str()));
        let mut cells: Vec<String> = want.cells[..5].to_vec();
        let total = num(&want.cells[8]).unwrap() + n;
        cells.extend([format!("{n}*"), "—".into(), "—".into(), format!("{total}*")]);
        let found = lines.by_ref().any(|l| {
            let toks: Vec<&str> = l.split_whitespace().collect();
            toks.len() == 10
                && toks[0] == want.label
                && toks[1..] == cells.iter().map(String::as_str).collect::<Vec<_>>()[..]
        });
        assert!(
            found,
            "text report lacks row {} {cells:?} in order:\n{ja}",
            want.label
        );
    }
    assert!(
        ja.contains("*: 暫定値 (2Q は 2019-07-19 時点で集計中"),
        "{ja}"
    );
    assert_eq!(r.untriaged as usize, built.counted - built.triaged + 1);
}
