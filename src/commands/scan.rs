//! `kensa scan PATH...`: one session over the given paths with the active
//! rule set (or `--rules`), printing findings and returning 0/1/2.

use super::Context;
use crate::cli::ScanArgs;
use crate::engine::pathfmt;
use crate::engine::{Cancel, Engine, SessionSpec};
use crate::output::{Printer, PrinterOptions};
use crate::rules::active::{self, RuleRequest};
use anyhow::Context as _;
use std::sync::Arc;

pub fn run(ctx: &Context, args: ScanArgs) -> anyhow::Result<u8> {
    let mut opts = ctx.config.scan_options();
    args.apply(&mut opts);
    opts.check()?;
    let req = RuleRequest {
        explicit: super::absolute_all(&args.rules)?,
        strict: args.strict,
        read_only: false,
    };
    let set = active::load(&ctx.state, &ctx.config.rules, &req).context("loading rules")?;
    super::warn_failed_rule_files(&set);
    let engine = Engine::new(Arc::new(set), opts).with_policy(ctx.config.classification.clone());
    let paths = super::absolute_all(&args.paths)?;
    for p in &paths {
        // A path the user gave that is not there is a mistake to report,
        // not a file that vanished during the scan.
        if let Err(e) = std::fs::symlink_metadata(p) {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            anyhow::bail!("{}: {why}", pathfmt::display(p));
        }
    }
    let mut spec = SessionSpec {
        paths,
        base: None,
        location: args.location(),
        medium: None,
        agent: None,
    };
    let mut printer = Printer::new(
        args.format,
        PrinterOptions {
            quiet: args.quiet,
            show_all_skips: args.show_all_skips,
            progress: !args.no_progress,
            color: args.color,
        },
    );
    if printer.shows_progress() {
        printer.set_total(crate::output::progress::precount(spec.paths.clone()));
    }
    let cancel = stop_on_signals()?;
    printer.stop_when_closed(cancel.clone());
    let summary = if args.journal {
        let sk_path = ctx.state.secret_key();
        let key = crate::keys::SecretKey::load(&sk_path).with_context(|| {
            format!(
                "--journal needs the agent key {} (run kensa keygen)",
                pathfmt::show(&sk_path)
            )
        })?;
        let dir = ctx.state.journal_dir();
        let mut journal = crate::journal::Journal::open(&dir, &key)
            .with_context(|| format!("opening the journal {}", pathfmt::show(&dir)))?;
        spec.agent = Some(journal.agent().to_string());
        let mut sink = JournalSink::new(&mut journal, &mut printer);
        engine.scan(&spec, &mut sink, &cancel)?
    } else {
        engine.scan(&spec, &mut printer, &cancel)?
    };
    Ok(summary.exit_code())
}

/// A stop flag that SIGTERM or SIGINT sets: the session then ends with
/// its (incomplete) summary; a second signal ends the process at once.
fn stop_on_signals() -> anyhow::Result<Arc<Cancel>> {
    let cancel = Cancel::new();
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, cancel.flag())
            .and_then(|_| signal_hook::flag::register(sig, cancel.flag()))
            .context("installing signal handlers")?;
    }
    Ok(cancel)
}

/// Journals every record before passing it to the printer: a finding is
/// printed only once it is durable, so anything reported is in the journal.
struct JournalSink<'a, S: crate::engine::RecordSink> {
    journal: &'a mut crate::journal::Journal,
    inner: &'a mut S,
}

impl<'a, S: crate::engine::RecordSink> JournalSink<'a, S> {
    fn new(journal: &'a mut crate::journal::Journal, inner: &'a mut S) -> Self {
        JournalSink { journal, inner }
    }
}

impl<S: crate::engine::RecordSink> crate::engine::RecordSink for JournalSink<'_, S> {
    fn record(&mut self, rec: crate::findings::Record) -> std::io::Result<()> {
        self.journal
            .append(&rec)
            .map_err(|e| std::io::Error::other(format!("journal: {e}")))?;
        self.inner.record(rec)
    }

    fn progress(&mut self, files: u64, bytes: u64) {
        self.inner.progress(files, bytes);
    }

    fn reading(&mut self, path: &str) {
        self.inner.reading(path);
    }

    fn tick(&mut self) {
        self.inner.tick();
    }
}
