//! End-to-end: executable packers (issue 14). UPX-packed PEs (NRV2B, NRV2D,
//! NRV2E, LZMA) and ELFs (NRV2B, NRV2E, LZMA) whose packed program is
//! EICAR (padded with spaces, as the bundled rule allows: EICAR at offset
//! 0 of at most 128 bytes) are unpacked: EICAR is found in the member
//! `$upx` and the finding says `"packed": "upx"`. A PE with an `.aspack` section is
//! recognised: a rule on the `packed` external matches it (and not a plain
//! PE) and its records say `"packed": "aspack"`. A damaged or cut UPX file
//! ends with a `corrupt` skip in bounded time. Real ELF programs are not
//! taken for UPX.
//!
//! The samples come from our own writer (`tests/support/upx.rs`): `upx`
//! is not packaged in Debian 12, so no real UPX output is used here.

use crate::support::chain;
use crate::support::{self, upx as u, TestEnv};
use kensa::engine::archive::{detect, identify_packer, ContainerKind};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `kensa scan --format json` of the tree, timed.
fn scan(env: &TestEnv, extra: &[&str]) -> (i32, Vec<Value>) {
    let t = Instant::now();
    let out = env.scan_json(extra);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "scan took {:?}",
        t.elapsed()
    );
    out
}

/// The record of `kind` whose chain is `file → member`.
fn record_for<'a>(recs: &'a [Value], kind: &str, file: &Path, member: &str) -> &'a Value {
    let want = vec![file.display().to_string(), member.to_string()];
    support::of_type(recs, kind)
        .into_iter()
        .find(|r| chain(r) == want)
        .unwrap_or_else(|| panic!("no {kind} with chain {want:?}: {recs:#?}"))
}

/// The program packed: EICAR and spaces (compressible, still EICAR).
fn eicar_program() -> Vec<u8> {
    let mut p = support::eicar();
    p.resize(128, b' ');
    p
}

/// A file whose bytes do not hold EICAR in one piece (so a finding can
/// only come from unpacking).
fn packed_file(env: &TestEnv, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    assert!(
        !contains(bytes, &support::eicar()),
        "{name} holds EICAR in the clear"
    );
    env.file(name, bytes)
}

#[test]
fn eicar_is_found_in_upx_packed_pe_files() {
    let env = TestEnv::new();
    let image = eicar_program();
    let files: Vec<_> = [
        ("nrv2b", u::NRV2B),
        ("nrv2d", u::NRV2D),
        ("nrv2e", u::NRV2E),
        ("lzma", u::LZMA),
    ]
    .into_iter()
    .map(|(name, m)| packed_file(&env, &format!("{name}.exe"), &u::upx_pe(&image, m)))
    .collect();
    let (code, recs) = scan(&env, &[]);
    assert_eq!(code, 1, "{recs:#?}");
    for f in &files {
        let finding = record_for(&recs, "finding", f, "$upx");
        assert_eq!(finding["packed"], "upx", "{finding:#}");
        assert_eq!(
            finding["matches"][0]["rule"], "EICAR_Test_File",
            "{finding:#}"
        );
    }
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn eicar_is_found_in_upx_packed_elf_files() {
    let env = TestEnv::new();
    let image = eicar_program();
    let files: Vec<_> = [("nrv2b", u::NRV2B), ("nrv2e", u::NRV2E), ("lzma", u::LZMA)]
        .into_iter()
        .map(|(name, m)| packed_file(&env, &format!("{name}.elf"), &u::upx_elf(&[&image], m)))
        .collect();
    let (code, recs) = scan(&env, &[]);
    assert_eq!(code, 1, "{recs:#?}");
    for f in &files {
        let finding = record_for(&recs, "finding", f, "$upx");
        assert_eq!(finding["packed"], "upx", "{finding:#}");
    }
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn a_rule_on_the_packed_external_sees_aspack() {
    let env = TestEnv::new();
    let rule = env.base().join("packers.yar");
    std::fs::write(
        &rule,
        "rule Packed_ASPack { condition: packed == \"aspack\" }\n",
    )
    .unwrap();
    let code_section = || (b".text".as_slice(), 0x1000, vec![0xc3u8; 0x200]);
    let aspack = env.file(
        "aspack.exe",
        &u::pe(
            &[
                code_section(),
                (b".aspack", 0x1000, vec![0x60u8; 0x200]),
                (b".adata", 0x1000, Vec::new()),
            ],
            b"",
        ),
    );
    let plain = env.file(
        "plain.exe",
        &u::pe(&[code_section(), (b".data", 0x1000, vec![1u8; 0x200])], b""),
    );
    // Not UPX: no `$upx` member, only the packer named.
    let (code, recs) = scan(&env, &["--rules", rule.to_str().unwrap()]);
    assert_eq!(code, 1, "{recs:#?}");
    let findings = support::of_type(&recs, "finding");
    assert_eq!(findings.len(), 1, "{recs:#?}");
    let f = findings[0];
    assert_eq!(f["path"], aspack.display().to_string());
    assert_eq!(f["matches"][0]["rule"], "Packed_ASPack");
    assert_eq!(f["packed"], "aspack", "{f:#}");
    assert!(findings
        .iter()
        .all(|f| f["path"] != plain.display().to_string()));
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
}

#[test]
fn damaged_and_cut_upx_files_end_in_corrupt_skips() {
    let env = TestEnv::new();
    // No EICAR in these programs: nothing can be found, exit 2 exactly.
    let image = u::image_with(b"an ordinary program, nothing to find");
    let mut damaged = u::upx_pe(&image, u::NRV2E);
    damaged[u::PE_BLOCK_AT + 60] ^= 0x5a;
    let damaged = env.file("damaged.exe", &damaged);
    let cut_pe = u::upx_pe(&image, u::LZMA);
    let cut_pe = env.file("cut.exe", &cut_pe[..u::PE_BLOCK_AT + 200]);
    let elf = u::upx_elf(&[&u::elf_header_piece(), &image], u::NRV2B);
    let cut_elf = env.file("cut.elf", &elf[..elf.len() * 2 / 3]);
    let (code, recs) = scan(&env, &[]);
    assert_eq!(code, 2, "{recs:#?}");
    assert!(support::of_type(&recs, "finding").is_empty(), "{recs:#?}");
    for f in [&damaged, &cut_pe, &cut_elf] {
        let skip = record_for(&recs, "skip", f, "$upx");
        assert_eq!(skip["reason"], "corrupt", "{skip:#}");
        assert_eq!(skip["packed"], "upx", "{skip:#}");
    }
    let detail = record_for(&recs, "skip", &damaged, "$upx")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("adler32"), "{detail}");
}

#[test]
fn elf_programs_of_the_system_are_not_taken_for_upx() {
    let mut seen = 0;
    let entries = std::fs::read_dir("/usr/bin").expect("/usr/bin");
    for e in entries.flatten() {
        let p = e.path();
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if !meta.is_file() || meta.len() > 64 << 20 {
            continue;
        }
        let Ok(data) = std::fs::read(&p) else {
            continue;
        };
        if !data.starts_with(b"\x7fELF") {
            continue;
        }
        seen += 1;
        assert_ne!(detect(&data), Some(ContainerKind::Upx), "{}", p.display());
        assert_eq!(identify_packer(&data), None, "{}", p.display());
        if seen >= 400 {
            break;
        }
    }
    assert!(seen >= 20, "only {seen} ELF files in /usr/bin");
}
