//! `kensa scan PATH...`: one session over the given paths with the bundled
//! signatures (or `--rules`), printing findings and returning 0/1/2.

use super::Context;
use crate::cli::ScanArgs;
use crate::engine::{Cancel, Engine, ScanOptions, SessionSpec};
use crate::findings::Location;
use crate::output::Printer;
use crate::rules::{self, CompileOptions};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The scan options the configuration describes.
pub fn config_options(config: &crate::config::Config) -> ScanOptions {
    let c = &config.scan;
    let mut o = ScanOptions::default();
    if c.threads > 0 {
        o.threads = c.threads;
    }
    o.max_file_size = c.max_file_size.0;
    o.buffer_budget = c.buffer_budget.0;
    o.timeout = Duration::from_secs(c.timeout.max(1));
    o.one_file_system = c.one_file_system;
    o.archive = config.archive.limits();
    o
}

/// Builds the scan options from config and flags (flags win).
pub fn scan_options(ctx: &Context, args: &ScanArgs) -> ScanOptions {
    let mut o = config_options(&ctx.config);
    if let Some(t) = args.threads.filter(|&t| t > 0) {
        o.threads = t;
    }
    o.max_file_size = args.max_file_size.unwrap_or(o.max_file_size);
    if let Some(t) = args.timeout {
        o.timeout = Duration::from_secs(t.max(1));
    }
    o.one_file_system |= args.one_file_system;
    o.archive = if args.no_archives {
        None
    } else {
        o.archive.map(|mut l| {
            l.max_depth = args.archive_max_depth.unwrap_or(l.max_depth);
            l.max_total_bytes = args.archive_max_total.unwrap_or(l.max_total_bytes);
            l.max_member_size = args.archive_max_member.unwrap_or(l.max_member_size);
            if let Some(s) = args.archive_max_time {
                l.max_time = Duration::from_secs(s);
            }
            l
        })
    };
    o
}

/// The default sources: the bundled signatures (namespace `kensa`), the
/// configured extras, and the installed pack's files (namespace `pack`).
pub fn default_sources(
    ctx: &Context,
    pack_files: Option<&Path>,
) -> anyhow::Result<Vec<rules::Source>> {
    let mut paths = vec![rules::find_signatures(
        ctx.config.rules.signatures.as_deref(),
    )?];
    paths.extend(ctx.config.rules.extra.iter().cloned());
    if let Some(p) = pack_files {
        paths.push(p.to_path_buf());
    }
    let mut sources = rules::sources_for(&paths);
    // The bundled set is always the `kensa` namespace, the pack `pack`.
    sources[0].namespace = "kensa".to_string();
    if pack_files.is_some() {
        if let Some(last) = sources.last_mut() {
            last.namespace = "pack".to_string();
        }
    }
    Ok(sources)
}

/// Where compiled rule sets are cached.
pub fn cache_dir(ctx: &Context) -> PathBuf {
    ctx.state.cache_dir()
}

/// Resolves and compiles the rule set: by default the bundled signatures,
/// configured extras and the installed rule pack; `--rules` replaces all
/// of them. A compiled set is reused from the cache when nothing changed.
pub fn load_rules(
    ctx: &Context,
    explicit: &[PathBuf],
    strict: bool,
) -> anyhow::Result<rules::RuleSet> {
    let mut pack_version = None;
    let sources = if explicit.is_empty() {
        let pack = rules::pack::installed(&ctx.state);
        pack_version = pack.as_ref().map(|p| p.version);
        default_sources(ctx, pack.as_ref().map(|p| p.rules_dir()).as_deref())?
    } else {
        let paths: Vec<PathBuf> = explicit
            .iter()
            .map(|p| super::absolute(p.clone()))
            .collect::<Result<_, _>>()?;
        rules::sources_for(&paths)
    };
    let strict = strict || ctx.config.rules.strict;
    let cache = cache_dir(ctx);
    let (mut set, status) =
        rules::cache::load_or_compile(Some(&cache), &sources, CompileOptions { strict })
            .context("loading rules")?;
    set.info.pack_version = pack_version;
    for issue in &set.issues {
        if issue.warning {
            tracing::debug!("{issue}");
        } else {
            tracing::warn!("{issue}");
        }
    }
    if set.files_failed > 0 {
        eprintln!(
            "kensa: warning: {} rule file(s) failed to compile and were left out (run with -v to see them)",
            set.files_failed
        );
    }
    tracing::info!(rules = set.info.rules, hashes = set.info.hashes, digest = %set.info.id, pack = ?pack_version, cache = ?status, "rules loaded");
    Ok(set)
}

pub fn run(ctx: &Context, args: ScanArgs) -> anyhow::Result<u8> {
    let opts = scan_options(ctx, &args);
    let set = load_rules(ctx, &args.rules, args.strict)?;
    let paths = args
        .paths
        .iter()
        .map(|p| super::absolute(p.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let engine = Engine::new(Arc::new(set), opts).with_classifier(classifier(ctx));
    let spec = SessionSpec {
        paths,
        location: if args.removable {
            Location::Removable
        } else {
            Location::Host
        },
        medium: None,
        agent: None,
    };
    let mut printer = Printer::new(
        args.format,
        args.quiet,
        args.show_all_skips,
        !args.no_progress,
    );
    let cancel = Cancel::new();
    let summary = if args.journal {
        let sk_path = ctx.state.secret_key();
        let key = crate::keys::SecretKey::load(&sk_path).with_context(|| {
            format!(
                "--journal needs the agent key {} (run kensa keygen)",
                sk_path.display()
            )
        })?;
        let dir = ctx.state.journal_dir();
        let mut journal = crate::journal::Journal::open(&dir, &key)
            .with_context(|| format!("opening the journal {}", dir.display()))?;
        let spec = SessionSpec {
            agent: Some(key.key_id_hex()),
            ..spec
        };
        let mut sink = JournalSink::new(&mut journal, &mut printer);
        engine.scan(&spec, &mut sink, &cancel)?
    } else {
        engine.scan(&spec, &mut printer, &cancel)?
    };
    Ok(exit_code(&summary))
}

/// The configured classification policy as the engine's classifier.
pub fn classifier(ctx: &Context) -> Arc<crate::engine::Classifier> {
    let policy = ctx.config.classification.clone();
    Arc::new(move |f, medium| {
        let c = crate::findings::policy::classify(&policy, f.location, medium, &f.matches);
        for w in &c.warnings {
            tracing::warn!("classification: {w}");
        }
        Some(c.classification)
    })
}

/// 1 if anything was found; else 2 if any file was not fully checked or
/// the scan did not complete; else 0.
pub fn exit_code(s: &crate::findings::Summary) -> u8 {
    if s.findings > 0 {
        1
    } else if s.gaps > 0 || !s.completed {
        2
    } else {
        0
    }
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
}
