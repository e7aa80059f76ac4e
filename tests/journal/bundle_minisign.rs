//! Cross-check with the stock `minisign` tool (Debian package `minisign`):
//! it verifies a bundle kensa exported with the agent's `agent.pub`, it
//! refuses a modified one, and it can sign with kensa's unencrypted
//! `agent.key`. The test installs minisign with apt when it is missing and
//! fails, saying why, when that is impossible (never a silent pass).

use crate::support;

use std::path::Path;
use std::process::Command;

pub(crate) fn minisign_available() -> bool {
    let ok = || {
        Command::new("minisign")
            .arg("-v")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if ok() {
        return true;
    }
    eprintln!("minisign missing; trying apt-get install -y minisign");
    let _ = Command::new("apt-get").arg("update").status();
    let _ = Command::new("apt-get")
        .args(["install", "-y", "minisign"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    ok()
}

pub(crate) fn minisign_verify(file: &Path, pubkey: &Path) -> (bool, String) {
    let out = Command::new("minisign")
        .arg("-Vm")
        .arg(file)
        .arg("-p")
        .arg(pubkey)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn stock_minisign_verifies_an_exported_bundle() {
    assert!(
        minisign_available(),
        "cannot run: minisign is not installed and `apt-get install minisign` failed \
         (tests/run-all.sh installs it; run that as root)"
    );
    let env = support::TestEnv::new();
    env.file("stick/eicar.com", &support::eicar());
    env.file("stick/readme.txt", b"plain text");
    let out = env.run(["keygen"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.run([
        "scan".as_ref(),
        "--journal".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        env.root.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outdir = env.base().join("usb");
    let out = env.run(["export".as_ref(), "--out".as_ref(), outdir.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = std::fs::read_dir(&outdir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a bundle");
    let pubkey = kensa::state::StateDir::new(env.state.clone()).public_key();
    let (ok, text) = minisign_verify(&bundle, &pubkey);
    assert!(ok, "minisign refused kensa's bundle: {text}");
    let agent = kensa::keys::PublicKey::load(&pubkey).unwrap().key_id_hex();
    assert!(
        text.contains(&format!(
            "Trusted comment: kensa bundle agent={agent} seq=1-"
        )),
        "{text}"
    );
    // The bundle holds the finding verbatim from the journal.
    let data = std::fs::read_to_string(&bundle).unwrap();
    assert!(data.contains(support::EICAR_SHA256));

    // A one-byte change is refused by minisign too.
    let tampered = env.base().join("tampered.jsonl");
    let mut bytes = data.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] ^= 1;
    std::fs::write(&tampered, &bytes).unwrap();
    std::fs::copy(
        kensa::bundle::signature_path(&bundle),
        kensa::bundle::signature_path(&tampered),
    )
    .unwrap();
    let (ok, text) = minisign_verify(&tampered, &pubkey);
    assert!(!ok, "minisign accepted a tampered bundle: {text}");

    // minisign reads kensa's unencrypted secret key and kensa verifies the result.
    let doc = env.base().join("doc.txt");
    std::fs::write(&doc, b"signed by minisign with agent.key\n").unwrap();
    let st = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(kensa::state::StateDir::new(env.state.clone()).secret_key())
        .arg("-m")
        .arg(&doc)
        .args(["-t", "from minisign"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let sig = std::fs::read_to_string(kensa::bundle::signature_path(&doc)).unwrap();
    let pk = kensa::keys::PublicKey::load(&pubkey).unwrap();
    assert_eq!(
        pk.verify(&std::fs::read(&doc).unwrap(), &sig).unwrap(),
        "from minisign"
    );
}
