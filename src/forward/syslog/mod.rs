//! RFC 5424 syslog, for SIEMs and local log daemons: the message model
//! ([`Message`], [`Severity`], [`Facility`]), its wire form (`encode`:
//! header fields within the RFC's limits, structured data escaped,
//! octet-counted framing on streams), the transport ([`Target`],
//! [`Sender`]: a Unix socket (datagram as `/dev/log` is, or stream), TCP or
//! UDP, with timeouts and one reconnect), the message of a finding
//! ([`finding_message`]) and the agent's live sink ([`LiveSink`]: a
//! bounded queue and a sender thread, so a scan never waits for syslog).
//! `kensa forward --syslog` and the agent's `[syslog]` section use it. All
//! structured data goes in one SD element, [`SD_ID`].

mod encode;
mod live;
mod target;
mod transport;
#[cfg(unix)]
mod unix_socket;
#[cfg(windows)]
#[path = "unix_socket_windows.rs"]
mod unix_socket;

pub use encode::{octet_counted, MAX_MESSAGE};
pub use live::{LiveSink, QUEUE};
pub use target::Target;
pub use transport::{Sender, CONNECT_TIMEOUT, WRITE_TIMEOUT};

use crate::findings::{Finding, Medium, Session, Verdict};
use serde::{Deserialize, Serialize};

/// The one SD-ID of kensa's structured data: `kensa` at the private
/// enterprise number 32473, which RFC 5612 reserves for documentation
/// (kensa has no PEN of its own).
pub const SD_ID: &str = "kensa@32473";
/// The APP-NAME of every message kensa sends.
pub const APP_NAME: &str = "kensa";
/// The MSGID of a finding's message.
pub const MSGID_FINDING: &str = "finding";

/// What went wrong with a syslog destination.
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("invalid syslog destination {given:?}: {why}")]
    Target { given: String, why: String },
    #[error("cannot resolve the syslog host {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot connect to syslog at {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("cannot send to syslog at {target}: {source}")]
    Send {
        target: String,
        source: std::io::Error,
    },
}

/// The eight severities of RFC 5424 (§6.2.1), most severe first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    #[default]
    Notice,
    Informational,
    Debug,
}

impl Severity {
    /// The numeric code (0 = emergency ... 7 = debug).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The severity of a finding: a malicious file is critical, a
    /// suspicious one a warning.
    pub fn of(v: Verdict) -> Severity {
        match v {
            Verdict::Malicious => Severity::Critical,
            Verdict::Suspicious => Severity::Warning,
        }
    }
}

/// The facilities of RFC 5424 (§6.2.1), by the names syslog daemons give
/// them (rsyslog, syslog-ng: `auth` is 4, `authpriv` 10, `audit` 13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    /// Security and authorisation messages: the default, since a finding
    /// is a security event and stock configurations (Debian's rsyslog:
    /// `auth,authpriv.*  /var/log/auth.log`) keep this facility in the log
    /// that is already shipped to security staff.
    #[default]
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Clock,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

/// Every facility in code order (the code is the index).
pub const FACILITIES: [Facility; 24] = [
    Facility::Kern,
    Facility::User,
    Facility::Mail,
    Facility::Daemon,
    Facility::Auth,
    Facility::Syslog,
    Facility::Lpr,
    Facility::News,
    Facility::Uucp,
    Facility::Cron,
    Facility::Authpriv,
    Facility::Ftp,
    Facility::Ntp,
    Facility::Audit,
    Facility::Alert,
    Facility::Clock,
    Facility::Local0,
    Facility::Local1,
    Facility::Local2,
    Facility::Local3,
    Facility::Local4,
    Facility::Local5,
    Facility::Local6,
    Facility::Local7,
];

/// The facility names, in code order.
const FACILITY_NAMES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

impl Facility {
    /// The numeric code (0 = kern ... 23 = local7).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The name configuration files and daemons use.
    pub fn name(self) -> &'static str {
        FACILITY_NAMES
            .get(usize::from(self.code()))
            .copied()
            .unwrap_or("auth")
    }
}

impl std::fmt::Display for Facility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A facility name that is not one of the 24.
#[derive(Debug, thiserror::Error)]
#[error("unknown syslog facility {0:?}; expected one of {names}", names = FACILITY_NAMES.join(", "))]
pub struct UnknownFacility(String);

impl std::str::FromStr for Facility {
    type Err = UnknownFacility;

