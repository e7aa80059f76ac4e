//! Issue 12 points 16 and 17 through the binary: `--fy` defaults to the
//! fiscal year of the report date and is validated (four digits, not a year
//! that has not begun); the quarter running on the report date shows its
//! count so far marked provisional in every format (text and Markdown `1*`
//! with a footnote in ja and en, JSON flags, CSV plain numbers under a `2Q*`
//! heading with the footnote after the rows) while later quarters stay —;
//! CSV starts with a UTF-8 BOM unless `--no-bom`; the HTML document carries
//! the Japanese font stack, a header (organisation, period, report date,
//! generation time) and an appendix of each counted incident.

use super::forge::text;
use crate::support::{report_common, TestEnv};
use chrono::TimeZone;
use kensa::collector::incidents::{self, Filter, Triage};
use kensa::findings::taxonomy::{Cause, Event};
use kensa::findings::Location;

/// A store with, in FY2019 (Tokyo): two 1Q incidents, one 2Q incident
/// before 19 July and one after, one false positive in 2Q; one in FY2017.
fn env_with_incidents() -> TestEnv {
    let env = crate::env();
    let store = env.store();
    let fp;
    {
        let mut j = report_common::Journal::new(&store, "agent-a");
        let leak = report_common::class(Event::Leak, &[Cause::Insider, Cause::Unknown]);
        let pre = report_common::class(Event::Precursor, &[Cause::SuspiciousFile]);
        j.incident("2017-06-01T01:00:00Z", Location::Removable, Some(&pre), 1);
        j.incident("2019-04-10T01:00:00Z", Location::Removable, Some(&leak), 1);
        j.incident("2019-06-30T14:59:59Z", Location::Host, Some(&pre), 2);
        j.incident("2019-07-02T01:00:00Z", Location::Removable, Some(&pre), 1);
        fp = j.incident("2019-07-03T01:00:00Z", Location::Removable, Some(&leak), 1);
        j.incident("2019-07-25T01:00:00Z", Location::Removable, Some(&leak), 1);
    }
    let t = Triage {
        event: None,
        causes: vec![],
        false_positive: true,
        note: None,
        by: "analyst".into(),
    };
    incidents::triage(&store, &fp[..12], &t).unwrap();
    env
}

