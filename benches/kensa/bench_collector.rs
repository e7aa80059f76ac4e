//! The collector's read paths at scale, through the `kensa` binary: signed
//! journals of many agents (default 20,000 incidents of 10 findings each
//! over 50 agents: `KENSA_BENCH_INCIDENTS`, `KENSA_BENCH_FINDINGS`,
//! `KENSA_BENCH_AGENTS`) are exported as bundles, trusted and imported
//! (`KENSA_BENCH_IMPORTS=n`: n times into fresh collectors, best kept), 200
//! incidents triaged, then `incidents list` (all, `--untriaged`,
//! `--event`, `--agent`, `--since`), `incidents show` and `report` (JSON,
//! HTML) are timed, best of 3, wall and CPU. With `KENSA_OLD_BIN=<path>`
//! another kensa binary (an older commit's) gets its own collector over
//! the same bundles and the same triage, is timed the same way, and must
//! print the same incidents and the same report; this kensa's first
//! listing of a copy of that collector (which migrates it) is timed and
//! must list the same. `KENSA_BENCH_PG=1` puts each collector in its own
//! database on a private PostgreSQL server (as the `collector_pg` tests
//! do; no migration run then). `KENSA_BENCH_KEEP=<dir>` keeps this
//! kensa's SQLite database there (to profile a command on it).
//! Run: `cargo bench --bench kensa -- collector`.

use crate::support::TestEnv;
use kensa::bundle::{self, ExportRange};
use kensa::findings::Record;
use kensa::journal::{Journal, JournalOptions};
use kensa::state::StateDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

struct Shape {
    incidents: usize,
    findings: usize,
    agents: usize,
}

/// The classification a finding of incident `i` carries: a handful of
/// kinds, and none at all (an old agent's) on every 25th incident.
fn taxonomy(i: usize) -> Option<Value> {
    let kinds = [
        json!({"event": "precursor", "causes": ["unknown"]}),
        json!({"event": "malware_infection", "causes": ["suspicious_file"]}),
        json!({"event": "leak", "causes": ["insider", "unknown"]}),
        json!({"event": "outage", "causes": ["equipment_failure", "vulnerability"]}),
    ];
    (!i.is_multiple_of(25)).then(|| kinds[i % kinds.len()].clone())
}

/// The time of incident `i` of `n`: spread over FY2015 to FY2019, some
/// written with an offset as agents in Japan may.
fn incident_time(i: usize, n: usize) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2015-04-01T00:00:00Z").unwrap();
    let span = 5 * 365 * 86_400i64;
    let t = start + chrono::Duration::seconds(span * i as i64 / n.max(1) as i64);
    if i.is_multiple_of(7) {
        let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        t.with_timezone(&jst).to_rfc3339()
    } else {
        t.with_timezone(&chrono::Utc).to_rfc3339()
    }
}

fn record(v: Value) -> Record {
    serde_json::from_value(v).expect("a valid record")
}

fn session(id: &str, time: &str, removable: bool) -> Record {
    let location = if removable { "removable" } else { "host" };
    let mut v = json!({
        "type": "session", "v": 1, "id": id, "time": time, "host": "hmi",
        "location": location, "paths": ["/media/usb0"],
        "ruleset": {"id": "0011223344556677", "digest": "ab", "rules": 1, "hashes": 0},
        "version": "bench",
    });
    if removable {
        v["medium"] = json!({"mount_point": "/media/usb0", "label": "STICK",
            "serial": "0401ABCD", "removable": true, "detected_by": "media_root"});
    }
    record(v)
}

fn finding(session: &str, time: &str, k: usize, removable: bool, tax: &Option<Value>) -> Record {
    let mut v = json!({
        "type": "finding", "v": 1, "id": format!("{session}-f{k}"), "session": session,
        "time": time, "location": if removable { "removable" } else { "host" },
        "path": format!("/media/usb0/dir/file{k}.exe"), "size": 68,
        "sha256": "ab".repeat(32), "verdict": "malicious",
        "matches": [{"kind": "yara", "rule": "Bench_Rule", "namespace": "default"}],
    });
    if let Some(t) = tax {
        v["taxonomy"] = t.clone();
    }
    record(v)
}

