//! Output for people and programs: JSON Lines or text on stdout, a progress
//! bar on stderr when stdout is a terminal, and sanitising of every name
//! that came from a medium; `incidents`, `rules` and `status` render those
//! commands' text and JSON; `time` shows times in the configured zone.
//! This module decides nothing about verdicts.

pub mod incidents;
pub mod progress;
pub mod rules;
pub mod sanitize;
pub mod status;
pub mod taxonomy;
pub mod time;

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

/// When to colour the text output (`--color`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether stdout is a terminal.
    pub fn resolve(self, tty: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
                tty && !no_color && !dumb
            }
        }
    }
}

/// What a [`Printer`] shows besides findings.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrinterOptions {
    /// Only findings on stdout (text format): no totals, no progress; files
    /// not fully checked still go to stderr.
    pub quiet: bool,
    /// Also skips made by design (symlinks, special files).
    pub show_all_skips: bool,
    /// A progress display on stderr (only when stdout is a terminal).
    pub progress: bool,
    pub color: ColorChoice,
}

/// The verdict of a whole scan, as the last line of the text output says
/// it; it always agrees with the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanVerdict {
    /// Every file fully checked, nothing found (exit 0).
    Clean,
    /// At least one malicious finding (exit 1).
    Infected,
    /// Only suspicious findings (exit 1).
    Suspicious,
    /// Nothing found, but something could not be fully checked (exit 2).
    Incomplete,
}

impl ScanVerdict {
    /// The verdict of `summary`, given how many of its findings were malicious.
    pub fn of(summary: &Summary, malicious: u64) -> ScanVerdict {
        match summary.exit_code() {
            1 if malicious > 0 => ScanVerdict::Infected,
            1 => ScanVerdict::Suspicious,
            0 => ScanVerdict::Clean,
            _ => ScanVerdict::Incomplete,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            ScanVerdict::Clean => "CLEAN",
            ScanVerdict::Infected => "INFECTED",
            ScanVerdict::Suspicious => "SUSPICIOUS",
            ScanVerdict::Incomplete => "INCOMPLETE",
        }
    }

    /// ANSI SGR parameters: red, yellow, magenta, green; all bold.
    fn color(self) -> &'static str {
        match self {
            ScanVerdict::Clean => "1;32",
            ScanVerdict::Infected => "1;31",
            ScanVerdict::Suspicious => "1;33",
            ScanVerdict::Incomplete => "1;35",
        }
    }
}

/// `text` in the SGR colour `sgr` when `on`.
fn paint(on: bool, sgr: &str, text: &str) -> String {
    if on {
        format!("\x1b[{sgr}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Prints records to stdout as they arrive. When the reader of stdout
/// goes away (`kensa scan | head -1`), printing stops quietly and the scan
/// is stopped through `on_closed`; the journal still gets every record.
pub struct Printer {
    format: Format,
    opts: PrinterOptions,
    color: bool,
    out: std::io::BufWriter<std::io::Stdout>,
    progress: Option<indicatif::ProgressBar>,
    /// What the scan will read, when the pre-count finished in time.
    total: Option<progress::Total>,
    started: std::time::Instant,
    /// The file a worker started reading last (for the progress line).
    reading: String,
    /// Files and bytes done so far.
    done: (u64, u64),
    malicious: u64,
    /// The session's rule set, named on the verdict line.
    ruleset: Option<crate::findings::RulesetInfo>,
    closed: bool,
    on_closed: Option<std::sync::Arc<crate::engine::Cancel>>,
}

impl Printer {
    pub fn new(format: Format, opts: PrinterOptions) -> Printer {
        let stdout = std::io::stdout();
        let tty = stdout.is_terminal();
        let progress = (opts.progress && tty && !opts.quiet && format == Format::Text).then(|| {
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
            color: format == Format::Text && opts.color.resolve(tty),
            opts,
            out: std::io::BufWriter::new(stdout),
            progress,
            total: None,
            started: std::time::Instant::now(),
            reading: String::new(),
            done: (0, 0),
            malicious: 0,
            ruleset: None,
            closed: false,
            on_closed: None,
        }
    }

    /// Whether a progress display is shown (so a total is worth counting).
    pub fn shows_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// The total the progress display counts towards, once known.
    pub fn set_total(&mut self, total: progress::Total) {
        self.total = Some(total);
    }

    /// Stops `cancel`'s scan when stdout is closed by its reader.
    pub fn stop_when_closed(&mut self, cancel: std::sync::Arc<crate::engine::Cancel>) {
        self.on_closed = Some(cancel);
    }

    /// True once stdout's reader has gone away.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sets the progress line from the counts so far and the file being
    /// read (indicatif redraws at most 8 times a second).
    fn draw_progress(&self) {
        if let Some(pb) = &self.progress {
            let total = self.total.as_ref().and_then(|t| t.get().copied());
            let (files, bytes) = self.done;
            let line = progress::line(files, bytes, total, self.started.elapsed());
            pb.set_message(format!("{line}  {}", progress::tail(&self.reading, 50)));
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
            Record::Session(session) => {
                self.ruleset = Some(session.ruleset.clone());
                Ok(())
            }
            Record::Finding(f) => {
                let line = finding_line(f, self.color);
                self.line(&line)?;
                self.out.flush()
            }
            Record::Skip(s) => {
                if !(s.gap || self.opts.show_all_skips) {
                    return Ok(());
                }
                let line = format!(
                    "SKIP       {}  ({}: {})",
                    sanitize(&s.path),
                    s.reason.as_str(),
                    sanitize(&s.detail)
                );
                if self.opts.quiet {
                    // Not on stdout, but never hidden: a gap is news.
                    eprintln!("kensa: not fully checked: {}", &line[11..]);
                    return Ok(());
                }
                self.line(&line)
            }
            Record::Summary(s) => {
                if let Some(pb) = self.progress.take() {
                    pb.finish_and_clear();
                }
                if self.opts.quiet {
                    return self.out.flush();
                }
                let verdict = ScanVerdict::of(s, self.malicious);
                let mut line = summary_line(s, verdict, self.color);
                if let Some(r) = &self.ruleset {
                    line.push_str("; rules ");
                    line.push_str(&ruleset_text(r));
                }
                self.line(&line)?;
                self.out.flush()
            }
        }
    }

    fn write(&mut self, rec: &Record) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, rec)?;
                self.out.write_all(b"\n")?;
                if matches!(rec, Record::Finding(_) | Record::Summary(_)) {
                    self.out.flush()?;
                }
                Ok(())
            }
            Format::Text => self.text(rec),
        }
    }
}

