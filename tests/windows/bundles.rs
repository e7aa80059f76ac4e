//! Exchange between the Windows and the Linux build: a journalled scan
//! on Windows (under Wine) exported as a signed bundle verifies and
//! imports on the Linux build (`kensa verify`, `trust add`, `import`),
//! a one-byte change is refused; a rule pack made and signed on Linux
//! installs on Windows and its rule then finds its marker there.

use crate::support::{self, TestEnv};
use crate::wine::{text, win, zpath};
use std::path::{Path, PathBuf};

fn ok(o: &std::process::Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Keygen, a journalled scan of EICAR and an export, all on Windows;
/// the bundle's path.
pub fn windows_bundle(env: &TestEnv) -> PathBuf {
    env.file("stick/eicar.com", &support::eicar());
    env.file("stick/readme.txt", b"plain text");
    ok(&win().run(env, "keygen", &["keygen"]), "keygen");
    let root = zpath(&env.root);
    let o = win().run(
        env,
        "journalled scan",
        &["scan", "--journal", "--no-progress", &root],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let usb = env.base().join("usb");
    let o = win().run(env, "export", &["export", "--out", &zpath(&usb)]);
    ok(&o, "export");
    std::fs::read_dir(&usb)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a bundle exported by kensa.exe")
}

fn linux(env: &TestEnv, args: &[&std::ffi::OsStr]) -> std::process::Output {
    env.run(args)
}

#[test]
fn a_windows_bundle_verifies_and_imports_on_linux() {
    let agent = TestEnv::new();
    let bundle = windows_bundle(&agent);
    let pubkey = kensa::state::StateDir::new(agent.state.clone()).public_key();
    let collector = TestEnv::new();
    let o = linux(
        &collector,
        &[
            "verify".as_ref(),
            bundle.as_os_str(),
            "--pubkey".as_ref(),
            pubkey.as_os_str(),
        ],
    );
    ok(&o, "linux verify");
    let o = linux(
        &collector,
        &[
            "trust".as_ref(),
            "add".as_ref(),
            pubkey.as_os_str(),
            "--name".as_ref(),
            "laptop".as_ref(),
        ],
    );
    ok(&o, "linux trust add");
    ok(
        &linux(&collector, &["import".as_ref(), bundle.as_os_str()]),
        "linux import",
    );
    let list = ok(
        &collector.run(["incidents", "list", "--format", "json"]),
        "incidents",
    );
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("\"detections\":1"), "{list}");

    // A one-byte change is refused by the Linux build.
    let tampered = agent.base().join("tampered.jsonl");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&tampered, &bytes).unwrap();
    std::fs::copy(
        kensa::bundle::signature_path(&bundle),
        kensa::bundle::signature_path(&tampered),
    )
    .unwrap();
    let o = linux(
        &collector,
        &[
            "verify".as_ref(),
            tampered.as_os_str(),
            "--pubkey".as_ref(),
            pubkey.as_os_str(),
        ],
    );
    assert!(!o.status.success(), "a tampered bundle verified");
}

fn make_pack(publisher: &Path, src: &Path, out: &Path) {
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(support::kensa_bin())
            .arg("--state-dir")
            .arg(publisher)
            .args(args)
            .output()
            .unwrap()
    };
    ok(&run(&["keygen".as_ref()]), "publisher keygen");
    let key = kensa::state::StateDir::new(publisher.to_path_buf()).secret_key();
    let o = run(&[
        "rules".as_ref(),
        "pack".as_ref(),
        src.as_os_str(),
        "--version".as_ref(),
        "3".as_ref(),
        "--key".as_ref(),
        key.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    ok(&o, "linux rules pack");
}

#[test]
fn a_linux_rule_pack_installs_and_finds_on_windows() {
    let env = TestEnv::new();
    let publisher = env.base().join("publisher");
    let src = env.base().join("pack-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("marker.yar"),
        "rule windows_marker { strings: $a = \"KENSA-WINDOWS-MARKER\" condition: $a }\n",
    )
    .unwrap();
    let pack = env.base().join("marker.pack");
    make_pack(&publisher, &src, &pack);
    let pubkey = kensa::state::StateDir::new(publisher).public_key();
    let o = win().run(&env, "rules trust", &["rules", "trust", &zpath(&pubkey)]);
    ok(&o, "windows rules trust");
    let o = win().run(&env, "rules install", &["rules", "install", &zpath(&pack)]);
    ok(&o, "windows rules install");
    env.file("marked.txt", b"xx KENSA-WINDOWS-MARKER xx");
    let root = zpath(&env.root);
    let o = win().run(
        &env,
        "scan with pack",
        &["scan", "--format", "json", "--no-progress", &root],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let recs = support::parse_lines(&o);
    let rules: Vec<String> = support::of_type(&recs, "finding")
        .iter()
        .flat_map(|f| support::rules_of(f))
        .collect();
    assert!(
        rules.iter().any(|r| r.contains("windows_marker")),
        "{rules:?}"
    );
}
