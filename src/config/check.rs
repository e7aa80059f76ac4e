//! Checking a configuration file key by key, so that every problem in it is
//! reported at once with its line and column, in plain words. The document
//! is first parsed to a spanned table (a syntax error stops there); then
//! each section and each key is deserialized on its own with the same serde
//! types `Config` uses, so a key added to a section is checked without
//! being listed here. The table of kinds below only words the messages.

use super::{
    parse_size, ArchiveConfig, CollectorConfig, DiskConfig, GateConfig, MediaConfig, NotifyConfig,
    ReportConfig, RulesConfig, ScanConfig, SyslogConfig, WatchConfig,
};
use crate::findings::policy::{PolicyConfig, PolicyRule};
use serde::de::{Deserialize, IntoDeserializer};
use std::ops::Range;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

/// The sections of the file, in the order `kensa config default` shows them.
pub const SECTIONS: &[&str] = &[
    "scan",
    "rules",
    "archive",
    "disk",
    "media",
    "watch",
    "classification",
    "report",
    "gate",
    "syslog",
    "notify",
    "collector",
];

/// Longest piece of a value quoted back in a message.
const MAX_QUOTE: usize = 40;

/// One problem: where (byte range in the text), which key, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub span: Range<usize>,
    /// `[section] key`, `[section]` or `[classification.rule #2] key`.
    pub key: String,
    pub message: String,
}

/// What a key holds, in the words a message uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Whole(u64),
    Size,
    Bool,
    Text,
    Path,
    PathList,
    TextList,
    TimeZone,
    Event,
    Causes,
    Location,
    Rules,
    Socket,
    Facility,
    DatabaseUrl,
}

impl Kind {
    fn words(self) -> String {
        match self {
            Kind::Whole(u64::MAX) => "a whole number (0 or more)".into(),
            Kind::Whole(max) => format!("a whole number (0 to {max})"),
            Kind::Size => format!("a size such as {}", super::SIZE_EXAMPLES),
            Kind::Bool => "true or false".into(),
            Kind::Text => "a text in quotes".into(),
            Kind::Path => "a path in quotes".into(),
            Kind::PathList => "a list of paths, such as [\"/media\", \"/mnt\"]".into(),
            Kind::TextList => "a list of texts, such as [\"vfat\", \"exfat\"]".into(),
            Kind::TimeZone => "an IANA time zone name such as \"Asia/Tokyo\"".into(),
            Kind::Event => "an event code (see `kensa taxonomy`)".into(),
            Kind::Causes => "a list of cause codes (see `kensa taxonomy`)".into(),
            Kind::Location => "\"removable\" or \"host\"".into(),
            Kind::Rules => "[[classification.rule]] tables".into(),
            Kind::Socket => "a Unix socket path in quotes, such as \"/dev/log\"".into(),
            Kind::Facility => "a syslog facility name such as \"auth\" or \"local0\"".into(),
            Kind::DatabaseUrl => {
                "a postgresql:// URL without a password, such as \"postgresql://kensa@db.example/kensa?sslmode=require\"".into()
            }
        }
    }
}

fn kind_of(section: &str, key: &str) -> Option<Kind> {
    let whole = |max: u64| Some(Kind::Whole(max));
    match (section, key) {
        ("scan", "threads" | "max_dir_entries") => {
            whole(u64::try_from(usize::MAX).unwrap_or(u64::MAX))
        }
        ("scan", "timeout" | "read_timeout") => whole(u64::MAX),
        ("scan", "max_file_size" | "buffer_budget") => Some(Kind::Size),
        ("scan", "one_file_system") => Some(Kind::Bool),
        ("rules", "signatures") => Some(Kind::Path),
        ("rules", "extra") => Some(Kind::PathList),
        ("rules", "strict") => Some(Kind::Bool),
        ("archive", "enabled") => Some(Kind::Bool),
        ("archive", "max_depth") => whole(u32::MAX.into()),
        ("archive", "max_members" | "max_ratio" | "max_time") => whole(u64::MAX),
        ("archive", "max_total_size" | "max_member_size" | "ratio_min_size") => Some(Kind::Size),
        ("disk", "parser_memory") => Some(Kind::Size),
        ("disk", "parser_timeout") => whole(u64::MAX),
        ("media", "roots") => Some(Kind::PathList),
        ("media", "filesystems") => Some(Kind::TextList),
        ("media", "scan_present") => Some(Kind::Bool),
        ("watch", "paths") => Some(Kind::PathList),
        ("watch", "settle_ms") => whole(u64::MAX),
        ("classification", "removable" | "host" | "event") => Some(Kind::Event),
        ("classification", "causes") => Some(Kind::Causes),
        ("classification", "rule") => Some(Kind::Rules),
        ("classification", "location") => Some(Kind::Location),
        ("classification", "name" | "label" | "serial") => Some(Kind::Text),
        ("report", "timezone") => Some(Kind::TimeZone),
        ("gate", "enabled" | "mount" | "keep_blocked_on_stop") => Some(Kind::Bool),
        ("gate", "devices") => Some(Kind::TextList),
        ("gate", "media_root") => Some(Kind::Path),
        ("syslog", "enabled") => Some(Kind::Bool),
        ("syslog", "socket") => Some(Kind::Socket),
        ("syslog", "facility") => Some(Kind::Facility),
        ("notify", "desktop") => Some(Kind::Bool),
        ("collector", "database") => Some(Kind::DatabaseUrl),
        ("collector", "password_file") => Some(Kind::Path),
        _ => None,
    }
}

