//! UDF read in user space against what 7-Zip extracts (`7zz x -tUdf`) from
//! the same image: Debian has no FUSE UDF reader and this machine no
//! kernel udf module, so 7-Zip's own UDF reader is the second opinion.
//! Images are built without mounting: `genisoimage -udf -J -R` writes a
//! UDF 1.02 bridge disc (a UDF tree beside the ISO 9660 one: kensa reads
//! the UDF tree, see `kensa_diskfs::detect_bytes`) from a tree with deep
//! subdirectories, an empty file, a file > 1 MiB, a long and a Unicode
//! name; `mkudffs` (UDF 2.01) writes empty volumes in a file at block sizes
//! 512 and 2048 — it cannot fill them, and mkudffs 2.3 refuses UDF 2.50 on
//! a file, so the metadata partition is reached by the fuzz target only.
//! The hidden characteristic is set by patching an entry (no tool sets it).
//! A bridge disc whose UDF anchors are broken is read through its ISO 9660
//! tree, with a problem saying so.
//! Hostile: an ICB loop (a subdirectory's entry pointing at the root) and
//! an absurd implementation-use length end with problems; 10,000 byte
//! flips never panic or hang.

use crate::support::diskfs::{
    assert_same_files, flip_test, mounted_listing, tool, user_space_listing,
};
use kensa::diskfs::{self, Device, FsKind, MemDevice};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn source_tree(dir: &Path) {
    let deep = dir.join("sub/deeper/a/b/c/d/e/f/g/h/i/j");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(dir.join("hello.txt"), b"hello\n").unwrap();
    std::fs::write(dir.join("empty.txt"), b"").unwrap();
    let big: Vec<u8> = (0..1_300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    std::fs::write(deep.join("deepfile.txt"), b"deep\n").unwrap();
    std::fs::write(dir.join("sub/ユニコード名前.txt"), b"unicode\n").unwrap();
    std::fs::write(dir.join("sub/café.txt"), b"latin\n").unwrap();
    let long = format!("{}.txt", "L".repeat(60));
    std::fs::write(dir.join("sub").join(long), b"long\n").unwrap();
}

fn bridge_image(dir: &Path, src: &Path) -> PathBuf {
    let image = dir.join("u.iso");
    tool(
        Command::new("genisoimage")
            .args(["-quiet", "-udf", "-J", "-R", "-V", "UDFBRIDGE", "-o"])
            .arg(&image)
            .arg(src),
    );
    image
}

fn open(image: &[u8]) -> Box<dyn diskfs::FileSystem> {
    let dev: Arc<dyn Device> = Arc::new(MemDevice(image.to_vec().into()));
    diskfs::open(FsKind::Udf, dev).unwrap()
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

#[test]
fn genisoimage_udf_bridge_equals_7zip() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source_tree(&src);
    let image = bridge_image(tmp.path(), &src);
    let head = std::fs::read(&image).unwrap();
    assert_eq!(diskfs::detect_bytes(&head), Some(FsKind::Udf));
    let (user, problems) = user_space_listing(&image);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(user.len(), 7);
    let out = tmp.path().join("x");
    tool(
        Command::new("7zz")
            .args(["x", "-tUdf", "-y", "-bso0"])
            .arg(format!("-o{}", out.display()))
            .arg(&image),
    );
    assert_same_files(&user, &mounted_listing(&out));
    let fs = open(&head);
    assert_eq!(fs.label().label.as_deref(), Some("UDFBRIDGE"));
    assert_eq!(
        fs.label().serial.as_deref(),
        Some(blkid(&image, "UUID").as_str())
    );
    assert_eq!(fs.boot_len(), 32768);
}

#[test]
fn mkudffs_empty_volumes_open_with_blkid_label_and_serial() {
    let tmp = tempfile::tempdir().unwrap();
    for bs in ["512", "2048"] {
        let image = tmp.path().join(format!("e{bs}.udf"));
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(8 << 20).unwrap();
        tool(
            Command::new("mkudffs")
                .args(["-b", bs, "-l", "EMPTYVOL"])
                .arg(&image),
        );
        let (user, problems) = user_space_listing(&image);
        assert!(
            user.is_empty() && problems.is_empty(),
            "{user:?} {problems:?}"
        );
        let fs = open(&std::fs::read(&image).unwrap());
        assert_eq!(fs.label().label.as_deref(), Some("EMPTYVOL"));
        assert_eq!(
            fs.label().serial.as_deref(),
            Some(blkid(&image, "UUID").as_str())
        );
    }
}

/// A small bridge image with a subdirectory `sub` holding a file.
fn small_image(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"a\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), b"b\n").unwrap();
    std::fs::write(src.join("ü.txt"), b"u\n").unwrap();
    bridge_image(dir, &src)
}

/// The file identifier descriptor named `name` (8-bit CS0, no
/// implementation use), and the parent entry of its directory.
fn fid(img: &[u8], name: &[u8]) -> (usize, usize) {
    let mut pat = vec![8u8];
    pat.extend_from_slice(name);
    let at = (38..img.len() - pat.len())
        .find(|&p| img[p..p + pat.len()] == pat[..] && img[p - 38..p - 36] == [1, 1])
        .map(|p| p - 38)
        .expect("FID found");
    let parent = (1..=at / 4)
        .map(|k| at - 4 * k)
        .find(|&q| img[q..q + 2] == [1, 1] && img[q + 18] & 8 != 0)
        .expect("parent FID found");
    (at, parent)
}

fn read_ends_with_problems(image: &[u8]) -> Vec<String> {
    let dev: Arc<dyn Device> = Arc::new(MemDevice(image.to_vec().into()));
    let started = Instant::now();
    let (_, problems) = diskfs::list_volume(dev, &diskfs::Limits::default()).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!problems.is_empty());
    problems
}

