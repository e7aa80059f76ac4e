//! NTFS read in user space (`kensa::diskfs::ntfs`, over the `ntfs` crate)
//! against an `ntfs-3g` mount of the same image. The image is made with
//! `mkntfs -F -Q` on a file and filled through `ntfs-3g -o
//! streams_interface=windows` (subdirectories, an empty file, a file over
//! 1 MiB, Unicode and long names, a hard link, alternate data streams — one
//! holding EICAR behind a harmless unnamed stream — and a file marked
//! hidden+system with `setfattr -n system.ntfs_attrib_be`). A mount's walk
//! does not list streams: the unnamed-data set is compared with a plain
//! mount, and each stream's bytes with `cat file:stream` through a
//! `streams_interface=windows` mount. Hostile images overwrite MFT records
//! and the `$MFT` data run; `flip_test` runs 10,000 byte-flipped variants of
//! a small image.

use crate::support::diskfs::{
    assert_same_files, flip_test, mounted_listing, tool, user_space_listing, Mounted,
};
use kensa::diskfs::{self, Listed};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn mkntfs(image: &Path, size: u64, label: &str) {
    let f = std::fs::File::create(image).unwrap();
    f.set_len(size).unwrap();
    tool(
        Command::new("mkntfs")
            .args(["-F", "-Q", "-q", "-L", label])
            .arg(image),
    );
}

pub(crate) fn ntfs3g(image: &Path, dir: &Path, opts: &str) -> Mounted {
    Mounted::with(
        dir,
        Command::new("ntfs-3g")
            .args(["-o", opts])
            .arg(image)
            .arg(dir),
    )
}

/// Unmounts for real (so ntfs-3g has written everything) before the image
/// is read; the guard's lazy unmount that follows finds nothing to do.
fn unmount(m: Mounted) {
    tool(&mut Command::new("sync"));
    tool(Command::new("umount").arg(&m.dir));
    drop(m);
}

/// Fills a mounted (streams_interface=windows) volume.
fn fill(root: &Path) {
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::create_dir_all(root.join("sub/deep")).unwrap();
    std::fs::create_dir_all(root.join("ünï 日本")).unwrap();
    std::fs::write(root.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(
        root.join("a.txt:Zone.Identifier"),
        b"[ZoneTransfer]\nZoneId=3\n",
    )
    .unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("sub/big.bin"), &big).unwrap();
    std::fs::write(root.join("sub/big.bin:big stream"), &big[..300_000]).unwrap();
    std::fs::write(root.join("sub/deep/f"), b"deep\n").unwrap();
    std::fs::write(root.join("ünï 日本/名前.txt"), "名前\n").unwrap();
    std::fs::write(root.join("ünï 日本/名前.txt:ストリーム"), "流れ\n").unwrap();
    std::fs::write(root.join(format!("{}.txt", "long".repeat(60))), b"long\n").unwrap();
    std::fs::write(root.join("clean.txt"), b"nothing to see\n").unwrap();
    std::fs::write(root.join("clean.txt:payload"), crate::support::eicar()).unwrap();
    std::fs::write(root.join("hidsys.dat"), b"hidden and system\n").unwrap();
    std::fs::hard_link(root.join("a.txt"), root.join("sub/hard")).unwrap();
    tool(
        Command::new("setfattr")
            .args(["-n", "system.ntfs_attrib_be", "-v", "0x00000006"])
            .arg(root.join("hidsys.dat")),
    );
}

fn path_of(l: &Listed) -> String {
    kensa::disk::path_text(&l.path)
}

fn is_stream(l: &Listed) -> bool {
    l.path.last().is_some_and(|c| c.contains(&b':'))
}

pub(crate) fn build(tmp: &Path) -> PathBuf {
    let image = tmp.join("ntfs.img");
    mkntfs(&image, 24 << 20, "kensa-ntfs");
    let m = ntfs3g(&image, &tmp.join("fill"), "streams_interface=windows");
    fill(&m.dir);
    unmount(m);
    image
}

