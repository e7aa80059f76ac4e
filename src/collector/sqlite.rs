//! The SQLite backend (bundled SQLite, one file, WAL): the schema as the
//! ordered [`super::MIGRATIONS`] on `PRAGMA user_version`, and every
//! statement of [`Backend`]. Each migration runs in its own transaction
//! with the version bump, so a crash leaves the database at one version or
//! the next. Writers take the lock up front (`BEGIN IMMEDIATE`) and wait
//! up to [`BUSY_TIMEOUT`] for another writer (a second `kensa import`), so
//! concurrent imports queue instead of failing.

use super::backend::{
    Backend, ImportBatch, IncidentRow, LineRow, LogPolicy, Neighbours, Scope, SessionRow,
    TriageRow, TriageState,
};
use super::{derive, Derived, ImportError, ImportOutcome, StoreError, TrustedKey, SCHEMA_VERSION};
use crate::bundle::BundleLine;
use rusqlite::{
    params, params_from_iter, Connection, OptionalExtension, Row, Transaction, TransactionBehavior,
};
use std::path::Path;
use std::time::Duration;

/// How long a statement waits for another connection's lock before it
/// fails as busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const V1_RECORDS: &str = "
CREATE TABLE IF NOT EXISTS records(agent TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, type TEXT NOT NULL, session TEXT, time TEXT, line TEXT NOT NULL, imported TEXT NOT NULL, PRIMARY KEY(agent, seq));
CREATE TABLE IF NOT EXISTS trusted_keys(agent TEXT PRIMARY KEY, pubkey TEXT NOT NULL, name TEXT UNIQUE, added TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS imports(id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, agent TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, added INTEGER NOT NULL, duplicates INTEGER NOT NULL);
";

const V2_TRIAGE: &str = "
CREATE TABLE IF NOT EXISTS triage(id INTEGER PRIMARY KEY AUTOINCREMENT, agent TEXT NOT NULL, session TEXT NOT NULL, event TEXT NOT NULL, causes TEXT NOT NULL, false_positive INTEGER NOT NULL, note TEXT, by TEXT NOT NULL, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS triage_incident ON triage(agent, session);
";

const V3_DERIVED: &str = "
CREATE TABLE findings(agent TEXT NOT NULL, seq INTEGER NOT NULL, session TEXT NOT NULL, time TEXT NOT NULL, location TEXT NOT NULL, taxonomy TEXT, PRIMARY KEY(agent, seq));
CREATE INDEX findings_incident ON findings(agent, session, taxonomy);
CREATE TABLE sessions(agent TEXT NOT NULL, session TEXT NOT NULL, seq INTEGER NOT NULL, time TEXT NOT NULL, host TEXT NOT NULL, location TEXT NOT NULL, medium TEXT, PRIMARY KEY(agent, session));
CREATE TABLE incidents(agent TEXT NOT NULL, session TEXT NOT NULL, first_seq INTEGER NOT NULL, time TEXT NOT NULL, location TEXT NOT NULL, detections INTEGER NOT NULL, sort_time TEXT NOT NULL, PRIMARY KEY(agent, session));
CREATE INDEX incidents_session ON incidents(session, agent);
CREATE INDEX incidents_order ON incidents(sort_time, session, agent);
";

/// The collector database in one SQLite file.
pub struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating and migrating) the database at `path`. SQLite
    /// answers some lock conflicts at once instead of through the busy
    /// timeout (switching a new file to WAL, recovering its index while
    /// another process does the same), so a busy open is retried until
    /// [`BUSY_TIMEOUT`] has passed.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let started = std::time::Instant::now();
        loop {
            match Sqlite::open_once(path) {
                Err(StoreError::Busy) if started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Sqlite, StoreError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: crate::engine::pathfmt::display(path),
            source,
        })?;
        // Before anything that locks: switching to WAL does.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Sqlite::init(conn)
    }

    pub fn open_in_memory() -> Result<Sqlite, StoreError> {
        Sqlite::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Sqlite, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -32768)?;
        migrate(&mut conn)?;
        Ok(Sqlite { conn })
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Runs every migration the database has not had, each in a transaction
/// that holds the write lock and reads the version again under it (two
/// processes opening a new database at once migrate it once).
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(StoreError::Schema { found });
    }
    for version in found + 1..=SCHEMA_VERSION {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if user_version(&tx)? >= version {
            continue;
        }
        match version {
            1 => tx.execute_batch(V1_RECORDS)?,
            2 => migrate_triage(&tx)?,
            _ => migrate_derived(&tx)?,
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// Version 2: the triage table, once versioned on its own in a
/// `schema_versions` table, which is checked and dropped.
fn migrate_triage(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(V2_TRIAGE)?;
    let old: bool = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !old {
        return Ok(());
    }
    let newer: Option<(String, i64)> = tx
        .query_row(
            "SELECT component, version FROM schema_versions WHERE component <> 'triage' OR version > 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((table, found)) = newer {
        return Err(StoreError::TableTooNew { table, found });
    }
    tx.execute_batch("DROP TABLE schema_versions")?;
    Ok(())
}

/// Version 3: the incident columns, derived from every finding and session
/// line already held.
fn migrate_derived(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(V3_DERIVED)?;
    let mut stmt = tx.prepare(
        "SELECT agent, seq, type, line FROM records WHERE type IN ('finding', 'session') ORDER BY agent, seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let agent: String = r.get(0)?;
        let seq: i64 = r.get(1)?;
        let kind: String = r.get(2)?;
        let line: String = r.get(3)?;
        store_derived(tx, &agent, seq as u64, &kind, &line)?;
    }
    Ok(())
}

/// Writes what incidents need from a new line into the derived tables.
fn store_derived(
    tx: &Transaction<'_>,
    agent: &str,
    seq: u64,
    kind: &str,
    line: &str,
) -> rusqlite::Result<()> {
    if kind != "finding" && kind != "session" {
        return Ok(());
    }
    match derive(agent, seq, line) {
        Some(d @ Derived::Finding { .. }) if kind == "finding" => store_finding(tx, agent, seq, &d),
        Some(d @ Derived::Session { .. }) if kind == "session" => store_session(tx, agent, seq, &d),
        _ => Ok(()),
    }
}

/// A finding: its row, and its incident created or counted (the first
/// finding's time and location win; the session's time orders it).
fn store_finding(tx: &Transaction<'_>, agent: &str, seq: u64, d: &Derived) -> rusqlite::Result<()> {
    let Derived::Finding {
        session,
        time,
        location,
        taxonomy,
    } = d
    else {
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT INTO findings(agent, seq, session, time, location, taxonomy) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![agent, seq as i64, session, time, location, taxonomy])?;
    tx.prepare_cached(
        "INSERT INTO incidents(agent, session, first_seq, time, location, detections, sort_time)
         VALUES(?1, ?2, ?3, ?4, ?5, 1,
           COALESCE((SELECT s.time FROM sessions s WHERE s.agent = ?1 AND s.session = ?2), ?4))
         ON CONFLICT(agent, session) DO UPDATE SET detections = detections + 1,
           time = CASE WHEN excluded.first_seq < first_seq THEN excluded.time ELSE time END,
           location = CASE WHEN excluded.first_seq < first_seq THEN excluded.location ELSE location END,
           first_seq = MIN(first_seq, excluded.first_seq),
           sort_time = COALESCE((SELECT s.time FROM sessions s WHERE s.agent = ?1 AND s.session = ?2),
             CASE WHEN excluded.first_seq < first_seq THEN excluded.time ELSE time END)",
    )?
    .execute(params![agent, session, seq as i64, time, location])?;
    Ok(())
}

/// A session start (the one with the highest seq wins), and the order of
/// its incident if one exists already.
fn store_session(tx: &Transaction<'_>, agent: &str, seq: u64, d: &Derived) -> rusqlite::Result<()> {
    let Derived::Session {
        id,
        time,
        host,
        location,
        medium,
    } = d
    else {
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT INTO sessions(agent, session, seq, time, host, location, medium) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(agent, session) DO UPDATE SET seq = excluded.seq, time = excluded.time,
           host = excluded.host, location = excluded.location, medium = excluded.medium
         WHERE excluded.seq > sessions.seq",
    )?
    .execute(params![agent, id, seq as i64, time, host, location, medium])?;
    tx.prepare_cached(
        "UPDATE incidents SET sort_time =
           (SELECT s.time FROM sessions s WHERE s.agent = ?1 AND s.session = ?2)
         WHERE agent = ?1 AND session = ?2",
    )?
    .execute(params![agent, id])?;
    Ok(())
}

fn held_hash(tx: &Transaction<'_>, agent: &str, seq: u64) -> rusqlite::Result<Option<String>> {
    tx.prepare_cached("SELECT hash FROM records WHERE agent = ?1 AND seq = ?2")?
        .query_row(params![agent, seq as i64], |r| r.get(0))
        .optional()
}

fn max_seq_in(conn: &Connection, agent: &str) -> rusqlite::Result<u64> {
    let v: Option<i64> = conn.query_row(
        "SELECT MAX(seq) FROM records WHERE agent = ?1",
        [agent],
        |r| r.get(0),
    )?;
    Ok(v.unwrap_or(0) as u64)
}

/// The line before `from` must be held with the hash the first line names
/// (seq 1's predecessor was already checked against the genesis value).
fn link(tx: &Transaction<'_>, agent: &str, from: u64, first_prev: &str) -> Result<(), ImportError> {
    if from <= 1 {
        return Ok(());
    }
    match held_hash(tx, agent, from - 1)? {
        Some(h) if h == first_prev => Ok(()),
        Some(h) => Err(ImportError::Fork {
            agent: agent.to_string(),
            seq: from - 1,
            held: h,
            got: first_prev.to_string(),
        }),
        None => Err(ImportError::Gap {
            agent: agent.to_string(),
            have: max_seq_in(tx, agent)?,
            from,
        }),
    }
}

fn insert(
    tx: &Transaction<'_>,
    agent: &str,
    line: &BundleLine,
    now: &str,
    outcome: &mut ImportOutcome,
) -> Result<(), ImportError> {
    match held_hash(tx, agent, line.seq)? {
        Some(h) if h == line.hash => outcome.duplicates += 1,
        Some(h) => {
            return Err(ImportError::Fork {
                agent: agent.to_string(),
                seq: line.seq,
                held: h,
                got: line.hash.clone(),
            })
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO records(agent, seq, hash, type, session, time, line, imported)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                agent,
                line.seq as i64,
                line.hash,
                line.kind,
                line.session,
                line.time,
                line.line,
                now
            ])?;
            store_derived(tx, agent, line.seq, &line.kind, &line.line)?;
            outcome.added += 1;
        }
    }
    Ok(())
}

