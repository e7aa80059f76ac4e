//! Reading result rows, written once for both backends: [`Columns`] is
//! what a row of either driver answers (`rusqlite::Row` in `sqlite`,
//! `postgres::Row` in `postgres`, each implementing it over its own
//! getters and error type), and each decoder here turns the columns of one
//! statement of `sql` into a [`backend`](super::backend) row.

use super::backend::{CountRow, CursorRow, IncidentRow, LineRow, SessionRow, TriageRow};
use super::TrustedKey;

/// The typed columns of one result row.
pub trait Columns {
    type Error;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    /// A boolean (PostgreSQL's BOOLEAN, SQLite's 0 or 1).
    fn flag(&self, i: usize) -> Result<bool, Self::Error>;
}

/// A count or seq column as the u64 it stands for (never negative as
/// stored; a negative one reads as 0 rather than wrapping).
fn count<R: Columns>(r: &R, i: usize) -> Result<u64, R::Error> {
    Ok(r.int(i)?.max(0) as u64)
}

/// (agent, pubkey, name, added).
pub fn trusted_key<R: Columns>(r: &R) -> Result<TrustedKey, R::Error> {
    Ok(TrustedKey {
        agent: r.text(0)?,
        pubkey: r.text(1)?,
        name: r.opt_text(2)?,
        added: r.text(3)?,
    })
}

/// A triage row from columns `at..at + 7`; `None` when the id is NULL (no
/// triage joined).
pub fn triage_row<R: Columns>(r: &R, at: usize) -> Result<Option<TriageRow>, R::Error> {
    let Some(id) = r.opt_int(at)? else {
        return Ok(None);
    };
    Ok(Some(TriageRow {
        id,
        event: r.text(at + 1)?,
        causes: r.text(at + 2)?,
        false_positive: r.flag(at + 3)?,
        note: r.opt_text(at + 4)?,
        by: r.text(at + 5)?,
        time: r.text(at + 6)?,
    }))
}

/// A session start from columns `at..at + 4` (time, host, location,
/// medium); `None` when the time is NULL (no session joined).
pub fn session_row<R: Columns>(r: &R, at: usize) -> Result<Option<SessionRow>, R::Error> {
    let Some(time) = r.opt_text(at)? else {
        return Ok(None);
    };
    Ok(Some(SessionRow {
        time,
        host: r.text(at + 1)?,
        location: r.text(at + 2)?,
        medium: r.opt_text(at + 3)?,
    }))
}

/// A row of the listing's query (`sql::incidents_sql`).
pub fn incident_row<R: Columns>(r: &R) -> Result<IncidentRow, R::Error> {
    Ok(IncidentRow {
        agent: r.text(0)?,
        session: r.text(1)?,
        first_time: r.text(2)?,
        first_location: r.text(3)?,
        detections: count(r, 4)?,
        started: session_row(r, 5)?,
        triage: triage_row(r, 9)?,
        auto_event: r.text(16)?,
        auto_causes: r.text(17)?,
        id_need: r.opt_int(18)?.unwrap_or(0).max(0) as u64,
    })
}

/// (agent, session, seq, line).
pub fn line_row<R: Columns>(r: &R) -> Result<LineRow, R::Error> {
    Ok(LineRow {
        agent: r.text(0)?,
        session: r.text(1)?,
        seq: count(r, 2)?,
        line: r.text(3)?,
    })
}

/// (agent, seq).
pub fn cursor_row<R: Columns>(r: &R) -> Result<CursorRow, R::Error> {
    Ok(CursorRow {
        agent: r.text(0)?,
        seq: count(r, 1)?,
    })
}

/// A row of the report's query (`sql::counts_sql`).
pub fn count_row<R: Columns>(r: &R) -> Result<CountRow, R::Error> {
    Ok(CountRow {
        column: r.int(0)?.max(0) as usize,
        state: r.text(1)?,
        event: r.text(2)?,
        causes: r.text(3)?,
        count: count(r, 4)?,
    })
}

/// (seq, hash).
pub fn seq_hash<R: Columns>(r: &R) -> Result<(u64, String), R::Error> {
    Ok((count(r, 0)?, r.text(1)?))
}

/// Two text columns, e.g. (agent, session).
pub fn pair<R: Columns>(r: &R) -> Result<(String, String), R::Error> {
    Ok((r.text(0)?, r.text(1)?))
}