/// Writes agent `a`'s journal (its share of the incidents) and exports it
/// as one bundle into `out`; returns the agent's public key file.
fn agent_bundle(base: &Path, a: usize, shape: &Shape, out: &Path) -> PathBuf {
    let state = StateDir::new(base.join(format!("agent{a}")));
    let (key, _) = kensa::keys::load_or_create(&state).expect("agent key");
    let mut j = Journal::open_with(&state.journal_dir(), &key, JournalOptions::default()).unwrap();
    for i in (a..shape.incidents).step_by(shape.agents) {
        let id = format!(
            "{:08x}-{a:02}-{i:07}",
            (i as u64).wrapping_mul(2_654_435_761) as u32
        );
        let time = incident_time(i, shape.incidents);
        let removable = i % 3 != 0;
        j.append(&session(&id, &time, removable)).unwrap();
        let tax = taxonomy(i);
        for k in 0..shape.findings {
            j.append(&finding(&id, &time, k, removable, &tax)).unwrap();
        }
        j.append(&record(json!({
            "type": "summary", "v": 1, "session": id, "time": time, "files": shape.findings,
            "bytes": 100, "findings": shape.findings, "skips": 0, "gaps": 0,
            "seconds": 1.0, "completed": true,
        })))
        .unwrap();
    }
    bundle::export(&mut j, &key, out, ExportRange::All).unwrap();
    state.public_key()
}

/// CPU time (user + system) of the children waited for so far.
fn children_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the live local it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Runs `bin` on the collector of `env` (its state directory, and its
/// database on the test PostgreSQL server when it has one) and returns
/// stdout; the run must succeed.
fn run(bin: &str, env: &TestEnv, args: &[&str]) -> String {
    let mut cmd = Command::new(bin);
    cmd.arg("--state-dir")
        .arg(&env.state)
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .env_remove("KENSA_LOG")
        .env("USER", "bench");
    if env.database.is_some() {
        cmd.env("PGPASSFILE", &crate::support::pg::server().pgpass);
    }
    let out = cmd.output().expect("run kensa");
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Wall and CPU time of one run of a command (the machine may be shared:
/// CPU time is what the command itself cost).
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2?} / {:.2?}", self.wall, self.cpu)
    }
}

/// Runs a command once and measures it.
fn measured(bin: &str, env: &TestEnv, args: &[&str]) -> (Cost, String) {
    let (t, cpu) = (Instant::now(), children_cpu());
    let text = run(bin, env, args);
    let cost = Cost {
        wall: t.elapsed(),
        cpu: children_cpu().saturating_sub(cpu),
    };
    (cost, text)
}

/// Best of three runs (wall and CPU each), and the output of the last.
fn timed(bin: &str, env: &TestEnv, args: &[&str]) -> (Cost, String) {
    let mut best = Cost {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };
    let mut text = String::new();
    for _ in 0..3 {
        let (c, t) = measured(bin, env, args);
        best.wall = best.wall.min(c.wall);
        best.cpu = best.cpu.min(c.cpu);
        text = t;
    }
    (best, text)
}

/// What the listing says with the triage times left out (they differ
/// between two collectors triaged one after the other).
fn comparable(list: &str) -> Vec<Value> {
    list.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("JSON line");
            if let Some(t) = v.get_mut("triage").and_then(Value::as_object_mut) {
                t.remove("time");
            }
            v
        })
        .collect()
}

/// Trusts every agent's key as `plantNN` and imports every bundle into the
/// collector of `env`, measuring the import.
fn import(bin: &str, env: &TestEnv, keys: &[PathBuf], bundles: &Path) -> (Cost, String) {
    for (a, key) in keys.iter().enumerate() {
        let name = format!("plant{a:02}");
        let key = key.to_string_lossy();
        run(bin, env, &["trust", "add", &key, "--name", &name]);
    }
    measured(bin, env, &["import", &bundles.to_string_lossy()])
}

