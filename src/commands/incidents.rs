//! `kensa incidents list|show`: the incidents in the collector store
//! (`<state>/kensa.db`), one line each, or one incident's findings and
//! triage history. Also holds the store-opening helper the triage and
//! report commands share: on an agent (a state directory with
//! `keys/agent.key` and `journal/`) it first brings the store up to date
//! with the agent's own journal, so those commands work there without an
//! export and import.

use super::Context;
use crate::cli::{IncidentsArgs, IncidentsCommand, IncidentsListArgs, IncidentsShowArgs};
use crate::collector::incidents::{self, Filter, Incident, IncidentDetail, TriageEntry};
use crate::collector::{ImportError, Store};
use crate::journal::JournalError;
use crate::output::{sanitize, Format};
use anyhow::Context as _;
use std::io::Write;
use std::time::Duration;

/// Tries to import the agent's journal while the running agent may be
/// writing its last line (a torn tail) this many times, this far apart.
const TORN_RETRIES: u32 = 5;
const TORN_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Opens the collector store. On an agent it is created if missing and
/// first brought up to date with the agent's own journal; elsewhere it must
/// exist (created by `kensa import`).
pub fn open_store(ctx: &Context) -> anyhow::Result<Store> {
    let path = ctx.state.database();
    let agent = ctx.state.is_agent();
    if !agent && !path.is_file() {
        anyhow::bail!(
            "no collector database at {}: import findings first (kensa import), or pass --state-dir",
            path.display()
        );
    }
    let mut store = Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    if agent {
        import_own_journal(ctx, &mut store)?;
    }
    Ok(store)
}

/// On an agent, imports the records of its own journal that the store
/// does not hold yet (continuing from the highest seq held; the chain and
/// the agent id are checked as it is read). A journal that does not check
/// out is an error. A last line the running agent is still writing is
/// waited for briefly, then left for next time.
fn import_own_journal(ctx: &Context, store: &mut Store) -> anyhow::Result<()> {
    let dir = ctx.state.journal_dir();
    let pk_path = ctx.state.public_key();
    let agent = crate::keys::PublicKey::load(&pk_path)
        .with_context(|| format!("loading the agent's public key {}", pk_path.display()))?
        .key_id_hex();
    let mut attempt = 0;
    loop {
        match crate::collector::import_journal(store, &dir, &agent) {
            Ok(o) => {
                if o.added > 0 {
                    tracing::info!(
                        agent = %agent,
                        "imported seq {}-{} of this agent's journal ({} new records)",
                        o.from,
                        o.to,
                        o.added
                    );
                }
                return Ok(());
            }
            Err(ImportError::Journal(JournalError::TornTail { .. })) if attempt < TORN_RETRIES => {
                attempt += 1;
                std::thread::sleep(TORN_RETRY_DELAY);
            }
            Err(ImportError::Journal(e @ JournalError::TornTail { .. })) => {
                eprintln!(
                    "kensa: warning: the newest journal line is incomplete (still being written, or torn by a crash, which the agent's next start recovers) and was not imported: {e}"
                );
                return Ok(());
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "importing this agent's journal {} into {}",
                        dir.display(),
                        ctx.state.database().display()
                    )
                })
            }
        }
    }
}

/// Parses an IANA time-zone name.
pub fn parse_tz(name: &str) -> anyhow::Result<chrono_tz::Tz> {
    name.parse::<chrono_tz::Tz>().map_err(|e| {
        anyhow::anyhow!("unknown time zone {name:?} (use an IANA name such as Asia/Tokyo): {e}")
    })
}

pub fn run(ctx: &Context, args: IncidentsArgs) -> anyhow::Result<u8> {
    match args.command {
        IncidentsCommand::List(a) => list(ctx, a),
        IncidentsCommand::Show(a) => show(ctx, a),
    }
}

fn local_time(rfc3339: &str, tz: &chrono_tz::Tz) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| sanitize(rfc3339).into_owned())
}

fn causes_text(causes: &[crate::findings::Cause]) -> String {
    causes
        .iter()
        .map(|c| c.slug())
        .collect::<Vec<_>>()
        .join(",")
}

fn state(i: &Incident) -> &'static str {
    match &i.triage {
        None => "untriaged",
        Some(t) if t.false_positive => "false-positive",
        Some(_) => "triaged",
    }
}

/// One line of `incidents list --format json`: the incident plus what
/// counts now and its triage state.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    #[serde(flatten)]
    incident: &'a Incident,
    current: crate::findings::Classification,
    state: &'static str,
}

