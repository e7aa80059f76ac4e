//! The TOML configuration file (`/etc/kensa/kensa.toml` by default, on
//! Windows `kensa.toml` in the state folder `%ProgramData%\kensa`): every
//! option with its default, and the paths kensa uses; the one size syntax
//! (`parse_size`, `format_size`) shared by the file and the command line.
//! Every unknown key and bad value in a file is reported (see `check`), each
//! with its line, column and `[section] key`, in plain words. The effective
//! configuration serializes back to TOML. This module knows nothing of the
//! command line; flags override what it returns.

mod check;

use crate::engine::archive::ArchiveLimits;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The default configuration file (Unix).
pub const DEFAULT_CONFIG: &str = "/etc/kensa/kensa.toml";

/// The default configuration file on this system: [`DEFAULT_CONFIG`], on
/// Windows `kensa.toml` in the default state folder.
pub fn default_config() -> std::io::Result<PathBuf> {
    #[cfg(windows)]
    return Ok(crate::state::default_state_dir()?.join("kensa.toml"));
    #[cfg(not(windows))]
    Ok(PathBuf::from(DEFAULT_CONFIG))
}
/// A configuration file larger than this is refused.
pub const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file: {0}")]
    Read(crate::fsutil::ReadError),
    /// Not TOML at all: reported alone, where the parser stopped.
    #[error("{}:{line}:{column}: {message}", crate::engine::pathfmt::show(path))]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid TOML with unknown keys or bad values: every one of them,
    /// in file order (never empty).
    #[error("{}", invalid_summary(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One unknown key or bad value in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    /// `[section] key`, `[section]` or `[classification.rule #N] key`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.key, self.message
        )
    }
}

impl ConfigError {
    /// One line per problem, each starting `FILE:LINE:COLUMN:` (one line
    /// for a read or syntax error).
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { path, problems } => {
                let file = crate::engine::pathfmt::show(path);
                problems.iter().map(|p| format!("{file}:{p}")).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// The first problem, and how many more there are (one line: logs and
/// `kensa: error:` messages stay single lines).
fn invalid_summary(path: &Path, problems: &[Problem]) -> String {
    let file = crate::engine::pathfmt::show(path);
    let first = problems
        .first()
        .map(|p| format!("{file}:{p}"))
        .unwrap_or_else(|| format!("{file}: invalid"));
    match problems.len() {
        0 | 1 => first,
        n => format!(
            "{first} (and {} more; `kensa --config {file} config check` lists them all)",
            n - 1
        ),
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub scan: ScanConfig,
    pub rules: RulesConfig,
    pub archive: ArchiveConfig,
    pub disk: DiskConfig,
    pub media: MediaConfig,
    pub watch: WatchConfig,
    pub classification: crate::findings::policy::PolicyConfig,
    pub report: ReportConfig,
    pub gate: GateConfig,
    pub collector: CollectorConfig,
    pub syslog: SyslogConfig,
    pub notify: NotifyConfig,
}

/// The `[notify]` section: how the agent tells the person at the machine
/// the verdict on each medium (`crate::notify`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Windows: a message box in the active desktop session (from the
    /// service: `WTSSendMessageW`) besides the log line. No effect on
    /// Linux, where the log line and the journal carry the verdict.
    pub desktop: bool,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig { desktop: true }
    }
}

/// The `[syslog]` section: the agent sends each finding, once journalled,
/// to a local syslog socket as an RFC 5424 message (`crate::forward::syslog`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    pub enabled: bool,
    /// The Unix socket (datagram or stream) of the local syslog daemon.
    pub socket: SyslogSocket,
    pub facility: crate::forward::syslog::Facility,
}

/// The agent's syslog socket: an absolute path, written as it is or as
/// `unix:PATH`. Network destinations are refused: the agent's service has
/// no network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogSocket(pub PathBuf);

impl Default for SyslogSocket {
    fn default() -> Self {
        SyslogSocket(PathBuf::from("/dev/log"))
    }
}

