//! What the store derives from journal lines so that listing, filtering
//! and counting incidents is SQL over stored columns: per line, a finding's
//! or session's columns ([`derive`]); per incident, once an import has
//! touched it, its finding count and first finding, its automatic
//! classification (the findings' taxonomies, and for findings an old agent
//! recorded without one the built-in policy over the session's location
//! and medium, combined by [`Combined`]) — all from one pass over its
//! findings ([`Findings`]) —, its time as milliseconds since the epoch
//! ([`utc_ms`]), and how many characters of its session id tell it apart
//! from its agent's other sessions ([`id_need`]). Every backend calls
//! these at import and in the migration that back-fills them, so what is
//! stored never depends on the backend. The taxonomy, the policy and
//! prefix lengths over characters are Rust's (the same code the agent
//! runs); the backends keep the results.

use super::MAX_LINE;
use crate::findings::policy::{classify, PolicyConfig};
use crate::findings::taxonomy::{Cause, Classification, Event};
use crate::findings::{Location, Medium, Record};
use std::collections::BTreeSet;

/// A stored journal line as a scan record, through the journal's own
/// typed decoder (`journal::Entry`; lines were chain-checked at import).
/// Oversized and unreadable lines are `None` (with a warning); the
/// journal's bookkeeping records are `None`.
pub(crate) fn decode(agent: &str, seq: u64, line: &str) -> Option<Record> {
    if line.len() > MAX_LINE {
        tracing::warn!(
            agent,
            seq,
            "journal line longer than {MAX_LINE} bytes skipped"
        );
        return None;
    }
    match crate::journal::Entry::from_json(line.as_bytes()) {
        Ok(crate::journal::Entry::Scan(r)) => Some(r),
        Ok(crate::journal::Entry::Journal(_)) => None,
        Err(e) => {
            tracing::warn!(agent, seq, "unreadable journal record skipped: {e}");
            None
        }
    }
}

/// What incidents need from one journal line, derived when it is stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Derived {
    /// A finding: its session, time, location, and its taxonomy as JSON
    /// (`None` for old agents that recorded none).
    Finding {
        session: String,
        time: String,
        location: String,
        taxonomy: Option<String>,
    },
    /// A session start: its time, host, location and medium as JSON.
    Session {
        id: String,
        time: String,
        host: String,
        location: String,
        medium: Option<String>,
    },
}

/// Derives the incident columns of a line; `None` for other kinds and for
/// lines that do not decode.
pub fn derive(agent: &str, seq: u64, line: &str) -> Option<Derived> {
    match decode(agent, seq, line)? {
        Record::Finding(f) => Some(Derived::Finding {
            location: location_text(f.location),
            taxonomy: f
                .taxonomy
                .as_ref()
                .and_then(|c| serde_json::to_string(c).ok()),
            session: f.session,
            time: f.time,
        }),
        Record::Session(s) => Some(Derived::Session {
            location: location_text(s.location),
            medium: s
                .medium
                .as_ref()
                .and_then(|m| serde_json::to_string(m).ok()),
            id: s.id,
            time: s.time,
            host: s.host,
        }),
        _ => None,
    }
}

fn location_text(l: Location) -> String {
    serde_json::to_string(&l).unwrap_or_default()
}

