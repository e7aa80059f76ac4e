//! Partition tables through the binary (`kensa inspect --json`): MBR with
//! two primaries and an extended partition holding two logical ones, GPT
//! with its second partition's files listed, an extended chain that loops,
//! a GPT whose primary header is corrupt (read from the backup), and the
//! `$mbr` pseudo-file with its SHA-256. Images are built without mounting:
//! `sfdisk` writes the table into an image file, each partition's file
//! system is made in a file of its own (`mkfs.vfat -C`, `mkfs.ext4`,
//! `xorriso`) and copied to its offset. Volumes whose reader is not on
//! this branch are named by `detect` and read as raw blobs.

use crate::support::diskfs::tool;
use crate::support::{parse_lines, run_measured, TestEnv};
use serde_json::Value;
use sha2::Digest;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// Files of the ISO volumes: a small one and one over 1 MiB in a subdirectory.
pub fn iso_files() -> Vec<(&'static str, Vec<u8>)> {
    let big: Vec<u8> = (0..1_300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    vec![("a.txt", b"hello\n".to_vec()), ("sub/big.bin", big)]
}

/// An ISO 9660 (Joliet, Rock Ridge) image of [`iso_files`].
pub fn iso(dir: &Path, name: &str) -> PathBuf {
    let src = dir.join(format!("{name}.d"));
    for (p, data) in iso_files() {
        let f = src.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    }
    let out = dir.join(format!("{name}.iso"));
    tool(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-J", "-R", "-o"])
            .arg(&out)
            .arg(&src),
    );
    out
}

fn vfat(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    tool(
        Command::new("mkfs.vfat")
            .arg("-C")
            .arg(&p)
            .arg((mib * 1024).to_string()),
    );
    p
}

fn ext(dir: &Path, name: &str, mib: u64, kind: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .set_len(mib * MIB)
        .unwrap();
    tool(
        Command::new(format!("mkfs.{kind}"))
            .args(["-q", "-F"])
            .arg(&p),
    );
    p
}

/// An image of `mib` MiB with the table `script` (sfdisk input).
pub fn table(dir: &Path, name: &str, mib: u64, script: &str) -> PathBuf {
    use std::io::Write;
    let img = dir.join(name);
    std::fs::File::create(&img)
        .unwrap()
        .set_len(mib * MIB)
        .unwrap();
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run sfdisk (package fdisk)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed on {script}");
    img
}

/// Copies the file `part` into `img` at byte `offset`.
pub fn put(img: &Path, offset: u64, part: &Path) {
    let data = std::fs::read(part).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    f.write_all_at(&data, offset).unwrap();
}

/// `kensa inspect --json IMAGE`: exit code, records, elapsed time.
pub fn inspect(env: &TestEnv, img: &Path, fault: Option<&str>) -> (i32, Vec<Value>, Duration) {
    let mut cmd = env.command();
    cmd.arg("inspect").arg("--json").arg(img);
    if let Some(f) = fault {
        cmd.env("KENSA_TEST_PARSER_FAULT", f);
    }
    let t = Instant::now();
    let m = run_measured("inspect", Duration::from_secs(120), &mut cmd);
    let took = t.elapsed();
    let recs = parse_lines(&m.output);
    (m.output.status.code().unwrap_or(-1), recs, took)
}

pub fn of<'a>(recs: &'a [Value], t: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["type"] == t).collect()
}

/// `(path, size, sha256)` of the files of volume `index`.
pub fn files_of(recs: &[Value], index: u64) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = of(recs, "file")
        .into_iter()
        .filter(|f| f["volume"] == index)
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["size"].as_u64().unwrap(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(p, _, _)| !p.is_empty() && p != "$boot")
        .collect();
    v.sort();
    v
}

pub fn expected_iso_files() -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = iso_files()
        .into_iter()
        .map(|(p, d)| (p.to_string(), d.len() as u64, sha(&d)))
        .collect();
    v.sort();
    v
}

pub fn sha(d: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(d))
}

/// 2 primaries (FAT, ext4) and an extended partition with 2 logicals
/// (ISO, ext2), on 40 MiB.
fn mbr_image(dir: &Path) -> PathBuf {
    let img = table(
        dir,
        "mbr.img",
        40,
        "label: dos\nstart=2048,size=16384,type=c\nstart=18432,size=8192,type=83\n\
         start=26624,size=51200,type=5\nstart=28672,size=8192,type=83\nstart=38912,size=16384,type=83\n",
    );
    put(&img, 2048 * 512, &vfat(dir, "p1.fat", 8));
    put(&img, 18432 * 512, &ext(dir, "p2.ext4", 4, "ext4"));
    put(&img, 28672 * 512, &iso(dir, "p5"));
    put(&img, 38912 * 512, &ext(dir, "p6.ext2", 8, "ext2"));
    img
}

