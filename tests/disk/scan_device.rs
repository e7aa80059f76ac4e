//! `kensa scan` of a block device or a disk image, through the binary:
//! files on a volume are found by chain (`/dev/loopN → dir/f`), the
//! session names the volumes, an unknown volume is an `unsupported_fs`
//! gap whose raw bytes are still scanned, images met in a walk or inside
//! a zip are opened (not with `--no-archives`), and a hidden file carries
//! `attributes` in its record and in the `attributes` YARA external.
//! Images are built with `mkfs.vfat` + `mcopy`/`mattrib` and `mkfs.ext4`
//! (no mount); loop devices are detached by their guard.
//!
//! The tests that read files inside a FAT volume need the FAT reader
//! (`kensa_diskfs::fat`); without it they fail, saying the volume was an
//! `unsupported_fs` blob.

use crate::support::diskfs::{tool, Loop};
use crate::support::{eicar, of_type, parse_lines, run_measured, TestEnv};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A rule that matches the EICAR string anywhere (the bundled rule wants
/// it as a whole file of at most 128 bytes; a blob holds it inside).
const RULES: &str = r#"
rule EicarAnywhere { strings: $e = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $e }
rule HiddenByAttribute { condition: attributes contains "hidden" and filesize < 100 }
"#;

fn rules(env: &TestEnv) -> PathBuf {
    let p = env.base().join("any.yar");
    std::fs::write(&p, RULES).unwrap();
    p
}

/// A 64 MiB FAT32 image (512-byte clusters: enough of them for FAT32) holding `files` (path inside, content), built
/// without mounting; `hidden` paths get the hidden attribute.
fn fat_image(dir: &Path, files: &[(&str, &[u8])], hidden: &[&str]) -> PathBuf {
    let img = dir.join("fat.img");
    let _ = std::fs::remove_file(&img);
    tool(
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-s", "1", "-n", "KENSATEST", "-C"])
            .arg(&img)
            .arg("65536"),
    );
    let stage = dir.join("stage");
    for (path, data) in files {
        let p = stage.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    let mut entries: Vec<_> = std::fs::read_dir(&stage)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut cmd = Command::new("mcopy");
    cmd.args(["-s", "-i"]).arg(&img).args(&entries).arg("::/");
    tool(&mut cmd);
    for h in hidden {
        tool(
            Command::new("mattrib")
                .arg("-i")
                .arg(&img)
                .arg("+h")
                .arg(format!("::/{h}")),
        );
    }
    std::fs::remove_dir_all(&stage).unwrap();
    img
}

/// `kensa scan --format json --rules any.yar EXTRA... TARGET`.
fn scan(env: &TestEnv, target: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut cmd = env.command();
    cmd.args(["scan", "--format", "json", "--rules"])
        .arg(rules(env))
        .args(extra)
        .arg(target);
    let out = cmd.output().expect("run kensa");
    (out.status.code().unwrap_or(-1), parse_lines(&out))
}

fn paths_of(recs: &[Value], kind: &str) -> Vec<String> {
    of_type(recs, kind)
        .iter()
        .map(|r| r["path"].as_str().unwrap_or("").to_string())
        .collect()
}

fn needs_reader(recs: &[Value]) -> String {
    let unsupported: Vec<_> = of_type(recs, "skip")
        .into_iter()
        .filter(|s| s["reason"] == "unsupported_fs")
        .collect();
    format!("(needs the FAT reader; unsupported_fs skips: {unsupported:?})\nrecords: {recs:#?}")
}

#[test]
fn eicar_on_a_fat_volume_found_in_the_image_and_through_a_loop_device() {
    let env = TestEnv::new();
    let img = fat_image(
        env.base(),
        &[("dir/payload.com", &eicar()), ("clean.txt", b"hello")],
        &[],
    );
    let (code, recs) = scan(&env, &img, &[]);
    let shown = img.display().to_string();
    let want = format!("{shown} → dir/payload.com");
    assert!(
        paths_of(&recs, "finding").contains(&want),
        "{}",
        needs_reader(&recs)
    );
    assert_eq!(code, 1);
    let session = of_type(&recs, "session")[0];
    assert_eq!(session["volumes"][0]["fs"], "fat32", "{session}");
    assert_eq!(session["volumes"][0]["label"], "KENSATEST", "{session}");

    let lo = Loop::attach(&img);
    let (code, recs) = scan(&env, &lo.dev, &[]);
    let want = format!("{} → dir/payload.com", lo.dev.display());
    let f = of_type(&recs, "finding");
    let hit = f
        .iter()
        .find(|f| f["path"] == want.as_str())
        .unwrap_or_else(|| panic!("{}", needs_reader(&recs)));
    assert_eq!(
        hit["chain"],
        serde_json::json!([lo.dev.display().to_string(), "dir/payload.com"])
    );
    assert_eq!(code, 1);
    assert!(of_type(&recs, "session")[0]["volumes"].is_array());
}

#[test]
fn an_unknown_volume_is_a_gap_and_its_blob_is_still_scanned() {
    let env = TestEnv::new();
    let img = env.base().join("random.bin");
    let mut bytes = vec![0u8; 4 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    bytes[0..4].copy_from_slice(b"RND!");
    std::fs::write(&img, &bytes).unwrap();
    let lo = Loop::attach(&img);
    // Bundled rules only: nothing found, the volume is a gap: exit 2.
    let out = env.run(
        ["scan", "--format", "json"]
            .iter()
            .map(Path::new)
            .chain([lo.dev.as_path()]),
    );
    let recs = parse_lines(&out);
    assert_eq!(out.status.code(), Some(2), "{recs:#?}");
    let gap = of_type(&recs, "skip")
        .into_iter()
        .find(|s| s["reason"] == "unsupported_fs");
    assert!(
        gap.is_some_and(|g| g["gap"] == true && g["path"] == lo.dev.display().to_string()),
        "{recs:#?}"
    );
    let text = env.run(["scan".as_ref(), lo.dev.as_os_str()]);
    let last = String::from_utf8_lossy(&text.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    assert!(last.starts_with("INCOMPLETE"), "{last}");
    // EICAR inside the blob is found all the same.
    bytes[1 << 20..(1 << 20) + 68].copy_from_slice(&eicar());
    std::fs::write(&img, &bytes).unwrap();
    let lo2 = Loop::attach(&img);
    let (code, recs) = scan(&env, &lo2.dev, &[]);
    assert_eq!(code, 1, "{recs:#?}");
    assert_eq!(
        paths_of(&recs, "finding"),
        vec![lo2.dev.display().to_string()]
    );
    assert_eq!(of_type(&recs, "session")[0]["volumes"][0]["size"], 4 << 20);
    assert!(paths_of(&recs, "skip").contains(&lo2.dev.display().to_string()));
}

#[test]
fn eicar_in_the_boot_sector_of_a_bare_volume() {
    let env = TestEnv::new();
    let img = fat_image(env.base(), &[("a.txt", b"a")], &[]);
    // Inside the FAT32 boot code area (bytes 90..420 of sector 0).
    let mut f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&eicar(), 200).unwrap();
    f.flush().unwrap();
    let (code, recs) = scan(&env, &img, &[]);
    let want = format!("{} → $boot", img.display());
    assert!(
        paths_of(&recs, "finding").contains(&want),
        "{}",
        needs_reader(&recs)
    );
    assert_eq!(code, 1);
}

#[test]
fn images_met_in_a_walk_and_inside_a_zip_are_opened() {
    let env = TestEnv::new();
    let img = fat_image(env.base(), &[("dir/f.com", &eicar())], &[]);
    let data = std::fs::read(&img).unwrap();
    env.file("stick/disk.img", &data);
    let zip_path = env.root.join("stick/x.zip");
    let mut z = zip_writer(&zip_path);
    z.start_file(
        "disk.img", // Stored: a mostly empty image deflates past the ratio limit
        // (a bomb by the archive rules), which is not what this tests.
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    z.write_all(&data).unwrap();
    z.finish().unwrap();
    let (code, recs) = scan(&env, &env.root, &[]);
    let stick = env.root.join("stick").display().to_string();
    let found = paths_of(&recs, "finding");
    for want in [
        format!("{stick}/disk.img → dir/f.com"),
        format!("{stick}/x.zip → disk.img → dir/f.com"),
    ] {
        assert!(
            found.contains(&want),
            "{want} not in {found:?}\n{}",
            needs_reader(&recs)
        );
    }
    let f = of_type(&recs, "finding").into_iter().find(|f| {
        f["path"]
            .as_str()
            .unwrap()
            .ends_with("x.zip → disk.img → dir/f.com")
    });
    assert_eq!(
        f.unwrap()["chain"],
        serde_json::json!([format!("{stick}/x.zip"), "disk.img", "dir/f.com"])
    );
    assert_eq!(code, 1);
}

fn zip_writer(p: &Path) -> zip::ZipWriter<std::fs::File> {
    zip::ZipWriter::new(std::fs::File::create(p).unwrap())
}

#[test]
fn no_archives_does_not_open_an_image_met_in_a_walk() {
    let env = TestEnv::new();
    // An ext4 image holding EICAR, met during a walk: opened as a
    // container (by its magic) when archives are on, never with
    // --no-archives (then only its raw bytes are scanned, as a file).
    let src = env.base().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("payload.com"), eicar()).unwrap();
    let img = env.root.join("vol.img");
    tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(&src)
            .arg(&img)
            .arg("4M"),
    );
    let inside = format!("{} → payload.com", img.display());
    let chained = |recs: &[Value]| {
        recs.iter()
            .filter(|r| r["type"] != "session" && r["type"] != "summary")
            .filter(|r| r["chain"].as_array().is_some_and(|c| !c.is_empty()))
            .count()
    };
    let (code, on) = scan(&env, &env.root, &[]);
    assert!(
        paths_of(&on, "finding").contains(&inside),
        "the image was not opened: {on:#?}"
    );
    assert_eq!(code, 1, "{on:#?}");
    let (_, off) = scan(&env, &env.root, &["--no-archives"]);
    assert_eq!(chained(&off), 0, "{off:#?}");
    assert!(!paths_of(&off, "finding").contains(&inside), "{off:#?}");
}

#[test]
fn a_hidden_file_carries_its_attribute_in_the_record_and_to_rules() {
    let env = TestEnv::new();
    let img = fat_image(
        env.base(),
        &[("secret.txt", b"tiny"), ("plain.txt", b"tiny too")],
        &["secret.txt"],
    );
    let (code, recs) = scan(&env, &img, &[]);
    let f = of_type(&recs, "finding");
    let hit = f.iter().find(|f| {
        f["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("→ secret.txt"))
    });
    let hit = hit.unwrap_or_else(|| panic!("{}", needs_reader(&recs)));
    assert_eq!(hit["attributes"], serde_json::json!(["hidden"]));
    assert_eq!(hit["matches"][0]["rule"], "HiddenByAttribute");
    assert!(
        !f.iter()
            .any(|f| f["path"].as_str().unwrap_or("").ends_with("plain.txt")),
        "{f:?}"
    );
    assert_eq!(code, 1);
    let mut cmd = env.command();
    cmd.arg("scan").arg("--rules").arg(rules(&env)).arg(&img);
    let text = String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
    assert!(
        text.lines().any(|l| l.contains("secret.txt  (hidden)")),
        "{text}"
    );
}

#[test]
fn a_sparse_gigabyte_image_costs_little_memory() {
    let env = TestEnv::new();
    let img = env.base().join("big.img");
    tool(
        Command::new("mkfs.vfat")
            .args(["-F", "32", "-C"])
            .arg(&img)
            .arg(format!("{}", 1 << 20)),
    );
    let small = env.base().join("small.com");
    std::fs::write(&small, eicar()).unwrap();
    tool(
        Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(&small)
            .arg("::/small.com"),
    );
    let mut cmd = env.command();
    cmd.args(["scan", "--format", "json", "--rules"])
        .arg(rules(&env))
        .arg(&img);
    let m = run_measured(
        "scan of a 1 GiB sparse FAT32 image",
        Duration::from_secs(300),
        &mut cmd,
    );
    let recs = parse_lines(&m.output);
    assert!(m.peak_kib < 300 * 1024, "peak RSS {} KiB", m.peak_kib);
    let want = format!("{} → small.com", img.display());
    assert!(
        paths_of(&recs, "finding").contains(&want),
        "{}",
        needs_reader(&recs)
    );
}

/// The issue's first proof: EICAR only in an NTFS alternate data stream
/// is found by the user-space scan; a walk of an ntfs-3g mount (streams
/// not shown, as a mount shows a stick) does not see it.
#[test]
fn eicar_only_in_an_ntfs_stream_is_found_in_user_space_not_through_a_mount() {
    let env = TestEnv::new();
    let img = super::ntfs::build(env.base());
    let (code, recs) = scan(&env, &img, &[]);
    let want = format!("{} → clean.txt:payload", img.display());
    assert!(paths_of(&recs, "finding").contains(&want), "{recs:#?}");
    assert_eq!(code, 1, "{recs:#?}");
    let mounted = super::ntfs::ntfs3g(&img, &env.base().join("mnt"), "ro");
    let (code, recs) = scan(&env, &mounted.dir, &[]);
    assert!(of_type(&recs, "finding").is_empty(), "{recs:#?}");
    assert_eq!(code, 0, "{recs:#?}");
}

/// EICAR on the second partition of a GPT disk, found by chain `p2`, both
/// in the image and through a loop device.
#[test]
fn eicar_in_the_second_partition_of_a_gpt_image_is_found() {
    let env = TestEnv::new();
    let fat = fat_image(env.base(), &[("tools/payload.com", &eicar())], &[]);
    let img = super::partition::table(
        env.base(),
        "gpt.img",
        80,
        "label: gpt\nstart=2048,size=4096,type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n\
         start=8192,size=131072,type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n",
    );
    super::partition::put(&img, 8192 * 512, &fat);
    let (code, recs) = scan(&env, &img, &[]);
    let want = format!("{} → p2 → tools/payload.com", img.display());
    assert!(paths_of(&recs, "finding").contains(&want), "{recs:#?}");
    assert_eq!(code, 1, "{recs:#?}");
    let session = &of_type(&recs, "session")[0];
    assert_eq!(session["volumes"][1]["index"], 2, "{session:#?}");
    assert_eq!(session["volumes"][1]["fs"], "fat32", "{session:#?}");
    let lo = Loop::attach(&img);
    let (code, recs) = scan(&env, &lo.dev, &[]);
    let want = format!("{} → p2 → tools/payload.com", lo.dev.display());
    assert!(paths_of(&recs, "finding").contains(&want), "{recs:#?}");
    assert_eq!(code, 1, "{recs:#?}");
}

/// What a mount never shows: EICAR in the gap between the MBR and the
/// first partition (where boot loaders and bootkits live) is found as
/// the `$mbr` pseudo-file.
#[test]
fn eicar_in_the_gap_before_the_first_partition_is_found_as_mbr() {
    let env = TestEnv::new();
    let fat = fat_image(env.base(), &[("a.txt", b"a")], &[]);
    let img = super::partition::table(env.base(), "mbr.img", 72, "start=2048,type=c\n");
    super::partition::put(&img, 2048 * 512, &fat);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&img)
        .unwrap()
        .write_all_at(&eicar(), 100 * 512)
        .unwrap();
    let (code, recs) = scan(&env, &img, &[]);
    let want = format!("{} → $mbr", img.display());
    assert!(paths_of(&recs, "finding").contains(&want), "{recs:#?}");
    assert_eq!(code, 1, "{recs:#?}");
}
