//! Signed bundles with chosen lines, as a trusted agent's key could sign
//! them: the hash chain from genesis, the header and the minisign signature
//! are right, the records are whatever the test writes. Plus the collector
//! side: a state directory that trusts the agents, and the rows it holds.

use crate::support::TestEnv;
use kensa::journal::{genesis, line_hash};
use kensa::keys::SecretKey;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

/// An agent key and its public key file.
pub struct Agent {
    pub key: SecretKey,
    pub id: String,
    pub pub_path: PathBuf,
}

impl Agent {
    /// A new key pair; the public key is written below `dir`.
    pub fn new(dir: &Path) -> Agent {
        let key = SecretKey::generate().expect("key");
        let id = key.key_id_hex();
        let pub_path = dir.join(format!("{id}.pub"));
        key.public().save(&pub_path).expect("save public key");
        Agent { key, id, pub_path }
    }

    /// `kensa trust add` of this agent in `env`, which must succeed.
    pub fn trust(&self, env: &TestEnv, name: &str) {
        let out = env.run([
            OsStr::new("trust"),
            OsStr::new("add"),
            self.pub_path.as_os_str(),
            OsStr::new("--name"),
            OsStr::new(name),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }

    /// Writes a bundle of seq 1.. holding `bodies` (JSON objects starting
    /// with `{`) into `dir` as `name` and `name.minisig`.
    pub fn bundle(&self, dir: &Path, name: &OsStr, bodies: &[String]) -> PathBuf {
        let mut prev = genesis(&self.id);
        let mut data = String::new();
        for (i, body) in bodies.iter().enumerate() {
            let line = format!("{{\"seq\":{},\"prev\":\"{prev}\",{}", i + 1, &body[1..]);
            prev = line_hash(line.as_bytes());
            data.push_str(&line);
            data.push('\n');
        }
        let n = bodies.len();
        let header = format!(
            "{{\"type\":\"bundle\",\"v\":1,\"agent\":\"{}\",\"from\":1,\"to\":{n},\"head\":\"{prev}\",\"created\":\"2026-01-01T00:00:00.000Z\"}}\n",
            self.id
        );
        let data = header + &data;
        let comment = format!("kensa bundle agent={} seq=1-{n} head={prev}", self.id);
        let sig = self.key.sign(data.as_bytes(), &comment).expect("sign");
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        std::fs::write(kensa::bundle::signature_path(&path), sig).unwrap();
        path
    }
}

/// stdout and stderr of a run, for assertion messages.
pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// A session record (JSON) with a chosen id.
pub fn session(id: &str) -> String {
    serde_json::json!({
        "type": "session", "v": 1, "id": id, "time": "2026-01-01T00:00:00.000Z",
        "host": "hmi", "location": "removable", "paths": ["/media/x"],
        "ruleset": {"id": "0011223344556677", "digest": "ab", "rules": 1, "hashes": 0},
        "version": "0.1.0",
    })
    .to_string()
}

/// A finding record (JSON) of a session, as kensa writes it.
pub fn finding(session: &str, i: u64) -> String {
    serde_json::json!({
        "type": "finding", "v": 1, "id": format!("f{i}"), "session": session,
        "time": "2026-01-01T00:00:01.000Z", "location": "removable",
        "path": format!("/media/x/file{i}.exe"), "size": 68, "sha256": "ab".repeat(32),
        "verdict": "malicious",
        "matches": [{"kind": "hash", "rule": "r", "namespace": "n"}],
    })
    .to_string()
}

/// Rows the collector database of `env` holds for `agent` (read through
/// the library's store, so either backend).
pub fn held(env: &TestEnv, agent: &str) -> i64 {
    let rows = env.store().record_hashes(agent).expect("read records");
    i64::try_from(rows.len()).unwrap()
}

/// `kensa incidents list --format json` in `env`: exit code and rows.
pub fn incidents(env: &TestEnv, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut args = vec!["incidents", "list", "--format", "json"];
    args.extend(extra);
    let out = env.run(&args);
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (out.status.code().unwrap_or(-1), rows, text(&out))
}