/// An incident time (RFC 3339, any offset) as milliseconds since the Unix
/// epoch (rounded down), the form the store filters and counts by; `None`
/// when it does not parse (such an incident is listed, never counted).
pub fn utc_ms(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The incident classification of a set of findings' classifications,
/// built one at a time (so an incident of any size takes no memory): an
/// event that occurred outranks `precursor`, among the rest the first in
/// taxonomy order wins; causes are the union over findings, leaving out
/// findings whose causes are just `unknown` when another finding names a
/// cause. The order findings come in does not matter.
#[derive(Clone, Debug, Default)]
pub struct Combined {
    event: Option<Event>,
    /// The causes of the findings that name one other than `unknown`.
    known: BTreeSet<Cause>,
}

impl Combined {
    pub fn add(&mut self, c: &Classification) {
        self.event = Some(match self.event {
            None | Some(Event::Precursor) => c.event,
            Some(e) if c.event == Event::Precursor => e,
            Some(e) => e.min(c.event),
        });
        if c.causes.iter().any(|x| *x != Cause::Unknown) {
            self.known.extend(c.causes.iter().copied());
        }
    }

    /// The classification: `precursor` / `unknown` when nothing was added.
    pub fn finish(self) -> Classification {
        let mut causes: Vec<Cause> = self.known.into_iter().collect();
        if causes.is_empty() {
            causes.push(Cause::Unknown);
        }
        Classification {
            event: self.event.unwrap_or(Event::Precursor),
            causes,
        }
    }
}

/// Most distinct taxonomy texts of one incident parsed once each; past
/// this, each further one is parsed where it occurs (memory stays bounded
/// whatever a hostile agent wrote).
const SEEN_TAXONOMIES: usize = 32;

/// What an incident is made of, computed from its findings as a backend
/// reads them in seq order (one pass, constant memory): how many, the
/// first one's seq, time and location, and the automatic classification:
/// the findings' taxonomies, and for findings an old agent recorded
/// without one the built-in policy where the incident happened (its
/// session's location and medium, else its first finding's location).
pub struct Findings {
    context: Option<(Location, Option<Medium>)>,
    policy: PolicyConfig,
    combined: Combined,
    seen: Vec<String>,
    count: u64,
    first: Option<(i64, String, String)>,
}

/// An incident's columns from its findings (see [`Findings`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub count: u64,
    pub first_seq: i64,
    pub first_time: String,
    /// JSON of a `Location`.
    pub first_location: String,
    /// The automatic classification's event slug and causes (JSON), as
    /// [`class_texts`] gives them.
    pub event: String,
    pub causes: String,
}

/// One finding row as a backend reads it.
pub struct FindingRow<'a> {
    pub seq: i64,
    pub time: &'a str,
    /// JSON of a `Location`.
    pub location: &'a str,
    pub taxonomy: Option<&'a str>,
    /// The journal line, for a finding without a taxonomy.
    pub line: Option<&'a str>,
}

impl Findings {
    /// `session`: the location and medium (JSON texts) of the incident's
    /// session record, when it is held.
    pub fn new(session: Option<(&str, Option<&str>)>) -> Findings {
        Findings {
            context: session.map(|(l, m)| {
                (
                    serde_json::from_str(l).unwrap_or_default(),
                    m.and_then(|m| serde_json::from_str(m).ok()),
                )
            }),
            policy: PolicyConfig::default(),
            combined: Combined::default(),
            seen: Vec::new(),
            count: 0,
            first: None,
        }
    }

    /// The next finding, in seq order.
    pub fn add(&mut self, agent: &str, f: &FindingRow<'_>) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((f.seq, f.time.to_string(), f.location.to_string()));
            if self.context.is_none() {
                self.context = Some((serde_json::from_str(f.location).unwrap_or_default(), None));
            }
        }
        match f.taxonomy {
            Some(t) => self.tagged(t),
            None => self.untagged(agent, f.seq, f.line.unwrap_or_default()),
        }
    }

    /// A stored taxonomy (JSON); one that does not parse counts for nothing.
    fn tagged(&mut self, taxonomy: &str) {
        if self.seen.iter().any(|s| s == taxonomy) {
            return;
        }
        if self.seen.len() < SEEN_TAXONOMIES {
            self.seen.push(taxonomy.to_string());
        }
        if let Ok(c) = serde_json::from_str::<Classification>(taxonomy) {
            self.combined.add(&c);
        }
    }

    /// A finding line without a taxonomy; one that does not decode counts
    /// for nothing.
    fn untagged(&mut self, agent: &str, seq: i64, line: &str) {
        let Some(Record::Finding(f)) = decode(agent, seq.max(0) as u64, line) else {
            return;
        };
        let (location, medium) = match &self.context {
            Some((l, m)) => (*l, m.as_ref()),
            None => (Location::default(), None),
        };
        let c = classify(&self.policy, location, medium, &f.matches);
        self.combined.add(&c.classification);
    }

    /// The incident's columns; `None` when no finding was added (a session
    /// without findings is no incident).
    pub fn finish(self) -> Option<Scanned> {
        let (first_seq, first_time, first_location) = self.first?;
        let (event, causes) = class_texts(&self.combined.finish());
        Some(Scanned {
            count: self.count,
            first_seq,
            first_time,
            first_location,
            event,
            causes,
        })
    }
}

