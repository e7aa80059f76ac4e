//! Signed offline rule packs: the one-file pack format, building a pack
//! from a directory, and verifying a pack (in `install`: the trust store,
//! atomic installation and the installed pack's state).
//!
//! A pack is `MAGIC`, a format version, the lengths of the manifest and of
//! its detached minisign signature, the manifest (JSON: format, pack
//! version, creation time, minimum kensa version, files with path, kind,
//! size and SHA-256), the signature text, then every file's bytes in
//! manifest order. The whole pack is capped at `MAX_PACK_SIZE`. The
//! signature is checked against the trusted publisher keys before the
//! manifest is parsed; then every path, size and hash is checked. Nothing
//! from a pack is trusted before that. Publisher keys and signatures are
//! minisign ones, handled by `crate::keys` (the same code as agent keys).

pub mod install;

use crate::fsutil::{at, PathError, ReadError};
use crate::keys::{self, KeyError, PublicKey, SecretKey, SignatureFile};
use crate::rules::active::TestCompileError;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

pub use install::{
    change_record, install, installed, list_trusted, trust, try_installed, InstallOptions,
    InstallOutcome, InstalledPack,
};

const MAGIC: &[u8; 8] = b"KENSAPK\n";
/// Version of the pack layout.
pub const FORMAT_VERSION: u32 = 1;
/// Largest pack accepted, whole.
pub const MAX_PACK_SIZE: u64 = 64 * 1024 * 1024;
/// Largest manifest.
pub const MAX_MANIFEST: u32 = 4 * 1024 * 1024;
/// Most files in one pack.
pub const MAX_PACK_FILES: usize = 20_000;
/// Longest path of a pack entry, and deepest nesting.
const MAX_PATH_LEN: usize = 255;
const MAX_DEPTH: usize = 8;
const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 4;
/// Who signs packs, as the signature's untrusted comment says.
const SIGNER_ROLE: &str = "kensa rule pack publisher";

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("pack is larger than the {MAX_PACK_SIZE}-byte cap")]
    TooLarge,
    #[error("not a kensa rule pack (bad magic)")]
    NotAPack,
    #[error("unsupported pack format version {0}")]
    Format(u32),
    #[error("pack is truncated: {0}")]
    Truncated(String),
    #[error("pack has {0} bytes of trailing data after its files")]
    TrailingData(u64),
    #[error("pack signature is malformed: {0}")]
    Signature(KeyError),
    #[error(
        "pack is signed by key {0}, which is not a trusted publisher (see `kensa rules trust`)"
    )]
    Untrusted(String),
    #[error("pack signature does not verify with publisher key {key}: {err} (manifest modified?)")]
    BadSignature { key: String, err: KeyError },
    #[error("manifest is invalid: {0}")]
    Manifest(String),
    #[error("pack entry {path:?} is refused: {reason}")]
    BadEntry { path: String, reason: &'static str },
    #[error("file {0} does not match its SHA-256 in the manifest (modified?)")]
    HashMismatch(String),
    #[error("pack needs kensa {need} or newer; this is {have}")]
    TooNew { need: String, have: String },
    #[error("pack version {new} is lower than the installed version {installed}; refused (use --allow-downgrade to force)")]
    Downgrade { new: u64, installed: u64 },
    #[error("pack version {version} is already installed with other content (digest {installed_digest}, pack {new_digest}); refused as a replay (use --allow-downgrade to force)")]
    Replay {
        version: u64,
        installed_digest: String,
        new_digest: String,
    },
    #[error("pack rules do not compile; nothing was installed:\n{0}")]
    Compile(TestCompileError),
    #[error("source {path}: {reason}")]
    Source { path: PathBuf, reason: String },
    #[error("key: {0}")]
    Key(KeyError),
    #[error("installed pack state is damaged: {0}")]
    State(String),
}

/// A size-capped read; a file over the cap is [`PackError::State`] (the
/// caller copying a pack off a medium turns it into [`PackError::TooLarge`]).
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, PackError> {
    crate::fsutil::read_capped(path, cap).map_err(|e| match e {
        ReadError::Io(e) => PackError::Io(e),
        other => PackError::State(other.to_string()),
    })
}

/// One file listed in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub path: String,
    /// Always `file`; anything else (a symlink, a directory) is refused.
    pub kind: String,
    pub size: u64,
    pub sha256: String,
}

