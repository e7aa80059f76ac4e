//! End-to-end: the text-encoded containers (issue 14). Mail is built by
//! Python's `email` and `mailbox` packages, uuencoded text by `uuencode`
//! (sharutils); BinHex, RTF objects and HTML payloads by the writers in
//! `tests/support/text.rs`. EICAR must be found with its exact chain
//! (exit 1); a truncated sample of every format must end with a `corrupt`
//! skip (exit 2) in bounded time; a bomb of nested messages must stop at
//! the depth limit; and ordinary text (a man page, Rust and Python source,
//! an HTML page without payloads) must not be taken for a container.

use crate::support::chain;
use crate::support::run_tool as tool;
use crate::support::{self, text as t, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A work folder outside the scanned tree holding `eicar.com`.
fn work(env: &TestEnv) -> PathBuf {
    let w = env.base().join("work");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::write(w.join("eicar.com"), support::eicar()).unwrap();
    w
}

/// Python 3 running `script` in the work folder; its stdout.
fn python(env: &TestEnv, script: &str) -> Vec<u8> {
    tool(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .current_dir(work(env)),
        "python3",
    )
    .stdout
}

/// `uuencode eicar.com eicar.com` in the work folder.
fn uuencoded_eicar(env: &TestEnv) -> Vec<u8> {
    let w = work(env);
    tool(
        Command::new("uuencode")
            .args(["eicar.com", "eicar.com"])
            .current_dir(&w),
        "sharutils",
    )
    .stdout
}

/// A message (Python `email`) with a text body and eicar.com attached
/// with transfer encoding `cte`.
fn eml(env: &TestEnv, cte: &str) -> Vec<u8> {
    python(
        env,
        &format!(
            "import sys\nfrom email.message import EmailMessage\n\
             m = EmailMessage()\nm['From'] = 'billing@example.com'\nm['To'] = 'ops@example.com'\n\
             m['Subject'] = 'Invoice'\nm.set_content('Please see the attached invoice.')\n\
             m.add_attachment(open('eicar.com', 'rb').read(), maintype='application',\n\
             subtype='octet-stream', filename='eicar.com', cte='{cte}')\n\
             sys.stdout.buffer.write(m.as_bytes())\n"
        ),
    )
}

/// `kensa scan` of the tree in bounded time and memory.
fn scan(env: &TestEnv, label: &str) -> (i32, Vec<Value>, Duration) {
    let s = env.scan_bounded(label, &[], 512);
    (s.code, s.recs, s.took)
}

/// Exit 1 and an EICAR finding whose chain is `file → members…`.
fn assert_found(code: i32, recs: &[Value], file: &Path, members: &[&str]) {
    let mut want = vec![file.display().to_string()];
    want.extend(members.iter().map(|m| m.to_string()));
    let findings = support::of_type(recs, "finding");
    assert!(
        findings
            .iter()
            .any(|f| chain(f) == want
                && support::rules_of(f).contains(&"EICAR_Test_File".to_string())),
        "no EICAR finding with chain {want:?}: {recs:#?}"
    );
    assert_eq!(code, 1, "{recs:#?}");
}

/// Scan one file: EICAR found at `members`, no gap.
fn expect_found(name: &str, data: &[u8], members: &[&str]) {
    let env = TestEnv::new();
    let f = env.file(name, data);
    let (code, recs, took) = scan(&env, name);
    assert_found(code, &recs, &f, members);
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
    assert!(took < Duration::from_secs(10), "{name}: {took:?}");
}

/// Scan one damaged file: exit 2, a `corrupt` skip for it, no finding.
fn expect_corrupt(name: &str, data: &[u8]) {
    let env = TestEnv::new();
    env.file(name, data);
    let (code, recs, took) = scan(&env, name);
    assert!(took < Duration::from_secs(10), "{name}: {took:?}");
    assert!(
        support::of_type(&recs, "skip")
            .iter()
            .any(|s| s["reason"] == "corrupt" && s["path"].as_str().unwrap().contains(name)),
        "{name}: no corrupt skip: {recs:#?}"
    );
    assert!(support::of_type(&recs, "finding").is_empty(), "{recs:#?}");
    assert_eq!(code, 2, "{name}: {recs:#?}");
}

/// `data` cut at `frac` of its length.
fn cut(data: &[u8], frac: f64) -> Vec<u8> {
    data[..(data.len() as f64 * frac) as usize].to_vec()
}

#[test]
fn eml_with_a_base64_attachment() {
    let env = TestEnv::new();
    let data = eml(&env, "base64");
    assert!(String::from_utf8_lossy(&data).contains("Content-Transfer-Encoding: base64"));
    expect_found("invoice.eml", &data, &["eicar.com"]);
    // Cut inside the attachment: its base64 and the closing boundary lost.
    expect_corrupt("cut.eml", &cut(&data, 0.85));
}

#[test]
fn eml_with_a_quoted_printable_attachment() {
    let env = TestEnv::new();
    let data = eml(&env, "quoted-printable");
    assert!(String::from_utf8_lossy(&data).contains("quoted-printable"));
    expect_found("qp.eml", &data, &["eicar.com"]);
}

#[test]
fn eml_with_an_rfc2231_name_and_a_forwarded_message() {
    let env = TestEnv::new();
    let data = python(
        &env,
        "import sys\nfrom email.message import EmailMessage\n\
         inner = EmailMessage()\ninner['From'] = 'a@example.com'\ninner['Subject'] = 'fw'\n\
         inner.set_content('see attachment')\n\
         inner.add_attachment(open('eicar.com', 'rb').read(), maintype='application',\n\
         subtype='octet-stream', filename=('utf-8', '', 'r\u{e9}sum\u{e9}.com'))\n\
         m = EmailMessage()\nm['From'] = 'b@example.com'\nm['To'] = 'c@example.com'\n\
         m['Subject'] = 'Fwd'\nm.set_content('forwarded')\nm.add_attachment(inner)\n\
         sys.stdout.buffer.write(m.as_bytes())\n",
    );
    assert!(String::from_utf8_lossy(&data).contains("filename*="));
    expect_found("fwd.eml", &data, &["$part/2", "résumé.com"]);
}

#[test]
fn uuencoded_file_standalone_and_in_a_message() {
    let env = TestEnv::new();
    let uu = uuencoded_eicar(&env);
    assert!(uu.starts_with(b"begin 644 eicar.com"), "{uu:?}");
    let mut note = b"Hi,\nthe file you asked for:\n\n".to_vec();
    note.extend_from_slice(&uu);
    expect_found("eicar.uu", &note, &["eicar.com"]);
    std::fs::write(env.base().join("work/eicar.uu"), &uu).unwrap();
    let data = python(
        &env,
        "import sys\nfrom email.mime.multipart import MIMEMultipart\n\
         from email.mime.text import MIMEText\nfrom email.mime.base import MIMEBase\n\
         m = MIMEMultipart()\nm['From'] = 'a@example.com'\nm['To'] = 'b@example.com'\n\
         m['Subject'] = 'uu'\nm.attach(MIMEText('attached'))\n\
         p = MIMEBase('application', 'octet-stream')\n\
         p.set_payload(open('eicar.uu').read())\n\
         p['Content-Transfer-Encoding'] = 'x-uuencode'\n\
         p.add_header('Content-Disposition', 'attachment', filename='eicar.com')\n\
         m.attach(p)\nsys.stdout.buffer.write(m.as_bytes())\n",
    );
    assert!(String::from_utf8_lossy(&data).contains("x-uuencode"));
    expect_found("uu.eml", &data, &["eicar.com"]);
    // Cut inside the data: a uuencoded block without its end line.
    expect_corrupt("cut.uu", &cut(&uu, 0.6));
}

#[test]
fn mbox_of_three_messages_names_the_third() {
    let env = TestEnv::new();
    python(
        &env,
        "import mailbox\nfrom email.message import EmailMessage\n\
         box = mailbox.mbox('box.mbox')\n\
         for i in range(3):\n\
         \x20   m = EmailMessage()\n\
         \x20   m['From'] = 'a%d@example.com' % i\n\
         \x20   m['Subject'] = 'message %d' % i\n\
         \x20   m.set_content('From the desk of number %d\\n' % i)\n\
         \x20   if i == 2:\n\
         \x20       m.add_attachment(open('eicar.com', 'rb').read(), maintype='application',\n\
         \x20                        subtype='octet-stream', filename='eicar.com')\n\
         \x20   box.add(m)\n\
         box.flush()\n",
    );
    let data = std::fs::read(env.base().join("work/box.mbox")).unwrap();
    assert!(data.starts_with(b"From "), "{:?}", &data[..40]);
    expect_found("box.mbox", &data, &["$msg/3", "eicar.com"]);
    expect_corrupt("cut.mbox", &cut(&data, 0.9));
}

#[test]
fn binhex_data_fork_and_resource_fork() {
    let data = t::binhex(b"eicar.com", &support::eicar(), b"");
    expect_found("eicar.hqx", &data, &["eicar.com"]);
    let both = t::binhex(b"tool", &[0u8; 300], &support::eicar());
    expect_found("rsrc.hqx", &both, &["tool/$rsrc"]);
    expect_corrupt("cut.hqx", &cut(&data, 0.7));
    // A damaged CRC: reported as corrupt, the data still scanned.
    let mut bad = data.clone();
    let colon = bad.iter().position(|&c| c == b':').unwrap();
    bad[colon + 30] = if bad[colon + 30] == b'!' { b'"' } else { b'!' };
    let env = TestEnv::new();
    env.file("bad.hqx", &bad);
    let (_, recs, _) = scan(&env, "bad.hqx");
    assert!(
        support::of_type(&recs, "skip")
            .iter()
            .any(|s| s["reason"] == "corrupt" && s["detail"].as_str().unwrap().contains("CRC")),
        "{recs:#?}"
    );
}

#[test]
fn rtf_object_package_is_opened() {
    let obj = t::ole1_package("eicar.com", &support::eicar());
    let rtf = t::rtf_with_object(&obj);
    expect_found("report.rtf", &rtf, &["$objdata/1/eicar.com"]);
    expect_corrupt("cut.rtf", &cut(&rtf, 0.55));
}

#[test]
fn html_data_uri_and_script_payloads() {
    let page = t::html_data_uri(&support::eicar());
    expect_found("invoice.html", &page, &["$data-uri/1"]);
    let smuggle = t::html_atob(&support::eicar());
    expect_found("smuggle.html", &smuggle, &["$script-base64/1"]);
    // Cut inside the data: URI.
    let at = page.windows(7).position(|w| w == b"base64,").unwrap();
    expect_corrupt("cut.html", &page[..at + 40]);
}

#[test]
fn nested_message_bomb_stops_at_the_depth_limit() {
    let env = TestEnv::new();
    let bomb = t::mime_bomb(50);
    assert!(bomb.len() < 8 << 20, "{}", bomb.len());
    env.file("bomb.eml", &bomb);
    let (code, recs, took) = scan(&env, "mime bomb");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(code, 1, "{recs:#?}");
    assert!(support::of_type(&recs, "finding")
        .iter()
        .any(|f| f["matches"][0]["rule"] == "archive_depth_bomb"));
    assert!(support::of_type(&recs, "skip")
        .iter()
        .any(|s| s["reason"] == "archive_limit"
            && s["detail"].as_str().unwrap().starts_with("max_depth")));
}

#[test]
fn ordinary_text_is_not_a_container() {
    let env = TestEnv::new();
    env.file(
        "uuencode.1.txt",
        b"UUENCODE(1)                 User Commands                 UUENCODE(1)\n\n\
          NAME\n       uuencode - encode a binary file\n\n\
          DESCRIPTION\n       The output begins with a line like\n\
          begin 644 file.txt\n       and ends with a line `end'.\n\
          From: the author, To: the reader. Subject: encoding.\n",
    );
    env.file(
        "lib.rs",
        b"//! Subject: parsing\n//! From: kensa\nuse std::io;\n\n\
          fn main() {\n    let begin = 644;\n    println!(\"From: {begin}\");\n}\n",
    );
    env.file(
        "page.html",
        b"<!DOCTYPE html>\n<html><head><title>Plain</title>\n\
          <script>var x = \"short\"; var url = 'https://example.com/data:x';</script>\n\
          </head><body><p>Metadata: none. <a href=\"https://example.com\">link</a></p>\
          </body></html>\n",
    );
    env.file(
        "notes.py",
        b"From the manual, Thu Nov 26 10:00:00 2026\nimport os\n\
          Subject = 'x'\nTo = 'y'\nprint(os.getcwd())\n",
    );
    for name in ["uuencode.1.txt", "lib.rs", "page.html", "notes.py"] {
        let data = std::fs::read(env.root.join(name)).unwrap();
        let kind = kensa::engine::archive::detect(&data);
        let html = kind == Some(kensa::engine::archive::ContainerKind::Html);
        assert!(
            kind.is_none() || (name == "page.html" && html),
            "{name} taken for {kind:?}"
        );
    }
    let (code, recs, _) = scan(&env, "ordinary text");
    assert_eq!(code, 0, "{recs:#?}");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
    assert!(support::of_type(&recs, "finding").is_empty(), "{recs:#?}");
}