#[test]
fn ntfs_read_in_user_space_equals_an_ntfs3g_mount_streams_included() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    let started = Instant::now();
    let (user, problems) = user_space_listing(&image);
    eprintln!(
        "ntfs: {} files and streams in {:?}",
        user.len(),
        started.elapsed()
    );
    assert!(problems.is_empty(), "{problems:?}");

    // The unnamed data against a plain mount (which shows both names of
    // the hard link; kensa reads it once).
    let (streams, unnamed): (Vec<Listed>, Vec<Listed>) = user.iter().cloned().partition(is_stream);
    let names: Vec<String> = unnamed.iter().map(path_of).collect();
    let links = ["a.txt", "sub/hard"];
    let met: Vec<_> = links
        .iter()
        .filter(|l| names.contains(&l.to_string()))
        .collect();
    assert_eq!(
        met.len(),
        1,
        "hard link read {} times: {names:?}",
        met.len()
    );
    let m = ntfs3g(&image, &tmp.path().join("plain"), "ro");
    let mut mounted = mounted_listing(&m.dir);
    mounted.retain(|l| {
        let p = path_of(l);
        !links.contains(&p.as_str()) || p == *met[0]
    });
    assert_same_files(&unnamed, &mounted);
    drop(m);

    // Each stream's bytes as `cat file:stream` gives them.
    let m = ntfs3g(
        &image,
        &tmp.path().join("win"),
        "ro,streams_interface=windows",
    );
    let stream_names: Vec<String> = streams.iter().map(path_of).collect();
    for want in [
        "a.txt:Zone.Identifier",
        "sub/big.bin:big stream",
        "ünï 日本/名前.txt:ストリーム",
        "clean.txt:payload",
    ] {
        assert!(
            stream_names.iter().any(|s| s.ends_with(want)),
            "{want} not in {stream_names:?}"
        );
    }
    for s in &streams {
        let rel: PathBuf = s
            .path
            .iter()
            .map(|c| String::from_utf8(c.clone()).unwrap())
            .collect();
        let data = std::fs::read(m.dir.join(&rel)).unwrap();
        assert_eq!(s.size, data.len() as u64, "{rel:?}");
        assert_eq!(
            s.sha256,
            hex::encode(sha2::Sha256::digest(&data)),
            "{rel:?}"
        );
    }
    drop(m);

    // EICAR only in the stream: the unnamed data is harmless.
    let eicar = hex::encode(sha2::Sha256::digest(crate::support::eicar()));
    let payload = streams
        .iter()
        .find(|s| path_of(s) == "clean.txt:payload")
        .unwrap();
    assert_eq!(payload.sha256, eicar);
    assert!(unnamed.iter().all(|l| l.sha256 != eicar));

    // Attributes from $STANDARD_INFORMATION.
    let hs = user.iter().find(|l| path_of(l) == "hidsys.dat").unwrap();
    assert!(hs.hidden && hs.system, "{hs:?}");
    assert!(user
        .iter()
        .filter(|l| path_of(l) != "hidsys.dat")
        .all(|l| !l.hidden && !l.system));

    // Label and serial as blkid prints them.
    let data: Arc<[u8]> = std::fs::read(&image).unwrap().into();
    let dev: Arc<dyn diskfs::Device> = Arc::new(diskfs::MemDevice(data));
    let fs = diskfs::open(diskfs::FsKind::Ntfs, dev).unwrap();
    let uuid = tool(
        Command::new("blkid")
            .args(["-s", "UUID", "-o", "value"])
            .arg(&image),
    );
    assert_eq!(fs.label().serial.as_deref(), Some(uuid.trim()));
    assert_eq!(fs.label().label.as_deref(), Some("kensa-ntfs"));
    assert_eq!(fs.boot_len(), 8192);
}

