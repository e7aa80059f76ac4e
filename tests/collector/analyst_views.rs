//! What the analyst sees (issue 12, points 13 and 14) through the binary:
//! `incidents list` columns as wide as their content (by display width,
//! with a CJK trusted name and a long cause list), the trusted name shown,
//! filters (`--since/--until` in the display zone, `--event`, `--state`,
//! `--agent` by name or id, an unknown agent an error), and one time zone
//! (`report.timezone`, named) in `incidents show`, `triage` and `status`.

use crate::forge::{self, Agent};
use crate::support::report_common::{class, Journal};
use crate::support::{eicar, TestEnv};
use kensa::findings::taxonomy::{Cause, Event};
use kensa::findings::Location;
use std::process::Output;

const NAME: &str = "工場Ａ-PC3";

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", forge::text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Terminal columns of a string: the CJK and full-width characters used
/// here take two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x3000..=0x9FFF | 0xFF00..=0xFF60 => 2,
            _ => 1,
        })
        .sum()
}

/// A collector that trusts agent `a` as [`NAME`] and holds three of its
/// incidents (A: removable, 3 findings, 2019-05-10 12:00 JST; B: host,
/// five causes, 2019-06-01 12:00 JST; C: removable, 2019-07-01 01:00 JST)
/// and one of an untrusted agent `b` (2019-05-20 09:00 JST).
struct Setup {
    env: TestEnv,
    a: Agent,
    b: Agent,
}

impl Setup {
    fn new() -> Setup {
        let env = crate::env();
        let a = Agent::new(env.base());
        let b = Agent::new(env.base());
        a.trust(&env, NAME);
        {
            let store = env.store();
            let pre = class(Event::Precursor, &[Cause::Unknown]);
            let many = class(
                Event::MalwareInfection,
                &[
                    Cause::SuspiciousMail,
                    Cause::ImproperOperation,
                    Cause::UserMismanagement,
                    Cause::SuspiciousFile,
                    Cause::ContractorMismanagement,
                ],
            );
            let mut j = Journal::new(&store, &a.id);
            j.incident_with_id(
                "aaaa0001",
                "2019-05-10T03:00:00Z",
                Location::Removable,
                Some(&pre),
                3,
            );
            j.incident_with_id(
                "bbbb0002",
                "2019-06-01T03:00:00Z",
                Location::Host,
                Some(&many),
                1,
            );
            j.incident_with_id(
                "cccc0003",
                "2019-06-30T16:00:00Z",
                Location::Removable,
                Some(&pre),
                1,
            );
            j.flush();
            let mut k = Journal::new(&store, &b.id);
            k.incident_with_id(
                "dddd0004",
                "2019-05-20T00:00:00Z",
                Location::Removable,
                Some(&pre),
                1,
            );
        }
        Setup { env, a, b }
    }

    /// Session ids of the incidents `incidents list --format json EXTRA` shows.
    fn sessions(&self, extra: &[&str]) -> Vec<String> {
        let (code, rows, text) = forge::incidents(&self.env, extra);
        assert_eq!(code, 0, "{text}");
        rows.iter()
            .map(|r| r["session"].as_str().unwrap().to_string())
            .collect()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env.run(args)
    }
}

/// Splits a table line into its cells (columns are two or more spaces
/// apart) with the display column each starts at.
fn cells(line: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut col = 0;
    let mut cell = String::new();
    let mut start = 0;
    let mut spaces = 0;
    for c in line.chars() {
        if c == ' ' {
            spaces += 1;
        } else {
            if spaces >= 2 || cell.is_empty() {
                if !cell.is_empty() {
                    out.push((start, cell.trim_end().to_string()));
                }
                cell = String::new();
                start = col;
            } else {
                cell.extend(std::iter::repeat_n(' ', spaces));
            }
            spaces = 0;
            cell.push(c);
        }
        col += width(c.encode_utf8(&mut [0; 4]));
    }
    if !cell.is_empty() {
        out.push((start, cell));
    }
    out
}