/// A fresh collector: SQLite in its state directory, or a new database on
/// the test PostgreSQL server (`KENSA_BENCH_PG=1`).
fn fresh() -> TestEnv {
    TestEnv::with_backend(std::env::var_os("KENSA_BENCH_PG").is_some())
}

/// One collector: trusts every agent, imports the bundles, triages 200
/// incidents (every 100th as it is listed), then times the read commands.
/// Returns (label, time) pairs and the outputs to compare.
fn collector(
    bin: &str,
    env: &TestEnv,
    keys: &[PathBuf],
    bundles: &Path,
) -> (Vec<(String, Cost)>, Vec<String>) {
    let mut times = Vec::new();
    let (c, _) = import(bin, env, keys, bundles);
    let mut best = c;
    // More imports into fresh collectors, for a steadier figure.
    for _ in 1..knob("KENSA_BENCH_IMPORTS", 1) {
        let (c, _) = import(bin, &fresh(), keys, bundles);
        best.wall = best.wall.min(c.wall);
        best.cpu = best.cpu.min(c.cpu);
    }
    times.push(("import (all bundles)".to_string(), best));
    let list = run(bin, env, &["incidents", "list", "--format", "json"]);
    let ids: Vec<String> = comparable(&list)
        .iter()
        .step_by(100)
        .take(200)
        .map(|v| v["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let (t, cpu) = (Instant::now(), children_cpu());
    for (k, id) in ids.iter().enumerate() {
        let mut args = vec![
            "triage",
            id.as_str(),
            "--event",
            "leak",
            "--cause",
            "insider",
        ];
        if k % 5 == 0 {
            args.push("--false-positive");
        }
        run(bin, env, &args);
    }
    let n = ids.len().max(1) as u32;
    let per = Cost {
        wall: t.elapsed() / n,
        cpu: children_cpu().saturating_sub(cpu) / n,
    };
    times.push(("triage (one, by id)".to_string(), per));
    let show_id = ids.get(ids.len() / 2).cloned().unwrap_or_default();
    let commands: [(&str, Vec<&str>); 8] = [
        ("incidents list", vec!["incidents", "list"]),
        (
            "incidents list --format json",
            vec!["incidents", "list", "--format", "json"],
        ),
        (
            "incidents list --untriaged",
            vec!["incidents", "list", "--untriaged"],
        ),
        (
            "incidents list --event leak",
            vec!["incidents", "list", "--event", "leak", "--format", "json"],
        ),
        (
            "incidents list --agent plant07",
            vec![
                "incidents",
                "list",
                "--agent",
                "plant07",
                "--format",
                "json",
            ],
        ),
        (
            "incidents list --since 2019-10-01",
            vec![
                "incidents",
                "list",
                "--since",
                "2019-10-01",
                "--format",
                "json",
            ],
        ),
        (
            "incidents show ID",
            vec!["incidents", "show", &show_id, "--format", "json"],
        ),
        (
            "report --format json",
            vec![
                "report",
                "--fy",
                "2019",
                "--as-of",
                "2020-04-01",
                "--format",
                "json",
            ],
        ),
    ];
    let mut outputs = Vec::new();
    for (label, args) in commands {
        let (c, text) = timed(bin, env, &args);
        times.push((label.to_string(), c));
        outputs.push(text);
    }
    let out = env.base().join("report.html");
    let html = [
        "report",
        "--fy",
        "2019",
        "--as-of",
        "2020-04-01",
        "--format",
        "html",
        "--out",
    ];
    let mut args: Vec<&str> = html.to_vec();
    let out_text = out.to_string_lossy().to_string();
    args.push(&out_text);
    let (c, _) = timed(bin, env, &args);
    times.push(("report --format html (appendix)".to_string(), c));
    (times, outputs)
}

fn scratch() -> tempfile::TempDir {
    // Journals fsync every finding: on tmpfs when there is one.
    tempfile::Builder::new()
        .prefix("kensa-bench-collector")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir")
}

pub fn collector_at_scale() {
    let shape = Shape {
        incidents: knob("KENSA_BENCH_INCIDENTS", 20_000),
        findings: knob("KENSA_BENCH_FINDINGS", 10),
        agents: knob("KENSA_BENCH_AGENTS", 50).max(1),
    };
    let journals = scratch();
    let bundles = journals.path().join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    let t = Instant::now();
    let keys: Vec<PathBuf> = (0..shape.agents)
        .map(|a| agent_bundle(journals.path(), a, &shape, &bundles))
        .collect();
    eprintln!(
        "{} agents, {} incidents, {} findings: journals and bundles written in {:.2?}",
        shape.agents,
        shape.incidents,
        shape.incidents * shape.findings,
        t.elapsed()
    );
    let (env, old_env) = (fresh(), fresh());
    let bin = crate::support::kensa_bin();
    let (new, new_out) = collector(bin, &env, &keys, &bundles);
    let old = std::env::var("KENSA_OLD_BIN").ok().map(|old| {
        let (mut times, out) = collector(&old, &old_env, &keys, &bundles);
        if old_env.database.is_none() {
            let (migrated, list) = migrate(bin, &old_env);
            assert_eq!(comparable(&list), comparable(&out[1]), "migrated listing");
            times.push(("first list after upgrade (migrates)".to_string(), migrated));
        }
        for (k, (a, b)) in new_out.iter().zip(&out).enumerate() {
            if k == 6 {
                // `incidents show` of each collector's own triaged incident.
                assert_eq!(comparable_show(a), comparable_show(b), "incidents show");
            } else if a.starts_with('{') && k < 6 {
                assert_eq!(comparable(a), comparable(b), "output {k} differs");
            } else {
                assert_eq!(a, b, "output {k} differs");
            }
        }
        times
    });
    eprintln!(
        "{:<36} {:>22} {:>22}",
        "wall / CPU", "this kensa", "KENSA_OLD_BIN"
    );
    for (k, (label, c)) in new.iter().enumerate() {
        let o = old
            .as_ref()
            .and_then(|o| o.get(k))
            .map_or("-".to_string(), |(_, c)| c.to_string());
        eprintln!("{label:<36} {:>22} {o:>22}", c.to_string());
    }
    if let Some((label, c)) = old.as_ref().and_then(|o| o.get(new.len())) {
        eprintln!("{label:<36} {:>22}", c.to_string());
    }
    let db = StateDir::new(&env.state).database();
    let mib = std::fs::metadata(&db).map(|m| m.len() >> 20).unwrap_or(0);
    match &env.database {
        Some(_) => eprintln!("collector database: PostgreSQL"),
        None => eprintln!("collector database: SQLite, {mib} MiB"),
    }
    if let (Ok(keep), None) = (std::env::var("KENSA_BENCH_KEEP"), &env.database) {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&db, Path::new(&keep).join("kensa.db")).unwrap();
        eprintln!("kept in {keep}");
    }
}

/// This kensa's first command on a copy of the other kensa's SQLite
/// collector: the migration's back-fill and a listing (cost and output).
fn migrate(bin: &str, old: &TestEnv) -> (Cost, String) {
    let upgraded = TestEnv::new();
    let db = StateDir::new(&old.state).database();
    std::fs::copy(&db, StateDir::new(&upgraded.state).database()).unwrap();
    measured(bin, &upgraded, &["incidents", "list", "--format", "json"])
}

/// `incidents show --format json` without the triage times.
fn comparable_show(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).expect("JSON");
    for path in [&["incident", "triage"][..], &["history"][..]] {
        let mut at = &mut v;
        for p in path {
            at = &mut at[*p];
        }
        match at {
            Value::Object(o) => {
                o.remove("time");
            }
            Value::Array(a) => a.iter_mut().for_each(|e| {
                if let Some(o) = e.as_object_mut() {
                    o.remove("time");
                }
            }),
            _ => {}
        }
    }
    v
}
