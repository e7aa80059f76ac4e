//! VBA projects (MS-OVBA): the decompression of section 2.4.1 (a
//! signature byte 0x01, then chunks of at most 4096 decompressed bytes,
//! each a 2-byte header and either raw bytes or flag-byte groups of
//! literals and copy tokens whose offset/length split depends on how far
//! into the chunk the token sits), and the `dir` stream's records
//! (section 2.3.4.2) that name each module, its stream and the offset of
//! its compressed source inside that stream. Written here from the
//! specification; every read is checked, output stops at the caller's cap.

use std::fmt;

/// Decompressed bytes one chunk may produce.
const CHUNK_MAX: usize = 4096;

/// Why decompression or the `dir` stream parse stopped early, with the
/// input offset it stopped at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broken {
    pub what: &'static str,
    pub at: usize,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.what, self.at)
    }
}

fn broken(what: &'static str, at: usize) -> Option<Broken> {
    Some(Broken { what, at })
}

/// Decompress an MS-OVBA CompressedContainer. Output stops once it holds
/// `cap` bytes (the caller judges that as a limit); on damaged input the
/// readable part is returned with the reason.
pub(crate) fn decompress(input: &[u8], cap: usize) -> (Vec<u8>, Option<Broken>) {
    let mut out = Vec::new();
    if input.first() != Some(&0x01) {
        return (out, broken("no MS-OVBA signature byte", 0));
    }
    let mut pos = 1;
    while pos < input.len() && out.len() < cap {
        let Some(h) = input.get(pos..pos + 2) else {
            return (out, broken("truncated chunk header", pos));
        };
        let header = u16::from_le_bytes([h[0], h[1]]);
        if (header >> 12) & 0x7 != 0b011 {
            return (out, broken("bad chunk signature", pos));
        }
        let size = usize::from(header & 0x0fff) + 3;
        let end = pos.saturating_add(size);
        let data = input.get(pos + 2..end.min(input.len())).unwrap_or_default();
        let err = if header & 0x8000 == 0 {
            let take = data.len().min(CHUNK_MAX);
            out.extend_from_slice(&data[..take]);
            (take < CHUNK_MAX).then_some(Broken {
                what: "truncated raw chunk",
                at: pos,
            })
        } else {
            chunk(data, pos + 2, &mut out, cap)
        };
        if err.is_some() {
            return (out, err);
        }
        if end > input.len() {
            return (out, broken("truncated chunk", pos));
        }
        pos = end;
    }
    out.truncate(cap);
    (out, None)
}

/// Decode one compressed chunk's token sequences (`data`, found at `base`
/// in the container) onto `out`.
fn chunk(data: &[u8], base: usize, out: &mut Vec<u8>, cap: usize) -> Option<Broken> {
    let start = out.len();
    let mut i = 0;
    while i < data.len() {
        let flags = data[i];
        i += 1;
        for bit in 0..8 {
            if i >= data.len() || out.len() >= cap {
                return None;
            }
            if flags >> bit & 1 == 0 {
                out.push(data[i]);
                i += 1;
            } else {
                let Some(t) = data.get(i..i + 2) else {
                    return broken("truncated copy token", base + i);
                };
                let token = u16::from_le_bytes([t[0], t[1]]);
                if let Some(e) = copy(token, start, out, cap) {
                    return broken(e, base + i);
                }
                i += 2;
            }
            if out.len() - start > CHUNK_MAX {
                return broken("chunk decompresses past 4096 bytes", base + i);
            }
        }
    }
    None
}

