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
//! [`change_record`]): an install returns it, and the caller journals it
//! (`kensa rules install` appends it to the agent's signed journal, or
//! queues it there when the running agent holds the journal), so the
//! collector sees which rules were in force. The same record goes to
//! `history.jsonl`, a plain local log for `kensa rules` users without the
//! journal tools.

use super::{read_capped, verify, Manifest, PackError, VerifiedPack, MAX_PACK_SIZE};
use crate::engine::pathfmt;
use crate::fsutil::at;
use crate::journal::{PackRef, RulesChange};
use crate::keys::PublicKey;
use crate::rules::active::TestCompileError;
use crate::state::StateDir;
use std::io::Write;
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

/// What an install did.
// One value per install, returned once: not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum InstallOutcome {
    Installed {
        pack: InstalledPack,
        previous: Option<InstalledPack>,
        /// The `rules_change` record for the caller to journal.
        change: RulesChange,
    },
    /// The same version with the same content is already installed.
    AlreadyInstalled(InstalledPack),
}

fn sync_dir(dir: &Path) -> Result<(), PackError> {
    Ok(crate::fsutil::sync_dir(dir).map_err(at(dir))?)
}

/// The installed pack, or an error if the state is damaged.
pub fn try_installed(state: &StateDir) -> Result<Option<InstalledPack>, PackError> {
    let rd = state.rules_dir();
    let current = rd.join("current");
    let target = match read_current(&current) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(at(&current)(e).into()),
    };
    let dir = rd.join(&target);
    let json = dir.join("install.json");
    let bytes = read_capped(&json, MAX_INSTALL_JSON)?;
    let mut pack: InstalledPack = serde_json::from_slice(&bytes)
        .map_err(|e| PackError::State(format!("{}: {e}", pathfmt::show(&json))))?;
    if !dir.join("files").is_dir() {
        return Err(PackError::State(format!(
            "{} has no files/",
            pathfmt::show(&dir)
        )));
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
    std::fs::create_dir_all(&dir).map_err(at(&dir))?;
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
        Err(e) => return Err(at(&dir)(e).into()),
    };
    let mut keys = Vec::new();
    for ent in rd {
        let ent = ent.map_err(at(&dir))?;
        let p = ent.path();
        if p.extension().and_then(|e| e.to_str()) != Some("pub") {
            continue;
        }
        let text = String::from_utf8(read_capped(&p, MAX_TRUSTED_KEY)?)
            .map_err(|_| PackError::State(format!("{} is not text", pathfmt::show(&p))))?;
        keys.push(
            PublicKey::parse(&text)
                .map_err(|e| PackError::State(format!("trusted key {}: {e}", pathfmt::show(&p))))?,
        );
    }
    keys.sort_by_key(|k| k.key_id_hex());
    Ok(keys)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PackError> {
    Ok(crate::fsutil::write_atomic(path, bytes, 0o644).map_err(at(path))?)
}

/// Takes the exclusive lock on `<state>/rules/lock`, held while
/// installing (released when the guard is dropped).
fn take_lock(dir: &Path) -> Result<crate::fsutil::LockGuard, PackError> {
    let path = dir.join("lock");
    match crate::fsutil::lock_exclusive(&path, None) {
        Ok(Some(g)) => Ok(g),
        Ok(None) => Err(PackError::State(format!(
            "{} stayed locked",
            pathfmt::show(&path)
        ))),
        Err(e) => Err(at(&path)(e).into()),
    }
}

/// Copies `src` (on the medium) to `dst`, refusing more than the pack cap.
fn copy_capped(src: &Path, dst: &Path) -> Result<Vec<u8>, PackError> {
    let meta = std::fs::metadata(src).map_err(at(src))?;
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
    let mut f = std::fs::File::create(dst).map_err(at(dst))?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(at(dst))?;
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
    std::fs::create_dir_all(&root).map_err(at(&root))?;
    let mut dirs = vec![dir.to_path_buf(), root.clone()];
    for (rel, bytes) in files {
        // Paths were checked by `verify`: plain relative components only.
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            if !parent.is_dir() {
                std::fs::create_dir_all(parent).map_err(at(parent))?;
                dirs.push(parent.to_path_buf());
            }
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(at(&p))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(at(&p))?;
    }
    for (name, bytes) in extra {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).map_err(at(&p))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(at(&p))?;
    }
    for d in dirs.iter().rev() {
        sync_dir(d)?;
    }
    Ok(())
}

