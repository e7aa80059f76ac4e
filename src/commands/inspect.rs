//! `kensa inspect DEVICE|IMAGE`: the operator's look at what is on a
//! stick without mounting it and without rules — the partition table, each
//! volume (index, file system, label, serial, offset, size, type) and every
//! file with its size, SHA-256 and hidden/system attributes, read through
//! the sandboxed parser (`disk::probe`, `disk::read`). Text, or one JSON
//! object per line (`--json`). Names reach text only through
//! `disk::path_text`; labels, serials and problem details (which come from
//! the parser, so from the medium) through `output::sanitize`.

use crate::cli::InspectArgs;
use crate::disk::{self, DiskProblem, DiskVisitor, Layout, VolumeInfo, Where};
use crate::engine::pathfmt;
use crate::output::sanitize;
use anyhow::Context as _;
use kensa_diskfs::{Attributes, Flow, ProblemKind};
use serde_json::json;
use sha2::Digest;
use std::io::{self, Read, Write};

pub fn run(ctx: &super::Context, args: &InspectArgs) -> anyhow::Result<u8> {
    let path = super::absolute(args.device.clone())?;
    let dev = std::fs::File::open(&path)
        .with_context(|| format!("cannot open {}", pathfmt::show(&path)))?;
    let opts = ctx.config.disk.options();
    let layout = disk::probe(&dev, &opts)
        .with_context(|| format!("cannot read {}", pathfmt::show(&path)))?;
    let mut out = Lister {
        json: args.json,
        out: io::stdout().lock(),
        problems: 0,
        failed: None,
    };
    out.layout(&path, &layout);
    disk::read(&dev, &layout, &opts, &mut out)
        .with_context(|| format!("cannot read {}", pathfmt::show(&path)))?;
    match out.failed {
        // A reader that stopped reading (`| head`) ends the listing.
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Some(e) => return Err(e).context("cannot write the listing"),
        None => {}
    }
    Ok(if out.problems > 0 { 2 } else { 0 })
}

struct Lister<W: Write> {
    json: bool,
    out: W,
    problems: u64,
    /// Writing the listing failed (a closed pipe): stop.
    failed: Option<io::Error>,
}

/// `p2`, or `disk` for a bare volume / the device itself.
fn volume_name(v: Option<&VolumeInfo>) -> String {
    match v {
        Some(VolumeInfo { index: Some(i), .. }) => format!("p{i}"),
        Some(_) => "volume".to_string(),
        None => "device".to_string(),
    }
}

/// `volume p2: fat32, label "DATA", serial 1234-ABCD, offset 1048576,
/// size 4194304, type 0x0c FAT32 (LBA)`; absent facts left out.
fn volume_text(v: &VolumeInfo) -> String {
    let mut parts = vec![v
        .fs
        .as_deref()
        .unwrap_or("no known file system")
        .to_string()];
    if let Some(l) = &v.label {
        parts.push(format!("label \"{}\"", sanitize(l)));
    }
    if let Some(s) = &v.serial {
        parts.push(format!("serial {}", sanitize(s)));
    }
    parts.push(format!("offset {}", v.offset));
    parts.push(format!("size {}", v.size));
    if let Some(t) = &v.partition_type {
        parts.push(format!("type {}", sanitize(t)));
    }
    format!("volume {}: {}", volume_name(Some(v)), parts.join(", "))
}

fn kind_word(k: DiskProblem) -> &'static str {
    match k {
        DiskProblem::Fs(ProblemKind::Corrupt) => "corrupt",
        DiskProblem::Fs(ProblemKind::Unsupported) => "unsupported",
        DiskProblem::Fs(ProblemKind::Limit) => "limit",
        DiskProblem::Fs(ProblemKind::Io) => "io",
        DiskProblem::UnsupportedFs => "unsupported_fs",
        DiskProblem::Corrupt => "corrupt",
        DiskProblem::ParserDied => "parser_died",
    }
}

impl<W: Write> Lister<W> {
    fn line(&mut self, s: &str) -> Flow {
        if self.failed.is_some() {
            return Flow::Stop;
        }
        match writeln!(self.out, "{s}") {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.failed = Some(e);
                Flow::Stop
            }
        }
    }

    fn layout(&mut self, path: &std::path::Path, l: &Layout) {
        if self.json {
            let t = json!({"type": "table", "device": pathfmt::display(path),
                "table": l.table, "mbr_len": l.mbr_len, "volumes": l.volumes.len()});
            self.line(&t.to_string());
        } else {
            let table = l.table.as_deref().unwrap_or("none (one bare volume)");
            let s = format!("{}: partition table {table}", pathfmt::display(path));
            self.line(&s);
        }
        for v in &l.volumes {
            let s = if self.json {
                let mut j = serde_json::to_value(v).unwrap_or_default();
                j["type"] = json!("volume");
                j.to_string()
            } else {
                volume_text(v)
            };
            self.line(&s);
        }
    }

    fn file_line(&mut self, at: Where<'_>, size: u64, attrs: Attributes, sha: &str) -> Flow {
        let path = disk::path_text(at.path);
        let s = if self.json {
            json!({"type": "file", "volume": at.volume.and_then(|v| v.index),
                "path": path, "size": size, "sha256": sha,
                "hidden": attrs.hidden, "system": attrs.system})
            .to_string()
        } else {
            let mut flags = Vec::new();
            if attrs.hidden {
                flags.push("hidden");
            }
            if attrs.system {
                flags.push("system");
            }
            let shown = if path.is_empty() {
                "(raw bytes)"
            } else {
                &path
            };
            format!(
                "{}:{shown}  {size}  {sha}  {}",
                volume_name(at.volume),
                flags.join(",")
            )
            .trim_end()
            .to_string()
        };
        self.line(&s)
    }
}

impl<W: Write> DiskVisitor for Lister<W> {
    fn file(&mut self, at: Where<'_>, size: u64, attrs: Attributes, data: &mut dyn Read) -> Flow {
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = format!("the file could not be read: {e}");
                    return self.problem(at, DiskProblem::Fs(ProblemKind::Io), &why);
                }
            }
        }
        let sha = hex::encode(h.finalize());
        self.file_line(at, size, attrs, &sha)
    }

    fn problem(&mut self, at: Where<'_>, kind: DiskProblem, detail: &str) -> Flow {
        self.problems += 1;
        let path = disk::path_text(at.path);
        let s = if self.json {
            json!({"type": "problem", "volume": at.volume.and_then(|v| v.index),
                "path": path, "kind": kind_word(kind), "detail": detail})
            .to_string()
        } else {
            format!(
                "problem {}:{path}: {}: {}",
                volume_name(at.volume),
                kind_word(kind),
                sanitize(detail)
            )
        };
        self.line(&s)
    }
}
