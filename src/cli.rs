//! Command-line types (clap derive). Parsing only: no I/O here; the
//! `commands` module turns these flags into configurations.

use crate::output::{ColorChoice, Format};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const SCAN_EXIT_CODES: &str = "\
Exit codes:
  0  every file was fully checked and nothing was found
  1  something was found (a rule or hash-list match, or an archive bomb:
     compression ratio, nesting depth, overlapping zip entries)
  2  nothing was found, but some file could not be fully checked (I/O or
     permission error, too large for YARA, timeout, archive limit) or an
     error stopped the scan
Symlinks, FIFOs, sockets and device nodes are skipped by design: they are
recorded as skips but do not make the exit code 2.
Archives (zip and OOXML/ODF documents, tar, gzip, bzip2, xz, 7z) are opened
and every member is scanned; a finding inside one shows the member chain as
`outer.tar.gz → docs/inner.zip → payload.com`.";

const INSPECT_HELP: &str = "\
Examples:
  kensa inspect /dev/sdb             what is on the stick, without mounting it
  kensa inspect stick.img --json     one JSON object per line (volume, file, problem)

Nothing is mounted and no rule runs: the partition table and each file
system are read in user space by a sandboxed parser process ([disk]
parser_memory, parser_timeout). Files are listed with size, SHA-256 and
their hidden/system attributes; `$mbr` is the gap before the first
partition, `$boot` each volume's boot sector; a volume no reader opens is
listed as one raw blob.

Exit codes:
  0  every volume was read
  2  some part could not be read (a problem line says which) or an error";

const FORWARD_HELP: &str = "\
Examples:
  kensa forward --format ocsf --out /var/spool/siem/kensa.ocsf.jsonl
  kensa forward --format ecs --out - | curl -s -H 'Content-Type: application/x-ndjson' \\
      --data-binary @- http://elastic:9200/kensa/_bulk
  kensa forward --format ocsf --syslog tcp:siem.plant.example:6514

A destination is the format plus where (a file's absolute path, stdout, or
the syslog target): each has its own cursor, the highest seq sent per agent,
moved only after the destination took the events (a file written and
fsynced, stdout flushed, syslog sent). A file is appended to. --all sends
everything held again (the cursor stays where it was or moves on).
Delivery is at least once: events carry stable ids (OCSF metadata.uid, the
ECS bulk _id) for a SIEM to drop a repeat.

Exit codes: 0 sent (or nothing new), 2 error (nothing after the failing
batch was sent; its cursor was not moved).";

/// kensa — inspects USB media and maintenance PCs on closed OT networks.
#[derive(Debug, Parser)]
#[command(name = "kensa", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Where kensa keeps keys, the journal, caches and databases.
    #[arg(long, global = true, value_name = "DIR", env = "KENSA_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Configuration file (TOML). Missing is fine unless named explicitly.
    #[arg(long, global = true, value_name = "FILE", env = "KENSA_CONFIG")]
    pub config: Option<PathBuf>,

    /// More log output from kensa (-v info, -vv debug; dependencies stay at
    /// warn; KENSA_LOG replaces the filter). Logs go to stderr, or to
    /// journald natively when run by systemd.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files and directories: SHA-256, YARA rules and hash lists.
    #[command(after_help = SCAN_EXIT_CODES)]
    Scan(ScanArgs),
    /// Run the agent: scan media as they are mounted and watched
    /// directories as files arrive; journal everything (SIGHUP reloads,
    /// SIGTERM stops).
    Run(RunArgs),
    /// Show the agent's state: whether one is running (its pid), rules,
    /// key, journal head, unexported records, the last medium's verdict and
    /// recent sessions (times in report.timezone). Creates nothing.
    Status(StatusArgs),
    /// Let the running agent's device gate release a held (blocked)
    /// device: an override by a named person, journalled with the note.
    /// The device is then mounted or handed to the automounter as a clean
    /// one would be.
    #[command(
        after_help = "Exit codes: 0 released, 2 error (no agent with the gate, device not held)."
    )]
    Release(ReleaseArgs),
    /// List what is on a disk or disk image (partitions, volumes, every
    /// file with its SHA-256) without mounting it and without rules.
    #[command(after_help = INSPECT_HELP)]
    Inspect(InspectArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List incidents (scan sessions with detections) in the collector store,
    /// or show the findings and triage history behind one.
    Incidents(IncidentsArgs),
    /// Classify an incident under the NISC taxonomy (event and causes), or
    /// mark it a false positive. Every triage is kept; the latest counts.
    Triage(TriageArgs),
    /// The NISC quarterly report: incident count, incidents by event type and
    /// by cause, for the four previous fiscal years and the year's quarters.
    Report(ReportArgs),
    /// List the NISC taxonomy: every event and cause code that `triage`
    /// accepts, with its Japanese and English labels.
    Taxonomy(TaxonomyArgs),
    /// Write the man pages or shell completions, generated from this
    /// command line (the .deb ships them; packaging/ holds copies).
    Generate(GenerateArgs),
    /// Rule sets: check rule files, build, trust and install signed packs.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Create the agent's Ed25519 key pair (minisign format) under <state>/keys.
    Keygen(KeygenArgs),
    /// Write journal records as a signed bundle (for carrying to a collector).
    Export(ExportArgs),
    /// Check bundles: signature, header, seq continuity and hash chain.
    #[command(
        after_help = "Exit codes: 0 every bundle verified, 1 a bundle was refused, 2 error."
    )]
    Verify(VerifyArgs),
    /// Manage the agent keys this collector trusts.
    Trust(TrustArgs),
    /// Import signed bundles into the collector database (<state>/kensa.db,
    /// or the PostgreSQL database of --database / [collector] database).
    #[command(
        after_help = "Exit codes: 0 every bundle imported, 1 a bundle was refused, 2 error."
    )]
    Import(ImportArgs),
    /// Send the collector's findings and scan sessions to a SIEM as OCSF
    /// or ECS events: to a file, stdout or syslog. Each destination keeps
    /// its own cursor in the database, so a re-run sends only what is new.
    #[command(after_help = FORWARD_HELP)]
    Forward(ForwardArgs),
    /// The Windows service (Windows only; on Linux the agent runs under
    /// systemd as kensa.service): install, uninstall, start, stop.
    #[command(subcommand, after_help = SERVICE_HELP)]
    Service(ServiceCommand),
}

