//! `kensa keygen --force` through the real binary (issue 11 point 9): with
//! the old key at hand it is a journalled rotation that `run`, `scan
//! --journal`, `export` and `verify --journal` follow, and a collector
//! follows it once it trusts the new key, keeping one agent; with the old
//! key lost the old journal is closed where the operator is told, and a new
//! journal starts with a record saying so.

use crate::support::journal::records;
use crate::support::{eicar, TestEnv};
use kensa::keys::PublicKey;
use kensa::state::StateDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn key_id(path: &Path) -> String {
    PublicKey::load(path).unwrap().key_id_hex()
}

/// `scan --journal` of `env.root/<dir>` holding one EICAR file: exit 1.
fn journalled_scan(env: &TestEnv, dir: &str) {
    env.file(format!("{dir}/eicar.com"), &eicar());
    let path = env.root.join(dir);
    let out = env.run([
        "scan".as_ref(),
        "--journal".as_ref(),
        "--no-progress".as_ref(),
        path.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

/// `export --out <base>/<name>`; returns the bundle path.
fn export(env: &TestEnv, name: &str) -> PathBuf {
    let out_dir = env.base().join(name);
    let out = ok(env.run(["export".as_ref(), "--out".as_ref(), out_dir.as_os_str()]));
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("bundle:"))
        .unwrap_or_else(|| panic!("no bundle line: {out}"));
    PathBuf::from(line.trim())
}

/// `kensa run` starts over the journal (logs "agent running"), then stops
/// on SIGTERM with exit 0.
fn run_starts_and_stops(env: &TestEnv) {
    let media = env.base().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let log = env.base().join("run.log");
    let mut child = env
        .command()
        .arg("-v")
        .arg("run")
        .arg("--media-root")
        .arg(&media)
        .arg("--no-scan-present")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        if logged.contains("agent running") {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("kensa run exited {status}:\n{logged}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "kensa run did not start:\n{logged}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn collector(env: &TestEnv, args: &[&std::ffi::OsStr]) -> Output {
    env.run(args)
}

fn os<'a>(args: &'a [&'a str]) -> Vec<&'a std::ffi::OsStr> {
    args.iter().map(std::ffi::OsStr::new).collect()
}

fn import(coll: &TestEnv, bundle: &Path) -> Output {
    collector(coll, &["import".as_ref(), bundle.as_os_str()])
}

#[test]
fn a_forced_keygen_rotates_the_key_and_the_collector_follows_after_trust() {
    let env = TestEnv::new();
    ok(env.run(["keygen"]));
    let state = StateDir::new(env.state.clone());
    let old_pub = env.base().join("old.pub");
    std::fs::copy(state.public_key(), &old_pub).unwrap();
    let agent = key_id(&old_pub);

    journalled_scan(&env, "stick1");
    let first = export(&env, "usb1");
    journalled_scan(&env, "stick2"); // not exported when the key changes

    let refused = env.run(["keygen"]);
    assert!(!refused.status.success(), "keygen replaced a key");
    let said = ok(env.run(["keygen", "--force"]));
    let new = key_id(&state.public_key());
    assert_ne!(new, agent);
    assert!(
        said.contains(&format!("ROTATED agent {agent}: key {agent} -> {new}")),
        "{said}"
    );
    assert!(said.contains("kensa trust add agent.pub"), "{said}");
    let recs = records(&env.state);
    let rot = recs
        .iter()
        .find(|r| r["type"] == "key_rotation")
        .expect("a key_rotation record");
    assert_eq!(rot["old_key"], agent.as_str());
    assert_eq!(rot["new_key"], new.as_str());
    assert!(
        said.contains(&format!("journal seq {}", rot["seq"])),
        "{said}"
    );

    // Everything that failed with JOURNAL TAMPERED before works.
    journalled_scan(&env, "stick3");
    let verified = ok(env.run(["verify", "--journal"]));
    assert!(
        verified.contains(&format!("agent {agent}")) && verified.contains("key rotation at seq"),
        "{verified}"
    );
    let second = export(&env, "usb2");
    run_starts_and_stops(&env);
    ok(env.run(["verify", "--journal"]));
    // Both bundles verify at the agent (the first with the kept old key).
    let v = ok(env.run(["verify".as_ref(), first.as_os_str(), second.as_os_str()]));
    assert_eq!(v.matches("OK ").count(), 2, "{v}");
    assert!(v.contains(&format!("signed by rotated key {new}")), "{v}");
    // The stock tool checks the bundle across the rotation with the new key.
    assert!(
        crate::bundle_minisign::minisign_available(),
        "cannot run: minisign is not installed and `apt-get install minisign` failed"
    );
    let (good, said) = crate::bundle_minisign::minisign_verify(&second, &state.public_key());
    assert!(good, "{said}");

    // The collector: the old key is trusted, the new one not yet.
    let coll = TestEnv::new();
    ok(collector(
        &coll,
        &["trust".as_ref(), "add".as_ref(), old_pub.as_os_str()],
    ));
    let out = ok(import(&coll, &first));
    assert!(out.contains("IMPORTED"), "{out}");
    let out = import(&coll, &second);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("REFUSED") && text(&out).contains(&new),
        "{}",
        text(&out)
    );
    let new_pub = state.public_key();
    ok(collector(
        &coll,
        &["trust".as_ref(), "add".as_ref(), new_pub.as_os_str()],
    ));
    let out = ok(import(&coll, &second));
    assert!(out.contains("IMPORTED"), "{out}");
    assert!(out.contains(&format!("agent {agent}")), "{out}");
    let list: Vec<serde_json::Value> = ok(collector(
        &coll,
        &os(&["incidents", "list", "--format", "json"]),
    ))
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(list.len(), 3, "{list:?}");
    assert!(
        list.iter().all(|i| i["agent"] == agent.as_str()),
        "{list:?}"
    );
}

#[test]
fn a_collector_refuses_a_rotation_its_trusted_key_did_not_sign() {
    // Agent B's bundle cannot carry agent A's records: a rotation must be
    // signed by a key of that agent the collector trusts.
    let env = TestEnv::new();
    ok(env.run(["keygen"]));
    let state = StateDir::new(env.state.clone());
    let old_pub = env.base().join("old.pub");
    std::fs::copy(state.public_key(), &old_pub).unwrap();
    journalled_scan(&env, "stick1");
    ok(env.run(["keygen", "--force"]));
    let bundle = export(&env, "usb");
    let coll = TestEnv::new();
    // Only the new key is trusted: the rotation's signer (the old key) is not.
    trust_current_key(&coll, &state);
    let out = import(&coll, &bundle);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("REFUSED") && text(&out).contains("key rotation at seq"),
        "{}",
        text(&out)
    );
}

/// Runs kensa with another state directory.
fn kensa_in(state: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(crate::support::kensa_bin())
        .arg("--state-dir")
        .arg(state)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_lost_key_closes_the_journal_and_a_new_one_says_so() {
    let env = TestEnv::new();
    ok(env.run(["keygen"]));
    let state = StateDir::new(env.state.clone());
    let old = key_id(&state.public_key());
    journalled_scan(&env, "stick1");
    export(&env, "usb1");
    journalled_scan(&env, "stick2");
    let head = records(&env.state).len() as u64;
    std::fs::remove_file(state.secret_key()).unwrap();

    // Without the key nothing starts a fresh key silently over the journal.
    let out = env.run(["export", "--out", "/nonexistent-kensa-out"]);
    assert!(!out.status.success(), "{}", text(&out));
    let media = env.base().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let out = env.run(["run".as_ref(), "--media-root".as_ref(), media.as_os_str()]);
    assert!(
        !out.status.success() && text(&out).contains("kensa keygen --force"),
        "{}",
        text(&out)
    );
    assert!(
        !state.secret_key().exists(),
        "run created a key over the journal"
    );

    let said = ok(env.run(["keygen", "--force"]));
    let new = key_id(&state.public_key());
    assert!(said.contains("OLD KEY LOST"), "{said}");
    assert!(said.contains("NOT EXPORTED: seq "), "{said}");
    assert!(said.contains("(1 findings)"), "{said}");
    assert!(said.contains(&format!("of agent {old}")), "{said}");
    let closed: Vec<PathBuf> = std::fs::read_dir(&env.state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("closed-{old}-"))
        })
        .collect();
    assert_eq!(closed.len(), 1, "{said}");
    assert!(said.contains(&closed[0].display().to_string()), "{said}");
    // The closed journal is as it was and still verifies with the old key.
    let v = ok(kensa_in(&closed[0], &env.config, &["verify", "--journal"]));
    assert!(v.contains(&format!("head seq {head}")), "{v}");

    // The new journal starts with the record naming the old one.
    let recs = records(&env.state);
    assert_eq!(recs[0]["type"], "key_reset", "{:?}", recs[0]);
    assert_eq!(recs[0]["previous_agent"], old.as_str());
    assert_eq!(recs[0]["previous_head_seq"], head);
    assert!(recs[0]["previous_exported_through"].as_u64().unwrap() < head);
    journalled_scan(&env, "stick3");
    ok(env.run(["verify", "--journal"]));
    let bundle = export(&env, "usb2");
    run_starts_and_stops(&env);
    let coll = TestEnv::new();
    trust_current_key(&coll, &state);
    let out = ok(import(&coll, &bundle));
    assert!(out.contains(&format!("agent {new}")), "{out}");
}

/// `kensa trust add` at the collector `coll` of the agent's current
/// public key.
fn trust_current_key(coll: &TestEnv, state: &kensa::state::StateDir) {
    ok(collector(
        coll,
        &[
            "trust".as_ref(),
            "add".as_ref(),
            state.public_key().as_os_str(),
        ],
    ));
}