#[test]
fn icb_loop_is_reported_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = std::fs::read(small_image(tmp.path())).unwrap();
    // In the root directory the parent entry points at the root itself.
    let (sub, parent) = fid(&img, b"sub");
    let root_icb: Vec<u8> = img[parent + 20..parent + 36].to_vec();
    img[sub + 20..sub + 36].copy_from_slice(&root_icb);
    let problems = read_ends_with_problems(&img);
    assert!(problems.iter().any(|p| p.contains("loop")), "{problems:?}");
}

#[test]
fn absurd_lengths_end_with_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = std::fs::read(small_image(tmp.path())).unwrap();
    let (sub, _) = fid(&img, b"sub");
    img[sub + 36..sub + 38].copy_from_slice(&0xFFFFu16.to_le_bytes());
    // The ICB's extent length and block pushed out of the partition.
    let (a, _) = fid(&img, b"a.txt");
    img[a + 24..a + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let problems = read_ends_with_problems(&img);
    assert!(problems.iter().any(|p| p.contains("a.txt")), "{problems:?}");
}

#[test]
fn hidden_characteristic_is_flagged() {
    // genisoimage has no option to hide a file in the UDF tree: set the
    // characteristic on `a.txt`'s entry (outside the tag's checksum).
    let tmp = tempfile::tempdir().unwrap();
    let mut img = std::fs::read(small_image(tmp.path())).unwrap();
    let (a, _) = fid(&img, b"a.txt");
    img[a + 18] |= 1;
    let dev: Arc<dyn Device> = Arc::new(MemDevice(img.into()));
    let (files, problems) = diskfs::list_volume(dev, &diskfs::Limits::default()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let hidden: Vec<_> = files.iter().filter(|l| l.hidden).map(|l| &l.path).collect();
    assert_eq!(hidden, vec![&vec![b"a.txt".to_vec()]]);
}

#[test]
fn bridge_disc_with_an_unreadable_udf_tree_is_read_through_iso_9660() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = std::fs::read(small_image(tmp.path())).unwrap();
    let last = img.len() / 2048 - 1;
    for block in [256, last, last - 256] {
        img[block * 2048 + 4] ^= 0xFF; // the anchor's tag checksum
    }
    let dev: Arc<dyn Device> = Arc::new(MemDevice(img.into()));
    let (files, problems) = diskfs::list_volume(dev, &diskfs::Limits::default()).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("UDF tree not read"), "{problems:?}");
}

#[test]
fn ten_thousand_flips_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let image = small_image(tmp.path());
    let stats = flip_test(&image, 10_000, 17, Duration::from_secs(10));
    assert_eq!(stats.panics, 0, "{stats:?}");
}