const SERVICE_HELP: &str = "\
Windows only. The service `kensa` runs `kensa.exe --config FILE --state-dir DIR
service run` as LocalSystem with automatic start; its log goes to the
Application event log (source kensa). The state folder (default
%ProgramData%\\kensa, which also holds the default kensa.toml) is made
readable by SYSTEM and Administrators only, and the agent refuses to start
when its keys folder lets anyone else in. Needs an elevated prompt.
Exit codes: 0 done, 2 error (not installed, access denied, already running,
did not start or stop in time).";

/// `kensa service ...` (Windows).
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Register the service (automatic start) with this kensa.exe, the
    /// configuration file (when it exists) and the state folder; the state
    /// folder gets the SYSTEM-and-Administrators-only access list.
    Install,
    /// Stop the service if it runs and delete it (the state folder stays).
    Uninstall,
    /// Start the service and wait until the agent runs (at most 120 s).
    Start,
    /// Stop the service and wait until it stopped (at most 30 s).
    Stop,
    /// The entry point the service control manager starts (not for a
    /// console: use `kensa run` there). Stop and shutdown stop the agent
    /// cleanly; `sc control kensa paramchange` reloads it.
    Run,
}

#[derive(Clone, Debug, Default, Args)]
pub struct RunArgs {
    /// Directory under which anything mounted is a medium (repeatable;
    /// replaces the configured media roots).
    #[arg(long = "media-root", value_name = "DIR")]
    pub media_roots: Vec<PathBuf>,

    /// Host directory to watch for new files (repeatable; adds to the
    /// configured ones).
    #[arg(long = "watch", value_name = "DIR")]
    pub watch: Vec<PathBuf>,

    /// Do not scan media that are already mounted at start.
    #[arg(long)]
    pub no_scan_present: bool,

    /// Rule file or directory (repeatable); replaces the default rule set.
    #[arg(long = "rules", short = 'r', value_name = "PATH")]
    pub rules: Vec<PathBuf>,

    /// Per-file read deadline in seconds (replaces `[scan] read_timeout`).
    #[arg(long, value_name = "SECS")]
    pub read_timeout: Option<u64>,

    /// Turn the device gate on (as `[gate] enabled = true`): removable and
    /// USB block devices are held exclusively, so nothing can mount them,
    /// until a scan in user space judges them clean.
    #[arg(long)]
    pub gate: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The held device (`/dev/sdb` or `sdb`), as `kensa status` lists it.
    #[arg(value_name = "DEVICE")]
    pub device: String,

    /// Who releases it (journalled).
    #[arg(long, value_name = "NAME")]
    pub by: String,

    /// Why (journalled).
    #[arg(long, value_name = "TEXT")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A block device (/dev/sdb, /dev/sdb1, /dev/loop3) or a raw disk
    /// image file (.img, .iso, .dd).
    #[arg(value_name = "DEVICE|IMAGE")]
    pub device: PathBuf,

    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,

    /// How many recent sessions to list.
    #[arg(long, default_value_t = 10)]
    pub sessions: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the complete default configuration, commented.
    Default,
    /// Check a configuration file (default: --config): print `ok: FILE`, or
    /// every unknown key and bad value with its line (exit 2).
    Check(ConfigCheckArgs),
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// Print the configuration kensa will use (the file over the
    /// defaults) as TOML instead of `ok: FILE`.
    #[arg(long)]
    pub effective: bool,
}

const RULES_CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  every file compiled
  1  some file did not compile (it is listed with file, line and message)
  2  an error stopped the check";

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Compile rule files and report, per file, errors and warnings.
    #[command(after_help = RULES_CHECK_EXIT_CODES)]
    Check(RulesCheckArgs),
    /// Build a signed rule pack from a directory of rules and hash lists.
    Pack(RulesPackArgs),
    /// Trust a publisher public key (minisign .pub file) for rule packs.
    Trust {
        /// The publisher's minisign public key file.
        #[arg(value_name = "PUBKEY")]
        pubkey: PathBuf,
    },
    /// List the trusted publisher keys.
    ListTrusted,
    /// Verify and install a signed rule pack (copied off the medium first).
    Install {
        /// The pack file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Accept a lower version, or the installed version with other
        /// content (recorded in the install log).
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// Show the installed pack: version, digest, publisher, rule count.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Rule files or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RulesPackArgs {
    /// Directory of YARA rules (.yar, .yara) and hash lists (.hashes, .txt).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Pack version; must be above the version installed on the agents.
    #[arg(long, value_name = "N")]
    pub version: u64,
    /// Publisher secret key from `minisign -G` (password-protected) or
    /// `minisign -G -W` (unencrypted).
    #[arg(long, value_name = "SECRET_KEY")]
    pub key: PathBuf,
    /// File holding the secret key's password (first line); the
    /// KENSA_PACK_PASSWORD environment variable works too.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Where to write the pack.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to write.
    #[arg(value_enum)]
    pub what: Generated,
    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// What `kensa generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generated {
    /// Man pages: kensa.1 and one kensa-COMMAND.1 per command.
    Man,
    /// Completions for bash (kensa), zsh (_kensa) and fish (kensa.fish).
    Completions,
}

