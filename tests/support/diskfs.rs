//! Disk-image helpers shared by the user-space file-system tests: build an
//! image with the real tools, list what a real mount (kernel or FUSE) shows,
//! list what kensa reads in user space, and compare the two as sorted sets.

use kensa::diskfs::{self, Listed};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Runs a tool and fails the test with its output when it fails or is
/// missing (a test that cannot run is a failure, never a pass).
pub fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is its package installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every regular file under a mounted tree: path relative to `root`,
/// size and SHA-256; attributes unknown (false). Sorted.
pub fn mounted_listing(root: &Path) -> Vec<Listed> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let data = std::fs::read(e.path()).unwrap();
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.push(Listed {
                    path: rel
                        .components()
                        .map(|c| c.as_os_str().as_bytes().to_vec())
                        .collect(),
                    size: data.len() as u64,
                    sha256: hex::encode(sha2::Sha256::digest(&data)),
                    hidden: false,
                    system: false,
                });
            }
        }
    }
    out.sort();
    out
}

/// What kensa reads from a bare-volume image in user space: every file
/// with its hash (attributes kept), plus the problems met. Sorted.
pub fn user_space_listing(image: &Path) -> (Vec<Listed>, Vec<String>) {
    let data: Arc<[u8]> = std::fs::read(image).unwrap().into();
    let dev: Arc<dyn diskfs::Device> = Arc::new(diskfs::MemDevice(data));
    diskfs::list_volume(dev, &diskfs::Limits::default())
        .unwrap_or_else(|e| panic!("user-space read of {} failed: {e}", image.display()))
}

/// `(path text, size, sha256)` only, for comparing with a mount (which
/// does not show attributes).
pub fn content_set(list: &[Listed]) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|l| (kensa::disk::path_text(&l.path), l.size, l.sha256.clone()))
        .collect();
    v.sort();
    v
}

/// Asserts two sorted listings are equal, printing a line diff when not.
pub fn assert_same_files(user_space: &[Listed], mounted: &[Listed]) {
    let a = content_set(user_space);
    let b = content_set(mounted);
    if a != b {
        let only_a: Vec<_> = a.iter().filter(|x| !b.contains(x)).collect();
        let only_b: Vec<_> = b.iter().filter(|x| !a.contains(x)).collect();
        panic!(
            "user-space read differs from the mount\n  only in user space: {only_a:#?}\n  only through the mount: {only_b:#?}"
        );
    }
}

/// A loop device attached to an image, detached when dropped.
pub struct Loop {
    pub dev: PathBuf,
}

impl Loop {
    pub fn attach(image: &Path) -> Loop {
        let dev = tool(Command::new("losetup").args(["-f", "--show"]).arg(image));
        Loop {
            dev: PathBuf::from(dev.trim()),
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// A mount point, unmounted (lazily, so a busy FUSE daemon cannot hang the
/// test) when dropped.
pub struct Mounted {
    pub dir: PathBuf,
}

impl Mounted {
    /// Mounts with `cmd` (which must mount onto `dir`).
    pub fn with(dir: &Path, cmd: &mut Command) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        tool(cmd);
        Mounted {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// What a run of [`flip_test`] saw.
#[derive(Debug, Default)]
pub struct FlipStats {
    /// Variants read to the end without a problem.
    pub clean: u64,
    /// Variants whose walk reported problems (recorded gaps).
    pub with_problems: u64,
    /// Variants that could not be opened or walked at all (a gap too).
    pub refused: u64,
    /// Variants whose reader panicked (in the product the sandboxed
    /// child dies and the volume is a `corrupt` gap; here it is counted
    /// so a test can demand zero).
    pub panics: u64,
    /// The slowest variant, in milliseconds.
    pub slowest_ms: u128,
}

/// Reads `variants` mutated copies of `image` in user space: each copy has
/// 1 to 8 random bytes flipped, half of them in the first 64 KiB (where
/// the metadata is) and half anywhere. Each read runs on its own thread
/// and must end within `limit` (a hang fails the test). Deterministic for
/// a given `seed`.
pub fn flip_test(image: &Path, variants: u64, seed: u64, limit: std::time::Duration) -> FlipStats {
    let base = std::fs::read(image).unwrap();
    let mut rng = seed | 1;
    let mut next = move || {
        // xorshift64*: a fixed, dependency-free sequence.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut stats = FlipStats::default();
    for v in 0..variants {
        let mut data = base.clone();
        let flips = 1 + next() % 8;
        for i in 0..flips {
            let span = if i % 2 == 0 {
                data.len().min(64 * 1024)
            } else {
                data.len()
            };
            let at = (next() % span as u64) as usize;
            data[at] ^= (next() % 255 + 1) as u8;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let started = std::time::Instant::now();
        std::thread::spawn(move || {
            let dev: Arc<dyn diskfs::Device> = Arc::new(diskfs::MemDevice(data.into()));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                diskfs::list_volume(dev, &diskfs::Limits::default())
            }));
            let _ = tx.send(r);
        });
        let outcome = rx.recv_timeout(limit).unwrap_or_else(|_| {
            panic!(
                "variant {v} (seed {seed}) of {} did not finish within {limit:?}: a hang",
                image.display()
            )
        });
        stats.slowest_ms = stats.slowest_ms.max(started.elapsed().as_millis());
        match outcome {
            Ok(Ok((_, problems))) if problems.is_empty() => stats.clean += 1,
            Ok(Ok(_)) => stats.with_problems += 1,
            Ok(Err(_)) => stats.refused += 1,
            Err(_) => stats.panics += 1,
        }
    }
    eprintln!(
        "flip test {}: {variants} variants: {stats:?}",
        image.display()
    );
    stats
}
