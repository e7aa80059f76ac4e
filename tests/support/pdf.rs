//! A PDF writer for the deep-inspection tests, with the stream encoders
//! kensa must undo (ASCIIHex, ASCII85, LZW, RunLength, the PNG predictor;
//! Flate through flate2). No Debian tool writes these filters on demand,
//! so the samples are built here, from ISO 32000-1 section 7.4. Objects are
//! numbered 1..N in the order given; `pdf` writes a correct xref table and
//! trailer, `pdf_without_xref` none at all (kensa does not read the xref).

use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;

/// One indirect object: its value (a dictionary for a stream) and, for a
/// stream, its encoded data. `/Length` is added when the dictionary has
/// none.
pub struct PdfObj {
    pub value: String,
    pub stream: Option<Vec<u8>>,
}

impl PdfObj {
    pub fn plain(value: &str) -> Self {
        PdfObj {
            value: value.to_string(),
            stream: None,
        }
    }

    pub fn stream(dict_entries: &str, data: Vec<u8>) -> Self {
        PdfObj {
            value: dict_entries.to_string(),
            stream: Some(data),
        }
    }
}

fn body(objects: &[PdfObj]) -> (Vec<u8>, Vec<usize>) {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).unwrap();
        match &o.stream {
            None => writeln!(out, "{}", o.value).unwrap(),
            Some(data) => {
                let length = if o.value.contains("/Length") {
                    String::new()
                } else {
                    format!(" /Length {}", data.len())
                };
                write!(out, "<< {}{length} >>\nstream\r\n", o.value).unwrap();
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\nendstream\n");
            }
        }
        out.extend_from_slice(b"endobj\n");
    }
    (out, offsets)
}

/// A PDF with a correct cross-reference table; object 1 is the root.
pub fn pdf(objects: &[PdfObj]) -> Vec<u8> {
    let (mut out, offsets) = body(objects);
    let xref = out.len();
    write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).unwrap();
    for off in offsets {
        writeln!(out, "{off:010} 00000 n ").unwrap();
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .unwrap();
    out
}

/// The same objects, no xref, no trailer.
pub fn pdf_without_xref(objects: &[PdfObj]) -> Vec<u8> {
    let (mut out, _) = body(objects);
    out.extend_from_slice(b"%%EOF\n");
    out
}

/// A catalog and one page, for a stream to sit beside.
pub fn catalog() -> PdfObj {
    PdfObj::plain("<< /Type /Catalog >>")
}

pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// zlib of `n` zero bytes, written in 1 MiB pieces (no `n`-byte buffer).
pub fn zlib_zeros(n: u64) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        e.write_all(&chunk[..k]).unwrap();
        left -= k as u64;
    }
    e.finish().unwrap()
}

/// ASCIIHexDecode's input: hex pairs, a line break every 32, `>` at the end.
pub fn ascii_hex(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, b) in data.iter().enumerate() {
        if i > 0 && i % 32 == 0 {
            out.push(b'\n');
        }
        write!(out, "{b:02X}").unwrap();
    }
    out.push(b'>');
    out
}

/// ASCII85Decode's input, `z` for zero groups, `~>` at the end.
pub fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(4) {
        let mut group = [0u8; 4];
        group[..chunk.len()].copy_from_slice(chunk);
        let mut v = u32::from_be_bytes(group);
        if chunk.len() == 4 && v == 0 {
            out.push(b'z');
            continue;
        }
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = (v % 85) as u8 + b'!';
            v /= 85;
        }
        out.extend_from_slice(&digits[..chunk.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

/// LZWDecode's input (EarlyChange 1): 9-bit codes, every byte a literal
/// code, a clear-table code every 200 codes so the width never grows, the
/// end-of-data code last.
pub fn lzw(data: &[u8]) -> Vec<u8> {
    let mut codes = vec![256u16];
    for (i, &b) in data.iter().enumerate() {
        if i > 0 && i % 200 == 0 {
            codes.push(256);
        }
        codes.push(u16::from(b));
    }
    codes.push(257);
    let (mut out, mut acc, mut n) = (Vec::new(), 0u32, 0u32);
    for c in codes {
        acc = (acc << 9) | u32::from(c);
        n += 9;
        while n >= 8 {
            out.push((acc >> (n - 8)) as u8);
            n -= 8;
        }
    }
    if n > 0 {
        out.push((acc << (8 - n)) as u8);
    }
    out
}

/// RunLengthDecode's input: runs of two or more equal bytes repeated,
/// the rest literal, the end-of-data byte last.
pub fn run_length(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let run = data[i..]
            .iter()
            .take(128)
            .take_while(|&&b| b == data[i])
            .count();
        if run >= 2 {
            out.push((257 - run) as u8);
            out.push(data[i]);
            i += run;
            continue;
        }
        let mut j = i;
        while j < data.len() && j - i < 128 && data.get(j + 1) != Some(&data[j]) {
            j += 1;
        }
        let j = j.max(i + 1);
        out.push((j - i - 1) as u8);
        out.extend_from_slice(&data[i..j]);
        i = j;
    }
    out.push(128);
    out
}

/// PNG-predicted rows of `columns` bytes (1 colour, 8 bits), row `k`
/// using PNG filter `k % 5`, ready for `/Predictor 15`.
pub fn png_predict(data: &[u8], columns: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = vec![0u8; columns];
    for (k, row) in data.chunks(columns).enumerate() {
        let mut cur = row.to_vec();
        cur.resize(columns, 0);
        let tag = (k % 5) as u8;
        out.push(tag);
        for i in 0..columns {
            let a = if i > 0 { cur[i - 1] } else { 0 };
            let (b, c) = (prev[i], if i > 0 { prev[i - 1] } else { 0 });
            let pred = match tag {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                _ => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
            };
            out.push(cur[i].wrapping_sub(pred));
        }
        prev = cur;
    }
    out
}
