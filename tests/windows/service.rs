//! The Windows service under Wine's service control manager
//! (`services.exe`, `sc.exe`): `kensa service install` registers the
//! service (seen in the SCM's registry key: automatic start, LocalSystem,
//! `service run`, the config)
//! and makes `%ProgramData%\kensa` private; the service starts and its
//! agent really runs (it created its key and holds the journal, as
//! `kensa status` sees), a second start says "already running", stop
//! ends it (the journal is free again), uninstall removes it (the key
//! is gone, stop says "not installed"). The state and keys folders'
//! descriptors read back through `kensa status` hold only SYSTEM and the
//! account kensa runs as (Wine keeps no access lists: it maps the private
//! list to mode 0750; the Administrators entry and the protected flag are
//! unit-tested in `src/dacl.rs`). A keys folder that lets Everyone read
//! makes the agent refuse to start. The service is removed from the
//! prefix afterwards whatever happened ([`Installed`]'s Drop).

use crate::support::{self, TestEnv};
use crate::wine::{text, win, zpath, LIMIT};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `sc.exe ARGS` in the test prefix.
fn sc(args: &[&str]) -> Output {
    let mut c = win().command_for(Path::new("sc"));
    c.args(args);
    support::run_measured("sc", LIMIT, &mut c).output
}

/// The service's entry in the SCM's database, the registry key
/// `HKLM\System\CurrentControlSet\Services\kensa` (Wine 8's `sc.exe` has no
/// `qc`): Start 2 is automatic, ImagePath the command line.
fn registered() -> Output {
    let mut c = win().command_for(Path::new("reg"));
    c.args(["query", r"HKLM\System\CurrentControlSet\Services\kensa"]);
    support::run_measured("reg query", LIMIT, &mut c).output
}

/// kensa.exe with `--config` only: the state folder is the default one.
fn kensa(config: &Path, label: &str, args: &[&str]) -> Output {
    let mut c = win().bare();
    c.arg("--config").arg(zpath(config)).args(args);
    support::run_measured(label, LIMIT, &mut c).output
}

/// The service registered in the prefix; Drop stops and deletes it.
struct Installed {
    config: PathBuf,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let o = kensa(&self.config, "cleanup uninstall", &["service", "uninstall"]);
        if !o.status.success() {
            // Not installed any more is fine; anything else: try sc.
            let _ = sc(&["stop", "kensa"]);
            let _ = sc(&["delete", "kensa"]);
        }
    }
}

/// `%ProgramData%\kensa` of the prefix, as Linux sees it.
fn program_data_state() -> PathBuf {
    win().prefix.join("drive_c/ProgramData/kensa")
}

