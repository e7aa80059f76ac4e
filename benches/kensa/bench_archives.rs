//! Benchmark (not a timed test): runs `kensa scan` as a child process on
//! each hostile archive with default limits and prints wall time, peak RSS
//! (`/usr/bin/time -f %M`, else `wait4` rusage) and the exit code, then compares a
//! tree of non-archive files scanned with and without archive support.
//!
//! The issue-14 samples (deep OLE2 nesting, a MIME bomb of nested base64
//! and one of 100,000 parts, a PDF with a 1 GiB Flate stream, a CAB with
//! lying sizes) come from [`crate::hostile`]; each must finish below 10 s
//! and 512 MiB like the rest.
//!
//! Run: `cargo bench --bench kensa -- archives`
//! (set `KENSA_BENCH_BIN` to measure a specific `kensa` binary).

use crate::hostile as h;
use crate::support::archive as a;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Figures {
    wall: Duration,
    max_rss_kib: i64,
    code: i32,
}

/// Runs `kensa scan` on `path` and measures that one child.
///
/// Peak RSS comes from `/usr/bin/time -f %M`, whose own small process is the
/// parent of kensa: Linux carries the high-water RSS of a process across
/// exec, so a child spawned straight from this test process (which holds the
/// generated archives) would report this process's peak, not kensa's.
/// Without `/usr/bin/time`, `wait4`'s rusage is used and may overstate.
// The child is reaped by `wait4` below, which clippy does not see.
#[allow(clippy::zombie_processes)]
fn measure(base: &Path, path: &Path, extra: &[&str]) -> Figures {
    let out = std::fs::File::create(base.join("out.jsonl")).unwrap();
    // The target dir may be shared with other branches: KENSA_BENCH_BIN
    // names a copied binary to be sure which build is measured.
    let bin: std::ffi::OsString =
        std::env::var_os("KENSA_BENCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_kensa").into());
    let time = Path::new("/usr/bin/time");
    let rss_file = base.join("rss.txt");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let t = Instant::now();
    let child = cmd
        .arg("--state-dir")
        .arg(base.join("state"))
        .arg("--config")
        .arg(base.join("kensa.toml"))
        .args(["scan", "--format", "json", "--no-progress"])
        .args(extra)
        .arg(path)
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kensa");
    let mut status = 0;
    // SAFETY: rusage is plain data, fully written by wait4 on success.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; pointers are valid for the call.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    let wall = t.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    let max_rss_kib = if time.exists() {
        let text = std::fs::read_to_string(&rss_file).unwrap();
        text.lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected /usr/bin/time output {text:?}"))
    } else {
        ru.ru_maxrss
    };
    Figures {
        wall,
        max_rss_kib,
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

pub fn bench_hostile_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    std::fs::create_dir_all(base.join("state")).unwrap();
    std::fs::write(base.join("kensa.toml"), "").unwrap();

    // The expected exit code: 1 where a bomb is a `suspicious` finding, 2
    // where a limit or damage is only a gap; `None` accepts 0, 1 or 2 (the
    // time and memory bounds hold for all).
    let mut cases: Vec<(&str, Vec<u8>, Option<i32>)> = vec![
        (
            "plain text file (baseline)",
            b"hello, world\n".to_vec(),
            Some(0),
        ),
        ("eicar zip in tar.gz", a::eicar_zip_in_tar_gz(), Some(1)),
        ("eicar docx", a::eicar_docx(), Some(1)),
        (
            "nested zip bomb 8^3 x 32 MiB",
            a::nested_bomb(3, 8, 32 << 20),
            Some(1),
        ),
        (
            "overlap bomb 4000 x 8 MiB",
            a::overlap_bomb(8 << 20, 4000),
            Some(1),
        ),
        (
            "1 GiB zeros, one member",
            a::high_ratio_zip(1 << 30),
            Some(1),
        ),
        ("zip depth 20", a::deep_zip(20), Some(1)),
        (
            "stored 95 MiB x 3 levels (memory)",
            {
                let mut x: u64 = 0x2545_f491_4f6c_dd1d;
                let noise = incompressible(&mut x, 95 << 20);
                let l1 = a::zip(&[a::RawEntry::stored("noise.bin", &noise)]);
                let l2 = a::zip(&[a::RawEntry::stored("l1.zip", &l1)]);
                a::zip(&[a::RawEntry::stored("l2.zip", &l2)])
            },
            Some(2),
        ),
        ("100,000 empty members", a::many_empty(100_000), Some(2)),
        ("lying sizes", a::lying_sizes(), Some(1)),
        ("truncated zip", a::truncated(), Some(1)),
        ("hostile names", a::hostile_names(), Some(1)),
        (
            "gzip 4 GiB zeros",
            {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let chunk = vec![0u8; 1 << 20];
                for _ in 0..4096 {
                    std::io::Write::write_all(&mut e, &chunk).unwrap();
                }
                e.finish().unwrap()
            },
            Some(1),
        ),
    ];
    cases.extend(h::issue14_cases());

    println!();
    println!(
        "| {:<34} | {:>10} | {:>8} | {:>13} | {:>4} |",
        "archive", "size", "time s", "peak RSS MiB", "exit"
    );
    println!(
        "|{:-<36}|{:->12}|{:->10}|{:->15}|{:->6}|",
        "", "", "", "", ""
    );
    let mut worst = (Duration::ZERO, 0i64);
    for (i, (name, data, expect)) in cases.iter().enumerate() {
        let path = base.join(format!("case{i}.bin"));
        std::fs::write(&path, data).unwrap();
        let f = measure(base, &path, &[]);
        println!(
            "| {:<34} | {:>10} | {:>8.2} | {:>13.1} | {:>4} |",
            name,
            data.len(),
            f.wall.as_secs_f64(),
            f.max_rss_kib as f64 / 1024.0,
            f.code
        );
        std::fs::remove_file(&path).unwrap();
        match expect {
            Some(code) => assert_eq!(f.code, *code, "{name}: exit code"),
            None => assert!((0..=2).contains(&f.code), "{name}: exit code {}", f.code),
        }
        worst = (worst.0.max(f.wall), worst.1.max(f.max_rss_kib));
    }
    println!(
        "worst: {:.2} s, {:.1} MiB",
        worst.0.as_secs_f64(),
        worst.1 as f64 / 1024.0
    );
    assert!(
        worst.0 < Duration::from_secs(10),
        "a case took {:?}",
        worst.0
    );
    assert!(worst.1 < 512 * 1024, "a case peaked at {} KiB", worst.1);

    // Non-archive files: archive support costs a magic-byte check per file.
    let tree = base.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2000 {
        let data = incompressible(&mut x, 16 * 1024);
        std::fs::write(tree.join(format!("f{i}.bin")), data).unwrap();
    }
    // Warm the page cache, then alternate runs.
    measure(base, &tree, &[]);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        on.push(measure(base, &tree, &[]).wall.as_secs_f64());
        off.push(measure(base, &tree, &["--no-archives"]).wall.as_secs_f64());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "2000 non-archive files x 16 KiB: archives on {:.3} s, --no-archives {:.3} s (median of 3)",
        med(&mut on),
        med(&mut off)
    );
}

/// `len` pseudo-random bytes from an xorshift state (incompressible data).
fn incompressible(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}
