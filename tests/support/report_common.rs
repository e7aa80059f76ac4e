//! Shared helpers for the report and incident tests: a collector store
//! (`TestEnv::store`, either backend) filled with journal lines through the
//! store's own API (so the tests run on the real schema), journal-line builders, and a parser for the seed
//! document's tables.

use kensa::bundle::BundleLine;
use kensa::collector::Store;
use kensa::findings::taxonomy::{Cause, Classification, Event};
use kensa::findings::{
    Finding, Location, Match, Medium, Record, RulesetInfo, Session, Verdict, SCHEMA_VERSION,
};
use std::path::PathBuf;

/// Opens (creating) the SQLite collector store `kensa.db` in `dir` (the
/// benchmarks; tests take `TestEnv::store`, either backend).
pub fn open_store(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("kensa.db")).expect("open store")
}

/// Builds journal lines for one agent, numbering `seq` after the agent's
/// last, and stores them when dropped or flushed (one transaction).
pub struct Journal<'a> {
    pub store: &'a Store,
    pub agent: String,
    seq: u64,
    prev: String,
    pending: Vec<BundleLine>,
}

impl<'a> Journal<'a> {
    pub fn new(store: &'a Store, agent: &str) -> Self {
        Journal {
            store,
            agent: agent.into(),
            seq: store.max_seq(agent).unwrap(),
            prev: "0".repeat(64),
            pending: Vec::new(),
        }
    }

    /// Stores the lines built so far.
    pub fn flush(&mut self) {
        let lines = std::mem::take(&mut self.pending);
        self.store.insert_lines(&self.agent, &lines).unwrap();
    }

    pub fn push(&mut self, rec: &Record) {
        self.seq += 1;
        let mut v = serde_json::to_value(rec).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.insert("seq".into(), self.seq.into());
        obj.insert("prev".into(), self.prev.clone().into());
        let line = serde_json::to_string(&v).unwrap();
        let hash = format!("{:064x}", self.seq);
        let (session, time) = match rec {
            Record::Session(s) => (s.id.clone(), s.time.clone()),
            Record::Finding(f) => (f.session.clone(), f.time.clone()),
            Record::Skip(s) => (s.session.clone(), s.time.clone()),
            Record::Summary(s) => (s.session.clone(), s.time.clone()),
        };
        self.pending.push(BundleLine {
            seq: self.seq,
            hash: hash.clone(),
            kind: rec.type_name().into(),
            session: Some(session),
            time: Some(time),
            line,
        });
        self.prev = hash;
    }

    /// One session with `findings` findings, all carrying `class`; returns
    /// the session id.
    pub fn incident(
        &mut self,
        time: &str,
        location: Location,
        class: Option<&Classification>,
        findings: usize,
    ) -> String {
        self.incident_with_id(&kensa::findings::new_id(), time, location, class, findings)
    }

    /// As [`Journal::incident`] with a chosen session id.
    pub fn incident_with_id(
        &mut self,
        id: &str,
        time: &str,
        location: Location,
        class: Option<&Classification>,
        findings: usize,
    ) -> String {
        let id = id.to_string();
        let medium = (location == Location::Removable).then(|| Medium {
            mount_point: "/media/usb0".into(),
            label: Some("VENDOR-01".into()),
            serial: Some("0401ABCD".into()),
            removable: true,
            detected_by: "sysinfo".into(),
            ..Medium::default()
        });
        self.push(&Record::Session(Session {
            v: SCHEMA_VERSION,
            id: id.clone(),
            time: time.into(),
            host: "hmi-07".into(),
            agent: Some(self.agent.clone()),
            location,
            paths: vec!["/media/usb0".into()],
            medium,
            ruleset: RulesetInfo::default(),
            version: "test".into(),
            volumes: Vec::new(),
            archive_unsupported: None,
        }));
        for i in 0..findings {
            self.push(&Record::Finding(Finding {
                v: SCHEMA_VERSION,
                id: kensa::findings::new_id(),
                session: id.clone(),
                time: time.into(),
                location,
                path: format!("dir/file{i}.exe"),
                chain: vec![],
                size: 1234,
                sha256: "ab".repeat(32),
                md5: None,
                sha1: None,
                verdict: Verdict::Malicious,
                matches: vec![Match {
                    kind: "yara".into(),
                    rule: "Test_Rule".into(),
                    namespace: "default".into(),
                    tags: vec![],
                    meta: Default::default(),
                }],
                taxonomy: class.cloned(),
                attributes: Vec::new(),
                packed: None,
            }));
        }
        id
    }
}

