//! End-to-end: OLE2 compound files (issue 14). Samples are built at test
//! time: `.doc`-like files, VBA projects (MS-OVBA compressed by our own
//! writer) and `.msg` files by `tests/support/ole2.rs` through the `cfb`
//! crate, the MSI by msitools' `msibuild` with a cabinet from `gcab`.
//! `kensa scan` must find EICAR (or a marker rule) with the member chain,
//! see VBA macro source as `$vba/<module>`, name MSI streams and `.msg`
//! attachments readably, and end a truncated file, a FAT cycle and deep
//! nesting with a recorded skip in bounded time.

use crate::support::chain;
use crate::support::{self, ole2 as o, TestEnv};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `kensa scan` of the tree with `extra` arguments, in under 10 s.
fn scan(env: &TestEnv, label: &str, extra: &[&str]) -> (i32, Vec<Value>) {
    let s = env.scan_bounded(label, extra, 512);
    (s.code, s.recs)
}

/// A finding whose chain is `file → members...`.
fn found(recs: &[Value], file: &Path, members: &[&str]) -> bool {
    let mut want = vec![file.display().to_string()];
    want.extend(members.iter().map(|m| m.to_string()));
    support::of_type(recs, "finding")
        .iter()
        .any(|f| chain(f) == want)
}

/// A rule file matching `marker` anywhere.
fn marker_rule(env: &TestEnv, marker: &str) -> String {
    let p = env.base().join("marker.yar");
    std::fs::write(
        &p,
        format!("rule Macro_Marker {{ strings: $m = \"{marker}\" condition: $m }}\n"),
    )
    .unwrap();
    p.display().to_string()
}

