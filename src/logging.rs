//! Where log events go and how they read. Every command logs through
//! `tracing`; [`init`] installs one filter and one layer. Under systemd
//! (`JOURNAL_STREAM` names the stream stderr is connected to, as
//! systemd.exec(5) documents) each event is sent to journald natively as a
//! datagram of fields: `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER=kensa`,
//! and `KENSA_<FIELD>` for each event field, so `journalctl -u kensa
//! KENSA_RULE=...` selects findings. Elsewhere (or when the journal socket
//! refuses a datagram) each event is one plain line on stderr: UTC time,
//! level, message, `key=value` fields, every value printed with `Display`
//! and sanitised, no colour unless stderr is a terminal.
//!
//! The filter keeps dependencies (wasmtime, cranelift, notify, ...) at
//! `warn` whatever `-v` says; only kensa's own events follow `-v`. At the
//! default level the agent's service events ([`SERVICE`]: its start line
//! and one line per reload) are shown besides warnings and errors.
//! `KENSA_LOG` (an `EnvFilter` directive list) replaces all of this.
//! `KENSA_JOURNAL_SOCKET` replaces the journal socket path; it is a test
//! hook, not a setting.

use std::fmt::Write as _;
use std::io::Write as _;
#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
#[cfg(unix)]
use std::path::PathBuf;

#[cfg(windows)]
#[path = "logging_windows.rs"]
mod windows;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
#[cfg(windows)]
pub use windows::EVENT_LOG_ENV;
#[cfg(windows)]
use windows::{under_system_log, SystemLog};
#[cfg(unix)]
use {under_journald as under_system_log, Journald as SystemLog};

/// The target of the agent's service events, shown at the default level.
pub const SERVICE: &str = "kensa::service";
/// journald's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// Test hook: replaces [`JOURNAL_SOCKET`].
pub const JOURNAL_SOCKET_ENV: &str = "KENSA_JOURNAL_SOCKET";
/// Separates the items of a [`List`] value inside a field (never in an
/// item: items are sanitised, which escapes every control character).
const LIST_SEP: char = '\u{1f}';
/// Longest field value sent to journald; longer ones are cut.
#[cfg(unix)]
const MAX_JOURNAL_VALUE: usize = 32 << 10;

/// The filter directives for `-v` given `verbose` times.
pub fn directives(verbose: u8) -> String {
    let own = match verbose {
        0 => return format!("warn,{SERVICE}=info"),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    format!("warn,kensa={own}")
}

/// Installs the filter and the layer (once per process).
pub fn init(verbose: u8) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KENSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives(verbose)));
    let layer = LogLayer {
        journal: under_system_log().then(SystemLog::new).flatten(),
        color: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init();
}

/// Whether stderr is the stream systemd connected to the journal:
/// `JOURNAL_STREAM` is `DEVICE:INODE` of that stream.
#[cfg(unix)]
fn under_journald() -> bool {
    let Ok(want) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some(have) = stderr_dev_ino() else {
        return false;
    };
    want.trim() == format!("{}:{}", have.0, have.1)
}

/// Device and inode of what stderr is connected to.
#[cfg(unix)]
fn stderr_dev_ino() -> Option<(u64, u64)> {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::MetadataExt as _;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// A list of values as one field: `rule = %logging::list(names)`. Plain
/// lines show the items joined with `, `; journald gets one field per item
/// (a journal entry may repeat a field), so matching any item selects it.
pub struct List(String);

/// The items of `items`, sanitised, as one field value.
pub fn list<I, T>(items: I) -> List
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    let mut s = String::new();
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            s.push(LIST_SEP);
        }
        s.push_str(&crate::output::sanitize(item.as_ref()));
    }
    List(s)
}