    fn from_str(s: &str) -> Result<Facility, UnknownFacility> {
        FACILITY_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .and_then(|i| FACILITIES.get(i).copied())
            .ok_or_else(|| UnknownFacility(s.chars().take(40).collect()))
    }
}

/// One syslog message before encoding. Text fields may hold anything:
/// `to_rfc5424` makes them fit the RFC (header fields PRINTUSASCII and cut
/// to their lengths, an empty one `-`; control characters in values and
/// MSG written visibly; sizes bounded by [`MAX_MESSAGE`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub severity: Severity,
    /// RFC 3339; anything else is sent as `-` (the receiver's time).
    pub time: String,
    pub hostname: String,
    pub app_name: String,
    pub msgid: String,
    /// The parameters of the one SD element [`SD_ID`], in order; a name
    /// may repeat (RFC 5424 §6.3.3).
    pub structured: Vec<(String, String)>,
    pub msg: String,
    pub facility: Facility,
}

impl Message {
    /// Adds one structured-data parameter.
    pub fn param(&mut self, name: &str, value: impl Into<String>) {
        self.structured.push((name.to_string(), value.into()));
    }

    /// The host and medium of the finding's session: HOSTNAME becomes the
    /// session's host, and the medium's identity is added.
    pub fn with_session(self, s: &Session) -> Message {
        self.with_origin(&s.host, s.medium.as_ref())
    }

    /// As [`Message::with_session`], from the session's host name and
    /// medium.
    pub fn with_origin(mut self, host: &str, medium: Option<&Medium>) -> Message {
        self.hostname = host.to_string();
        if let Some(m) = medium {
            self.param("mount_point", m.mount_point.clone());
            let fields = [
                ("medium_label", &m.label),
                ("medium_serial", &m.serial),
                ("medium_uuid", &m.uuid),
                ("medium_device", &m.device),
                ("medium_fs", &m.filesystem),
            ];
            for (name, value) in fields {
                if let Some(v) = value {
                    self.param(name, v.clone());
                }
            }
        }
        self
    }
}

/// The message of a finding from `agent`: severity by verdict, the
/// finding's time, APP-NAME `kensa`, MSGID `finding`, structured data
/// naming agent, session, finding, verdict, location, path, size, hashes,
/// each matched rule (`rule`, repeated, as `NAMESPACE:RULE`) and the NISC
/// classification, and a one-line MSG. HOSTNAME is left empty (`-`):
/// [`Message::with_session`] sets it with the medium.
pub fn finding_message(f: &Finding, agent: &str) -> Message {
    let mut m = Message {
        severity: Severity::of(f.verdict),
        time: f.time.clone(),
        app_name: APP_NAME.to_string(),
        msgid: MSGID_FINDING.to_string(),
        msg: finding_text(f),
        ..Message::default()
    };
    m.param("agent", agent);
    m.param("session", f.session.clone());
    m.param("finding", f.id.clone());
    m.param("verdict", verdict_word(f.verdict));
    m.param("location", location_word(f.location));
    m.param("path", f.path.clone());
    m.param("size", f.size.to_string());
    m.param("sha256", f.sha256.clone());
    for (name, value) in [("sha1", &f.sha1), ("md5", &f.md5), ("packed", &f.packed)] {
        if let Some(v) = value {
            m.param(name, v.clone());
        }
    }
    for r in &f.matches {
        m.param("rule", format!("{}:{}", r.namespace, r.rule));
    }
    if let Some(t) = &f.taxonomy {
        m.param("event", t.event.slug());
        for c in &t.causes {
            m.param("cause", c.slug());
        }
    }
    m
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Malicious => "malicious",
        Verdict::Suspicious => "suspicious",
    }
}

fn location_word(l: crate::findings::Location) -> &'static str {
    match l {
        crate::findings::Location::Removable => "removable",
        crate::findings::Location::Host => "host",
    }
}

/// `malicious file PATH (rule NS:RULE, 2 more)`.
fn finding_text(f: &Finding) -> String {
    let rules = match f.matches.split_first() {
        None => String::new(),
        Some((first, [])) => format!(" (rule {}:{})", first.namespace, first.rule),
        Some((first, rest)) => format!(
            " (rule {}:{}, {} more)",
            first.namespace,
            first.rule,
            rest.len()
        ),
    };
    format!("{} file {}{rules}", verdict_word(f.verdict), f.path)
}

#[cfg(test)]
mod tests;