#[derive(Debug, Args)]
pub struct TaxonomyArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Replace an existing key pair: the old key signs a journal record
    /// naming the new one (the agent id stays); a lost old key closes the
    /// journal and starts a new one.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Directory to write the bundle and its .minisig into (e.g. a stick).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Export the whole journal instead of what was not exported yet.
    #[arg(long, conflicts_with = "since")]
    pub all: bool,
    /// Export from this seq on.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Bundle files (each with BUNDLE.minisig beside it).
    #[arg(required_unless_present = "journal", value_name = "BUNDLE")]
    pub bundles: Vec<PathBuf>,
    /// Re-verify the agent's whole journal (<state>/journal) from its
    /// first line: every link and every checkpoint signature.
    #[arg(long)]
    pub journal: bool,
    /// The agent's public key (default: <state>/keys/agent.pub).
    #[arg(long, value_name = "KEY.pub")]
    pub pubkey: Option<PathBuf>,
}

/// The collector database of one command; flattened into every collector
/// command (`trust`, `import`, `incidents`, `triage`, `report`).
#[derive(Clone, Debug, Default, Args)]
pub struct DatabaseArgs {
    /// The collector database: a postgresql:// URL (no password in it;
    /// sslmode=disable|prefer|require|verify-full, sslrootcert=FILE).
    /// Default: [collector] database in the config, else <state>/kensa.db.
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// A file whose first line is the PostgreSQL password (owner-only
    /// permissions). Default: [collector] password_file, else PGPASSFILE or
    /// ~/.pgpass.
    #[arg(long, global = true, value_name = "FILE")]
    pub database_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    pub action: TrustAction,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum TrustAction {
    /// Trust an agent's public key (its agent.pub file).
    Add {
        #[arg(value_name = "KEY.pub")]
        key: PathBuf,
        /// A unique name for the agent (e.g. the plant or PC).
        #[arg(long)]
        name: Option<String>,
    },
    /// List trusted keys.
    List,
    /// Stop trusting a key (by agent id or name); imported records stay.
    Remove {
        #[arg(value_name = "ID|NAME")]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Bundle files (each with BUNDLE.minisig beside it; a .minisig given
    /// stands for its bundle) or directories (every kensa-*.jsonl bundle in
    /// them). All are imported in seq order per agent.
    #[arg(required = true, value_name = "BUNDLE|DIR")]
    pub bundles: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("destination").required(true).args(["out", "syslog"]))]
pub struct ForwardArgs {
    /// Event format: ocsf (OCSF 1.8.0) or ecs (Elastic Common Schema,
    /// NDJSON for the bulk API).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: crate::forward::Format,
    /// Append the events to this file (created mode 0640), or write them
    /// to stdout with `-`.
    #[arg(long, short = 'o', value_name = "FILE|-")]
    pub out: Option<PathBuf>,
    /// Send the events as RFC 5424 messages: unix:PATH, tcp:HOST:PORT
    /// (octet-counted framing) or udp:HOST:PORT.
    #[arg(long, value_name = "TARGET")]
    pub syslog: Option<String>,
    /// Send everything held again, not only what this destination has not
    /// had.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Rule file or directory (repeatable); replaces the bundled signatures.
    #[arg(long = "rules", short = 'r', value_name = "PATH")]
    pub rules: Vec<PathBuf>,

