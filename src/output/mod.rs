//! Output for people and programs: JSON Lines or text on stdout, a progress
//! bar on stderr when stdout is a terminal, and sanitising of every name
//! that came from a medium; `incidents`, `rules` and `status` render those
//! commands' text and JSON. This module decides nothing about verdicts.

pub mod incidents;
pub mod rules;
pub mod sanitize;
pub mod status;

use crate::engine::RecordSink;
use crate::findings::{Record, Summary};
use std::io::{IsTerminal, Write};

pub use sanitize::sanitize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per finding, then totals.
    Text,
    /// JSON Lines: one record per line (session, finding, skip, summary).
    Json,
}

/// What a [`Printer`] shows besides findings.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrinterOptions {
    /// Only findings (text format): no skips, no totals, no progress.
    pub quiet: bool,
    /// Also skips made by design (symlinks, special files).
    pub show_all_skips: bool,
    /// A progress display on stderr (only when stdout is a terminal).
    pub progress: bool,
}

/// Prints records to stdout as they arrive.
pub struct Printer {
    format: Format,
    quiet: bool,
    show_all_skips: bool,
    out: std::io::BufWriter<std::io::Stdout>,
    progress: Option<indicatif::ProgressBar>,
}

impl Printer {
    pub fn new(format: Format, opts: PrinterOptions) -> Printer {
        let PrinterOptions {
            quiet,
            show_all_skips,
            progress,
        } = opts;
        let stdout = std::io::stdout();
        let tty = stdout.is_terminal();
        let progress = (progress && tty && !quiet && format == Format::Text).then(|| {
            let pb = indicatif::ProgressBar::new_spinner();
            pb.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(8));
            pb.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            pb
        });
        Printer {
            format,
            quiet,
            show_all_skips,
            out: std::io::BufWriter::new(stdout),
            progress,
        }
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        match &self.progress {
            Some(pb) => pb.suspend(|| {
                let mut o = std::io::stdout().lock();
                writeln!(o, "{text}")
            }),
            None => writeln!(self.out, "{text}"),
        }
    }

    fn text(&mut self, rec: &Record) -> std::io::Result<()> {
        match rec {
            Record::Session(_) => Ok(()),
            Record::Finding(f) => {
                let rules: Vec<String> = f
                    .matches
                    .iter()
                    .map(|m| format!("{}:{}", m.namespace, sanitize(&m.rule)))
                    .collect();
                let verdict = match f.verdict {
                    crate::findings::Verdict::Malicious => "MALICIOUS ",
                    crate::findings::Verdict::Suspicious => "SUSPICIOUS",
                };
                let line = format!(
                    "{verdict} {}  [{}]  sha256={}",
                    sanitize(&f.path),
                    rules.join(", "),
                    f.sha256
                );
                self.line(&line)?;
                self.out.flush()
            }
            Record::Skip(s) => {
                if self.quiet || !(s.gap || self.show_all_skips) {
                    return Ok(());
                }
                let line = format!(
                    "SKIP       {}  ({}: {})",
                    sanitize(&s.path),
                    s.reason.as_str(),
                    sanitize(&s.detail)
                );
                self.line(&line)
            }
            Record::Summary(s) => {
                if let Some(pb) = self.progress.take() {
                    pb.finish_and_clear();
                }
                if self.quiet {
                    return self.out.flush();
                }
                let line = summary_line(s);
                self.line(&line)?;
                self.out.flush()
            }
        }
    }
}

/// The closing line of a text scan.
pub fn summary_line(s: &Summary) -> String {
    let design = s.skips - s.gaps;
    let mut line = format!(
        "scanned {} file{} ({}) in {:.1} s: {} finding{}, {} not fully checked, {} skipped by design",
        s.files,
        if s.files == 1 { "" } else { "s" },
        human_bytes(s.bytes),
        s.seconds,
        s.findings,
        if s.findings == 1 { "" } else { "s" },
        s.gaps,
        design
    );
    if !s.completed {
        line.push_str(" — INCOMPLETE");
        if let Some(e) = &s.error {
            line.push_str(": ");
            line.push_str(&sanitize(e));
        }
    }
    line
}

/// `1.5 MiB` style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl RecordSink for Printer {
    fn record(&mut self, rec: Record) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, &rec)?;
                self.out.write_all(b"\n")?;
                if matches!(rec, Record::Finding(_) | Record::Summary(_)) {
                    self.out.flush()?;
                }
                Ok(())
            }
            Format::Text => self.text(&rec),
        }
    }

    fn progress(&mut self, files: u64, bytes: u64) {
        if let Some(pb) = &self.progress {
            pb.set_message(format!("{files} files, {}", human_bytes(bytes)));
            pb.tick();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