/// Whether `kensa status` sees an agent holding the journal.
fn agent_running(config: &Path) -> bool {
    let o = kensa(config, "status", &["status", "--format", "json"]);
    assert!(o.status.success(), "status: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    v["agent"]["running"] == true
}

/// The access list of `what` ("state" or "keys") from `kensa status`,
/// the entries for others, and the account kensa runs as.
fn access(config: &Path, what: &str) -> (String, Vec<serde_json::Value>, String) {
    let o = kensa(config, "status", &["status", "--format", "json"]);
    assert!(o.status.success(), "status: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    let a = &v["access"][what];
    let sddl = a["sddl"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {a}"))
        .to_string();
    let me = v["access"]["account"].as_str().unwrap_or("").to_string();
    (
        sddl,
        a["others"].as_array().cloned().unwrap_or_default(),
        me,
    )
}

/// Every entry of an SDDL DACL is for SYSTEM, Administrators or `me`.
fn assert_private(sddl: &str, me: &str, what: &str) {
    let d = sddl
        .split("D:")
        .nth(1)
        .unwrap_or_else(|| panic!("{what}: no DACL in {sddl}"));
    let aces: Vec<&str> = d
        .split('(')
        .skip(1)
        .map(|a| a.trim_end_matches(')'))
        .collect();
    assert!(!aces.is_empty(), "{what}: empty DACL {sddl}");
    for ace in aces {
        let sid = ace.rsplit(';').next().unwrap_or("");
        assert!(
            matches!(sid, "SY" | "BA" | "S-1-5-18" | "S-1-5-32-544") || sid == me,
            "{what}: entry for someone else ({ace}) in {sddl}"
        );
    }
}

/// Wine turns the private list into Unix mode bits: nothing for others.
fn assert_no_other_bits(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o007, 0, "{} has mode {mode:o}", dir.display());
}

#[test]
fn service_installs_runs_the_agent_stops_and_uninstalls() {
    let env = TestEnv::new();
    let watched = env.base().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    let config = env.base().join("service.toml");
    let sig = zpath(&support::repo().join("signatures"));
    std::fs::write(
        &config,
        format!(
            "[rules]\nsignatures = '{sig}'\n[media]\nscan_present = false\n\
             [watch]\npaths = ['{}']\nsettle_ms = 300\n",
            zpath(&watched)
        ),
    )
    .unwrap();
    // Wine's Z: (all of /) counts as a present medium: not scanned.
    // A leftover of an earlier run would hide what install creates.
    // (uninstall stops it too: a running leftover would recreate the
    // state folder behind the test's back).
    let _ = kensa(&config, "leftover uninstall", &["service", "uninstall"]);
    let _ = sc(&["delete", "kensa"]);
    let state = program_data_state();
    let _ = std::fs::remove_dir_all(&state);
    assert!(
        !state.exists(),
        "{} is still there (a leftover agent recreated it?)",
        state.display()
    );
    let guard = Installed {
        config: config.clone(),
    };

    let o = kensa(&config, "service install", &["service", "install"]);
    assert!(o.status.success(), "install: {}", text(&o));
    assert!(
        stdout(&o).contains("installed (automatic start)"),
        "{}",
        text(&o)
    );
    let qc = registered();
    let qc_text = stdout(&qc);
    assert!(qc.status.success(), "reg query: {}", text(&qc));
    assert!(qc_text.contains("Start    REG_DWORD    0x2"), "{qc_text}");
    assert!(qc_text.contains("LocalSystem"), "{qc_text}");
    assert!(qc_text.contains("kensa.exe"), "{qc_text}");
    assert!(qc_text.contains("service run"), "{qc_text}");
    assert!(qc_text.contains(&zpath(&config)), "{qc_text}");
    let o = kensa(&config, "service install again", &["service", "install"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already installed"),
        "{}",
        text(&o)
    );

    let (sddl, others, me) = access(&config, "state");
    assert_private(&sddl, &me, "state folder after install");
    assert!(others.is_empty(), "{others:?}");
    assert_no_other_bits(&state);

    let started = Instant::now();
    let o = kensa(&config, "service start", &["service", "start"]);
    assert!(o.status.success(), "start: {}", text(&o));
    eprintln!("service start took {:?}", started.elapsed());
    let o = kensa(&config, "service start again", &["service", "start"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already running"),
        "{}",
        text(&o)
    );

    // The agent runs: it holds the journal (as `kensa status` sees it)
    // and created its key in a keys folder made private.
    assert!(
        agent_running(&config),
        "the service's agent does not hold the journal"
    );
    assert!(
        state.join("keys/agent.key").is_file(),
        "no agent key in {}",
        state.display()
    );
    let (keys_sddl, others, me) = access(&config, "keys");
    assert_private(&keys_sddl, &me, "keys folder made by the service");
    assert!(others.is_empty(), "{others:?}");
    assert_no_other_bits(&state.join("keys"));

    let stopped = Instant::now();
    let o = kensa(&config, "service stop", &["service", "stop"]);
    assert!(o.status.success(), "stop: {}", text(&o));
    eprintln!("service stop took {:?}", stopped.elapsed());
    assert!(
        !agent_running(&config),
        "the agent still holds the journal after stop"
    );

    let o = kensa(&config, "service uninstall", &["service", "uninstall"]);
    assert!(o.status.success(), "uninstall: {}", text(&o));
    let qc = registered();
    assert!(!qc.status.success(), "still registered: {}", text(&qc));
    let o = kensa(&config, "service stop uninstalled", &["service", "stop"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not installed"),
        "{}",
        text(&o)
    );
    drop(guard);
}

#[test]
fn an_open_keys_folder_stops_the_agent_from_starting() {
    let env = TestEnv::new();
    let o = win().run(&env, "keygen", &["keygen"]);
    assert!(o.status.success(), "keygen: {}", text(&o));
    let keys = env.state.join("keys");
    let o = win().run(&env, "status", &["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    let me = v["access"]["account"].as_str().unwrap_or("");
    let keys_sddl = v["access"]["keys"]["sddl"].as_str().unwrap_or("");
    assert_private(keys_sddl, me, "keys folder of keygen");
    // The same key in a folder made on Linux (mode 0755: Wine gives it an
    // entry that lets Everyone read).
    let old = env.state.join("keys.old");
    std::fs::rename(&keys, &old).unwrap();
    std::fs::create_dir(&keys).unwrap();
    for f in ["agent.key", "agent.pub"] {
        std::fs::copy(old.join(f), keys.join(f)).unwrap();
    }
    let o = win().run(
        &env,
        "run with an open keys folder",
        &["run", "--no-scan-present"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("lets others in"), "{err}");
    assert!(err.contains("Everyone"), "{err}");
}