fn report(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["report"];
    all.extend(args);
    let o = env.run(&all);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn refused(env: &TestEnv, args: &[&str]) -> String {
    let mut all = vec!["report"];
    all.extend(args);
    let o = env.run(&all);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    assert!(o.stdout.is_empty());
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fy_defaults_to_the_current_fiscal_year_and_is_validated() {
    let env = env_with_incidents();
    let json: serde_json::Value = serde_json::from_str(&report(
        &env,
        &["--as-of", "2019-07-19", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json["fy"], 2019);
    // 31 March belongs to the year before.
    let json: serde_json::Value = serde_json::from_str(&report(
        &env,
        &["--as-of", "2020-03-31", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json["fy"], 2019);
    // Without --as-of: today in the report's time zone.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive();
    let current = kensa::report::fiscal::current_fy(today);
    let json: serde_json::Value =
        serde_json::from_str(&report(&env, &["--format", "json"])).unwrap();
    assert_eq!(json["fy"], current);
    assert_eq!(json["as_of"], today.to_string());

    for bad in ["19", "02019", "20x9", "-201", "１９９９"] {
        let err = refused(&env, &[&format!("--fy={bad}")]);
        assert!(
            err.contains("is not a fiscal year: give four digits, such as 2019"),
            "{bad}: {err}"
        );
    }
    let err = refused(&env, &["--fy", "2020", "--as-of", "2020-03-31"]);
    assert!(
        err.contains("kensa: error: --fy 2020 is in the future: FY2020 begins on 2020-04-01, and on 2020-03-31 the current fiscal year is FY2019"),
        "{err}"
    );
    let err = refused(&env, &["--fy", &(current + 1).to_string()]);
    assert!(err.contains("is in the future"), "{err}");
    // The first day of a year is accepted.
    report(&env, &["--fy", "2020", "--as-of", "2020-04-01"]);
}

/// The cells of the incident-count row of a text report.
fn count_row(text: &str, label: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{label}  ")))
        .unwrap_or_else(|| panic!("no row {label}:\n{text}"));
    line[label.len()..]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_open_quarter_shows_its_count_so_far_as_provisional() {
    let env = env_with_incidents();
    let args = ["--fy", "2019", "--as-of", "2019-07-19"];
    let ja = report(&env, &args);
    assert_eq!(
        count_row(&ja, "重要インフラ事業者等からNISCへの情報連絡"),
        ["0", "0", "1", "0", "2", "1*", "—", "—", "3*"],
        "{ja}"
    );
    assert!(ja.contains("*: 暫定値 (2Q は 2019-07-19 時点で集計中のため、その時点までの件数。計もこれを含む暫定値)"), "{ja}");
    assert!(
        ja.contains("—: 2019-07-19 時点でまだ始まっていない四半期"),
        "{ja}"
    );
    let en = report(&env, &[&args[..], &["--lang", "en"]].concat());
    assert_eq!(
        count_row(&en, "Incidents reported"),
        ["0", "0", "1", "0", "2", "1*", "—", "—", "3*"],
        "{en}"
    );
    assert!(en.contains("*: provisional: 2Q has not closed as of 2019-07-19; the count so far (the total includes it)"), "{en}");
    let md = report(
        &env,
        &[&args[..], &["--lang", "en", "--format", "md"]].concat(),
    );
    assert!(
        md.contains("|  | Incidents reported | 0 | 0 | 1 | 0 | 2 | 1* | — | — | 3* |"),
        "{md}"
    );

    // JSON: numbers, a flag per column, the open quarter.
    let json: serde_json::Value =
        serde_json::from_str(&report(&env, &[&args[..], &["--format", "json"]].concat())).unwrap();
    assert_eq!(json["v"], 2);
    assert_eq!(json["open_quarter"], 2);
    assert_eq!(
        json["provisional"],
        serde_json::json!([false, false, false, false, false, true, false, false, true])
    );
    assert_eq!(
        json["tables"][0]["rows"][0]["cells"],
        serde_json::json!([0, 0, 1, 0, 2, 1, null, null, 3])
    );

    // CSV: BOM, numeric cells, the marks in the heading, the footnote after.
    let csv = report(&env, &[&args[..], &["--format", "csv"]].concat());
    let body = csv.strip_prefix('\u{feff}').expect("CSV starts with a BOM");
    let mut lines = body.lines();
    assert_eq!(
        lines.next().unwrap(),
        ",FY2015,FY2016,FY2017,FY2018,1Q,2Q*,3Q,4Q,計*"
    );
    assert_eq!(
        lines.next().unwrap(),
        "重要インフラ事業者等からNISCへの情報連絡,0,0,1,0,2,1,—,—,3"
    );
    let tail: Vec<&str> = body
        .split("\n\n")
        .nth(1)
        .expect("footnotes after an empty line")
        .lines()
        .collect();
    assert!(
        tail.iter().any(|l| l.starts_with("*: 暫定値 (2Q は")),
        "{tail:?}"
    );
    let tools = report(
        &env,
        &[&args[..], &["--format", "csv", "--no-bom"]].concat(),
    );
    assert_eq!(tools, body, "--no-bom leaves only the mark out");

    // A closed year: no mark anywhere, and the CSV is the plain table.
    let closed = ["--fy", "2019", "--as-of", "2020-03-31"];
    let ja = report(&env, &closed);
    assert_eq!(
        count_row(&ja, "重要インフラ事業者等からNISCへの情報連絡"),
        ["0", "0", "1", "0", "2", "2", "0", "0", "4"]
    );
    assert!(!ja.contains('*'), "{ja}");
    let csv = report(
        &env,
        &[&closed[..], &["--format", "csv", "--no-bom"]].concat(),
    );
    assert!(!csv.contains('*') && !csv.contains("\n\n"), "{csv}");
    let rows =
        1 + kensa::findings::taxonomy::EVENTS.len() + kensa::findings::taxonomy::CAUSES.len();
    assert_eq!(csv.lines().count(), 1 + rows, "{csv}");
}

#[test]
fn html_is_a_document_to_hand_over() {
    let env = env_with_incidents();
    let mut cfg = std::fs::read_to_string(&env.config).unwrap();
    cfg.push_str("[report]\norganisation = \"東京第一浄水場 <制御課> & Co\"\n");
    std::fs::write(&env.config, cfg).unwrap();
    let out = env.base().join("fy2019.html");
    let before = chrono::Utc::now();
    let o = crate::support::report_common::html_report(&env, "2019", "2019-07-19", &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("font-family:\"Yu Gothic\", YuGothic, Meiryo, \"Hiragino Sans\", \"Hiragino Kaku Gothic ProN\", \"Noto Sans CJK JP\", \"IPAGothic\", sans-serif"), "{html}");
    assert!(
        html.contains("<p class=\"org\">東京第一浄水場 &lt;制御課&gt; &amp; Co</p>"),
        "{html}"
    );
    assert!(html.contains("<dt>対象期間</dt><dd>FY2019 (2019-04-01 – 2020-03-31)、比較として FY2015–FY2018 の年度計</dd>"), "{html}");
    assert!(
        html.contains("<dt>基準日</dt><dd>2019-07-19 (Asia/Tokyo)</dd>"),
        "{html}"
    );
    let generated = html
        .split("<dt>作成日時</dt><dd>")
        .nth(1)
        .and_then(|s| s.split(" (Asia/Tokyo)</dd>").next())
        .expect("generation time in the header");
    let t = chrono::NaiveDateTime::parse_from_str(generated, "%Y-%m-%d %H:%M:%S").unwrap();
    let t = chrono_tz::Asia::Tokyo.from_local_datetime(&t).unwrap();
    assert!(
        t.timestamp() >= before.timestamp() - 1 && t <= chrono::Utc::now(),
        "{generated}"
    );

    // The appendix: the five counted incidents (not the false positive, not
    // the one after the report date), each with its facts.
    let store = env.store();
    let list = incidents::list(&store, &Filter::default()).unwrap();
    let appendix = html
        .split("<section id=\"appendix\">")
        .nth(1)
        .expect("appendix");
    assert!(
        appendix.contains("<h2>付録: 計上したインシデント一覧 (4 件)</h2>"),
        "{appendix}"
    );
    let rows: Vec<&str> = appendix
        .lines()
        .filter(|l| l.starts_with("<tr><td>"))
        .collect();
    assert_eq!(rows.len(), 4, "{appendix}");
    let expect = [
        (
            "2017-06-01 10:00",
            "FY2017",
            "予兆・ヒヤリハット",
            "不審なファイルの実行",
        ),
        (
            "2019-04-10 10:00",
            "FY2019 1Q",
            "情報の漏えい",
            "内部不正、不明",
        ),
        (
            "2019-06-30 23:59",
            "FY2019 1Q",
            "予兆・ヒヤリハット",
            "不審なファイルの実行",
        ),
        (
            "2019-07-02 10:00",
            "FY2019 2Q*",
            "予兆・ヒヤリハット",
            "不審なファイルの実行",
        ),
    ];
    for (row, (time, period, event, causes)) in rows.iter().zip(expect) {
        let id = &list
            .iter()
            .find(|i| {
                i.to_report()
                    .unwrap()
                    .time
                    .with_timezone(&chrono_tz::Asia::Tokyo)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
                    == time
            })
            .unwrap()
            .id;
        let want =
            format!("<td>{period}</td><td>{id}</td><td>{time}</td><td>agent-a / hmi-07</td>");
        assert!(
            row.starts_with(&format!("<tr>{want}")),
            "{row}\nwant {want}"
        );
        assert!(
            row.contains(&format!(
                "<td>{event}</td><td>{causes}</td><td>トリアージ済</td>"
            )) || row.contains(&format!(
                "<td>{event}</td><td>{causes}</td><td>未トリアージ (自動分類)</td>"
            )),
            "{row}"
        );
    }
    assert!(
        rows[1].contains("<td>VENDOR-01, serial 0401ABCD</td>"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("<td>-</td>"),
        "a host incident has no medium: {}",
        rows[2]
    );
}

#[test]
fn appendix_names_from_agents_are_sanitised_and_escaped() {
    let env = crate::env();
    {
        let store = env.store();
        let mut j = report_common::Journal::new(&store, "ag<img src=x>&\u{1b}[2J");
        j.incident("2019-05-10T01:00:00Z", Location::Removable, None, 1);
    }
    let html = report(
        &env,
        &["--fy", "2019", "--as-of", "2019-07-19", "--format", "html"],
    );
    let appendix = html.split("<section id=\"appendix\">").nth(1).unwrap();
    assert!(
        !appendix.contains("<img") && !appendix.contains('\u{1b}'),
        "{appendix}"
    );
    assert!(appendix.contains("ag&lt;img src=x&gt;&amp;"), "{appendix}");
}
