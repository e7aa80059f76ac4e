//! The Windows release artefacts of `packaging/windows/release.sh`
//! (`--no-build`: the kensa.exe the suite built): the zip holds exactly
//! kensa.exe, the bundled signatures, the example config and the README;
//! the MSI, installed by Wine's `msiexec /qn`, puts them into
//! `C:\Program Files\kensa`, where the installed kensa.exe finds the
//! signatures beside itself (no config) and finds EICAR; `msiexec /x`
//! removes them again.

use crate::support::{self, TestEnv};
use crate::wine::{text, win, zpath, LIMIT};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs release.sh into `out` and returns (zip, msi).
fn release(out: &Path) -> (PathBuf, PathBuf) {
    let mut c = Command::new(support::repo().join("packaging/windows/release.sh"));
    c.arg("--no-build").arg("--out").arg(out);
    let o = support::run_measured("release.sh", LIMIT, &mut c).output;
    assert!(o.status.success(), "release.sh: {}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    let pick = |ext: &str| {
        let p = printed
            .lines()
            .find(|l| l.starts_with('/') && l.ends_with(ext))
            .unwrap_or_else(|| panic!("no {ext} path printed: {printed}"));
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{} missing", p.display());
        p
    };
    (pick(".zip"), pick(".msi"))
}

fn zip_listing(zip: &Path) -> Vec<String> {
    let o = Command::new("unzip").arg("-Z1").arg(zip).output().unwrap();
    assert!(o.status.success(), "unzip -Z1: {}", text(&o));
    let mut names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(|l| l.split_once('/').map_or(l, |(_, rest)| rest).to_string())
        .collect();
    names.sort();
    names
}

fn expected_files() -> Vec<String> {
    let mut want = vec![
        "README.md".to_string(),
        "kensa.exe".into(),
        "kensa.toml".into(),
    ];
    for e in std::fs::read_dir(support::repo().join("signatures")).unwrap() {
        let e = e.unwrap();
        want.push(format!("signatures/{}", e.file_name().to_string_lossy()));
    }
    want.sort();
    want
}

fn msiexec(args: &[&str], label: &str) {
    let mut c = win().command_for(Path::new("msiexec"));
    c.args(args);
    let o = support::run_measured(label, LIMIT, &mut c).output;
    assert!(o.status.success(), "{label}: {}", text(&o));
}

#[test]
fn the_zip_and_the_msi_hold_kensa_and_the_signatures_and_the_msi_installs() {
    let env = TestEnv::new();
    let out = env.base().join("release");
    let (zip, msi) = release(&out);
    assert_eq!(zip_listing(&zip), expected_files());

    let installed = win().prefix.join("drive_c/Program Files/kensa");
    msiexec(&["/i", &zpath(&msi), "/qn"], "msiexec /i");
    let _uninstall = Uninstall(zpath(&msi));
    assert!(
        installed.join("kensa.exe").is_file(),
        "kensa.exe not installed"
    );
    for f in expected_files()
        .iter()
        .filter(|f| f.starts_with("signatures/"))
    {
        assert!(installed.join(f).is_file(), "{f} not installed");
    }
    assert!(installed.join("kensa.toml.example").is_file());

    // Wine 8 only: the ProcessPrng shim beside the installed exe (real
    // Windows has the DLL); taken away again before the uninstall.
    let shim = installed.join("bcryptprimitives.dll");
    std::fs::copy(win().bin.join("bcryptprimitives.dll"), &shim).unwrap();
    env.file("stick/eicar.com", &support::eicar());
    let mut c = win().command_for(&installed.join("kensa.exe"));
    c.args([
        "--state-dir",
        &zpath(&env.state),
        "scan",
        "--format",
        "json",
    ]);
    c.args(["--no-progress", &zpath(&env.root)]);
    let o = support::run_measured("installed kensa.exe scan", LIMIT, &mut c).output;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let recs = support::parse_lines(&o);
    let found = support::of_type(&recs, "finding");
    assert_eq!(found.len(), 1, "{}", text(&o));
    assert_eq!(found[0]["sha256"], support::EICAR_SHA256);

    std::fs::remove_file(&shim).unwrap();
    drop(_uninstall);
    assert!(
        !installed.join("kensa.exe").exists(),
        "msiexec /x left kensa.exe"
    );
}

/// Uninstalls the MSI when the test ends, also on failure.
struct Uninstall(String);

impl Drop for Uninstall {
    fn drop(&mut self) {
        let mut c = win().command_for(Path::new("msiexec"));
        c.args(["/x", &self.0, "/qn"]);
        let _ = support::run_measured("msiexec /x", LIMIT, &mut c);
    }
}