/// The signed manifest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub version: u64,
    pub created: String,
    pub min_kensa: String,
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// The content digest: SHA-256 over every (path, SHA-256), sorted by
    /// path. Two packs with the same files have the same digest.
    pub fn digest(&self) -> String {
        let mut entries: Vec<(&str, &str)> = self
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()))
            .collect();
        entries.sort();
        let mut h = Sha256::new();
        for (p, s) in entries {
            h.update(p.as_bytes());
            h.update([0]);
            h.update(s.as_bytes());
            h.update([b'\n']);
        }
        hex::encode(h.finalize())
    }
}

/// A pack whose signature, manifest, paths and hashes all checked out.
pub struct VerifiedPack {
    pub manifest: Manifest,
    /// The manifest and signature exactly as signed.
    pub manifest_bytes: Vec<u8>,
    pub signature: String,
    pub publisher: String,
    /// Each file's path and bytes, in manifest order.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Whether a path is acceptable as a pack entry: a plain relative path of
/// normal components, a rule or hash-list extension, no odd characters.
pub fn check_entry_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err("empty or too long");
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err("not a plain relative path");
    }
    if path.chars().any(|c| c.is_control()) {
        return Err("control characters in the name");
    }
    let mut depth = 0;
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err("not a plain relative path (empty, . or .. component)");
        }
        depth += 1;
    }
    if depth > MAX_DEPTH {
        return Err("nested too deep");
    }
    if !Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err("not a plain relative path");
    }
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("yar" | "yara" | "hashes" | "txt") => Ok(()),
        _ => Err("not a rule (.yar, .yara) or hash-list (.hashes, .txt) file"),
    }
}

/// Checks each entry's kind, path, hash and size, and that no two names
/// collide; returns the case-folded names.
fn check_entries(m: &Manifest) -> Result<BTreeSet<String>, PackError> {
    let mut seen = BTreeSet::new();
    for f in &m.files {
        let bad = |reason| PackError::BadEntry {
            path: f.path.clone(),
            reason,
        };
        if f.kind != "file" {
            return Err(bad("only plain files are allowed (symlink or other kind)"));
        }
        check_entry_path(&f.path).map_err(bad)?;
        // Case-folded, so a pack cannot hold two names one file system merges.
        if !seen.insert(f.path.to_lowercase()) {
            return Err(bad("duplicate entry"));
        }
        if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("SHA-256 is not 64 hex digits"));
        }
        if f.size > MAX_PACK_SIZE {
            return Err(bad("larger than the pack cap"));
        }
    }
    Ok(seen)
}

/// A directory entry must not also be a file ("a.yar" and "a.yar/b.yar").
fn check_no_file_is_a_directory(m: &Manifest, seen: &BTreeSet<String>) -> Result<(), PackError> {
    for f in &m.files {
        let mut prefix = String::new();
        let parts: Vec<&str> = f.path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if seen.contains(&prefix.to_lowercase()) {
                return Err(PackError::BadEntry {
                    path: f.path.clone(),
                    reason: "a parent directory is also a file entry",
                });
            }
        }
    }
    Ok(())
}

/// Checks a manifest's entries (after its signature verified).
fn check_manifest(m: &Manifest) -> Result<(), PackError> {
    if m.format != FORMAT_VERSION {
        return Err(PackError::Manifest(format!(
            "manifest format {} is not supported",
            m.format
        )));
    }
    if m.files.is_empty() {
        return Err(PackError::Manifest("the pack lists no files".into()));
    }
    if m.files.len() > MAX_PACK_FILES {
        return Err(PackError::Manifest("too many files".into()));
    }
    let seen = check_entries(m)?;
    check_no_file_is_a_directory(m, &seen)?;
    let need = m.min_kensa.trim();
    if version_tuple(need).is_none() {
        return Err(PackError::Manifest(format!(
            "min_kensa {need:?} is not a version"
        )));
    }
    if version_tuple(need) > version_tuple(env!("CARGO_PKG_VERSION")) {
        return Err(PackError::TooNew {
            need: need.to_string(),
            have: env!("CARGO_PKG_VERSION").to_string(),
        });
    }
    Ok(())
}

fn version_tuple(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.').map(|p| p.parse::<u64>());
    let t = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    it.next().is_none().then_some(t)
}

