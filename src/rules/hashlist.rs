//! Hash lists: text files of `HASH;description` lines (SHA-256, SHA-1 or
//! MD5, told apart by length). Parsing is pure; a bad line is reported with
//! its line number and skipped, never fatal.

use std::collections::HashMap;

/// One known-bad hash entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashEntry {
    pub description: String,
    /// The set (namespace) the entry came from.
    pub namespace: String,
}

/// A line of a hash list that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub message: String,
}

/// All loaded hash entries, by digest kind.
#[derive(Clone, Debug, Default)]
pub struct HashList {
    pub sha256: HashMap<[u8; 32], HashEntry>,
    pub sha1: HashMap<[u8; 20], HashEntry>,
    pub md5: HashMap<[u8; 16], HashEntry>,
}

impl HashList {
    pub fn len(&self) -> usize {
        self.sha256.len() + self.sha1.len() + self.md5.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether MD5 / SHA-1 digests must be computed for every file.
    pub fn needs_md5(&self) -> bool {
        !self.md5.is_empty()
    }

    pub fn needs_sha1(&self) -> bool {
        !self.sha1.is_empty()
    }

    /// Parses one hash-list file and adds its entries; returns bad lines.
    pub fn add_text(&mut self, text: &str, namespace: &str) -> Vec<BadLine> {
        let mut bad = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (hash, desc) = match line.split_once(';') {
                Some((h, d)) => (h.trim(), d.trim()),
                None => (line, ""),
            };
            let entry = HashEntry {
                description: if desc.is_empty() {
                    "listed hash".to_string()
                } else {
                    desc.chars().take(512).collect()
                },
                namespace: namespace.to_string(),
            };
            if let Err(message) = self.insert(hash, entry) {
                bad.push(BadLine {
                    line: i + 1,
                    message,
                });
            }
        }
        bad
    }

    /// Adds one hex digest to the table of its length; the error says why
    /// the digest is refused.
    fn insert(&mut self, hash: &str, entry: HashEntry) -> Result<(), String> {
        let decoded =
            hex::decode(hash).map_err(|_| format!("not a hex digest: {:?}", truncate(hash)))?;
        match decoded.len() {
            32 => {
                self.sha256
                    .insert(decoded.try_into().expect("32 bytes"), entry);
            }
            20 => {
                self.sha1
                    .insert(decoded.try_into().expect("20 bytes"), entry);
            }
            16 => {
                self.md5
                    .insert(decoded.try_into().expect("16 bytes"), entry);
            }
            n => {
                return Err(format!(
                    "digest of {n} bytes; expected SHA-256 (64 hex digits), SHA-1 (40) or MD5 (32)"
                ))
            }
        }
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_kinds_and_reports_bad_lines() {
        let mut l = HashList::default();
        let text = "# comment\n\
            275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f;EICAR\n\
            3395856ce81f2b7382dee72602f798b642f14140;sha1 entry\n\
            44d88612fea8a8f36de82e1278abb02f ; md5 entry\n\
            nothex;x\n\
            abcd;short\n";
        let bad = l.add_text(text, "t");
        assert_eq!(l.sha256.len(), 1);
        assert_eq!(l.sha1.len(), 1);
        assert_eq!(l.md5.len(), 1);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 5);
        assert_eq!(bad[1].line, 6);
        assert!(l.needs_md5() && l.needs_sha1());
        let e = l.md5.values().next().unwrap();
        assert_eq!(e.description, "md5 entry");
    }
}