fn log_import(
    tx: &Transaction<'_>,
    o: &ImportOutcome,
    batch: &ImportBatch<'_>,
    now: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO imports(time, agent, source, sha256, from_seq, to_seq, added, duplicates)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            now,
            o.agent,
            batch.source,
            batch.sha256,
            o.from as i64,
            o.to as i64,
            o.added as i64,
            o.duplicates as i64
        ],
    )?;
    Ok(())
}

fn trusted_key(r: &Row<'_>) -> rusqlite::Result<TrustedKey> {
    Ok(TrustedKey {
        agent: r.get(0)?,
        pubkey: r.get(1)?,
        name: r.get(2)?,
        added: r.get(3)?,
    })
}

/// A triage row from columns `at..at + 7`; `None` when the id is NULL (no
/// triage joined).
fn triage_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Option<TriageRow>> {
    let Some(id) = r.get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    Ok(Some(TriageRow {
        id,
        event: r.get(at + 1)?,
        causes: r.get(at + 2)?,
        false_positive: r.get::<_, i64>(at + 3)? != 0,
        note: r.get(at + 4)?,
        by: r.get(at + 5)?,
        time: r.get(at + 6)?,
    }))
}

fn incident_row(r: &Row<'_>) -> rusqlite::Result<IncidentRow> {
    let started = match r.get::<_, Option<String>>(5)? {
        Some(time) => Some(SessionRow {
            time,
            host: r.get(6)?,
            location: r.get(7)?,
            medium: r.get(8)?,
        }),
        None => None,
    };
    Ok(IncidentRow {
        agent: r.get(0)?,
        session: r.get(1)?,
        first_time: r.get(2)?,
        first_location: r.get(3)?,
        detections: r.get::<_, i64>(4)? as u64,
        started,
        triage: triage_row(r, 9)?,
    })
}

