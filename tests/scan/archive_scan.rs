//! End-to-end: `kensa scan` on archives generated at test time. Findings
//! inside archives carry the member chain (list field and ` → ` path), bombs
//! exit 1 with a `suspicious` finding, limits exit 2 with `archive_limit`
//! skips, and nothing from an archive reaches the disk.

use crate::support::chain;
use crate::support::{self, archive as a};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("tree")).unwrap();
        std::fs::create_dir_all(tmp.path().join("state")).unwrap();
        std::fs::write(tmp.path().join("kensa.toml"), "").unwrap();
        Env { tmp }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("tree")
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.root().join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    /// `kensa scan --format json ROOT EXTRA...`: exit code and records.
    fn scan(&self, extra: &[&str]) -> (i32, Vec<Value>, Duration) {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_kensa"))
            .arg("--state-dir")
            .arg(self.tmp.path().join("state"))
            .arg("--config")
            .arg(self.tmp.path().join("kensa.toml"))
            .args(["scan", "--format", "json", "--no-progress"])
            .args(extra)
            .arg(self.root())
            .current_dir(self.tmp.path())
            .output()
            .expect("run kensa");
        let recs = support::parse_lines(&out);
        (out.status.code().unwrap_or(-1), recs, t.elapsed())
    }
}

fn of_type<'a>(recs: &'a [Value], t: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["type"] == t).collect()
}

fn tree_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(tree_files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn eicar_in_zip_in_tar_gz_is_found_with_chain() {
    let env = Env::new();
    let outer = env.file("outer.tar.gz", &a::eicar_zip_in_tar_gz());
    let (code, recs, _) = env.scan(&[]);
    assert_eq!(code, 1, "{recs:?}");
    let findings = of_type(&recs, "finding");
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = findings[0];
    let outer = outer.display().to_string();
    assert_eq!(
        chain(f),
        vec![
            outer.clone(),
            "docs/inner.zip".into(),
            "inner/payload.com".into()
        ]
    );
    assert_eq!(
        f["path"],
        format!("{outer} → docs/inner.zip → inner/payload.com")
    );
    assert_eq!(f["size"], 68);
    assert_eq!(f["verdict"], "malicious");
    assert!(of_type(&recs, "skip").is_empty(), "{recs:?}");
}

#[test]
fn eicar_in_docx_is_found() {
    let env = Env::new();
    env.file("report.docx", &a::eicar_docx());
    let (code, recs, _) = env.scan(&[]);
    assert_eq!(code, 1);
    let f = of_type(&recs, "finding")[0];
    assert!(f["path"]
        .as_str()
        .unwrap()
        .ends_with("report.docx → word/embeddings/oleObject1.bin"));
}

#[test]
fn no_archives_flag_scans_archives_as_plain_files() {
    let env = Env::new();
    env.file("report.docx", &a::eicar_docx());
    let (code, recs, _) = env.scan(&["--no-archives"]);
    assert_eq!(code, 0, "{recs:?}");
}

#[test]
fn bombs_exit_1_with_suspicious_findings_in_bounded_time() {
    for (name, data, rule) in [
        (
            "nested.zip",
            a::nested_bomb(3, 8, 32 << 20),
            "archive_ratio_bomb",
        ),
        (
            "overlap.zip",
            a::overlap_bomb(8 << 20, 4000),
            "zip_overlapping_entries",
        ),
        (
            "ratio.zip",
            a::high_ratio_zip(1 << 30),
            "archive_ratio_bomb",
        ),
        ("deep.zip", a::deep_zip(20), "archive_depth_bomb"),
    ] {
        let env = Env::new();
        env.file(name, &data);
        let (code, recs, took) = env.scan(&[]);
        assert_eq!(code, 1, "{name}: {recs:?}");
        assert!(took < Duration::from_secs(10), "{name}: {took:?}");
        let findings = of_type(&recs, "finding");
        let f = findings
            .iter()
            .find(|f| f["matches"][0]["rule"] == rule)
            .unwrap_or_else(|| panic!("{name}: no {rule} in {findings:?}"));
        assert_eq!(f["verdict"], "suspicious");
        assert_eq!(f["matches"][0]["kind"], "archive");
        let limits: Vec<_> = of_type(&recs, "skip")
            .into_iter()
            .filter(|s| s["reason"] == "archive_limit")
            .collect();
        assert!(!limits.is_empty(), "{name}: no archive_limit skip");
        assert!(limits.iter().all(|s| s["gap"] == true));
    }
}

#[test]
fn member_limit_exits_2() {
    let env = Env::new();
    env.file("empty.zip", &a::many_empty(100_000));
    let (code, recs, took) = env.scan(&[]);
    assert_eq!(code, 2, "{recs:?}");
    assert!(took < Duration::from_secs(10));
    let s = of_type(&recs, "skip");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["reason"], "archive_limit");
    assert!(s[0]["detail"].as_str().unwrap().starts_with("max_members"));
}

