//! Writers for the OLE2 tests (tests/scan/deep_ole2.rs): compound files
//! built with the `cfb` crate, a VBA project whose module source is
//! compressed by a small MS-OVBA compressor of our own (literal tokens and
//! greedy copy tokens), an Outlook `.msg` with one attachment, and OLE2
//! files nested inside each other's streams.

use std::io::{Cursor, Write};
use std::path::Path;

/// A compound file holding `streams` (path, bytes); storages on the way
/// are created.
pub fn compound(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    for (path, data) in streams {
        let p = Path::new(path);
        if let Some(parent) = p.parent() {
            cf.create_storage_all(parent).unwrap();
        }
        cf.create_stream(p).unwrap().write_all(data).unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// Decompressed bytes of one MS-OVBA chunk.
const CHUNK: usize = 4096;

/// MS-OVBA 2.4.1 compression: signature byte, then one chunk per 4096
/// bytes, each flag bytes with literals and greedy copy tokens (a chunk
/// that would not shrink is stored raw, padded to 4096 bytes).
pub fn ovba_compress(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x01];
    for chunk in data.chunks(CHUNK) {
        let body = ovba_chunk(chunk);
        if body.len() > CHUNK {
            out.extend_from_slice(&0x3fffu16.to_le_bytes());
            out.extend_from_slice(chunk);
            out.resize(out.len() + CHUNK - chunk.len(), 0);
        } else {
            let header = 0xb000u16 | (body.len() as u16 - 1);
            out.extend_from_slice(&header.to_le_bytes());
            out.extend_from_slice(&body);
        }
    }
    out
}

fn ovba_chunk(chunk: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut p = 0;
    while p < chunk.len() {
        let flag_at = body.len();
        body.push(0u8);
        for bit in 0..8 {
            if p >= chunk.len() {
                break;
            }
            // Offset bits grow with the position in the chunk (min 4).
            let mut bits = 4u32;
            while bits < 12 && (1usize << bits) < p {
                bits += 1;
            }
            let max_len = (0xffffusize >> bits) + 3;
            let (mut best_len, mut best_off) = (0, 0);
            for off in 1..=p.min(1 << bits) {
                let mut l = 0;
                while l < max_len && p + l < chunk.len() && chunk[p + l - off] == chunk[p + l] {
                    l += 1;
                }
                if l > best_len {
                    (best_len, best_off) = (l, off);
                }
            }
            if best_len >= 3 {
                let token = (((best_off - 1) << (16 - bits)) | (best_len - 3)) as u16;
                body.extend_from_slice(&token.to_le_bytes());
                body[flag_at] |= 1 << bit;
                p += best_len;
            } else {
                body.push(chunk[p]);
                p += 1;
            }
        }
    }
    body
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// The streams of a VBA project in `storage` (e.g. `/Macros/VBA`) with one
/// module, `Module1`, whose source is `source`; the module stream starts
/// with 32 bytes standing for the compiled code, as Office writes it.
pub fn vba_project(storage: &str, source: &[u8]) -> Vec<(String, Vec<u8>)> {
    let rec = |id: u16, data: &[u8]| {
        let mut r = id.to_le_bytes().to_vec();
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(data);
        r
    };
    let mut dir = rec(0x0001, &1u32.to_le_bytes()); // PROJECTSYSKIND
    dir.extend(rec(0x0002, &0x409u32.to_le_bytes())); // PROJECTLCID
    dir.extend(rec(0x0003, &1252u16.to_le_bytes())); // PROJECTCODEPAGE
    dir.extend(rec(0x0004, b"Project")); // PROJECTNAME
                                         // PROJECTVERSION: its size field says 4, six bytes follow.
    dir.extend_from_slice(&[0x09, 0, 4, 0, 0, 0, 0x5e, 0x9a, 0x8c, 0x16, 0x10, 0]);
    dir.extend(rec(0x000f, &1u16.to_le_bytes())); // PROJECTMODULES
    dir.extend(rec(0x0013, &0xffffu16.to_le_bytes())); // PROJECTCOOKIE
    dir.extend(rec(0x0019, b"Module1"));
    dir.extend(rec(0x0047, &utf16le("Module1")));
    dir.extend(rec(0x001a, b"Module1"));
    dir.extend(rec(0x0032, &utf16le("Module1")));
    dir.extend(rec(0x0031, &32u32.to_le_bytes())); // MODULEOFFSET
    dir.extend(rec(0x0021, &[])); // MODULETYPE procedural
    dir.extend(rec(0x002b, &[0; 4])); // module terminator
    dir.extend(rec(0x0010, &[0; 4])); // end of dir
    let mut module = vec![0x01u8; 32];
    module.extend(ovba_compress(source));
    vec![
        (format!("{storage}/dir"), ovba_compress(&dir)),
        (format!("{storage}/Module1"), module),
        (
            format!("{storage}/_VBA_PROJECT"),
            vec![0xcc, 0x61, 0xff, 0xff, 0x00, 0x00, 0x00],
        ),
    ]
}

/// A Word-like `.doc` with a `WordDocument` stream and the VBA project of
/// [`vba_project`] under `Macros/VBA`.
pub fn doc_with_macro(source: &[u8]) -> Vec<u8> {
    let mut streams = vec![
        ("/WordDocument".to_string(), b"\xec\xa5 word body".to_vec()),
        ("/1Table".to_string(), vec![0u8; 600]),
    ];
    streams.push((
        "/Macros/PROJECT".to_string(),
        b"ID=\"{00000000-0000-0000-0000-000000000000}\"\r\nModule=Module1\r\n".to_vec(),
    ));
    streams.extend(vba_project("/Macros/VBA", source));
    let refs: Vec<(&str, &[u8])> = streams
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    compound(&refs)
}

/// An Outlook `.msg` with one attachment, `name`, holding `data`.
pub fn msg_with_attachment(name: &str, data: &[u8]) -> Vec<u8> {
    let att = "/__attach_version1.0_#00000000";
    let long = utf16le(&format!("{name}\0"));
    let subject = utf16le("invoice\0");
    compound(&[
        ("/__substg1.0_0037001F", &subject),
        ("/__properties_version1.0", &[0u8; 32]),
        (&format!("{att}/__substg1.0_37010102"), data),
        (&format!("{att}/__substg1.0_3707001F"), &long),
        (&format!("{att}/__properties_version1.0"), &[0u8; 16]),
    ])
}

/// `levels` compound files, each the single stream `Inner` of the next.
pub fn nested(levels: usize, core: &[u8]) -> Vec<u8> {
    let mut data = compound(&[("/Payload", core)]);
    for _ in 1..levels {
        data = compound(&[("/Inner", &data)]);
    }
    data
}