#[test]
fn list_columns_fit_a_cjk_name_and_a_long_cause_list() {
    let s = Setup::new();
    let list = ok(&s.run(&["incidents", "list"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 6, "{list}");
    let header = cells(lines[0]);
    let names: Vec<&str> = header.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "ID",
            "AGENT",
            "HOST",
            "MEDIUM",
            "TIME (Asia/Tokyo)",
            "DET",
            "EVENT",
            "CAUSES",
            "STATE"
        ],
        "{list}"
    );
    for line in &lines[1..5] {
        let row = cells(line);
        assert_eq!(row.len(), 9, "{line}\n{list}");
        for (k, ((hc, h), (c, cell))) in header.iter().zip(&row).enumerate() {
            if k == 5 {
                // DET is aligned right.
                assert_eq!(hc + width(h), c + width(cell), "{h} of {line}\n{list}");
            } else {
                assert_eq!(hc, c, "{h} of {line}\n{list}");
            }
        }
    }
    let b_row = lines
        .iter()
        .find(|l| l.contains("2019-06-01 12:00"))
        .unwrap();
    assert!(
        b_row.contains(&format!("  {NAME}  ")),
        "the trusted name is shown: {b_row}"
    );
    assert!(
        b_row.contains(
            "suspicious_mail,improper_operation,user_mismanagement,suspicious_file,contractor_mismanagement  untriaged"
        ),
        "the whole cause list, then the state: {b_row}"
    );
    let untrusted = lines
        .iter()
        .find(|l| l.contains("2019-05-20 09:00"))
        .unwrap();
    assert!(
        untrusted.contains(&s.b.id),
        "no name: the agent id: {untrusted}"
    );
    assert_eq!(lines[5], "4 incident(s), 4 untriaged");
    assert!(lines.iter().all(|l| !l.ends_with(' ')), "{list}");

    let (_, rows, _) = forge::incidents(&s.env, &[]);
    assert_eq!(rows[0]["agent_name"], NAME);
    assert_eq!(rows[0]["agent"], s.a.id.as_str());
    assert!(rows[1].get("agent_name").is_none(), "{:?}", rows[1]);
}

