//! End-to-end: cpio (newc, odc, crc, bin), ar (GNU long names, `.deb`
//! with xz and zstd members) and zip methods beyond deflate (issue 14).
//! Samples are made by the real tools (`cpio -o -H FMT`, `ar rc`,
//! `dpkg-deb --build -Zxz/-Zzstd`, `zstd`, Python's `zipfile` for bzip2 and
//! LZMA members); an imploded member is written by the encoder below (no
//! Debian tool implodes) and checked with Info-ZIP `unzip`, which can
//! explode, before kensa sees it. A truncated sample of every format must
//! end in a `corrupt` skip; a shrink member is `unsupported_container`.

use crate::support::run_tool as tool_ok;
use crate::support::{self, archive as a, TestEnv};
use crate::support::{chain, skips_of};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A work folder outside the scanned tree holding `dir/eicar.com`.
fn work(env: &TestEnv) -> PathBuf {
    let w = env.base().join("work");
    std::fs::create_dir_all(w.join("dir")).unwrap();
    std::fs::write(w.join("dir/eicar.com"), support::eicar()).unwrap();
    w
}

fn scan(env: &TestEnv, label: &str) -> (i32, Vec<Value>, Duration) {
    let s = env.scan_bounded(label, &[], 512);
    (s.code, s.recs, s.took)
}

fn assert_found(recs: &[Value], file: &Path, members: &[&str]) {
    let mut want = vec![file.display().to_string()];
    want.extend(members.iter().map(|m| m.to_string()));
    assert!(
        support::of_type(recs, "finding")
            .iter()
            .any(|f| chain(f) == want),
        "no finding with chain {want:?}: {recs:#?}"
    );
}

/// `cpio -o -H FORMAT` of `dir/eicar.com`.
fn cpio(w: &Path, format: &str) -> Vec<u8> {
    let mut child = Command::new("cpio")
        .args(["-o", "--quiet", "-H", format])
        .current_dir(w)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cpio: {e}: install the Debian package `cpio`"));
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"dir\ndir/eicar.com\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn cpio_in_all_four_formats_and_truncated() {
    let env = TestEnv::new();
    let w = work(&env);
    let mut files = Vec::new();
    for format in ["newc", "odc", "crc", "bin"] {
        let data = cpio(&w, format);
        files.push(env.file(format!("x-{format}.cpio"), &data));
    }
    let newc = cpio(&w, "newc");
    let eicar_at = newc.windows(8).position(|x| x == b"X5O!P%@A").unwrap();
    let cut = env.file("cut.cpio", &newc[..eicar_at + 30]);
    let (code, recs, took) = scan(&env, "cpio");
    for f in &files {
        assert_found(&recs, f, &["dir/eicar.com"]);
        assert!(skips_of(&recs, f).is_empty(), "{recs:#?}");
    }
    assert!(
        skips_of(&recs, &cut)
            .iter()
            .any(|s| s["reason"] == "corrupt"),
        "{recs:#?}"
    );
    assert!(took < Duration::from_secs(10));
    assert_eq!(code, 1);
}

#[test]
fn ar_with_a_gnu_long_name_and_truncated() {
    let env = TestEnv::new();
    let w = work(&env);
    let long = "a_member_name_longer_than_sixteen_bytes.com";
    std::fs::copy(w.join("dir/eicar.com"), w.join(long)).unwrap();
    std::fs::write(w.join("short.o"), b"not an object, just bytes").unwrap();
    tool_ok(
        Command::new("ar")
            .args(["rc", "lib.a", "short.o", long])
            .current_dir(&w),
        "binutils",
    );
    let lib = std::fs::read(w.join("lib.a")).unwrap();
    assert!(
        lib.windows(3).any(|x| x == b"\n//"),
        "no GNU long-name table"
    );
    let f = env.file("lib.a", &lib);
    let cut = env.file("cut.a", &lib[..lib.len() - 20]);
    let (code, recs, took) = scan(&env, "ar");
    assert_found(&recs, &f, &[long]);
    assert!(skips_of(&recs, &f).is_empty(), "{recs:#?}");
    assert!(
        skips_of(&recs, &cut)
            .iter()
            .any(|s| s["reason"] == "corrupt"),
        "{recs:#?}"
    );
    assert!(took < Duration::from_secs(10));
    assert_eq!(code, 1);
}

/// `dpkg-deb --build -Z<comp>` of a package holding /usr/share/eicar.com.
fn deb(w: &Path, comp: &str) -> Vec<u8> {
    let pkg = w.join(format!("pkg-{comp}"));
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/share")).unwrap();
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: kensa-test\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n",
    )
    .unwrap();
    std::fs::write(pkg.join("usr/share/eicar.com"), support::eicar()).unwrap();
    let out = w.join(format!("x-{comp}.deb"));
    tool_ok(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", &format!("-Z{comp}"), "--build"])
            .arg(&pkg)
            .arg(&out)
            .stdout(Stdio::null()),
        "dpkg",
    );
    std::fs::read(out).unwrap()
}