#[test]
fn limits_come_from_config_and_flags() {
    let env = Env::new();
    env.file("n.tar.gz", &a::eicar_zip_in_tar_gz());
    // Depth 1 opens the gzip only; the tar inside is not opened.
    let (code, recs, _) = env.scan(&["--archive-max-depth", "1"]);
    assert_eq!(code, 1, "depth bomb heuristic: {recs:?}");
    assert!(of_type(&recs, "skip")
        .iter()
        .any(|s| s["detail"].as_str().unwrap().starts_with("max_depth (1)")));
    std::fs::write(
        env.tmp.path().join("kensa.toml"),
        "[archive]\nmax_member_size = \"1K\"\n",
    )
    .unwrap();
    let (code, recs, _) = env.scan(&[]);
    assert_eq!(code, 2, "{recs:?}");
    assert!(of_type(&recs, "skip")
        .iter()
        .any(|s| s["detail"].as_str().unwrap().starts_with("max_member_size")));
}

#[test]
fn truncated_and_lying_zips_are_scanned_as_far_as_readable() {
    let env = Env::new();
    env.file("cut.zip", &a::truncated());
    env.file("liar.zip", &a::lying_sizes());
    let (code, recs, _) = env.scan(&[]);
    assert_eq!(code, 1);
    let mut found: Vec<String> = of_type(&recs, "finding")
        .iter()
        .map(|f| chain(f).last().unwrap().clone())
        .collect();
    found.sort();
    assert_eq!(
        found,
        ["claims-4-GiB.com", "claims-4-bytes.com", "first.com"]
    );
    assert!(of_type(&recs, "skip")
        .iter()
        .any(|s| s["reason"] == "corrupt" && s["path"].as_str().unwrap().contains("cut.zip")));
}

#[test]
fn hostile_member_names_stay_data() {
    let env = Env::new();
    env.file("names.zip", &a::hostile_names());
    let before = tree_files(env.tmp.path());
    let (code, recs, _) = env.scan(&[]);
    assert_eq!(code, 1);
    let mut names: Vec<String> = of_type(&recs, "finding")
        .iter()
        .map(|f| chain(f).last().unwrap().clone())
        .collect();
    names.sort();
    // Carried in the one injective text form (controls and backslashes
    // escaped), which decodes back to the exact name.
    let mut expected: Vec<String> = a::HOSTILE_NAMES
        .iter()
        .map(|s| kensa::engine::pathfmt::bytes_to_string(s.as_bytes()))
        .collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "names carried losslessly in the JSON chain"
    );
    for n in &names {
        let raw = kensa::engine::pathfmt::decode(n).unwrap();
        assert!(a::HOSTILE_NAMES.iter().any(|h| h.as_bytes() == raw));
        assert!(!n.chars().any(char::is_control), "{n:?}");
    }
    // Nothing was extracted anywhere near the scan.
    let after: Vec<PathBuf> = tree_files(env.tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with(env.tmp.path().join("state")))
        .collect();
    let before: Vec<PathBuf> = before
        .into_iter()
        .filter(|p| !p.starts_with(env.tmp.path().join("state")))
        .collect();
    assert_eq!(before, after);
    assert!(!Path::new("/etc/x").exists());
}
