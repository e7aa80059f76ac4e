//! The JSON Schemas in schema/ (issue 12.18) against real output: a scan's
//! JSON Lines (findings, an archive-bomb finding, skips of many reasons,
//! the summary), every line of the agent's journal (checkpoints, a
//! recovery, a rules change, an export) and of an exported bundle (its
//! header line too), and `kensa report --format json` in both languages.
//! Every line must validate; wrong records must not.
//!
//! The validator is Python's `jsonschema` (Draft 2020-12): Debian's
//! python3-jsonschema or `pip install jsonschema`, which tests/run-all.sh
//! installs. Without it the test fails, saying so.

use crate::support::{self, archive, TestEnv};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Checks each schema against the 2020-12 meta-schema, then validates every
/// document (`.json`) or line (other files) of the files after it.
const VALIDATE_PY: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1], encoding="utf-8"))
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
bad = checked = 0
for name in sys.argv[2:]:
    text = open(name, encoding="utf-8").read()
    docs = [text] if name.endswith(".json") else text.splitlines()
    for i, doc in enumerate(docs, 1):
        if not doc.strip():
            continue
        checked += 1
        for e in validator.iter_errors(json.loads(doc)):
            bad += 1
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"{name}:{i}: /{where}: {e.message}")
print(f"checked {checked}, {bad} errors")
sys.exit(1 if bad else 0)
"#;

fn schema(name: &str) -> PathBuf {
    support::repo().join("schema").join(name)
}

/// Fails the test (never skips it) when the validator is missing.
fn require_validator() {
    let out = Command::new("python3")
        .args(["-c", "import jsonschema; jsonschema.Draft202012Validator"])
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "cannot run: the schema test needs python3 with the `jsonschema` package \
         (Draft 2020-12, version 4 or later): apt-get install python3-jsonschema or \
         python3 -m pip install jsonschema (tests/run-all.sh installs it); got {out:?}"
    );
}

/// Runs the validator: success and its report.
fn validate(schema: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE_PY)
        .arg(schema)
        .args(files)
        .output()
        .expect("python3 runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn ok(out: &Output, what: &str) -> String {
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed: {text}");
    text
}

fn args<'a>(list: &[&'a OsStr]) -> Vec<&'a OsStr> {
    list.to_vec()
}

