//! End-to-end (issue 14): cabinets, SZDD, ARJ and installers. Samples are
//! built at test time with the real tools where Debian has one (`gcab`
//! for stored and MSZIP cabinets, checked with `cabextract`; `arj` for
//! every ARJ method and a garbled archive; `makensis` for NSIS installers
//! with zlib, LZMA and bzip2, solid and not) and with the writers of
//! `tests/support/cab.rs` otherwise (an LZX cabinet, Quantum and lying
//! cabinets, SZDD, Inno Setup / InstallShield marker PEs). `lcab` is not
//! in Debian 12, so no sample is made with it. Every format also has a
//! truncated sample that must end with a `corrupt` skip in bounded time.

use crate::support::chain;
use crate::support::run_tool as tool;
use crate::support::{self, archive as a, cab as c, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// EICAR followed by 60 spaces (the signature allows 128 bytes): enough
/// repetition that every ARJ method and the LZSS writer really compress.
fn padded_eicar() -> Vec<u8> {
    let mut e = support::eicar();
    e.resize(128, b' ');
    e
}

/// A work folder outside the scanned tree holding `eicar.com`.
fn work(env: &TestEnv, eicar: &[u8]) -> PathBuf {
    let w = env.base().join("work");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::write(w.join("eicar.com"), eicar).unwrap();
    w
}

/// `kensa scan` of the tree within 10 s (hostile cases included).
fn scan(env: &TestEnv, label: &str) -> (i32, Vec<Value>) {
    let s = env.scan_bounded(label, &[], 512);
    (s.code, s.recs)
}

/// An EICAR finding whose chain is `file → members`.
fn assert_found(recs: &[Value], file: &Path, members: &[&str]) {
    let mut want = vec![file.display().to_string()];
    want.extend(members.iter().map(|m| m.to_string()));
    assert!(
        support::of_type(recs, "finding")
            .iter()
            .any(|f| chain(f) == want && f["matches"][0]["rule"] == "EICAR_Test_File"),
        "no EICAR finding with chain {want:?}: {recs:#?}"
    );
}

/// The skip records of `file` (or its members).
fn skips_of<'a>(recs: &'a [Value], file: &Path) -> Vec<&'a Value> {
    let p = file.display().to_string();
    support::of_type(recs, "skip")
        .into_iter()
        .filter(|s| s["path"].as_str().unwrap_or("").starts_with(p.as_str()))
        .collect()
}

/// `file` ends with a gap skip of `reason` whose detail holds `word`.
fn assert_skip(recs: &[Value], file: &Path, reason: &str, word: &str) {
    let skips = skips_of(recs, file);
    assert!(
        skips.iter().any(|s| s["reason"] == reason
            && s["gap"] == true
            && s["detail"].as_str().unwrap_or("").contains(word)),
        "{}: no {reason} skip mentioning {word:?}: {recs:#?}",
        file.display()
    );
}

fn gcab(w: &Path, name: &str, mszip: bool) -> Vec<u8> {
    let mut cmd = Command::new("gcab");
    cmd.arg("-c");
    if mszip {
        cmd.arg("-z");
    }
    tool(cmd.arg(name).arg("eicar.com").current_dir(w), "gcab");
    let out = tool(
        Command::new("cabextract").args(["-p", name]).current_dir(w),
        "cabextract",
    );
    assert_eq!(out.stdout, std::fs::read(w.join("eicar.com")).unwrap());
    std::fs::read(w.join(name)).unwrap()
}

#[test]
fn gcab_cabinets_stored_and_mszip_and_one_behind_a_pe_stub() {
    let env = TestEnv::new();
    let w = work(&env, &support::eicar());
    let mszip = gcab(&w, "x.cab", true);
    let stored = gcab(&w, "s.cab", false);
    let x = env.file("x.cab", &mszip);
    let s = env.file("s.cab", &stored);
    let sfx = env.file("setup.exe", &[a::pe_stub(), mszip.clone()].concat());
    let (code, recs) = scan(&env, "gcab cabinets");
    for f in [&x, &s, &sfx] {
        assert_found(&recs, f, &["eicar.com"]);
    }
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
    assert_eq!(code, 1);
}

#[test]
fn lzx_cabinet_from_our_writer_is_read() {
    let env = TestEnv::new();
    let w = work(&env, &support::eicar());
    let cab = c::lzx_cab("eicar.com", &support::eicar());
    std::fs::write(w.join("lzx.cab"), &cab).unwrap();
    // cabextract agrees the writer's LZX stream is valid.
    let out = tool(
        Command::new("cabextract")
            .args(["-p", "lzx.cab"])
            .current_dir(&w),
        "cabextract",
    );
    assert_eq!(out.stdout, support::eicar());
    let f = env.file("lzx.cab", &cab);
    let (code, recs) = scan(&env, "lzx cabinet");
    assert_found(&recs, &f, &["eicar.com"]);
    assert_eq!(code, 1, "{recs:#?}");
}

#[test]
fn hostile_cabinets_are_gaps_in_bounded_time() {
    let env = TestEnv::new();
    let w = work(&env, &support::eicar());
    let lying = env.file(
        "lying.cab",
        &c::lying_cab("big.bin", &[b'x'; 200], u32::MAX),
    );
    let quantum = env.file("quantum.cab", &c::quantum_cab("q.txt"));
    let good = gcab(&w, "x.cab", true);
    let truncated = env.file("truncated.cab", &good[..good.len() - 20]);
    let (code, recs) = scan(&env, "hostile cabinets");
    assert_eq!(code, 2, "{recs:#?}");
    assert_skip(&recs, &lying, "corrupt", "4294967295-byte file");
    assert_skip(&recs, &quantum, "unsupported_container", "Quantum");
    assert_skip(&recs, &truncated, "corrupt", "cab");
}