    /// Fail (exit 2) when any rule file does not compile.
    #[arg(long)]
    pub strict: bool,

    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,

    /// Files above this size are hashed but not YARA-scanned (e.g. 100M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub max_file_size: Option<u64>,

    /// Per-file YARA timeout in seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,

    /// Per-file read deadline in seconds: a file not read to its end by
    /// then (an endless or hung source) is a `timeout` skip.
    #[arg(long, value_name = "SECS")]
    pub read_timeout: Option<u64>,

    /// Stay on the file system of each path.
    #[arg(long)]
    pub one_file_system: bool,

    /// Scan archives and office documents as plain files, without opening them.
    #[arg(long)]
    pub no_archives: bool,

    /// Deepest archive nesting opened (default 16).
    #[arg(long, value_name = "N")]
    pub archive_max_depth: Option<u32>,

    /// Decompressed bytes allowed per top-level archive, all levels (e.g. 256M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub archive_max_total: Option<u64>,

    /// Largest single archive member scanned (e.g. 100M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub archive_max_member: Option<u64>,

    /// Seconds of decompression allowed per top-level archive.
    #[arg(long, value_name = "SECS")]
    pub archive_max_time: Option<u64>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Not an option: says to use `--format json` (a common guess).
    #[arg(long, hide = true, num_args = 0, default_missing_value = "", value_parser = json_flag)]
    pub json: Option<bool>,

    /// Print only findings on stdout (text format); files not fully checked
    /// and errors still go to stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Colour the verdicts: auto (on a terminal, unless NO_COLOR is set),
    /// always or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Also list skips made by design (symlinks, special files).
    #[arg(long)]
    pub show_all_skips: bool,

    /// No progress display.
    #[arg(long)]
    pub no_progress: bool,

    /// Also append every record to the signed journal in <state>/journal
    /// (run `kensa keygen` first). A finding is printed only once it is on disk.
    #[arg(long)]
    pub journal: bool,

    /// Treat the paths as a removable medium rather than host directories
    /// (affects the default incident classification).
    #[arg(long)]
    pub removable: bool,
}

fn json_flag(_: &str) -> Result<bool, String> {
    Err("there is no --json; use --format json".into())
}

fn parse_size_arg(s: &str) -> Result<u64, crate::config::SizeError> {
    crate::config::parse_size(s)
}

impl ScanArgs {
    /// Applies the flags over options built from the configuration: a
    /// flag, when given, wins.
    pub fn apply(&self, o: &mut crate::engine::ScanOptions) {
        if let Some(t) = self.threads.filter(|&t| t > 0) {
            o.threads = t;
        }
        o.max_file_size = self.max_file_size.unwrap_or(o.max_file_size);
        if let Some(t) = self.timeout {
            o.timeout = std::time::Duration::from_secs(t.max(1));
        }
        if let Some(t) = self.read_timeout {
            o.read_timeout = std::time::Duration::from_secs(t.max(1));
        }
        o.one_file_system |= self.one_file_system;
        if self.no_archives {
            o.archive = None;
        }
        if let Some(l) = o.archive.as_mut() {
            l.max_depth = self.archive_max_depth.unwrap_or(l.max_depth);
            l.max_total_bytes = self.archive_max_total.unwrap_or(l.max_total_bytes);
            l.max_member_size = self.archive_max_member.unwrap_or(l.max_member_size);
            if let Some(s) = self.archive_max_time {
                l.max_time = std::time::Duration::from_secs(s);
            }
        }
    }

