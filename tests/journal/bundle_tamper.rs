//! The tamper suite: every modified, truncated, reordered, re-attributed or
//! forked bundle is refused by verification and by import, and a refused
//! import leaves every table of the collector database exactly as it was.
//! Library-level for breadth (thousands of cases); a sample goes through
//! the real `kensa verify` / `kensa import` commands.

use crate::support;

use kensa::bundle::{self, ExportRange};
use kensa::collector::{import_bundle_file, trust, Store};
use kensa::journal::Journal;
use kensa::keys::{PublicKey, SecretKey};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn note(j: &mut Journal, kind: &str, i: usize) {
    let path = format!("dir/file-{i}.exe");
    let time = "2026-01-01T00:00:00Z";
    let v = if kind == "finding" {
        serde_json::json!({
            "type": "finding", "v": 1, "id": format!("f{i}"), "session": "s1", "time": time,
            "location": "host", "path": path, "size": i, "sha256": "ab".repeat(32),
            "verdict": "malicious", "matches": [],
        })
    } else {
        serde_json::json!({
            "type": kind, "v": 1, "session": "s1", "time": time, "path": path,
            "reason": "timeout", "detail": format!("{i}"), "gap": true,
        })
    };
    let rec: kensa::findings::Record = serde_json::from_value(v).unwrap();
    j.append(&rec).unwrap();
}

/// Every table of the database, rows sorted, as text.
fn dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.retain(|t| t != "sqlite_sequence");
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.push(format!("table {t}: {} rows", rows.len()));
        out.extend(rows);
    }
    out
}

struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    key_a: SecretKey,
    key_b: SecretKey,
    /// Seq 1.. of agent A.
    b1: PathBuf,
    /// The following range of agent A.
    b2: PathBuf,
    /// Agent B's bundle (B is trusted too).
    b_of_b: PathBuf,
    /// A bundle from the same agent A covering b2's range with other content.
    fork: PathBuf,
    /// Collector db holding b1 only.
    db: PathBuf,
    /// Collector db holding nothing (A and B trusted).
    empty_db: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    let key_a = SecretKey::generate().unwrap();
    let key_b = SecretKey::generate().unwrap();
    let ja = base.join("journal-a");
    let out = base.join("out");
    let mut j = Journal::open(&ja, &key_a).unwrap();
    for i in 0..6 {
        note(&mut j, if i % 3 == 0 { "finding" } else { "skip" }, i);
    }
    let b1 = bundle::export(&mut j, &key_a, &out, ExportRange::SinceLastExport)
        .unwrap()
        .bundle;
    drop(j);
    let ja_fork = base.join("journal-a-fork");
    crate::support::journal::copy_journal(&ja, &ja_fork);
    let mut j = Journal::open(&ja, &key_a).unwrap();
    for i in 6..12 {
        note(&mut j, "finding", i);
    }
    let b2 = bundle::export(&mut j, &key_a, &out, ExportRange::SinceLastExport)
        .unwrap()
        .bundle;
    let mut jf = Journal::open(&ja_fork, &key_a).unwrap();
    for i in 100..106 {
        note(&mut jf, "finding", i);
    }
    let fork_out = base.join("fork-out");
    let fork = bundle::export(&mut jf, &key_a, &fork_out, ExportRange::SinceLastExport)
        .unwrap()
        .bundle;
    let mut jb = Journal::open(&base.join("journal-b"), &key_b).unwrap();
    for i in 0..4 {
        note(&mut jb, "finding", i);
    }
    let b_of_b = bundle::export(&mut jb, &key_b, &base.join("out-b"), ExportRange::All)
        .unwrap()
        .bundle;
    let empty_db = base.join("empty.db");
    let db = base.join("kensa.db");
    for path in [&empty_db, &db] {
        let s = Store::open(path).unwrap();
        trust::add(&s, &key_a.public(), Some("agent-a")).unwrap();
        trust::add(&s, &key_b.public(), Some("agent-b")).unwrap();
    }
    let mut s = Store::open(&db).unwrap();
    import_bundle_file(&mut s, &b1).unwrap();
    Fixture {
        _tmp: tmp,
        base,
        key_a,
        key_b,
        b1,
        b2,
        b_of_b,
        fork,
        db,
        empty_db,
    }
}

