//! Cheap file-type naming from magic bytes, for the `filetype` external
//! variable that public rule sets (Loki, THOR) test, and for display.

/// A short upper-case type name (`EXE`, `ELF`, `ZIP`, ...) or `""`.
pub fn sniff(data: &[u8]) -> &'static str {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"MZ") {
        "EXE"
    } else if starts(b"\x7fELF") {
        "ELF"
    } else if starts(b"\xfe\xed\xfa\xce")
        || starts(b"\xfe\xed\xfa\xcf")
        || starts(b"\xce\xfa\xed\xfe")
        || starts(b"\xcf\xfa\xed\xfe")
    {
        "MACHO"
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        "ZIP"
    } else if starts(b"%PDF") {
        "PDF"
    } else if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        "OLE"
    } else if starts(b"Rar!\x1a\x07") {
        "RAR"
    } else if starts(b"7z\xbc\xaf\x27\x1c") {
        "7Z"
    } else if starts(b"\x1f\x8b") {
        "GZIP"
    } else if starts(b"BZh") {
        "BZIP2"
    } else if starts(b"\xfd7zXZ\x00") {
        "XZ"
    } else if starts(b"L\x00\x00\x00\x01\x14\x02\x00") {
        "LNK"
    } else if starts(b"{\\rtf") {
        "RTF"
    } else if starts(b"#!") {
        "SCRIPT"
    } else if data.len() > 262 && &data[257..262] == b"ustar" {
        "TAR"
    } else {
        ""
    }
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
        assert_eq!(sniff(b""), "");
    }
}