/// A tree that gives a finding, an archive finding with a member chain, an
/// archive bomb and skips of many reasons.
fn build_stick(env: &TestEnv) {
    env.file("stick/eicar.com", &support::eicar());
    env.file("stick/docs.tar.gz", &archive::eicar_zip_in_tar_gz());
    env.file("stick/bomb.zip", &archive::high_ratio_zip(64 << 20));
    env.file("stick/big.bin", &vec![7u8; 8 << 10]);
    env.file("stick/secret.zip", &archive::encrypted());
    env.file("stick/cut.zip", &archive::truncated());
    env.file(
        "stick/old.rar",
        b"Rar!\x1a\x07\x00 not really a rar archive",
    );
    env.file("stick/readme.txt", b"plain text");
    std::os::unix::fs::symlink("readme.txt", env.root.join("stick/link.txt")).unwrap();
    let fifo = env.root.join("stick/pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Installs a signed rule pack (a `rules_change` in the journal), signed
/// with a second kensa key as the publisher's.
fn install_pack(env: &TestEnv) {
    let publisher = env.base().join("publisher");
    ok(
        &Command::new(support::kensa_bin())
            .arg("--state-dir")
            .arg(&publisher)
            .arg("keygen")
            .output()
            .unwrap(),
        "publisher keygen",
    );
    let keys = kensa::state::StateDir::new(publisher);
    ok(
        &env.run(args(&[
            "rules".as_ref(),
            "trust".as_ref(),
            keys.public_key().as_os_str(),
        ])),
        "rules trust",
    );
    let src = env.base().join("pack-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("marker.yar"),
        "rule schema_marker { meta: description = \"test marker\" strings: $a = \"SCHEMA-MARKER\" condition: $a }\n",
    )
    .unwrap();
    let pack = env.base().join("marker.pack");
    ok(
        &env.run(args(&[
            "rules".as_ref(),
            "pack".as_ref(),
            src.as_os_str(),
            "--version".as_ref(),
            "3".as_ref(),
            "--key".as_ref(),
            keys.secret_key().as_os_str(),
            "--out".as_ref(),
            pack.as_os_str(),
        ])),
        "rules pack",
    );
    ok(
        &env.run(args(&[
            "rules".as_ref(),
            "install".as_ref(),
            pack.as_os_str(),
        ])),
        "rules install",
    );
}

/// Leaves a torn last line in the journal, for the next open to recover.
fn tear_journal(env: &TestEnv) {
    let dir = support::journal::journal_dir(&env.state);
    let seg = kensa::journal::segments(&dir).unwrap().pop().unwrap().1;
    let mut f = std::fs::OpenOptions::new().append(true).open(seg).unwrap();
    f.write_all(b"{\"seq\":999,\"prev\":\"ab").unwrap();
}

/// The scan of the stick, journalled; its stdout saved as `name`.
fn scan(env: &TestEnv, name: &str) -> PathBuf {
    let broken = env.base().join("broken.yar");
    std::fs::write(&broken, "rule broken { condition: nonsense }\n").unwrap();
    let signatures = support::repo().join("signatures");
    let mut a: Vec<&OsStr> = vec![
        "scan".as_ref(),
        "--journal".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--show-all-skips".as_ref(),
        "--max-file-size".as_ref(),
        "4K".as_ref(),
        "--archive-max-total".as_ref(),
        "32M".as_ref(),
        "-r".as_ref(),
        signatures.as_os_str(),
        "-r".as_ref(),
        broken.as_os_str(),
    ];
    a.push(env.root.as_os_str());
    let out = env.run(a);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = env.base().join(name);
    std::fs::write(&file, &out.stdout).unwrap();
    file
}

fn lines_of(files: &[PathBuf]) -> Vec<Value> {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Everything the agent side writes: scan output, journal segments, the
/// bundle; returns the files and the bundle.
fn agent_output(env: &TestEnv) -> (Vec<PathBuf>, PathBuf) {
    ok(&env.run(["keygen"]), "keygen");
    build_stick(env);
    let scan_out = scan(env, "scan-1.jsonl");
    install_pack(env);
    tear_journal(env);
    let second = scan(env, "scan-2.jsonl");
    let usb = env.base().join("usb");
    ok(
        &env.run(args(&[
            "export".as_ref(),
            "--out".as_ref(),
            usb.as_os_str(),
        ])),
        "export",
    );
    let bundle = std::fs::read_dir(&usb)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .expect("a bundle");
    let dir = support::journal::journal_dir(&env.state);
    let mut files = vec![scan_out, second, bundle.clone()];
    files.extend(
        kensa::journal::segments(&dir)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p),
    );
    (files, bundle)
}

fn report_output(env: &TestEnv, bundle: &Path) -> Vec<PathBuf> {
    let keys = kensa::state::StateDir::new(env.state.clone());
    ok(
        &env.run(args(&[
            "trust".as_ref(),
            "add".as_ref(),
            keys.public_key().as_os_str(),
        ])),
        "trust add",
    );
    ok(
        &env.run(args(&["import".as_ref(), bundle.as_os_str()])),
        "import",
    );
    ["ja", "en"]
        .iter()
        .map(|lang| {
            let out = env.run(["report", "--fy", "2026", "--format", "json", "--lang", lang]);
            ok(&out, "report");
            let file = env.base().join(format!("report-{lang}.json"));
            std::fs::write(&file, &out.stdout).unwrap();
            file
        })
        .collect()
}

#[test]
fn real_records_and_reports_validate_against_the_schemas() {
    require_validator();
    let env = TestEnv::new();
    let (files, bundle) = agent_output(&env);
    let records = lines_of(&files);
    let kinds: BTreeSet<&str> = records.iter().filter_map(|r| r["type"].as_str()).collect();
    for kind in [
        "bundle",
        "session",
        "finding",
        "skip",
        "summary",
        "checkpoint",
        "recovery",
        "export",
        "rules_change",
    ] {
        assert!(kinds.contains(kind), "no {kind} record in {kinds:?}");
    }
    let reasons: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["type"] == "skip")
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert!(reasons.len() >= 5, "skip reasons: {reasons:?}");
    let chained = records
        .iter()
        .any(|r| r["type"] == "finding" && r["chain"].is_array());
    assert!(chained, "a finding inside an archive");
    let (pass, text) = validate(&schema("record.schema.json"), &files);
    assert!(
        pass,
        "records do not match schema/record.schema.json:\n{text}"
    );
    eprintln!("records: {text}skip reasons: {reasons:?}");

    let reports = report_output(&env, &bundle);
    let (pass, text) = validate(&schema("report.schema.json"), &reports);
    assert!(
        pass,
        "reports do not match schema/report.schema.json:\n{text}"
    );
    // A key rotation, then a lost key (a new journal opening with
    // key_reset): their records match the schema too.
    let segments = |env: &TestEnv| -> Vec<PathBuf> {
        let dir = support::journal::journal_dir(&env.state);
        kensa::journal::segments(&dir)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    };
    ok(&env.run(["keygen", "--force"]), "keygen --force (rotation)");
    scan(&env, "scan-3.jsonl");
    let rotated = segments(&env);
    let kinds_of = |files: &[PathBuf]| -> BTreeSet<String> {
        lines_of(files)
            .iter()
            .filter_map(|r| r["type"].as_str().map(String::from))
            .collect()
    };
    assert!(kinds_of(&rotated).contains("key_rotation"));
    let (pass, text) = validate(&schema("record.schema.json"), &rotated);
    assert!(pass, "rotation records: {text}");
    let keys = kensa::state::StateDir::new(env.state.clone());
    std::fs::remove_file(keys.secret_key()).unwrap();
    ok(&env.run(["keygen", "--force"]), "keygen --force (lost key)");
    let reset = segments(&env);
    assert!(kinds_of(&reset).contains("key_reset"));
    let (pass, text) = validate(&schema("record.schema.json"), &reset);
    assert!(pass, "key reset records: {text}");
}

/// A real finding, skip and summary, each changed in one way the schema
/// must refuse.
#[test]
fn wrong_records_are_rejected() {
    require_validator();
    let env = TestEnv::new();
    env.file("eicar.com", &support::eicar());
    std::os::unix::fs::symlink("eicar.com", env.root.join("link")).unwrap();
    let (_, recs) = env.scan_json(&["--show-all-skips"]);
    let of = |t: &str| {
        recs.iter()
            .find(|r| r["type"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no {t}"))
    };
    let (finding, skip, summary) = (of("finding"), of("skip"), of("summary"));
    let edit = |base: &Value, f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let wrong: Vec<(&str, Value)> = vec![
        (
            "verdict clean",
            edit(&finding, &|v| v["verdict"] = json!("clean")),
        ),
        (
            "unknown field",
            edit(&finding, &|v| v["benign"] = json!(true)),
        ),
        (
            "no sha256",
            edit(&finding, &|v| {
                v.as_object_mut().unwrap().remove("sha256");
            }),
        ),
        ("size as text", edit(&finding, &|v| v["size"] = json!("68"))),
        ("no matches", edit(&finding, &|v| v["matches"] = json!([]))),
        (
            "bad location",
            edit(&finding, &|v| v["location"] = json!("cloud")),
        ),
        ("bad reason", edit(&skip, &|v| v["reason"] = json!("lazy"))),
        ("symlink a gap", edit(&skip, &|v| v["gap"] = json!(true))),
        ("seq without prev", edit(&summary, &|v| v["seq"] = json!(1))),
        ("version 2", edit(&summary, &|v| v["v"] = json!(2))),
        ("unknown type", json!({"type": "note", "v": 1})),
    ];
    let (pass, text) = validate(
        &schema("record.schema.json"),
        &[write_lines(&env, "right.jsonl", &[finding, skip, summary])],
    );
    assert!(pass, "the unchanged records validate: {text}");
    for (what, v) in wrong {
        let file = write_lines(&env, "wrong.jsonl", &[v]);
        let (pass, text) = validate(&schema("record.schema.json"), &[file]);
        assert!(!pass, "{what}: accepted by the schema\n{text}");
    }
}

fn write_lines(env: &TestEnv, name: &str, recs: &[Value]) -> PathBuf {
    let file = env.base().join(name);
    let text: String = recs.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&file, text).unwrap();
    file
}

/// The schema's NISC code lists are exactly the codes kensa knows
/// (`kensa taxonomy --format json`), so a new code cannot be forgotten.
#[test]
fn schema_codes_match_the_taxonomy() {
    let env = TestEnv::new();
    let out = env.run(["taxonomy", "--format", "json"]);
    ok(&out, "taxonomy");
    let tax: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = std::fs::read_to_string(schema("record.schema.json")).unwrap();
    let s: Value = serde_json::from_str(&text).unwrap();
    let t = &s["$defs"]["taxonomy"]["properties"];
    for (list, schema_enum) in [
        ("events", &t["event"]["enum"]),
        ("causes", &t["causes"]["items"]["enum"]),
    ] {
        let codes: Vec<&Value> = tax[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["code"])
            .collect();
        let listed: Vec<&Value> = schema_enum.as_array().unwrap().iter().collect();
        assert_eq!(listed, codes, "{list}");
    }
}

/// Every skip reason the schema lists is one kensa reads, and the schema's
/// `gap` rule agrees with `SkipReason::is_gap`.
#[test]
fn schema_skip_reasons_are_kensas() {
    let text = std::fs::read_to_string(schema("record.schema.json")).unwrap();
    let s: Value = serde_json::from_str(&text).unwrap();
    let skip = &s["$defs"]["skip"];
    let by_design = skip["if"]["properties"]["reason"]["enum"]
        .as_array()
        .unwrap();
    for r in skip["properties"]["reason"]["enum"].as_array().unwrap() {
        let reason: kensa::findings::SkipReason = serde_json::from_value(r.clone()).unwrap();
        assert_eq!(reason.is_gap(), !by_design.contains(r), "{r}");
    }
}