impl Fixture {
    /// Writes a candidate (bundle bytes, signature bytes) pair to disk.
    fn write(&self, name: &str, data: &[u8], sig: &[u8]) -> PathBuf {
        let dir = self.base.join("cases");
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        fs::write(&p, data).unwrap();
        fs::write(bundle::signature_path(&p), sig).unwrap();
        p
    }

    /// Asserts the pair at `path` is refused by verify (with A's and B's
    /// key) and by import into `db`, and that `db` is unchanged.
    fn refused(&self, path: &Path, db: &Path, what: &str) {
        for key in [self.key_a.public(), self.key_b.public()] {
            let v = bundle::read_files(path).and_then(|(d, s)| bundle::verify_bytes(&d, &s, &key));
            assert!(v.is_err(), "{what}: verify accepted it");
        }
        let before = dump(db);
        let mut store = Store::open(db).unwrap();
        let r = import_bundle_file(&mut store, path);
        assert!(r.is_err(), "{what}: import accepted it: {r:?}");
        drop(store);
        assert_eq!(before, dump(db), "{what}: database changed");
    }

    fn files(&self, bundle: &Path) -> (Vec<u8>, Vec<u8>) {
        (
            fs::read(bundle).unwrap(),
            fs::read(bundle::signature_path(bundle)).unwrap(),
        )
    }
}

fn line_spans(data: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    spans
}

#[test]
fn untampered_bundles_import_in_order_and_twice_adds_nothing() {
    let f = fixture();
    let mut s = Store::open(&f.empty_db).unwrap();
    let gap = import_bundle_file(&mut s, &f.b2);
    assert!(
        matches!(gap, Err(kensa::collector::ImportError::Gap { .. })),
        "{gap:?}"
    );
    let o1 = import_bundle_file(&mut s, &f.b1).unwrap();
    let o2 = import_bundle_file(&mut s, &f.b2).unwrap();
    assert_eq!(o1.from, 1);
    assert_eq!(o2.from, o1.to + 1);
    assert!(o2.added > 0);
    let again = import_bundle_file(&mut s, &f.b2).unwrap();
    assert_eq!((again.added, again.duplicates), (0, o2.added));
    let n: i64 = rusqlite::Connection::open(&f.empty_db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as u64, o2.to);
    let ob = import_bundle_file(&mut s, &f.b_of_b).unwrap();
    assert_eq!(ob.agent, f.key_b.key_id_hex());
}

#[test]
fn flipped_bits_anywhere_are_refused() {
    let f = fixture();
    let mut cases = 0;
    for (bundle, db) in [(&f.b1, &f.empty_db), (&f.b2, &f.db)] {
        let (data, sig) = f.files(bundle);
        // Bundle: start, middle, end and newline of every line, plus a stride.
        let mut positions: Vec<usize> = Vec::new();
        for (s, e) in line_spans(&data) {
            positions.extend([s, s + 1, (s + e) / 2, e.saturating_sub(1), e]);
        }
        positions.extend((0..data.len()).step_by(11));
        positions.sort();
        positions.dedup();
        for (n, &p) in positions.iter().enumerate() {
            let mut d = data.clone();
            d[p] ^= 1 << (n % 8);
            let path = f.write("flip.jsonl", &d, &sig);
            f.refused(&path, db, &format!("bundle bit flip at {p}"));
            cases += 1;
        }
        // Signature file: every byte after the untrusted comment (which
        // minisign does not sign), each bit in turn.
        let skip = sig.iter().position(|&b| b == b'\n').unwrap() + 1;
        for p in skip..sig.len() {
            let mut s = sig.clone();
            s[p] ^= 1 << (p % 8);
            let path = f.write("flip.jsonl", &data, &s);
            f.refused(&path, db, &format!("signature bit flip at {p}"));
            cases += 1;
        }
        // The trusted comment, every bit of every byte.
        let tc_line = sig[skip..]
            .windows(17)
            .position(|w| w == b"trusted comment: ")
            .unwrap()
            + skip;
        let tc_end = tc_line + sig[tc_line..].iter().position(|&b| b == b'\n').unwrap();
        for p in tc_line..tc_end {
            for bit in 0..8 {
                let mut s = sig.clone();
                s[p] ^= 1 << bit;
                let path = f.write("flip.jsonl", &data, &s);
                f.refused(&path, db, &format!("trusted comment bit {bit} at {p}"));
                cases += 1;
            }
        }
    }
    eprintln!("bit-flip cases refused: {cases}");
    assert!(cases > 2000);
}

