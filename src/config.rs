//! The TOML configuration file (`/etc/kensa/kensa.toml` by default): every
//! option with its default, and the paths kensa uses. Unknown keys are
//! errors that name the file, line and what was expected. This module knows
//! nothing of the command line; flags override what it returns.

use crate::engine::archive::ArchiveLimits;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/kensa/kensa.toml";
/// A configuration file larger than this is refused.
pub const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file: {0}")]
    Read(crate::fsutil::ReadError),
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub scan: ScanConfig,
    pub rules: RulesConfig,
    pub archive: ArchiveConfig,
    pub media: MediaConfig,
    pub watch: WatchConfig,
    pub classification: crate::findings::policy::PolicyConfig,
    pub report: ReportConfig,
}

#[derive(Clone, Debug, Deserialize)]
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

#[derive(Clone, Debug, Deserialize)]
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

#[derive(Clone, Debug, Deserialize)]
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

#[derive(Clone, Debug, Deserialize)]
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

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// The bundled signatures directory (default: installed location, then
    /// beside the binary, then the source tree).
    pub signatures: Option<PathBuf>,
    /// Extra rule files or directories, each in its own namespace.
    pub extra: Vec<PathBuf>,
    /// Refuse to run when any rule file fails to compile.
    pub strict: bool,
}

/// The `[archive]` section: recursion into containers and its limits
/// (see `engine::archive::ArchiveLimits` for what each one means and why
/// the defaults are what they are).
#[derive(Clone, Debug, PartialEq, Deserialize)]
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

/// A byte size written as a number or a string with a K/M/G/T suffix.
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
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => parse_size(&s).map(Size).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `123`, `64K`, `100M`, `2G`, `1T` (binary units; `KiB`/`MB` forms accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid size {s:?}: expected a number with an optional K, M, G or T suffix")
    })?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {s:?}: use K, M, G or T"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
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

    /// Parses configuration text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config = toml::from_str::<Config>(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|sp| line_col(text, sp.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        config
            .classification
            .validate()
            .map_err(|e| invalid(format!("[classification]: {e}")))?;
        if config.report.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid(format!(
                "[report] timezone {:?} is not an IANA time zone name (e.g. Asia/Tokyo)",
                config.report.timezone
            )));
        }
        Ok(config)
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
        assert_eq!(parse_size("100M").unwrap(), 100 << 20);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_size("12").unwrap(), 12);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
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
