//! `kensa rules check|pack|trust|list-trusted|install|status`: checking
//! rule files, building signed rule packs, the publisher trust store, and
//! installing a pack into the active rule set (bundled + pack).

use super::Context;
use crate::cli::{RulesCheckArgs, RulesCommand, RulesPackArgs};
use crate::journal::{self, Entry, Journal, JournalError, JournalRecord, RulesChange};
use crate::keys::{KeyError, SecretKey};
use crate::output::{sanitize, Format};
use crate::rules::pack::{self, InstallOptions, InstallOutcome};
use crate::rules::{self, CompileOptions, Issue};
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest key or password file read.
const MAX_SMALL_FILE: u64 = 4096;
/// Compile errors shown when a pack is refused.
const MAX_ERRORS_SHOWN: usize = 20;

pub fn run(ctx: &Context, cmd: RulesCommand) -> anyhow::Result<u8> {
    match cmd {
        RulesCommand::Check(args) => check(args),
        RulesCommand::Pack(args) => build_pack(args),
        RulesCommand::Trust { pubkey } => {
            let text = read_small(&pubkey)?;
            let key = pack::trust(&ctx.state, &text)
                .with_context(|| format!("trusting {}", pubkey.display()))?;
            println!("trusted rule pack publisher {}", key.key_id_hex());
            Ok(0)
        }
        RulesCommand::ListTrusted => {
            let keys = pack::list_trusted(&ctx.state).context("reading trusted keys")?;
            if keys.is_empty() {
                println!(
                    "no trusted rule pack publishers (add one with `kensa rules trust PUBKEY`)"
                );
            }
            for k in keys {
                println!("{}", k.key_id_hex());
            }
            Ok(0)
        }
        RulesCommand::Install {
            file,
            allow_downgrade,
        } => install(ctx, file, allow_downgrade),
        RulesCommand::Status { format } => status(ctx, format),
    }
}

fn read_small(path: &Path) -> anyhow::Result<String> {
    Ok(crate::fsutil::read_capped_text(path, MAX_SMALL_FILE)?)
}

#[derive(serde::Serialize)]
struct FileReport<'a> {
    path: String,
    compiled: bool,
    errors: Vec<&'a Issue>,
    warnings: Vec<&'a Issue>,
}

