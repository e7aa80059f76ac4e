//! The records kensa writes: scan sessions, findings, skips and summaries.
//! These are the data model of DESIGN.md, serialised as JSON objects tagged
//! with `"type"` and carrying the schema version `"v": 1`. This module does
//! no I/O; the engine produces records, output and the journal consume them.

pub mod policy;
pub mod taxonomy;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use taxonomy::{Cause, Classification, Event};

/// Version of the record schema; every record carries it as `"v"`.
pub const SCHEMA_VERSION: u32 = 1;

/// Where the scanned files live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// A removable medium (USB stick, SD card, disc image, ...).
    Removable,
    /// A directory of the host itself.
    #[default]
    Host,
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Suspicious,
    Malicious,
}

/// Why a file (or archive member) was not fully checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    TooLarge,
    Permission,
    IoError,
    SpecialFile,
    Symlink,
    ArchiveLimit,
    Encrypted,
    Corrupt,
    Timeout,
    ScanError,
    Vanished,
    MediaRemoved,
    TooManyEntries,
    /// A rule source meant for the scan was not loaded (failed to compile,
    /// unreadable, a rule pack that could not be loaded): every file was
    /// checked without it.
    RulesIncomplete,
    /// A container kensa recognises but cannot open (RAR): its members
    /// were not scanned.
    UnsupportedContainer,
    /// A partition or volume whose file system kensa has no reader for
    /// (or an unknown partition kind): its files were not read, only its
    /// raw bytes scanned as one blob.
    UnsupportedFs,
    /// Windows: another process holds the file open without sharing it
    /// (a sharing violation) or holds a lock on part of it; not read.
    Locked,
}

impl SkipReason {
    /// True when the skip leaves a coverage gap (exit code 2); special files
    /// and symlinks are skipped by design and are not gaps.
    pub fn is_gap(self) -> bool {
        !matches!(self, SkipReason::SpecialFile | SkipReason::Symlink)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TooLarge => "too_large",
            SkipReason::Permission => "permission",
            SkipReason::IoError => "io_error",
            SkipReason::SpecialFile => "special_file",
            SkipReason::Symlink => "symlink",
            SkipReason::ArchiveLimit => "archive_limit",
            SkipReason::Encrypted => "encrypted",
            SkipReason::Corrupt => "corrupt",
            SkipReason::Timeout => "timeout",
            SkipReason::ScanError => "scan_error",
            SkipReason::Vanished => "vanished",
            SkipReason::MediaRemoved => "media_removed",
            SkipReason::TooManyEntries => "too_many_entries",
            SkipReason::RulesIncomplete => "rules_incomplete",
            SkipReason::UnsupportedContainer => "unsupported_container",
            SkipReason::UnsupportedFs => "unsupported_fs",
            SkipReason::Locked => "locked",
        }
    }
}

/// Identity of a removable medium, as far as the system knows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Medium {
    pub mount_point: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    pub removable: bool,
    /// How the medium was detected (`sysinfo`, `media_root`, `filesystem`, `manual`).
    pub detected_by: String,
}

/// The rule set a session used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RulesetInfo {
    /// Short id: the first 16 hex digits of the digest.
    pub id: String,
    /// SHA-256 over every rule and hash-list source, in a fixed order.
    pub digest: String,
    pub rules: usize,
    pub hashes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_version: Option<u64>,
}

/// Start of a scan session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub v: u32,
    pub id: String,
    pub time: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub location: Location,
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<Medium>,
    pub ruleset: RulesetInfo,
    pub version: String,
    /// The volumes of a device or disk image named as a root and read in
    /// user space (partition index, file system, label, serial, offset,
    /// size, partition type); empty for a walk of mounted files, or when
    /// the device could not be probed (a gap says why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<crate::disk::VolumeInfo>,
    /// `"ignore"` when the site set `[archive] unsupported = "ignore"`:
    /// containers kensa recognised but could not open were not recorded
    /// as gaps in this session. Absent under the default (`"gap"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_unsupported: Option<String>,
}

/// One rule or hash-list hit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// `yara` or `hash`.
    pub kind: String,
    pub rule: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
}

/// A file (or archive member) that matched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub v: u32,
    pub id: String,
    pub session: String,
    pub time: String,
    pub location: Location,
    /// The file's path as displayed: for an archive member, the outer path
    /// followed by each member name, joined with ` → `.
    pub path: String,
    /// The member chain inside containers: empty for a plain file, else the
    /// outer file's path followed by member names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    pub verdict: Verdict,
    pub matches: Vec<Match>,
    /// File attributes a listing does not show: `hidden`, `system` for
    /// files read in user space from a volume; on Windows `hidden`,
    /// `system`, `readonly`, `reparse` of every file; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The packer the file or member was packed with (`upx`, `aspack`,
    /// ...), by its marks; `$upx`, the image unpacked from a UPX file,
    /// says `upx` too. None for anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxonomy: Option<Classification>,
}

/// A file (or archive member) that was not fully checked, or not at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skip {
    pub v: u32,
    pub session: String,
    pub time: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    pub reason: SkipReason,
    pub detail: String,
    /// Whether this skip leaves a coverage gap (see [`SkipReason::is_gap`]).
    pub gap: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Set when the bytes were still hashed (for example `too_large`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// As [`Finding::attributes`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// As [`Finding::packed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed: Option<String>,
}

/// End of a scan session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub v: u32,
    pub session: String,
    pub time: String,
    pub files: u64,
    pub bytes: u64,
    pub findings: u64,
    pub skips: u64,
    /// Skips that are coverage gaps.
    pub gaps: u64,
    pub seconds: f64,
    /// False when the session was cut short (medium removed, shutdown, error).
    pub completed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Summary {
    /// The scan exit code: 1 if anything was found; else 2 if any file was
    /// not fully checked or the session did not complete; else 0.
    pub fn exit_code(&self) -> u8 {
        if self.findings > 0 {
            1
        } else if self.gaps > 0 || !self.completed {
            2
        } else {
            0
        }
    }
}

/// Anything a scan emits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Session(Session),
    Finding(Finding),
    Skip(Skip),
    Summary(Summary),
}

impl Record {
    pub fn type_name(&self) -> &'static str {
        match self {
            Record::Session(_) => "session",
            Record::Finding(_) => "finding",
            Record::Skip(_) => "skip",
            Record::Summary(_) => "summary",
        }
    }
}

/// The attribute names a record carries for a file read in user space
/// (`hidden`, `system`), in that order; empty for a plain file.
pub fn attribute_names(a: kensa_diskfs::Attributes) -> Vec<String> {
    let mut out = Vec::new();
    if a.hidden {
        out.push("hidden".to_string());
    }
    if a.system {
        out.push("system".to_string());
    }
    out
}

/// Current UTC time as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A random 128-bit id in hex.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_has_type_tag_and_version() {
        let r = Record::Summary(Summary {
            v: SCHEMA_VERSION,
            session: "s".into(),
            time: now_rfc3339(),
            files: 1,
            bytes: 2,
            findings: 0,
            skips: 0,
            gaps: 0,
            seconds: 0.5,
            completed: true,
            error: None,
        });
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.starts_with(r#"{"type":"summary","v":1,"#), "{s}");
        let back: Record = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn gaps() {
        assert!(!SkipReason::Symlink.is_gap());
        assert!(!SkipReason::SpecialFile.is_gap());
        assert!(SkipReason::TooLarge.is_gap());
        assert_eq!(
            serde_json::to_string(&SkipReason::TooLarge).unwrap(),
            "\"too_large\""
        );
    }
}