/// Apply one copy token at the current end of `out` (the chunk began at
/// `start`): its offset/length split depends on how much of the chunk is
/// already decompressed (MS-OVBA 2.4.1.3.19.1).
fn copy(token: u16, start: usize, out: &mut Vec<u8>, cap: usize) -> Option<&'static str> {
    let diff = out.len() - start;
    let mut bits = 4u32;
    while bits < 12 && (1usize << bits) < diff {
        bits += 1;
    }
    let length_mask = 0xffffu16 >> bits;
    let length = usize::from(token & length_mask) + 3;
    let offset = usize::from(token >> (16 - bits)) + 1;
    if offset > diff {
        return Some("copy token reaches before the chunk");
    }
    // At most one byte past the chunk's 4096, so the caller sees the excess.
    let room = (CHUNK_MAX + 1).saturating_sub(out.len() - start);
    let n = length.min(cap.saturating_sub(out.len())).min(room);
    let from = out.len() - offset;
    if offset >= n {
        out.extend_from_within(from..from + n);
    } else {
        // Overlapping copy: each byte may be one this copy just wrote.
        for i in 0..n {
            let b = out.get(from + i).copied().unwrap_or_default();
            out.push(b);
        }
    }
    None
}

/// One module of a VBA project as the `dir` stream names it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Module {
    /// MODULENAME (bytes in the project's code page).
    pub name: Vec<u8>,
    /// MODULENAMEUNICODE (UTF-16LE), when present.
    pub name_unicode: Option<Vec<u8>>,
    /// MODULESTREAMNAME (code page) and its UTF-16LE twin.
    pub stream: Vec<u8>,
    pub stream_unicode: Option<Vec<u8>>,
    /// MODULEOFFSET: where the compressed source starts in the stream.
    pub offset: u32,
}

impl Module {
    /// The name to show (`$vba/<this>`): the Unicode name, else the code
    /// page bytes as they are.
    pub fn display_name(&self) -> Vec<u8> {
        match &self.name_unicode {
            Some(u) if !u.is_empty() => utf16le(u).into_bytes(),
            _ => self.name.clone(),
        }
    }

    /// The name of the module's stream in the VBA storage.
    pub fn stream_name(&self) -> String {
        match &self.stream_unicode {
            Some(u) if !u.is_empty() => utf16le(u),
            _ => self.stream.iter().map(|&b| char::from(b)).collect(),
        }
    }
}

/// UTF-16LE bytes as text (unpaired surrogates replaced).
pub(crate) fn utf16le(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// The modules a decompressed `dir` stream lists, and why parsing
/// stopped early if it did (the modules read until then are kept).
pub(crate) fn modules(dir: &[u8]) -> (Vec<Module>, Option<Broken>) {
    let mut found = Vec::new();
    let mut cur: Option<Module> = None;
    let mut pos = 0;
    while pos < dir.len() {
        let Some(h) = dir.get(pos..pos + 6) else {
            return (found, broken("truncated dir record", pos));
        };
        let id = u16::from_le_bytes([h[0], h[1]]);
        let size = u32::from_le_bytes([h[2], h[3], h[4], h[5]]) as usize;
        // PROJECTVERSION says 4 but holds 6 bytes (MS-OVBA 2.3.4.2.1.11).
        let len = if id == 0x0009 { 6 } else { size };
        let Some(data) = pos.checked_add(6 + len).and_then(|e| dir.get(pos + 6..e)) else {
            return (found, broken("dir record runs past the stream", pos));
        };
        pos += 6 + len;
        match id {
            0x0019 => {
                cur = Some(Module {
                    name: data.to_vec(),
                    ..Module::default()
                })
            }
            0x0047 | 0x001a | 0x0032 | 0x0031 => {
                let Some(m) = cur.as_mut() else {
                    return (found, broken("module record outside a module", pos));
                };
                match id {
                    0x0047 => m.name_unicode = Some(data.to_vec()),
                    0x001a => m.stream = data.to_vec(),
                    0x0032 => m.stream_unicode = Some(data.to_vec()),
                    _ => {
                        let Some(o) = data.get(..4) else {
                            return (found, broken("short MODULEOFFSET", pos));
                        };
                        m.offset = u32::from_le_bytes([o[0], o[1], o[2], o[3]]);
                    }
                }
            }
            0x002b => found.extend(cur.take()),
            0x0010 => return (found, None),
            _ => {}
        }
    }
    found.extend(cur.take());
    (found, None)
}

#[cfg(test)]
pub(super) mod tests;
