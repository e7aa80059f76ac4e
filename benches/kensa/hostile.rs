//! Generators of hostile samples for the issue-14 readers (OLE2, MIME,
//! PDF, CAB), used by the hostile-archive benchmark
//! ([`crate::bench_archives`]). Each is built in memory at run time: OLE2
//! with the `cfb` crate (kensa's dev-dependency), the rest byte by byte.

use std::io::{Cursor, Write};

/// The issue-14 samples: name, bytes and the exit code expected (1: a
/// depth or ratio bomb found; 2: a member limit or a damaged container).
pub fn issue14_cases() -> Vec<(&'static str, Vec<u8>, Option<i32>)> {
    vec![
        ("OLE2 nested 30 levels", deep_ole(30), Some(1)),
        ("MIME nested base64 x 40", mime_nested_base64(40), Some(1)),
        ("MIME 100,000 tiny parts", mime_many_parts(100_000), Some(2)),
        ("PDF 1 GiB Flate stream", pdf_flate_bomb(1 << 30), Some(1)),
        ("CAB lying sizes (4 GiB file)", cab_lying_sizes(4), Some(2)),
    ]
}

/// An OLE2 compound file whose one stream is an OLE2 compound file, and
/// so on `levels` deep; the innermost stream is a line of text.
pub fn deep_ole(levels: u32) -> Vec<u8> {
    let mut data = b"innermost stream of a deep OLE2 nesting\n".to_vec();
    for _ in 0..levels {
        let mut comp = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        {
            let mut s = comp.create_stream("/Inner").unwrap();
            s.write_all(&data).unwrap();
        }
        comp.flush().unwrap();
        data = comp.into_inner().into_inner();
    }
    data
}

/// Base64 in 76-column lines (RFC 2045, LF line ends as mail stores on
/// disk often have), written here so the sample does not depend on an
/// encoder's defaults.
fn base64_lines(data: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(data.len() / 57 * 77 + 80);
    for line in data.chunks(57) {
        for c in line.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            out.push(A[(n >> 18) as usize & 63]);
            out.push(A[(n >> 12) as usize & 63]);
            out.push(if c.len() > 1 {
                A[(n >> 6) as usize & 63]
            } else {
                b'='
            });
            out.push(if c.len() > 2 {
                A[n as usize & 63]
            } else {
                b'='
            });
        }
        out.push(b'\n');
    }
    out
}

/// A mail whose one part is a base64-encoded `message/rfc822` holding the
/// next such mail, `levels` deep. Base64 grows each level by a third, so
/// the headers are kept to the minimum: 40 levels make about 60 MB.
pub fn mime_nested_base64(levels: u32) -> Vec<u8> {
    let mut msg = b"Subject: leaf\n\nthe innermost message\n".to_vec();
    for _ in 0..levels {
        let mut outer = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\
            Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
            .to_vec();
        outer.extend_from_slice(&base64_lines(&msg));
        outer.extend_from_slice(b"--b--\n");
        msg = outer;
    }
    msg
}

/// A multipart mail of `parts` one-byte text parts.
pub fn mime_many_parts(parts: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: many parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n".to_vec();
    for _ in 0..parts {
        m.extend_from_slice(b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    m.extend_from_slice(b"--p--\r\n");
    m
}

/// A PDF whose one stream is `zeros` zero bytes behind FlateDecode
/// (compressed while streaming: about 1 MiB per GiB).
pub fn pdf_flate_bomb(zeros: u64) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        z.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    let stream = z.finish().unwrap();
    let mut pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let mut obj = |pdf: &mut Vec<u8>, body: &[u8]| {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    };
    obj(&mut pdf, b"<< /Type /Catalog /Pages 2 0 R >>");
    obj(&mut pdf, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    obj(
        &mut pdf,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
    );
    let mut s = format!(
        "<< /Length {} /Filter /FlateDecode >>\nstream\n",
        stream.len()
    )
    .into_bytes();
    s.extend_from_slice(&stream);
    s.extend_from_slice(b"\nendstream");
    obj(&mut pdf, &s);
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
    );
    for o in &offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// A cabinet whose one file claims 4 GiB - 1 bytes in a folder of
/// `blocks` MSZIP blocks (32 KiB of zeros each), the block count and the
/// cabinet size true, the file size a lie.
pub fn cab_lying_sizes(blocks: u16) -> Vec<u8> {
    let mut data_blocks = Vec::new();
    let zeros = vec![0u8; 32768];
    for _ in 0..blocks {
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        d.write_all(&zeros).unwrap();
        let raw = d.finish().unwrap();
        let mut b = Vec::new();
        b.extend_from_slice(&0u32.to_le_bytes()); // no checksum
        b.extend_from_slice(&((raw.len() + 2) as u16).to_le_bytes());
        b.extend_from_slice(&32768u16.to_le_bytes());
        b.extend_from_slice(b"CK");
        b.extend_from_slice(&raw);
        data_blocks.push(b);
    }
    let name = b"big.bin\0";
    let header = 36usize;
    let folder = 8usize;
    let file = 16 + name.len();
    let data_start = header + folder + file;
    let total = data_start + data_blocks.iter().map(Vec::len).sum::<usize>();
    let mut c = Vec::with_capacity(total);
    c.extend_from_slice(b"MSCF");
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&(total as u32).to_le_bytes()); // cbCabinet
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&((header + folder) as u32).to_le_bytes()); // coffFiles
    c.extend_from_slice(&0u32.to_le_bytes());
    c.extend_from_slice(&[3, 1]); // version 1.3
    c.extend_from_slice(&1u16.to_le_bytes()); // folders
    c.extend_from_slice(&1u16.to_le_bytes()); // files
    c.extend_from_slice(&0u16.to_le_bytes()); // flags
    c.extend_from_slice(&0x1234u16.to_le_bytes()); // set id
    c.extend_from_slice(&0u16.to_le_bytes()); // cabinet number
    c.extend_from_slice(&(data_start as u32).to_le_bytes()); // coffCabStart
    c.extend_from_slice(&blocks.to_le_bytes()); // cCFData
    c.extend_from_slice(&1u16.to_le_bytes()); // MSZIP
    c.extend_from_slice(&u32::MAX.to_le_bytes()); // cbFile: the lie
    c.extend_from_slice(&0u32.to_le_bytes()); // uoffFolderStart
    c.extend_from_slice(&0u16.to_le_bytes()); // iFolder
    c.extend_from_slice(&0x5821u16.to_le_bytes()); // date
    c.extend_from_slice(&0u16.to_le_bytes()); // time
    c.extend_from_slice(&0x20u16.to_le_bytes()); // attributes
    c.extend_from_slice(name);
    for b in &data_blocks {
        c.extend_from_slice(b);
    }
    c
}
