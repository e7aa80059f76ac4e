//! The compiled-rule cache: a compiled yara-x `Rules` serialised under
//! `<state>/cache/`, keyed by the rule set's digest (every source file's
//! namespace, path and content, plus the yara-x version) and the source
//! roots, and reused when nothing changed so start-up skips compilation.
//!
//! A cache file is `MAGIC`, a format version, the lengths of a JSON
//! metadata block (digest, yara-x version, counts, compile issues) and of
//! the serialised rules, and a SHA-256 over both. The lengths and the
//! SHA-256 are checked before anything is deserialised: a truncated,
//! corrupt or foreign file is a miss, is recompiled and replaced, never
//! trusted. Files are written via temp file + fsync + rename. A cache that
//! cannot be read or written never stops a scan; it only costs time.

use super::{
    assemble, check_strict, compile_prepared, prepare, yara_x_version, CompileOptions, Compiled,
    Issue, Prepared, RuleSet, RulesError, Source,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"KENSARC\n";
/// Version of the cache file layout.
pub const FORMAT_VERSION: u32 = 1;
/// Largest cache file read or written.
pub const MAX_CACHE_FILE: u64 = 512 * 1024 * 1024;
/// Largest metadata block (issues of a huge, broken rule set stay below).
const MAX_META: u64 = 32 * 1024 * 1024;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8 + 32;
/// Cache entries kept; older ones are removed after each write.
const KEEP_ENTRIES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache file {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("cache file {path} is invalid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot serialise compiled rules: {0}")]
    Serialize(String),
}

/// What happened when the rule set was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Loaded from the cache; nothing was compiled.
    Hit,
    /// No entry; compiled and stored.
    Miss,
    /// An entry existed but failed its checks; compiled and replaced.
    Replaced(String),
    /// Compiled; the entry could not be written (reason).
    NotStored(String),
}

impl CacheStatus {
    /// A word for logs: `hit`, `miss`, `replaced`, `not_stored`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Replaced(_) => "replaced",
            CacheStatus::NotStored(_) => "not_stored",
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    key: String,
    digest: String,
    yara_x: String,
    files_ok: usize,
    files_failed: usize,
    issues: Vec<Issue>,
}

/// The cache key: the set's digest plus the source roots and namespaces
/// (issues name files by their full path, so the roots matter too).
pub fn cache_key(prep: &Prepared) -> String {
    let mut h = Sha256::new();
    h.update(b"kensa rule cache v1\0");
    // The externals are compiled into the rules: a set compiled with
    // other externals is another entry.
    for name in super::EXTERNALS {
        h.update(name.as_bytes());
        h.update([0]);
    }
    h.update(prep.digest().as_bytes());
    for s in prep.sources() {
        h.update([0]);
        h.update(s.namespace.as_bytes());
        h.update([0]);
        h.update(s.path.as_os_str().as_encoded_bytes());
    }
    hex::encode(h.finalize())
}

/// The cache file for a key.
pub fn entry_path(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join(format!("rules-{key}.bin"))
}

/// Reads the sources, then loads the compiled rules from `cache_dir` when
/// an intact entry exists, else compiles and stores them. With no cache
/// dir this is plain `compile`.
pub fn load_or_compile(
    cache_dir: Option<&Path>,
    sources: &[Source],
    opts: CompileOptions,
) -> Result<(RuleSet, Option<CacheStatus>), RulesError> {
    load_or_compile_as(cache_dir, sources, opts, true)
}

/// [`load_or_compile`]; with `store` false a compiled set is not written
/// to the cache (`kensa status` only looks).
pub fn load_or_compile_as(
    cache_dir: Option<&Path>,
    sources: &[Source],
    opts: CompileOptions,
    store_entry: bool,
) -> Result<(RuleSet, Option<CacheStatus>), RulesError> {
    let prep = prepare(sources)?;
    let Some(dir) = cache_dir else {
        return Ok((compile_prepared(&prep, opts)?, None));
    };
    let key = cache_key(&prep);
    let path = entry_path(dir, &key);
    let mut replaced = None;
    match load_entry(&path, &prep, &key) {
        Ok(Some(c)) => {
            check_strict(opts, c.files_failed, &c.issues)?;
            return Ok((assemble(&prep, c)?, Some(CacheStatus::Hit)));
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!("ignoring compiled-rule cache entry: {e}");
            replaced = Some(e.to_string());
        }
    }
    let set = compile_prepared(&prep, opts)?;
    if !store_entry {
        return Ok((set, None));
    }
    let status = match store(dir, &prep, &set) {
        Ok(()) => replaced.map_or(CacheStatus::Miss, CacheStatus::Replaced),
        Err(e) => {
            tracing::debug!("compiled rules not cached: {e}");
            CacheStatus::NotStored(e.to_string())
        }
    };
    Ok((set, Some(status)))
}