fn list(ctx: &Context, a: IncidentsListArgs) -> anyhow::Result<u8> {
    let tz = parse_tz(a.tz.as_deref().unwrap_or(&ctx.config.report.timezone))?;
    let store = open_store(ctx)?;
    let filter = Filter {
        untriaged: a.untriaged,
        agent: a.agent,
        ..Filter::default()
    };
    let list = incidents::list(&store, &filter).context("listing incidents")?;
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            for i in &list {
                let row = JsonRow {
                    incident: i,
                    current: i.current(),
                    state: state(i),
                };
                serde_json::to_writer(&mut out, &row)?;
                writeln!(out)?;
            }
        }
        Format::Text => list_text(&mut out, &list, &tz)?,
    }
    Ok(0)
}

/// The list as a table, one incident a line, and a count.
fn list_text(out: &mut impl Write, list: &[Incident], tz: &chrono_tz::Tz) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<14} {:<12} {:<12} {:<24} {:<16} {:>4}  {:<18} {:<28} STATE",
        "ID",
        "AGENT",
        "HOST",
        "MEDIUM",
        format!("TIME ({})", tz.name())
            .chars()
            .take(16)
            .collect::<String>(),
        "DET",
        "EVENT",
        "CAUSES"
    )?;
    for i in list {
        let c = i.current();
        writeln!(
            out,
            "{:<14} {:<12} {:<12} {:<24} {:<16} {:>4}  {:<18} {:<28} {}",
            i.id,
            sanitize(&i.agent),
            sanitize(i.host.as_deref().unwrap_or("-")),
            sanitize(&i.medium_text()),
            local_time(&i.time, tz),
            i.detections,
            c.event.slug(),
            causes_text(&c.causes),
            state(i)
        )?;
    }
    let untriaged = list.iter().filter(|i| !i.is_triaged()).count();
    writeln!(out, "{} incident(s), {untriaged} untriaged", list.len())
}

fn write_entry(out: &mut impl Write, n: usize, t: &TriageEntry) -> std::io::Result<()> {
    writeln!(
        out,
        "  #{n} {} by {}: {} / {}{}",
        t.time,
        sanitize(&t.by),
        t.event.slug(),
        causes_text(&t.causes),
        if t.false_positive {
            " (false positive)"
        } else {
            ""
        }
    )?;
    if let Some(note) = &t.note {
        writeln!(out, "     note: {}", sanitize(note))?;
    }
    Ok(())
}

fn show(ctx: &Context, a: IncidentsShowArgs) -> anyhow::Result<u8> {
    let store = open_store(ctx)?;
    let d: IncidentDetail =
        incidents::show(&store, &a.id).with_context(|| format!("incident {}", a.id))?;
    let mut out = std::io::stdout().lock();
    if a.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &d)?;
        writeln!(out)?;
        return Ok(0);
    }
    show_text(&mut out, &d)?;
    Ok(0)
}

/// One incident as text: its facts, findings and triage history.
fn show_text(out: &mut impl Write, d: &IncidentDetail) -> std::io::Result<()> {
    let i = &d.incident;
    writeln!(out, "incident {}  ({})", i.id, state(i))?;
    writeln!(out, "  agent    {}", sanitize(&i.agent))?;
    writeln!(out, "  session  {}", sanitize(&i.session))?;
    writeln!(
        out,
        "  host     {}",
        sanitize(i.host.as_deref().unwrap_or("-"))
    )?;
    writeln!(out, "  medium   {}", sanitize(&i.medium_text()))?;
    writeln!(out, "  time     {}", sanitize(&i.time))?;
    writeln!(
        out,
        "  automatic {} / {}",
        i.automatic.event.slug(),
        causes_text(&i.automatic.causes)
    )?;
    let c = i.current();
    writeln!(
        out,
        "  current   {} / {}",
        c.event.slug(),
        causes_text(&c.causes)
    )?;
    writeln!(out, "findings ({}):", d.findings.len())?;
    for f in &d.findings {
        let rules: Vec<String> = f
            .matches
            .iter()
            .map(|m| format!("{}:{}", m.kind, sanitize(&m.rule)))
            .collect();
        writeln!(
            out,
            "  {:?} {}  sha256 {}  [{}]",
            f.verdict,
            sanitize(&f.path),
            f.sha256,
            rules.join(", ")
        )?;
    }
    writeln!(out, "triage history ({}):", d.history.len())?;
    for (n, t) in d.history.iter().enumerate() {
        write_entry(out, n + 1, t)?;
    }
    Ok(())
}
