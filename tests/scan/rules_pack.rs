//! Signed rule packs end to end with the real binary: a pack built with a
//! key from the stock `minisign -G` installs and its rules are used by the
//! next scan; every attack is refused with a clear message and leaves the
//! installed rules unchanged; kill -9 during install never leaves a
//! half-installed set.

use crate::support;

use kensa::keys::SecretKey;
use kensa::rules::pack::{self, Manifest, ManifestFile};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// A key pair from the stock minisign tool; `password` None means -W.
fn minisign_key(dir: &Path, name: &str, password: Option<&str>) -> (PathBuf, PathBuf) {
    let sec = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let mut cmd = Command::new("minisign");
    cmd.arg("-G").arg("-p").arg(&public).arg("-s").arg(&sec);
    if password.is_none() {
        cmd.arg("-W");
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("the stock `minisign` tool is needed (Debian package minisign)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        if let Some(pw) = password {
            writeln!(stdin, "{pw}\n{pw}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "minisign -G failed: {out:?}");
    (sec, public)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn rule(name: &str, needle: &str) -> String {
    format!("rule {name} {{ strings: $a = \"{needle}\" condition: $a }}\n")
}

struct Fixture {
    env: TestEnv,
    sec: PathBuf,
    public: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let env = TestEnv::new();
        let (sec, public) = minisign_key(env.base(), "publisher", None);
        let out = env.run([
            Path::new("rules").as_os_str(),
            "trust".as_ref(),
            public.as_os_str(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        Fixture { env, sec, public }
    }

    /// Writes a rules directory and packs it with the CLI.
    fn pack(&self, name: &str, version: u64, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.env.base().join(format!("src-{name}"));
        for (p, text) in files {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
        }
        let out_file = self.env.base().join(format!("{name}.pack"));
        let out = self.env.run([
            "rules".as_ref(),
            "pack".as_ref(),
            dir.as_os_str(),
            "--version".as_ref(),
            version.to_string().as_ref(),
            "--key".as_ref(),
            self.sec.as_os_str(),
            "--out".as_ref(),
            out_file.as_os_str(),
        ]);
        assert!(out.status.success(), "pack failed: {}", stderr(&out));
        out_file
    }

    fn install(&self, pack: &Path, extra: &[&str]) -> std::process::Output {
        let mut args: Vec<&std::ffi::OsStr> = vec!["rules".as_ref(), "install".as_ref()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.push(pack.as_os_str());
        self.env.run(args)
    }

    /// Everything that makes up the installed rules: the `current` link,
    /// `rules status`, and every file below the current pack.
    fn snapshot(&self) -> String {
        let rd = self.env.state.join("rules");
        let link = std::fs::read_link(rd.join("current")).ok();
        let status = self.env.run(["rules", "status", "--format", "json"]);
        let mut files = Vec::new();
        if let Some(l) = &link {
            walk(&rd.join(l), &mut files);
        }
        files.sort();
        let listing: Vec<String> = files
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p.display(),
                    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
                )
            })
            .collect();
        format!("{link:?}\n{}\n{}", stdout(&status), listing.join("\n"))
    }

    /// Installs `pack` expecting a refusal whose message contains `needle`,
    /// and checks the installed rules did not change.
    fn refused(&self, pack: &Path, needle: &str) {
        let before = self.snapshot();
        let out = self.install(pack, &[]);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "not refused: {}{err}",
            stdout(&out)
        );
        assert!(err.contains(needle), "message {err:?} lacks {needle:?}");
        assert_eq!(self.snapshot(), before, "installed rules changed");
    }

    fn signer(&self) -> SecretKey {
        SecretKey::parse(&std::fs::read_to_string(&self.sec).unwrap()).unwrap()
    }

    /// A pack whose manifest is signed by the trusted key but lists
    /// `entries` as given (no checks), for forged-entry attacks.
    fn forged(&self, name: &str, entries: &[(&str, &str, &[u8])]) -> PathBuf {
        let manifest = Manifest {
            format: pack::FORMAT_VERSION,
            version: 100,
            created: "2026-01-01T00:00:00Z".into(),
            min_kensa: "0.1.0".into(),
            files: entries
                .iter()
                .map(|(p, kind, b)| ManifestFile {
                    path: p.to_string(),
                    kind: kind.to_string(),
                    size: b.len() as u64,
                    sha256: hex::encode(Sha256::digest(b)),
                })
                .collect(),
        };
        let files: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(p, _, b)| (p.to_string(), b.to_vec()))
            .collect();
        let bytes = pack::sign_and_encode(&manifest, &files, &self.signer()).unwrap();
        let out = self.env.base().join(format!("{name}.pack"));
        std::fs::write(&out, bytes).unwrap();
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Rule names matched in a scan of the tree.
fn matched_rules(env: &TestEnv) -> (Option<u64>, Vec<String>) {
    let (_, recs) = env.scan_json(&["--no-progress"]);
    let session = of_type(&recs, "session");
    let pv = session[0]["ruleset"]["pack_version"].as_u64();
    let mut rules: Vec<String> = of_type(&recs, "finding")
        .iter()
        .flat_map(|f| rules_of(f))
        .collect();
    rules.sort();
    (pv, rules)
}

#[test]
fn stock_minisign_key_pack_installs_and_is_used_by_scan() {
    let env = TestEnv::new();
    // A password-protected key, as `minisign -G` makes by default.
    let (sec, public) = minisign_key(env.base(), "stock", Some("correct horse"));
    let src = env.base().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(
        src.join("a.yar"),
        rule("pack_stock_rule", "STOCK-PACK-NEEDLE"),
    )
    .unwrap();
    let bad_hash = hex::encode(Sha256::digest(b"pack hash list target"));
    std::fs::write(
        src.join("sub/list.hashes"),
        format!("{bad_hash};pack hash\n"),
    )
    .unwrap();
    env.file("hit.bin", b"xx STOCK-PACK-NEEDLE xx");
    env.file("hashed.bin", b"pack hash list target");
    let (_, before) = matched_rules(&env);
    assert!(before.is_empty(), "{before:?}");

    let out_file = env.base().join("stock.pack");
    let mut cmd = env.command();
    cmd.args(["rules", "pack"])
        .arg(&src)
        .args(["--version", "7", "--key"])
        .arg(&sec)
        .arg("--out")
        .arg(&out_file);
    // Without the password it is refused clearly.
    let out = cmd.env_remove("KENSA_PACK_PASSWORD").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));
    let out = cmd
        .env("KENSA_PACK_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let out = env.run([
        Path::new("rules").as_os_str(),
        "trust".as_ref(),
        public.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.run([
        Path::new("rules").as_os_str(),
        "install".as_ref(),
        out_file.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("installed rule pack version 7"),
        "{}",
        stdout(&out)
    );

    let (pv, rules) = matched_rules(&env);
    assert_eq!(pv, Some(7));
    assert!(rules.contains(&"pack_stock_rule".to_string()), "{rules:?}");
    let (_, recs) = env.scan_json(&["--no-progress"]);
    let hashed: Vec<_> = of_type(&recs, "finding")
        .into_iter()
        .filter(|f| f["path"].as_str().unwrap().ends_with("hashed.bin"))
        .collect();
    assert_eq!(hashed.len(), 1, "pack hash list not used");

    let status = env.run(["rules", "status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["pack"]["version"], 7);
    assert_eq!(v["pack"]["files"], 2);
    let history = std::fs::read_to_string(env.state.join("rules/history.jsonl")).unwrap();
    assert!(history.contains("\"rules_change\"") && history.contains("\"version\":7"));
    // The stock tool verifies the installed manifest's signature.
    let cur = env.state.join("rules/current");
    let v = Command::new("minisign")
        .arg("-Vm")
        .arg(cur.join("manifest.json"))
        .arg("-x")
        .arg(cur.join("manifest.minisig"))
        .arg("-p")
        .arg(&public)
        .output()
        .unwrap();
    assert!(v.status.success(), "{v:?}");
}

#[test]
fn attacks_are_refused_and_leave_installed_rules_unchanged() {
    let fx = Fixture::new();
    fx.env.file("t.bin", b"NEEDLE-V2 NEEDLE-V3");
    let v2 = fx.pack("v2", 2, &[("a.yar", &rule("pack_v2", "NEEDLE-V2"))]);
    let out = fx.install(&v2, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        matched_rules(&fx.env),
        (Some(2), vec!["pack_v2".to_string()])
    );

    // Re-installing the same pack is a no-op with exit 0.
    let before = fx.snapshot();
    let out = fx.install(&v2, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("already installed"));
    assert_eq!(fx.snapshot(), before);

    let good = fx.pack("v3", 3, &[("a.yar", &rule("pack_v3", "NEEDLE-V3"))]);
    let good_bytes = std::fs::read(&good).unwrap();
    let variant = |name: &str, bytes: &[u8]| {
        let p = fx.env.base().join(format!("{name}.pack"));
        std::fs::write(&p, bytes).unwrap();
        p
    };

    // A modified rule file (the last byte of the content).
    let mut b = good_bytes.clone();
    let n = b.len();
    b[n - 3] ^= 0x20;
    fx.refused(&variant("modfile", &b), "does not match its SHA-256");

    // A modified manifest: the version number, same length.
    let text = String::from_utf8_lossy(&good_bytes).into_owned();
    let pos = text.find("\"version\": 3").expect("manifest version");
    let mut b = good_bytes.clone();
    b[pos + 11] = b'9';
    fx.refused(&variant("modmanifest", &b), "signature does not verify");

    // Signed by a key the agent does not trust.
    let (other_sec, _) = minisign_key(fx.env.base(), "other", None);
    let other = Fixture {
        env: TestEnv::new(),
        sec: other_sec,
        public: fx.public.clone(),
    };
    let untrusted = other.pack("untrusted", 50, &[("a.yar", &rule("evil", "NEEDLE-V3"))]);
    fx.refused(&untrusted, "not a trusted publisher");

    // An older version.
    let v1 = fx.pack("v1", 1, &[("a.yar", &rule("pack_v1", "NEEDLE-V2"))]);
    fx.refused(&v1, "lower than the installed version 2");

    // A replay of the installed version with other content.
    let replay = fx.pack("replay", 2, &[("a.yar", &rule("pack_evil", "NEEDLE-V3"))]);
    fx.refused(&replay, "already installed with other content");

    // Truncated, at several points.
    for cut in [10, 40, good_bytes.len() / 2, good_bytes.len() - 1] {
        fx.refused(&variant("trunc", &good_bytes[..cut]), "truncated");
    }

    // Entries that escape or are not plain files.
    let r = rule("pack_x", "NEEDLE-V3");
    fx.refused(
        &fx.forged("dotdot", &[("../x.yar", "file", r.as_bytes())]),
        "\"../x.yar\" is refused",
    );
    fx.refused(
        &fx.forged("abs", &[("/etc/x.yar", "file", r.as_bytes())]),
        "\"/etc/x.yar\" is refused",
    );
    fx.refused(
        &fx.forged("symlink", &[("link.yar", "symlink", b"/etc/passwd")]),
        "only plain files",
    );
    fx.refused(
        &fx.forged(
            "dup",
            &[
                ("a.yar", "file", r.as_bytes()),
                ("A.yar", "file", r.as_bytes()),
            ],
        ),
        "duplicate entry",
    );
    // `kensa rules pack` itself refuses a symlink in the source directory.
    let src = fx.env.base().join("src-withlink");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.yar"), &r).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("b.yar")).unwrap();
    let out = fx.env.run([
        "rules".as_ref(),
        "pack".as_ref(),
        src.as_os_str(),
        "--version".as_ref(),
        "9".as_ref(),
        "--key".as_ref(),
        fx.sec.as_os_str(),
        "--out".as_ref(),
        fx.env.base().join("l.pack").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("symlinks are not allowed"),
        "{}",
        stderr(&out)
    );

    // A pack above the size cap (sparse, never read whole).
    let big = fx.env.base().join("big.pack");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(pack::MAX_PACK_SIZE + 1).unwrap();
    fx.refused(&big, "larger than the");

    // Rules that do not compile.
    let broken = fx.pack(
        "broken",
        4,
        &[
            ("ok.yar", &rule("pack_fine", "NEEDLE-V3")),
            ("bad.yar", "rule pack_broken { condition: no_such_thing }\n"),
        ],
    );
    fx.refused(&broken, "do not compile");
    assert!(!fx
        .env
        .state
        .join("rules/packs")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().starts_with("4-")));

    // Still the v2 rules after every refusal; then v3 installs.
    assert_eq!(
        matched_rules(&fx.env),
        (Some(2), vec!["pack_v2".to_string()])
    );
    let out = fx.install(&good, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        matched_rules(&fx.env),
        (Some(3), vec!["pack_v3".to_string()])
    );

    // A downgrade is possible only when asked for, and is recorded.
    let out = fx.install(&v2, &["--allow-downgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        matched_rules(&fx.env),
        (Some(2), vec!["pack_v2".to_string()])
    );
    let history = std::fs::read_to_string(fx.env.state.join("rules/history.jsonl")).unwrap();
    assert!(history
        .lines()
        .last()
        .unwrap()
        .contains("\"action\":\"downgrade\""));
}

#[test]
fn kill_during_install_never_leaves_a_half_installed_set() {
    let fx = Fixture::new();
    let rounds: u64 = 24;
    let mut content = Vec::new();
    for v in 1..=rounds + 1 {
        content.extend_from_slice(format!(" KILLTEST-{v} ").as_bytes());
    }
    fx.env.file("t.bin", &content);
    // Several files per pack so the install has many steps to interrupt.
    let packs: Vec<PathBuf> = (1..=rounds + 1)
        .map(|v| {
            let files: Vec<(String, String)> = (0..12)
                .map(|i| {
                    let needle = if i == 0 {
                        format!("KILLTEST-{v}")
                    } else {
                        format!("filler-{v}-{i}")
                    };
                    (
                        format!("d{}/r{i}.yar", i % 3),
                        rule(&format!("kill_v{v}_{i}"), &needle),
                    )
                })
                .collect();
            let refs: Vec<(&str, &str)> = files
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            fx.pack(&format!("k{v}"), v, &refs)
        })
        .collect();
    let t0 = std::time::Instant::now();
    let out = fx.install(&packs[0], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let full = t0.elapsed();

    let mut killed_old = 0;
    let mut killed_new = 0;
    let mut installed_version = 1;
    for (i, p) in packs.iter().enumerate().skip(1) {
        let v = i as u64 + 1;
        let delay = std::time::Duration::from_micros(
            getrandom::u64().unwrap() % (full.as_micros() as u64 * 3 / 2 + 1),
        );
        let mut child = fx
            .env
            .command()
            .args(["rules", "install"])
            .arg(p)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let status = fx.env.run(["rules", "status", "--format", "json"]);
        assert!(
            status.status.success(),
            "status after kill: {}",
            stderr(&status)
        );
        let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let now = s["pack"]["version"]
            .as_u64()
            .expect("a pack stays installed");
        assert!(
            now == installed_version || now == v,
            "version {now} after kill in round {v}"
        );
        if now == v {
            killed_new += 1;
        } else {
            killed_old += 1;
        }
        installed_version = now;
        // The scan loads exactly the rules of that version, all 12 files.
        let (_, recs) = fx.env.scan_json(&["--no-progress"]);
        let session = &of_type(&recs, "session")[0];
        assert_eq!(session["ruleset"]["pack_version"].as_u64(), Some(now));
        let bundled_and_pack = session["ruleset"]["rules"].as_u64().unwrap();
        let rules: Vec<String> = of_type(&recs, "finding")
            .iter()
            .flat_map(|f| rules_of(f))
            .collect();
        assert_eq!(rules, vec![format!("kill_v{now}_0")], "round {v}");
        assert_eq!(s["pack"]["rules"].as_u64(), Some(bundled_and_pack));
    }
    eprintln!(
        "kill -9 rounds: {} (full install {:?}); old set kept {killed_old}, new set in place {killed_new}",
        rounds, full
    );
    // A later install still works after all the interruptions.
    let last = fx.pack(
        "final",
        rounds + 10,
        &[("z.yar", &rule("final_rule", "KILLTEST-1"))],
    );
    let out = fx.install(&last, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let leftovers: Vec<_> = std::fs::read_dir(fx.env.state.join("rules/packs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The `rules_change` records in the agent journal under `state`, after
/// the whole chain (genesis, links, checkpoint signatures) verified.
fn journalled_rules_changes(state: &Path) -> Vec<serde_json::Value> {
    let public =
        kensa::keys::PublicKey::load(&kensa::state::StateDir::new(state).public_key()).unwrap();
    let dir = kensa::state::StateDir::new(state).journal_dir();
    kensa::journal::verify(&dir, &public).expect("journal chain verifies");
    kensa::journal::read_all(&dir)
        .unwrap()
        .map(|l| serde_json::from_slice::<serde_json::Value>(&l.unwrap().bytes).unwrap())
        .filter(|v| v["type"] == "rules_change")
        .collect()
}

#[test]
fn installs_and_downgrades_are_journalled_even_while_the_journal_is_held() {
    let fx = Fixture::new();
    // No agent key yet: the install creates it to record the change.
    assert!(!kensa::state::StateDir::new(fx.env.state.clone())
        .secret_key()
        .exists());
    let v1 = fx.pack("j1", 1, &[("a.yar", &rule("journal_v1", "JOURNAL-1"))]);
    let v2 = fx.pack("j2", 2, &[("a.yar", &rule("journal_v2", "JOURNAL-2"))]);
    let out = fx.install(&v1, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("created the agent key"));
    let changes = journalled_rules_changes(&fx.env.state);
    assert_eq!(changes.len(), 1, "{changes:?}");
    let c = &changes[0];
    assert_eq!(c["action"], "install");
    assert!(c["from"].is_null());
    assert_eq!(c["to"]["version"], 1);
    assert_eq!(c["to"]["digest"].as_str().unwrap().len(), 64);
    assert_eq!(
        c["publisher"].as_str().unwrap(),
        fx.signer().key_id_hex(),
        "{c}"
    );
    assert!(c["time"].as_str().is_some() && c["v"] == 1);

    let out = fx.install(&v2, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A downgrade while another process (standing in for the running
    // agent) holds the journal: the install waits, then queues the record,
    // and the holder journals it.
    let key = kensa::keys::SecretKey::load(
        &kensa::state::StateDir::new(fx.env.state.clone()).secret_key(),
    )
    .unwrap();
    let dir = kensa::state::StateDir::new(fx.env.state.clone()).journal_dir();
    let mut holder = kensa::journal::Journal::open(&dir, &key).unwrap();
    let t0 = std::time::Instant::now();
    let out = fx.install(&v1, &["--allow-downgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(t0.elapsed() >= std::time::Duration::from_secs(4));
    assert!(
        stderr(&out).contains("held by another kensa process"),
        "{}",
        stderr(&out)
    );
    assert_eq!(holder.drain_inbox().unwrap(), 1);
    drop(holder);
    let changes = journalled_rules_changes(&fx.env.state);
    let actions: Vec<(&str, u64, Option<u64>)> = changes
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap(),
                c["to"]["version"].as_u64().unwrap(),
                c["from"]["version"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("install", 1, None),
            ("install", 2, Some(1)),
            ("downgrade", 1, Some(2))
        ]
    );
    // Installing the same pack again changes nothing and records nothing.
    let out = fx.install(&v1, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(journalled_rules_changes(&fx.env.state).len(), 3);
}

/// Issue 12.6: a rule pack that cannot be loaded (damaged, or unreadable to
/// the user who scans) is never dropped silently: the scan is INCOMPLETE
/// (exit 2) with a `rules_incomplete` gap naming it, and `--strict` refuses
/// to scan at all. The verdict line names the rule set in use.
#[test]
fn a_rule_pack_that_cannot_be_loaded_is_never_a_clean_result() {
    let fx = Fixture::new();
    let pack = fx.pack("p1", 1, &[("a.yar", &rule("pack_rule_one", "NEEDLE-ONE"))]);
    let out = fx.install(&pack, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    fx.env.file("clean.txt", b"nothing to see");
    let out = fx.env.run(["scan".as_ref(), fx.env.root.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines().last().unwrap().starts_with("CLEAN ") && text.contains("(rule pack v1; "),
        "{text}"
    );

    // Damage the installed pack: its install record is gone.
    let rd = fx.env.state.join("rules");
    let current = rd.join(std::fs::read_link(rd.join("current")).unwrap());
    std::fs::remove_file(current.join("install.json")).unwrap();

    let (code, recs) = fx.env.scan_json(&[]);
    assert_eq!(code, 2, "{recs:?}");
    let gaps = of_type(&recs, "skip");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["reason"], "rules_incomplete");
    assert_eq!(gaps[0]["gap"], true);
    assert!(gaps[0]["path"].as_str().unwrap().ends_with("rules/current"));
    assert!(gaps[0]["detail"]
        .as_str()
        .unwrap()
        .contains("could not be loaded"));

    let out = fx.env.run(["scan".as_ref(), fx.env.root.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("INCOMPLETE ") && last.contains("no rule pack"),
        "{text}"
    );
    assert!(text.contains("rules_incomplete"), "{text}");

    let out = fx.env.run([
        "scan".as_ref(),
        "--strict".as_ref(),
        fx.env.root.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("rule pack could not be loaded"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "--strict scans nothing");
}

/// A rule file that fails to compile leaves the set smaller: the scan says
/// so as a gap, so a broken rule can never turn into a CLEAN verdict.
#[test]
fn a_rule_file_that_fails_to_compile_makes_the_scan_incomplete() {
    let env = TestEnv::new();
    let rules = env.base().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("good.yar"), rule("good_one", "GOOD-NEEDLE")).unwrap();
    std::fs::write(
        rules.join("broken.yar"),
        "rule broken { condition: nope }\n",
    )
    .unwrap();
    env.file("a.txt", b"plain");
    let rules_arg = rules.display().to_string();
    let (code, recs) = env.scan_json(&["--rules", &rules_arg]);
    assert_eq!(code, 2, "{recs:?}");
    let gaps = of_type(&recs, "skip");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["reason"], "rules_incomplete");
    assert!(gaps[0]["path"].as_str().unwrap().ends_with("broken.yar"));
}