#[test]
fn deb_packages_with_xz_and_zstd_members() {
    let env = TestEnv::new();
    let w = work(&env);
    let xz = env.file("x-xz.deb", &deb(&w, "xz"));
    let zst = env.file("x-zstd.deb", &deb(&w, "zstd"));
    let (code, recs, _) = scan(&env, "deb");
    assert_found(&recs, &xz, &["data.tar.xz", "./usr/share/eicar.com"]);
    assert_found(&recs, &zst, &["data.tar.zst", "./usr/share/eicar.com"]);
    assert!(skips_of(&recs, &xz).is_empty(), "{recs:#?}");
    assert!(skips_of(&recs, &zst).is_empty(), "{recs:#?}");
    assert_eq!(code, 1);
}

#[test]
fn static_libraries_from_the_system_scan_clean() {
    let env = TestEnv::new();
    let mut n = 0;
    for dir in [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/gcc/x86_64-linux-gnu/12",
    ] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let small = e.metadata().map(|m| m.len() < 4 << 20).unwrap_or(false);
            if n < 8 && small && p.extension().is_some_and(|x| x == "a") {
                std::fs::copy(
                    &p,
                    env.root
                        .join(format!("{n}-{}", e.file_name().to_string_lossy())),
                )
                .unwrap();
                n += 1;
            }
        }
    }
    assert!(
        n > 0,
        "no static library (.a) found under /usr/lib: install binutils/libc6-dev"
    );
    let (code, recs, _) = scan(&env, "system .a");
    assert!(support::of_type(&recs, "skip").is_empty(), "{recs:#?}");
    assert!(support::of_type(&recs, "finding").is_empty(), "{recs:#?}");
    assert_eq!(code, 0);
}

/// A zip entry with `method` and an already-compressed payload.
fn entry(name: &str, method: u16, flags: u16, payload: Vec<u8>, data: &[u8]) -> a::RawEntry {
    a::RawEntry {
        name: name.as_bytes().to_vec(),
        method,
        flags,
        crc: a::crc32(data),
        compressed_size: payload.len() as u32,
        uncompressed_size: data.len() as u32,
        payload,
    }
}

/// Imploded `data` (method 6, 8 KiB window, three trees), literals only
/// except one match: the Shannon-Fano codes are assigned exactly as APPNOTE
/// 5.3.7 describes (sort by length, from the longest, step 1 << (16 - len)).
fn implode(data: &[u8]) -> Vec<u8> {
    fn codes(lengths: &[u32]) -> Vec<(u32, u32)> {
        let mut order: Vec<usize> = (0..lengths.len()).collect();
        order.sort_by_key(|&i| lengths[i]);
        let mut out = vec![(0, 0); lengths.len()];
        let (mut code, mut inc, mut last) = (0u32, 0u32, 0u32);
        for &i in order.iter().rev() {
            code += inc;
            if lengths[i] != last {
                last = lengths[i];
                inc = 1 << (16 - last);
            }
            out[i] = (code >> (16 - lengths[i]), lengths[i]);
        }
        out
    }
    struct W(Vec<u8>, u32, u32);
    impl W {
        fn put(&mut self, v: u32, bits: u32) {
            for i in 0..bits {
                self.1 |= ((v >> i) & 1) << self.2;
                self.2 += 1;
                if self.2 == 8 {
                    self.0.push(self.1 as u8);
                    (self.1, self.2) = (0, 0);
                }
            }
        }
        fn code(&mut self, (c, l): (u32, u32)) {
            for i in (0..l).rev() {
                self.put((c >> i) & 1, 1);
            }
        }
    }
    // Literal lengths: 64 codes of 7 bits, 64 of 8, 128 of 9 (a complete
    // code: 64/128 + 64/256 + 128/512 = 1); the length and distance trees:
    // 64 codes of 6 bits.
    let lit: Vec<u32> = (0..256)
        .map(|i| match i {
            0..64 => 7,
            64..128 => 8,
            _ => 9,
        })
        .collect();
    let six = vec![6u32; 64];
    let (lc, sc) = (codes(&lit), codes(&six));
    let mut w = W(Vec::new(), 0, 0);
    for lengths in [&lit, &six, &six] {
        // Runs of at most 16 equal lengths.
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for &l in lengths.iter() {
            match runs.last_mut() {
                Some((len, n)) if *len == l && *n < 16 => *n += 1,
                _ => runs.push((l, 1)),
            }
        }
        w.put(runs.len() as u32 - 1, 8);
        for (len, n) in runs {
            w.put(((n - 1) << 4) | (len - 1), 8);
        }
    }
    // Every byte a literal, then one match copying the first 3 bytes.
    for &b in data {
        w.put(1, 1);
        w.code(lc[usize::from(b)]);
    }
    // Distance data.len() (stored minus one), length code 0 (+3).
    let dist = data.len() - 1;
    w.put(0, 1);
    w.put((dist & 127) as u32, 7);
    w.code(sc[dist >> 7]);
    w.code(sc[0]);
    if w.2 > 0 {
        w.0.push(w.1 as u8);
    }
    w.0
}