/// Every problem in the document, in no particular order.
pub fn check(doc: &DeTable<'_>) -> Vec<Found> {
    let mut found = Vec::new();
    for (name, value) in doc.iter() {
        let section = name.get_ref().as_ref();
        if !SECTIONS.contains(&section) {
            found.push(Found {
                span: name.span(),
                key: format!("[{}]", key_name(section)),
                message: format!(
                    "unknown section; the sections are {}",
                    SECTIONS
                        .iter()
                        .map(|s| format!("[{s}]"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            continue;
        }
        let Some(table) = value.get_ref().as_table() else {
            found.push(Found {
                span: value.span(),
                key: format!("[{section}]"),
                message: format!("must be a table (a `[{section}]` header and its keys)"),
            });
            continue;
        };
        let before = found.len();
        for (key, value) in table.iter() {
            check_key(section, key, value, &mut found);
        }
        if section == "classification" && found.len() == before {
            check_policy(value, &mut found);
        }
    }
    found
}

/// What is wrong with a `[collector] database` URL, if anything (the
/// message never quotes a password).
fn database_url_problem(url: &str) -> Option<String> {
    match crate::collector::PgTarget::new(url, None) {
        Err(crate::collector::PgConfigError::NotUrl { .. }) => Some(format!(
            "not a database URL; expected {}",
            Kind::DatabaseUrl.words()
        )),
        Err(crate::collector::PgConfigError::PasswordInUrl { .. }) => Some(
            "a password inside the URL is refused; put it in a file named by [collector] password_file (or PGPASSFILE / ~/.pgpass)".into(),
        ),
        Err(crate::collector::PgConfigError::Url { why, .. }) => Some(why),
        Err(crate::collector::PgConfigError::SslMode { mode, .. }) => Some(format!(
            "sslmode={mode} is not supported (disable, prefer, require, verify-ca or verify-full)"
        )),
        _ => None,
    }
}

/// Deserializes a section type from a table that holds only `key`.
fn one_key<T: for<'de> Deserialize<'de>>(
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<(), toml::de::Error> {
    let mut t = DeTable::new();
    t.insert(key.clone(), value.clone());
    let whole = Spanned::new(value.span(), DeValue::Table(t));
    T::deserialize(whole.into_deserializer()).map(drop)
}

fn check_section_key(
    section: &str,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<(), toml::de::Error> {
    match section {
        "scan" => one_key::<ScanConfig>(key, value),
        "rules" => one_key::<RulesConfig>(key, value),
        "archive" => one_key::<ArchiveConfig>(key, value),
        "disk" => one_key::<DiskConfig>(key, value),
        "media" => one_key::<MediaConfig>(key, value),
        "watch" => one_key::<WatchConfig>(key, value),
        "classification" => one_key::<PolicyConfig>(key, value),
        "report" => one_key::<ReportConfig>(key, value),
        "gate" => one_key::<GateConfig>(key, value),
        "syslog" => one_key::<SyslogConfig>(key, value),
        "notify" => one_key::<NotifyConfig>(key, value),
        "collector" => one_key::<CollectorConfig>(key, value),
        _ => Ok(()),
    }
}

fn check_key(
    section: &str,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
    found: &mut Vec<Found>,
) {
    let name = key.get_ref().as_ref();
    let label = format!("[{section}] {}", key_name(name));
    if section == "classification" && name == "rule" {
        if let Some(rules) = value.get_ref().as_array() {
            for (i, rule) in rules.iter().enumerate() {
                check_rule(i, rule, found);
            }
            return;
        }
    }
    match check_section_key(section, key, value) {
        Ok(()) if kind_of(section, name) == Some(Kind::TimeZone) => {
            let zone = value.get_ref().as_str().unwrap_or_default();
            if zone.parse::<chrono_tz::Tz>().is_err() {
                found.push(Found {
                    span: value.span(),
                    key: label,
                    message: format!(
                        "{} is not a time zone; expected {}",
                        describe(value.get_ref()),
                        Kind::TimeZone.words()
                    ),
                });
            }
        }
        Ok(()) if kind_of(section, name) == Some(Kind::DatabaseUrl) => {
            let url = value.get_ref().as_str().unwrap_or_default();
            found.extend(database_url_problem(url).map(|message| Found {
                span: value.span(),
                key: label,
                message,
            }));
        }
        Ok(()) => {}
        Err(e) => {
            let unknown = e.message().starts_with("unknown field");
            found.push(Found {
                span: if unknown { key.span() } else { value.span() },
                key: label,
                message: explain(section, name, value.get_ref(), e.message()),
            });
        }
    }
}

/// One `[[classification.rule]]`: each of its keys on its own.
fn check_rule(index: usize, rule: &Spanned<DeValue<'_>>, found: &mut Vec<Found>) {
    let section = format!("classification.rule #{}", index + 1);
    let Some(table) = rule.get_ref().as_table() else {
        found.push(Found {
            span: rule.span(),
            key: format!("[{section}]"),
            message: format!("expected {}", Kind::Rules.words()),
        });
        return;
    };
    for (key, value) in table.iter() {
        let name = key.get_ref().as_ref();
        if let Err(e) = one_key::<PolicyRule>(key, value) {
            let unknown = e.message().starts_with("unknown field");
            found.push(Found {
                span: if unknown { key.span() } else { value.span() },
                key: format!("[{section}] {}", key_name(name)),
                message: explain("classification", name, value.get_ref(), e.message()),
            });
        }
    }
}

/// What serde cannot check key by key: rules that assign nothing or match
/// everything, empty cause lists.
fn check_policy(value: &Spanned<DeValue<'_>>, found: &mut Vec<Found>) {
    let policy = PolicyConfig::deserialize(value.clone().into_deserializer());
    if let Ok(Err(e)) = policy.map(|p| p.validate()) {
        found.push(Found {
            span: value.span(),
            key: "[classification]".into(),
            message: e.to_string(),
        });
    }
}

/// The message for a key serde refused, in plain words.
fn explain(section: &str, key: &str, value: &DeValue<'_>, serde_message: &str) -> String {
    if serde_message.starts_with("unknown field") {
        let expected = serde_message
            .split_once("expected ")
            .map(|(_, rest)| rest.trim_start_matches("one of ").replace('`', ""))
            .unwrap_or_default();
        return format!("unknown key; the keys here are {expected}");
    }
    if serde_message.starts_with("unknown variant") {
        let code = serde_message
            .split('`')
            .nth(1)
            .map(quote)
            .unwrap_or_default();
        let expected = serde_message
            .split_once("expected ")
            .map(|(_, rest)| rest.replace('`', ""))
            .unwrap_or_default();
        return format!("unknown code {code}; expected {expected}");
    }
    match kind_of(section, key) {
        Some(Kind::Size) => match value.as_str() {
            Some(s) => match parse_size(s) {
                Err(e) => e.to_string(),
                Ok(_) => plain(serde_message),
            },
            None => format!("expected {}, found {}", Kind::Size.words(), describe(value)),
        },
        Some(Kind::Socket) if value.as_str().is_some() => serde_message.to_string(),
        Some(kind) => format!("expected {}, found {}", kind.words(), describe(value)),
        None => plain(serde_message),
    }
}

/// A serde message with Rust type names replaced by plain words (for
/// keys the table of kinds does not know yet).
fn plain(message: &str) -> String {
    let mut m = message.replace("invalid type: ", "found ");
    for (rust, words) in [
        ("expected usize", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected a list"),
        ("expected a string", "expected a text in quotes"),
    ] {
        m = m.replace(rust, words);
    }
    m
}

/// A value from the file described for a message ("the text \"x\"").
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("the text {}", quote(s)),
        DeValue::Integer(i) => format!("the number {}", short(i.as_str())),
        DeValue::Float(f) => format!("the number {}", short(f.as_str())),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(_) => "a date".into(),
        DeValue::Array(a) => match a
            .iter()
            .find(|v| !v.get_ref().is_str())
            .map(|v| describe(v.get_ref()))
        {
            Some(inner) => format!("a list holding {inner}"),
            None => "a list".into(),
        },
        DeValue::Table(_) => "a table".into(),
    }
}

fn short(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTE {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(MAX_QUOTE).collect();
    cut.push('…');
    cut
}

fn quote(s: &str) -> String {
    format!("{:?}", short(s))
}

/// A key as written in TOML: bare when it can be, quoted otherwise.
fn key_name(s: &str) -> String {
    let bare = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        s.to_string()
    } else {
        quote(s)
    }
}
