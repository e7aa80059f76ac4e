//! What `kensa status` shows of a journal: its head, how far it has been
//! exported, whether its last line is torn, and the most recent sessions
//! (with their summaries and how many of their findings were malicious).
//! [`look_back`] reads backwards from the end with
//! [`super::tail::Backward`] within [`MAX_LOOK_BACK`] bytes, so the look
//! costs the same whatever the journal's size; it takes no lock and
//! verifies no signature.

use super::tail::Backward;
use super::JournalRecord;
use super::{decode, line::peek_kind, scan_exported, DecodeError, Entry, JournalError};
use crate::findings::{Location, Record, Session, Summary, Verdict};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// Bytes of journal lines [`look_back`] reads back from the end, at most.
pub const MAX_LOOK_BACK: u64 = 8 << 20;

/// Why the look back failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("seq {seq}: {error}")]
    Decode { seq: u64, error: DecodeError },
}

/// The journal as status sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalStatus {
    /// Seq and hash of the newest complete line (0 and "" when empty).
    pub head_seq: u64,
    pub head: String,
    /// The last seq exported (0 when nothing has been).
    pub exported: u64,
    /// Records after `exported` that are not bookkeeping (checkpoints and
    /// export notes): what the next export would carry. Counted while
    /// reading back; when the look-back budget ran out first, this is
    /// `head_seq - exported`, an upper bound, and `unexported_exact` is false.
    pub unexported: u64,
    pub unexported_exact: bool,
    /// The newest segment ends in a partial line.
    pub torn: bool,
    /// The most recent sessions, newest first.
    pub sessions: Vec<SessionStatus>,
}

/// One recent session: what it scanned and, once its summary is written,
/// how it went (`files`, `findings` and `gaps` absent and `completed` null
/// while it runs or when it was cut off).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionStatus {
    pub id: String,
    pub time: String,
    pub location: Location,
    pub paths: Vec<String>,
    /// The medium's label, else its mount point; null for host paths.
    pub medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gaps: Option<u64>,
    pub completed: Option<bool>,
    /// How many of its findings were malicious (with the summary, when
    /// the look back read them all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub malicious: Option<u64>,
}

impl SessionStatus {
    /// `s`, with its summary when one was read.
    pub fn new(s: &Session, summary: Option<&Summary>) -> SessionStatus {
        SessionStatus {
            id: s.id.clone(),
            time: s.time.clone(),
            location: s.location,
            paths: s.paths.clone(),
            medium: s
                .medium
                .as_ref()
                .map(|m| m.label.clone().unwrap_or_else(|| m.mount_point.clone())),
            files: summary.map(|x| x.files),
            findings: summary.map(|x| x.findings),
            gaps: summary.map(|x| x.gaps),
            completed: summary.map(|x| x.completed),
            malicious: None,
        }
    }
}

/// The sessions read so far, newest first, with what belongs to them.
#[derive(Default)]
struct Collected {
    sessions: Vec<SessionStatus>,
    /// Summaries and malicious-finding counts of sessions not reached yet.
    summaries: HashMap<String, Summary>,
    malicious: HashMap<String, u64>,
}

impl Collected {
    fn take(&mut self, r: Record) {
        match r {
            Record::Session(s) => {
                let sum = self.summaries.remove(&s.id);
                let mut row = SessionStatus::new(&s, sum.as_ref());
                let bad = self.malicious.remove(&s.id).unwrap_or(0);
                row.malicious = sum.is_some().then_some(bad);
                self.sessions.push(row);
            }
            Record::Finding(f) if f.verdict == Verdict::Malicious => {
                *self.malicious.entry(f.session).or_default() += 1;
            }
            Record::Summary(s) => {
                self.summaries.insert(s.session.clone(), s);
            }
            _ => {}
        }
    }
}

