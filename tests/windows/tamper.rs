//! The bundle tamper suite through the Windows build: bundles made by the
//! library on Linux (two agents, a forked journal), then `kensa.exe
//! verify` and `kensa.exe import` under Wine. The untampered bundles
//! verify and import; flipped bytes, a cut last line, dropped, swapped
//! and duplicated lines (with the original signature and re-signed by the
//! agent's own key), another agent's signature and a forked chain are all
//! refused, and a refused import leaves the Windows collector's incidents
//! exactly as they were. The library-level breadth (every byte, every
//! line) stays in `tests/journal/bundle_tamper.rs`; this is the same
//! verifier compiled for Windows.

use crate::support::TestEnv;
use crate::wine::{text, win, zpath};
use kensa::bundle::{self, ExportRange};
use kensa::journal::Journal;
use kensa::keys::{SecretKey, SignatureFile};
use std::path::{Path, PathBuf};

/// A journal of `n` findings from `first` on, exported.
fn exported(j: &mut Journal, key: &SecretKey, out: &Path, first: usize, n: usize) -> PathBuf {
    for i in first..first + n {
        j.append(&crate::support::journal::finding("s1", i as u64))
            .unwrap();
    }
    bundle::export(j, key, out, ExportRange::SinceLastExport)
        .unwrap()
        .bundle
}

/// An edit of a bundle's lines after the header.
type LineEdit = fn(&mut Vec<Vec<u8>>);

struct Case {
    what: String,
    data: Vec<u8>,
    sig: Vec<u8>,
}

/// The tampered variants of `good` (signed by `key`), and one signed by
/// `other` with `key`'s claim.
fn cases(good: &Path, key: &SecretKey, other: &SecretKey) -> Vec<Case> {
    let (data, sig_text) = bundle::read_files(good).unwrap();
    let sig = sig_text.clone().into_bytes();
    let tc = SignatureFile::parse(&sig_text).unwrap().trusted_comment;
    let mut out = Vec::new();
    for at in [10, data.len() / 2, data.len() - 2] {
        let mut d = data.clone();
        d[at] ^= 1;
        out.push(Case {
            what: format!("byte {at} flipped"),
            data: d,
            sig: sig.clone(),
        });
    }
    let cut = crate::support::journal::edit_bundle_lines(&data, |l| {
        l.pop();
    });
    out.push(Case {
        what: "last line cut".into(),
        data: cut,
        sig: sig.clone(),
    });
    let edits: [(&str, LineEdit); 3] = [
        ("line 1 dropped", |l| {
            l.remove(1);
        }),
        ("lines 0 and 1 swapped", |l| l.swap(0, 1)),
        ("line 2 duplicated", |l| {
            let d = l[2].clone();
            l.insert(2, d);
        }),
    ];
    for (what, edit) in edits {
        let d = crate::support::journal::edit_bundle_lines(&data, edit);
        out.push(Case {
            what: what.to_string(),
            data: d.clone(),
            sig: sig.clone(),
        });
        out.push(Case {
            what: format!("{what}, re-signed"),
            sig: key.sign(&d, &tc).unwrap().into_bytes(),
            data: d,
        });
    }
    out.push(Case {
        what: "signed by another agent's key".into(),
        sig: other.sign(&data, &tc).unwrap().into_bytes(),
        data,
    });
    out
}

fn write_case(dir: &Path, i: usize, c: &Case) -> PathBuf {
    let path = dir.join(format!("case-{i}.jsonl"));
    std::fs::write(&path, &c.data).unwrap();
    std::fs::write(bundle::signature_path(&path), &c.sig).unwrap();
    path
}

fn incidents(env: &TestEnv) -> String {
    let o = win().run(env, "incidents", &["incidents", "list", "--format", "json"]);
    assert!(o.status.success(), "incidents: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_windows_build_refuses_every_tampered_bundle_and_keeps_its_database() {
    let env = TestEnv::new();
    let base = env.base().join("bundles");
    let (key, other) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let journal = base.join("journal");
    let mut j = Journal::open(&journal, &key).unwrap();
    let first = exported(&mut j, &key, &base.join("out"), 0, 6);
    drop(j);
    let fork_dir = base.join("journal-fork");
    crate::support::journal::copy_journal(&journal, &fork_dir);
    let mut j = Journal::open(&journal, &key).unwrap();
    let second = exported(&mut j, &key, &base.join("out"), 6, 6);
    let mut jf = Journal::open(&fork_dir, &key).unwrap();
    let fork = exported(&mut jf, &key, &base.join("fork-out"), 100, 6);

    let pubkey = base.join("agent.pub");
    key.public().save(&pubkey).unwrap();
    let verify = |b: &Path| {
        win().run(
            &env,
            "verify",
            &["verify", &zpath(b), "--pubkey", &zpath(&pubkey)],
        )
    };
    for b in [&first, &second] {
        let o = verify(b);
        assert!(o.status.success(), "an untampered bundle: {}", text(&o));
    }
    let o = win().run(&env, "trust add", &["trust", "add", &zpath(&pubkey)]);
    assert!(o.status.success(), "trust add: {}", text(&o));
    let o = win().run(&env, "import", &["import", &zpath(&first)]);
    assert!(o.status.success(), "import: {}", text(&o));
    let before = incidents(&env);

    let dir = base.join("cases");
    std::fs::create_dir_all(&dir).unwrap();
    let all = cases(&second, &key, &other);
    for (i, c) in all.iter().enumerate() {
        let path = write_case(&dir, i, c);
        let o = verify(&path);
        assert!(!o.status.success(), "{} verified: {}", c.what, text(&o));
        let o = win().run(&env, "import", &["import", &zpath(&path)]);
        assert!(!o.status.success(), "{} imported: {}", c.what, text(&o));
        assert_eq!(incidents(&env), before, "{} changed the database", c.what);
    }
    let o = win().run(&env, "import", &["import", &zpath(&second)]);
    assert!(o.status.success(), "the untampered second: {}", text(&o));
    let after = incidents(&env);
    let o = win().run(&env, "import fork", &["import", &zpath(&fork)]);
    assert!(!o.status.success(), "a forked chain imported: {}", text(&o));
    assert_eq!(incidents(&env), after, "the fork changed the database");
    eprintln!("tampered bundles refused on Windows: {}", all.len() + 1);
}
