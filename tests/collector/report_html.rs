//! The HTML report opens in headless Chromium without console errors, and
//! its screenshot is not blank (tables plus coloured chart bars). The
//! Japanese report made by the binary renders its Japanese as glyphs, not
//! tofu boxes: compared with a render where fontconfig offers only a Latin
//! font, the title differs and is made of distinct shapes (the screenshots
//! are kept under target/report-screenshots/). Chromium and a CJK font
//! (fonts-ipafont-gothic) are installed from Debian when missing.

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Tokyo;
use flate2::read::ZlibDecoder;
use kensa::findings::taxonomy::{Cause, Classification, EVENTS};
use kensa::report::{self, Format, Lang, ReportIncident};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Chromium flags for a headless, offline, throw-away render.
const HEADLESS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

fn incidents() -> Vec<ReportIncident> {
    let mut v = Vec::new();
    for (i, e) in EVENTS.iter().enumerate() {
        for k in 0..(i + 1) {
            for (y, m) in [(2016, 6), (2019, 5), (2019, 8), (2019, 11)] {
                v.push(ReportIncident {
                    time: Tokyo
                        .with_ymd_and_hms(y, m, 1 + k as u32, 10, 0, 0)
                        .unwrap()
                        .with_timezone(&Utc),
                    classification: Classification {
                        event: e.code,
                        causes: vec![Cause::Unknown, Cause::SuspiciousFile],
                    },
                    false_positive: false,
                    triaged: k % 2 == 0,
                });
            }
        }
    }
    v
}

fn find_chromium() -> Option<PathBuf> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(c);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn ensure_chromium() -> PathBuf {
    if let Some(p) = find_chromium() {
        return p;
    }
    let ok = Command::new("sh")
        .args([
            "-c",
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "chromium is missing and `apt-get install -y chromium` failed"
    );
    find_chromium().expect("chromium on PATH after installing it")
}

/// Runs a command with a deadline; returns (success, stderr).
fn run_with_timeout(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let err = std::fs::File::create(&err_path).unwrap();
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start chromium");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    (status.is_some_and(|s| s.success()), stderr)
}

/// A decoded 8-bit RGB(A) PNG: width, height, channels, pixels.
struct Image {
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<u8>,
}

/// Minimal PNG decoder for Chromium's screenshots: 8-bit truecolour with or
/// without alpha, non-interlaced.
fn decode_png(bytes: &[u8]) -> Image {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let mut pos = 8;
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let body = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                assert_eq!(body[8], 8, "bit depth");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t} not supported by this test"),
                };
                assert_eq!(body[12], 0, "interlaced PNG not supported by this test");
            }
            b"IDAT" => idat.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).unwrap();
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1), "decompressed size");
    let mut data = vec![0u8; height * stride];
    for y in 0..height {
        let filter = raw[y * (stride + 1)];
        let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= channels {
                data[y * stride + x - channels] as i32
            } else {
                0
            };
            let b = if y > 0 {
                data[(y - 1) * stride + x] as i32
            } else {
                0
            };
            let c = if y > 0 && x >= channels {
                data[(y - 1) * stride + x - channels] as i32
            } else {
                0
            };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("bad PNG filter {f}"),
            };
            data[y * stride + x] = (line[x] as i32 + pred) as u8;
        }
    }
    Image {
        width,
        height,
        channels,
        data,
    }
}

#[test]
fn html_report_renders_in_chromium() {
    let chromium = ensure_chromium();
    let r = report::build(
        &incidents(),
        2019,
        NaiveDate::from_ymd_opt(2020, 1, 15).unwrap(),
        Tokyo,
    );
    let html = report::render(&r, Lang::Ja, Format::Html);
    // Self-contained: no external references of any kind.
    for bad in [
        "http://", "https://", "<script", "src=", "<link", "@import", "url(",
    ] {
        let allowed = bad == "http://"
            && html.matches(bad).count() == html.matches("http://www.w3.org/2000/svg").count();
        assert!(
            allowed || !html.contains(bad),
            "HTML must not contain {bad:?}"
        );
    }
    assert!(html.contains("<svg") && html.contains("<table"));

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let png = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    let (ok, stderr) = run_with_timeout(
        Command::new(&chromium).args(HEADLESS).args([
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,1600",
            &format!("file://{}", page.display()),
        ]),
        Duration::from_secs(120),
    );
    assert!(ok, "chromium failed:\n{stderr}");
    for bad in [
        "Uncaught",
        "ERROR:CONSOLE",
        "CONSOLE(",
        "Failed to load resource",
    ] {
        assert!(
            !stderr.contains(bad),
            "chromium reported {bad:?}:\n{stderr}"
        );
    }
    let img = decode_png(&std::fs::read(&png).expect("screenshot written"));
    assert_eq!((img.width, img.height), (1200, 1600));
    let pixels = img.data.chunks(img.channels);
    let mut non_white = 0usize;
    let mut coloured = 0usize;
    for p in pixels {
        let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
        if r < 240 || g < 240 || b < 240 {
            non_white += 1;
        }
        if (r - g).abs() > 60 || (g - b).abs() > 60 || (r - b).abs() > 60 {
            coloured += 1;
        }
    }
    let total = img.width * img.height;
    eprintln!("screenshot: {non_white} of {total} pixels not white, {coloured} coloured");
    assert!(
        non_white * 100 > total,
        "screenshot is nearly blank: {non_white} of {total} pixels"
    );
    assert!(
        coloured > 10_000,
        "no chart bars visible: {coloured} coloured pixels"
    );
}