/// Runs a tool that must succeed; a missing tool fails the test naming
/// the Debian package (tests/run-all.sh installs it).
fn tool_ok(cmd: &mut Command, package: &str) {
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{cmd:?} not found: install the Debian package `{package}`")
        }
        Err(e) => panic!("{cmd:?}: {e}"),
    };
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn eicar_in_a_doc_stream_is_found_with_its_chain() {
    let env = TestEnv::new();
    let eicar = support::eicar();
    let doc = o::compound(&[
        ("/WordDocument", &eicar),
        ("/\u{5}SummaryInformation", b"summary"),
        ("/1Table", &[0u8; 700]),
    ]);
    let file = env.file("x.doc", &doc);
    let (code, recs) = scan(&env, "eicar.doc", &[]);
    assert!(found(&recs, &file, &["WordDocument"]), "{recs:#?}");
    assert_eq!(code, 1, "{recs:#?}");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn vba_macro_source_is_scanned_as_vba_module() {
    let env = TestEnv::new();
    let marker = "kensa_macro_marker_5c1e";
    let source = format!(
        "Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n  Shell \"cmd /c {marker}\"\r\nEnd Sub\r\n{}",
        "' padding so copy tokens are used\r\n".repeat(20)
    );
    let doc = o::doc_with_macro(source.as_bytes());
    assert!(
        !doc.windows(marker.len()).any(|w| w == marker.as_bytes()),
        "the marker must only be visible once decompressed"
    );
    let file = env.file("macro.doc", &doc);
    let rule = marker_rule(&env, marker);
    let (code, recs) = scan(&env, "macro.doc", &["--rules", &rule]);
    assert!(found(&recs, &file, &["$vba/Module1"]), "{recs:#?}");
    assert_eq!(support::of_type(&recs, "finding").len(), 1, "{recs:#?}");
    assert_eq!(code, 1);
}

#[test]
fn eicar_as_vba_source_is_found() {
    let env = TestEnv::new();
    let file = env.file("eicar-macro.doc", &o::doc_with_macro(&support::eicar()));
    let (code, recs) = scan(&env, "eicar-macro.doc", &[]);
    assert!(found(&recs, &file, &["$vba/Module1"]), "{recs:#?}");
    assert_eq!(code, 1);
}

#[test]
fn vba_project_bin_inside_a_docm_is_opened() {
    let env = TestEnv::new();
    let marker = "kensa_docm_marker_0b7d";
    let source = format!("Sub Document_Open()\r\n  MsgBox \"{marker}\"\r\nEnd Sub\r\n");
    let project = o::vba_project("/VBA", source.as_bytes());
    let refs: Vec<(&str, &[u8])> = project
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let bin = o::compound(&refs);
    let docm = support::archive::zip(&[support::archive::RawEntry::stored(
        "word/vbaProject.bin",
        &bin,
    )]);
    let file = env.file("x.docm", &docm);
    let rule = marker_rule(&env, marker);
    let (code, recs) = scan(&env, "x.docm", &["--rules", &rule]);
    assert!(
        found(&recs, &file, &["word/vbaProject.bin", "$vba/Module1"]),
        "{recs:#?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn msi_streams_have_decoded_names() {
    let env = TestEnv::new();
    let work = env.base().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("eicar.com"), support::eicar()).unwrap();
    tool_ok(
        Command::new("gcab")
            .args(["-c", "-z", "cab1.cab", "eicar.com"])
            .current_dir(&work),
        "gcab",
    );
    let msi = work.join("setup.msi");
    tool_ok(
        Command::new("msibuild").arg(&msi).args(["-s", "Setup"]),
        "msitools",
    );
    for (stream, file) in [("cab1.cab", "cab1.cab"), ("Binary.eicar", "eicar.com")] {
        tool_ok(
            Command::new("msibuild")
                .arg(&msi)
                .args(["-a", stream, file])
                .current_dir(&work),
            "msitools",
        );
    }
    let file = env.file("setup.msi", &std::fs::read(&msi).unwrap());
    // EICAR stored as a plain stream, under its decoded name.
    let (code, recs) = scan(&env, "setup.msi", &[]);
    assert!(found(&recs, &file, &["Binary.eicar"]), "{recs:#?}");
    assert_eq!(code, 1);
    // Every stream is listed under its decoded name (a rule matching all).
    let all = env.base().join("all.yar");
    std::fs::write(&all, "rule Any_Member { condition: true }\n").unwrap();
    let (_, recs) = scan(&env, "setup.msi all", &["--rules", all.to_str().unwrap()]);
    let mut names: Vec<String> = support::of_type(&recs, "finding")
        .iter()
        .filter_map(|f| chain(f).get(1).cloned())
        .collect();
    names.sort();
    for want in [
        "Binary.eicar",
        "cab1.cab",
        "\\x05SummaryInformation",
        "!_Tables",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
}

#[test]
fn msg_attachment_is_named_by_its_file_name() {
    let env = TestEnv::new();
    let msg = o::msg_with_attachment("eicar.com", &support::eicar());
    let file = env.file("mail.msg", &msg);
    let (code, recs) = scan(&env, "mail.msg", &[]);
    assert!(
        found(&recs, &file, &["__attach_version1.0_#00000000/eicar.com"]),
        "{recs:#?}"
    );
    assert_eq!(code, 1);
}

/// A corrupt-skip for the file and exit 2 (nothing found).
fn assert_corrupt(code: i32, recs: &[Value], name: &str) {
    let corrupt = support::of_type(recs, "skip")
        .into_iter()
        .any(|s| s["reason"] == "corrupt" && s["path"].as_str().unwrap().contains(name));
    assert!(corrupt, "{name}: no corrupt skip: {recs:#?}");
    assert_eq!(code, 2, "{name}: {recs:#?}");
}

#[test]
fn truncated_and_fat_cycle_files_end_with_a_corrupt_skip() {
    let env = TestEnv::new();
    let doc = o::compound(&[("/WordDocument", &vec![b'w'; 20_000])]);
    env.file("cut.doc", &doc[..doc.len() / 2]);
    // Point the FAT entry of the stream's last sector back at its first.
    let mut cyclic = doc.clone();
    let u32_at = |d: &[u8], at: usize| u32::from_le_bytes(d[at..at + 4].try_into().unwrap());
    let sector = 1usize << u16::from_le_bytes([doc[0x1e], doc[0x1f]]);
    let fat = sector * (u32_at(&doc, 0x4c) as usize + 1);
    let entries: Vec<u32> = (0..sector / 4).map(|i| u32_at(&doc, fat + 4 * i)).collect();
    let first = (0..entries.len() as u32)
        .find(|&s| entries[s as usize] <= 0xffff_fffa && !entries.contains(&s))
        .unwrap();
    let mut last = first as usize;
    while entries[last] <= 0xffff_fffa {
        last = entries[last] as usize;
    }
    cyclic[fat + 4 * last..fat + 4 * last + 4].copy_from_slice(&first.to_le_bytes());
    env.file("cycle.doc", &cyclic);
    let (code, recs) = scan(&env, "cut.doc+cycle.doc", &[]);
    assert_corrupt(code, &recs, "cut.doc");
    assert_corrupt(code, &recs, "cycle.doc");
}

#[test]
fn ole_nested_twenty_deep_stops_at_the_depth_limit() {
    let env = TestEnv::new();
    env.file("deep.doc", &o::nested(20, &support::eicar()));
    let (code, recs) = scan(&env, "deep.doc", &[]);
    let limit = support::of_type(&recs, "skip").into_iter().any(|s| {
        s["reason"] == "archive_limit" && s["detail"].as_str().unwrap().starts_with("max_depth")
    });
    assert!(limit, "no depth-limit skip: {recs:#?}");
    assert!(
        support::of_type(&recs, "finding")
            .iter()
            .any(|f| f["matches"][0]["rule"] == "archive_depth_bomb"),
        "{recs:#?}"
    );
    assert_eq!(code, 1);
}
