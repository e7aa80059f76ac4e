//! End-to-end: containers that do not start at offset 0 (issue 11 point 1).
//! Each hostile case is built with the real tool where one exists (`zip`,
//! `zip -A`, GNU `tar --format=v7`, `7zz`), the same tool (`unzip -p`,
//! `tar -xOf`, `7zz e -so`) proves EICAR really comes out of the file, and
//! `kensa scan` must report it with the member in the chain (exit 1). A RAR
//! is opened at offset 0 and in a PE overlay alike; one kensa cannot read
//! (the first part of a multi-volume set) must be a gap (exit 2), never
//! clean. Stubs without an archive stay clean: detection must not invent
//! containers.

use crate::support::chain;
use crate::support::{self, archive as a, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Runs a system tool; a missing tool fails the test with the package to
/// install (tests/run-all.sh installs them).
fn tool(cmd: &mut Command, package: &str) -> Output {
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{cmd:?} not found: install the Debian package `{package}`")
        }
        Err(e) => panic!("{cmd:?}: {e}"),
    }
}

/// Runs a tool that must succeed.
fn tool_ok(cmd: &mut Command, package: &str) {
    let out = tool(cmd, package);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A work folder outside the scanned tree holding `eicar.com`.
fn work(env: &TestEnv) -> PathBuf {
    let w = env.base().join("work");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::write(w.join("eicar.com"), support::eicar()).unwrap();
    w
}

/// `zip` of `eicar.com`, as the zip tool writes it.
fn eicar_zip(env: &TestEnv) -> Vec<u8> {
    let w = work(env);
    tool_ok(
        Command::new("zip")
            .args(["-q", "-X", "x.zip", "eicar.com"])
            .current_dir(&w),
        "zip",
    );
    std::fs::read(w.join("x.zip")).unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `kensa scan` of the tree, peak RSS printed under `label`.
fn scan(env: &TestEnv, label: &str) -> (i32, Vec<Value>) {
    let mut cmd = env.command();
    cmd.args(["scan", "--format", "json", "--no-progress"])
        .arg(&env.root);
    let m = support::run_measured(label, Duration::from_secs(60), &mut cmd);
    assert!(
        m.peak_kib < 256 * 1024,
        "{label}: peak RSS {} KiB",
        m.peak_kib
    );
    (
        m.output.status.code().unwrap_or(-1),
        support::parse_lines(&m.output),
    )
}

/// Exit 1 and an EICAR finding whose chain is `file → member`.
fn assert_member_found(code: i32, recs: &[Value], file: &Path, member: &str) {
    let want = vec![file.display().to_string(), member.to_string()];
    let findings = support::of_type(recs, "finding");
    assert!(
        findings.iter().any(|f| chain(f) == want),
        "no finding with chain {want:?}: {recs:#?}"
    );
    assert_eq!(code, 1, "{recs:#?}");
}

/// `unzip -p FILE eicar.com` prints EICAR (it warns and exits 1 on extra
/// bytes before the archive, so only the output is checked).
fn assert_unzip_extracts(file: &Path) {
    let out = tool(
        Command::new("unzip").arg("-p").arg(file).arg("eicar.com"),
        "unzip",
    );
    assert_eq!(
        out.stdout,
        support::eicar(),
        "unzip -p {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn zip_appended_to_a_pe_stub_is_found_with_adjusted_and_raw_offsets() {
    let env = TestEnv::new();
    let zip = eicar_zip(&env);
    let raw = env.file("raw-sfx.exe", &cat(&[&a::pe_stub(), &zip]));
    let adjusted = env.file("sfx.exe", &cat(&[&a::pe_stub(), &zip]));
    // zip -A: offsets rewritten to count from the start of the stub.
    tool_ok(Command::new("zip").arg("-A").arg(&adjusted), "zip");
    assert_ne!(
        std::fs::read(&adjusted).unwrap(),
        std::fs::read(&raw).unwrap()
    );
    assert_unzip_extracts(&raw);
    assert_unzip_extracts(&adjusted);
    let (code, recs) = scan(&env, "zip in PE overlay");
    assert_member_found(code, &recs, &raw, "eicar.com");
    assert_member_found(code, &recs, &adjusted, "eicar.com");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn zip_and_zip64_behind_a_shell_script_stub_are_found() {
    let env = TestEnv::new();
    let zip = eicar_zip(&env);
    // zip -fz: the same with zip64 end records (the end record's fields
    // are 0xffff..., the real ones are in the zip64 record).
    tool_ok(
        Command::new("zip")
            .args(["-q", "-X", "-fz", "x64.zip", "eicar.com"])
            .current_dir(work(&env)),
        "zip",
    );
    let zip64 = std::fs::read(env.base().join("work/x64.zip")).unwrap();
    assert!(
        zip64.windows(4).any(|w| w == b"PK\x06\x07"),
        "no zip64 locator"
    );
    let stub = b"#!/bin/sh\n# self-extracting installer\nunzip -o \"$0\" -d /tmp/x\nexit 0\n";
    let f = env.file("install.sh", &cat(&[stub, &zip]));
    let f64 = env.file("install64.sh", &cat(&[stub, &zip64]));
    assert_unzip_extracts(&f);
    assert_unzip_extracts(&f64);
    let (code, recs) = scan(&env, "zip behind shell stub");
    assert_member_found(code, &recs, &f, "eicar.com");
    assert_member_found(code, &recs, &f64, "eicar.com");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn a_self_extracting_exe_inside_a_zip_is_opened_too() {
    let env = TestEnv::new();
    let sfx = cat(&[&a::pe_stub(), &eicar_zip(&env)]);
    let outer = env.file(
        "tools.zip",
        &a::zip(&[a::RawEntry::deflated("bin/setup.exe", &sfx)]),
    );
    let (code, recs) = scan(&env, "sfx in zip");
    let want = vec![
        outer.display().to_string(),
        "bin/setup.exe".to_string(),
        "eicar.com".to_string(),
    ];
    assert!(
        support::of_type(&recs, "finding")
            .iter()
            .any(|f| chain(f) == want),
        "no finding with chain {want:?}: {recs:#?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn limits_hold_for_archives_behind_a_stub() {
    let env = TestEnv::new();
    let stub = b"#!/bin/sh\nexit 0\n";
    let overlap = env.file("overlap.sh", &cat(&[stub, &a::overlap_bomb(8 << 20, 4000)]));
    let deep = env.file("deep.exe", &cat(&[&a::pe_stub(), &a::deep_zip(20)]));
    let (code, recs) = scan(&env, "bombs behind stubs");
    assert_eq!(code, 1, "{recs:#?}");
    for (file, rule) in [
        (&overlap, "zip_overlapping_entries"),
        (&deep, "archive_depth_bomb"),
    ] {
        let p = file.display().to_string();
        let mine = |r: &Value| r["path"].as_str().unwrap().starts_with(p.as_str());
        let findings = support::of_type(&recs, "finding");
        let f = findings
            .iter()
            .filter(|r| mine(r))
            .find(|f| f["matches"][0]["rule"] == rule)
            .unwrap_or_else(|| panic!("{p}: no {rule}: {recs:#?}"));
        assert_eq!(f["verdict"], "suspicious");
        assert!(
            support::of_type(&recs, "skip")
                .iter()
                .filter(|r| mine(r))
                .any(|s| s["reason"] == "archive_limit" && s["gap"] == true),
            "{p}: no archive_limit skip"
        );
    }
}

#[test]
fn zip_behind_a_spanning_marker_is_found() {
    let env = TestEnv::new();
    let zip = eicar_zip(&env);
    let pk00 = env.file("pk00.zip", &cat(&[b"PK00", &zip]));
    let pk78 = env.file("pk0708.zip", &cat(&[b"PK\x07\x08", &zip]));
    assert_unzip_extracts(&pk00);
    assert_unzip_extracts(&pk78);
    let (code, recs) = scan(&env, "zip behind spanning marker");
    assert_member_found(code, &recs, &pk00, "eicar.com");
    assert_member_found(code, &recs, &pk78, "eicar.com");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn pre_posix_v7_tar_is_found_by_its_header_checksum() {
    let env = TestEnv::new();
    let w = work(&env);
    std::fs::write(w.join("notes.txt"), b"plain text first").unwrap();
    let f = env.root.join("old.tar");
    tool_ok(
        Command::new("tar")
            .args(["--format=v7", "-cf"])
            .arg(&f)
            .args(["notes.txt", "eicar.com"])
            .current_dir(&w),
        "tar",
    );
    let bytes = std::fs::read(&f).unwrap();
    assert_ne!(&bytes[257..262], b"ustar", "tar wrote a ustar header");
    let out = tool(
        Command::new("tar").arg("-xOf").arg(&f).arg("eicar.com"),
        "tar",
    );
    assert_eq!(out.stdout, support::eicar(), "tar -xOf");
    let (code, recs) = scan(&env, "v7 tar");
    assert_member_found(code, &recs, &f, "eicar.com");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn sevenz_in_a_pe_overlay_is_found() {
    let env = TestEnv::new();
    let w = work(&env);
    tool_ok(
        Command::new("7zz")
            .args(["a", "-bd", "-bso0", "x.7z", "eicar.com"])
            .current_dir(&w),
        "7zip",
    );
    let sz = std::fs::read(w.join("x.7z")).unwrap();
    let f = env.file("setup.exe", &cat(&[&a::pe_stub(), &sz]));
    // 7-Zip opens the archive in the overlay of the executable.
    let out = tool(
        Command::new("7zz")
            .args(["e", "-so"])
            .arg(&f)
            .arg("eicar.com"),
        "7zip",
    );
    assert_eq!(out.stdout, support::eicar(), "7zz e -so");
    let (code, recs) = scan(&env, "7z in PE overlay");
    assert_member_found(code, &recs, &f, "eicar.com");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

/// The first volume of a RAR set (its member continues in the next
/// volume, which is not on hand): a RAR kensa cannot read.
fn rar_part1(version: rars::ArchiveVersion) -> Vec<u8> {
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 13) as u8).collect();
    support::rar::first_volume(
        support::rar::Opts::new(version),
        &[("big.bin", &data)],
        1024,
    )
}

#[test]
fn rar_at_offset_0_or_in_a_pe_overlay_is_opened_and_an_unreadable_one_is_a_gap() {
    use rars::ArchiveVersion as V;
    let env = TestEnv::new();
    // Empty archives (no members): opened, nothing to scan, no gap.
    env.file("a5.rar", &a::rar5());
    env.file("a4.rar", &a::rar4());
    env.file("rar5-sfx.exe", &cat(&[&a::pe_stub(), &a::rar5()]));
    env.file("rar4-sfx.exe", &cat(&[&a::pe_stub(), &a::rar4()]));
    let files = [
        env.file("v5.part1.rar", &rar_part1(V::Rar50)),
        env.file("v4.part1.rar", &rar_part1(V::Rar40)),
        env.file("v5-sfx.exe", &cat(&[&a::pe_stub(), &rar_part1(V::Rar50)])),
        env.file("v4-sfx.exe", &cat(&[&a::pe_stub(), &rar_part1(V::Rar40)])),
    ];
    let (code, recs) = scan(&env, "rar");
    assert_eq!(code, 2, "{recs:#?}");
    let skips = support::of_type(&recs, "skip");
    for f in &files {
        let p = f.display().to_string();
        // The skip names the split member: its chain starts at the file.
        let s = skips
            .iter()
            .find(|s| s["path"] == p.as_str() || s["chain"][0] == p.as_str())
            .unwrap_or_else(|| panic!("no skip for {p}: {recs:#?}"));
        assert_eq!(s["reason"], "unsupported_container", "{s}");
        assert_eq!(s["gap"], true, "{s}");
        assert!(s["detail"].as_str().unwrap().contains("rar"), "{s}");
    }
    assert_eq!(skips.len(), files.len(), "{recs:#?}");
}

#[test]
fn a_site_may_ignore_unsupported_containers_and_the_session_says_so() {
    let env = TestEnv::new();
    env.file("v5.part1.rar", &rar_part1(rars::ArchiveVersion::Rar50));
    std::fs::write(&env.config, "[archive]\nunsupported = \"ignore\"\n").unwrap();
    let (code, recs) = scan(&env, "rar-ignored");
    assert_eq!(code, 0, "{recs:#?}");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
    let session = support::of_type(&recs, "session");
    assert_eq!(session[0]["archive_unsupported"], "ignore", "{session:?}");
    // The default records the gap and leaves the session field out.
    std::fs::write(&env.config, "[archive]\nunsupported = \"gap\"\n").unwrap();
    let (code, recs) = scan(&env, "rar-gap");
    assert_eq!(code, 2, "{recs:#?}");
    assert!(support::of_type(&recs, "session")[0]
        .get("archive_unsupported")
        .is_none());
    std::fs::write(&env.config, "[archive]\nunsupported = \"maybe\"\n").unwrap();
    let out = env.run([
        "scan".as_ref(),
        "--no-progress".as_ref(),
        env.root.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2), "a bad value is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported"), "{err}");
}

#[test]
fn stubs_and_look_alikes_without_an_archive_stay_clean() {
    let env = TestEnv::new();
    env.file("plain.exe", &a::pe_stub());
    env.file("script.sh", b"#!/bin/sh\necho PK\\x05\\x06\nexit 0\n");
    // An end-of-central-directory signature with nothing behind it.
    let mut fake_eocd = vec![b'x'; 300];
    fake_eocd.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0\x10\0\0\0\0\0");
    env.file("fake-eocd.bin", &fake_eocd);
    // Signatures in a PE overlay without a valid header behind them.
    env.file(
        "fake-sfx.exe",
        &cat(&[
            &a::pe_stub(),
            b"7z\xbc\xaf\x27\x1c\0\x04garbage",
            b"Rar!\x1a\x07\x01\0junk",
        ]),
    );
    // A 512-byte block that looks like a tar header but whose checksum is
    // wrong.
    let mut not_tar = vec![0u8; 1024];
    not_tar[..8].copy_from_slice(b"file.txt");
    not_tar[124..135].copy_from_slice(b"00000000104");
    not_tar[148..155].copy_from_slice(b"001234\0");
    env.file("not-a-tar.bin", &not_tar);
    let (code, recs) = scan(&env, "look-alikes");
    assert_eq!(code, 0, "{recs:#?}");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}