impl SyslogSocket {
    /// The socket named by `s`, or why it cannot be the agent's.
    pub fn parse(s: &str) -> Result<SyslogSocket, String> {
        if s.starts_with("tcp:") || s.starts_with("udp:") {
            return Err(format!(
                "the agent sends to a local Unix socket only, such as \"/dev/log\": its \
                 service has no network (PrivateNetwork=yes, RestrictAddressFamilies=AF_UNIX \
                 AF_NETLINK); let the local syslog daemon relay, or send from the collector \
                 with `kensa forward --syslog {}`",
                s.chars().take(60).collect::<String>()
            ));
        }
        let text = match s.strip_prefix("unix:") {
            Some(_) => s.to_string(),
            None => format!("unix:{s}"),
        };
        match text.parse::<crate::forward::syslog::Target>() {
            Ok(crate::forward::syslog::Target::Unix(p)) if p.is_absolute() => Ok(SyslogSocket(p)),
            Ok(_) => Err(format!(
                "the socket path {:?} must be absolute, such as \"/dev/log\"",
                s.chars().take(60).collect::<String>()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for SyslogSocket {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SyslogSocket::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SyslogSocket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string_lossy())
    }
}

/// The `[collector]` section: which database the collector commands
/// (`trust`, `import`, `incidents`, `triage`, `report`) use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// A `postgresql://` URL (no password in it); unset: the SQLite file
    /// `<state>/kensa.db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// A file holding the PostgreSQL password (first line; readable by its
    /// owner only); unset: `PGPASSFILE` or `~/.pgpass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// The `[gate]` section: hold removable block devices exclusively until
/// they are scanned in user space (see `crate::gate`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Gate devices (also `kensa run --gate`).
    pub enabled: bool,
    /// Globs (`*`, `?`) on the kernel name (`sdb`, `loop3`) of further
    /// block devices to gate besides removable and USB ones.
    pub devices: Vec<String>,
    /// Mount a clean medium read-only (nosuid,nodev,noexec) below
    /// `media_root` instead of handing it to the desktop's automounter.
    pub mount: bool,
    /// Where `mount = true` mounts clean media.
    pub media_root: PathBuf,
    /// On stop, keep blocked devices unusable (USB: deauthorised) instead
    /// of releasing them.
    pub keep_blocked_on_stop: bool,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            enabled: false,
            devices: Vec::new(),
            mount: false,
            media_root: PathBuf::from("/media/kensa"),
            keep_blocked_on_stop: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// IANA time zone in which fiscal quarters begin and end.
    pub timezone: String,
    /// The organisation named in the HTML report's header.
    pub organisation: Option<String>,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            timezone: "Asia/Tokyo".to_string(),
            organisation: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Anything mounted below these directories is a medium.
    pub roots: Vec<PathBuf>,
    /// File systems that make a mount a medium wherever it is mounted
    /// (system mounts such as /boot/efi never; generic FUSE mounts only
    /// below a media root).
    pub filesystems: Vec<String>,
    /// Scan media already mounted when the agent starts.
    pub scan_present: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            roots: crate::media::DEFAULT_ROOTS
                .iter()
                .map(PathBuf::from)
                .collect(),
            filesystems: crate::media::REMOVABLE_FILESYSTEMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            scan_present: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// Host directories watched for new or changed files.
    pub paths: Vec<PathBuf>,
    /// Milliseconds without writes before changed files are scanned.
    pub settle_ms: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            paths: Vec::new(),
            settle_ms: 1000,
        }
    }
}

