//! Writers for the text-encoded containers no Debian tool writes the way
//! the tests need: BinHex 4.0 (with its run-length coding and
//! CRC-16/XMODEM), an RTF whose `\objdata` holds an OLE1 `Package`, HTML
//! pages with `data:` URIs and script payloads, and a bomb of nested
//! `message/rfc822` parts.

/// CRC-16/XMODEM (polynomial 0x1021, initial 0), BinHex's CRC.
pub fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Plain base64 (standard alphabet, padded), lines of 76 characters.
pub fn base64_lines(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let v = chunk
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, &b)| v | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 76 == 0 {
            out.push_str("\r\n");
        }
        out.push(c);
    }
    out
}

/// BinHex's run-length coding: runs of 3 to 255 bytes as `b 0x90 n`,
/// a literal 0x90 as `0x90 0`.
fn binhex_rle(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        let run = data[i..].iter().take(255).take_while(|&&c| c == b).count();
        if b == 0x90 {
            out.extend_from_slice(&[0x90, 0]);
            i += 1;
        } else if run >= 3 {
            out.extend_from_slice(&[b, 0x90, run as u8]);
            i += run;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

/// A BinHex 4.0 file holding `data` (data fork) and `rsrc` (resource
/// fork) under `name`, with correct CRCs.
pub fn binhex(name: &[u8], data: &[u8], rsrc: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    let mut raw = vec![name.len() as u8];
    raw.extend_from_slice(name);
    raw.push(0);
    raw.extend_from_slice(b"TEXTttxt\0\0");
    raw.extend_from_slice(&(data.len() as u32).to_be_bytes());
    raw.extend_from_slice(&(rsrc.len() as u32).to_be_bytes());
    let crc = crc16_xmodem(&raw);
    raw.extend_from_slice(&crc.to_be_bytes());
    for fork in [data, rsrc] {
        raw.extend_from_slice(fork);
        raw.extend_from_slice(&crc16_xmodem(fork).to_be_bytes());
    }
    let packed = binhex_rle(&raw);
    let mut chars = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in &packed {
        acc = (acc << 8 | u32::from(b)) & 0xffff;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            chars.push(A[(acc >> bits & 63) as usize]);
        }
    }
    if bits > 0 {
        chars.push(A[(acc << (6 - bits) & 63) as usize]);
    }
    let mut out = b"(This file must be converted with BinHex 4.0)\r\n\r\n:".to_vec();
    for (i, c) in chars.iter().enumerate() {
        if i > 0 && (i + 1) % 64 == 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.push(*c);
    }
    out.extend_from_slice(b":\r\n");
    out
}

/// An OLE1 embedded object (MS-OLEDS 2.2.4) of class `Package` wrapping
/// `data` as the file `label` (original path `C:\Users\x\<label>`).
pub fn ole1_package(label: &str, data: &[u8]) -> Vec<u8> {
    let orig = format!("C:\\Users\\x\\{label}");
    let tmp = format!("C:\\Users\\x\\AppData\\Local\\Temp\\{label}\0");
    let mut pkg = vec![2, 0];
    for s in [label, orig.as_str()] {
        pkg.extend_from_slice(s.as_bytes());
        pkg.push(0);
    }
    pkg.extend_from_slice(&[0, 0, 3, 0]);
    pkg.extend_from_slice(&(tmp.len() as u32).to_le_bytes());
    pkg.extend_from_slice(tmp.as_bytes());
    pkg.extend_from_slice(&(data.len() as u32).to_le_bytes());
    pkg.extend_from_slice(data);
    let mut obj = Vec::new();
    obj.extend_from_slice(&0x0501u32.to_le_bytes());
    obj.extend_from_slice(&2u32.to_le_bytes());
    for s in [&b"Package\0"[..], b"\0", b"\0"] {
        obj.extend_from_slice(&(s.len() as u32).to_le_bytes());
        obj.extend_from_slice(s);
    }
    obj.extend_from_slice(&(pkg.len() as u32).to_le_bytes());
    obj.extend_from_slice(&pkg);
    obj
}

/// An RTF document with `obj` as the hex of an embedded object's
/// `\objdata` (lines of 128 hex digits, as Word writes them).
pub fn rtf_with_object(obj: &[u8]) -> Vec<u8> {
    let hex: String = obj.iter().map(|b| format!("{b:02x}")).collect();
    let mut body = String::new();
    for (i, c) in hex.chars().enumerate() {
        if i % 128 == 0 {
            body.push_str("\r\n");
        }
        body.push(c);
    }
    format!(
        "{{\\rtf1\\ansi\\deff0{{\\fonttbl{{\\f0 Calibri;}}}}\r\n\\pard Report attached:\\par\r\n\
         {{\\object\\objemb\\objw1440\\objh480{{\\*\\objclass Package}}{{\\*\\objdata{body}\r\n}}\
         {{\\result{{\\pict\\wmetafile8 0000}}}}}}\\par\r\n}}\r\n"
    )
    .into_bytes()
}

/// An HTML page with `data` in an `<a href="data:…;base64,…">` link.
pub fn html_data_uri(data: &[u8]) -> Vec<u8> {
    let b64 = base64_lines(data).replace("\r\n", "");
    format!(
        "<!DOCTYPE html>\n<html><head><title>Invoice</title></head>\n<body>\n\
         <p>Your invoice is ready.</p>\n\
         <a download=\"invoice.com\" href=\"data:application/octet-stream;base64,{b64}\">Download</a>\n\
         </body></html>\n"
    )
    .into_bytes()
}

/// An HTML page whose script decodes `data` with `atob` (HTML smuggling).
pub fn html_atob(data: &[u8]) -> Vec<u8> {
    let b64 = base64_lines(data).replace("\r\n", "");
    format!(
        "<html>\n<head><meta charset=\"utf-8\"></head>\n<body>\n<script>\n\
         var payload = atob(\"{b64}\");\n\
         var bytes = new Uint8Array(payload.length);\n\
         for (var i = 0; i < payload.length; i++) bytes[i] = payload.charCodeAt(i);\n\
         var blob = new Blob([bytes], {{type: 'application/octet-stream'}});\n\
         </script>\n</body></html>\n"
    )
    .into_bytes()
}

/// `levels` messages nested as `message/rfc822` parts, every other level
/// base64-encoded; the innermost holds a text part.
pub fn mime_bomb(levels: u32) -> Vec<u8> {
    let mut msg = b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbottom\r\n".to_vec();
    for i in 0..levels {
        let (cte, body) = if i % 2 == 0 {
            ("base64", base64_lines(&msg).into_bytes())
        } else {
            ("7bit", msg.clone())
        };
        let mut outer = format!(
            "MIME-Version: 1.0\r\nSubject: level {i}\r\n\
             Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n\
             Content-Type: message/rfc822\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        )
        .into_bytes();
        outer.extend_from_slice(&body);
        outer.extend_from_slice(format!("\r\n--b{i}--\r\n").as_bytes());
        msg = outer;
    }
    msg
}