impl std::fmt::Display for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event's message and fields, each value as text.
#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, String)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            // What the `log` bridge adds (module, file, line): not for people.
            n if n.starts_with("log.") => {}
            n => self.pairs.push((n, value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%x` fields and messages arrive here formatted with Display.
        self.put(field, format!("{value:?}"));
    }
}

/// The one layer: journald when under it, else plain lines.
struct LogLayer {
    journal: Option<SystemLog>,
    color: bool,
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        if let Some(j) = &self.journal {
            if j.send(level, &fields).is_ok() {
                return;
            }
        }
        let line = plain_line(level, &fields, self.color);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// One plain line: `TIME LEVEL message key=value...`, sanitised.
fn plain_line(level: Level, f: &Fields, color: bool) -> String {
    let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let word = format!("{:>5}", level.as_str());
    let word = match (color, level) {
        (false, _) => word,
        (true, Level::ERROR) => format!("\x1b[31m{word}\x1b[0m"),
        (true, Level::WARN) => format!("\x1b[33m{word}\x1b[0m"),
        (true, _) => format!("\x1b[2m{word}\x1b[0m"),
    };
    let mut line = format!("{time} {word} {}", crate::output::sanitize(&f.message));
    for (k, v) in &f.pairs {
        let items: Vec<_> = v.split(LIST_SEP).map(crate::output::sanitize).collect();
        let v = items.join(", ");
        if v.is_empty() || v.contains([' ', '"', '=']) {
            let _ = write!(line, " {k}=\"{}\"", v.replace('"', "\\\""));
        } else {
            let _ = write!(line, " {k}={v}");
        }
    }
    line.push('\n');
    line
}

/// A connection to journald's native socket.
#[cfg(unix)]
struct Journald {
    socket: UnixDatagram,
    path: PathBuf,
}

#[cfg(unix)]
impl Journald {
    fn new() -> Option<Journald> {
        let path = std::env::var_os(JOURNAL_SOCKET_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(JOURNAL_SOCKET));
        let socket = UnixDatagram::unbound().ok()?;
        Some(Journald { socket, path })
    }

    fn send(&self, level: Level, f: &Fields) -> std::io::Result<()> {
        let datagram = journal_datagram(level, f);
        self.socket.send_to(&datagram, &self.path).map(|_| ())
    }
}

/// syslog priority of a level.
#[cfg(unix)]
fn priority(level: Level) -> &'static str {
    match level {
        Level::ERROR => "3",
        Level::WARN => "4",
        Level::INFO => "6",
        _ => "7",
    }
}

/// The native-protocol datagram of an event.
#[cfg(unix)]
fn journal_datagram(level: Level, f: &Fields) -> Vec<u8> {
    let mut d = Vec::with_capacity(256);
    put_field(&mut d, "MESSAGE", &f.message);
    put_field(&mut d, "PRIORITY", priority(level));
    put_field(&mut d, "SYSLOG_IDENTIFIER", "kensa");
    for (k, v) in &f.pairs {
        let name = journal_name(k);
        for item in v.split(LIST_SEP) {
            put_field(&mut d, &name, item);
        }
    }
    d
}

/// `KENSA_` and the field name in upper case, other characters as `_`
/// (journald accepts `A-Z`, `0-9` and `_`, at most 64 characters).
#[cfg(unix)]
fn journal_name(field: &str) -> String {
    let mut n = String::from("KENSA_");
    n.extend(field.chars().map(|c| match c.to_ascii_uppercase() {
        c @ ('A'..='Z' | '0'..='9') => c,
        _ => '_',
    }));
    n.truncate(64);
    n
}

/// Appends one field: `NAME=value\n`, or for a value with a newline the
/// binary-safe form `NAME\n`, its length as 64-bit little-endian, the bytes
/// and `\n`.
#[cfg(unix)]
fn put_field(d: &mut Vec<u8>, name: &str, value: &str) {
    let mut end = value.len().min(MAX_JOURNAL_VALUE);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value.as_bytes()[..end];
    d.extend_from_slice(name.as_bytes());
    if value.contains(&b'\n') {
        d.push(b'\n');
        d.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        d.push(b'=');
    }
    d.extend_from_slice(value);
    d.push(b'\n');
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn fields(message: &str, pairs: &[(&'static str, &str)]) -> Fields {
        Fields {
            message: message.into(),
            pairs: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    #[test]
    fn datagram_fields_and_binary_safe_values() {
        let rules = list(["a", "b c"]).to_string();
        let f = fields("two\nlines", &[("rule", &rules), ("sha-256", "ab")]);
        let d = journal_datagram(Level::WARN, &f);
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\nPRIORITY=4\nSYSLOG_IDENTIFIER=kensa\n");
        want.extend_from_slice(b"KENSA_RULE=a\nKENSA_RULE=b c\nKENSA_SHA_256=ab\n");
        assert_eq!(d, want);
    }

    #[test]
    fn plain_lines_join_lists_and_escape_controls() {
        let rules = list(["r1", "evil\u{1b}[31m"]).to_string();
        let f = fields("detection\n", &[("rule", &rules), ("path", "/a b")]);
        let line = plain_line(Level::WARN, &f, false);
        let rest = line.split_once(' ').map(|x| x.1).unwrap_or_default();
        assert_eq!(
            rest,
            " WARN detection\\x0A rule=\"r1, evil\\x1B[31m\" path=\"/a b\"\n"
        );
    }

    #[test]
    fn dependencies_stay_at_warn() {
        assert_eq!(directives(0), "warn,kensa::service=info");
        assert_eq!(directives(2), "warn,kensa=debug");
    }
}