/// The complete default configuration, commented; `kensa config default`
/// prints it and a test keeps it equal to `Config::default()`.
pub const DEFAULT_CONFIG_TEXT: &str = include_str!("../packaging/kensa.toml");

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Files above this size are hashed but not YARA-scanned (`100M`, `1G`, bytes).
    pub max_file_size: Size,
    /// Bytes of large files held in memory at once across all workers.
    pub buffer_budget: Size,
    /// Per-file YARA timeout in seconds.
    pub timeout: u64,
    /// Per-file read deadline in seconds (endless or hung sources).
    pub read_timeout: u64,
    /// Stay on the file system of each scanned root.
    pub one_file_system: bool,
    /// Entries read from one directory before the rest is a gap.
    pub max_dir_entries: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            threads: 0,
            max_file_size: Size(crate::engine::DEFAULT_MAX_FILE_SIZE),
            buffer_budget: Size(crate::engine::DEFAULT_BUFFER_BUDGET),
            timeout: crate::engine::DEFAULT_TIMEOUT.as_secs(),
            read_timeout: crate::engine::DEFAULT_READ_TIMEOUT.as_secs(),
            one_file_system: false,
            max_dir_entries: crate::engine::DEFAULT_MAX_DIR_ENTRIES,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// The bundled signatures directory (default: installed location, then
    /// beside the binary, then the source tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signatures: Option<PathBuf>,
    /// Extra rule files or directories, each in its own namespace.
    pub extra: Vec<PathBuf>,
    /// Refuse to run when any rule file fails to compile.
    pub strict: bool,
}

/// The `[archive]` section: recursion into containers and its limits
/// (see `engine::archive::ArchiveLimits` for what each one means and why
/// the defaults are what they are).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Open archives and office documents and scan their members.
    pub enabled: bool,
    pub max_depth: u32,
    pub max_members: u64,
    /// Decompressed bytes per top-level file, all levels together.
    pub max_total_size: Size,
    pub max_member_size: Size,
    pub max_ratio: u64,
    /// Output a member or file must reach before its ratio is judged.
    pub ratio_min_size: Size,
    /// Seconds of decompression per top-level file.
    pub max_time: u64,
    /// A container kensa recognises but cannot open (RAR, Inno Setup, a
    /// compression method without a decoder): `"gap"` (default) records an
    /// `unsupported_container` skip, so the verdict is never CLEAN for
    /// content not seen; `"ignore"` records nothing (the session says so).
    pub unsupported: crate::engine::archive::UnsupportedPolicy,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        let l = ArchiveLimits::default();
        ArchiveConfig {
            enabled: true,
            max_depth: l.max_depth,
            max_members: l.max_members,
            max_total_size: Size(l.max_total_bytes),
            max_member_size: Size(l.max_member_size),
            max_ratio: l.max_ratio,
            ratio_min_size: Size(l.ratio_min_bytes),
            max_time: l.max_time.as_secs(),
            unsupported: crate::engine::archive::UnsupportedPolicy::Gap,
        }
    }
}

impl ArchiveConfig {
    /// The limits this section describes; `None` when archives are off.
    pub fn limits(&self) -> Option<ArchiveLimits> {
        self.enabled.then(|| ArchiveLimits {
            max_depth: self.max_depth,
            max_members: self.max_members,
            max_total_bytes: self.max_total_size.0,
            max_member_size: self.max_member_size.0,
            max_ratio: self.max_ratio,
            ratio_min_bytes: self.ratio_min_size.0,
            max_time: std::time::Duration::from_secs(self.max_time),
        })
    }
}

/// The `[disk]` section: the sandboxed parser that reads disks and disk
/// images in user space (see `disk::sandbox`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Address-space limit of each parser process.
    pub parser_memory: Size,
    /// Seconds a parser may send nothing before it is killed.
    pub parser_timeout: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            parser_memory: Size(crate::disk::DEFAULT_PARSER_MEMORY),
            parser_timeout: crate::disk::DEFAULT_PARSER_TIMEOUT.as_secs(),
        }
    }
}

impl DiskConfig {
    /// The options this section describes.
    pub fn options(&self) -> crate::disk::DiskOptions {
        crate::disk::DiskOptions {
            parser_memory: self.parser_memory.0,
            parser_timeout: std::time::Duration::from_secs(self.parser_timeout.max(1)),
            ..crate::disk::DiskOptions::default()
        }
    }
}