/// Loads the entry at `path` if it exists and passes every check.
fn load_entry(path: &Path, prep: &Prepared, key: &str) -> Result<Option<Compiled>, CacheError> {
    let invalid = |reason: &str| invalid_entry(path, reason);
    let Some(bytes) = read_entry(path)? else {
        return Ok(None);
    };
    let (meta_bytes, payload) = split_entry(&bytes).map_err(invalid)?;
    let meta: Meta =
        serde_json::from_slice(meta_bytes).map_err(|_| invalid("metadata is not valid JSON"))?;
    if meta.key != key || meta.digest != prep.digest() || meta.yara_x != yara_x_version() {
        return Err(invalid("entry is for another rule set or yara-x version"));
    }
    let rules = yara_x::Rules::deserialize(payload)
        .map_err(|e| invalid(&format!("cannot deserialise rules: {e}")))?;
    Ok(Some(Compiled {
        rules,
        hashes: prep.hash_lists(),
        issues: meta.issues,
        files_ok: meta.files_ok,
        files_failed: meta.files_failed,
    }))
}

/// The error for an entry at `path` that fails a check.
fn invalid_entry(path: &Path, reason: &str) -> CacheError {
    CacheError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads the entry at `path`, up to the size cap; `None` if there is none.
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
    use crate::fsutil::ReadError;
    match crate::fsutil::read_capped(path, MAX_CACHE_FILE) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(ReadError::TooLarge { .. }) => Err(invalid_entry(path, "larger than the size cap")),
        Err(ReadError::Io(e)) => Err(CacheError::Io {
            path: path.to_path_buf(),
            err: e.source,
        }),
        Err(e) => Err(invalid_entry(path, &e.reason())),
    }
}

/// Checks an entry's header (magic, format version, lengths, SHA-256) and
/// splits its body into the metadata block and the serialised rules; the
/// error is the reason the entry is invalid.
fn split_entry(bytes: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err("not a kensa rule cache file");
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    if u32_at(8) != FORMAT_VERSION {
        return Err("unsupported cache format version");
    }
    let meta_len = u64_at(16);
    let payload_len = u64_at(24);
    if meta_len > MAX_META
        || (HEADER_LEN as u64)
            .checked_add(meta_len)
            .and_then(|n| n.checked_add(payload_len))
            != Some(bytes.len() as u64)
    {
        return Err("lengths do not match the file (truncated?)");
    }
    let body = &bytes[HEADER_LEN..];
    if Sha256::digest(body).as_slice() != &bytes[32..64] {
        return Err("SHA-256 of the contents does not match");
    }
    Ok(body.split_at(meta_len as usize))
}

/// Writes the compiled set for `prep` into `cache_dir` (temp file, fsync,
/// rename) and prunes old entries.
pub fn store(cache_dir: &Path, prep: &Prepared, set: &RuleSet) -> Result<(), CacheError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |err| CacheError::Io { path, err }
    };
    let key = cache_key(prep);
    let meta = Meta {
        key: key.clone(),
        digest: prep.digest().to_string(),
        yara_x: yara_x_version().to_string(),
        files_ok: set.files_ok,
        files_failed: set.files_failed,
        issues: set.issues.clone(),
    };
    let meta_bytes = serde_json::to_vec(&meta).map_err(|e| CacheError::Serialize(e.to_string()))?;
    let payload = set
        .rules
        .serialize()
        .map_err(|e| CacheError::Serialize(e.to_string()))?;
    let total = (HEADER_LEN + meta_bytes.len() + payload.len()) as u64;
    if meta_bytes.len() as u64 > MAX_META || total > MAX_CACHE_FILE {
        return Err(CacheError::Serialize(format!(
            "{total} bytes is above the cache size cap"
        )));
    }
    let mut h = Sha256::new();
    h.update(&meta_bytes);
    h.update(&payload);
    let sum = h.finalize();

    std::fs::create_dir_all(cache_dir).map_err(io(cache_dir))?;
    let path = entry_path(cache_dir, &key);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&(meta_bytes.len() as u64).to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(&sum);
    crate::fsutil::write_atomic_parts(&path, &[&header, &meta_bytes, &payload], 0o600)
        .map_err(io(&path))?;
    prune(cache_dir, &path);
    Ok(())
}

