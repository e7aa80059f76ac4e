//! exFAT read in user space against a FUSE mount of the same image.
//! `mkfs.exfat` makes the volume and `mount.exfat-fuse` (on a loop
//! device: it takes no image file) fills it, since exFAT has no tool that
//! writes files into an image; the comparison mount is exfat-fuse again,
//! read-only (this machine has no kernel exfat module). No tool sets the
//! hidden attribute, so the test sets it in the image (and recomputes the
//! entry set's checksum). Also: label and serial against `blkid`, a
//! fragmented file, bytes past `ValidDataLength` read as zeros, and 10,000
//! random byte flips over a small image.

use super::fat::noise;
use crate::support::diskfs::{
    assert_same_files, flip_test, mounted_listing, tool, user_space_listing, Loop, Mounted,
};
use kensa::diskfs::{self, Device, MemDevice};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An exFAT image of `kib` KiB (`mkfs` arguments added), filled through a
/// read-write exfat-fuse mount by `fill`.
fn build(dir: &Path, kib: u64, mkfs: &[&str], fill: impl FnOnce(&Path)) -> PathBuf {
    let image = dir.join("exfat.img");
    let f = std::fs::File::create(&image).unwrap();
    f.set_len(kib * 1024).unwrap();
    drop(f);
    tool(
        Command::new("mkfs.exfat")
            .args(mkfs)
            .args(["-L", "KENSAEX"])
            .arg(&image),
    );
    let lo = Loop::attach(&image);
    let mnt = dir.join("rw");
    let m = Mounted::with(
        &mnt,
        Command::new("mount.exfat-fuse").arg(&lo.dev).arg(&mnt),
    );
    fill(&m.dir);
    // exfat-fuse on a block device is a fuseblk mount: umount waits for
    // it to write everything back.
    tool(Command::new("umount").arg(&m.dir));
    drop(m);
    drop(lo);
    image
}

fn fill_tree(root: &Path) {
    let w = |p: &str, d: &[u8]| std::fs::write(root.join(p), d).unwrap();
    std::fs::create_dir_all(root.join("Sub/Deeper")).unwrap();
    w("hello.txt", b"hello, world\n");
    w("empty.txt", b"");
    w("Sub/Deeper/nested.txt", &noise(5000, 1));
    w("Sub/Ünïcödé 名前 — a long exFAT name.txt", &noise(777, 2));
    w("hidden.txt", b"hidden from a plain listing\n");
    w("big.bin", &noise(1_500_000, 5));
    for i in 0..8 {
        w(&format!("fill{i}.bin"), &noise(9000, 10 + i));
    }
    for i in (0..8).step_by(2) {
        std::fs::remove_file(root.join(format!("fill{i}.bin"))).unwrap();
    }
    w("frag.bin", &noise(30_000, 99));
}

/// The layout fields of an exFAT boot sector: (FAT offset, heap offset,
/// cluster size, root cluster), bytes except the cluster number.
fn layout(img: &[u8]) -> (usize, usize, usize, u32) {
    let le32 = |at: usize| u32::from_le_bytes(img[at..at + 4].try_into().unwrap());
    let sector = 1usize << img[108];
    let cluster = sector << img[109];
    (
        le32(80) as usize * sector,
        le32(88) as usize * sector,
        cluster,
        le32(96),
    )
}

/// The offset of the root-directory entry set named `name` (the root's
/// first cluster only: enough for these small trees).
fn root_set(img: &[u8], name: &str) -> usize {
    let (_, heap, cluster, root) = layout(img);
    let at = heap + (root as usize - 2) * cluster;
    let want: Vec<u16> = name.encode_utf16().collect();
    (at..at + cluster)
        .step_by(32)
        .find(|&e| {
            img[e] == 0x85 && img[e + 32] == 0xC0 && usize::from(img[e + 35]) == want.len() && {
                let units: Vec<u16> = (0..want.len())
                    .map(|i| {
                        let p = e + 64 + (i / 15) * 32 + 2 + (i % 15) * 2;
                        u16::from_le_bytes([img[p], img[p + 1]])
                    })
                    .collect();
                units == want
            }
        })
        .unwrap_or_else(|| panic!("{name} not in the root's first cluster"))
}

/// Recomputes the SetChecksum of the entry set at `at`.
fn fix_checksum(img: &mut [u8], at: usize) {
    let len = (1 + usize::from(img[at + 1])) * 32;
    let mut sum = 0u16;
    for (i, &b) in img[at..at + len].iter().enumerate() {
        if i != 2 && i != 3 {
            sum = sum.rotate_right(1).wrapping_add(u16::from(b));
        }
    }
    img[at + 2..at + 4].copy_from_slice(&sum.to_le_bytes());
}

