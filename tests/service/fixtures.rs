//! What the service tests bring into the container: the package as
//! `cargo deb` builds it from the release binary, a "previous" package
//! (the same build repacked with a lower version and a conffile whose
//! wording differs, as a real earlier release's would, so dpkg's conffile
//! question comes up on the upgrade), ext4 images for loop devices, a
//! large zip whose content exceeds the unit's `MemoryMax`,
//! and signed rule packs of one publisher.

use crate::support::{self, run_ok, run_tool};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The new package and the previous one.
pub struct Debs {
    pub new: PathBuf,
    pub new_version: String,
    pub prev: PathBuf,
    pub prev_version: String,
}

fn have_cargo_deb() -> bool {
    Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn deb_field(deb: &Path, field: &str) -> String {
    let out = run_ok(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field));
    out.trim().to_string()
}

/// Builds both packages into `dir`. The release binary under test is the
/// one packaged (`--no-build`); `--fast` compression keeps this to seconds.
pub fn debs(dir: &Path) -> Debs {
    if !have_cargo_deb() {
        run_ok(Command::new("cargo").args(["install", "cargo-deb", "--locked"]));
    }
    assert!(Path::new(support::kensa_bin()).exists());
    let out_dir = dir.join("new");
    std::fs::create_dir_all(&out_dir).unwrap();
    let t = Instant::now();
    run_ok(
        Command::new("cargo")
            .current_dir(support::repo())
            .args(["deb", "--no-build", "--no-strip", "--fast", "--output"])
            .arg(&out_dir),
    );
    let new = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("cargo deb wrote a .deb");
    let new_version = deb_field(&new, "Version");
    let (prev, prev_version) = previous(dir, &new, &new_version);
    eprintln!(
        "packages: {new_version} and previous {prev_version} built in {:?}",
        t.elapsed()
    );
    Debs {
        new,
        new_version,
        prev,
        prev_version,
    }
}

/// The new package repacked as version `<upstream>~prev-<revision>`
/// (lower, as `~` sorts first) with a first line of kensa.toml that differs.
fn previous(dir: &Path, new: &Path, version: &str) -> (PathBuf, String) {
    let tree = dir.join("prev-tree");
    run_ok(Command::new("dpkg-deb").arg("-R").arg(new).arg(&tree));
    let prev_version = match version.split_once('-') {
        Some((upstream, rev)) => format!("{upstream}~prev-{rev}"),
        None => format!("{version}~prev"),
    };
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let text = text.replace(
        &format!("Version: {version}\n"),
        &format!("Version: {prev_version}\n"),
    );
    assert!(text.contains(&prev_version), "{text}");
    std::fs::write(&control, text).unwrap();
    let conf = tree.join("etc/kensa/kensa.toml");
    let old = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("# (the previous release's wording)\n{old}")).unwrap();
    let md5sums = tree.join("DEBIAN/md5sums");
    if md5sums.exists() {
        rehash(&md5sums, &tree, "etc/kensa/kensa.toml");
    }
    let prev = dir.join("prev.deb");
    run_ok(
        Command::new("dpkg-deb")
            .args(["-Zgzip", "-z1", "--build"])
            .arg(&tree)
            .arg(&prev),
    );
    run_ok(Command::new("dpkg").args(["--compare-versions", &prev_version, "lt", version]));
    (prev, prev_version)
}

/// Replaces the md5sums line of `rel` with the file's new digest.
fn rehash(md5sums: &Path, tree: &Path, rel: &str) {
    use md5::Digest;
    let sum = hex::encode(md5::Md5::digest(std::fs::read(tree.join(rel)).unwrap()));
    let text = std::fs::read_to_string(md5sums).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, path)) if path == rel => format!("{sum}  {path}"),
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(md5sums, lines.join("\n") + "\n").unwrap();
}

/// An ext4 image of `size_mib` MiB with label `label`, filled from
/// `content` (mkfs.ext4 -d).
pub fn ext4_image(img: &Path, label: &str, size_mib: u64, content: &Path) {
    let f = std::fs::File::create(img).unwrap();
    f.set_len(size_mib << 20).unwrap();
    drop(f);
    run_tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-L", label, "-d"])
            .arg(content)
            .arg(img),
        "e2fsprogs",
    );
}

/// Plant-log-like text: a clock ticking 100 ms a line and a few fields
/// from a fixed pseudo-random sequence. It compresses about 9:1 (far from a
/// ratio bomb), so 540 MiB of it fit in an archive under the default
/// `max_file_size` of 100 MiB.
fn log_text(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 128);
    let mut tick: u64 = 0;
    while out.len() < len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let _ = writeln!(
            out,
            "2026-11-26T06:{:02}:{:02}.{:03}Z plc-{:02} reg 4{:04} value {:05} {}",
            (tick / 600) % 60,
            (tick / 10) % 60,
            (tick % 10) * 100,
            (r >> 34) % 4,
            (r >> 40) % 4,
            (r >> 48) % 16,
            if r.is_multiple_of(17) { "ALARM" } else { "ok" }
        );
        tick += 1;
    }
    out.truncate(len);
    out
}

/// A zip of `members` text members of `member_mib` MiB each (deflated,
/// each under the default `max_member_size`) and then an EICAR member: its
/// content is larger than the unit's MemoryMax, and the finding at its end
/// shows the scan read all of it. Returns the bytes of content.
pub fn big_archive(path: &Path, members: u64, member_mib: u64) -> u64 {
    let t = Instant::now();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(false);
    let mut total = 0;
    for i in 0..members {
        let data = log_text((member_mib << 20) as usize, 0x6b65_6e73_6100 + i);
        zip.start_file(format!("logs/plant-{i}.log"), deflated)
            .unwrap();
        zip.write_all(&data).unwrap();
        total += data.len() as u64;
    }
    zip.start_file("tools/eicar.com", deflated).unwrap();
    zip.write_all(&support::eicar()).unwrap();
    total += support::eicar().len() as u64;
    zip.finish().unwrap();
    let size = std::fs::metadata(path).unwrap().len();
    eprintln!(
        "large archive: {} MiB of content in {} MiB, written in {:?}",
        total >> 20,
        size >> 20,
        t.elapsed()
    );
    total
}

/// Signed rule packs of one publisher.
pub struct Packs {
    pub publisher_pub: PathBuf,
    pub publisher: String,
    /// (version, pack file)
    pub packs: Vec<(u64, PathBuf)>,
}

/// Packs of the given versions, each with one rule matching its marker
/// text `MARKER-PACK-<version>`.
pub fn rule_packs(dir: &Path, versions: &[u64]) -> Packs {
    let publisher = kensa::keys::SecretKey::generate().unwrap();
    let publisher_pub = dir.join("publisher.pub");
    publisher.public().save(&publisher_pub).unwrap();
    let mut packs = Vec::new();
    for &v in versions {
        let src = dir.join(format!("pack-src-{v}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("pack.yar"),
            format!("rule Pack_Rule_{v} {{ strings: $m = \"MARKER-PACK-{v}\" condition: $m }}\n"),
        )
        .unwrap();
        let (bytes, _, _) = kensa::rules::pack::build(&src, v, &publisher).unwrap();
        let file = dir.join(format!("v{v}.pack"));
        std::fs::write(&file, bytes).unwrap();
        packs.push((v, file));
    }
    Packs {
        publisher_pub,
        publisher: publisher.key_id_hex(),
        packs,
    }
}