#[test]
fn zip_members_with_zstd_bzip2_lzma_implode_and_shrink() {
    let env = TestEnv::new();
    let w = work(&env);
    let e = support::eicar();
    // zstd: the real `zstd` tool's frame in a hand-built zip (method 93).
    let z = tool_ok(
        Command::new("zstd")
            .args(["-q", "-c", "dir/eicar.com"])
            .current_dir(&w),
        "zstd",
    )
    .stdout;
    let zstd = env.file("zstd.zip", &a::zip(&[entry("eicar.com", 93, 0, z, &e)]));
    // bzip2 and LZMA: Python's zipfile.
    for (name, method) in [("bz2.zip", "ZIP_BZIP2"), ("lzma.zip", "ZIP_LZMA")] {
        let script = format!(
            "import zipfile,sys\nwith zipfile.ZipFile(sys.argv[1],'w',zipfile.{method}) as z: z.write('dir/eicar.com','eicar.com')"
        );
        tool_ok(
            Command::new("python3")
                .args(["-c", &script])
                .arg(env.root.join(name))
                .current_dir(&w),
            "python3",
        );
    }
    // Implode: EICAR plus its first 3 bytes again, checked with unzip.
    let mut imploded = e.clone();
    imploded.extend_from_slice(&e[..3]);
    let imp = env.file(
        "implode.zip",
        &a::zip(&[entry("eicar.com", 6, 0b110, implode(&e), &imploded)]),
    );
    let out = tool_ok(Command::new("unzip").arg("-p").arg(&imp), "unzip");
    assert_eq!(out.stdout, imploded, "unzip does not explode our sample");
    // Shrink: no decoder, a recorded gap.
    let shrink = env.file(
        "shrink.zip",
        &a::zip(&[entry("old.txt", 1, 0, vec![0x12; 40], b"x")]),
    );
    let (code, recs, _) = scan(&env, "zip methods");
    for f in [
        &zstd,
        &env.root.join("bz2.zip"),
        &env.root.join("lzma.zip"),
        &imp,
    ] {
        assert_found(&recs, f, &["eicar.com"]);
        assert!(skips_of(&recs, f).is_empty(), "{recs:#?}");
    }
    let s = skips_of(&recs, &shrink);
    assert!(
        s.iter().any(|s| s["reason"] == "unsupported_container"
            && s["detail"].as_str().unwrap_or("").contains("shrink")),
        "{recs:#?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn a_shrink_member_alone_exits_2() {
    let env = TestEnv::new();
    env.file(
        "shrink.zip",
        &a::zip(&[entry("old.txt", 1, 0, vec![0x12; 40], b"x")]),
    );
    let (code, recs, _) = scan(&env, "zip shrink");
    assert_eq!(code, 2, "{recs:#?}");
}

#[test]
fn zip_members_made_by_7zip_with_deflate64_xz_and_ppmd() {
    let env = TestEnv::new();
    let w = work(&env);
    // Deflate64 and xz are decoded; PPMd (method 98) has no decoder here.
    for (name, method) in [
        ("d64.zip", "Deflate64"),
        ("xz.zip", "XZ"),
        ("ppmd.zip", "PPMd"),
    ] {
        tool_ok(
            Command::new("7zz")
                .args(["a", "-tzip", &format!("-mm={method}")])
                .arg(env.root.join(name))
                .arg("eicar.com")
                .current_dir(w.join("dir")),
            "7zip",
        );
    }
    let (code, recs, _) = scan(&env, "7-zip zip methods");
    assert_eq!(code, 1, "{recs:#?}");
    for name in ["d64.zip", "xz.zip"] {
        let f = env.root.join(name);
        assert_found(&recs, &f, &["eicar.com"]);
        assert!(skips_of(&recs, &f).is_empty(), "{recs:#?}");
    }
    let s = skips_of(&recs, &env.root.join("ppmd.zip"));
    assert_eq!(s.len(), 1, "{recs:#?}");
    assert_eq!(s[0]["reason"], "unsupported_container", "{:?}", s[0]);
    assert_eq!(s[0]["gap"], true, "{:?}", s[0]);
}