    /// The session's location: removable media or host directories.
    pub fn location(&self) -> crate::findings::Location {
        if self.removable {
            crate::findings::Location::Removable
        } else {
            crate::findings::Location::Host
        }
    }
}

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub command: IncidentsCommand,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// One line per incident: id, agent (the name it is trusted under, else
    /// its id), host, medium, time, detections, current event and causes,
    /// triage state; filters combine.
    List(IncidentsListArgs),
    /// The findings behind one incident and its whole triage history.
    Show(IncidentsShowArgs),
}

#[derive(Debug, Args)]
pub struct IncidentsListArgs {
    /// Only incidents nobody has triaged yet (same as --state untriaged).
    #[arg(long, conflicts_with = "state")]
    pub untriaged: bool,
    /// Only incidents in this triage state.
    #[arg(long, value_enum, value_name = "STATE")]
    pub state: Option<crate::collector::incidents::TriageState>,
    /// Only this agent's incidents (an agent id, its prefix, or the name
    /// it is trusted under); an agent the collector does not know is an
    /// error.
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// Only incidents from this date (YYYY-MM-DD, a day in the display time
    /// zone) or RFC 3339 time on.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only incidents up to and including this date (YYYY-MM-DD, the whole
    /// day in the display time zone) or RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only incidents whose current event is this code (`kensa taxonomy`
    /// lists them).
    #[arg(long, value_name = "CODE")]
    pub event: Option<crate::findings::Event>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Time zone for displayed times (IANA name; default: report.timezone
    /// in the config, Asia/Tokyo).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}

#[derive(Debug, Args)]
pub struct IncidentsShowArgs {
    /// Incident id as listed (AGENT/SESSION, either part a prefix), or a
    /// prefix of the session id alone when it is unique (4+ characters).
    pub id: String,
    /// The agent whose incident is meant, when a session id is ambiguous
    /// (an agent id, its prefix, or the name it is trusted under).
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Time zone for displayed times (IANA name; default: report.timezone
    /// in the config, Asia/Tokyo).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("decision").required(true).multiple(true).args(["event", "cause", "false_positive"]))]
pub struct TriageArgs {
    /// Incident id as listed (AGENT/SESSION, either part a prefix), or a
    /// prefix of the session id alone when it is unique (4+ characters).
    pub id: String,
    /// The agent whose incident is meant, when a session id is ambiguous
    /// (an agent id, its prefix, or the name it is trusted under).
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// Event code (precursor, leak, destruction, outage, malware_infection,
    /// code_execution, intrusion, other; `kensa taxonomy` lists them with
    /// their labels). Kept as is when omitted.
    #[arg(long, value_name = "CODE")]
    pub event: Option<crate::findings::Event>,
    /// Cause code; repeat or separate with commas for several (e.g.
    /// contractor_mismanagement, suspicious_file, unknown). Kept when
    /// omitted; when given, the causes listed replace all causes of the
    /// previous decision. `kensa taxonomy` lists every code.
    #[arg(long = "cause", value_name = "CODE", value_delimiter = ',')]
    pub cause: Vec<crate::findings::Cause>,
    /// Free-text note kept with this decision.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Who decided (default: $USER or $LOGNAME, else the system account name).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Not a real incident: leave it out of the report.
    #[arg(long)]
    pub false_positive: bool,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Fiscal year, four digits (FY N runs from 1 April N to 31 March N+1);
    /// not one that has not begun. Default: the fiscal year of the report
    /// date.
    #[arg(long, value_name = "YEAR", value_parser = crate::report::fiscal::parse_fy)]
    pub fy: Option<i32>,
    /// Report date (YYYY-MM-DD); the quarter running then shows its count
    /// so far marked * (provisional), later quarters show —.
    /// Default: today in the report's time zone.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,
    /// Label language: ja or en.
    #[arg(long, value_name = "LANG", default_value = "ja")]
    pub lang: crate::report::Lang,
    /// text, markdown, csv, json or html (one self-contained file).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: crate::report::Format,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// CSV without the UTF-8 byte-order mark (the mark, written by
    /// default, makes Excel read the file as UTF-8; leave it out for tools).
    #[arg(long)]
    pub no_bom: bool,
    /// Time zone for quarter boundaries (IANA name; default: report.timezone
    /// in the config, Asia/Tokyo).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    #[command(flatten)]
    pub db: DatabaseArgs,
}
