//! ext2, ext3 and ext4 read in user space (`kensa::diskfs::ext`) against a
//! kernel mount of the same image (`mount -o ro,loop`; the kernel's ext4
//! driver mounts all three). Images are built without mounting
//! (`mkfs.extN -d DIR`) from a tree with subdirectories, an empty file, a
//! file over 1 MiB, a sparse file, Unicode names, a dot-file, a hard link
//! (read once), a symlink and a FIFO (not files). Hostile images are patched
//! with `debugfs -w`: a directory linked into its own child (a cycle), an
//! absurd size and an extent pointing past the volume. `flip_test` runs
//! 10,000 byte-flipped variants of a small ext4 image.

use crate::support::diskfs::{
    assert_same_files, flip_test, mounted_listing, tool, user_space_listing, Mounted,
};
use kensa::diskfs::{self, Listed};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The source tree every image is made from.
fn source_tree(dir: &Path) {
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::create_dir_all(dir.join("sub/deep")).unwrap();
    std::fs::create_dir_all(dir.join("ünï 日本")).unwrap();
    std::fs::write(dir.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("sub/deep/f"), b"deep\n").unwrap();
    std::fs::write(dir.join("ünï 日本/名前.txt"), "名前\n").unwrap();
    std::fs::write(dir.join(".hidden"), b"dot\n").unwrap();
    std::fs::write(dir.join(format!("{}.txt", "long".repeat(60))), b"long\n").unwrap();
    std::fs::hard_link(dir.join("a.txt"), dir.join("sub/hard")).unwrap();
    std::os::unix::fs::symlink("a.txt", dir.join("sym")).unwrap();
    tool(Command::new("mkfifo").arg(dir.join("fifo")));
    let sparse = std::fs::File::create(dir.join("sparse")).unwrap();
    sparse.set_len(5 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    sparse.write_all_at(b"tail\n", 5 << 20).unwrap();
}

fn mkfs(kind: u32, src: &Path, image: &Path, size: &str) {
    tool(
        Command::new(format!("mkfs.ext{kind}"))
            .args(["-q", "-F", "-L", &format!("kensa-ext{kind}"), "-d"])
            .arg(src)
            .arg(image)
            .arg(size),
    );
}

fn path_of(l: &Listed) -> String {
    kensa::disk::path_text(&l.path)
}

#[test]
fn ext2_ext3_ext4_read_in_user_space_equal_a_kernel_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source_tree(&src);
    for kind in [2u32, 3, 4] {
        let image = tmp.path().join(format!("e{kind}.img"));
        mkfs(kind, &src, &image, "24M");
        let head = std::fs::read(&image).unwrap();
        let detected = diskfs::detect_bytes(&head[..70 * 1024]);
        assert_eq!(
            detected.map(|k| k.as_str().to_string()),
            Some(format!("ext{kind}"))
        );

        let started = Instant::now();
        let (user, problems) = user_space_listing(&image);
        eprintln!(
            "ext{kind}: {} files read in {:?}",
            user.len(),
            started.elapsed()
        );
        assert!(problems.is_empty(), "ext{kind}: {problems:?}");

        let mnt = tmp.path().join(format!("m{kind}"));
        let m = Mounted::with(
            &mnt,
            Command::new("mount")
                .args(["-o", "ro,loop"])
                .arg(&image)
                .arg(&mnt),
        );
        let mut mounted = mounted_listing(&m.dir);
        // The hard link is read once, under whichever name the walk meets
        // first; the mount shows both names.
        let names: Vec<String> = user.iter().map(path_of).collect();
        let links = ["a.txt", "sub/hard"];
        let met: Vec<_> = links
            .iter()
            .filter(|l| names.contains(&l.to_string()))
            .collect();
        assert_eq!(
            met.len(),
            1,
            "ext{kind}: hard link read {} times",
            met.len()
        );
        mounted.retain(|l| {
            let p = path_of(l);
            !links.contains(&p.as_str()) || p == *met[0]
        });
        assert_same_files(&user, &mounted);
        assert!(names.iter().any(|n| n.ends_with("名前.txt")));
        assert!(!names.iter().any(|n| n == "sym" || n == "fifo"));
        assert!(user.iter().all(|l| !l.hidden && !l.system));
        let sparse = user.iter().find(|l| path_of(l) == "sparse").unwrap();
        assert_eq!(sparse.size, (5 << 20) + 5);
        drop(m);

        // Label and UUID as blkid gives them.
        let dev: Arc<dyn diskfs::Device> = Arc::new(diskfs::MemDevice(head.into()));
        let fs = diskfs::open(detected.unwrap(), dev).unwrap();
        let label = fs.label();
        let uuid = tool(
            Command::new("blkid")
                .args(["-s", "UUID", "-o", "value"])
                .arg(&image),
        );
        assert_eq!(label.serial.as_deref(), Some(uuid.trim()));
        assert_eq!(label.label, Some(format!("kensa-ext{kind}")));
        assert_eq!(fs.boot_len(), 1024);
    }
}

fn debugfs(image: &Path, request: &str) {
    tool(
        Command::new("debugfs")
            .args(["-w", "-R", request])
            .arg(image),
    );
}

#[test]
fn hostile_ext4_cycle_absurd_size_and_out_of_range_extent_end_with_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source_tree(&src);
    let image = tmp.path().join("hostile.img");
    mkfs(4, &src, &image, "24M");
    // /sub/deep/loop -> /sub: a directory entry pointing at an ancestor.
    debugfs(&image, "link /sub /sub/deep/loop");
    // A second name for /sub elsewhere: a directory linked twice.
    debugfs(&image, "link /sub /again");
    debugfs(&image, "sif /big.bin size 0x1000000000000000");
    // The first extent of a.txt's tree (i_block[5]: ee_start_lo) far past
    // the volume's end.
    debugfs(&image, "sif /sub/deep/f block[5] 0x7ffffff0");

    let started = Instant::now();
    let (files, problems) = user_space_listing(&image);
    let took = started.elapsed();
    eprintln!(
        "hostile ext4: {} files, problems {problems:#?}, {took:?}",
        files.len()
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let has = |what: &str| problems.iter().any(|p| p.contains(what));
    assert!(
        has("sub/deep/loop: Corrupt: directory cycle"),
        "{problems:?}"
    );
    assert!(has("again: Corrupt: directory inode"), "{problems:?}");
    assert!(has("big.bin: Corrupt: recorded size"), "{problems:?}");
    assert!(has("sub/deep/f: Corrupt: extent at block"), "{problems:?}");
    // The rest is still read.
    let names: Vec<String> = files.iter().map(path_of).collect();
    assert!(names.contains(&"empty".to_string()), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("名前.txt")));
}

#[test]
fn flip_test_small_ext4() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(src.join("d/e/b.bin"), vec![7u8; 40_000]).unwrap();
    std::fs::write(src.join("d/c"), b"c\n").unwrap();
    std::fs::hard_link(src.join("a.txt"), src.join("d/link")).unwrap();
    let image = tmp.path().join("small.img");
    tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-N", "32", "-b", "1024", "-d"])
            .arg(&src)
            .arg(&image)
            .arg("1M"),
    );
    let (files, problems) = user_space_listing(&image);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(problems.is_empty(), "{problems:?}");
    let stats = flip_test(&image, 10_000, 0x5eed_e474, Duration::from_secs(20));
    eprintln!("ext4 flip stats: {stats:?}");
    assert_eq!(stats.panics, 0, "{stats:?}");
}
