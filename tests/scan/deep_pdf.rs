//! End-to-end: PDF streams and embedded files (issue 14). Every sample is
//! built at test time by the writer in `tests/support/pdf.rs` (no Debian
//! tool writes arbitrary filter chains): EICAR inside a stream behind each
//! filter kensa decodes must be found under `$obj/N`, an attachment under
//! its file name; a truncated stream is a `corrupt` skip; a 1 GiB Flate
//! bomb stops at the limits in seconds and bounded memory.

use crate::support::{self, pdf as p, TestEnv};
use crate::support::{chain, skips_of};
use p::PdfObj;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn scan(env: &TestEnv, label: &str) -> (i32, Vec<Value>, Duration) {
    let s = env.scan_bounded(label, &[], 512);
    (s.code, s.recs, s.took)
}

fn assert_found(recs: &[Value], file: &Path, member: &str) {
    let want = vec![file.display().to_string(), member.to_string()];
    assert!(
        support::of_type(recs, "finding")
            .iter()
            .any(|f| chain(f) == want),
        "no finding with chain {want:?}: {recs:#?}"
    );
}

#[test]
fn eicar_behind_every_filter_is_found_with_its_object() {
    let env = TestEnv::new();
    let e = support::eicar();
    let cases: Vec<(&str, PdfObj)> = vec![
        (
            "flate.pdf",
            PdfObj::stream("/Filter /FlateDecode", p::zlib(&e)),
        ),
        (
            "hex-flate.pdf",
            PdfObj::stream(
                "/Filter [/ASCIIHexDecode /FlateDecode]",
                p::ascii_hex(&p::zlib(&e)),
            ),
        ),
        ("a85.pdf", PdfObj::stream("/Filter /A85", p::ascii85(&e))),
        ("lzw.pdf", PdfObj::stream("/Filter /LZWDecode", p::lzw(&e))),
        (
            "rl.pdf",
            PdfObj::stream("/Filter /RunLengthDecode", p::run_length(&e)),
        ),
        (
            "png.pdf",
            PdfObj::stream(
                "/Filter /FlateDecode /DecodeParms << /Predictor 15 /Columns 4 >>",
                p::zlib(&p::png_predict(&e, 4)),
            ),
        ),
    ];
    let mut files = Vec::new();
    for (name, stream) in cases {
        let doc = p::pdf(&[p::catalog(), PdfObj::plain("<< /Type /Page >>"), stream]);
        files.push(env.file(name, &doc));
    }
    let (code, recs, _) = scan(&env, "pdf filters");
    for f in &files {
        assert_found(&recs, f, "$obj/3");
        assert!(skips_of(&recs, f).is_empty(), "{recs:#?}");
    }
    assert_eq!(code, 1);
}

#[test]
fn an_attachment_is_found_under_its_file_name_without_an_xref() {
    let env = TestEnv::new();
    let e = support::eicar();
    let z = p::zlib(&e);
    // The stream's /Length is an indirect object (5), which holds it.
    let objects = [
        PdfObj::plain(
            "<< /Type /Catalog /Names << /EmbeddedFiles << /Names [(eicar.com) 3 0 R] >> >> >>",
        ),
        PdfObj::plain("<< /Type /Page >>"),
        PdfObj::plain("<< /Type /Filespec /F (eicar.com) /UF (eicar.com) /EF << /F 4 0 R >> >>"),
        PdfObj::stream(
            "/Type /EmbeddedFile /Filter /FlateDecode /Length 5 0 R",
            z.clone(),
        ),
        PdfObj::plain(&z.len().to_string()),
    ];
    let f = env.file("attach.pdf", &p::pdf_without_xref(&objects));
    let (code, recs, _) = scan(&env, "pdf attachment");
    assert_found(&recs, &f, "eicar.com");
    assert!(skips_of(&recs, &f).is_empty(), "{recs:#?}");
    assert_eq!(code, 1);
}

#[test]
fn a_truncated_stream_is_a_corrupt_skip() {
    let env = TestEnv::new();
    let text = b"BT /F1 12 Tf 72 712 Td (an ordinary page of text) Tj ET\n".repeat(400);
    let doc = p::pdf(&[
        p::catalog(),
        PdfObj::stream("/Filter /FlateDecode", p::zlib(&text)),
    ]);
    // Cut inside the compressed data: no endstream, no end of the deflate stream.
    let cut = doc.windows(6).position(|w| w == b"stream").unwrap() + 40;
    let f = env.file("cut.pdf", &doc[..cut]);
    let (code, recs, took) = scan(&env, "pdf truncated");
    assert!(took < Duration::from_secs(10));
    let skips = skips_of(&recs, &f);
    assert!(skips.iter().any(|s| s["reason"] == "corrupt"), "{recs:#?}");
    assert_eq!(code, 2, "{recs:#?}");
}

#[test]
fn a_one_gib_flate_bomb_stops_at_the_limits() {
    let env = TestEnv::new();
    let bomb = p::zlib_zeros(1 << 30);
    assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());
    let doc = p::pdf(&[p::catalog(), PdfObj::stream("/Filter /FlateDecode", bomb)]);
    let f = env.file("bomb.pdf", &doc);
    let (code, recs, took) = scan(&env, "pdf 1 GiB flate bomb");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let p = f.display().to_string();
    let suspicious = support::of_type(&recs, "finding")
        .into_iter()
        .any(|r| r["path"].as_str().unwrap_or("").starts_with(p.as_str()));
    let limit = skips_of(&recs, &f)
        .iter()
        .any(|s| s["reason"] == "archive_limit");
    assert!(suspicious && limit, "{recs:#?}");
    assert_eq!(code, 1);
}

#[test]
fn an_encrypted_pdf_is_an_encrypted_gap() {
    let env = TestEnv::new();
    let mut doc = p::pdf(&[
        p::catalog(),
        PdfObj::stream("/Filter /FlateDecode", p::zlib(b"garbage once encrypted")),
        PdfObj::plain("<< /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>"),
    ]);
    let at = doc.windows(7).rposition(|w| w == b"/Root 1").unwrap();
    doc.splice(at..at, b"/Encrypt 3 0 R ".iter().copied());
    let f = env.file("locked.pdf", &doc);
    let (code, recs, _) = scan(&env, "pdf encrypted");
    assert!(
        skips_of(&recs, &f)
            .iter()
            .any(|s| s["reason"] == "encrypted"),
        "{recs:#?}"
    );
    assert_eq!(code, 2);
}
