//! FAT12/16/32 read in user space against a FUSE mount of the same image.
//! Images are built without mounting (`mkfs.vfat` + mtools: `mmd`,
//! `mcopy`, `mdel`, `mattrib`); the mount is `fusefat -o ro` (this machine
//! has no kernel vfat module). fusefat ignores the Windows NT lower-case
//! flags of 8.3 names (which Windows and Linux honour, and so does kensa:
//! a unit test covers them), so the tree's names are mixed-case long names
//! or upper-case 8.3 names; and it shows the volume label entry as an
//! empty file, which the comparison drops. Also: volume label and serial against
//! `blkid`, a fragmented file (`mshowfat` shows its runs), a FAT with a
//! cluster loop and one with a directory cycle (both end quickly with
//! `Corrupt` problems), and 10,000 random byte flips over a FAT16 and a
//! FAT32 image.

use crate::support::diskfs::{
    assert_same_files, flip_test, mounted_listing, tool, user_space_listing, Mounted,
};
use kensa::diskfs::{self, Device, MemDevice};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deterministic bytes (xorshift), so no file compares equal by accident.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn mtool(tool_name: &str, image: &Path, args: &[&str]) -> String {
    tool(
        Command::new(tool_name)
            .env("LC_ALL", "C.UTF-8")
            .arg("-i")
            .arg(image)
            .args(args),
    )
}

fn put(image: &Path, dir: &Path, dest: &str, data: &[u8]) {
    let src = dir.join("src.tmp");
    std::fs::write(&src, data).unwrap();
    mtool(
        "mcopy",
        image,
        &[src.to_str().unwrap(), &format!("::{dest}")],
    );
}

/// A FAT image of `kib` KiB (`bits`: 12, 16 or 32) holding nested
/// directories, an empty file, a file over 1 MiB (when `big`), long and
/// Unicode names, a hidden and a system file, and a fragmented file.
fn build(dir: &Path, bits: u32, kib: u32, big: bool) -> std::path::PathBuf {
    let image = dir.join(format!("fat{bits}.img"));
    let mut mkfs = Command::new("mkfs.vfat");
    mkfs.args(["-C", "-F", &bits.to_string(), "-n", &format!("KENSA{bits}")]);
    if bits != 12 {
        mkfs.args(["-S", "512", "-s", "1"]);
    }
    tool(mkfs.arg(&image).arg(kib.to_string()));
    mtool("mmd", &image, &["::/Sub", "::/Sub/Deeper"]);
    put(&image, dir, "/Hello.txt", b"hello, world\n");
    put(&image, dir, "/Empty.txt", b"");
    put(&image, dir, "/Sub/Deeper/Nested.txt", &noise(5000, 1));
    put(&image, dir, "/Sub/Ünïcödé 名前 — long.txt", &noise(777, 2));
    put(
        &image,
        dir,
        "/A much longer name than eight-dot-three.data",
        &noise(40_000, 3),
    );
    put(&image, dir, "/Secret.txt", b"hidden from a plain listing\n");
    put(&image, dir, "/SYS.DAT", &noise(100, 4));
    mtool("mattrib", &image, &["+h", "::/Secret.txt"]);
    mtool("mattrib", &image, &["+s", "::/SYS.DAT"]);
    if big {
        put(&image, dir, "/Big.bin", &noise(1_500_000, 5));
    }
    // Fragmentation: fill, free every other file, then write one file
    // larger than each gap.
    for i in 0..8 {
        put(&image, dir, &format!("/Fill{i}.bin"), &noise(9000, 10 + i));
    }
    for i in (0..8).step_by(2) {
        mtool("mdel", &image, &[&format!("::/Fill{i}.bin")]);
    }
    forget_next_free(&image);
    put(&image, dir, "/Frag.bin", &noise(30_000, 99));
    let runs = mtool("mshowfat", &image, &["::/Frag.bin"]);
    assert!(
        runs.matches('<').count() > 1,
        "Frag.bin is not fragmented: {runs}"
    );
    image
}

