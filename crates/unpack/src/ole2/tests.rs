use std::io::Write;

use super::vba::tests::compress;
use super::*;
use crate::{walk, ArchiveLimits, MemberEvent};

/// A compound file holding `streams` (path, bytes); storages on the way
/// are created.
pub(crate) fn build(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut cf =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new())).unwrap();
    for (path, data) in streams {
        let p = std::path::Path::new(path);
        if let Some(parent) = p.parent() {
            cf.create_storage_all(parent).unwrap();
        }
        cf.create_stream(p).unwrap().write_all(data).unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// (chain joined by " > ", member bytes or the skip detail, kind).
fn events(data: &[u8]) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    walk(data, &ArchiveLimits::default(), &mut |ev| {
        let join = |c: &[Vec<u8>]| {
            c.iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect::<Vec<_>>()
                .join(" > ")
        };
        out.push(match ev {
            MemberEvent::Member { chain, data, .. } => (
                join(chain),
                String::from_utf8_lossy(&data[..data.len().min(400)]).into_owned(),
                "member",
            ),
            MemberEvent::Skip {
                chain,
                reason,
                detail,
            } => (join(chain), format!("{reason:?}: {detail}"), "skip"),
            MemberEvent::Suspicious { chain, detail, .. } => (join(chain), detail, "suspicious"),
        });
    });
    out
}

fn member<'a>(ev: &'a [(String, String, &str)], chain: &str) -> Option<&'a str> {
    ev.iter()
        .find(|(c, _, k)| c == chain && *k == "member")
        .map(|(_, d, _)| d.as_str())
}

#[test]
fn sniff_is_strict() {
    assert!(sniff(MAGIC).is_some());
    assert!(sniff(&MAGIC[..7]).is_none());
    assert!(sniff(b"\x7fELF").is_none());
}

#[test]
fn every_stream_is_a_member_by_path() {
    let doc = build(&[
        ("/WordDocument", b"word body"),
        ("/\u{5}SummaryInformation", b"summary"),
        ("/ObjectPool/_123/\u{1}Ole10Native", b"native"),
    ]);
    let ev = events(&doc);
    assert_eq!(member(&ev, "WordDocument"), Some("word body"));
    assert_eq!(member(&ev, "\u{5}SummaryInformation"), Some("summary"));
    assert_eq!(
        member(&ev, "ObjectPool/_123/\u{1}Ole10Native"),
        Some("native")
    );
    assert!(ev.iter().all(|e| e.2 == "member"), "{ev:?}");
}

/// A VBA project storage's streams (module `Module1` with `source`).
pub(crate) fn vba_project(storage: &str, source: &[u8]) -> Vec<(String, Vec<u8>)> {
    let rec = |id: u16, data: &[u8]| {
        let mut r = id.to_le_bytes().to_vec();
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(data);
        r
    };
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect() };
    let mut dir = rec(0x0001, &1u32.to_le_bytes());
    dir.extend_from_slice(&[0x09, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0]);
    dir.extend(rec(0x000f, &1u16.to_le_bytes()));
    dir.extend(rec(0x0019, b"Module1"));
    dir.extend(rec(0x0047, &utf16("Module1")));
    dir.extend(rec(0x001a, b"Module1"));
    dir.extend(rec(0x0032, &utf16("Module1")));
    dir.extend(rec(0x0031, &16u32.to_le_bytes()));
    dir.extend(rec(0x002b, &[0; 4]));
    dir.extend(rec(0x0010, &[0; 4]));
    let mut module = vec![0xAAu8; 16];
    module.extend(compress(source));
    vec![
        (format!("{storage}/dir"), compress(&dir)),
        (format!("{storage}/Module1"), module),
        (
            format!("{storage}/_VBA_PROJECT"),
            vec![0xcc, 0x61, 0xff, 0xff, 0, 0, 0],
        ),
    ]
}

#[test]
fn vba_module_source_is_a_member() {
    let source =
        b"Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n  Shell \"calc.exe\"\r\nEnd Sub\r\n"
            .repeat(3);
    let project = vba_project("/Macros/VBA", &source);
    let mut streams: Vec<(&str, &[u8])> = vec![("/WordDocument", b"doc")];
    streams.extend(project.iter().map(|(p, d)| (p.as_str(), d.as_slice())));
    let ev = events(&build(&streams));
    let src = member(&ev, "$vba/Module1").unwrap_or_else(|| panic!("{ev:?}"));
    assert_eq!(src.as_bytes(), &source[..]);
    assert!(member(&ev, "Macros/VBA/dir").is_some());
    assert!(ev.iter().all(|e| e.2 == "member"), "{ev:?}");
}

#[test]
fn damaged_vba_source_is_corrupt_with_what_was_read() {
    let source = b"Sub Document_Open()\r\n  Foo\r\nEnd Sub\r\n".repeat(40);
    let mut project = vba_project("/VBA", &source);
    let module = &mut project[1].1;
    module.truncate(module.len() - 20);
    let streams: Vec<(&str, &[u8])> = project
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let ev = events(&build(&streams));
    let src = member(&ev, "$vba/Module1").unwrap_or_else(|| panic!("{ev:?}"));
    assert!(source.starts_with(src.as_bytes()) && !src.is_empty());
    assert!(
        ev.iter()
            .any(|(c, d, k)| c == "$vba/Module1" && *k == "skip" && d.starts_with("Corrupt")),
        "{ev:?}"
    );
}

