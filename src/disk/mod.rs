//! Disks and disk images read in user space: kensa's side of
//! `kensa-diskfs`. Owns the text form of a path inside a volume (the
//! readers give raw names; every name reaches a record, a log or a
//! terminal through [`path_text`]).

use crate::engine::pathfmt;

/// The text form of a path inside a volume: each component in the one
/// text form of names ([`pathfmt`]), a `/` inside a component written
/// `\x2F` (so the separator stays unambiguous), joined with `/`.
pub fn path_text(path: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for (i, c) in path.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&pathfmt::bytes_to_string(c).replace('/', "\\x2F"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_text_keeps_components_apart() {
        let a = path_text(&[b"a/b".to_vec(), b"c".to_vec()]);
        let b = path_text(&[b"a".to_vec(), b"b/c".to_vec()]);
        assert_ne!(a, b);
        assert_eq!(a, "a\\x2Fb/c");
        assert_eq!(pathfmt::decode(&a).unwrap(), b"a/b/c");
    }
}