fn check(args: RulesCheckArgs) -> anyhow::Result<u8> {
    let paths = args
        .paths
        .iter()
        .map(|p| super::absolute(p.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let prep = rules::prepare(&rules::sources_for(&paths)).context("reading rule files")?;
    let report = rules::check_prepared(&prep);
    let files = file_reports(&prep, &report);
    let failed = files.iter().filter(|r| !r.compiled).count();
    match args.format {
        Format::Json => {
            let v = serde_json::json!({
                "v": 1,
                "files": files,
                "totals": {
                    "files": files.len(),
                    "compiled": files.len() - failed,
                    "failed": failed,
                    "rules": report.rules,
                    "hashes": report.hashes,
                }
            });
            println!("{v}");
        }
        Format::Text => print_check(&files, &report),
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// One report per file, in the order the files were read (files only
/// named by an issue last), with that file's errors and warnings.
fn file_reports<'a>(prep: &rules::Prepared, report: &'a rules::CheckReport) -> Vec<FileReport<'a>> {
    let mut order: Vec<PathBuf> = prep.files().map(Path::to_path_buf).collect();
    for i in &report.issues {
        if !order.contains(&i.file) {
            order.push(i.file.clone());
        }
    }
    let mut by_file: BTreeMap<PathBuf, FileReport<'_>> = order
        .iter()
        .map(|f| {
            let r = FileReport {
                path: f.display().to_string(),
                compiled: true,
                errors: Vec::new(),
                warnings: Vec::new(),
            };
            (f.clone(), r)
        })
        .collect();
    for i in &report.issues {
        if let Some(r) = by_file.get_mut(&i.file) {
            if i.warning {
                r.warnings.push(i);
            } else {
                r.compiled = false;
                r.errors.push(i);
            }
        }
    }
    order.iter().filter_map(|f| by_file.remove(f)).collect()
}

fn print_check(files: &[FileReport<'_>], report: &rules::CheckReport) {
    for f in files {
        let state = if f.compiled { "ok    " } else { "FAILED" };
        let extra = if f.warnings.is_empty() {
            String::new()
        } else {
            format!(" ({} warning(s))", f.warnings.len())
        };
        println!("{state} {}{extra}", sanitize(&f.path));
        for i in f.errors.iter().chain(f.warnings.iter()) {
            println!("  {}", sanitize(&i.to_string()));
        }
    }
    let failed = files.iter().filter(|r| !r.compiled).count();
    println!(
        "{} file(s): {} compiled, {} failed; {} rule(s), {} hash(es)",
        files.len(),
        files.len() - failed,
        failed,
        report.rules,
        report.hashes
    );
}

fn password(args: &RulesPackArgs) -> anyhow::Result<Option<String>> {
    if let Some(p) = &args.password_file {
        let text = read_small(p)?;
        return Ok(Some(text.lines().next().unwrap_or_default().to_string()));
    }
    Ok(std::env::var("KENSA_PACK_PASSWORD").ok())
}

fn build_pack(args: RulesPackArgs) -> anyhow::Result<u8> {
    let key_text = read_small(&args.key)?;
    let signer = SecretKey::parse_with_password(&key_text, password(&args)?.as_deref())
        .map_err(|e| match e {
            KeyError::Encrypted => {
                anyhow::anyhow!("{e}: give --password-file or set KENSA_PACK_PASSWORD")
            }
            other => other.into(),
        })
        .with_context(|| format!("reading secret key {}", args.key.display()))?;
    let dir = super::absolute(args.dir.clone())?;
    let (bytes, manifest, skipped) = pack::build(&dir, args.version, &signer)
        .with_context(|| format!("building a pack from {}", dir.display()))?;
    for s in &skipped {
        eprintln!(
            "kensa: note: {} is not a rule or hash-list file; left out",
            sanitize(&s.display().to_string())
        );
    }
    let out = super::absolute(args.out.clone())?;
    crate::fsutil::write_atomic(&out, &bytes, 0o644)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {}: version {}, {} file(s), {} bytes, digest {}, signed by {}",
        out.display(),
        manifest.version,
        manifest.files.len(),
        bytes.len(),
        manifest.digest(),
        signer.key_id_hex()
    );
    Ok(0)
}

/// Compiles the active set with `pack_files` as the pack; warms the cache.
fn test_compile(ctx: &Context, pack_files: &Path) -> Result<usize, String> {
    let sources = crate::rules::active::default_sources(&ctx.config.rules, Some(pack_files))
        .map_err(|e| format!("{e:#}"))?;
    let prep = rules::prepare(&sources).map_err(|e| e.to_string())?;
    let set = rules::compile_prepared(&prep, CompileOptions { strict: false })
        .map_err(|e| e.to_string())?;
    if set.files_failed > 0 {
        let errors: Vec<String> = set
            .errors()
            .take(MAX_ERRORS_SHOWN)
            .map(|i| format!("  {}", sanitize(&i.to_string())))
            .collect();
        return Err(format!(
            "{} file(s) failed to compile:\n{}",
            set.files_failed,
            errors.join("\n")
        ));
    }
    if let Err(e) = rules::cache::store(&ctx.state.cache_dir(), &prep, &set) {
        tracing::debug!("compiled pack rules not cached: {e}");
    }
    Ok(set.info.rules)
}

/// Installs a pack; its `rules_change` record goes into the agent's
/// journal (the agent key is created if there is none yet). When another
/// process holds the journal (normally the running agent) the record is
/// queued in the journal's inbox and that process appends it: the agent
/// does so as soon as it reloads for the new pack.
fn install(ctx: &Context, file: PathBuf, allow_downgrade: bool) -> anyhow::Result<u8> {
    let file = super::absolute(file)?;
    let dir = ctx.state.journal_dir();
    let mut held = journal_for_change(ctx)?;
    let outcome = pack::install(
        &ctx.state,
        &file,
        InstallOptions { allow_downgrade },
        &mut |dir| test_compile(ctx, dir),
    )
    .with_context(|| format!("rule pack {} refused", file.display()))?;
    if let InstallOutcome::Installed { change, .. } = &outcome {
        record_change(held.as_mut(), &dir, change)?;
    }
    drop(held);
    match outcome {
        InstallOutcome::AlreadyInstalled(p) => {
            println!(
                "rule pack version {} (digest {}) is already installed; nothing to do",
                p.version,
                &p.digest[..16]
            );
        }
        InstallOutcome::Installed { pack, previous, .. } => {
            let prev = previous
                .map(|p| format!("version {}", p.version))
                .unwrap_or_else(|| "bundled signatures only".into());
            println!(
                "installed rule pack version {} (digest {}, publisher {}, {} file(s), {} rule(s) active); was {prev}{}",
                pack.version,
                &pack.digest[..16],
                pack.publisher,
                pack.files,
                pack.rules,
                if pack.downgrade { " [downgrade, recorded]" } else { "" }
            );
        }
    }
    Ok(0)
}

/// The agent's journal, opened before anything is installed so a change
/// is never made that cannot be recorded; `None` when another process (the
/// running agent) holds it and the record must be queued. Creates the
/// agent key if there is none yet.
fn journal_for_change(ctx: &Context) -> anyhow::Result<Option<Journal>> {
    let (key, created) =
        crate::keys::load_or_create(&ctx.state).context("loading the agent key")?;
    if created {
        eprintln!(
            "kensa: note: created the agent key {} (agent {}) to record rule changes",
            ctx.state.secret_key().display(),
            key.key_id_hex()
        );
    }
    let dir = ctx.state.journal_dir();
    match Journal::open(&dir, &key) {
        Ok(j) => Ok(Some(j)),
        Err(JournalError::Busy { .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| {
            format!(
                "opening the journal {} to record the change; nothing was installed",
                dir.display()
            )
        }),
    }
}

/// Journals an installed pack's `rules_change` record: appended when this
/// process holds the journal, else queued for the process that does.
fn record_change(
    held: Option<&mut Journal>,
    dir: &Path,
    change: &RulesChange,
) -> anyhow::Result<()> {
    let entry = Entry::Journal(JournalRecord::RulesChange(change.clone()));
    let unrecorded = "the pack is installed, but its rules_change record could not be journalled";
    match held {
        Some(j) => {
            j.append(&entry).context(unrecorded)?;
        }
        None => {
            journal::queue(dir, &entry).context(unrecorded)?;
            eprintln!(
                "kensa: note: the journal {} is held by another kensa process (normally the running agent, which keeps it until it stops); the rules_change record is queued there and that process journals it (the agent does when it picks up the new pack, within seconds)",
                dir.display()
            );
        }
    }
    Ok(())
}

fn status(ctx: &Context, format: Format) -> anyhow::Result<u8> {
    let p = pack::try_installed(&ctx.state).context("reading the installed rule pack")?;
    match format {
        Format::Json => {
            let v = match &p {
                Some(p) => serde_json::json!({"v": 1, "installed": true, "pack": p, "dir": p.dir}),
                None => serde_json::json!({"v": 1, "installed": false}),
            };
            println!("{v}");
        }
        Format::Text => match &p {
            None => println!("no rule pack installed: bundled signatures only"),
            Some(p) => {
                println!("version:    {}", p.version);
                println!("digest:     {}", p.digest);
                println!("publisher:  {}", p.publisher);
                println!("created:    {}", p.created);
                println!("installed:  {}", p.installed);
                println!("files:      {}", p.files);
                println!("rules:      {} (bundled + pack)", p.rules);
                if p.downgrade {
                    println!("note:       installed as a downgrade (--allow-downgrade)");
                }
            }
        },
    }
    Ok(0)
}
