//! Files a user or a medium supplies are read through one capped reader that
//! refuses anything but a regular file before reading a byte: a bundle, its
//! signature, a public key or a configuration that is a FIFO (which would
//! block forever) or a link to `/dev/zero` (which never ends) is an error at
//! once, never a hang or gigabytes of memory.

use crate::support::{data, run_measured, TestEnv};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `cmd` with its peak memory printed, killing it after 20 s (a hang
/// fails the test, it does not stall the suite).
fn run_bounded(cmd: &mut Command) -> (Output, Duration) {
    let t = Instant::now();
    let label = format!("{:?}", cmd.get_args().skip(4).collect::<Vec<_>>());
    let m = run_measured(&label, Duration::from_secs(20), cmd);
    (m.output, t.elapsed())
}

fn fifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string naming a new FIFO in a temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Copies the fixture bundle (tests/data/bundle-v1) into `dir`; returns
/// its path and the agent's public key.
fn fixture_bundle(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = data().join("bundle-v1");
    let mut bundle = None;
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".jsonl") {
            bundle = Some(dir.join(&name));
        }
        std::fs::copy(&p, dir.join(&name)).unwrap();
    }
    (
        bundle.expect("a bundle in the fixture"),
        dir.join("agent.pub"),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn hostile_signature_files_are_refused_at_once() {
    let env = TestEnv::new();
    let dir = env.base().join("stick");
    std::fs::create_dir_all(&dir).unwrap();
    let (bundle, pubkey) = fixture_bundle(&dir);
    let out = env.run(["trust".as_ref(), "add".as_ref(), pubkey.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sig = dir.join(format!(
        "{}.minisig",
        bundle.file_name().unwrap().to_string_lossy()
    ));
    for (what, make) in [("link to /dev/zero", 0), ("FIFO", 1)] {
        std::fs::remove_file(&sig).unwrap();
        if make == 0 {
            std::os::unix::fs::symlink("/dev/zero", &sig).unwrap();
        } else {
            fifo(&sig);
        }
        for verb in ["import", "verify"] {
            let mut cmd = env.command();
            cmd.arg(verb).arg(&bundle);
            if verb == "verify" {
                cmd.arg("--pubkey").arg(&pubkey);
            }
            let (out, took) = run_bounded(&mut cmd);
            let t = text(&out);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{verb} with a {what} signature: {t}"
            );
            assert!(t.contains("REFUSED"), "{t}");
            assert!(t.contains("not a regular file"), "{verb}, {what}: {t}");
            assert!(took < Duration::from_secs(5), "{verb}, {what}: {took:?}");
        }
    }
}

#[test]
fn a_fifo_bundle_is_refused_at_once() {
    let env = TestEnv::new();
    let dir = env.base().join("stick");
    std::fs::create_dir_all(&dir).unwrap();
    let (bundle, pubkey) = fixture_bundle(&dir);
    env.run(["trust".as_ref(), "add".as_ref(), pubkey.as_os_str()]);
    std::fs::remove_file(&bundle).unwrap();
    fifo(&bundle);
    let (out, _) = run_bounded(env.command().arg("import").arg(&bundle));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    let (out, _) = run_bounded(
        env.command()
            .arg("verify")
            .arg(&bundle)
            .arg("--pubkey")
            .arg(&pubkey),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
}

#[test]
fn hostile_keys_and_configs_are_errors_at_once() {
    let env = TestEnv::new();
    let zero = env.base().join("zero.pub");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let pipe = env.base().join("pipe.toml");
    fifo(&pipe);
    let cases: Vec<(&str, Command)> = vec![
        ("trust add /dev/zero", {
            let mut c = env.command();
            c.args(["trust".as_ref(), "add".as_ref(), zero.as_os_str()]);
            c
        }),
        ("rules trust FIFO", {
            let mut c = env.command();
            c.args(["rules".as_ref(), "trust".as_ref(), pipe.as_os_str()]);
            c
        }),
        ("verify --pubkey /dev/zero", {
            let mut c = env.command();
            c.args([
                "verify".as_ref(),
                "x.jsonl".as_ref(),
                "--pubkey".as_ref(),
                zero.as_os_str(),
            ]);
            c
        }),
        ("--config FIFO", {
            let mut c = std::process::Command::new(crate::support::kensa_bin());
            c.arg("--state-dir")
                .arg(&env.state)
                .arg("--config")
                .arg(&pipe)
                .arg("status");
            c
        }),
    ];
    for (what, mut cmd) in cases {
        let (out, took) = run_bounded(&mut cmd);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {t}");
        assert!(
            t.contains("not a regular file"),
            "{what}: the error says why: {t}"
        );
        assert!(took < Duration::from_secs(5), "{what}: {took:?}");
    }
}