/// FAT32: clears the FSInfo hint of the next free cluster, so mtools
/// allocates from the volume's start (into the freed gaps) again.
fn forget_next_free(image: &Path) {
    let mut img = std::fs::read(image).unwrap();
    if le16(&img, 22) != 0 {
        return;
    }
    let at = le16(&img, 48) * le16(&img, 11) + 492;
    img[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(image, &img).unwrap();
}

fn blkid(image: &Path, tag: &str) -> String {
    tool(
        Command::new("blkid")
            .args(["-p", "-o", "value", "-s", tag])
            .arg(image),
    )
    .trim()
    .to_string()
}

fn open(image: &Path) -> Box<dyn diskfs::FileSystem> {
    let dev: Arc<dyn Device> = Arc::new(MemDevice(std::fs::read(image).unwrap().into()));
    let kind = diskfs::detect(&*dev).unwrap().expect("a FAT volume");
    diskfs::open(kind, dev).unwrap()
}

fn le16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// Reads `image` in user space and through `fusefat -o ro`, and checks
/// they agree, the attributes, label, serial and boot length.
fn same_as_mount(bits: u32, kib: u32, kind: diskfs::FsKind) {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path(), bits, kib, true);
    let dev: Arc<dyn Device> = Arc::new(MemDevice(std::fs::read(&image).unwrap().into()));
    assert_eq!(diskfs::detect(&*dev).unwrap(), Some(kind));
    let started = Instant::now();
    let (user, problems) = user_space_listing(&image);
    eprintln!("fat{bits}: user-space read in {:?}", started.elapsed());
    assert!(problems.is_empty(), "problems: {problems:?}");
    let mnt = tmp.path().join("mnt");
    let m = Mounted::with(
        &mnt,
        Command::new("fusefat")
            .args(["-o", "ro"])
            .arg(&image)
            .arg(&mnt),
    );
    let mut mounted = mounted_listing(&m.dir);
    drop(m);
    // fusefat shows the volume label entry as an empty file in the root.
    let label = format!("KENSA{bits}");
    mounted.retain(|l| !(l.path == [label.as_bytes().to_vec()] && l.size == 0));
    assert_same_files(&user, &mounted);
    assert!(user.len() >= 12, "{user:#?}");
    let by_name = |n: &str| {
        user.iter()
            .find(|l| l.path.last().map(|c| c.as_slice()) == Some(n.as_bytes()))
            .unwrap_or_else(|| panic!("{n} not listed"))
    };
    assert!(by_name("Secret.txt").hidden && !by_name("Secret.txt").system);
    assert!(by_name("SYS.DAT").system && !by_name("SYS.DAT").hidden);
    assert!(!by_name("Hello.txt").hidden);
    assert_eq!(by_name("Big.bin").size, 1_500_000);
    assert_eq!(by_name("Empty.txt").size, 0);
    let fs = open(&image);
    let label = fs.label();
    assert_eq!(
        label.serial.as_deref(),
        Some(blkid(&image, "UUID").as_str())
    );
    assert_eq!(
        label.label.as_deref(),
        Some(blkid(&image, "LABEL").as_str())
    );
    let head = std::fs::read(&image).unwrap();
    assert_eq!(fs.boot_len() as usize, le16(&head, 14) * le16(&head, 11));
}

#[test]
fn fat12_user_space_equals_fusefat() {
    same_as_mount(12, 4096, diskfs::FsKind::Fat12);
}

#[test]
fn fat16_user_space_equals_fusefat() {
    same_as_mount(16, 16 * 1024, diskfs::FsKind::Fat16);
}

#[test]
fn fat32_user_space_equals_fusefat() {
    same_as_mount(32, 40 * 1024, diskfs::FsKind::Fat32);
}

/// FAT16 layout of an image: (FAT offset, FAT size, FAT count, data
/// offset, cluster size), all in bytes.
fn fat16_layout(img: &[u8]) -> (usize, usize, usize, usize, usize) {
    let bps = le16(img, 11);
    let spc = usize::from(img[13]);
    let fat_at = le16(img, 14) * bps;
    let fat_len = le16(img, 22) * bps;
    let fats = usize::from(img[16]);
    let root_len = le16(img, 17) * 32;
    let data = fat_at + fats * fat_len + root_len;
    (fat_at, fat_len, fats, data, spc * bps)
}

