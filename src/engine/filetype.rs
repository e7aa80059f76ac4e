//! Cheap file-type naming from magic bytes, for the `filetype` external
//! variable that public rule sets (Loki, THOR) test, and for display.

/// Magic bytes at offset 0 and the type they name, first match wins.
const MAGICS: &[(&[u8], &str)] = &[
    (b"MZ", "EXE"),
    (b"\x7fELF", "ELF"),
    (b"\xfe\xed\xfa\xce", "MACHO"),
    (b"\xfe\xed\xfa\xcf", "MACHO"),
    (b"\xce\xfa\xed\xfe", "MACHO"),
    (b"\xcf\xfa\xed\xfe", "MACHO"),
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),
    (b"%PDF", "PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"7z\xbc\xaf\x27\x1c", "7Z"),
    (b"\x1f\x8b", "GZIP"),
    (b"BZh", "BZIP2"),
    (b"\xfd7zXZ\x00", "XZ"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", "LNK"),
    (b"{\\rtf", "RTF"),
    (b"#!", "SCRIPT"),
];

/// A short upper-case type name (`EXE`, `ELF`, `ZIP`, ...) or `""`.
pub fn sniff(data: &[u8]) -> &'static str {
    if let Some((_, name)) = MAGICS.iter().find(|(m, _)| data.starts_with(m)) {
        return name;
    }
    // POSIX tar: "ustar" at offset 257.
    if data.len() > 262 && &data[257..262] == b"ustar" {
        return "TAR";
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn names_common_types() {
        assert_eq!(sniff(b"MZ\x90\x00"), "EXE");
        assert_eq!(sniff(b"\x7fELF\x02"), "ELF");
        assert_eq!(sniff(b"PK\x03\x04rest"), "ZIP");
        assert_eq!(sniff(b"hello"), "");
        assert_eq!(sniff(b"\xcf\xfa\xed\xfe\x07"), "MACHO");
        assert_eq!(sniff(b"{\\rtf1"), "RTF");
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(sniff(&tar), "TAR");
        assert_eq!(sniff(b""), "");
    }
}
