//! End-to-end: RAR 4 and RAR 5 archives (issue 14), written at test time
//! by the `rars` crate's writer (tests/support/rar.rs; Debian main has no
//! RAR compressor). EICAR inside a stored, compressed or solid archive, in
//! either family and behind a PE stub (an SFX), is found with its chain;
//! encrypted members and encrypted headers are `encrypted` skips (no
//! password is tried); a truncated archive is a `corrupt` skip, a member
//! declaring a 4 GiB dictionary a bounded `archive_limit` skip, and the
//! first part of a multi-volume set an `unsupported_container` skip, each
//! in bounded time and memory.

use crate::support::chain;
use crate::support::{self, archive as a, rar as r, TestEnv};
use rars::ArchiveVersion as V;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `kensa scan` of the tree: exit code and records, in under 10 s and
/// 256 MiB of peak RSS.
fn scan(env: &TestEnv, label: &str) -> (i32, Vec<Value>) {
    let s = env.scan_bounded(label, &[], 256);
    (s.code, s.recs)
}

fn has_finding(recs: &[Value], file: &Path, member: &str) -> bool {
    let want = vec![file.display().to_string(), member.to_string()];
    support::of_type(recs, "finding")
        .iter()
        .any(|f| chain(f) == want)
}

/// The skip records of `file` and of its members.
fn skips_of<'a>(recs: &'a [Value], file: &Path) -> Vec<&'a Value> {
    let p = file.display().to_string();
    support::of_type(recs, "skip")
        .into_iter()
        .filter(|s| {
            s["path"] == p.as_str() || chain(s).first().map(String::as_str) == Some(p.as_str())
        })
        .collect()
}

fn eicar_files() -> (Vec<u8>, Vec<u8>) {
    let text = b"kensa rar test\n".repeat(200);
    (text, support::eicar())
}

