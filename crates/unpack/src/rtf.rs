//! RTF documents: the embedded objects. Every `\objdata` group (plain or
//! `{\*\objdata …}`) is decoded as Word reads it: hex digits, whitespace
//! and stray control words or symbols skipped, `\bin N` raw bytes taken as
//! they are, `{\*…}` destination groups inside ignored; the bytes are
//! reported as `$objdata/<n>` (n counts the non-empty groups from 1). When they are
//! an OLE1 embedded object (MS-OLEDS 2.2.4: OLEVersion, FormatID 2, class
//! name, topic, item, native data) the native data is reported too: for
//! class `Package` the file it wraps (label, original path, temporary
//! path, data), named `$objdata/<n>/<label>`; for any other class the
//! native data as `$objdata/<n>/$native` (an `Equation.3` or other OLE2
//! payload is then opened by the OLE2 reader). A group cut short by the end
//! of the file, or a Package whose data runs past its object, is a
//! `Corrupt` gap after what was decoded. No crate: the decoder is a small
//! state machine that must stop at [`Walker::cap`].

use crate::locate::Found;
use crate::mail::{find, Decoded};
use crate::walker::Walker;
use crate::ContainerKind;

const BOM: &[u8] = b"\xef\xbb\xbf";
const OBJDATA: &[u8] = b"\\objdata";
/// Longest control word (letters) and parameter (digits) RTF allows.
const MAX_WORD: usize = 32;
const MAX_PARAM: usize = 10;
/// Longest OLE1 class name and Package string taken.
const MAX_STRING: usize = 4096;

/// Recognise RTF: `{\rt` at the start (Word opens a file whose header
/// says no more, so malware uses `{\rtvpn` and the like), after an
/// optional UTF-8 BOM.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    let d = data.strip_prefix(BOM).unwrap_or(data);
    d.starts_with(b"{\\rt").then_some(Found {
        kind: ContainerKind::Rtf,
        offset: 0,
    })
}

/// The control word at `d[0]` (just after a backslash): its name, its
/// numeric parameter, and the bytes it spans (delimiting space included).
fn control_word(d: &[u8]) -> (&[u8], Option<i64>, usize) {
    let letters = d
        .iter()
        .take(MAX_WORD)
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let mut i = letters;
    let neg = d.get(i) == Some(&b'-');
    if neg {
        i += 1;
    }
    let digits = d[i.min(d.len())..]
        .iter()
        .take(MAX_PARAM)
        .take_while(|c| c.is_ascii_digit())
        .count();
    let param = std::str::from_utf8(&d[i.min(d.len())..(i + digits).min(d.len())])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(|v| if neg { -v } else { v });
    i = if digits > 0 { i + digits } else { letters };
    if d.get(i) == Some(&b' ') {
        i += 1;
    }
    (&d[..letters], param, i)
}

/// Decoder state for one `\objdata` group.
struct Objdata {
    out: Vec<u8>,
    half: Option<u8>,
    cap: usize,
    /// Group nesting inside the objdata group (1: the group itself).
    level: u32,
    /// Inside a `{\*…}` group entered at this level: ignore content.
    ignore_from: Option<u32>,
}

impl Objdata {
    fn nibble(&mut self, v: u8) {
        match self.half.take() {
            Some(hi) => self.out.push(hi << 4 | v),
            None => self.half = Some(v),
        }
    }

    /// A `{`: a nested group, ignored when it is a `{\*…}` destination.
    fn open(&mut self, rest: &[u8]) {
        self.level = self.level.saturating_add(1);
        if self.ignore_from.is_none() && rest.starts_with(b"\\*") {
            self.ignore_from = Some(self.level);
        }
    }

    /// A `}`: true when it closes the objdata group.
    fn close(&mut self) -> bool {
        if self.ignore_from == Some(self.level) {
            self.ignore_from = None;
        }
        self.level -= 1;
        self.level == 0
    }

