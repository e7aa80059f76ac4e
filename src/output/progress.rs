//! The progress display of `kensa scan` on a terminal: files and bytes
//! done, of the total when it is cheap to know, the rate, the file being read
//! and the elapsed time. The total comes from [`precount`], a quick walk on its own thread
//! that gives up after a second (huge trees just show counts, no total).

use super::human_bytes;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long the pre-count may take before it is abandoned.
pub const PRECOUNT_BUDGET: Duration = Duration::from_secs(1);

/// Files and bytes a scan will read, once known.
pub type Total = Arc<OnceLock<(u64, u64)>>;

/// Counts the regular files and their bytes under `paths` on a thread,
/// without following symlinks (as the scan does); the result is set only
/// if the count finishes within [`PRECOUNT_BUDGET`].
pub fn precount(paths: Vec<PathBuf>) -> Total {
    let total: Total = Arc::new(OnceLock::new());
    let out = total.clone();
    let _ = std::thread::Builder::new()
        .name("kensa-precount".into())
        .spawn(move || {
            if let Some(t) = count(&paths, Instant::now() + PRECOUNT_BUDGET) {
                let _ = out.set(t);
            }
        });
    total
}

fn count(paths: &[PathBuf], deadline: Instant) -> Option<(u64, u64)> {
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut stack: Vec<PathBuf> = Vec::new();
    for p in paths {
        // A named path is followed once, as the scan does.
        let m = std::fs::metadata(p).ok()?;
        if m.is_dir() {
            stack.push(p.clone());
        } else if m.is_file() {
            files += 1;
            bytes += m.len();
        }
    }
    while let Some(dir) = stack.pop() {
        for ent in std::fs::read_dir(&dir).ok()?.flatten() {
            if Instant::now() > deadline {
                return None;
            }
            let Ok(ft) = ent.file_type() else { continue };
            if ft.is_dir() {
                stack.push(ent.path());
            } else if ft.is_file() {
                files += 1;
                bytes += ent.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    Some((files, bytes))
}

/// One progress line: `1,204 of 3,000 files, 812.4 MiB of 1.9 GiB (43%),
/// 95.2 MiB/s`.
pub fn line(files: u64, bytes: u64, total: Option<(u64, u64)>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.2 {
        format!(", {}/s", human_bytes((bytes as f64 / secs) as u64))
    } else {
        String::new()
    };
    let noun = |n: u64| if n == 1 { "file" } else { "files" };
    match total {
        Some((tf, tb)) if tf >= files && tb >= bytes => {
            let pct = (bytes.min(tb) * 100).checked_div(tb).unwrap_or(100);
            format!(
                "{files} of {tf} {}, {} of {} ({pct}%){rate}",
                noun(tf),
                human_bytes(bytes),
                human_bytes(tb)
            )
        }
        _ => format!("{files} {}, {}{rate}", noun(files), human_bytes(bytes)),
    }
}

/// The last `max` characters of `path` (a name in its text form), with
/// `…` in front when cut, and terminal-safe.
pub fn tail(path: &str, max: usize) -> String {
    let n = path.chars().count();
    let safe = |s: &str| super::sanitize(s).into_owned();
    if n <= max {
        return safe(path);
    }
    let cut: String = path.chars().skip(n - max + 1).collect();
    format!("…{}", safe(&cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_and_without_a_total() {
        let d = Duration::from_secs(2);
        assert_eq!(line(1, 10, None, Duration::ZERO), "1 file, 10 B");
        assert_eq!(
            line(5, 2 << 20, Some((10, 4 << 20)), d),
            "5 of 10 files, 2.0 MiB of 4.0 MiB (50%), 1.0 MiB/s"
        );
        // A tree that grew since the count: no wrong total.
        assert_eq!(line(12, 5, Some((10, 4)), Duration::ZERO), "12 files, 5 B");
        assert_eq!(line(1, 9, Some((1, 4)), Duration::ZERO), "1 file, 9 B");
    }

    #[test]
    fn the_file_being_read_is_cut_from_the_front() {
        assert_eq!(tail("/a/b.txt", 50), "/a/b.txt");
        assert_eq!(tail("/media/usb/very/long/name.bin", 10), "…/name.bin");
    }

    #[test]
    fn counts_a_small_tree() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("a"), b"12345").unwrap();
        std::fs::write(t.path().join("d/b"), b"678").unwrap();
        std::os::unix::fs::symlink("/usr", t.path().join("link")).unwrap();
        let got = count(&[t.path().to_path_buf()], Instant::now() + PRECOUNT_BUDGET);
        assert_eq!(got, Some((2, 8)));
    }
}
