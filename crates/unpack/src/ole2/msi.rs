//! MSI stream names. Windows Installer packs the names of the streams it
//! stores into the compound file: each UTF-16 code unit in 0x3800..0x4800
//! holds two characters of a 64-letter alphabet (`0-9 A-Z a-z . _`), a unit
//! in 0x4800..0x4840 holds one, and 0x4840 marks the database's own tables
//! (shown here as `!`, as msitools prints them). Decoding turns
//! `䡀䌋䄱...` back into `Binary.foo` or `cab1.cab`.

/// The 64 letters MSI packs into a name, in code order.
const ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";

/// The code unit that opens the name of a table stream.
const TABLE_MARK: u32 = 0x4840;

/// True when `name` is one of an MSI database's table streams: a compound
/// file holding one is an MSI, and its other names are packed too.
pub(crate) fn is_table_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c as u32 == TABLE_MARK)
}

/// The readable form of a packed MSI stream name; characters outside the
/// packed range are kept as they are.
pub(crate) fn decode(name: &str) -> String {
    let letter = |v: u32| char::from(ALPHABET[(v & 0x3f) as usize]);
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let u = c as u32;
        match u {
            0x3800..=0x47ff => {
                let v = u - 0x3800;
                out.push(letter(v));
                out.push(letter(v >> 6));
            }
            0x4800..=0x483f => out.push(letter(u - 0x4800)),
            TABLE_MARK => out.push('!'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs a name the way Windows Installer does (the inverse of `decode`).
    fn encode(name: &str, table: bool) -> String {
        let code = |b: u8| ALPHABET.iter().position(|&a| a == b).map(|p| p as u32);
        let mut out = String::new();
        if table {
            out.push(char::from_u32(TABLE_MARK).unwrap());
        }
        let bytes = name.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let first = code(bytes[i]).unwrap();
            match bytes.get(i + 1).and_then(|&b| code(b)) {
                Some(second) => {
                    out.push(char::from_u32(0x3800 + first + (second << 6)).unwrap());
                    i += 2;
                }
                None => {
                    out.push(char::from_u32(0x4800 + first).unwrap());
                    i += 1;
                }
            }
        }
        out
    }

    #[test]
    fn packed_names_decode() {
        for (name, table) in [
            ("Binary.foo", false),
            ("cab1.cab", false),
            ("_Tables", true),
            ("_StringPool", true),
            ("x", false),
        ] {
            let packed = encode(name, table);
            assert!(packed.chars().all(|c| c as u32 >= 0x3800));
            assert_eq!(is_table_name(&packed), table);
            let want = if table {
                format!("!{name}")
            } else {
                name.to_string()
            };
            assert_eq!(decode(&packed), want);
        }
    }

    #[test]
    fn known_table_name_and_plain_names() {
        // The packed name of the `_Tables` table as Windows Installer writes it.
        let tables: String = [0x4840u32, 0x3f7f, 0x4164, 0x422f, 0x4836]
            .iter()
            .map(|&u| char::from_u32(u).unwrap())
            .collect();
        assert_eq!(decode(&tables), "!_Tables");
        assert_eq!(decode("\u{5}SummaryInformation"), "\u{5}SummaryInformation");
        assert!(!is_table_name("\u{5}SummaryInformation"));
    }
}
