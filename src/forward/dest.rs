//! The destinations of `kensa forward`: NDJSON appended to a file (fsynced
//! per batch), NDJSON on stdout (flushed per batch), and RFC 5424 syslog
//! messages, one per event, whose MSG is the event's JSON document and
//! whose structured data (`[kensa@32473 ...]`) names the event (`uid`,
//! `format`, `seq`, `agent`, `session`) and, for a finding, carries what
//! the agent's live syslog messages do (verdict, path, hashes, rules,
//! medium, NISC event and causes), so one SIEM rule fits both. A message
//! is at most 8000 bytes (`syslog::MAX_MESSAGE`): an event larger than
//! that (hundreds of matched rules) has its MSG cut and is marked
//! `truncated="true"`; `--out` keeps every event whole.
//! Each is a [`Destination`] with its cursor key: the format and where.

use super::syslog::{self, Facility, Message, Sender, Severity, Target};
use super::{Destination, Event, Format, ForwardError, Kind};
use std::io::Write;
use std::path::PathBuf;

/// NDJSON appended to a file, fsynced after every batch.
pub struct FileOut {
    key: String,
    path: PathBuf,
    file: std::fs::File,
    format: Format,
}

impl FileOut {
    /// Opens (creating, mode 0640) `path` for appending; a symbolic link
    /// there is refused.
    pub fn open(path: PathBuf, format: Format) -> Result<FileOut, ForwardError> {
        let file =
            crate::fsutil::open_append_nofollow(&path).map_err(|source| ForwardError::Write {
                what: crate::engine::pathfmt::display(&path),
                source,
            })?;
        Ok(FileOut {
            key: format!(
                "{} file:{}",
                format.as_str(),
                crate::engine::pathfmt::display(&path)
            ),
            path,
            file,
            format,
        })
    }
}

impl Destination for FileOut {
    fn key(&self) -> &str {
        &self.key
    }

    fn send(&mut self, events: &[Event]) -> Result<(), ForwardError> {
        let text: String = events.iter().map(|e| e.ndjson(self.format)).collect();
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|source| ForwardError::Write {
                what: crate::engine::pathfmt::display(&self.path),
                source,
            })
    }
}

/// NDJSON on standard output, flushed after every batch.
pub struct StdoutOut {
    key: String,
    format: Format,
}

impl StdoutOut {
    pub fn new(format: Format) -> StdoutOut {
        StdoutOut {
            key: format!("{} stdout", format.as_str()),
            format,
        }
    }
}

impl Destination for StdoutOut {
    fn key(&self) -> &str {
        &self.key
    }

    fn send(&mut self, events: &[Event]) -> Result<(), ForwardError> {
        let text: String = events.iter().map(|e| e.ndjson(self.format)).collect();
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| ForwardError::Write {
                what: "standard output".to_string(),
                source,
            })
    }
}

/// Events as syslog messages to one receiver.
pub struct SyslogOut {
    key: String,
    sender: Sender,
    format: Format,
    facility: Facility,
}

impl SyslogOut {
    /// Connects now, so a wrong or unreachable target fails before
    /// anything is read.
    pub fn connect(
        target: &Target,
        format: Format,
        facility: Facility,
    ) -> Result<SyslogOut, ForwardError> {
        Ok(SyslogOut {
            key: format!("{} syslog:{target}", format.as_str()),
            sender: Sender::connect(target)?,
            format,
            facility,
        })
    }

    fn message(&self, e: &Event) -> Message {
        let severity = match e.kind {
            Kind::Finding(v) => Severity::of(v),
            Kind::ScanStarted => Severity::Informational,
            Kind::ScanEnded { completed: true } => Severity::Notice,
            Kind::ScanEnded { completed: false } => Severity::Warning,
        };
        let mut m = Message {
            severity,
            time: e.time.clone(),
            hostname: e.host.clone().unwrap_or_default(),
            app_name: syslog::APP_NAME.to_string(),
            msgid: e.kind.name().to_string(),
            structured: Vec::with_capacity(e.params.len() + 2),
            msg: e.doc.to_string(),
            facility: self.facility,
        };
        m.param("uid", e.uid.clone());
        m.param("format", self.format.as_str());
        m.structured.extend(e.params.iter().cloned());
        m
    }
}

impl Destination for SyslogOut {
    fn key(&self) -> &str {
        &self.key
    }

    fn send(&mut self, events: &[Event]) -> Result<(), ForwardError> {
        for e in events {
            let m = self.message(e);
            self.sender.send(&m)?;
        }
        Ok(())
    }
}