/// One finding in text: verdict, path, then each match with what it is
/// (`rule NS:ID — description`, or `hash: description (sha256 list NS)`),
/// then the SHA-256. A file its volume marks hidden or system says so
/// after its path.
pub fn finding_line(f: &crate::findings::Finding, color: bool) -> String {
    let matches: Vec<String> = f.matches.iter().map(match_text).collect();
    let (word, sgr) = match f.verdict {
        crate::findings::Verdict::Malicious => ("MALICIOUS ", "1;31"),
        crate::findings::Verdict::Suspicious => ("SUSPICIOUS", "1;33"),
    };
    let attrs = match f.attributes.is_empty() {
        true => String::new(),
        false => format!("  ({})", sanitize(&f.attributes.join(", "))),
    };
    format!(
        "{} {}{attrs}  [{}]  sha256={}",
        paint(color, sgr, word),
        sanitize(&f.path),
        matches.join("; "),
        f.sha256
    )
}

/// A match as a person reads it.
fn match_text(m: &crate::findings::Match) -> String {
    let meta = |k: &str| {
        m.meta
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    if m.kind == "hash" {
        let digest = meta("digest").unwrap_or("hash");
        return format!(
            "{digest} listed in {}: {}",
            sanitize(&m.namespace),
            sanitize(&m.rule)
        );
    }
    let id = format!("{}:{}", sanitize(&m.namespace), sanitize(&m.rule));
    match meta("description") {
        Some(d) => format!("{id} — {}", sanitize(d)),
        None => id,
    }
}

/// The closing line of a text scan: the verdict word first, then counts
/// and time, then why the scan stopped early if it did.
pub fn summary_line(s: &Summary, verdict: ScanVerdict, color: bool) -> String {
    let design = s.skips - s.gaps;
    let mut line = format!(
        "{}  {} finding{} in {} file{} ({}) scanned in {:.1} s; {} not fully checked, {} skipped by design",
        paint(color, verdict.color(), verdict.word()),
        s.findings,
        if s.findings == 1 { "" } else { "s" },
        s.files,
        if s.files == 1 { "" } else { "s" },
        human_bytes(s.bytes),
        s.seconds,
        s.gaps,
        design
    );
    if !s.completed {
        line.push_str("; stopped before the end");
        if let Some(e) = &s.error {
            line.push_str(": ");
            line.push_str(&sanitize(e));
        }
    }
    line
}

/// A rule set as the verdict line names it: its id (the digest's first 16
/// hex digits), then the pack version or that no pack was in use.
pub fn ruleset_text(r: &crate::findings::RulesetInfo) -> String {
    let pack = match r.pack_version {
        Some(v) => format!("rule pack v{v}"),
        None => "no rule pack".to_string(),
    };
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{} ({pack}; {}, {})",
        r.id,
        plural(r.rules, "rule", "rules"),
        plural(r.hashes, "hash", "hashes")
    )
}

/// Writes a whole document to stdout. A reader that left early (`| head`)
/// is not an error: there is no one left to tell.
pub fn print_all(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
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
        if let Record::Finding(f) = &rec {
            self.malicious += u64::from(f.verdict == crate::findings::Verdict::Malicious);
        }
        if self.closed {
            return Ok(());
        }
        match self.write(&rec) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                // The reader left: nothing more to show, and no reason to
                // go on; the session still closes with its summary.
                self.closed = true;
                if let Some(pb) = self.progress.take() {
                    pb.finish_and_clear();
                }
                if let Some(c) = &self.on_closed {
                    c.stop(crate::engine::StopReason::Shutdown);
                }
                Ok(())
            }
            other => other,
        }
    }

    fn progress(&mut self, files: u64, bytes: u64) {
        self.done = (files, bytes);
        self.draw_progress();
    }

    fn tick(&mut self) {
        // Redraws the line, so a total counted meanwhile shows even while
        // one long file is read.
        self.draw_progress();
    }

    fn reading(&mut self, path: &str) {
        if self.progress.is_some() {
            self.reading.clear();
            self.reading.push_str(path);
            self.draw_progress();
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
