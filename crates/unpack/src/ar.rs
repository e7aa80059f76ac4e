//! Unix `ar` archives (`!<arch>\n`): static libraries and Debian packages.
//! Members are named as stored: GNU names (`name/`, `/N` references into
//! the `//` long-name table) and BSD names (`#1/len`, the name at the start
//! of the data) are both resolved; the symbol tables (`/`, `/SYM64/`,
//! `__.SYMDEF`) and the long-name table are not members. A `.deb` is read
//! by recursion: `control.tar.xz` and `data.tar.zst` (or `.gz`, `.xz`) are
//! members whose compression layer and tar are opened below them. A member
//! larger than the bytes left is reported with what is there and a
//! `Corrupt` gap. Written here (no crate): 60-byte text headers.

use crate::locate::Found;
use crate::walker::Walker;
use crate::{ContainerKind, Gap};

const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER: usize = 60;
/// Longest BSD `#1/len` name accepted.
const MAX_NAME: usize = 4096;

/// Recognise an ar archive: the global header opens the file.
pub(crate) fn sniff(data: &[u8]) -> Option<Found> {
    data.starts_with(MAGIC).then_some(Found {
        kind: ContainerKind::Ar,
        offset: 0,
    })
}

/// A decimal header field (space padded).
fn decimal(field: &[u8]) -> Option<u64> {
    let digits = field.iter().take_while(|&&b| b != b' ');
    let mut v = 0u64;
    let mut seen = false;
    for &b in digits {
        v = v
            .checked_mul(10)?
            .checked_add(u64::from(char::from(b).to_digit(10)?))?;
        seen = true;
    }
    (seen && field.iter().skip_while(|&&b| b != b' ').all(|&b| b == b' ')).then_some(v)
}

/// What a member's name field says.
#[derive(Debug, PartialEq, Eq)]
enum Name {
    /// Not a member: symbol table or the long-name table.
    Special,
    LongTable,
    /// A name stored in the field itself.
    Short(Vec<u8>),
    /// GNU `/N`: offset into the long-name table.
    Gnu(usize),
    /// BSD `#1/len`: the first `len` data bytes.
    Bsd(usize),
}

fn parse_name(field: &[u8]) -> Name {
    let trimmed = {
        let end = field.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        &field[..end]
    };
    match trimmed {
        b"/" | b"/SYM64/" | b"__.SYMDEF" | b"__.SYMDEF SORTED" => Name::Special,
        b"//" => Name::LongTable,
        _ => {
            if let Some(n) = trimmed.strip_prefix(b"#1/").and_then(decimal) {
                return Name::Bsd(usize::try_from(n).unwrap_or(usize::MAX));
            }
            if let Some(n) = trimmed.strip_prefix(b"/").and_then(decimal) {
                return Name::Gnu(usize::try_from(n).unwrap_or(usize::MAX));
            }
            // GNU ends short names with `/`; BSD does not.
            Name::Short(trimmed.strip_suffix(b"/").unwrap_or(trimmed).to_vec())
        }
    }
}

/// The long name at `at` in the GNU table: up to `/\n` (or `\n`, or NUL).
fn long_name(table: &[u8], at: usize) -> Option<Vec<u8>> {
    let rest = table.get(at..)?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .unwrap_or(rest.len());
    let name = &rest[..end];
    Some(name.strip_suffix(b"/").unwrap_or(name).to_vec())
}

impl Walker<'_, '_> {
    pub(crate) fn ar(&mut self, inner: &[u8], depth: u32) {
        let mut at = MAGIC.len();
        let mut table: &[u8] = &[];
        // Each round consumes a header: bounded by the input.
        while at < inner.len() && !self.stopped {
            let Some(h) = inner.get(at..at + HEADER) else {
                return self.skip(Gap::Corrupt, format!("ar: header at offset {at} truncated"));
            };
            let Some(size) = decimal(&h[48..58]).filter(|_| &h[58..60] == b"`\n") else {
                return self.skip(Gap::Corrupt, format!("ar: bad header at offset {at}"));
            };
            let start = at + HEADER;
            let left = (inner.len() - start) as u64;
            let body = &inner[start..start + usize::try_from(size.min(left)).unwrap_or(0)];
            let truncated = (size > left)
                .then(|| format!("ar member declares {size} bytes, {left} left in the archive"));
            match parse_name(&h[..16]) {
                Name::Special => {}
                Name::LongTable => table = body,
                Name::Short(n) => self.ar_member(n, body, truncated, depth),
                Name::Gnu(off) => match long_name(table, off) {
                    Some(n) => self.ar_member(n, body, truncated, depth),
                    None => self.ar_member(format!("/{off}").into_bytes(), body, truncated, depth),
                },
                Name::Bsd(len) if len <= MAX_NAME && len <= body.len() => {
                    let n = body[..len].split(|&b| b == 0).next().unwrap_or_default();
                    // The BSD symbol table is `#1/len` named `__.SYMDEF...`.
                    if !n.starts_with(b"__.SYMDEF") {
                        self.ar_member(n.to_vec(), &body[len..], truncated, depth);
                    }
                }
                Name::Bsd(_) => {
                    return self.skip(Gap::Corrupt, format!("ar: bad BSD name at offset {at}"))
                }
            }
            if size > left {
                return;
            }
            // Data is padded to an even offset.
            at = usize::try_from((start as u64).saturating_add(size).saturating_add(size & 1))
                .unwrap_or(usize::MAX);
        }
    }

    fn ar_member(&mut self, name: Vec<u8>, body: &[u8], truncated: Option<String>, depth: u32) {
        if !self.admit() {
            return;
        }
        self.named(name, |w| {
            w.stored_member(body, truncated, depth, "ar member")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_name(b"/               "), Name::Special);
        assert_eq!(parse_name(b"//              "), Name::LongTable);
        assert_eq!(parse_name(b"/42             "), Name::Gnu(42));
        assert_eq!(parse_name(b"#1/20           "), Name::Bsd(20));
        assert_eq!(
            parse_name(b"foo.o/          "),
            Name::Short(b"foo.o".to_vec())
        );
        assert_eq!(
            parse_name(b"debian-binary   "),
            Name::Short(b"debian-binary".to_vec())
        );
        assert_eq!(
            long_name(b"a_long_name.o/\nb.o/\n", 15),
            Some(b"b.o".to_vec())
        );
        assert_eq!(long_name(b"x", 5), None);
    }

    #[test]
    fn decimal_fields() {
        assert_eq!(decimal(b"123       "), Some(123));
        assert_eq!(decimal(b"          "), None);
        assert_eq!(decimal(b"12 3      "), None);
        assert_eq!(decimal(b"-1        "), None);
    }
}