#[test]
fn msg_attachment_is_named_by_its_file_name() {
    let name: Vec<u8> = "invoice.exe\0"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let msg = build(&[
        ("/__substg1.0_0037001F", b"s\0u\0b\0"),
        (
            "/__attach_version1.0_#00000000/__substg1.0_37010102",
            b"MZpayload",
        ),
        ("/__attach_version1.0_#00000000/__substg1.0_3707001F", &name),
        (
            "/__attach_version1.0_#00000001/__substg1.0_37010102",
            b"unnamed",
        ),
    ]);
    let ev = events(&msg);
    assert_eq!(
        member(&ev, "__attach_version1.0_#00000000/invoice.exe"),
        Some("MZpayload"),
        "{ev:?}"
    );
    assert_eq!(
        member(&ev, "__attach_version1.0_#00000001/__substg1.0_37010102"),
        Some("unnamed")
    );
}

#[test]
fn msi_stream_names_are_decoded() {
    let tables: String = [0x4840u32, 0x3f7f, 0x4164, 0x422f, 0x4836]
        .iter()
        .map(|&u| char::from_u32(u).unwrap())
        .collect();
    // "cab1.cab": c=38 a=36 b=37 1=1 .=62 c=38 a=36 b=37.
    let cab: String = [(38, 36), (37, 1), (62, 38), (36, 37)]
        .iter()
        .map(|&(a, b)| char::from_u32(0x3800 + a + (b << 6)).unwrap())
        .collect();
    let msi = build(&[
        (&format!("/{tables}"), b"tables"),
        (&format!("/{cab}"), b"MSCF...."),
    ]);
    let ev = events(&msi);
    assert_eq!(member(&ev, "!_Tables"), Some("tables"), "{ev:?}");
    assert_eq!(member(&ev, "cab1.cab"), Some("MSCF...."), "{ev:?}");
}

#[test]
fn truncated_and_cyclic_files_are_corrupt() {
    let doc = build(&[("/WordDocument", &[7u8; 5000][..])]);
    for cut in [100, 600, doc.len() / 2] {
        let ev = events(&doc[..cut]);
        assert!(
            ev.iter()
                .any(|(_, d, k)| *k == "skip" && d.starts_with("Corrupt")),
            "cut {cut}: {ev:?}"
        );
    }
    // Point the FAT entry of the stream's last sector back at its first.
    let mut cyclic = doc.clone();
    let u32_at = |d: &[u8], at: usize| u32::from_le_bytes(d[at..at + 4].try_into().unwrap());
    let sector = 1usize << u16::from_le_bytes([doc[0x1e], doc[0x1f]]);
    let fat = sector * (u32_at(&doc, 0x4c) as usize + 1);
    let entries: Vec<u32> = (0..sector / 4).map(|i| u32_at(&doc, fat + 4 * i)).collect();
    let first = (0..entries.len() as u32)
        .find(|&s| entries[s as usize] <= 0xffff_fffa && !entries.contains(&s))
        .unwrap();
    let mut last = first as usize;
    while entries[last] <= 0xffff_fffa {
        last = entries[last] as usize;
    }
    cyclic[fat + 4 * last..fat + 4 * last + 4].copy_from_slice(&first.to_le_bytes());
    let ev = events(&cyclic);
    assert!(
        ev.iter()
            .any(|(_, d, k)| *k == "skip" && d.starts_with("Corrupt")),
        "{ev:?}"
    );
}

/// `doc` with every UTF-16 occurrence of `from` replaced by `to` (same
/// length): a directory entry renamed behind the writer's back.
fn rename(doc: &[u8], from: &str, to: &str) -> Vec<u8> {
    let enc = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect() };
    let (from, to) = (enc(from), enc(to));
    let mut out = doc.to_vec();
    let at = out.windows(from.len()).position(|w| w == from).unwrap();
    out[at..at + to.len()].copy_from_slice(&to);
    out
}

#[test]
fn names_the_path_api_cannot_reach_are_gaps() {
    let doc = build(&[("/ab", b"first"), ("/cd", b"second")]);
    // Two entries of one name in a storage: `cfb` refuses the directory
    // (its sibling order check), so the whole file is a corrupt gap.
    let ev = events(&rename(&doc, "cd", "AB"));
    assert!(
        ev.iter()
            .any(|(_, d, k)| *k == "skip" && d.starts_with("Corrupt")),
        "{ev:?}"
    );
    let ev = events(&rename(&doc, "ab", ".."));
    assert!(
        ev.iter()
            .any(|(c, d, k)| *k == "skip" && c == ".." && d.starts_with("Corrupt")),
        "{ev:?}"
    );
    assert_eq!(member(&ev, "cd"), Some("second"));
}

#[test]
fn storages_nested_too_deep_are_a_limit() {
    let deep: String = (0..70).map(|i| format!("/s{i}")).collect();
    let doc = build(&[(&format!("{deep}/x"), b"deep"), ("/top", b"top")]);
    let ev = events(&doc);
    assert_eq!(member(&ev, "top"), Some("top"));
    assert!(
        ev.iter()
            .any(|(_, d, k)| *k == "skip" && d.starts_with("Limit") && d.contains("nested")),
        "{ev:?}"
    );
}

#[test]
fn attachment_of_an_embedded_msg_is_named_too() {
    let name: Vec<u8> = "inner.js"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let att = "/__attach_version1.0_#00000000/__substg1.0_3701000D/__attach_version1.0_#00000000";
    let msg = build(&[
        (&format!("{att}/__substg1.0_37010102"), b"payload"),
        (&format!("{att}/__substg1.0_3704001F"), &name),
    ]);
    let ev = events(&msg);
    let want = format!("{}/inner.js", &att[1..]);
    assert_eq!(member(&ev, &want), Some("payload"), "{ev:?}");
}