#[test]
fn truncations_are_refused() {
    let f = fixture();
    let (data, sig) = f.files(&f.b2);
    let mut lengths: Vec<usize> = (0..data.len()).step_by(7).collect();
    for (s, e) in line_spans(&data) {
        lengths.extend([s, e, e + 1]);
    }
    lengths.retain(|&l| l < data.len());
    lengths.sort();
    lengths.dedup();
    for &l in &lengths {
        let path = f.write("trunc.jsonl", &data[..l], &sig);
        f.refused(&path, &f.db, &format!("bundle truncated to {l}"));
    }
    for l in (0..sig.len() - 1).step_by(3) {
        let path = f.write("trunc.jsonl", &data, &sig[..l]);
        f.refused(&path, &f.db, &format!("signature truncated to {l}"));
    }
    // A bundle without its signature file is incomplete.
    let path = f.write("nosig.jsonl", &data, &sig);
    fs::remove_file(bundle::signature_path(&path)).unwrap();
    f.refused(&path, &f.db, "missing signature");
    eprintln!(
        "truncation cases refused: {}",
        lengths.len() + sig.len() / 3 + 1
    );
}

#[test]
fn dropped_swapped_and_duplicated_lines_are_refused_even_when_re_signed() {
    let f = fixture();
    let (data, sig) = f.files(&f.b2);
    let n = line_spans(&data).len() - 1;
    let tc = kensa::keys::SignatureFile::parse(std::str::from_utf8(&sig).unwrap())
        .unwrap()
        .trusted_comment;
    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..n {
        variants.push((
            format!("drop line {i}"),
            crate::support::journal::edit_bundle_lines(&data, |l| {
                l.remove(i);
            }),
        ));
        variants.push((
            format!("duplicate line {i}"),
            crate::support::journal::edit_bundle_lines(&data, |l| {
                let d = l[i].clone();
                l.insert(i, d);
            }),
        ));
        if i + 1 < n {
            variants.push((
                format!("swap lines {i},{}", i + 1),
                crate::support::journal::edit_bundle_lines(&data, |l| {
                    l.swap(i, i + 1);
                }),
            ));
        }
    }
    for (what, d) in &variants {
        // With the original signature.
        let path = f.write("edit.jsonl", d, &sig);
        f.refused(&path, &f.db, what);
        // Re-signed by the agent's own key with the original claim: the
        // chain and seq checks must still refuse it.
        let resigned = f.key_a.sign(d, &tc).unwrap();
        let path = f.write("edit.jsonl", d, resigned.as_bytes());
        f.refused(&path, &f.db, &format!("{what} (re-signed)"));
        let err = bundle::read_files(&path)
            .and_then(|(d, s)| bundle::verify_bytes(&d, &s, &f.key_a.public()))
            .unwrap_err();
        assert!(
            matches!(
                err,
                bundle::BundleError::Line { .. }
                    | bundle::BundleError::Count { .. }
                    | bundle::BundleError::Head { .. }
            ),
            "{what}: {err}"
        );
    }
    eprintln!("line edit cases refused: {}", variants.len() * 2);
}