/// Sets FAT16 entry `c` to `v` in every FAT copy.
fn set_fat16(img: &mut [u8], c: usize, v: u16) {
    let (fat_at, fat_len, fats, _, _) = fat16_layout(img);
    for f in 0..fats {
        let at = fat_at + f * fat_len + 2 * c;
        img[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
}

/// The clusters of a file as `mshowfat` lists them (`<2-5> <9>`).
fn clusters(image: &Path, path: &str) -> Vec<usize> {
    let out = mtool("mshowfat", image, &[&format!("::{path}")]);
    let mut v = Vec::new();
    for run in out.split('<').skip(1) {
        let run = run.split('>').next().unwrap();
        let mut ends = run.split('-').map(|n| n.trim().parse::<usize>().unwrap());
        let a = ends.next().unwrap();
        let b = ends.next().unwrap_or(a);
        v.extend(a..=b);
    }
    v
}

fn read_quickly(image: &Path) -> Vec<String> {
    let started = Instant::now();
    let (_, problems) = user_space_listing(image);
    let took = started.elapsed();
    eprintln!("{}: {took:?}, problems {problems:#?}", image.display());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    problems
}

#[test]
fn fat_cluster_loop_ends_with_a_corrupt_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("loop.img");
    tool(
        Command::new("mkfs.vfat")
            .args(["-C", "-F", "16", "-s", "1"])
            .arg(&image)
            .arg("8192"),
    );
    put(&image, tmp.path(), "/looped.bin", &noise(64 * 1024, 7));
    put(&image, tmp.path(), "/fine.txt", b"still read\n");
    let chain = clusters(&image, "/looped.bin");
    assert!(chain.len() >= 3, "{chain:?}");
    let mut img = std::fs::read(&image).unwrap();
    // A cluster in the middle points back at the second: a loop inside
    // the file's size.
    set_fat16(&mut img, chain[chain.len() / 2], chain[1] as u16);
    std::fs::write(&image, &img).unwrap();
    let problems = read_quickly(&image);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("looped.bin") && p.contains("Corrupt") && p.contains("loops")),
        "{problems:#?}"
    );
    let (files, _) = user_space_listing(&image);
    assert!(files.iter().any(|f| f.path == [b"fine.txt".to_vec()]));
}

#[test]
fn fat_directory_cycle_ends_with_a_corrupt_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("cycle.img");
    tool(
        Command::new("mkfs.vfat")
            .args(["-C", "-F", "16", "-s", "1"])
            .arg(&image)
            .arg("8192"),
    );
    mtool("mmd", &image, &["::/PARENT", "::/PARENT/CHILD"]);
    put(&image, tmp.path(), "/PARENT/CHILD/in.txt", b"x\n");
    let parent = clusters(&image, "/PARENT")[0];
    let mut img = std::fs::read(&image).unwrap();
    let (_, _, _, data, cl) = fat16_layout(&img);
    // CHILD's entry in PARENT's first cluster now names PARENT itself.
    let at = data + (parent - 2) * cl;
    let entry = img[at..at + cl]
        .chunks_exact(32)
        .position(|e| &e[..11] == b"CHILD      ")
        .expect("CHILD's entry");
    let e = at + entry * 32;
    img[e + 26..e + 28].copy_from_slice(&(parent as u16).to_le_bytes());
    std::fs::write(&image, &img).unwrap();
    let problems = read_quickly(&image);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("PARENT/CHILD") && p.contains("Corrupt") && p.contains("cycle")),
        "{problems:#?}"
    );
}

fn flip(image: &Path, seed: u64) {
    let started = Instant::now();
    let stats = flip_test(image, 10_000, seed, Duration::from_secs(20));
    eprintln!(
        "{}: flip test took {:?}",
        image.display(),
        started.elapsed()
    );
    assert_eq!(stats.panics, 0, "{stats:?}");
}

#[test]
fn fat16_flip_test() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path(), 16, 4096, false);
    flip(&image, 0xFA716);
}

#[test]
fn fat32_flip_test() {
    let tmp = tempfile::tempdir().unwrap();
    let full = build(tmp.path(), 32, 33 * 1024, false);
    // mtools needs 65,525 clusters for FAT32 (33 MiB); every file lies in
    // the first MiBs, so the flips run over the image cut after its last
    // used cluster (reading it gives the same files, without problems).
    let (files, problems) = user_space_listing(&full);
    assert!(problems.is_empty(), "{problems:?}");
    let img = std::fs::read(&full).unwrap();
    let used = img.iter().rposition(|&b| b != 0).unwrap() + 1;
    let cut = tmp.path().join("fat32-cut.img");
    std::fs::write(&cut, &img[..used.next_multiple_of(4096)]).unwrap();
    let (cut_files, cut_problems) = user_space_listing(&cut);
    assert!(cut_problems.is_empty(), "{cut_problems:?}");
    assert_eq!(files, cut_files);
    eprintln!("fat32 flip image: {} of {} bytes", used, img.len());
    flip(&cut, 0xFA732);
}