/// Encodes a pack from its parts. Performs no checks: `build` is the
/// checked way to make a pack; this exists so tests can forge bad ones.
pub fn encode(manifest_bytes: &[u8], signature: &str, contents: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(manifest_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&(signature.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(manifest_bytes);
    out.extend_from_slice(signature.as_bytes());
    for c in contents {
        out.extend_from_slice(c);
    }
    out
}

/// The trusted comment put in a pack signature.
pub fn trusted_comment(m: &Manifest) -> String {
    format!(
        "kensa rule pack version {} digest {}",
        m.version,
        m.digest()
    )
}

/// Signs a manifest and encodes the pack. `files` are (path, bytes) in
/// manifest order.
pub fn sign_and_encode(
    manifest: &Manifest,
    files: &[(String, Vec<u8>)],
    key: &SecretKey,
) -> Result<Vec<u8>, PackError> {
    let manifest_bytes =
        serde_json::to_vec_pretty(manifest).map_err(|e| PackError::Manifest(e.to_string()))?;
    let sig = key
        .sign_as(&manifest_bytes, &trusted_comment(manifest), SIGNER_ROLE)
        .map_err(PackError::Key)?;
    let contents: Vec<&[u8]> = files.iter().map(|(_, b)| b.as_slice()).collect();
    Ok(encode(&manifest_bytes, &sig, &contents))
}

/// Builds a pack from every rule and hash-list file below `dir`. Symlinks
/// and unsafe names are refused; other files are skipped and returned.
pub fn build(
    dir: &Path,
    version: u64,
    key: &SecretKey,
) -> Result<(Vec<u8>, Manifest, Vec<PathBuf>), PackError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut skipped = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut total: u64 = 0;
    while let Some(d) = stack.pop() {
        for ent in std::fs::read_dir(&d).map_err(at(&d))? {
            let ent = ent.map_err(at(&d))?;
            let p = ent.path();
            let ft = ent.file_type().map_err(at(&p))?;
            let rel = p
                .strip_prefix(dir)
                .map_err(|_| PackError::Source {
                    path: p.clone(),
                    reason: "outside the pack directory".into(),
                })?
                .to_str()
                .ok_or_else(|| PackError::Source {
                    path: p.clone(),
                    reason: "name is not UTF-8".into(),
                })?
                .to_string();
            if ft.is_symlink() {
                return Err(PackError::Source {
                    path: p,
                    reason: "symlinks are not allowed in a pack".into(),
                });
            } else if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() && check_entry_path(&rel).is_ok() {
                let bytes = std::fs::read(&p).map_err(at(&p))?;
                total += bytes.len() as u64;
                if total > MAX_PACK_SIZE {
                    return Err(PackError::TooLarge);
                }
                files.push((rel, bytes));
            } else {
                skipped.push(p);
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let manifest = Manifest {
        format: FORMAT_VERSION,
        version,
        created: crate::findings::now_rfc3339(),
        min_kensa: env!("CARGO_PKG_VERSION").to_string(),
        files: files
            .iter()
            .map(|(p, b)| ManifestFile {
                path: p.clone(),
                kind: "file".into(),
                size: b.len() as u64,
                sha256: hex::encode(Sha256::digest(b)),
            })
            .collect(),
    };
    check_manifest(&manifest)?;
    let pack = sign_and_encode(&manifest, &files, key)?;
    if pack.len() as u64 > MAX_PACK_SIZE {
        return Err(PackError::TooLarge);
    }
    Ok((pack, manifest, skipped))
}

/// Verifies a pack held in memory against the trusted publisher keys: size
/// and layout, then the signature over the manifest bytes, then the
/// manifest, every entry and every file's size and SHA-256.
pub fn verify(bytes: &[u8], trusted: &[PublicKey]) -> Result<VerifiedPack, PackError> {
    let (manifest_bytes, sig_text, rest) = split_layout(bytes)?;
    let sig = SignatureFile::parse(sig_text).map_err(PackError::Signature)?;
    let key = trusted
        .iter()
        .find(|k| k.key_id() == sig.key_id)
        .ok_or_else(|| PackError::Untrusted(sig.key_id_hex()))?;
    key.verify_parsed(manifest_bytes, &sig)
        .map_err(|err| PackError::BadSignature {
            key: key.key_id_hex(),
            err,
        })?;
    // Only now is the manifest parsed.
    let manifest: Manifest =
        serde_json::from_slice(manifest_bytes).map_err(|e| PackError::Manifest(e.to_string()))?;
    check_manifest(&manifest)?;
    let files = check_files(&manifest, rest)?;
    Ok(VerifiedPack {
        manifest,
        manifest_bytes: manifest_bytes.to_vec(),
        signature: sig_text.to_string(),
        publisher: key.key_id_hex(),
        files,
    })
}

/// Splits a pack into its manifest bytes, signature text and file data,
/// checking size, magic, format and the section caps.
fn split_layout(bytes: &[u8]) -> Result<(&[u8], &str, &[u8]), PackError> {
    if bytes.len() as u64 > MAX_PACK_SIZE {
        return Err(PackError::TooLarge);
    }
    if bytes.len() < HEADER_LEN {
        if bytes.len() >= 8 && &bytes[..8] != MAGIC {
            return Err(PackError::NotAPack);
        }
        return Err(PackError::Truncated("shorter than the header".into()));
    }
    if &bytes[..8] != MAGIC {
        return Err(PackError::NotAPack);
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let format = u32_at(8);
    if format != FORMAT_VERSION {
        return Err(PackError::Format(format));
    }
    let mlen = u32_at(12);
    let slen = u32_at(16);
    if mlen > MAX_MANIFEST || u64::from(slen) > keys::MAX_KEY_FILE {
        return Err(PackError::Manifest(
            "manifest or signature above its cap".into(),
        ));
    }
    let body = &bytes[HEADER_LEN..];
    let (mlen, slen) = (mlen as usize, slen as usize);
    if body.len() < mlen + slen {
        return Err(PackError::Truncated(
            "manifest or signature cut short".into(),
        ));
    }
    let sig_text = std::str::from_utf8(&body[mlen..mlen + slen]).map_err(|_| {
        PackError::Signature(KeyError::Malformed {
            what: "signature",
            detail: "not UTF-8".into(),
        })
    })?;
    Ok((&body[..mlen], sig_text, &body[mlen + slen..]))
}

/// Cuts the file data into the manifest's files, checking each size and
/// SHA-256, and that nothing trails them.
fn check_files(manifest: &Manifest, mut rest: &[u8]) -> Result<Vec<(String, Vec<u8>)>, PackError> {
    let mut files = Vec::with_capacity(manifest.files.len());
    for f in &manifest.files {
        if (rest.len() as u64) < f.size {
            return Err(PackError::Truncated(format!(
                "{} has {} of {} bytes",
                f.path,
                rest.len(),
                f.size
            )));
        }
        let (data, tail) = rest.split_at(f.size as usize);
        if hex::encode(Sha256::digest(data)) != f.sha256.to_ascii_lowercase() {
            return Err(PackError::HashMismatch(f.path.clone()));
        }
        files.push((f.path.clone(), data.to_vec()));
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(PackError::TrailingData(rest.len() as u64));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert!(check_entry_path("a.yar").is_ok());
        assert!(check_entry_path("dir/sub/b.hashes").is_ok());
        for bad in [
            "../x.yar",
            "/etc/x.yar",
            "a/../b.yar",
            "./a.yar",
            "a//b.yar",
            "c:\\x.yar",
            "C:x.yar",
            "x.exe",
            "",
            "a\nb.yar",
        ] {
            assert!(check_entry_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn digest_ignores_order() {
        let f = |p: &str, s: char| ManifestFile {
            path: p.into(),
            kind: "file".into(),
            size: 1,
            sha256: s.to_string().repeat(64),
        };
        let mut m = Manifest {
            format: 1,
            version: 1,
            created: String::new(),
            min_kensa: "0.1.0".into(),
            files: vec![f("a.yar", 'a'), f("b.yar", 'b')],
        };
        let d = m.digest();
        m.files.reverse();
        assert_eq!(m.digest(), d);
        m.files[0].sha256 = "c".repeat(64);
        assert_ne!(m.digest(), d);
    }

    #[test]
    fn versions_compare() {
        assert!(version_tuple("0.2.0") > version_tuple("0.1.9"));
        assert!(version_tuple("1.0").is_none());
    }
}