    /// A backslash at `d[i]`: how many bytes it spans.
    fn control(&mut self, d: &[u8], i: usize) -> usize {
        let rest = d.get(i + 1..).unwrap_or_default();
        match rest.first() {
            Some(c) if c.is_ascii_alphabetic() => {
                let (word, param, len) = control_word(rest);
                let raw = match (word, param) {
                    (b"bin", Some(n)) => usize::try_from(n).unwrap_or(0),
                    _ => 0,
                };
                let from = i + 1 + len;
                let bytes = d.get(from..).unwrap_or_default();
                let bytes = bytes.get(..raw).unwrap_or(bytes);
                if self.ignore_from.is_none() {
                    let room = self.cap.saturating_sub(self.out.len());
                    self.out
                        .extend_from_slice(bytes.get(..room).unwrap_or(bytes));
                }
                1 + len + bytes.len()
            }
            // \'hh: a character by its code, not object data.
            Some(b'\'') => 4,
            Some(_) => 2,
            None => 1,
        }
    }
}

/// Decode the `\objdata` group whose content starts at `d[0]`: the bytes
/// (at most `cap`) and how much of `d` the group spans.
fn objdata(d: &[u8], cap: usize) -> (Decoded, usize) {
    let mut s = Objdata {
        out: Vec::new(),
        half: None,
        cap,
        level: 1,
        ignore_from: None,
    };
    let mut i = 0;
    while let Some(&c) = d.get(i) {
        if s.out.len() >= cap {
            s.out.truncate(cap);
            return (Decoded::ok(s.out), i);
        }
        match c {
            b'{' => s.open(d.get(i + 1..).unwrap_or_default()),
            b'}' if s.close() => return (Decoded::ok(s.out), i + 1),
            b'}' => {}
            b'\\' => {
                i += s.control(d, i);
                continue;
            }
            _ if s.ignore_from.is_some() => {}
            b'0'..=b'9' => s.nibble(c - b'0'),
            b'a'..=b'f' => s.nibble(c - b'a' + 10),
            b'A'..=b'F' => s.nibble(c - b'A' + 10),
            _ => {}
        }
        i += 1;
    }
    let error = Some("rtf: \\objdata group not closed (truncated)".into());
    (Decoded { out: s.out, error }, d.len())
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A length-prefixed string at `at`: its bytes (NUL removed) and the
/// offset after it.
fn prefixed(d: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = usize::try_from(u32_at(d, at)?).ok()?;
    if len > MAX_STRING {
        return None;
    }
    let s = d.get(at + 4..at + 4 + len)?;
    let s = s.split(|&c| c == 0).next().unwrap_or(s);
    Some((s, at + 4 + len))
}

/// An OLE1 embedded object: its class name and native data (as much as
/// the object holds), and whether that data was cut short.
fn ole1(d: &[u8]) -> Option<(&[u8], &[u8], bool)> {
    // OLEVersion is to be ignored (MS-OLEDS 2.2.4); FormatID 2: embedded.
    if u32_at(d, 4)? != 2 {
        return None;
    }
    let (class, at) = prefixed(d, 8)?;
    if class.is_empty() || !class.iter().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    let (_topic, at) = prefixed(d, at)?;
    let (_item, at) = prefixed(d, at)?;
    let size = usize::try_from(u32_at(d, at)?).ok()?;
    let rest = d.get(at + 4..)?;
    let native = rest.get(..size).unwrap_or(rest);
    Some((class, native, native.len() < size))
}

/// A NUL-terminated string at `at` (at most [`MAX_STRING`] bytes).
fn zstring(d: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = d.get(at..)?;
    let len = rest.iter().take(MAX_STRING).position(|&c| c == 0)?;
    Some((&rest[..len], at + len + 1))
}

/// The file a `Package` object wraps: (name, data, cut short).
fn package(d: &[u8]) -> Option<(Vec<u8>, &[u8], bool)> {
    let (label, at) = zstring(d, 2)?;
    let (orig, at) = zstring(d, at)?;
    // Two 16-bit fields: reserved, then the kind (3: an embedded file).
    if d.get(at + 2..at + 4)? != [3, 0] {
        return None;
    }
    let tmp_len = usize::try_from(u32_at(d, at + 4)?).ok()?;
    let at = (at + 8).checked_add(tmp_len)?;
    let tmp = d.get(at - tmp_len..at)?;
    let size = usize::try_from(u32_at(d, at)?).ok()?;
    let rest = d.get(at + 4..)?;
    let data = rest.get(..size).unwrap_or(rest);
    let base = |p: &[u8]| -> Vec<u8> {
        let p = p.split(|&c| c == 0).next().unwrap_or(p);
        p.rsplit(|&c| c == b'\\' || c == b'/')
            .next()
            .unwrap_or(p)
            .to_vec()
    };
    let name = [label.to_vec(), base(orig), base(tmp)]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| b"$package".to_vec());
    Some((name, data, data.len() < size))
}