#[test]
fn eicar_in_stored_compressed_and_solid_rar4_and_rar5_is_found_with_its_chain() {
    let env = TestEnv::new();
    let (text, eicar) = eicar_files();
    let files: [(&str, &[u8]); 2] = [("readme.txt", &text), ("eicar.com", &eicar)];
    let mut written: Vec<PathBuf> = Vec::new();
    for (version, tag) in [(V::Rar50, "rar5"), (V::Rar40, "rar4"), (V::Rar29, "rar29")] {
        for (store, solid, mode) in [
            (true, false, "stored"),
            (false, false, "compressed"),
            (false, true, "solid"),
        ] {
            let o = r::Opts {
                version,
                store,
                solid,
            };
            let data = r::archive(o, &files);
            assert!(data.starts_with(b"Rar!\x1a\x07"), "{tag} {mode}");
            written.push(env.file(format!("{tag}-{mode}.rar"), &data));
        }
    }
    let (code, recs) = scan(&env, "rar members");
    for f in &written {
        assert!(has_finding(&recs, f, "eicar.com"), "{f:?}: {recs:#?}");
    }
    assert_eq!(code, 1, "{recs:#?}");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn rar_sfx_behind_a_pe_stub_is_found() {
    let env = TestEnv::new();
    let (text, eicar) = eicar_files();
    let files: [(&str, &[u8]); 2] = [("readme.txt", &text), ("eicar.com", &eicar)];
    let five = r::archive(r::Opts::new(V::Rar50), &files);
    let four = r::archive(r::Opts::new(V::Rar40), &files);
    let sfx5 = env.file("rar5-sfx.exe", &[a::pe_stub(), five].concat());
    let sfx4 = env.file("rar4-sfx.exe", &[a::pe_stub(), four].concat());
    let (code, recs) = scan(&env, "rar sfx");
    assert!(has_finding(&recs, &sfx5, "eicar.com"), "{recs:#?}");
    assert!(has_finding(&recs, &sfx4, "eicar.com"), "{recs:#?}");
    assert_eq!(code, 1, "{recs:#?}");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn encrypted_members_and_encrypted_headers_are_encrypted_skips() {
    let env = TestEnv::new();
    let (_, eicar) = eicar_files();
    let files: [(&str, &[u8]); 1] = [("eicar.com", &eicar)];
    let cases = [
        env.file(
            "data5.rar",
            &r::encrypted(r::Opts::new(V::Rar50), &files, false),
        ),
        env.file(
            "data4.rar",
            &r::encrypted(r::Opts::new(V::Rar40), &files, false),
        ),
        env.file(
            "hp5.rar",
            &r::encrypted(r::Opts::new(V::Rar50), &files, true),
        ),
        env.file(
            "hp4.rar",
            &r::encrypted(r::Opts::new(V::Rar40), &files, true),
        ),
    ];
    let (code, recs) = scan(&env, "rar encrypted");
    assert_eq!(code, 2, "{recs:#?}");
    assert!(support::of_type(&recs, "finding").is_empty(), "{recs:#?}");
    for f in &cases {
        let s = skips_of(&recs, f);
        assert!(
            s.iter().any(|s| s["reason"] == "encrypted"),
            "{f:?}: {recs:#?}"
        );
    }
    // With readable names, the skip names the member.
    let s = skips_of(&recs, &cases[0]);
    assert!(
        s.iter()
            .any(|s| chain(s).last().map(String::as_str) == Some("eicar.com")),
        "{s:#?}"
    );
}

#[test]
fn truncated_rar_is_a_corrupt_skip_in_bounded_time() {
    let env = TestEnv::new();
    // Incompressible-ish bytes so the member's packed data is long.
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let files: [(&str, &[u8]); 1] = [("noise.bin", &noise)];
    let mut cases = Vec::new();
    for (version, tag) in [(V::Rar50, "rar5"), (V::Rar40, "rar4")] {
        let full = r::archive(r::Opts::new(version), &files);
        let cut = &full[..full.len() / 2];
        cases.push(env.file(format!("cut-{tag}.rar"), cut));
    }
    let (code, recs) = scan(&env, "rar truncated");
    assert_eq!(code, 2, "{recs:#?}");
    for f in &cases {
        let s = skips_of(&recs, f);
        assert!(
            s.iter().any(|s| s["reason"] == "corrupt"),
            "{f:?}: {recs:#?}"
        );
    }
}

#[test]
fn a_huge_declared_dictionary_is_a_bounded_limit_skip() {
    let env = TestEnv::new();
    let (text, eicar) = eicar_files();
    let files: [(&str, &[u8]); 2] = [("readme.txt", &text), ("eicar.com", &eicar)];
    let f = env.file("dict4g.rar", &r::huge_dictionary(&files));
    let (code, recs) = scan(&env, "rar 4 GiB dictionary");
    assert_eq!(code, 2, "{recs:#?}");
    let s = skips_of(&recs, &f);
    assert!(
        s.iter().any(|s| s["reason"] == "archive_limit"
            && s["detail"].as_str().unwrap().contains("ictionary")),
        "{recs:#?}"
    );
}

#[test]
fn the_first_part_of_a_multi_volume_rar_is_unsupported_never_clean() {
    let env = TestEnv::new();
    let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let files: [(&str, &[u8]); 1] = [("big.bin", &noise)];
    let cases = [
        env.file(
            "set5.part1.rar",
            &r::first_volume(r::Opts::new(V::Rar50), &files, 1024),
        ),
        env.file(
            "set4.part1.rar",
            &r::first_volume(r::Opts::new(V::Rar40), &files, 1024),
        ),
    ];
    let (code, recs) = scan(&env, "rar volume");
    assert_eq!(code, 2, "{recs:#?}");
    for f in &cases {
        let s = skips_of(&recs, f);
        assert!(
            s.iter().any(|s| s["reason"] == "unsupported_container"
                && s["detail"].as_str().unwrap().contains("multi-volume")),
            "{f:?}: {recs:#?}"
        );
    }
}