/// Reads the journal in `dir` back from its end until it has `want`
/// sessions and knows the last export (from an export record, or a
/// checkpoint that carries it), or has read [`MAX_LOOK_BACK`] bytes.
pub fn look_back(dir: &Path, want: usize) -> Result<JournalStatus, StatusError> {
    let mut lines = Backward::open(dir, MAX_LOOK_BACK)?;
    let mut head = None;
    let mut exported = None;
    let mut got = Collected::default();
    // (seq, bookkeeping) of every line read, newest first, to count what
    // lies after the last export once that is known.
    let mut kinds: Vec<(u64, bool)> = Vec::new();
    for line in lines.by_ref() {
        let line = line?;
        head.get_or_insert_with(|| (line.seq, line.hash.clone()));
        let kind = peek_kind(&line.bytes);
        kinds.push((line.seq, super::tail::is_bookkeeping(kind.as_deref())));
        if exported.is_some_and(|e| line.seq <= e) && got.sessions.len() >= want {
            break;
        }
        let wanted = match kind.as_deref() {
            Some("session" | "summary" | "finding") => got.sessions.len() < want,
            Some("export" | "checkpoint") => exported.is_none(),
            _ => false,
        };
        if !wanted {
            continue;
        }
        match decode(&line.bytes).map(|(_, e)| e) {
            Ok(Entry::Scan(r)) => got.take(r),
            Ok(Entry::Journal(JournalRecord::Export(e))) => exported = Some(e.to_seq),
            Ok(Entry::Journal(JournalRecord::Checkpoint(c))) => exported = c.exported_through,
            Ok(_) => {}
            Err(error) => {
                return Err(StatusError::Decode {
                    seq: line.seq,
                    error,
                })
            }
        }
        if got.sessions.len() >= want && exported.is_some_and(|e| line.seq <= e + 1) {
            break;
        }
    }
    let exported = match exported {
        Some(e) => e,
        // Read back to the first line: no export anywhere.
        None if !lines.exhausted() => 0,
        // A journal whose checkpoints predate `exported_through`.
        None => scan_exported(dir)?,
    };
    let (head_seq, head) = head.unwrap_or_default();
    let oldest_read = kinds.last().map_or(head_seq + 1, |k| k.0);
    let unexported_exact = oldest_read <= exported + 1;
    let unexported = if unexported_exact {
        kinds
            .iter()
            .filter(|(seq, book)| *seq > exported && !book)
            .count() as u64
    } else {
        head_seq.saturating_sub(exported)
    };
    Ok(JournalStatus {
        head_seq,
        head,
        exported,
        unexported,
        unexported_exact,
        torn: lines.torn(),
        sessions: got.sessions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Medium, RulesetInfo};
    use serde_json::json;

    fn session(medium: Option<Medium>) -> Session {
        Session {
            volumes: Vec::new(),
            archive_unsupported: None,
            v: 1,
            id: "s1".into(),
            time: "2026-04-01T00:00:00Z".into(),
            host: "h".into(),
            agent: None,
            location: Location::Removable,
            paths: vec!["/media/usb".into()],
            medium,
            ruleset: RulesetInfo::default(),
            version: "0".into(),
        }
    }

    #[test]
    fn running_session_has_null_completed_and_no_counts() {
        let row = SessionStatus::new(&session(None), None);
        assert_eq!(
            serde_json::to_value(&row).ok(),
            Some(json!({
                "id": "s1",
                "time": "2026-04-01T00:00:00Z",
                "location": "removable",
                "paths": ["/media/usb"],
                "medium": null,
                "completed": null,
            }))
        );
    }

    #[test]
    fn summarised_session_carries_its_counts_and_medium_label() {
        let medium = Medium {
            mount_point: "/media/usb".into(),
            label: Some("USB1".into()),
            ..Medium::default()
        };
        let sum = Summary {
            v: 1,
            session: "s1".into(),
            time: "t".into(),
            files: 7,
            bytes: 100,
            findings: 2,
            skips: 3,
            gaps: 1,
            seconds: 0.5,
            completed: false,
            error: None,
        };
        let row = SessionStatus::new(&session(Some(medium)), Some(&sum));
        let v = serde_json::to_value(&row).unwrap_or_default();
        assert_eq!(v["medium"], json!("USB1"));
        assert_eq!(
            (&v["files"], &v["findings"], &v["gaps"], &v["completed"]),
            (&json!(7), &json!(2), &json!(1), &json!(false))
        );
    }

    #[test]
    fn medium_without_label_shows_its_mount_point() {
        let medium = Medium {
            mount_point: "/media/x".into(),
            ..Medium::default()
        };
        let row = SessionStatus::new(&session(Some(medium)), None);
        assert_eq!(row.medium.as_deref(), Some("/media/x"));
    }
}
