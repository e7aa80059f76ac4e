//! Two trusted agents with the same session id (issue 11, point 10): a
//! second agent reusing a victim's session id must not make the victim's
//! incident unreachable. Incidents are keyed by (agent, session), the ids
//! shown are unique by construction, a bare session prefix still works when
//! it is unambiguous, and `--agent` picks one when it is not.

use super::forge::{finding, incidents, session, text, Agent};
use crate::support::TestEnv;
use std::ffi::OsStr;

const SID: &str = "5e55101d0123456789abcdef01234567";

fn ok(env: &TestEnv, args: &[&str]) -> String {
    let o = env.run(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(env: &TestEnv, args: &[&str]) -> String {
    let o = env.run(args);
    assert_ne!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    text(&o)
}

#[test]
fn a_reused_session_id_does_not_hide_the_victims_incident() {
    let env = crate::env();
    let victim = Agent::new(env.base());
    let other = Agent::new(env.base());
    victim.trust(&env, "victim");
    other.trust(&env, "other");
    for (a, n) in [(&victim, 3), (&other, 1)] {
        let mut recs = vec![session(SID)];
        recs.extend((0..n).map(|i| finding(SID, i)));
        let b = a.bundle(&env.base().join(&a.id), OsStr::new("b.jsonl"), &recs);
        let o = env.run([OsStr::new("import"), b.as_os_str()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let (code, rows, all) = incidents(&env, &[]);
    assert_eq!((code, rows.len()), (0, 2), "{all}");
    let id_of = |agent: &str| {
        rows.iter()
            .find(|r| r["agent"] == agent)
            .and_then(|r| r["id"].as_str())
            .unwrap_or_else(|| panic!("no incident of {agent}: {all}"))
            .to_string()
    };
    let (vid, oid) = (id_of(&victim.id), id_of(&other.id));
    assert_ne!(vid, oid, "ids shown are unique");

    // The id shown reaches exactly its incident, in show and triage.
    let shown = ok(&env, &["incidents", "show", &vid, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["incident"]["agent"], victim.id.as_str(), "{shown}");
    assert_eq!(v["findings"].as_array().unwrap().len(), 3);
    ok(&env, &["triage", &vid, "--event", "leak"]);
    let (_, rows, _) = incidents(&env, &[]);
    let state = |agent: &str| rows.iter().find(|r| r["agent"] == agent).unwrap()["state"].clone();
    assert_eq!(state(&victim.id), "triaged");
    assert_eq!(state(&other.id), "untriaged");

    // The bare session prefix is ambiguous: an error naming both.
    let e = fails(&env, &["incidents", "show", &SID[..12]]);
    assert!(
        e.contains("ambiguous") && e.contains(&vid) && e.contains(&oid),
        "{e}"
    );
    let e = fails(&env, &["triage", &SID[..12], "--event", "outage"]);
    assert!(e.contains("ambiguous"), "{e}");

    // --agent (id, id prefix or trusted name) picks one.
    for agent in [&other.id[..], &other.id[..6], "other"] {
        let shown = ok(
            &env,
            &[
                "incidents",
                "show",
                &SID[..12],
                "--agent",
                agent,
                "--format",
                "json",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(
            v["incident"]["agent"],
            other.id.as_str(),
            "{agent}: {shown}"
        );
    }
    ok(
        &env,
        &[
            "triage",
            &SID[..12],
            "--agent",
            "other",
            "--event",
            "outage",
        ],
    );
    let (_, rows, all) = incidents(&env, &["--agent", &other.id[..6]]);
    assert_eq!(rows.len(), 1, "{all}");
    assert_eq!(rows[0]["current"]["event"], "outage", "{all}");
    let (_, rows, _) = incidents(&env, &["--agent", "victim"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["current"]["event"], "leak");
}

#[test]
fn a_unique_session_prefix_still_works() {
    let env = crate::env();
    let a = Agent::new(env.base());
    a.trust(&env, "a");
    let b = a.bundle(
        &env.base().join("b"),
        OsStr::new("b.jsonl"),
        &[session(SID), finding(SID, 1)],
    );
    let o = env.run([OsStr::new("import"), b.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    ok(&env, &["incidents", "show", &SID[..8]]);
    ok(&env, &["triage", &SID[..8], "--event", "leak"]);
    let e = fails(&env, &["incidents", "show", &SID[..8], "--agent", "nobody"]);
    assert!(e.contains("nobody"), "{e}");
}