#[test]
fn mbr_primaries_and_logicals() {
    let env = TestEnv::new();
    let img = mbr_image(env.base());
    let (_, recs, _) = inspect(&env, &img, None);
    let table = of(&recs, "table");
    assert_eq!(table[0]["table"], "mbr", "{recs:?}");
    let vols: Vec<(u64, u64, String)> = of(&recs, "volume")
        .iter()
        .map(|v| {
            (
                v["index"].as_u64().unwrap(),
                v["offset"].as_u64().unwrap() / 512,
                v["fs"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(vols.len(), 4, "{vols:?}");
    assert_eq!(
        vols.iter().map(|v| (v.0, v.1)).collect::<Vec<_>>(),
        vec![(1, 2048), (2, 18432), (5, 28672), (6, 38912)]
    );
    assert!(vols[0].2.starts_with("fat"), "{vols:?}");
    assert_eq!(vols[1].2, "ext4");
    assert_eq!(vols[2].2, "iso9660");
    assert_eq!(vols[3].2, "ext2");
    assert_eq!(files_of(&recs, 5), expected_iso_files());
    // `$mbr`: LBA 0 up to the first partition (1 MiB here).
    let data = std::fs::read(&img).unwrap();
    let mbr: Vec<_> = of(&recs, "file")
        .into_iter()
        .filter(|f| f["path"] == "$mbr")
        .collect();
    assert_eq!(mbr.len(), 1, "{recs:?}");
    assert_eq!(mbr[0]["size"], 2048 * 512);
    assert_eq!(mbr[0]["sha256"], sha(&data[..2048 * 512]));
    assert!(mbr[0]["volume"].is_null());
}

fn gpt_image(dir: &Path) -> PathBuf {
    let img = table(
        dir,
        "gpt.img",
        16,
        "label: gpt\nstart=2048,size=8192,type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n\
         start=10240,size=8192,type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n",
    );
    put(&img, 2048 * 512, &vfat(dir, "esp.fat", 4));
    put(&img, 10240 * 512, &iso(dir, "gpt2"));
    img
}

fn check_gpt(recs: &[Value]) {
    let vols = of(recs, "volume");
    assert_eq!(vols.len(), 2, "{recs:?}");
    assert_eq!(vols[0]["partition_type"], "EFI system");
    assert_eq!(vols[1]["partition_type"], "basic data");
    assert_eq!(vols[1]["fs"], "iso9660");
    assert_eq!(files_of(recs, 2), expected_iso_files());
}

#[test]
fn gpt_second_partition_files_are_listed() {
    let env = TestEnv::new();
    let img = gpt_image(env.base());
    let (_, recs, _) = inspect(&env, &img, None);
    assert_eq!(of(&recs, "table")[0]["table"], "gpt");
    check_gpt(&recs);
    assert!(
        !of(&recs, "problem").iter().any(|p| p["volume"].is_null()),
        "a clean GPT has no table problem: {recs:?}"
    );
}

#[test]
fn gpt_with_a_corrupt_primary_header_is_read_from_the_backup() {
    let env = TestEnv::new();
    let img = gpt_image(env.base());
    // A byte of the disk GUID in the primary header: its CRC32 no longer matches.
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0x5a], 512 + 60).unwrap();
    let (_, recs, _) = inspect(&env, &img, None);
    check_gpt(&recs);
    let problems = of(&recs, "problem");
    assert!(
        problems
            .iter()
            .any(|p| p["volume"].is_null() && p["detail"].as_str().unwrap().contains("backup")),
        "{problems:?}"
    );
}

#[test]
fn looping_extended_chain_ends_with_a_problem() {
    let env = TestEnv::new();
    let img = mbr_image(env.base());
    // The second EBR (the one before p6, at sector 36864 = 26624 + 10240)
    // links to itself: its next-EBR entry is relative to the extended start.
    let data = std::fs::read(&img).unwrap();
    let ebr2 = 36864usize * 512;
    assert_eq!(
        &data[ebr2 + 510..ebr2 + 512],
        &[0x55, 0xAA],
        "sfdisk laid the chain out elsewhere"
    );
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    let link = ebr2 + 446 + 16;
    f.write_all_at(&[0, 0, 0, 0, 0x05, 0, 0, 0], link as u64)
        .unwrap();
    f.write_all_at(&10240u32.to_le_bytes(), link as u64 + 8)
        .unwrap();
    f.write_all_at(&1u32.to_le_bytes(), link as u64 + 12)
        .unwrap();
    let (code, recs, took) = inspect(&env, &img, None);
    assert_eq!(code, 2, "a damaged table is a gap: {recs:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let problems = of(&recs, "problem");
    assert!(
        problems
            .iter()
            .any(|p| p["detail"].as_str().unwrap().contains("loops")),
        "{problems:?}"
    );
    // Everything before the loop is still read.
    assert_eq!(of(&recs, "volume").len(), 4);
    assert_eq!(files_of(&recs, 5), expected_iso_files());
}

#[test]
fn text_listing_names_volumes_and_files() {
    let env = TestEnv::new();
    let img = gpt_image(env.base());
    let out = env.run([Path::new("inspect"), &img]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("partition table gpt"), "{text}");
    assert!(text.contains("volume p2: iso9660"), "{text}");
    assert!(text.contains("p2:sub/big.bin  1300000  "), "{text}");
    assert!(text.contains("device:$mbr  1048576  "), "{text}");
}
