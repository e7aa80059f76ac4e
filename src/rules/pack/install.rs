//! The installed rule pack under `<state>/rules/`: trusted publisher keys
//! (`trusted/<KEYID>.pub`), the copy taken off the medium (`incoming/`),
//! unpacked packs (`packs/<version>-<digest>/` with `files/`, the signed
//! manifest and `install.json`), the `current` symlink that names the
//! active pack, and the local install log (`history.jsonl`).
//!
//! An install copies the pack off the medium (capped), verifies the copy,
//! checks the version goes up, writes the pack to a staging directory,
//! fsyncs it, renames it into place, test-compiles it, and only then swaps
//! `current` by renaming a temporary symlink over it. A kill at any moment
//! leaves `current` naming either the old or the new complete pack.
//!
//! Every change of the installed pack is a `rules_change` record (see
//! [`change_record`]) in the agent's signed journal, so the collector sees
//! which rules were in force: appended right after the swap when the
//! caller holds the journal ([`RecordTo::Journal`]), or queued in the
//! journal's inbox when a running agent holds it ([`RecordTo::Queue`]; the
//! agent appends it on the reload the new `current` triggers). The same
//! record goes to `history.jsonl`, a plain local log for `kensa rules`
//! users without the journal tools.

use super::{io_err, verify, Manifest, PackError, MAX_PACK_SIZE};
use crate::journal::Journal;
use crate::keys::PublicKey;
use crate::state::StateDir;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest `install.json` read.
const MAX_INSTALL_JSON: u64 = 1024 * 1024;
/// Largest trusted key file read.
const MAX_TRUSTED_KEY: u64 = 4096;

/// How an install may proceed.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallOptions {
    /// Accept a lower version, or the installed version with other content.
    pub allow_downgrade: bool,
}

/// The installed pack, as recorded at install time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstalledPack {
    pub v: u32,
    pub version: u64,
    /// Content digest (see `Manifest::digest`).
    pub digest: String,
    /// Publisher key id.
    pub publisher: String,
    pub created: String,
    pub installed: String,
    /// Files in the pack, and rules in the active set (bundled + pack)
    /// when it was test-compiled.
    pub files: usize,
    pub rules: usize,
    /// True when installed with `--allow-downgrade` over a higher or
    /// different installed pack.
    pub downgrade: bool,
    /// The pack directory (holds `files/`).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl InstalledPack {
    /// The directory of rule files to load (namespace `pack`).
    pub fn rules_dir(&self) -> PathBuf {
        self.dir.join("files")
    }
}

/// Where an install records its `rules_change` record.
pub enum RecordTo<'a> {
    /// Append to this open journal (the caller holds its lock).
    Journal(&'a mut Journal),
    /// Queue for the journal in this directory, held by another process.
    Queue(PathBuf),
}

/// What an install did.
#[derive(Clone, Debug)]
pub enum InstallOutcome {
    Installed {
        pack: InstalledPack,
        previous: Option<InstalledPack>,
    },
    /// The same version with the same content is already installed.
    AlreadyInstalled(InstalledPack),
}

fn fsync_dir(dir: &Path) -> Result<(), PackError> {
    crate::fsutil::sync_dir(dir).map_err(io_err(dir))
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, PackError> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut buf = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if buf.len() as u64 > cap {
        return Err(PackError::State(format!("{} is too large", path.display())));
    }
    Ok(buf)
}

/// The installed pack, or an error if the state is damaged.
pub fn try_installed(state: &StateDir) -> Result<Option<InstalledPack>, PackError> {
    let rd = state.rules_dir();
    let current = rd.join("current");
    let target = match std::fs::read_link(&current) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&current)(e)),
    };
    let dir = rd.join(&target);
    let json = dir.join("install.json");
    let bytes = read_capped(&json, MAX_INSTALL_JSON)?;
    let mut pack: InstalledPack = serde_json::from_slice(&bytes)
        .map_err(|e| PackError::State(format!("{}: {e}", json.display())))?;
    if !dir.join("files").is_dir() {
        return Err(PackError::State(format!("{} has no files/", dir.display())));
    }
    pack.dir = dir;
    Ok(Some(pack))
}

/// The installed pack for the agent and `kensa scan`; a damaged state is
/// logged and treated as no pack.
pub fn installed(state: &StateDir) -> Option<InstalledPack> {
    match try_installed(state) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("ignoring the installed rule pack: {e}");
            None
        }
    }
}

/// Adds a publisher key to the trust store; returns the key.
pub fn trust(state: &StateDir, key_text: &str) -> Result<PublicKey, PackError> {
    let key = PublicKey::parse(key_text).map_err(PackError::Key)?;
    let dir = state.rules_dir().join("trusted");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join(format!("{}.pub", key.key_id_hex()));
    write_atomic(&path, key.to_file_text().as_bytes())?;
    Ok(key)
}