/// Installs the pack at `pack_file`. `test_compile` compiles the active
/// set with the given pack rules directory (bundled + pack) and returns
/// the rule count, or why it does not compile (normally
/// [`crate::rules::active::test_compile`]); it runs before the swap.
pub fn install(
    state: &StateDir,
    pack_file: &Path,
    opts: InstallOptions,
    test_compile: &mut dyn FnMut(&Path) -> Result<usize, TestCompileError>,
) -> Result<InstallOutcome, PackError> {
    let rd = state.rules_dir();
    let incoming = rd.join("incoming");
    let packs = rd.join("packs");
    for d in [&rd, &incoming, &packs] {
        std::fs::create_dir_all(d).map_err(at(d))?;
    }
    let _lock = take_lock(&rd)?;
    clean_leftovers(&rd);

    let copy = incoming.join(format!("{}.pack.tmp", std::process::id()));
    let result = install_locked(state, pack_file, &copy, opts, test_compile);
    let _ = std::fs::remove_file(&copy);
    result
}

fn install_locked(
    state: &StateDir,
    pack_file: &Path,
    copy: &Path,
    opts: InstallOptions,
    test_compile: &mut dyn FnMut(&Path) -> Result<usize, TestCompileError>,
) -> Result<InstallOutcome, PackError> {
    let rd = &state.rules_dir();
    let bytes = copy_capped(pack_file, copy)?;
    let trusted = list_trusted(state)?;
    let pack = verify(&bytes, &trusted)?;
    drop(bytes);
    let digest = pack.manifest.digest();
    let previous = try_installed(state)?;
    let downgrade = match check_version(&pack.manifest, &digest, previous.as_ref(), opts)? {
        Some(d) => d,
        None => {
            return previous
                .map(InstallOutcome::AlreadyInstalled)
                .ok_or_else(|| PackError::State("no installed pack to compare with".into()))
        }
    };
    let name = format!("{}-{}", pack.manifest.version, &digest[..16]);
    let final_dir = place_pack(rd, &name, &pack)?;
    let rules = match test_compile(&final_dir.join("files")) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&final_dir);
            return Err(PackError::Compile(e));
        }
    };
    let m: &Manifest = &pack.manifest;
    let record = InstalledPack {
        v: 1,
        version: m.version,
        digest,
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
    swap_current(rd, &name)?;
    let change = change_record(&record, previous.as_ref());
    append_history(rd, &change)?;
    let mut keep = vec![final_dir.as_path()];
    if let Some(p) = &previous {
        keep.push(p.dir.as_path());
    }
    prune_packs(rd, &keep);
    Ok(InstallOutcome::Installed {
        pack: record,
        previous,
        change,
    })
}

/// Whether `m` may replace `previous`: `Some(downgrade)` when it may,
/// `None` when the very same pack is installed already.
fn check_version(
    m: &Manifest,
    digest: &str,
    previous: Option<&InstalledPack>,
    opts: InstallOptions,
) -> Result<Option<bool>, PackError> {
    let Some(prev) = previous else {
        return Ok(Some(false));
    };
    if m.version == prev.version && digest == prev.digest {
        return Ok(None);
    }
    if m.version > prev.version {
        return Ok(Some(false));
    }
    if opts.allow_downgrade {
        return Ok(Some(true));
    }
    if m.version < prev.version {
        return Err(PackError::Downgrade {
            new: m.version,
            installed: prev.version,
        });
    }
    Err(PackError::Replay {
        version: m.version,
        installed_digest: prev.digest.clone(),
        new_digest: digest.to_string(),
    })
}

/// Writes the verified pack to a staging directory, syncs it and renames
/// it to `packs/<name>`; returns that directory.
fn place_pack(rd: &Path, name: &str, pack: &VerifiedPack) -> Result<PathBuf, PackError> {
    let packs = rd.join("packs");
    let staging = packs.join(format!(".staging-{}", std::process::id()));
    let final_dir = packs.join(name);
    write_pack_dir(
        &staging,
        &pack.files,
        &[
            ("manifest.json", &pack.manifest_bytes),
            ("manifest.minisig", pack.signature.as_bytes()),
        ],
    )?;
    // Only a pack that is not current can sit at `final_dir` (the current
    // one with this version and digest is a no-op before this).
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(at(&final_dir))?;
    }
    std::fs::rename(&staging, &final_dir).map_err(at(&final_dir))?;
    sync_dir(&packs)?;
    Ok(final_dir)
}

/// `current` names the installed pack: a symlink on Unix.
#[cfg(unix)]
fn write_current(target: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(unix)]
fn read_current(current: &Path) -> std::io::Result<PathBuf> {
    std::fs::read_link(current)
}