#[test]
fn html_escapes_and_marks_open_quarters() {
    let r = report::build(
        &incidents(),
        2019,
        NaiveDate::from_ymd_opt(2019, 7, 19).unwrap(),
        Tokyo,
    );
    let html = report::render(&r, Lang::En, Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"en\">"));
    // 1Q has a bar, 2Q a pale one marked *, 3Q-4Q are marked — in the chart.
    assert_eq!(html.matches(">—</text>").count(), 2);
    assert!(
        html.contains("<title>1Q Intrusion into systems: 7</title>"),
        "{html}"
    );
    assert!(
        html.contains("fill-opacity=\"0.45\"><title>2Q Intrusion into systems: 0*</title>")
            || !html.contains("<title>2Q Intrusion"),
        "{html}"
    );
}

/// Installs a Debian package when `probe` says it is missing (as root),
/// then checks again; fails saying why otherwise.
fn ensure_package(package: &str, probe: impl Fn() -> bool) {
    if probe() {
        return;
    }
    let ok = Command::new("sh")
        .args([
            "-c",
            &format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {package}"),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok && probe(),
        "{package} is missing and `apt-get install -y {package}` failed (run tests/run-all.sh as root)"
    );
}

/// True when fontconfig offers a font for Japanese.
fn has_japanese_font() -> bool {
    Command::new("fc-list")
        .args([":lang=ja", "family"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// A fontconfig file whose only font is the Latin `DejaVu Sans`: what a
/// machine without a Japanese font renders.
fn latin_only_fontconfig(dir: &Path) -> PathBuf {
    let out = Command::new("fc-match")
        .args(["-f", "%{file}", "DejaVu Sans"])
        .output()
        .expect("fc-match (fontconfig) runs");
    let file = PathBuf::from(String::from_utf8(out.stdout).unwrap());
    assert!(
        file.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("DejaVuSans")),
        "fc-match found no DejaVu Sans ({}); install fonts-dejavu-core",
        file.display()
    );
    let fonts = dir.join("latin-fonts");
    std::fs::create_dir_all(&fonts).unwrap();
    std::fs::copy(&file, fonts.join(file.file_name().unwrap())).unwrap();
    let conf = dir.join("latin-only.conf");
    std::fs::write(
        &conf,
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig>\n<dir>{}</dir>\n<cachedir>{}</cachedir>\n</fontconfig>\n",
            fonts.display(),
            dir.join("fc-cache").display()
        ),
    )
    .unwrap();
    conf
}

/// Screenshots `page` at 1200×2600 (the whole report, appendix included); `fontconfig` replaces the system's font
/// configuration.
fn screenshot(chromium: &Path, page: &Path, png: &Path, fontconfig: Option<&Path>) -> Image {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium);
    cmd.args(HEADLESS).args([
        "--hide-scrollbars",
        &format!("--user-data-dir={}", profile.path().display()),
        &format!("--screenshot={}", png.display()),
        "--window-size=1200,2600",
        &format!("file://{}", page.display()),
    ]);
    if let Some(conf) = fontconfig {
        cmd.env("FONTCONFIG_FILE", conf);
    }
    let (ok, stderr) = run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(ok, "chromium failed:\n{stderr}");
    decode_png(&std::fs::read(png).expect("screenshot written"))
}

/// Rows `top..bottom` of each band of consecutive rows holding dark pixels.
fn text_bands(img: &Image, dark: impl Fn(&[u8]) -> bool) -> Vec<(usize, usize)> {
    let row_has_ink = |y: usize| {
        (0..img.width).any(|x| dark(&img.data[(y * img.width + x) * img.channels..][..3]))
    };
    let mut bands = Vec::new();
    let mut start = None;
    for y in 0..img.height {
        match (row_has_ink(y), start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                bands.push((s, y));
                start = None;
            }
            _ => {}
        }
    }
    bands
}

