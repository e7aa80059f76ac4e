//! Lossless-enough text for paths: valid UTF-8 passes through, any other
//! byte is written as `\xNN`, so a non-UTF-8 name from a medium is still
//! recorded unambiguously in JSON. (Terminal sanitising is `output`'s job.)

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn display(path: &Path) -> String {
    bytes_to_string(path.as_os_str().as_bytes())
}

pub fn bytes_to_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            // Keep the escape unambiguous: a literal backslash-x stays as is,
            // only invalid bytes are escaped.
            out.push(ch);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_invalid_bytes_only() {
        assert_eq!(bytes_to_string(b"ok/\xff\xfename"), "ok/\\xFF\\xFEname");
        assert_eq!(bytes_to_string("日本.txt".as_bytes()), "日本.txt");
    }
}