/// A byte size: a whole number of bytes, or a string in the size syntax
/// (`parse_size`); written back as `format_size` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::N(n)) => Ok(Size(n)),
            Ok(Raw::S(s)) => parse_size(&s).map(Size).map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom(format!(
                "expected a size such as {SIZE_EXAMPLES}"
            ))),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

/// The accepted size forms, as messages and documents list them.
pub const SIZE_EXAMPLES: &str = "123, 64K, 10M, 10 MB, 10MiB, 2G or 1T";

/// Why a size is refused; the message lists the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error(
        "invalid size {0:?}: expected a whole number of bytes with an optional unit, \
         such as {SIZE_EXAMPLES} (units K, M, G, T, also written KB/KiB, MB/MiB, ...; \
         binary: 1K = 1024 bytes; any case, a space allowed before the unit)"
    )]
    Invalid(String),
    #[error("invalid size {0:?}: larger than 2^64 - 1 bytes")]
    TooLarge(String),
}

/// Units of the size syntax, largest first.
const SIZE_UNITS: [(&str, u32); 4] = [("T", 40), ("G", 30), ("M", 20), ("K", 10)];

/// Parses a size, the one way for the config file and the command line:
/// digits, then optionally spaces and a unit `K`, `M`, `G` or `T` (also
/// `KB`/`KiB`, ..., and `B` for bytes), any case; binary units (1K = 1024).
/// Everything else (`1.5G`, `-5`, `10 mb bytes`, an empty text) is refused.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let shown: String = s.chars().take(40).collect();
    let invalid = || SizeError::Invalid(shown.clone());
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(invalid());
    }
    let n: u64 = num
        .parse()
        .map_err(|_| SizeError::TooLarge(shown.clone()))?;
    let unit = unit.trim_start().to_ascii_uppercase();
    let shift = match unit.as_str() {
        "" | "B" => 0,
        u => {
            let (letter, rest) = u.split_at(1.min(u.len()));
            let shift = SIZE_UNITS
                .iter()
                .find(|(l, _)| *l == letter)
                .map(|(_, sh)| *sh)
                .ok_or_else(invalid)?;
            if !matches!(rest, "" | "B" | "IB") {
                return Err(invalid());
            }
            shift
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or(SizeError::TooLarge(shown))
}

/// A size in the syntax `parse_size` reads: the largest unit that divides
/// it exactly (`100M`, `64K`), else the number of bytes.
pub fn format_size(n: u64) -> String {
    if n == 0 {
        return "0".into();
    }
    for (letter, shift) in SIZE_UNITS {
        if n.trailing_zeros() >= shift {
            return format!("{}{letter}", n >> shift);
        }
    }
    n.to_string()
}

impl Config {
    /// The scan options this configuration describes (flags may then
    /// override them).
    pub fn scan_options(&self) -> crate::engine::ScanOptions {
        let c = &self.scan;
        let mut o = crate::engine::ScanOptions::default();
        if c.threads > 0 {
            o.threads = c.threads;
        }
        o.max_file_size = c.max_file_size.0;
        o.buffer_budget = c.buffer_budget.0;
        o.timeout = std::time::Duration::from_secs(c.timeout.max(1));
        o.read_timeout = std::time::Duration::from_secs(c.read_timeout.max(1));
        o.one_file_system = c.one_file_system;
        o.max_dir_entries = c.max_dir_entries.max(1);
        o.archive = self.archive.limits();
        o.unsupported = self.archive.unsupported;
        o.disk = self.disk.options();
        o
    }

    /// Loads `path`. A missing file is an error only when `required`
    /// (named explicitly on the command line).
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match crate::fsutil::read_capped_text(path, MAX_CONFIG_SIZE) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.is_not_found() && !required => Ok(Config::default()),
            Err(e) => Err(ConfigError::Read(e)),
        }
    }

    /// Parses configuration text; `path` only names it in errors. A
    /// syntax error is reported alone; otherwise every unknown key and bad
    /// value is (`ConfigError::Invalid`).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| {
            let (line, column) = e
                .span()
                .map(|sp| line_col(text, sp.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim_end().to_string(),
            }
        };
        let doc = toml::de::DeTable::parse(text).map_err(syntax)?;
        let mut problems: Vec<Problem> = check::check(doc.get_ref())
            .into_iter()
            .map(|f| {
                let (line, column) = line_col(text, f.span.start);
                Problem {
                    line,
                    column,
                    key: f.key,
                    message: f.message,
                }
            })
            .collect();
        if !problems.is_empty() {
            problems.sort_by_key(|p| (p.line, p.column));
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            });
        }
        // Every key passed on its own; the whole must then deserialize.
        toml::from_str::<Config>(text).map_err(syntax)
    }

    /// This configuration as a TOML document that `parse` reads back to
    /// the same configuration (sizes in the size syntax).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map(|i| before.len() - i)
        .unwrap_or(before.len() + 1);
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        for (text, n) in [
            ("100M", 100 << 20),
            ("64k", 64 << 10),
            ("12", 12),
            ("123B", 123),
            ("2GiB", 2 << 30),
            ("10 MB", 10 << 20),
            ("10MiB", 10 << 20),
            ("1T", 1 << 40),
            (" 7 kib ", 7 << 10),
        ] {
            assert_eq!(parse_size(text), Ok(n), "{text}");
        }
        for bad in [
            "ten",
            "5X",
            "1.5G",
            "-5",
            "10 mb bytes",
            "",
            "M",
            "10MiBB",
            "1e3",
        ] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(e.contains("10 MB, 10MiB"), "{bad}: {e}");
        }
        assert!(matches!(
            parse_size("99999999999999999999"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse_size("20000000T"),
            Err(SizeError::TooLarge(_))
        ));
    }

    #[test]
    fn sizes_format_back() {
        for n in [
            0,
            1,
            1000,
            1024,
            100 << 20,
            3 << 30,
            5 << 40,
            u64::MAX,
            (1 << 20) + 1,
        ] {
            assert_eq!(parse_size(&format_size(n)), Ok(n), "{n}");
        }
        assert_eq!(format_size(100 << 20), "100M");
        assert_eq!(format_size(64 << 10), "64K");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn every_problem_is_listed() {
        let text = "[scan]\nthreads = \"x\"\nbogus = 1\n[archive]\nmax_depth = -1\n";
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(text, Path::new("k")) else {
            panic!("invalid")
        };
        let lines: Vec<_> = problems.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(
            lines,
            [
                (2, "[scan] threads"),
                (3, "[scan] bogus"),
                (5, "[archive] max_depth")
            ]
        );
        assert!(
            problems[0].message.contains("a whole number"),
            "{problems:?}"
        );
    }

    #[test]
    fn effective_toml_reads_back() {
        let text = "[scan]\nmax_file_size = \"10 MB\"\n[rules]\nsignatures = \"/s\"\n\
                    [classification]\nhost = \"precursor\"\n[[classification.rule]]\n\
                    label = \"V*\"\ncauses = [\"unknown\"]\n";
        let c = Config::parse(text, Path::new("k")).unwrap();
        let back = Config::parse(&c.to_toml().unwrap(), Path::new("e")).unwrap();
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
        let d = Config::default();
        let back = Config::parse(&d.to_toml().unwrap(), Path::new("e")).unwrap();
        assert_eq!(format!("{back:?}"), format!("{d:?}"));
    }

    #[test]
    fn unknown_key_names_line() {
        let err =
            Config::parse("[scan]\nthreads = 2\nbogus = 1\n", Path::new("k.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("k.toml:3:"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn gate_section_is_checked_key_by_key() {
        let text = "[gate]\nenabled = \"yes\"\ndevices = [\"loop*\"]\nbogus = 1\n";
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(text, Path::new("k")) else {
            panic!("invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(keys, [(2, "[gate] enabled"), (4, "[gate] bogus")]);
        assert!(
            problems[0].message.contains("true or false"),
            "{problems:?}"
        );
        let c = Config::parse("[gate]\nenabled = true\nmount = true\n", Path::new("k")).unwrap();
        assert!(c.gate.enabled && c.gate.mount);
        assert_eq!(c.gate.media_root, PathBuf::from("/media/kensa"));
    }

    #[test]
    fn syslog_section_takes_a_unix_socket_only() {
        let c = Config::parse(
            "[syslog]\nenabled = true\nsocket = \"unix:/run/kensa-syslog.sock\"\nfacility = \"local3\"\n",
            Path::new("k"),
        )
        .unwrap();
        assert!(c.syslog.enabled);
        assert_eq!(c.syslog.socket.0, PathBuf::from("/run/kensa-syslog.sock"));
        assert_eq!(c.syslog.facility, crate::forward::syslog::Facility::Local3);
        assert_eq!(Config::default().syslog.socket.0, PathBuf::from("/dev/log"));
        let back = Config::parse(&c.to_toml().unwrap(), Path::new("k")).unwrap();
        assert_eq!(back.syslog, c.syslog);

        let text = "[syslog]\nsocket = \"tcp:siem:514\"\nfacility = \"security\"\n\
                    enabled = \"yes\"\n";
        let Err(ConfigError::Invalid { problems, .. }) = Config::parse(text, Path::new("k")) else {
            panic!("invalid");
        };
        let got: Vec<(usize, &str)> = problems.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "[syslog] socket"),
                (3, "[syslog] facility"),
                (4, "[syslog] enabled")
            ]
        );
        assert!(problems[0].message.contains("no network"), "{problems:?}");
        assert!(problems[0]
            .message
            .contains("kensa forward --syslog tcp:siem:514"));
        assert!(problems[1].message.contains("local7"), "{problems:?}");
        for (bad, says) in [
            ("relative.sock", "must be absolute"),
            ("unix:", "no socket path"),
            ("file:/x", "must be absolute"),
        ] {
            let e = Config::parse(&format!("[syslog]\nsocket = \"{bad}\"\n"), Path::new("k"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = Config::parse("[syslog]\nsocket = 5\n", Path::new("k"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a Unix socket path in quotes"), "{e}");
    }

    #[test]
    fn default_text_matches_defaults() {
        let c = Config::parse(DEFAULT_CONFIG_TEXT, Path::new("kensa.toml")).unwrap();
        assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn values_parse() {
        let c = Config::parse(
            "[scan]\nmax_file_size = \"1M\"\ntimeout = 5\nread_timeout = 7\n",
            Path::new("k"),
        )
        .unwrap();
        assert_eq!(c.scan.max_file_size, Size(1 << 20));
        assert_eq!(c.scan.timeout, 5);
        assert_eq!(c.scan_options().read_timeout.as_secs(), 7);
    }

    #[test]
    fn disk_section() {
        let c = Config::parse(
            "[disk]\nparser_memory = \"64M\"\nparser_timeout = 2\n",
            Path::new("k.toml"),
        )
        .unwrap();
        let o = c.disk.options();
        assert_eq!(o.parser_memory, 64 << 20);
        assert_eq!(o.parser_timeout, std::time::Duration::from_secs(2));
        let d = Config::default().disk.options();
        assert_eq!(d.parser_memory, 512 << 20);
        assert_eq!(d.parser_timeout, std::time::Duration::from_secs(60));
    }

    #[test]
    fn archive_section() {
        let c = Config::parse(
            "[archive]\nmax_depth = 3\nmax_total_size = \"10M\"\n",
            Path::new("k"),
        )
        .unwrap();
        let l = c.archive.limits().unwrap();
        assert_eq!(l.max_depth, 3);
        assert_eq!(l.max_total_bytes, 10 << 20);
        assert_eq!(l.max_member_size, ArchiveLimits::default().max_member_size);
        assert_eq!(
            Config::default().archive.limits(),
            Some(ArchiveLimits::default())
        );
        let off = Config::parse("[archive]\nenabled = false\n", Path::new("k")).unwrap();
        assert_eq!(off.archive.limits(), None);
        assert!(Config::parse("[archive]\nmax_dpth = 3\n", Path::new("k")).is_err());
    }
}