impl Walker<'_, '_> {
    pub(crate) fn rtf(&mut self, data: &[u8], depth: u32) {
        let mut n = 0u32;
        let mut from = 0;
        while let Some(i) = data.get(from..).and_then(|d| find(d, OBJDATA)) {
            let at = from + i + OBJDATA.len();
            from = at;
            if data.get(at).is_some_and(u8::is_ascii_alphabetic) {
                continue; // a longer control word
            }
            let (dec, used) = objdata(&data[at..], self.cap());
            from = at + used;
            if dec.out.is_empty() && dec.error.is_none() {
                continue;
            }
            if !self.admit() {
                return;
            }
            n += 1;
            let name = format!("$objdata/{n}");
            let inner = ole1(&dec.out).map(|(class, native, cut)| {
                let class = class.to_vec();
                (class, native.to_vec(), cut)
            });
            self.named(name.clone().into_bytes(), |w| {
                w.decoded(dec.out, used as u64, dec.error, depth, "rtf \\objdata")
            });
            if let Some((class, native, cut)) = inner {
                self.ole1_native(&name, &class, native, cut, depth);
            }
            if self.stopped {
                return;
            }
        }
    }

    /// The native data of an OLE1 object, or for a Package the file in it.
    fn ole1_native(&mut self, prefix: &str, class: &[u8], native: Vec<u8>, cut: bool, depth: u32) {
        if native.is_empty() || !self.admit() {
            return;
        }
        let packaged = if class == b"Package" {
            package(&native)
        } else {
            None
        };
        let (leaf, bytes, cut) = match packaged {
            Some((name, data, pcut)) => (name, data.to_vec(), cut || pcut),
            None => (b"$native".to_vec(), native, cut),
        };
        let name = [prefix.as_bytes(), b"/", &leaf].concat();
        let error = cut.then(|| "rtf: OLE1 object data cut short".to_string());
        let len = bytes.len() as u64;
        self.named(name, |w| {
            w.decoded(bytes, len, error, depth, "rtf embedded object")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objdata_hex_with_noise() {
        let (d, used) = objdata(b" 01 02\r\n{\\*\\x 99}0\\par 3\\'41ff}rest", 100);
        assert_eq!(d.out, [1, 2, 3, 0xff]);
        assert!(d.error.is_none());
        assert_eq!(used, 31);
        let (d, _) = objdata(b"\\bin3 \x00}\x01}", 100);
        assert_eq!(d.out, [0, b'}', 1]);
        let (d, _) = objdata(b"0102", 100);
        assert!(d.error.is_some());
        assert_eq!(objdata(b"00112233}", 2).0.out, [0, 0x11]);
    }

    #[test]
    fn ole1_package() {
        let mut pkg = vec![2, 0];
        pkg.extend_from_slice(b"a.com\0C:\\x\\a.com\0\0\0\x03\0");
        pkg.extend_from_slice(&6u32.to_le_bytes());
        pkg.extend_from_slice(b"C:\\t\\\0");
        pkg.extend_from_slice(&3u32.to_le_bytes());
        pkg.extend_from_slice(b"abc");
        let (name, data, cut) = package(&pkg).expect("package");
        assert_eq!(
            (name.as_slice(), data, cut),
            (&b"a.com"[..], &b"abc"[..], false)
        );
        let mut obj = Vec::new();
        obj.extend_from_slice(&0x501u32.to_le_bytes());
        obj.extend_from_slice(&2u32.to_le_bytes());
        obj.extend_from_slice(&8u32.to_le_bytes());
        obj.extend_from_slice(b"Package\0");
        obj.extend_from_slice(&[0; 8]);
        obj.extend_from_slice(&(pkg.len() as u32 + 5).to_le_bytes());
        obj.extend_from_slice(&pkg);
        let (class, native, cut) = ole1(&obj).expect("ole1");
        assert_eq!((class, native, cut), (&b"Package"[..], &pkg[..], true));
    }
}
