//! `kensa rules check|pack|trust|list-trusted|install|status`: checking
//! rule files, building signed rule packs, the publisher trust store, and
//! installing a pack into the active rule set (bundled + pack).

use super::{absolute, Context};
use crate::cli::{RulesCommand, RulesPackArgs};
use crate::engine::pathfmt;
use crate::fsutil::read_capped_text;
use crate::journal::{Entry, JournalRecord, Recorded, Recorder};
use crate::keys::{KeyError, SecretKey};
use crate::output::rules as out;
use crate::rules::pack::{self, InstallOptions, InstallOutcome};
use crate::rules::{active, check};
use anyhow::Context as _;
use std::path::PathBuf;

/// Largest key or password file read.
const MAX_SMALL_FILE: u64 = 4096;

pub fn run(ctx: &Context, cmd: RulesCommand) -> anyhow::Result<u8> {
    match cmd {
        RulesCommand::Check(args) => {
            let paths = super::absolute_all(&args.paths)?;
            let report = check::check(&paths).context("reading rule files")?;
            out::print_check(&report, args.format);
            return Ok(if report.failed() > 0 { 1 } else { 0 });
        }
        RulesCommand::Pack(args) => build_pack(args)?,
        RulesCommand::Trust { pubkey } => {
            let text = read_capped_text(&pubkey, MAX_SMALL_FILE)?;
            let key = pack::trust(&ctx.state, &text)
                .with_context(|| format!("trusting {}", pathfmt::show(&pubkey)))?;
            println!("trusted rule pack publisher {}", key.key_id_hex());
        }
        RulesCommand::ListTrusted => {
            out::print_trusted(&pack::list_trusted(&ctx.state).context("reading trusted keys")?)
        }
        RulesCommand::Install {
            file,
            allow_downgrade,
        } => install(ctx, file, InstallOptions { allow_downgrade })?,
        RulesCommand::Status { format } => {
            let p = pack::try_installed(&ctx.state).context("reading the installed rule pack")?;
            out::print_status(p.as_ref(), format);
        }
    }
    Ok(0)
}

/// The password for the publisher key: the first line of
/// `--password-file`, else `KENSA_PACK_PASSWORD`.
fn password(args: &RulesPackArgs) -> anyhow::Result<Option<String>> {
    if let Some(p) = &args.password_file {
        let text = read_capped_text(p, MAX_SMALL_FILE)?;
        return Ok(Some(text.lines().next().unwrap_or_default().to_string()));
    }
    Ok(std::env::var("KENSA_PACK_PASSWORD").ok())
}

fn build_pack(args: RulesPackArgs) -> anyhow::Result<()> {
    let key_text = read_capped_text(&args.key, MAX_SMALL_FILE)?;
    let signer = SecretKey::parse_with_password(&key_text, password(&args)?.as_deref())
        .map_err(|e| match e {
            KeyError::Encrypted => {
                anyhow::anyhow!("{e}: give --password-file or set KENSA_PACK_PASSWORD")
            }
            other => other.into(),
        })
        .with_context(|| format!("reading secret key {}", pathfmt::show(&args.key)))?;
    let dir = absolute(args.dir.clone())?;
    let (bytes, manifest, skipped) = pack::build(&dir, args.version, &signer)
        .with_context(|| format!("building a pack from {}", pathfmt::show(&dir)))?;
    out::print_skipped(&skipped);
    let path = absolute(args.out.clone())?;
    crate::fsutil::write_atomic(&path, &bytes, 0o644)
        .with_context(|| format!("writing {}", pathfmt::show(&path)))?;
    out::print_pack(&path, bytes.len(), &manifest, &signer.key_id_hex());
    Ok(())
}

/// Installs a pack; its `rules_change` record goes into the agent's
/// journal (the agent key is created if there is none yet), opened before
/// anything is installed, or is queued there when the running agent holds
/// the journal (see [`Recorder`]).
fn install(ctx: &Context, file: PathBuf, opts: InstallOptions) -> anyhow::Result<()> {
    let file = absolute(file)?;
    let (key, created) =
        crate::keys::load_or_create(&ctx.state).context("loading the agent key")?;
    if created {
        out::print_key_created(&ctx.state.secret_key(), &key.key_id_hex());
    }
    let dir = ctx.state.journal_dir();
    let mut recorder = Recorder::open(&dir, &key).with_context(|| {
        let d = pathfmt::show(&dir);
        format!("opening the journal {d} to record the change; nothing was installed")
    })?;
    let outcome = pack::install(&ctx.state, &file, opts, &mut |files| {
        active::test_compile(&ctx.state, &ctx.config.rules, files)
    })
    .with_context(|| format!("rule pack {} refused", pathfmt::show(&file)))?;
    if let InstallOutcome::Installed { change, .. } = &outcome {
        let entry = Entry::Journal(JournalRecord::RulesChange(change.clone()));
        let unrecorded =
            "the pack is installed, but its rules_change record could not be journalled";
        if let Recorded::Queued(_) = recorder.record(&entry).context(unrecorded)? {
            out::print_change_queued(&dir);
        }
    }
    drop(recorder);
    out::print_install(&outcome);
    Ok(())
}
