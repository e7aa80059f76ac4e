//! Many writers at once (issue 15, point 2), on the binary's backend: 8
//! `kensa import` processes at once over overlapping bundles of 4 agents,
//! 20 rounds, each on a fresh database: every bundle imports, and what is
//! stored for each agent is exactly the union of its bundles' lines (same
//! seqs, same hashes, none twice, none lost), with the incident counts to
//! match. And 2 analysts triaging one incident at the same moment: both
//! decisions stay in its history, the later one is current.

use super::forge::text;
use crate::support::report_common::Journal as Lines;
use crate::support::{self, TestEnv};
use kensa::bundle::{self, ExportRange};
use kensa::collector::incidents;
use kensa::findings::Location;
use kensa::journal::{line_hash, Journal};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

const AGENTS: usize = 4;
const IMPORTERS: usize = 8;
const ROUNDS: usize = 20;
/// Records appended between two exports.
const STEP: u64 = 100;

/// One agent's bundles: prefixes from seq 1 and continuations, which
/// overlap one another.
struct AgentBundles {
    id: String,
    pub_path: PathBuf,
    /// seq 1..a, 1..b (b > a), 1..c (c > b).
    prefixes: [PathBuf; 3],
    /// a+1..b and b+1..c: each links onto the prefix before it.
    continuations: [PathBuf; 2],
    findings: u64,
}

/// A journal of about 3 × [`STEP`] records (one finding in ten) exported
/// as overlapping bundles.
fn agent_bundles(base: &Path, n: usize) -> AgentBundles {
    let dir = base.join(format!("agent{n}"));
    let key = kensa::keys::SecretKey::generate().unwrap();
    let mut j = Journal::open(&dir.join("journal"), &key).unwrap();
    let out = |name: &str| dir.join(name);
    let mut findings = 0;
    let mut prefixes = Vec::new();
    let mut continuations = Vec::new();
    let mut last = 0;
    j.append(&support::journal::session("s1", "STICK")).unwrap();
    for step in 0..3u64 {
        for i in 0..STEP {
            if i.is_multiple_of(10) {
                j.append(&support::journal::finding("s1", step * STEP + i))
                    .unwrap();
                findings += 1;
            } else {
                j.append(&support::journal::skip("s1", step * STEP + i))
                    .unwrap();
            }
        }
        let p = bundle::export(&mut j, &key, &out(&format!("p{step}")), ExportRange::All).unwrap();
        if step > 0 {
            let c = bundle::export(
                &mut j,
                &key,
                &out(&format!("c{step}")),
                ExportRange::Since(last),
            )
            .unwrap();
            continuations.push(c.bundle);
        }
        last = p.claim.to;
        prefixes.push(p.bundle);
    }
    let pub_path = dir.join("agent.pub");
    key.public().save(&pub_path).unwrap();
    AgentBundles {
        id: key.key_id_hex(),
        pub_path,
        prefixes: prefixes.try_into().unwrap(),
        continuations: continuations.try_into().unwrap(),
        findings,
    }
}

/// Every (seq, hash) a bundle file holds.
fn bundle_lines(path: &Path) -> BTreeSet<(u64, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["seq"].as_u64().unwrap(), line_hash(l.as_bytes()))
        })
        .collect()
}

/// What importer `i` of round `round` imports: for one agent its
/// continuations with the prefixes they link onto (so every agent gets
/// all its lines from two importers each round, and no importer meets a
/// gap whatever the others do), and a prefix of another agent; the
/// assignment turns with the round.
fn importer_args(agents: &[AgentBundles], i: usize, round: usize) -> Vec<OsString> {
    let a = &agents[(i + round) % AGENTS];
    let b = &agents[(i + round + 1 + i / AGENTS) % AGENTS];
    let mut args: Vec<OsString> = vec!["import".into()];
    if i.is_multiple_of(2) {
        args.push(a.prefixes[0].clone().into());
        args.push(a.continuations[0].clone().into());
        args.push(a.continuations[1].clone().into());
    } else {
        args.push(a.prefixes[1].clone().into());
        args.push(a.continuations[1].clone().into());
    }
    args.push(b.prefixes[(i + round) % 3].clone().into());
    args
}

#[test]
fn eight_importers_store_the_union_of_overlapping_bundles() {
    let setup = TestEnv::new();
    let agents: Vec<AgentBundles> = (0..AGENTS)
        .map(|n| agent_bundles(setup.base(), n))
        .collect();
    let union: Vec<BTreeSet<(u64, String)>> = agents
        .iter()
        .map(|a| {
            a.prefixes
                .iter()
                .chain(&a.continuations)
                .flat_map(|p| bundle_lines(p))
                .collect()
        })
        .collect();
    for round in 0..ROUNDS {
        let env = crate::env();
        for a in &agents {
            a.trust_in(&env);
        }
        let start = std::time::Instant::now();
        let children: Vec<_> = (0..IMPORTERS)
            .map(|i| {
                env.command()
                    .args(importer_args(&agents, i, round))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let o = c.wait_with_output().unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "round {round} importer {i}: {}",
                text(&o)
            );
        }
        let took = start.elapsed();
        let store = env.store();
        for (a, want) in agents.iter().zip(&union) {
            let held: Vec<(u64, String)> = store.record_hashes(&a.id).unwrap();
            let held_set: BTreeSet<(u64, String)> = held.iter().cloned().collect();
            assert_eq!(held.len(), held_set.len(), "round {round}: a line twice");
            assert_eq!(&held_set, want, "round {round}: agent {}", a.id);
        }
        let list = incidents::list(&store, &incidents::Filter::default()).unwrap();
        assert_eq!(list.len(), AGENTS, "round {round}");
        for i in &list {
            let a = agents.iter().find(|a| a.id == i.agent).unwrap();
            assert_eq!(i.detections, a.findings, "round {round}");
        }
        eprintln!("round {round}: {IMPORTERS} importers in {took:?}");
    }
}

impl AgentBundles {
    fn trust_in(&self, env: &TestEnv) {
        let o = env.run([
            OsString::from("trust"),
            "add".into(),
            self.pub_path.clone().into(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

#[test]
fn two_analysts_triaging_at_once_both_stay_in_the_history() {
    let env = crate::env();
    let session = {
        let store = env.store();
        let mut j = Lines::new(&store, "agent-a");
        j.incident("2019-05-10T03:00:00Z", Location::Removable, None, 2)
    };
    let id = &session[..12];
    for round in 0..5 {
        let children: Vec<_> = [("analyst-a", "leak"), ("analyst-b", "intrusion")]
            .iter()
            .map(|(by, event)| {
                env.command()
                    .args(["triage", id, "--event", event, "--by", by])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
        }
        let store = env.store();
        let d = incidents::show(&store, id).unwrap();
        assert_eq!(d.history.len(), 2 * (round + 1), "round {round}: both kept");
        let last_two: BTreeSet<&str> = d.history[d.history.len() - 2..]
            .iter()
            .map(|e| e.by.as_str())
            .collect();
        assert_eq!(last_two, BTreeSet::from(["analyst-a", "analyst-b"]));
        let latest = d.history.last().unwrap();
        let current = d.incident.current();
        assert_eq!(
            current.event, latest.event,
            "round {round}: the later one is current"
        );
        let listed = incidents::find(&store, id).unwrap();
        assert_eq!(listed.current().event, latest.event);
    }
}