#[test]
fn list_filters_by_date_event_state_and_agent() {
    let s = Setup::new();
    let all = ["aaaa0001", "dddd0004", "bbbb0002", "cccc0003"];
    assert_eq!(s.sessions(&[]), all);
    // Dates are days in Asia/Tokyo: C (2019-06-30T16:00Z) is on 1 July.
    assert_eq!(
        s.sessions(&["--since", "2019-05-20", "--until", "2019-06-30"]),
        ["dddd0004", "bbbb0002"]
    );
    assert_eq!(s.sessions(&["--since", "2019-07-01"]), ["cccc0003"]);
    assert_eq!(s.sessions(&["--until", "2019-05-10"]), ["aaaa0001"]);
    // RFC 3339 bounds are instants, both included.
    assert_eq!(
        s.sessions(&[
            "--since",
            "2019-06-01T12:00:00+09:00",
            "--until",
            "2019-06-30T16:00:00Z"
        ]),
        ["bbbb0002", "cccc0003"]
    );
    let bad = s.run(&["incidents", "list", "--since", "10/05/2019"]);
    assert_eq!(bad.status.code(), Some(2), "{}", forge::text(&bad));
    assert!(
        forge::text(&bad).contains("--since: \"10/05/2019\" is neither a date (YYYY-MM-DD)"),
        "{}",
        forge::text(&bad)
    );

    assert_eq!(s.sessions(&["--event", "malware_infection"]), ["bbbb0002"]);
    assert_eq!(
        s.sessions(&["--event", "precursor"]),
        ["aaaa0001", "dddd0004", "cccc0003"]
    );
    ok(&s.run(&["triage", "aaaa0001", "--event", "leak", "--by", "sato"]));
    ok(&s.run(&["triage", "cccc0003", "--false-positive", "--by", "sato"]));
    assert_eq!(s.sessions(&["--event", "leak"]), ["aaaa0001"]);
    assert_eq!(
        s.sessions(&["--event", "precursor"]),
        ["dddd0004", "cccc0003"]
    );
    assert_eq!(s.sessions(&["--state", "triaged"]), ["aaaa0001"]);
    assert_eq!(s.sessions(&["--state", "false_positive"]), ["cccc0003"]);
    assert_eq!(s.sessions(&["--state", "false-positive"]), ["cccc0003"]);
    assert_eq!(
        s.sessions(&["--state", "untriaged"]),
        ["dddd0004", "bbbb0002"]
    );
    assert_eq!(s.sessions(&["--untriaged"]), ["dddd0004", "bbbb0002"]);
    assert_eq!(
        s.sessions(&[
            "--untriaged",
            "--since",
            "2019-06-01",
            "--event",
            "malware_infection"
        ]),
        ["bbbb0002"]
    );

    assert_eq!(
        s.sessions(&["--agent", NAME]),
        ["aaaa0001", "bbbb0002", "cccc0003"]
    );
    assert_eq!(s.sessions(&["--agent", &s.b.id]), ["dddd0004"]);
    let unknown = s.run(&["incidents", "list", "--agent", "plant-z"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", forge::text(&unknown));
    assert!(unknown.stdout.is_empty(), "{}", forge::text(&unknown));
    assert!(
        forge::text(&unknown).contains("no agent matches \"plant-z\""),
        "{}",
        forge::text(&unknown)
    );
}

#[test]
fn show_triage_and_status_use_the_report_time_zone() {
    let s = Setup::new();
    let shown = ok(&s.run(&["incidents", "show", "aaaa0001"]));
    assert!(
        shown.contains("  time     2019-05-10 12:00:00 JST (Asia/Tokyo)\n"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("  agent    {NAME} ({})\n", s.a.id)),
        "{shown}"
    );
    let said = ok(&s.run(&["triage", "aaaa0001", "--event", "leak", "--by", "sato"]));
    assert!(
        said.starts_with("incident ") && said.contains(": leak / unknown (by sato at 20"),
        "{said}"
    );
    assert!(said.trim_end().ends_with(" JST)"), "{said}");
    let shown = ok(&s.run(&["incidents", "show", "aaaa0001"]));
    let entry = shown.lines().find(|l| l.starts_with("  #1 ")).unwrap();
    assert!(entry.contains(" JST by sato: leak / unknown"), "{shown}");
    let utc = ok(&s.run(&["incidents", "show", "aaaa0001", "--tz", "UTC"]));
    assert!(
        utc.contains("  time     2019-05-10 03:00:00 UTC (UTC)\n"),
        "{utc}"
    );

    // The configured zone, for every command.
    let mut config = std::fs::read_to_string(&s.env.config).unwrap();
    config.push_str("[report]\ntimezone = \"Europe/Paris\"\n");
    std::fs::write(&s.env.config, config).unwrap();
    let shown = ok(&s.run(&["incidents", "show", "aaaa0001"]));
    assert!(
        shown.contains("  time     2019-05-10 05:00:00 CEST (Europe/Paris)\n"),
        "{shown}"
    );
    let list = ok(&s.run(&["incidents", "list"]));
    assert!(
        list.contains("TIME (Europe/Paris)") && list.contains("2019-05-10 05:00"),
        "{list}"
    );
    let said = ok(&s.run(&["triage", "bbbb0002", "--cause", "insider", "--by", "sato"]));
    assert!(
        said.trim_end().ends_with(" CET)") || said.trim_end().ends_with(" CEST)"),
        "{said}"
    );

    // `kensa status` on an agent: its sessions in the configured zone.
    ok(&s.run(&["keygen"]));
    s.env.file("stick/eicar.com", &eicar());
    let scan = s.run(&[
        "scan",
        "--journal",
        "--no-progress",
        s.env.root.join("stick").to_str().unwrap(),
    ]);
    assert_eq!(scan.status.code(), Some(1), "{}", forge::text(&scan));
    let status = ok(&s.run(&["status"]));
    let line = status
        .lines()
        .find(|l| l.contains("removable") || l.contains("host "))
        .unwrap_or_else(|| panic!("a session line: {status}"));
    // The table's header names the zone its times are in.
    assert!(
        status.contains("recent sessions (times in Europe/Paris):"),
        "{line}\n{status}"
    );
    let json = ok(&s.run(&["status", "--format", "json"]));
    assert!(json.contains("Z\""), "JSON keeps RFC 3339 times: {json}");
}