/// Where MFT record `n` starts (from the boot sector).
fn mft_record(image: &[u8], n: u64) -> usize {
    let bps = u64::from(u16::from_le_bytes([image[11], image[12]]));
    let spc = u64::from(image[13]);
    let mft = u64::from_le_bytes(image[0x30..0x38].try_into().unwrap());
    (mft * bps * spc + n * 1024) as usize
}

/// Lists a (possibly hostile) image in this process: refused, or files
/// and problems; never a panic, always quickly.
fn hostile(name: &str, data: Vec<u8>) -> Result<(Vec<Listed>, Vec<String>), String> {
    let started = Instant::now();
    let dev: Arc<dyn diskfs::Device> = Arc::new(diskfs::MemDevice(data.into()));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        diskfs::list_volume(dev, &diskfs::Limits::default())
    }))
    .unwrap_or_else(|_| panic!("{name}: the reader panicked"));
    let took = started.elapsed();
    eprintln!(
        "{name}: {took:?}: {:?}",
        r.as_ref().map(|(f, p)| (f.len(), p))
    );
    assert!(took < Duration::from_secs(10), "{name} took {took:?}");
    r.map_err(|e| e.to_string())
}

#[test]
fn hostile_ntfs_with_a_corrupt_mft_ends_with_problems_or_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let image = build(tmp.path());
    let base = std::fs::read(&image).unwrap();

    // User records (24 and up) overwritten with garbage: those files are
    // problems, the walk goes on.
    let mut v = base.clone();
    let at = mft_record(&v, 64);
    for (i, b) in v[at..at + 8 * 1024].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0x5A;
    }
    let r = hostile("user records garbage", v);
    if let Ok((_, problems)) = &r {
        assert!(!problems.is_empty(), "garbage records read as clean");
    }

    // Every user record's "FILE" signature broken.
    let mut v = base.clone();
    for n in 24..96 {
        let at = mft_record(&v, n);
        v[at..at + 4].copy_from_slice(b"BAAD");
    }
    let (files, problems) = hostile("FILE signatures", v).expect("root still readable");
    assert!(
        !problems.is_empty() && files.len() < 4,
        "{files:?} {problems:?}"
    );

    // The root directory's record destroyed: refused or a problem.
    let mut v = base.clone();
    let at = mft_record(&v, 5);
    v[at + 0x30..at + 1024].fill(0xFF);
    if let Ok((files, problems)) = hostile("root record", v) {
        assert!(files.is_empty() && !problems.is_empty());
    }

    // $MFT's own record (0): its $DATA data run pointed far away.
    let mut v = base.clone();
    let at = mft_record(&v, 0);
    v[at + 0x100..at + 0x300].fill(0x7F);
    let _ = hostile("MFT data run", v);

    // An index subnode pointing at itself, and the rest of the records
    // bit-rotted: still ends.
    let mut v = base;
    let at = mft_record(&v, 24);
    for (i, b) in v[at..at + 64 * 1024].iter_mut().enumerate() {
        if i % 7 == 3 {
            *b ^= 0x41;
        }
    }
    let _ = hostile("bit rot", v);
}

#[test]
fn flip_test_small_ntfs() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("small.img");
    mkntfs(&image, 2 << 20, "flip");
    let m = ntfs3g(
        &image,
        &tmp.path().join("fill"),
        "streams_interface=windows",
    );
    std::fs::create_dir_all(m.dir.join("d/e")).unwrap();
    std::fs::write(m.dir.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(m.dir.join("a.txt:s"), b"stream\n").unwrap();
    std::fs::write(m.dir.join("d/e/b.bin"), vec![7u8; 40_000]).unwrap();
    std::fs::write(m.dir.join("d/c"), b"c\n").unwrap();
    unmount(m);
    let (files, problems) = user_space_listing(&image);
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(problems.is_empty(), "{problems:?}");
    let stats = flip_test(&image, 10_000, 0x5eed_0f75, Duration::from_secs(20));
    eprintln!("ntfs flip stats: {stats:?}");
    assert_eq!(stats.panics, 0, "{stats:?}");
}