/// The trusted publisher keys. A damaged key file is an error (named).
pub fn list_trusted(state: &StateDir) -> Result<Vec<PublicKey>, PackError> {
    let dir = state.rules_dir().join("trusted");
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir)(e)),
    };
    let mut keys = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err(&dir))?;
        let p = ent.path();
        if p.extension().and_then(|e| e.to_str()) != Some("pub") {
            continue;
        }
        let text = String::from_utf8(read_capped(&p, MAX_TRUSTED_KEY)?)
            .map_err(|_| PackError::State(format!("{} is not text", p.display())))?;
        keys.push(
            PublicKey::parse(&text)
                .map_err(|e| PackError::State(format!("trusted key {}: {e}", p.display())))?,
        );
    }
    keys.sort_by_key(|k| k.key_id_hex());
    Ok(keys)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PackError> {
    crate::fsutil::write_atomic(path, bytes, 0o644).map_err(io_err(path))
}

/// Takes the exclusive lock on `<state>/rules/lock`, held while
/// installing (released when the guard is dropped).
fn take_lock(dir: &Path) -> Result<crate::fsutil::LockGuard, PackError> {
    let path = dir.join("lock");
    match crate::fsutil::lock_exclusive(&path, None) {
        Ok(Some(g)) => Ok(g),
        Ok(None) => Err(PackError::State(format!(
            "{} stayed locked",
            path.display()
        ))),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Copies `src` (on the medium) to `dst`, refusing more than the pack cap.
fn copy_capped(src: &Path, dst: &Path) -> Result<Vec<u8>, PackError> {
    let meta = std::fs::metadata(src).map_err(io_err(src))?;
    if !meta.is_file() {
        return Err(PackError::Source {
            path: src.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    if meta.len() > MAX_PACK_SIZE {
        return Err(PackError::TooLarge);
    }
    let bytes = read_capped(src, MAX_PACK_SIZE).map_err(|e| match e {
        PackError::State(_) => PackError::TooLarge,
        other => other,
    })?;
    let mut f = std::fs::File::create(dst).map_err(io_err(dst))?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(io_err(dst))?;
    drop(bytes);
    // Verify what was copied, not what is on the medium.
    read_capped(dst, MAX_PACK_SIZE)
}

/// Removes leftovers of interrupted installs (staging dirs, temp links,
/// incoming copies); called with the lock held.
fn clean_leftovers(rd: &Path) {
    let packs = rd.join("packs");
    if let Ok(it) = std::fs::read_dir(&packs) {
        for ent in it.flatten() {
            if ent.file_name().to_string_lossy().starts_with(".staging-") {
                let _ = std::fs::remove_dir_all(ent.path());
            }
        }
    }
    for dir in [rd.to_path_buf(), rd.join("incoming")] {
        if let Ok(it) = std::fs::read_dir(&dir) {
            for ent in it.flatten() {
                let name = ent.file_name().to_string_lossy().into_owned();
                if name.starts_with("current.tmp-") || name.ends_with(".pack.tmp") {
                    let _ = std::fs::remove_file(ent.path());
                }
            }
        }
    }
}

/// Keeps the current and the previous pack directories; removes others.
fn prune_packs(rd: &Path, keep: &[&Path]) {
    if let Ok(it) = std::fs::read_dir(rd.join("packs")) {
        for ent in it.flatten() {
            let p = ent.path();
            if !keep.iter().any(|k| *k == p) {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
}

fn write_pack_dir(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    extra: &[(&str, &[u8])],
) -> Result<(), PackError> {
    let root = dir.join("files");
    std::fs::create_dir_all(&root).map_err(io_err(&root))?;
    let mut dirs = vec![dir.to_path_buf(), root.clone()];
    for (rel, bytes) in files {
        // Paths were checked by `verify`: plain relative components only.
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            if !parent.is_dir() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                dirs.push(parent.to_path_buf());
            }
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(io_err(&p))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(io_err(&p))?;
    }
    for (name, bytes) in extra {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).map_err(io_err(&p))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(io_err(&p))?;
    }
    for d in dirs.iter().rev() {
        fsync_dir(d)?;
    }
    Ok(())
}

/// Installs the pack at `pack_file`. `test_compile` compiles the active
/// set with the given pack rules directory (bundled + pack) and returns
/// the rule count, or the compile errors; it runs before the swap.
pub fn install(
    state: &StateDir,
    pack_file: &Path,
    opts: InstallOptions,
    record_to: RecordTo<'_>,
    test_compile: &mut dyn FnMut(&Path) -> Result<usize, String>,
) -> Result<InstallOutcome, PackError> {
    let rd = state.rules_dir();
    let incoming = rd.join("incoming");
    let packs = rd.join("packs");
    for d in [&rd, &incoming, &packs] {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    let _lock = take_lock(&rd)?;
    clean_leftovers(&rd);

    let copy = incoming.join(format!("{}.pack.tmp", std::process::id()));
    let result = install_locked(state, pack_file, &copy, opts, record_to, test_compile);
    let _ = std::fs::remove_file(&copy);
    result
}

fn install_locked(
    state: &StateDir,
    pack_file: &Path,
    copy: &Path,
    opts: InstallOptions,
    record_to: RecordTo<'_>,
    test_compile: &mut dyn FnMut(&Path) -> Result<usize, String>,
) -> Result<InstallOutcome, PackError> {
    let rd = &state.rules_dir();
    let bytes = copy_capped(pack_file, copy)?;
    let trusted = list_trusted(state)?;
    let pack = verify(&bytes, &trusted)?;
    drop(bytes);
    let m: &Manifest = &pack.manifest;
    let digest = m.digest();
    let previous = try_installed(state)?;
    let mut downgrade = false;
    if let Some(prev) = &previous {
        if m.version == prev.version && digest == prev.digest {
            return Ok(InstallOutcome::AlreadyInstalled(prev.clone()));
        }
        if m.version < prev.version {
            if !opts.allow_downgrade {
                return Err(PackError::Downgrade {
                    new: m.version,
                    installed: prev.version,
                });
            }
            downgrade = true;
        } else if m.version == prev.version {
            if !opts.allow_downgrade {
                return Err(PackError::Replay {
                    version: m.version,
                    installed_digest: prev.digest.clone(),
                    new_digest: digest,
                });
            }
            downgrade = true;
        }
    }

    let packs = rd.join("packs");
    let name = format!("{}-{}", m.version, &digest[..16]);
    let staging = packs.join(format!(".staging-{}", std::process::id()));
    let final_dir = packs.join(&name);
    write_pack_dir(
        &staging,
        &pack.files,
        &[
            ("manifest.json", &pack.manifest_bytes),
            ("manifest.minisig", pack.signature.as_bytes()),
        ],
    )?;
    // Only a pack that is not current can sit at `final_dir` (the current
    // one with this version and digest returned above as a no-op).
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io_err(&final_dir))?;
    }
    std::fs::rename(&staging, &final_dir).map_err(io_err(&final_dir))?;
    fsync_dir(&packs)?;

    let rules = match test_compile(&final_dir.join("files")) {
        Ok(n) => n,
        Err(msg) => {
            let _ = std::fs::remove_dir_all(&final_dir);
            return Err(PackError::Compile(msg));
        }
    };
    let record = InstalledPack {
        v: 1,
        version: m.version,
        digest: digest.clone(),
        publisher: pack.publisher.clone(),
        created: m.created.clone(),
        installed: crate::findings::now_rfc3339(),
        files: m.files.len(),
        rules,
        downgrade,
        dir: final_dir.clone(),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| PackError::State(e.to_string()))?;
    write_atomic(&final_dir.join("install.json"), &json)?;

    // The swap: a temporary symlink renamed over `current`.
    let link_tmp = rd.join(format!("current.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&link_tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(Path::new("packs").join(&name), &link_tmp)
        .map_err(io_err(&link_tmp))?;
    std::fs::rename(&link_tmp, rd.join("current")).map_err(io_err(rd))?;
    fsync_dir(rd)?;

    let change = change_record(&record, previous.as_ref());
    match record_to {
        RecordTo::Journal(j) => j.append_value(&change).map(|_| ()),
        RecordTo::Queue(dir) => crate::journal::queue(&dir, &change).map(|_| ()),
    }
    .map_err(|e| PackError::Unrecorded(e.to_string()))?;
    append_history(rd, &change)?;
    let keep_prev = previous.as_ref().map(|p| p.dir.clone());
    let mut keep = vec![final_dir.as_path()];
    if let Some(p) = &keep_prev {
        keep.push(p.as_path());
    }
    prune_packs(rd, &keep);
    Ok(InstallOutcome::Installed {
        pack: record,
        previous,
    })
}

/// The `rules_change` record for installing `pack` over `previous` (None:
/// the bundled signatures only): `v`, `type`, `time`, `action`
/// (`install`, or `downgrade` when forced over a higher or same-version
/// pack), `from` and `to` (`version`, `digest`; `from` null), `publisher`
/// and `rules` (active rule count).
pub fn change_record(pack: &InstalledPack, previous: Option<&InstalledPack>) -> serde_json::Value {
    serde_json::json!({
        "v": 1,
        "type": "rules_change",
        "time": pack.installed,
        "action": if pack.downgrade { "downgrade" } else { "install" },
        "from": previous.map(|p| serde_json::json!({"version": p.version, "digest": p.digest})),
        "to": {"version": pack.version, "digest": pack.digest},
        "publisher": pack.publisher,
        "rules": pack.rules,
    })
}

/// Appends `rec` to `<state>/rules/history.jsonl`.
fn append_history(rd: &Path, rec: &serde_json::Value) -> Result<(), PackError> {
    let path = rd.join("history.jsonl");
    let mut line = serde_json::to_vec(rec).map_err(|e| PackError::State(e.to_string()))?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    f.write_all(&line)
        .and_then(|_| f.sync_all())
        .map_err(io_err(&path))
}