impl Drop for Journal<'_> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.flush();
        }
    }
}

pub fn class(event: Event, causes: &[Cause]) -> Classification {
    Classification {
        event,
        causes: causes.to_vec(),
    }
}

/// The report for `fy` as of `as_of` in `tz` as the `kensa report` command
/// makes it (counted by the store, in SQL), which must equal the report
/// built from the listed incidents one by one.
pub fn store_report(
    store: &Store,
    fy: i32,
    as_of: chrono::NaiveDate,
    tz: chrono_tz::Tz,
) -> kensa::report::Report {
    let list = kensa::collector::incidents::list(store, &Default::default()).unwrap();
    let input: Vec<_> = list.iter().filter_map(|i| i.to_report()).collect();
    let listed = kensa::report::build(&input, fy, as_of, tz);
    let counted = kensa::collector::incidents::report(store, fy, as_of, tz).unwrap();
    assert_eq!(
        counted, listed,
        "the store's counts and the listing's agree"
    );
    counted
}

/// One row of a seed table: its label and its nine cells as written.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRow {
    pub label: String,
    pub cells: Vec<String>,
}

pub struct SeedTables {
    pub incidents: SeedRow,
    pub events: Vec<SeedRow>,
    pub causes: Vec<SeedRow>,
}

/// The fixture holding the seed document's tables (NISC, 2019-07-19).
pub fn seed_path() -> PathBuf {
    super::data().join("nisc-2019q1-tables.txt")
}

fn is_cell(s: &str) -> bool {
    s == "—" || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
}

fn rows_between(text: &str, start: &str, end: &str) -> Vec<SeedRow> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with(start) {
            inside = true;
            continue;
        }
        if inside && line.starts_with(end) {
            break;
        }
        if !inside {
            continue;
        }
        let cells: Vec<&str> = line
            .split('\t')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let n = cells.iter().rev().take_while(|c| is_cell(c)).count();
        if n != 9 || cells.len() <= n {
            continue;
        }
        let label = cells[cells.len() - n - 1];
        out.push(SeedRow {
            label: label.split_whitespace().last().unwrap_or(label).to_string(),
            cells: cells[cells.len() - n..]
                .iter()
                .map(|c| c.to_string())
                .collect(),
        });
    }
    out
}

/// Parses the seed document's three tables (2019 1Q report).
pub fn seed_tables() -> SeedTables {
    let path = seed_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the seed tables fixture {} is part of the repository: {e}",
            path.display()
        )
    });
    let t1 = rows_between(&text, "実施形態", "※1)");
    let mut incidents = t1.into_iter().next().expect("seed table 1 has rows");
    incidents.label = incidents.label.trim_end_matches("(※)").to_string();
    let events = rows_between(&text, "※1)", "※2)");
    let causes = rows_between(&text, "※2)", "(注)");
    assert_eq!(events.len(), 8, "seed event rows");
    assert_eq!(causes.len(), 17, "seed cause rows");
    SeedTables {
        incidents,
        events,
        causes,
    }
}

/// Parses a numeric seed cell; `None` for —.
pub fn num(cell: &str) -> Option<u64> {
    cell.parse().ok()
}

/// `kensa report --fy FY --as-of DATE --format html --out OUT`.
pub fn html_report(
    env: &crate::support::TestEnv,
    fy: &str,
    as_of: &str,
    out: &std::path::Path,
) -> std::process::Output {
    env.run([
        "report".as_ref(),
        "--fy".as_ref(),
        fy.as_ref(),
        "--as-of".as_ref(),
        as_of.as_ref(),
        "--format".as_ref(),
        "html".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}