fn line_row(r: &Row<'_>) -> rusqlite::Result<LineRow> {
    Ok(LineRow {
        agent: r.get(0)?,
        session: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        line: r.get(3)?,
    })
}

/// The latest triage row's `column` of the incident of the row `t`.
fn latest_triage(t: &str, column: &str) -> String {
    format!(
        "(SELECT y.{column} FROM triage y WHERE y.agent = {t}.agent AND y.session = {t}.session ORDER BY y.id DESC LIMIT 1)"
    )
}

/// The condition that the incident of the row `t` is in a triage state.
fn state_sql(t: &str, state: TriageState) -> String {
    match state {
        TriageState::Untriaged => format!(
            "NOT EXISTS (SELECT 1 FROM triage x WHERE x.agent = {t}.agent AND x.session = {t}.session)"
        ),
        TriageState::Triaged => format!("{} = 0", latest_triage(t, "false_positive")),
        TriageState::FalsePositive => format!("{} = 1", latest_triage(t, "false_positive")),
    }
}

/// The condition that the incident of the row `t` may be event `?{n}`
/// (see [`Scope::event`]); a taxonomy that is not valid JSON is skipped.
fn event_sql(t: &str, n: usize) -> String {
    format!(
        "({latest} = ?{n} OR ({untriaged} AND EXISTS (SELECT 1 FROM findings g
           WHERE g.agent = {t}.agent AND g.session = {t}.session AND (g.taxonomy IS NULL
             OR CASE WHEN json_valid(g.taxonomy) THEN json_extract(g.taxonomy, '$.event') END = ?{n}))))",
        latest = latest_triage(t, "event"),
        untriaged = state_sql(t, TriageState::Untriaged),
    )
}