#[test]
fn wrong_keys_and_borrowed_signatures_are_refused() {
    let f = fixture();
    let (data, sig) = f.files(&f.b1);
    // Signed by a key the collector does not trust.
    let stranger = SecretKey::generate().unwrap();
    let mut js = Journal::open(&f.base.join("journal-s"), &stranger).unwrap();
    note(&mut js, "finding", 1);
    let sb = bundle::export(&mut js, &stranger, &f.base.join("out-s"), ExportRange::All)
        .unwrap()
        .bundle;
    f.refused(&sb, &f.empty_db, "untrusted key");
    // Agent A's bundle, presented as agent B's: claimed by name, by key id
    // in the signature, and by trusted comment.
    let b_id = f.key_b.key_id_hex();
    let a_id = f.key_a.key_id_hex();
    let renamed = f.write(&format!("kensa-{b_id}-1-7.jsonl"), &data, &sig);
    assert!(bundle::read_files(&renamed)
        .and_then(|(d, s)| bundle::verify_bytes(&d, &s, &f.key_b.public()))
        .is_err());
    let parsed = kensa::keys::SignatureFile::parse(std::str::from_utf8(&sig).unwrap()).unwrap();
    let mut as_b = parsed.clone();
    as_b.key_id = f.key_b.public().key_id();
    let path = f.write("as-b.jsonl", &data, as_b.to_text().as_bytes());
    f.refused(&path, &f.empty_db, "A's bundle with B's key id");
    let mut tc_b = parsed.clone();
    tc_b.trusted_comment = tc_b.trusted_comment.replace(&a_id, &b_id);
    let path = f.write("tc-b.jsonl", &data, tc_b.to_text().as_bytes());
    f.refused(&path, &f.empty_db, "A's bundle with B's trusted comment");
    let header_b = String::from_utf8(data.clone())
        .unwrap()
        .replacen(&a_id, &b_id, 1);
    let path = f.write("hdr-b.jsonl", header_b.as_bytes(), &sig);
    f.refused(&path, &f.empty_db, "A's bundle with B's header");
    // B's bundle content under A's signature and vice versa.
    let (bdata, bsig) = f.files(&f.b_of_b);
    f.refused(
        &f.write("mix1.jsonl", &bdata, &sig),
        &f.empty_db,
        "B's data, A's signature",
    );
    f.refused(
        &f.write("mix2.jsonl", &data, &bsig),
        &f.empty_db,
        "A's data, B's signature",
    );
    // The signature file of another bundle of the same agent.
    let (data2, sig2) = f.files(&f.b2);
    f.refused(
        &f.write("other1.jsonl", &data2, &sig),
        &f.db,
        "b2 with b1's signature",
    );
    f.refused(
        &f.write("other2.jsonl", &data, &sig2),
        &f.empty_db,
        "b1 with b2's signature",
    );
    let (fdata, fsig) = f.files(&f.fork);
    f.refused(
        &f.write("other3.jsonl", &data2, &fsig),
        &f.db,
        "b2 with the fork's signature",
    );
    f.refused(
        &f.write("other4.jsonl", &fdata, &sig2),
        &f.db,
        "fork with b2's signature",
    );
}

#[test]
fn forked_chain_is_refused() {
    let f = fixture();
    // The fork is validly signed and verifies on its own...
    let (fdata, fsig) = f.files(&f.fork);
    let fork_vb = bundle::verify_bytes(
        &fdata,
        std::str::from_utf8(&fsig).unwrap(),
        &f.key_a.public(),
    )
    .unwrap();
    // ...but given together with the real continuation, verify refuses.
    let (d2, s2) = f.files(&f.b2);
    let b2_vb =
        bundle::verify_bytes(&d2, std::str::from_utf8(&s2).unwrap(), &f.key_a.public()).unwrap();
    let pair = [("b2".to_string(), &b2_vb), ("fork".to_string(), &fork_vb)];
    assert!(matches!(
        bundle::check_consistent(&pair),
        Err(bundle::BundleError::Fork { .. })
    ));
    // The collector holding b1 + b2 refuses the fork, unchanged.
    let mut s = Store::open(&f.db).unwrap();
    import_bundle_file(&mut s, &f.b2).unwrap();
    drop(s);
    let before = dump(&f.db);
    let mut s = Store::open(&f.db).unwrap();
    let r = import_bundle_file(&mut s, &f.fork);
    assert!(
        matches!(r, Err(kensa::collector::ImportError::Fork { .. })),
        "{r:?}"
    );
    drop(s);
    assert_eq!(before, dump(&f.db));
    // And the other way round: a collector that took the fork refuses b2.
    let mut s = Store::open(&f.empty_db).unwrap();
    import_bundle_file(&mut s, &f.b1).unwrap();
    import_bundle_file(&mut s, &f.fork).unwrap();
    drop(s);
    let before = dump(&f.empty_db);
    let mut s = Store::open(&f.empty_db).unwrap();
    assert!(import_bundle_file(&mut s, &f.b2).is_err());
    drop(s);
    assert_eq!(before, dump(&f.empty_db));
}