/// On Windows (where a symlink needs a privilege) `current` is a small
/// file holding `packs/<name>`, swapped by the same rename.
#[cfg(windows)]
fn write_current(target: &Path, at: &Path) -> std::io::Result<()> {
    let text = target.to_str().ok_or(std::io::ErrorKind::InvalidInput)?;
    let mut f = std::fs::File::create(at)?;
    f.write_all(text.replace('\\', "/").as_bytes())?;
    f.sync_all()
}

/// Reads the pointer file; anything but `packs/<one name>` is refused.
#[cfg(windows)]
fn read_current(current: &Path) -> std::io::Result<PathBuf> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(current)?
        .take(4096)
        .read_to_string(&mut text)?;
    match text.split('/').collect::<Vec<_>>().as_slice() {
        ["packs", n] if !n.is_empty() && !n.contains(['\\', ':']) && *n != ".." && *n != "." => {
            Ok(Path::new("packs").join(n))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "rules/current does not name packs/<pack>",
        )),
    }
}

/// The swap: a temporary symlink to `packs/<name>` renamed over `current`.
fn swap_current(rd: &Path, name: &str) -> Result<(), PackError> {
    let link_tmp = rd.join(format!("current.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&link_tmp);
    write_current(&Path::new("packs").join(name), &link_tmp).map_err(at(&link_tmp))?;
    std::fs::rename(&link_tmp, rd.join("current")).map_err(at(rd))?;
    sync_dir(rd)
}

/// The `rules_change` record for installing `pack` over `previous` (None:
/// the bundled signatures only): `v`, `type`, `time`, `action`
/// (`install`, or `downgrade` when forced over a higher or same-version
/// pack), `from` and `to` (`version`, `digest`; `from` null), `publisher`
/// and `rules` (active rule count).
pub fn change_record(pack: &InstalledPack, previous: Option<&InstalledPack>) -> RulesChange {
    RulesChange {
        v: 1,
        time: pack.installed.clone(),
        action: if pack.downgrade {
            "downgrade"
        } else {
            "install"
        }
        .to_string(),
        from: previous.map(|p| PackRef {
            version: p.version,
            digest: p.digest.clone(),
        }),
        to: PackRef {
            version: pack.version,
            digest: pack.digest.clone(),
        },
        publisher: pack.publisher.clone(),
        rules: pack.rules,
    }
}

/// Appends `change` to `<state>/rules/history.jsonl`, as the journal
/// records it.
fn append_history(rd: &Path, change: &RulesChange) -> Result<(), PackError> {
    let path = rd.join("history.jsonl");
    let entry =
        crate::journal::Entry::Journal(crate::journal::JournalRecord::RulesChange(change.clone()));
    let mut line = serde_json::to_vec(&entry).map_err(|e| PackError::State(e.to_string()))?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(at(&path))?;
    Ok(f.write_all(&line)
        .and_then(|_| f.sync_all())
        .map_err(at(&path))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn pack(publisher: &SecretKey, version: u64, rule: &str) -> tempfile::NamedTempFile {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a.yar"), rule).unwrap();
        let (bytes, _, _) = super::super::build(src.path(), version, publisher).unwrap();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    #[test]
    fn install_returns_the_rules_change_and_journals_nothing() {
        let state_dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(state_dir.path());
        let publisher = SecretKey::generate().unwrap();
        trust(&state, &publisher.public().to_file_text()).unwrap();
        let mut compile = |_: &Path| Ok(5);
        let p1 = pack(&publisher, 1, "rule a { condition: true }");
        let first = install(&state, p1.path(), InstallOptions::default(), &mut compile).unwrap();
        let InstallOutcome::Installed {
            pack: one, change, ..
        } = first
        else {
            panic!("not installed");
        };
        assert_eq!(change.action, "install");
        assert_eq!(change.from, None);
        assert_eq!((change.to.version, change.rules), (1, 5));
        let p2 = pack(&publisher, 2, "rule b { condition: true }");
        let second = install(&state, p2.path(), InstallOptions::default(), &mut compile).unwrap();
        let InstallOutcome::Installed { change, .. } = second else {
            panic!("not installed");
        };
        assert_eq!(
            change.from,
            Some(PackRef {
                version: 1,
                digest: one.digest
            })
        );
        assert_eq!(change.to.version, 2);
        // The command journals the change; the library wrote only its local log.
        assert!(!state.journal_dir().exists());
        let history = std::fs::read_to_string(state.rules_dir().join("history.jsonl")).unwrap();
        assert_eq!(history.lines().count(), 2);
        assert!(history.starts_with(r#"{"type":"rules_change","v":1,"#));
    }
}
