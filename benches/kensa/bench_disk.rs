//! Benchmark harness (not a timed test): a volume read in user space
//! versus the same volume mounted. Builds a corpus of ~0.8 GiB of mixed
//! real files (from /usr, as the `scan` benchmark does), writes it into a
//! 1 GiB ext4 image (`mkfs.ext4 -d`) and a 1 GiB FAT32 image (`mcopy`),
//! attaches each to a loop device and prints, side by side in one run,
//! wall time, CPU time and peak RSS of
//!
//! - `kensa scan /dev/loopN` (user space, nothing mounted), and
//! - mount + `kensa scan MOUNTPOINT`: a kernel mount (the mount's own time
//!   is measured and added to the mounted scan's wall). This machine has
//!   no kernel vfat module, and the FUSE `fusefat` took about 700 s for
//!   this volume (a peer that slow flatters kensa), so the FAT32 image's
//!   peer is the same files through the kernel's ext4 mount of the ext4
//!   image.
//!
//! The goal: user space ≤ 1.2× the mounted scan's wall time.
//!
//! Run: `cargo bench --bench kensa -- disk` (as root: loop devices and
//! mounts). Environment: KENSA_BENCH_DISK_DIR (default
//! target/bench-disk), KENSA_BENCH_THREADS.

use crate::bench_scan::{build_corpus, measure, Measure};
use crate::support;
use crate::support::diskfs::{tool, Loop, Mounted};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Bytes of files written into each 1 GiB image.
const CORPUS_BYTES: u64 = 800 << 20;

fn work_dir() -> PathBuf {
    std::env::var_os("KENSA_BENCH_DISK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo().join("target/bench-disk"))
}

/// The ext4 image, built once (kept between runs).
fn ext4_image(work: &Path, corpus: &Path) -> PathBuf {
    let img = work.join("ext4.img");
    if !img.exists() {
        let tmp = work.join("ext4.img.tmp");
        tool(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "BENCHEXT", "-d"])
                .arg(corpus)
                .arg(&tmp)
                .arg("1G"),
        );
        std::fs::rename(&tmp, &img).unwrap();
    }
    img
}

/// The FAT32 image, built once (kept between runs).
fn fat_image(work: &Path, corpus: &Path) -> PathBuf {
    let img = work.join("fat32.img");
    if !img.exists() {
        let tmp = work.join("fat32.img.tmp");
        let _ = std::fs::remove_file(&tmp);
        tool(
            Command::new("mkfs.vfat")
                .args(["-F", "32", "-n", "BENCHFAT", "-C"])
                .arg(&tmp)
                .arg(format!("{}", 1u64 << 20)),
        );
        tool(
            Command::new("mcopy")
                .args(["-s", "-D", "o", "-i"])
                .arg(&tmp)
                .arg(corpus)
                .arg("::/corpus"),
        );
        std::fs::rename(&tmp, &img).unwrap();
    }
    img
}

/// `kensa scan` of `target` with the bundled rules and the given threads.
/// Runs `make()` three times and keeps the run with the median wall time
/// (one VM run varies by ±30%; the median of three is steadier).
fn median_of_3(name: &str, note: &str, make: impl Fn() -> Command) -> Measure {
    let mut runs: Vec<Measure> = (0..3).map(|_| measure(name, &mut make(), note)).collect();
    runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    runs.swap_remove(1)
}

fn kensa_scan(target: &Path, threads: &str) -> Command {
    let mut c = Command::new(support::kensa_bin());
    c.args(["scan", "--quiet", "--threads", threads])
        .arg(target);
    c.env_remove("KENSA_LOG");
    c
}

/// One volume: the user-space scan of its loop device, then the scan of
/// a kernel mount of `kernel_image` (the same image for ext4; the ext4
/// image, holding the same files, for FAT32), mount time added to its wall.
fn compare(fs: &str, image: &Path, kernel_image: &Path, threads: &str) -> (Measure, Measure, f64) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cat {} {} > /dev/null",
            image.display(),
            kernel_image.display()
        ))
        .status();
    let lo = Loop::attach(image);
    let user = median_of_3(
        &format!("{fs} user space"),
        "kensa scan /dev/loopN (median of 3)",
        || kensa_scan(&lo.dev, threads),
    );
    drop(lo);
    let kernel_lo = Loop::attach(kernel_image);
    let mnt = image.with_extension("mnt");
    let started = Instant::now();
    let mounted = Mounted::with(
        &mnt,
        Command::new("mount")
            .args(["-o", "ro,nosuid,nodev,noexec"])
            .arg(&kernel_lo.dev)
            .arg(&mnt),
    );
    let mount_s = started.elapsed().as_secs_f64();
    let note = match fs {
        "ext4" => "kernel mount + kensa scan (median of 3)",
        _ => "same files, kernel ext4 mount + kensa scan (median of 3; no kernel vfat here)",
    };
    let mut on_mount = median_of_3(&format!("{fs} mounted"), note, || {
        kensa_scan(&mounted.dir, threads)
    });
    on_mount.wall += mount_s;
    drop(mounted);
    (user, on_mount, mount_s)
}

pub fn bench_user_space_vs_mounted() {
    let work = work_dir();
    std::fs::create_dir_all(&work).unwrap();
    let threads = std::env::var("KENSA_BENCH_THREADS").unwrap_or_else(|_| "2".into());
    let corpus = work.join("corpus");
    eprintln!("building corpus in {} ...", corpus.display());
    let (bytes, files) = build_corpus(&corpus, CORPUS_BYTES);
    eprintln!(
        "building the ext4 and FAT32 images in {} ...",
        work.display()
    );
    let ext4 = ext4_image(&work, &corpus);
    let fat = fat_image(&work, &corpus);
    let mut rows = Vec::new();
    let mut report = format!(
        "\ncorpus: {files} files, {:.2} GiB, in 1 GiB images; threads {threads}; bundled rules\n",
        bytes as f64 / (1u64 << 30) as f64
    );
    report.push_str(&format!(
        "{:<18} {:>9} {:>9} {:>11} {:>6}  {}\n",
        "run", "wall s", "cpu s", "peak RSS", "exit", "note"
    ));
    for (fs, img) in [("ext4", &ext4), ("fat32", &fat)] {
        let (user, mounted, mount_s) = compare(fs, img, &ext4, &threads);
        for m in [&user, &mounted] {
            report.push_str(&format!(
                "{:<18} {:>9.2} {:>9.2} {:>8} MiB {:>6}  {}\n",
                m.name,
                m.wall,
                m.cpu,
                m.maxrss_kib / 1024,
                m.exit,
                m.note
            ));
        }
        report.push_str(&format!(
            "{fs}: user space / mounted wall = {:.2} (goal <= 1.2; mount took {mount_s:.2} s), RSS = {:.2}\n",
            user.wall / mounted.wall,
            user.maxrss_kib as f64 / mounted.maxrss_kib.max(1) as f64
        ));
        rows.push((user, mounted));
    }
    print!("{report}");
    let _ = std::io::stdout().flush();
    std::fs::write(work.join("bench-disk.txt"), &report).unwrap();
    assert!(
        rows.iter()
            .all(|(u, m)| (0..=2).contains(&u.exit) && (0..=2).contains(&m.exit)),
        "a scan failed"
    );
}
