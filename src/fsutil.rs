//! Durable file writes: every state file kensa keeps (keys, bundles, cache
//! entries, rule-pack metadata, reports) is written to a uniquely named
//! temporary file beside its destination, synced, renamed over it, and the
//! directory synced. A crash or a pulled stick leaves the old file or the
//! new one, never half of one. Also the advisory lock files that keep two
//! processes from changing the same state at once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Writes `data` to `path` atomically and durably; `mode` sets the new
/// file's permission bits (Unix).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    write_atomic_parts(path, &[data], mode)
}

/// As [`write_atomic`], for content made of several parts.
pub fn write_atomic_parts(path: &Path, parts: &[&[u8]], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::findings::new_id()));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let mut f = opts.open(&tmp)?;
        for p in parts {
            f.write_all(p)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsyncs a directory, so a rename or a new entry in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Opens (creating) `path` and takes an exclusive `flock` on it, held until
/// the returned file is closed. `wait` None blocks until the lock is free;
/// `Some(d)` retries for up to `d` and returns `Ok(None)` if another
/// process still holds it. Without Unix locks the file is returned unlocked.
pub fn lock_exclusive(
    path: &Path,
    wait: Option<std::time::Duration>,
) -> std::io::Result<Option<File>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        let deadline = wait.map(|w| std::time::Instant::now() + w);
        let flags = if wait.is_some() {
            libc::LOCK_EX | libc::LOCK_NB
        } else {
            libc::LOCK_EX
        };
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is shared.
            if unsafe { libc::flock(f.as_raw_fd(), flags) } == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) => {}
                _ => return Err(err),
            }
            if deadline.is_none_or(|d| std::time::Instant::now() >= d) {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    #[cfg(not(unix))]
    let _ = wait;
    Ok(Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic_parts(&p, &[b"tw", b"o"], 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_held_lock_is_busy_until_released() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let held = lock_exclusive(&p, None).unwrap().unwrap();
        let short = Some(std::time::Duration::from_millis(100));
        // flock locks belong to the open file: a second open conflicts.
        assert!(lock_exclusive(&p, short).unwrap().is_none());
        drop(held);
        assert!(lock_exclusive(&p, short).unwrap().is_some());
    }
}
