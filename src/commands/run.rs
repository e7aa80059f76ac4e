//! `kensa run`: the agent as a service. Loads (or on first start creates)
//! the agent key, opens the journal, builds the engine from configuration
//! and hands everything to [`crate::agent::Agent`]. SIGTERM/SIGINT stop it
//! cleanly (exit 0); SIGHUP reloads configuration and rules, and so does a
//! newly installed rule pack.

use super::scan::{classifier, config_options, load_rules};
use super::Context;
use crate::agent::{Agent, AgentConfig, Control, SharedSink};
use crate::cli::RunArgs;
use crate::config::Config;
use crate::engine::{Engine, RecordSink};
use crate::findings::Record;
use crate::journal::Journal;
use crate::keys::SecretKey;
use crate::media::MediaPolicy;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The journal as the agent's sink: every record is appended (findings
/// durably) before anything else happens with it.
struct JournalRecorder {
    journal: Journal,
}

impl RecordSink for JournalRecorder {
    fn record(&mut self, rec: Record) -> std::io::Result<()> {
        self.journal
            .append(&rec)
            .map(|_| ())
            .map_err(|e| std::io::Error::other(format!("journal: {e}")))
    }
}

/// Loads the agent key, creating it on first start.
fn agent_key(ctx: &Context) -> anyhow::Result<SecretKey> {
    let (key, created) =
        crate::keys::load_or_create(&ctx.state).context("loading the agent key")?;
    if created {
        let path = ctx.state.secret_key();
        tracing::info!(agent = %key.key_id_hex(), path = %path.display(), "created the agent key on first start");
    }
    Ok(key)
}

/// What the agent watches, from configuration and flags.
fn agent_config(config: &Config, args: &RunArgs, agent_id: &str) -> anyhow::Result<AgentConfig> {
    let roots = if args.media_roots.is_empty() {
        config.media.roots.clone()
    } else {
        args.media_roots.clone()
    };
    let mut watch: Vec<PathBuf> = config.watch.paths.clone();
    watch.extend(args.watch.iter().cloned());
    let absolute = |v: Vec<PathBuf>| -> anyhow::Result<Vec<PathBuf>> {
        v.into_iter().map(super::absolute).collect()
    };
    Ok(AgentConfig {
        media: MediaPolicy {
            roots: absolute(roots)?,
            filesystems: config.media.filesystems.clone(),
            removable: Vec::new(),
        },
        watch: absolute(watch)?,
        settle: Duration::from_millis(config.watch.settle_ms),
        scan_present: config.media.scan_present && !args.no_scan_present,
        agent_id: Some(agent_id.to_string()),
    })
}

/// Compiles rules and builds the engine. On reload any rule file that
/// fails to compile refuses the whole reload (the running rules stay).
fn build_engine(ctx: &Context, rules: &[PathBuf], strict: bool) -> anyhow::Result<Arc<Engine>> {
    let set = load_rules(ctx, rules, strict)?;
    Ok(Arc::new(
        Engine::new(Arc::new(set), config_options(&ctx.config)).with_classifier(classifier(ctx)),
    ))
}

pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<u8> {
    ctx.state.create().with_context(|| {
        format!(
            "creating the state directory {}",
            ctx.state.root().display()
        )
    })?;
    let key = agent_key(ctx)?;
    let agent_id = key.key_id_hex();
    let dir = ctx.state.journal_dir();
    let journal = Journal::open(&dir, &key).with_context(|| {
        format!(
            "opening the journal {} (another agent on this state directory?)",
            dir.display()
        )
    })?;
    let recorder = Arc::new(Mutex::new(JournalRecorder { journal }));
    let sink: SharedSink = recorder.clone();

    let rules: Vec<PathBuf> = args
        .rules
        .iter()
        .map(|p| super::absolute(p.clone()))
        .collect::<Result<_, _>>()?;
    let engine = build_engine(ctx, &rules, ctx.config.rules.strict)?;
    let cfg = agent_config(&ctx.config, args, &agent_id)?;

    let control = Control::default();
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, control.terminate.clone())
            .context("installing signal handlers")?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, control.reload.clone())
        .context("installing signal handlers")?;

    // Reload: read the config file again, recompile strictly.
    let config_path = ctx.config_path.clone();
    let config_required = config_path.exists();
    let state = ctx.state.clone();
    let verbose = ctx.verbose;
    let run_args = RunArgs {
        media_roots: args.media_roots.clone(),
        watch: args.watch.clone(),
        no_scan_present: args.no_scan_present,
        rules: rules.clone(),
    };
    let id = agent_id.clone();
    let held = recorder.clone();
    let reloader = Box::new(
        move || -> Result<(Arc<Engine>, AgentConfig), Box<dyn std::error::Error + Send + Sync>> {
            // Records queued while the agent holds the journal (the
            // rules_change of a pack installed now) go in first.
            let mut r = held.lock().unwrap_or_else(|p| p.into_inner());
            match r.journal.drain_inbox() {
                Ok(0) => {}
                Ok(n) => tracing::info!("journalled {n} queued record(s)"),
                Err(e) => tracing::error!("queued journal records not appended: {e}"),
            }
            drop(r);
            let config = Config::load(&config_path, config_required)?;
            let ctx = Context {
                config,
                config_path: config_path.clone(),
                state: state.clone(),
                verbose,
            };
            let engine = build_engine(&ctx, &run_args.rules, true).map_err(|e| format!("{e:#}"))?;
            let cfg = agent_config(&ctx.config, &run_args, &id).map_err(|e| format!("{e:#}"))?;
            Ok((engine, cfg))
        },
    );

    // A rule pack installed while running is picked up like a SIGHUP.
    let reload_when_changed = vec![ctx.state.rules_current()];
    Agent::new(cfg, engine, sink, reloader, control, reload_when_changed)?.run()?;

    let mut r = recorder.lock().unwrap_or_else(|p| p.into_inner());
    r.journal
        .checkpoint()
        .context("writing the final checkpoint")?;
    r.journal.sync().context("flushing the journal")?;
    tracing::info!("agent stopped");
    Ok(0)
}