/// How many runs of contiguous clusters the file at `set` has.
fn runs(img: &[u8], set: usize) -> usize {
    let (fat, _, cluster, _) = layout(img);
    let stream = set + 32;
    let len = u64::from_le_bytes(img[stream + 24..stream + 32].try_into().unwrap());
    if img[stream + 1] & 0x02 != 0 {
        return 1;
    }
    let mut c = u32::from_le_bytes(img[stream + 20..stream + 24].try_into().unwrap());
    let mut n = 1;
    for _ in 1..len.div_ceil(cluster as u64) {
        let at = fat + c as usize * 4;
        let next = u32::from_le_bytes(img[at..at + 4].try_into().unwrap());
        if next != c + 1 {
            n += 1;
        }
        c = next;
    }
    n
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
fn exfat_user_space_equals_exfat_fuse() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path(), 32 * 1024, &[], fill_tree);
    let mut img = std::fs::read(&image).unwrap();
    assert!(
        runs(&img, root_set(&img, "frag.bin")) > 1,
        "frag.bin is contiguous"
    );
    let hidden = root_set(&img, "hidden.txt");
    img[hidden + 4] |= 0x02;
    fix_checksum(&mut img, hidden);
    std::fs::write(&image, &img).unwrap();

    let started = Instant::now();
    let (user, problems) = user_space_listing(&image);
    eprintln!("exfat: user-space read in {:?}", started.elapsed());
    assert!(problems.is_empty(), "{problems:?}");
    let lo = Loop::attach(&image);
    let mnt = tmp.path().join("ro");
    let m = Mounted::with(
        &mnt,
        Command::new("mount.exfat-fuse")
            .args(["-o", "ro"])
            .arg(&lo.dev)
            .arg(&mnt),
    );
    let mounted = mounted_listing(&m.dir);
    drop(m);
    drop(lo);
    assert_same_files(&user, &mounted);
    assert!(user.len() >= 10, "{user:#?}");
    let find = |n: &str| {
        user.iter()
            .find(|l| l.path.last().map(|c| c.as_slice()) == Some(n.as_bytes()))
            .unwrap_or_else(|| panic!("{n} not listed"))
    };
    assert!(find("hidden.txt").hidden);
    assert!(!find("hello.txt").hidden);
    assert_eq!(find("big.bin").size, 1_500_000);

    let dev: Arc<dyn Device> = Arc::new(MemDevice(img.clone().into()));
    assert_eq!(diskfs::detect(&*dev).unwrap(), Some(diskfs::FsKind::Exfat));
    let fs = diskfs::open(diskfs::FsKind::Exfat, dev).unwrap();
    let label = fs.label();
    assert_eq!(label.label.as_deref(), Some("KENSAEX"));
    assert_eq!(
        label.serial.as_deref(),
        Some(blkid(&image, "UUID").as_str())
    );
    assert_eq!(fs.boot_len(), 12 << img[108]);
}

#[test]
fn exfat_bytes_past_valid_data_length_read_as_zeros() {
    let tmp = tempfile::tempdir().unwrap();
    let data = noise(20_000, 42);
    let image = build(tmp.path(), 4096, &[], |root| {
        std::fs::write(root.join("partly.bin"), &data).unwrap();
    });
    let mut img = std::fs::read(&image).unwrap();
    let set = root_set(&img, "partly.bin");
    img[set + 32 + 8..set + 32 + 16].copy_from_slice(&5000u64.to_le_bytes());
    fix_checksum(&mut img, set);
    std::fs::write(&image, &img).unwrap();
    let (user, problems) = user_space_listing(&image);
    assert!(problems.is_empty(), "{problems:?}");
    let mut want = data[..5000].to_vec();
    want.resize(20_000, 0);
    assert_eq!(user.len(), 1);
    assert_eq!(user[0].size, 20_000);
    assert_eq!(user[0].sha256, hex::encode(sha2::Sha256::digest(&want)));
}

#[test]
fn exfat_flip_test() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path(), 256, &["-b", "4K", "-c", "512"], |root| {
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("hello.txt"), b"hello\n").unwrap();
        std::fs::write(root.join("sub/A long exFAT name é.bin"), noise(3000, 3)).unwrap();
        std::fs::write(root.join("sub/two.bin"), noise(1500, 4)).unwrap();
    });
    let (files, problems) = user_space_listing(&image);
    assert!(
        problems.is_empty() && files.len() == 3,
        "{files:?} {problems:?}"
    );
    let started = Instant::now();
    let stats = flip_test(&image, 10_000, 0xE8FA7, Duration::from_secs(20));
    eprintln!("exfat flip test took {:?}", started.elapsed());
    assert_eq!(stats.panics, 0, "{stats:?}");
}