/// A sample of the cases through the real commands.
#[test]
fn cli_verify_and_import_refuse_and_leave_the_database_alone() {
    let f = fixture();
    let env = support::TestEnv::new();
    let state = &env.state;
    let pub_a = f.base.join("a.pub");
    f.key_a.public().save(&pub_a).unwrap();
    let run = |args: &[&std::ffi::OsStr]| -> (i32, String) {
        let out = Command::new(support::kensa_bin())
            .arg("--state-dir")
            .arg(state)
            .arg("--config")
            .arg(&env.config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let os = |p: &Path| p.as_os_str().to_os_string();
    let (c, o) = run(&[
        "trust".as_ref(),
        "add".as_ref(),
        pub_a.as_os_str(),
        "--name".as_ref(),
        "a".as_ref(),
    ]);
    assert_eq!(c, 0, "{o}");
    let (c, o) = run(&["import".as_ref(), os(&f.b1).as_os_str()]);
    assert_eq!(c, 0, "{o}");
    let (data, sig) = f.files(&f.b2);
    let mut flipped = data.clone();
    flipped[data.len() / 2] ^= 4;
    let (data1, _) = f.files(&f.b1);
    let cases = [
        ("flip", f.write("c-flip.jsonl", &flipped, &sig)),
        (
            "truncated",
            f.write("c-trunc.jsonl", &data[..data.len() - 9], &sig),
        ),
        (
            "dropped line",
            f.write(
                "c-drop.jsonl",
                &crate::support::journal::edit_bundle_lines(&data, |l| {
                    l.remove(2);
                }),
                &sig,
            ),
        ),
        ("other signature", f.write("c-other.jsonl", &data1, &sig)),
        ("untrusted key", f.b_of_b.clone()),
    ];
    let db = kensa::state::StateDir::new(state.clone()).database();
    for (what, path) in &cases {
        let (c, o) = run(&[
            "verify".as_ref(),
            os(path).as_os_str(),
            "--pubkey".as_ref(),
            pub_a.as_os_str(),
        ]);
        assert_eq!(c, 1, "verify {what}: {o}");
        assert!(o.contains("REFUSED"), "{what}: {o}");
        let before = dump(&db);
        let (c, o) = run(&["import".as_ref(), os(path).as_os_str()]);
        assert_eq!(c, 1, "import {what}: {o}");
        assert!(o.contains("REFUSED"), "{what}: {o}");
        assert_eq!(before, dump(&db), "{what}: database changed");
    }
    // The fork: verify given both bundles, import after b2.
    let (c, o) = run(&[
        "verify".as_ref(),
        os(&f.b2).as_os_str(),
        os(&f.fork).as_os_str(),
        "--pubkey".as_ref(),
        pub_a.as_os_str(),
    ]);
    assert_eq!(c, 1, "{o}");
    assert!(o.contains("FORK"), "{o}");
    let (c, o) = run(&["import".as_ref(), os(&f.b2).as_os_str()]);
    assert_eq!(c, 0, "{o}");
    let before = dump(&db);
    let (c, o) = run(&["import".as_ref(), os(&f.fork).as_os_str()]);
    assert_eq!(c, 1, "{o}");
    assert!(o.contains("FORK"), "{o}");
    assert_eq!(before, dump(&db));
    let _ = PublicKey::load(&pub_a).unwrap();
}