/// Keeps the newest entries (and `keep`); removes stale temp files.
fn prune(cache_dir: &Path, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let mut entries = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let Ok(meta) = ent.metadata() else { continue };
        let mtime = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        if name.starts_with(".rules-") && name.ends_with(".tmp") {
            let old = mtime.elapsed().map(|d| d.as_secs() > 3600).unwrap_or(false);
            if old {
                let _ = std::fs::remove_file(ent.path());
            }
        } else if name.starts_with("rules-") && name.ends_with(".bin") && ent.path() != keep {
            entries.push((mtime, ent.path()));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, p) in entries.into_iter().skip(KEEP_ENTRIES - 1) {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Vec<Source>) {
        let t = tempfile::tempdir().unwrap();
        let rules = t.path().join("r");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(
            rules.join("a.yar"),
            "rule cache_a { strings: $a = \"needle-a\" condition: $a }",
        )
        .unwrap();
        std::fs::write(rules.join("bad.yar"), "rule broken { condition: nope }").unwrap();
        std::fs::write(rules.join("h.hashes"), format!("{};x\n", "ab".repeat(32))).unwrap();
        let sources = crate::rules::sources_for(&[rules]);
        (t, sources)
    }

    #[test]
    fn second_load_hits_and_matches_first() {
        let (t, sources) = setup();
        let dir = t.path().join("cache");
        let opts = CompileOptions::default();
        let (a, st) = load_or_compile(Some(&dir), &sources, opts).unwrap();
        assert_eq!(st, Some(CacheStatus::Miss));
        let (b, st) = load_or_compile(Some(&dir), &sources, opts).unwrap();
        assert_eq!(st, Some(CacheStatus::Hit));
        assert_eq!(a.info, b.info);
        assert_eq!(a.issues, b.issues);
        assert_eq!(b.files_failed, 1);
        assert_eq!(b.hashes.len(), 1);
        let mut sc = yara_x::Scanner::new(&b.rules);
        let res = sc.scan(b"xx needle-a xx").unwrap();
        assert_eq!(res.matching_rules().count(), 1);
        // Strict mode still refuses the broken file on a hit.
        assert!(load_or_compile(Some(&dir), &sources, CompileOptions { strict: true }).is_err());
    }

    #[test]
    fn corrupt_and_truncated_entries_are_replaced() {
        let (t, sources) = setup();
        let dir = t.path().join("cache");
        let opts = CompileOptions::default();
        load_or_compile(Some(&dir), &sources, opts).unwrap();
        let key = cache_key(&prepare(&sources).unwrap());
        let path = entry_path(&dir, &key);
        let good = std::fs::read(&path).unwrap();

        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n - 10] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let (_, st) = load_or_compile(Some(&dir), &sources, opts).unwrap();
        assert!(matches!(st, Some(CacheStatus::Replaced(ref r)) if r.contains("SHA-256")));
        assert_eq!(std::fs::read(&path).unwrap().len(), good.len());

        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        let (_, st) = load_or_compile(Some(&dir), &sources, opts).unwrap();
        assert!(matches!(st, Some(CacheStatus::Replaced(ref r)) if r.contains("truncated")));
        let (_, st) = load_or_compile(Some(&dir), &sources, opts).unwrap();
        assert_eq!(st, Some(CacheStatus::Hit));
    }

    #[test]
    fn changed_source_misses() {
        let (t, sources) = setup();
        let dir = t.path().join("cache");
        let opts = CompileOptions::default();
        load_or_compile(Some(&dir), &sources, opts).unwrap();
        std::fs::write(
            t.path().join("r/a.yar"),
            "rule cache_a2 { strings: $a = \"needle-b\" condition: $a }",
        )
        .unwrap();
        let (set, st) = load_or_compile(Some(&dir), &sources, opts).unwrap();
        assert_eq!(st, Some(CacheStatus::Miss));
        assert!(set.rules.iter().any(|r| r.identifier() == "cache_a2"));
    }
}