#[test]
fn szdd_from_our_lzss_writer_and_a_truncated_one() {
    let env = TestEnv::new();
    let data = padded_eicar();
    let sz = c::szdd(&data, b'm');
    assert!(sz.len() < data.len(), "the writer used copies");
    let f = env.file("eicar.co_", &sz);
    let cut = env.file("cut.co_", &sz[..sz.len() - 30]);
    let (code, recs) = scan(&env, "szdd");
    assert_found(&recs, &f, &["$szdd"]);
    assert_skip(&recs, &cut, "corrupt", "declares");
    assert_eq!(code, 1);
}

/// The method byte of the first file header of an ARJ archive.
fn arj_method(d: &[u8]) -> u8 {
    let main = usize::from(u16::from_le_bytes([d[2], d[3]]));
    let mut at = 4 + main + 4;
    loop {
        let ext = usize::from(u16::from_le_bytes([d[at], d[at + 1]]));
        at += 2;
        if ext == 0 {
            break;
        }
        at += ext + 4;
    }
    d[at + 4 + 5]
}

#[test]
fn arj_every_method_garbled_and_truncated() {
    let env = TestEnv::new();
    let w = work(&env, &padded_eicar());
    let mut files = Vec::new();
    for m in 0..=4u8 {
        let name = format!("m{m}.arj");
        tool(
            Command::new("arj")
                .args(["a", &format!("-m{m}"), &name, "eicar.com"])
                .current_dir(&w),
            "arj",
        );
        let bytes = std::fs::read(w.join(&name)).unwrap();
        assert_eq!(arj_method(&bytes), m, "arj wrote another method");
        files.push(env.file(&name, &bytes));
    }
    tool(
        Command::new("arj")
            .args(["a", "-gsecret", "g.arj", "eicar.com"])
            .current_dir(&w),
        "arj",
    );
    let garbled = env.file("g.arj", &std::fs::read(w.join("g.arj")).unwrap());
    let m1 = std::fs::read(w.join("m1.arj")).unwrap();
    let cut = env.file("cut.arj", &m1[..m1.len() - 30]);
    let (code, recs) = scan(&env, "arj");
    for f in &files {
        assert_found(&recs, f, &["eicar.com"]);
    }
    assert_skip(&recs, &garbled, "encrypted", "garbled");
    assert_skip(&recs, &cut, "corrupt", "arj");
    assert_eq!(code, 1);
}

/// `makensis` of an installer that `File`s eicar.com with `compressor`.
fn makensis(w: &Path, name: &str, compressor: &str) -> Vec<u8> {
    let script = format!(
        "{compressor}\nOutFile \"{name}\"\nName \"t\"\nRequestExecutionLevel user\n\
         Section\nSetOutPath $TEMP\nFile eicar.com\nSectionEnd\n"
    );
    std::fs::write(w.join("t.nsi"), script).unwrap();
    tool(
        Command::new("makensis")
            .args(["-V1", "t.nsi"])
            .current_dir(w),
        "nsis",
    );
    std::fs::read(w.join(name)).unwrap()
}

#[test]
fn nsis_installers_zlib_lzma_and_bzip2_give_eicar_in_a_block() {
    let env = TestEnv::new();
    let w = work(&env, &support::eicar());
    let zlib = makensis(&w, "zlib.exe", "");
    let lzma = env.file(
        "lzma.exe",
        &makensis(&w, "lzma.exe", "SetCompressor /SOLID lzma"),
    );
    let lzma_blocks = env.file(
        "lzma2.exe",
        &makensis(&w, "lzma2.exe", "SetCompressor lzma"),
    );
    let bzip2 = env.file(
        "bzip2.exe",
        &makensis(&w, "bzip2.exe", "SetCompressor bzip2"),
    );
    let bzip2_solid = makensis(&w, "bzs.exe", "SetCompressor /SOLID bzip2");
    let bzs = env.file("bzs.exe", &bzip2_solid);
    let z = env.file("zlib.exe", &zlib);
    let cut = env.file("cut.exe", &zlib[..zlib.len() - 200]);
    let cut_bz = env.file("cut-bz.exe", &bzip2_solid[..bzip2_solid.len() - 200]);
    let (code, recs) = scan(&env, "nsis");
    for f in [&z, &lzma, &lzma_blocks, &bzip2, &bzs] {
        assert_found(&recs, f, &["$nsis/block/1"]);
        assert!(skips_of(&recs, f).is_empty(), "{recs:#?}");
    }
    assert_skip(&recs, &cut, "corrupt", "nsis");
    assert_skip(&recs, &cut_bz, "corrupt", "nsis");
    assert_eq!(code, 1);
}

#[test]
fn inno_setup_and_installshield_markers_are_unsupported() {
    let env = TestEnv::new();
    let inno = env.file(
        "inno.exe",
        &c::pe_with_overlay(b"Inno Setup Setup Data (5.5.7) (u)"),
    );
    let is = env.file("is.exe", &c::pe_with_overlay(b"InstallShield\0\x07\0\0\0"));
    let stream = env.file("iss.exe", &c::pe_with_overlay(b"ISSetupStream\0\x01\0\0\0"));
    let (code, recs) = scan(&env, "installer markers");
    assert_eq!(code, 2, "{recs:#?}");
    assert_skip(&recs, &inno, "unsupported_container", "inno setup");
    assert_skip(&recs, &is, "unsupported_container", "installshield");
    assert_skip(&recs, &stream, "unsupported_container", "installshield");
}
