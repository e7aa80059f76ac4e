use super::*;

/// A greedy MS-OVBA compressor (the inverse of `decompress`), for tests.
pub(crate) fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x01];
    for chunk in data.chunks(CHUNK_MAX) {
        let body = compress_chunk(chunk);
        if body.len() > CHUNK_MAX {
            out.extend_from_slice(&0x3fffu16.to_le_bytes());
            out.extend_from_slice(chunk);
            out.resize(out.len() + CHUNK_MAX - chunk.len(), 0);
        } else {
            let header = 0xb000u16 | (body.len() as u16 + 2 - 3);
            out.extend_from_slice(&header.to_le_bytes());
            out.extend_from_slice(&body);
        }
    }
    out
}

fn compress_chunk(chunk: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut p = 0;
    while p < chunk.len() {
        let flag_at = body.len();
        body.push(0u8);
        for bit in 0..8 {
            if p >= chunk.len() {
                break;
            }
            let mut bits = 4u32;
            while bits < 12 && (1usize << bits) < p {
                bits += 1;
            }
            let max_len = (0xffffusize >> bits) + 3;
            let max_off = 1usize << bits;
            let (mut best_len, mut best_off) = (0, 0);
            for off in 1..=p.min(max_off) {
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

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

#[test]
fn spec_example_no_compression() {
    // MS-OVBA 3.2.1.
    let c = hex(
        "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E",
    );
    assert_eq!(
        decompress(&c, usize::MAX),
        (b"abcdefghijklmnopqrstuv.".to_vec(), None)
    );
}

#[test]
fn spec_example_normal_compression() {
    // MS-OVBA 3.2.2.
    let c = hex(
        "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 30 6D 6E 6F 70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C",
    );
    let want = b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa";
    assert_eq!(decompress(&c, usize::MAX), (want.to_vec(), None));
}

#[test]
fn spec_example_maximum_compression() {
    // MS-OVBA 3.2.3: one literal and a copy token of length 72... repeated.
    let c = hex("01 03 B0 02 61 45 00");
    let (out, err) = decompress(&c, usize::MAX);
    assert_eq!(err, None);
    assert!(out.iter().all(|&b| b == b'a'));
    assert_eq!(out.len(), 73);
}

#[test]
fn own_compressor_round_trips() {
    let mut text = Vec::new();
    for i in 0..2000u32 {
        text.extend_from_slice(
            format!("Sub Auto{i}()\r\n  MsgBox \"x{}\"\r\nEnd Sub\r\n", i % 7).as_bytes(),
        );
    }
    let mut noise = Vec::new();
    let mut x = 12345u32;
    for _ in 0..9000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    for sample in [
        &b""[..],
        b"a",
        b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        &text,
        &noise,
    ] {
        let c = compress(sample);
        assert_eq!(decompress(&c, usize::MAX), (sample.to_vec(), None));
    }
    assert!(compress(&text).len() < text.len() / 4, "copy tokens used");
}

#[test]
fn cap_and_damage_are_reported() {
    let text = b"Attribute VB_Name = \"Module1\"\r\n".repeat(200);
    let c = compress(&text);
    let (out, err) = decompress(&c, 100);
    assert_eq!((out.len(), err), (100, None));
    let (out, err) = decompress(&c[..c.len() / 2], usize::MAX);
    assert!(err.is_some() && !out.is_empty() && text.starts_with(&out));
    assert!(decompress(b"\x02abc", 10).1.is_some());
    // A copy token before anything was decompressed.
    assert!(decompress(&hex("01 02 B0 01 00 00"), 10).1.is_some());
    // A chunk header with a wrong signature.
    assert!(decompress(&hex("01 02 00 00"), 10).1.is_some());
}

/// A `dir` record.
fn rec(id: u16, data: &[u8]) -> Vec<u8> {
    let mut r = id.to_le_bytes().to_vec();
    r.extend_from_slice(&(data.len() as u32).to_le_bytes());
    r.extend_from_slice(data);
    r
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

#[test]
fn dir_records_name_modules() {
    let mut dir = rec(0x0001, &1u32.to_le_bytes());
    // PROJECTVERSION: size 4, six bytes of data.
    dir.extend_from_slice(&[0x09, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0]);
    dir.extend(rec(0x0003, &1252u16.to_le_bytes()));
    dir.extend(rec(0x000f, &2u16.to_le_bytes()));
    for (name, off) in [("Module1", 0u32), ("ThisDocument", 77)] {
        dir.extend(rec(0x0019, name.as_bytes()));
        dir.extend(rec(0x0047, &utf16(name)));
        dir.extend(rec(0x001a, name.as_bytes()));
        dir.extend(rec(0x0032, &utf16(name)));
        dir.extend(rec(0x0031, &off.to_le_bytes()));
        dir.extend(rec(0x0021, &[]));
        dir.extend(rec(0x002b, &[0, 0, 0, 0]));
    }
    dir.extend(rec(0x0010, &[0, 0, 0, 0]));
    let (m, err) = modules(&dir);
    assert_eq!(err, None);
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].display_name(), b"Module1");
    assert_eq!(m[1].stream_name(), "ThisDocument");
    assert_eq!(m[1].offset, 77);
    let (m, err) = modules(&dir[..dir.len() - 40]);
    assert!(err.is_some());
    assert_eq!(m.len(), 1);
}
