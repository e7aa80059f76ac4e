//! `kensa run`: the agent as a service. Loads (or on first start creates)
//! the agent key, opens the journal, builds the engine from configuration
//! and hands everything to [`crate::agent::Agent`]. SIGTERM/SIGINT stop it
//! cleanly (exit 0); SIGHUP reloads configuration and rules, and so does a
//! newly installed rule pack. The Windows service runs the same
//! [`run_agent`] with the SCM's Stop and ParamChange in place of signals;
//! on Windows the keys folder's access list is checked first
//! (`state::windows::check_agent_state`).

use super::Context;
use crate::agent::{Agent, Control, Overrides, Setup};
use crate::cli::RunArgs;
use crate::engine::pathfmt;
use crate::engine::RecordSink;
use crate::findings::Record;
use crate::forward::syslog::{LiveSink, Target};
use crate::journal::Journal;
use anyhow::Context as _;
use std::sync::{Arc, Mutex};

/// The journal as the agent's sink: every record is appended (findings
/// durably) before anything else happens with it; then the syslog sink,
/// when configured, sees it.
struct JournalRecorder {
    journal: Journal,
    syslog: Option<LiveSink>,
}

impl RecordSink for JournalRecorder {
    fn record(&mut self, rec: Record) -> std::io::Result<()> {
        self.journal
            .append(&rec)
            .map_err(|e| std::io::Error::other(format!("journal: {e}")))?;
        if let Some(s) = &mut self.syslog {
            s.record(&rec);
        }
        Ok(())
    }

    fn flush_queued(&mut self) -> std::io::Result<u64> {
        self.journal
            .drain_inbox()
            .map(|n| n as u64)
            .map_err(|e| std::io::Error::other(format!("journal: {e}")))
    }
}

pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<u8> {
    let control = Control::default();
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, control.terminate.clone())
            .context("installing signal handlers")?;
    }
    #[cfg(unix)]
    signal_hook::flag::register(signal_hook::consts::SIGHUP, control.reload.clone())
        .context("installing signal handlers")?;
    run_agent(ctx, args, control, &|| {})
}

/// The agent until `control` says stop: `kensa run` (signals) and the
/// Windows service (`kensa service run`, the SCM's controls) both come
/// here; `ready` is called once the agent set up and runs.
pub fn run_agent(
    ctx: &Context,
    args: &RunArgs,
    control: Control,
    ready: &dyn Fn(),
) -> anyhow::Result<u8> {
    let state = &ctx.state;
    let root = crate::engine::pathfmt::show(state.root());
    state
        .create()
        .with_context(|| format!("creating the state directory {root}"))?;
    let (key, created) = crate::keys::load_or_create(state).context("loading the agent key")?;
    if created {
        tracing::info!(agent = %key.key_id_hex(), "created the agent key on first start");
    }
    #[cfg(windows)]
    crate::state::windows::check_agent_state(state)?;
    let dir = state.journal_dir();
    let journal = Journal::open(&dir, &key)
        .with_context(|| format!("opening the journal {}", pathfmt::show(&dir)))?;
    let agent_id = journal.agent().to_string();
    let syslog = start_syslog(&ctx.config.syslog, &agent_id)?;
    let recorder = Arc::new(Mutex::new(JournalRecorder { journal, syslog }));

    let setup = Setup {
        config_path: ctx.config_path.clone(),
        config_required: ctx.config_path.exists(),
        state: state.clone(),
        overrides: Overrides {
            media_roots: super::absolute_all(&args.media_roots)?,
            watch: super::absolute_all(&args.watch)?,
            no_scan_present: args.no_scan_present,
            rules: super::absolute_all(&args.rules)?,
            read_timeout: args
                .read_timeout
                .map(|t| std::time::Duration::from_secs(t.max(1))),
            gate: args.gate,
        },
        agent_id,
    };
    let built = setup.build(&ctx.config, ctx.config.rules.strict)?;
    let agent = Agent::new(setup, built, recorder.clone(), control)?;
    ready();
    agent.run()?;

    let mut r = recorder.lock().unwrap_or_else(|p| p.into_inner());
    r.journal
        .checkpoint()
        .context("writing the final checkpoint")?;
    r.journal.sync().context("flushing the journal")?;
    if let Some(s) = &mut r.syslog {
        s.stop();
    }
    tracing::info!("agent stopped");
    Ok(0)
}

/// The live syslog sink when `[syslog]` is on (read at start only).
fn start_syslog(
    cfg: &crate::config::SyslogConfig,
    agent: &str,
) -> anyhow::Result<Option<LiveSink>> {
    if !cfg.enabled {
        return Ok(None);
    }
    let target = Target::Unix(cfg.socket.0.clone());
    let sink = LiveSink::start(target, cfg.facility, agent)
        .context("starting the syslog sender thread")?;
    Ok(Some(sink))
}
