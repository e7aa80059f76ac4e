//! The one text form of a name from a medium, a file system, an archive or
//! a bundle. It is injective (two different names never give the same
//! text) and inert (safe to print on a terminal, in a log or a SIEM):
//!
//! - a backslash is written `\\`, so every other `\` starts an escape;
//! - a byte that is not part of valid UTF-8 is written `\xNN` (always
//!   0x80 or above: ASCII is valid UTF-8);
//! - an ASCII control character is written `\xNN` (always below 0x80, so
//!   never confused with an invalid byte), and other characters that could
//!   move a terminal's cursor or reorder text (C1 controls, bidirectional
//!   overrides, line separators, BOM) as `\u{NNNN}`.
//!
//! Every record's `path`/`chain` and every printed name uses this form;
//! [`decode`] inverts it, which the tests use to prove injectivity.
//! Terminal safety for text that is not a name (messages, rule metadata)
//! is `output::sanitize`, which leaves this form unchanged.

use std::fmt::Write as _;
use std::path::Path;

/// True for characters that must not reach a terminal or a log as they are.
pub fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200E}' | '\u{200F}' | '\u{061C}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
            | '\u{FEFF}')
}

/// Writes `c` as its visible escape: `\xNN` below 0x80, else `\u{NNNN}`.
pub fn push_escaped(out: &mut String, c: char) {
    let n = c as u32;
    // Writing to a String cannot fail.
    if n < 0x80 {
        let _ = write!(out, "\\x{n:02X}");
    } else {
        let _ = write!(out, "\\u{{{n:04X}}}");
    }
}

/// The text form of a path (see the module docs).
pub fn display(path: &Path) -> String {
    bytes_to_string(path.as_os_str().as_encoded_bytes())
}

/// A `Display` of a path in its text form, for messages and logs.
pub fn show(path: &Path) -> Shown<'_> {
    Shown(path)
}

/// See [`show`].
pub struct Shown<'a>(&'a Path);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&display(self.0))
    }
}

/// The text form of a name given as raw bytes (see the module docs).
pub fn bytes_to_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '\\' {
                out.push_str("\\\\");
            } else if is_dangerous(ch) {
                push_escaped(&mut out, ch);
            } else {
                out.push(ch);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

/// The raw bytes a text form stands for; `None` if `text` is not a text
/// form this module writes.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        let esc = &rest[i + 1..];
        if let Some(after) = esc.strip_prefix('\\') {
            out.push(b'\\');
            rest = after;
        } else if let Some(hex) = esc.strip_prefix('x') {
            out.push(u8::from_str_radix(hex.get(..2)?, 16).ok()?);
            rest = &hex[2..];
        } else if let Some(u) = esc.strip_prefix("u{") {
            let end = u.find('}')?;
            let c = char::from_u32(u32::from_str_radix(&u[..end], 16).ok()?)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &u[end + 1..];
        } else {
            return None;
        }
    }
    out.extend_from_slice(rest.as_bytes());
    Some(out)
}

/// The name as YARA rules see it in the `filename`/`filepath` externals:
/// characters as they are (a rule can look for a right-to-left override),
/// bytes that are not UTF-8 as `\xNN`. Not injective and not inert: for
/// rules only, never printed. `text` is in this module's text form.
pub fn for_rules(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\\') {
        return std::borrow::Cow::Borrowed(text);
    }
    let Some(bytes) = decode(text) else {
        return std::borrow::Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_invalid_bytes_backslashes_and_controls() {
        assert_eq!(bytes_to_string(b"ok/\xff\xfename"), "ok/\\xFF\\xFEname");
        assert_eq!(
            bytes_to_string(b"ok/\\xFF\\xFEname"),
            "ok/\\\\xFF\\\\xFEname"
        );
        assert_eq!(bytes_to_string("日本.txt".as_bytes()), "日本.txt");
        assert_eq!(bytes_to_string(b"a\rb\x1b[32m"), "a\\x0Db\\x1B[32m");
        assert_eq!(
            bytes_to_string("report\u{202E}fdp.exe".as_bytes()),
            "report\\u{202E}fdp.exe"
        );
        assert_eq!(bytes_to_string("c1\u{9b}x".as_bytes()), "c1\\u{009B}x");
    }

    #[test]
    fn is_injective_on_tricky_names() {
        let names: [&[u8]; 12] = [
            b"\xff\xfe",
            b"\\xFF\\xFE",
            b"\\\\xFF",
            b"\\",
            b"\\\\",
            b"\x1b",
            b"\\x1B",
            "\u{202E}".as_bytes(),
            b"\\u{202E}",
            b"\xc3",
            "\u{c3}".as_bytes(),
            b"plain",
        ];
        let mut seen = std::collections::HashMap::new();
        for n in names {
            let t = bytes_to_string(n);
            assert_eq!(
                decode(&t).as_deref(),
                Some(n),
                "round trip of {n:?} via {t}"
            );
            if let Some(other) = seen.insert(t.clone(), n) {
                panic!("{other:?} and {n:?} both print as {t}");
            }
        }
    }

    #[test]
    fn rules_see_characters_as_they_are() {
        let t = bytes_to_string("a\u{202E}b\\c\r".as_bytes());
        assert_eq!(for_rules(&t), "a\u{202E}b\\c\r");
        assert_eq!(for_rules(&bytes_to_string(b"x\xff")), "x\\xFF");
        assert_eq!(for_rules("plain"), "plain");
    }

    #[test]
    fn round_trips_every_byte_pair() {
        for a in 0..=255u8 {
            for b in [0u8, b'\\', b'x', 0x7f, 0x80, 0xc3, 0xa9, 0xff] {
                let n = [a, b, b'\\'];
                assert_eq!(decode(&bytes_to_string(&n)).as_deref(), Some(&n[..]));
            }
        }
    }
}