/// The title (the tallest band of text in the top 400 rows) cut into
/// shapes at ink-free columns: each shape's (width, ink pixel count).
fn title_shapes(img: &Image) -> (usize, Vec<(usize, usize)>) {
    let dark = |p: &[u8]| p[0] < 128 && p[1] < 128 && p[2] < 128;
    let (top, bottom) = text_bands(img, dark)
        .into_iter()
        .filter(|(t, _)| *t < 400)
        .max_by_key(|(t, b)| b - t)
        .expect("some text at the top of the page");
    let ink = |x: usize| {
        (top..bottom)
            .filter(|y| dark(&img.data[(y * img.width + x) * img.channels..][..3]))
            .count()
    };
    let mut shapes = Vec::new();
    let mut cur: Option<(usize, usize)> = None;
    for x in 0..img.width {
        let n = ink(x);
        cur = match (n, cur) {
            (0, Some(s)) => {
                shapes.push(s);
                None
            }
            (0, None) => None,
            (n, Some((w, k))) => Some((w + 1, k + n)),
            (n, None) => Some((1, n)),
        };
    }
    (top, shapes)
}

#[test]
fn japanese_html_renders_as_glyphs_not_tofu() {
    let chromium = ensure_chromium();
    ensure_package("fonts-ipafont-gothic", has_japanese_font);
    let env = crate::env();
    {
        let store = env.store();
        let mut j = crate::support::report_common::Journal::new(&store, "agent-a");
        let c = crate::support::report_common::class(
            kensa::findings::taxonomy::Event::Precursor,
            &[Cause::SuspiciousFile],
        );
        for t in [
            "2019-04-10T01:00:00Z",
            "2019-05-10T01:00:00Z",
            "2019-07-02T01:00:00Z",
        ] {
            j.incident(t, kensa::findings::Location::Removable, Some(&c), 1);
        }
    }
    let mut cfg = std::fs::read_to_string(&env.config).unwrap();
    cfg.push_str("[report]\norganisation = \"東京第一浄水場 制御課\"\n");
    std::fs::write(&env.config, cfg).unwrap();
    let page = env.base().join("report-ja.html");
    let o = crate::support::report_common::html_report(&env, "2019", "2019-07-19", &page);
    assert_eq!(o.status.code(), Some(0), "{}", super::forge::text(&o));

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target directory")
        .join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let with_font = shots.join("report-ja.png");
    let without = shots.join("report-ja-latin-font-only.png");
    let good = screenshot(&chromium, &page, &with_font, None);
    let tofu = screenshot(
        &chromium,
        &page,
        &without,
        Some(&latin_only_fontconfig(env.base())),
    );
    println!(
        "screenshot of the Japanese HTML report: {}",
        with_font.display()
    );
    println!(
        "the same page with only a Latin font (tofu): {}",
        without.display()
    );

    let (good_top, glyphs) = title_shapes(&good);
    let (tofu_top, boxes) = title_shapes(&tofu);
    let distinct = |v: &[(usize, usize)]| v.iter().collect::<std::collections::BTreeSet<_>>().len();
    let most_common = |v: &[(usize, usize)]| {
        v.iter()
            .map(|s| v.iter().filter(|t| *t == s).count())
            .max()
            .unwrap_or(0)
    };
    eprintln!(
        "title with the CJK font: top {good_top}, {} shapes, {} distinct, most common x{}",
        glyphs.len(),
        distinct(&glyphs),
        most_common(&glyphs)
    );
    eprintln!(
        "title with a Latin font only: top {tofu_top}, {} shapes, {} distinct, most common x{}",
        boxes.len(),
        distinct(&boxes),
        most_common(&boxes)
    );
    // The comparison can tell tofu: without the font the title's 24
    // Japanese characters are one repeated box.
    assert!(
        most_common(&boxes) >= 15,
        "the Latin-only render shows no repeated tofu box: {boxes:?}"
    );
    // With the font, the title is glyphs: no shape repeats like a box.
    assert!(
        most_common(&glyphs) <= 4 && distinct(&glyphs) >= 20,
        "the title looks like tofu boxes: {glyphs:?} (see {})",
        with_font.display()
    );
    // And the two renders differ in the title's band.
    let band = good_top.min(tofu_top)..good_top.max(tofu_top) + 40;
    let differing = band
        .flat_map(|y| (0..good.width).map(move |x| (x, y)))
        .filter(|(x, y)| {
            let i = (y * good.width + x) * good.channels;
            let j = (y * tofu.width + x) * tofu.channels;
            good.data[i..i + 3] != tofu.data[j..j + 3]
        })
        .count();
    assert!(
        differing > 2000,
        "renders differ in {differing} pixels of the title band"
    );
}
