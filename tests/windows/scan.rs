//! `kensa.exe scan` under Wine: EICAR found (exit 1), a clean tree
//! (exit 0), a gap (exit 2: a file over `--max-file-size`, and a disk
//! image, which Windows does not parse), and the Windows special cases:
//! reserved device names (`CON`, `aux.txt`) and a path far beyond
//! `MAX_PATH`, both reached through `\\?\` paths.

use crate::support::{self, TestEnv};
use crate::wine::{text, win, zpath};

fn scan(env: &TestEnv, label: &str, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let root = zpath(&env.root);
    let mut args = vec!["scan", "--format", "json", "--no-progress"];
    args.extend_from_slice(extra);
    args.push(&root);
    let out = win().run(env, label, &args);
    let recs = support::parse_lines(&out);
    (out.status.code().unwrap_or(-1), recs, text(&out))
}

fn found_paths(recs: &[serde_json::Value]) -> Vec<String> {
    support::of_type(recs, "finding")
        .iter()
        .filter_map(|r| r["path"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn eicar_is_found_with_exit_1() {
    let env = TestEnv::new();
    env.file("stick/eicar.com", &support::eicar());
    env.file("stick/readme.txt", b"plain text");
    let (code, recs, out) = scan(&env, "eicar", &[]);
    assert_eq!(code, 1, "{out}");
    let f = support::of_type(&recs, "finding");
    assert_eq!(f.len(), 1, "{out}");
    assert_eq!(f[0]["sha256"], support::EICAR_SHA256, "{out}");
    assert!(
        f[0]["path"].as_str().unwrap().ends_with("eicar.com"),
        "{out}"
    );
}

#[test]
fn clean_tree_exits_0() {
    let env = TestEnv::new();
    env.file("docs/a.txt", b"nothing to see");
    env.file("docs/sub/b.bin", &[0u8; 4096]);
    let (code, recs, out) = scan(&env, "clean", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(support::of_type(&recs, "finding").is_empty(), "{out}");
}

#[test]
fn a_file_not_fully_checked_exits_2() {
    let env = TestEnv::new();
    env.file("big.bin", &vec![7u8; 64 * 1024]);
    let (code, recs, out) = scan(&env, "too large", &["--max-file-size", "1K"]);
    assert_eq!(code, 2, "{out}");
    assert!(!support::of_type(&recs, "skip").is_empty(), "{out}");
}

#[test]
fn a_disk_image_is_a_gap_on_windows() {
    let env = TestEnv::new();
    // An MBR with one FAT32 partition entry: a disk image to kensa.
    let mut img = vec![0u8; 1 << 20];
    img[446 + 4] = 0x0c;
    img[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    img[446 + 12..446 + 16].copy_from_slice(&100u32.to_le_bytes());
    img[510] = 0x55;
    img[511] = 0xAA;
    env.file("disk.img", &img);
    let (code, recs, out) = scan(&env, "image", &[]);
    assert_eq!(code, 2, "{out}");
    let skips = support::of_type(&recs, "skip");
    assert!(
        skips
            .iter()
            .any(|s| s["detail"].as_str().unwrap_or("").contains("only on Linux")),
        "{out}"
    );
}

#[test]
fn reserved_names_and_long_paths_are_scanned() {
    let env = TestEnv::new();
    env.file("CON", &support::eicar());
    env.file("aux.txt", &support::eicar());
    let mut deep = String::new();
    for i in 0..12 {
        deep.push_str(&format!("directory-level-{i:02}-{}/", "x".repeat(16)));
    }
    assert!(deep.len() > 300);
    env.file(format!("{deep}eicar.com"), &support::eicar());
    let (code, recs, out) = scan(&env, "names", &[]);
    assert_eq!(code, 1, "{out}");
    let mut found = found_paths(&recs);
    found.sort();
    assert_eq!(found.len(), 3, "{out}");
    assert!(found.iter().any(|p| p.ends_with("\\\\CON")), "{out}");
    assert!(found.iter().any(|p| p.ends_with("\\\\aux.txt")), "{out}");
    assert!(found.iter().any(|p| p.len() > 300), "{out}");
}