/// The incident time of the row `t` in UTC as `YYYY-MM-DDTHH:MM:SS.sss`
/// (NULL when it does not parse).
fn time_sql(t: &str) -> String {
    format!(
        "(SELECT strftime('%Y-%m-%dT%H:%M:%f', z.sort_time) FROM incidents z WHERE z.agent = {t}.agent AND z.session = {t}.session)"
    )
}

/// The WHERE clause of a scope over a table aliased `t` that has `agent`
/// and `session` columns, and its parameters.
fn scope_sql(scope: &Scope<'_>, t: &str) -> (String, Vec<String>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(a) = scope.agent {
        args.push(a.to_string());
        conds.push(format!("{t}.agent = ?{}", args.len()));
    }
    if let Some((a, s)) = scope.only {
        args.push(a.to_string());
        conds.push(format!("{t}.agent = ?{}", args.len()));
        args.push(s.to_string());
        conds.push(format!("{t}.session = ?{}", args.len()));
    }
    if let Some(state) = scope.state {
        conds.push(state_sql(t, state));
    }
    if let Some(since) = scope.since {
        args.push(since.to_string());
        conds.push(format!("{} >= ?{}", time_sql(t), args.len()));
    }
    if let Some(before) = scope.before {
        args.push(before.to_string());
        conds.push(format!("{} < ?{}", time_sql(t), args.len()));
    }
    if let Some(event) = scope.event {
        args.push(event.to_string());
        conds.push(event_sql(t, args.len()));
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" AND {}", conds.join(" AND ")), args)
    }
}

impl Sqlite {
    fn rows<T>(
        &self,
        sql: &str,
        args: &[String],
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(args), f)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const TRIAGE_COLUMNS: &str = "id, event, causes, false_positive, note, by, time";

impl Backend for Sqlite {
    fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(user_version(&self.conn)?)
    }