/// A classification as the store keeps it: the event slug, and the causes
/// as a JSON array of slugs in taxonomy order (the form triage rows use,
/// so equal sets group together).
pub fn class_texts(c: &Classification) -> (String, String) {
    let causes: BTreeSet<Cause> = c.causes.iter().copied().collect();
    let causes: Vec<Cause> = causes.into_iter().collect();
    (
        c.event.slug().to_string(),
        serde_json::to_string(&causes).unwrap_or_else(|_| "[]".into()),
    )
}

/// Number of leading characters two strings share.
pub fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// How many characters of `s` tell it apart from its neighbours in sorted
/// order (one more than the longest prefix it shares with either; 0 when
/// it has none). The id shown takes at least this many.
pub fn id_need(s: &str, neighbours: [Option<&str>; 2]) -> usize {
    neighbours
        .iter()
        .flatten()
        .map(|n| common_prefix(s, n) + 1)
        .max()
        .unwrap_or(0)
}

/// The least string greater than every string that starts with `prefix`
/// (its last character that can grow, grown, the rest cut; `None` when
/// none can), so a prefix search is the index range `[prefix, end)`: UTF-8
/// order is character order.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn combine(classes: &[Classification]) -> Classification {
        let mut c = Combined::default();
        for x in classes {
            c.add(x);
        }
        c.finish()
    }

    #[test]
    fn combining_classifications() {
        let p = Classification {
            event: Event::Precursor,
            causes: vec![Cause::Unknown],
        };
        let m = Classification {
            event: Event::MalwareInfection,
            causes: vec![Cause::SuspiciousFile],
        };
        let c = combine(&[p.clone(), m.clone()]);
        assert_eq!(
            c,
            Classification {
                event: Event::MalwareInfection,
                causes: vec![Cause::SuspiciousFile]
            }
        );
        assert_eq!(combine(&[m.clone(), p.clone()]), c, "order does not matter");
        assert_eq!(combine(std::slice::from_ref(&p)), p);
        let both = Classification {
            event: Event::Leak,
            causes: vec![Cause::Insider, Cause::Unknown],
        };
        assert_eq!(
            combine(&[both.clone(), p.clone()]),
            both,
            "explicit unknown kept"
        );
        assert_eq!(combine(&[]), p);
        let none = Classification {
            event: Event::Outage,
            causes: vec![],
        };
        assert_eq!(
            combine(&[none, m.clone()]).event,
            Event::MalwareInfection.min(Event::Outage),
            "the first event in taxonomy order"
        );
    }

    #[test]
    fn times_and_class_texts() {
        assert_eq!(utc_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(utc_ms("1970-01-01T09:00:00+09:00"), Some(0));
        assert_eq!(utc_ms("1969-12-31T23:59:59.9999Z"), Some(-1));
        assert_eq!(utc_ms("yesterday"), None);
        let c = Classification {
            event: Event::Leak,
            causes: vec![Cause::Unknown, Cause::Insider, Cause::Insider],
        };
        assert_eq!(
            class_texts(&c),
            ("leak".to_string(), r#"["insider","unknown"]"#.to_string())
        );
    }

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_end("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        let p = "ab\u{10FFFF}";
        let end = prefix_end(p).unwrap();
        for s in ["ab\u{10FFFF}", "ab\u{10FFFF}zz", "ab\u{10FFFF}\u{10FFFF}"] {
            assert!(s >= p && s < end.as_str(), "{s:?} is in range");
        }
        for s in ["ab\u{10FFFE}z", "ac", "b"] {
            assert!(!(s >= p && s < end.as_str()), "{s:?} is out of range");
        }
    }

    #[test]
    fn id_needs() {
        assert_eq!(id_need("abcdef", [None, None]), 0);
        assert_eq!(id_need("abcdef", [Some("abcd"), Some("abx")]), 5);
        assert_eq!(id_need("日本語x", [Some("日本語"), None]), 4);
    }
}