    fn max_seq(&self, agent: &str) -> Result<u64, StoreError> {
        Ok(max_seq_in(&self.conn, agent)?)
    }

    fn record_hashes(&self, agent: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.rows(
            "SELECT seq, hash FROM records WHERE agent = ?1 ORDER BY seq",
            &[agent.to_string()],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
        )
    }

    fn trust_get(&self, agent: &str) -> Result<Option<TrustedKey>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT agent, pubkey, name, added FROM trusted_keys WHERE agent = ?1",
                [agent],
                trusted_key,
            )
            .optional()?)
    }

    fn trust_name_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT agent FROM trusted_keys WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn trust_put(&self, k: &TrustedKey) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO trusted_keys(agent, pubkey, name, added) VALUES(?1, ?2, ?3, ?4)
             ON CONFLICT(agent) DO UPDATE SET name = COALESCE(excluded.name, trusted_keys.name)",
            params![k.agent, k.pubkey, k.name, k.added],
        )?;
        Ok(())
    }

    fn trust_list(&self) -> Result<Vec<TrustedKey>, StoreError> {
        self.rows(
            "SELECT agent, pubkey, name, added FROM trusted_keys ORDER BY agent",
            &[],
            trusted_key,
        )
    }

    fn trust_remove(&self, id_or_name: &str) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM trusted_keys WHERE agent = ?1 OR name = ?1",
            [id_or_name],
        )?)
    }

    fn import(
        &self,
        batch: &ImportBatch<'_>,
        lines: &mut dyn Iterator<Item = Result<BundleLine, ImportError>>,
    ) -> Result<ImportOutcome, ImportError> {
        // The write lock first: a deferred transaction that read before
        // writing fails at once when another import commits in between.
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        if let Some((from, prev)) = batch.link {
            link(&tx, batch.agent, from, prev)?;
        }
        let mut outcome = ImportOutcome {
            agent: batch.agent.to_string(),
            from: batch.from,
            to: batch.to,
            added: 0,
            duplicates: 0,
        };
        let now = crate::findings::now_rfc3339();
        for line in lines {
            let line = line?;
            insert(&tx, batch.agent, &line, &now, &mut outcome)?;
            outcome.to = outcome.to.max(line.seq);
        }
        let log = match batch.log {
            LogPolicy::Always => true,
            LogPolicy::IfAdded => outcome.added > 0,
            LogPolicy::Never => false,
        };
        if log {
            log_import(&tx, &outcome, batch, &now)?;
        }
        tx.commit().map_err(StoreError::from)?;
        Ok(outcome)
    }

    fn incidents(&self, scope: &Scope<'_>) -> Result<Vec<IncidentRow>, StoreError> {
        let (cond, args) = scope_sql(scope, "i");
        let sql = format!(
            "SELECT i.agent, i.session, i.time, i.location, i.detections,
                    s.time, s.host, s.location, s.medium,
                    t.id, t.event, t.causes, t.false_positive, t.note, t.by, t.time
             FROM incidents i
             LEFT JOIN sessions s ON s.agent = i.agent AND s.session = i.session
             LEFT JOIN triage t ON t.id =
                 (SELECT MAX(y.id) FROM triage y WHERE y.agent = i.agent AND y.session = i.session)
             WHERE 1 = 1{cond}
             ORDER BY i.sort_time, i.session, i.agent"
        );
        self.rows(&sql, &args, incident_row)
    }

    fn incident_keys(&self, agent: Option<&str>) -> Result<Vec<(String, String)>, StoreError> {
        let scope = Scope {
            agent,
            ..Scope::default()
        };
        let (cond, args) = scope_sql(&scope, "i");
        let sql = format!("SELECT i.agent, i.session FROM incidents i WHERE 1 = 1{cond}");
        self.rows(&sql, &args, |r| Ok((r.get(0)?, r.get(1)?)))
    }

    fn incident_agents(&self) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT DISTINCT agent FROM incidents ORDER BY agent",
            &[],
            |r| r.get(0),
        )
    }

    fn incident_neighbours(&self, agent: &str, session: &str) -> Result<Neighbours, StoreError> {
        let one = |sql: &str, args: &[String]| -> Result<Option<String>, StoreError> {
            Ok(self.rows(sql, args, |r| r.get(0))?.into_iter().next())
        };
        let a = [agent.to_string()];
        let s = [agent.to_string(), session.to_string()];
        Ok(Neighbours {
            agents: [
                one("SELECT agent FROM incidents WHERE agent < ?1 ORDER BY agent DESC LIMIT 1", &a)?,
                one("SELECT agent FROM incidents WHERE agent > ?1 ORDER BY agent LIMIT 1", &a)?,
            ],
            sessions: [
                one(
                    "SELECT session FROM incidents WHERE agent = ?1 AND session < ?2 ORDER BY session DESC LIMIT 1",
                    &s,
                )?,
                one(
                    "SELECT session FROM incidents WHERE agent = ?1 AND session > ?2 ORDER BY session LIMIT 1",
                    &s,
                )?,
            ],
        })
    }

    fn incidents_with_prefix(
        &self,
        agent: Option<&str>,
        session: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut args = vec![session.to_string()];
        let mut sql = String::from(
            "SELECT agent, session FROM incidents WHERE substr(session, 1, length(?1)) = ?1",
        );
        if let Some(a) = agent {
            args.push(a.to_string());
            sql.push_str(" AND upper(substr(agent, 1, length(?2))) = upper(?2)");
        }
        sql.push_str(" ORDER BY session, agent");
        self.rows(&sql, &args, |r| Ok((r.get(0)?, r.get(1)?)))
    }

    fn taxonomies(&self, scope: &Scope<'_>) -> Result<Vec<(String, String, String)>, StoreError> {
        let (cond, args) = scope_sql(scope, "f");
        let sql = format!(
            "SELECT DISTINCT f.agent, f.session, f.taxonomy FROM findings f WHERE f.taxonomy IS NOT NULL{cond}"
        );
        self.rows(&sql, &args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    }

    fn untagged_findings(&self, scope: &Scope<'_>) -> Result<Vec<LineRow>, StoreError> {
        let (cond, args) = scope_sql(scope, "f");
        let sql = format!(
            "SELECT f.agent, f.session, f.seq, r.line FROM findings f
             JOIN records r ON r.agent = f.agent AND r.seq = f.seq
             WHERE f.taxonomy IS NULL{cond} ORDER BY f.agent, f.seq"
        );
        self.rows(&sql, &args, line_row)
    }

    fn lines_of_type(&self, agent: &str, kind: &str) -> Result<Vec<LineRow>, StoreError> {
        self.rows(
            "SELECT agent, '', seq, line FROM records WHERE agent = ?1 AND type = ?2 ORDER BY seq",
            &[agent.to_string(), kind.to_string()],
            line_row,
        )
    }

    fn finding_lines(&self, agent: &str, session: &str) -> Result<Vec<LineRow>, StoreError> {
        self.rows(
            "SELECT f.agent, f.session, f.seq, r.line FROM findings f
             JOIN records r ON r.agent = f.agent AND r.seq = f.seq
             WHERE f.agent = ?1 AND f.session = ?2 ORDER BY f.seq",
            &[agent.to_string(), session.to_string()],
            line_row,
        )
    }

    fn triage_history(&self, agent: &str, session: &str) -> Result<Vec<TriageRow>, StoreError> {
        let sql = format!(
            "SELECT {TRIAGE_COLUMNS} FROM triage WHERE agent = ?1 AND session = ?2 ORDER BY id"
        );
        let rows = self.rows(&sql, &[agent.to_string(), session.to_string()], |r| {
            triage_row(r, 0)
        })?;
        Ok(rows.into_iter().flatten().collect())
    }

    fn triage_insert(&self, agent: &str, session: &str, t: &TriageRow) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO triage(agent, session, event, causes, false_positive, note, by, time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                agent,
                session,
                t.event,
                t.causes,
                t.false_positive as i64,
                t.note,
                t.by,
                t.time
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as kensa 0.x left it: user_version 1, the triage table
    /// versioned in `schema_versions`, records already imported.
    fn old_database(path: &Path, triage_version: i64) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(V1_RECORDS).unwrap();
        conn.execute_batch(V2_TRIAGE).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_versions(component TEXT PRIMARY KEY, version INTEGER NOT NULL);",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO schema_versions VALUES('triage', ?1)",
            [triage_version],
        )
        .unwrap();
        let session = r#"{"type":"session","v":1,"id":"s-1","time":"2019-05-01T00:00:00Z","host":"hmi","location":"removable","paths":[],"ruleset":{"id":"r","digest":"d","rules":1,"hashes":0},"version":"t","seq":1,"prev":"0"}"#;
        let finding = r#"{"type":"finding","v":1,"id":"f-1","session":"s-1","time":"2019-05-01T00:00:01Z","location":"removable","path":"a.exe","size":1,"sha256":"00","verdict":"malicious","matches":[],"seq":2,"prev":"1"}"#;
        for (seq, kind, line) in [(1, "session", session), (2, "finding", finding)] {
            conn.execute(
                "INSERT INTO records VALUES('A', ?1, ?2, ?3, 's-1', NULL, ?4, 'now')",
                params![seq, format!("h{seq}"), kind, line],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO triage(agent, session, event, causes, false_positive, by, time) VALUES('A', 's-1', 'leak', '[]', 0, 'me', 'now')",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }

    #[test]
    fn an_old_database_migrates_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kensa.db");
        old_database(&path, 1);
        let s = Sqlite::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let rows = s.incidents(&Scope::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].detections, 1);
        assert_eq!(rows[0].started.as_ref().unwrap().host, "hmi");
        assert_eq!(rows[0].triage.as_ref().unwrap().event, "leak");
        assert_eq!(s.max_seq("A").unwrap(), 2);
        let gone: Option<i64> = s
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE name = 'schema_versions'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(gone, None);
    }

    #[test]
    fn a_newer_triage_table_is_refused_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kensa.db");
        old_database(&path, 2);
        assert!(matches!(
            Sqlite::open(&path),
            Err(StoreError::TableTooNew { .. })
        ));
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 1);
    }

    fn line(seq: u64, kind: &str, text: &str) -> BundleLine {
        BundleLine {
            seq,
            hash: format!("h{seq}"),
            kind: kind.into(),
            session: None,
            time: None,
            line: text.into(),
        }
    }

    #[test]
    fn a_session_held_after_its_findings_orders_its_incident() {
        let s = Sqlite::open_in_memory().unwrap();
        let finding = |seq: u64, session: &str, time: &str| {
            let text = format!(
                r#"{{"type":"finding","v":1,"id":"f{seq}","session":"{session}","time":"{time}","location":"host","path":"a","size":1,"sha256":"00","verdict":"malicious","matches":[]}}"#
            );
            line(seq, "finding", &text)
        };
        let session = r#"{"type":"session","v":1,"id":"late","time":"2019-01-01T00:00:00Z","host":"h","location":"removable","paths":[],"ruleset":{"id":"r","digest":"d","rules":1,"hashes":0},"version":"t"}"#;
        let lines = vec![
            finding(1, "early", "2019-02-01T00:00:00Z"),
            finding(2, "late", "2019-03-01T00:00:00Z"),
            line(3, "session", session),
        ];
        let batch = ImportBatch {
            agent: "A",
            link: None,
            from: 1,
            to: 0,
            source: "",
            sha256: None,
            log: LogPolicy::Never,
        };
        s.import(&batch, &mut lines.into_iter().map(Ok)).unwrap();
        let rows = s.incidents(&Scope::default()).unwrap();
        let order: Vec<&str> = rows.iter().map(|r| r.session.as_str()).collect();
        assert_eq!(order, ["late", "early"]);
        assert_eq!(rows[0].started.as_ref().unwrap().location, "\"removable\"");
        assert_eq!(rows[0].first_location, "\"host\"");
    }

    #[test]
    fn every_migration_has_a_step() {
        assert_eq!(
            SCHEMA_VERSION, 3,
            "add the new migration's step to migrate()"
        );
    }
}
