//! The SQLite backend (bundled SQLite, one file, WAL): the schema as the
//! ordered [`super::MIGRATIONS`] on `PRAGMA user_version`, and [`Backend`]
//! over the statements `sql` renders for SQLite. Each migration runs in its
//! own transaction with the version bump, so a crash leaves the database at
//! one version or the next. Writers take the lock up front (`BEGIN
//! IMMEDIATE`) and wait up to [`BUSY_TIMEOUT`] for another writer (a second
//! `kensa import`), so concurrent imports queue instead of failing. An
//! import refreshes the aggregation columns of every incident it touched
//! before it commits, and a triage updates its incident's current state in
//! the same transaction, so the listing's filters and the report's counts
//! read only `incidents` and its indexes (checked with `EXPLAIN QUERY PLAN`
//! in the tests).

use super::backend::{
    Backend, CountRow, CursorRow, ImportBatch, IncidentRow, LineRow, LogPolicy, Period, Scope,
    SessionRow, TriageRow, TriageState,
};
use super::derived::{self, derive, Derived, FindingRow, Findings, Scanned};
use super::rows::{self, Columns};
use super::sql::{self, Dialect, Param, Texts};
use super::{ImportError, ImportOutcome, StoreError, TrustedKey, SCHEMA_VERSION};
use crate::bundle::BundleLine;
use rusqlite::types::ToSqlOutput;
use rusqlite::{
    params, params_from_iter, Connection, OptionalExtension, Row, Transaction, TransactionBehavior,
};
use std::collections::BTreeSet;
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

/// Version 4: what listing, filtering and counting read, per incident
/// (see `derived`): its time in ms (NULL when it does not parse), its
/// automatic classification, its latest triage row, its current state and
/// classification (the latest triage's, else the automatic), and how many
/// characters of its session id tell it apart (NULL until placed). One
/// index per `incidents list` filter, in listing order, and one covering
/// the report's range scan; an incident's findings indexed in seq order
/// (what [`refresh`] reads).
const V4_AGGREGATION: &str = r#"
ALTER TABLE incidents ADD COLUMN utc_ms INTEGER;
ALTER TABLE incidents ADD COLUMN auto_event TEXT NOT NULL DEFAULT 'precursor';
ALTER TABLE incidents ADD COLUMN auto_causes TEXT NOT NULL DEFAULT '["unknown"]';
ALTER TABLE incidents ADD COLUMN triage_id INTEGER;
ALTER TABLE incidents ADD COLUMN state TEXT NOT NULL DEFAULT 'untriaged';
ALTER TABLE incidents ADD COLUMN event TEXT NOT NULL DEFAULT 'precursor';
ALTER TABLE incidents ADD COLUMN causes TEXT NOT NULL DEFAULT '["unknown"]';
ALTER TABLE incidents ADD COLUMN id_need INTEGER;
CREATE INDEX incidents_state ON incidents(state, sort_time, session, agent);
CREATE INDEX incidents_event ON incidents(event, sort_time, session, agent);
CREATE INDEX incidents_time ON incidents(utc_ms, state, event, causes);
DROP INDEX findings_incident;
CREATE INDEX findings_incident ON findings(agent, session, seq);
"#;

/// Version 5: per destination and agent, the last seq `kensa forward` sent.
const V5_FORWARD: &str = "
CREATE TABLE forward_cursors(destination TEXT NOT NULL, agent TEXT NOT NULL, seq INTEGER NOT NULL, updated TEXT NOT NULL, PRIMARY KEY(destination, agent));
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
            3 => migrate_derived(&tx)?,
            4 => migrate_aggregation(&tx)?,
            _ => tx.execute_batch(V5_FORWARD)?,
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
    let mut stmt = tx.prepare(&q().derivable_lines)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let agent: String = r.get(0)?;
        let seq: i64 = r.get(1)?;
        let kind: String = r.get(2)?;
        let line: String = r.get(3)?;
        store_derived(tx, &agent, seq as u64, &kind, &line)?;
    }
    drop(rows);
    drop(stmt);
    tx.execute_batch(sql::INCIDENTS_OF_FINDINGS)?;
    Ok(())
}

/// Version 4: the aggregation columns, back-filled: the current state of
/// every triaged incident from its latest triage row, then each incident
/// refreshed as an import would (in key order, a thousand at a time).
fn migrate_aggregation(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(V4_AGGREGATION)?;
    tx.execute_batch(
        "UPDATE incidents SET triage_id =
           (SELECT MAX(y.id) FROM triage y WHERE y.agent = incidents.agent AND y.session = incidents.session);
         UPDATE incidents SET
           state = (SELECT CASE WHEN t.false_positive <> 0 THEN 'false_positive' ELSE 'triaged' END
                    FROM triage t WHERE t.id = incidents.triage_id),
           event = (SELECT t.event FROM triage t WHERE t.id = incidents.triage_id),
           causes = (SELECT t.causes FROM triage t WHERE t.id = incidents.triage_id)
         WHERE triage_id IS NOT NULL;",
    )?;
    let mut after = (String::new(), String::new());
    loop {
        let keys: Vec<(String, String)> = tx
            .prepare_cached(&q().incident_keys_after)?
            .query_map(params![after.0, after.1], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let Some(last) = keys.last().cloned() else {
            return Ok(());
        };
        for (agent, session) in &keys {
            refresh(tx, agent, session)?;
        }
        after = last;
    }
}

/// Writes what incidents need from a new line into the derived tables;
/// returns the session of the incident it touched, if any.
fn store_derived(
    tx: &Transaction<'_>,
    agent: &str,
    seq: u64,
    kind: &str,
    line: &str,
) -> rusqlite::Result<Option<String>> {
    if kind != "finding" && kind != "session" {
        return Ok(None);
    }
    match derive(agent, seq, line) {
        Some(d @ Derived::Finding { .. }) if kind == "finding" => store_finding(tx, agent, seq, &d),
        Some(d @ Derived::Session { .. }) if kind == "session" => store_session(tx, agent, seq, &d),
        _ => Ok(None),
    }
}

/// A finding: its row; its incident is made or updated by [`refresh`],
/// once per import, so a finding touches no index of `incidents`.
fn store_finding(
    tx: &Transaction<'_>,
    agent: &str,
    seq: u64,
    d: &Derived,
) -> rusqlite::Result<Option<String>> {
    let Derived::Finding {
        session,
        time,
        location,
        taxonomy,
    } = d
    else {
        return Ok(None);
    };
    tx.prepare_cached(&q().insert_finding)?.execute(params![
        agent, seq as i64, session, time, location, taxonomy
    ])?;
    Ok(Some(session.clone()))
}

/// A session start (the one with the highest seq wins); its incident, if
/// there is one, is touched ([`refresh`] orders it by the session's time).
fn store_session(
    tx: &Transaction<'_>,
    agent: &str,
    seq: u64,
    d: &Derived,
) -> rusqlite::Result<Option<String>> {
    let Derived::Session {
        id,
        time,
        host,
        location,
        medium,
    } = d
    else {
        return Ok(None);
    };
    tx.prepare_cached(&q().upsert_session)?
        .execute(params![agent, id, seq as i64, time, host, location, medium])?;
    Ok(Some(id.clone()))
}

/// Makes or updates one incident from all its lines, after an import
/// touched it (or in the migration): one pass over its findings in seq
/// order with its session ([`Findings`]); then a new incident is placed
/// among its agent's sessions ([`place_id`]) and inserted with every
/// column at once, and a held one is updated only where it changed.
fn refresh(tx: &Connection, agent: &str, session: &str) -> rusqlite::Result<()> {
    let Some((f, started)) = scan(tx, agent, session)? else {
        return Ok(());
    };
    let time = started.unwrap_or_else(|| f.first_time.clone());
    let held: Option<Option<i64>> = tx
        .prepare_cached(&q().held_need)?
        .query_row(params![agent, session], |r| r.get(0))
        .optional()?;
    let utc = derived::utc_ms(&time);
    let Some(need) = held else {
        let need = place_id(tx, agent, session)? as i64;
        tx.prepare_cached(&q().insert_incident)?.execute(params![
            agent,
            session,
            f.first_seq,
            f.first_time,
            f.first_location,
            f.count as i64,
            time,
            utc,
            f.event,
            f.causes,
            need
        ])?;
        return Ok(());
    };
    let need = match need {
        Some(_) => None,
        None => Some(place_id(tx, agent, session)? as i64),
    };
    update_held(tx, agent, session, &f, &time, utc, need)
}

/// A held incident's columns, each statement run only when its columns
/// changed: the count and first finding (and a length not placed yet),
/// then the indexed order, time and classification (so a new finding
/// alone rewrites no index entry).
fn update_held(
    tx: &Connection,
    agent: &str,
    session: &str,
    f: &Scanned,
    time: &str,
    utc: Option<i64>,
    need: Option<i64>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(&q().update_counts)?.execute(params![
        agent,
        session,
        f.count as i64,
        f.first_seq,
        f.first_time,
        f.first_location,
        need
    ])?;
    tx.prepare_cached(&q().update_class)?
        .execute(params![agent, session, time, utc, f.event, f.causes])?;
    Ok(())
}

/// A session record's time, location and medium.
type Started = (String, String, Option<String>);

/// One pass over an incident's findings in seq order, each row with its
/// session's time, location and medium (a session without findings reads
/// nothing more): the incident's columns and its session's time.
fn scan(
    tx: &Connection,
    agent: &str,
    session: &str,
) -> rusqlite::Result<Option<(Scanned, Option<String>)>> {
    let mut stmt = tx.prepare_cached(&q().scan)?;
    let mut rows = stmt.query(params![agent, session])?;
    let mut acc: Option<(Findings, Option<String>)> = None;
    while let Some(r) = rows.next()? {
        let text =
            |i: usize| -> rusqlite::Result<Option<&str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
        if acc.is_none() {
            let started: Option<Started> = match text(5)? {
                Some(t) => Some((
                    t.into(),
                    text(6)?.unwrap_or_default().into(),
                    text(7)?.map(Into::into),
                )),
                None => None,
            };
            let f = Findings::new(started.as_ref().map(|s| (s.1.as_str(), s.2.as_deref())));
            acc = Some((f, started.map(|s| s.0)));
        }
        if let Some((findings, _)) = acc.as_mut() {
            findings.add(
                agent,
                &FindingRow {
                    seq: r.get(0)?,
                    time: text(1)?.unwrap_or_default(),
                    location: text(2)?.unwrap_or_default(),
                    taxonomy: text(3)?,
                    line: text(4)?,
                },
            );
        }
    }
    Ok(acc.and_then(|(f, started)| Some((f.finish()?, started))))
}

/// A new incident's id length from its neighbours among its agent's
/// sessions; a neighbour already placed grows to tell it apart from this
/// one (one not placed yet is placed on its own turn, and sees this one).
fn place_id(tx: &Connection, agent: &str, session: &str) -> rusqlite::Result<usize> {
    let one = |sql: &str| -> rusqlite::Result<Option<(String, Option<i64>)>> {
        tx.prepare_cached(sql)?
            .query_row(params![agent, session], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    };
    let prev = one(&q().prev_incident)?;
    let next = one(&q().next_incident)?;
    for (n, need) in prev.iter().chain(&next) {
        let theirs = (derived::common_prefix(session, n) + 1) as i64;
        if need.is_some_and(|v| v < theirs) {
            tx.prepare_cached(&q().grow_need)?
                .execute(params![agent, n, theirs])?;
        }
    }
    let p = prev.as_ref().map(|(s, _)| s.as_str());
    let n = next.as_ref().map(|(s, _)| s.as_str());
    Ok(derived::id_need(session, [p, n]))
}

fn held_hash(tx: &Transaction<'_>, agent: &str, seq: u64) -> rusqlite::Result<Option<String>> {
    tx.prepare_cached(&q().held_hash)?
        .query_row(params![agent, seq as i64], |r| r.get(0))
        .optional()
}

fn max_seq_in(conn: &Connection, agent: &str) -> rusqlite::Result<u64> {
    let v: Option<i64> = conn.query_row(&q().max_seq, [agent], |r| r.get(0))?;
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
    touched: &mut BTreeSet<String>,
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
            tx.prepare_cached(&q().insert_record)?.execute(params![
                agent,
                line.seq as i64,
                line.hash,
                line.kind,
                line.session,
                line.time,
                line.line,
                now
            ])?;
            touched.extend(store_derived(tx, agent, line.seq, &line.kind, &line.line)?);
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
        &q().log_import,
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

/// The shared statements, as SQLite takes them.
fn q() -> &'static Texts {
    Texts::of(Dialect::Sqlite)
}

impl Columns for Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        Ok(self.get::<_, i64>(i)? != 0)
    }
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Text(t) => ToSqlOutput::from(t.as_str()),
            Param::Int(i) => ToSqlOutput::from(*i),
        })
    }
}

impl Sqlite {
    fn query<P: rusqlite::ToSql, T>(
        &self,
        sql: &str,
        args: &[P],
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(args), f)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn rows<T>(
        &self,
        sql: &str,
        args: &[Param],
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, args, f)
    }

    fn text_rows<T>(
        &self,
        sql: &str,
        args: &[&str],
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, args, f)
    }
}

impl Backend for Sqlite {
    fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(user_version(&self.conn)?)
    }

    fn max_seq(&self, agent: &str) -> Result<u64, StoreError> {
        Ok(max_seq_in(&self.conn, agent)?)
    }

    fn record_hashes(&self, agent: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.text_rows(&q().record_hashes, &[agent], |r| rows::seq_hash(r))
    }

    fn trust_get(&self, agent: &str) -> Result<Option<TrustedKey>, StoreError> {
        Ok(self
            .conn
            .query_row(&q().trust_get, [agent], |r| rows::trusted_key(r))
            .optional()?)
    }

    fn trust_name_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(&q().trust_name_holder, [name], |r| r.get(0))
            .optional()?)
    }

    fn trust_put(&self, k: &TrustedKey) -> Result<(), StoreError> {
        self.conn
            .execute(&q().trust_put, params![k.agent, k.pubkey, k.name, k.added])?;
        Ok(())
    }

    fn trust_list(&self) -> Result<Vec<TrustedKey>, StoreError> {
        self.rows(&q().trust_list, &[], |r| rows::trusted_key(r))
    }

    fn trust_remove(&self, id_or_name: &str) -> Result<usize, StoreError> {
        Ok(self.conn.execute(&q().trust_remove, [id_or_name])?)
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
        let mut touched = BTreeSet::new();
        for line in lines {
            let line = line?;
            insert(&tx, batch.agent, &line, &now, &mut outcome, &mut touched)?;
            outcome.to = outcome.to.max(line.seq);
        }
        for session in &touched {
            refresh(&tx, batch.agent, session)?;
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
        let (sql, args) = sql::incidents_sql(Dialect::Sqlite, scope);
        self.rows(&sql, &args, |r| rows::incident_row(r))
    }

    fn incident_agents(&self) -> Result<Vec<String>, StoreError> {
        self.rows(sql::AGENTS, &[], |r| r.get(0))
    }

    fn agent_neighbours(&self, agent: &str) -> Result<[Option<String>; 2], StoreError> {
        let one = |sql: &str| -> Result<Option<String>, StoreError> {
            Ok(self
                .conn
                .prepare_cached(sql)?
                .query_row([agent], |r| r.get(0))?)
        };
        Ok([one(&q().agent_before)?, one(&q().agent_after)?])
    }

    fn incidents_with_prefix(
        &self,
        agent: Option<&str>,
        session: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (sql, args) = sql::prefix_sql(Dialect::Sqlite, agent, session);
        self.rows(&sql, &args, |r| rows::pair(r))
    }

    fn report_counts(&self, periods: &[Period]) -> Result<Vec<CountRow>, StoreError> {
        if periods.is_empty() {
            return Ok(Vec::new());
        }
        let (sql, args) = sql::counts_sql(Dialect::Sqlite, periods);
        self.rows(&sql, &args, |r| rows::count_row(r))
    }

    fn lines_of_type(&self, agent: &str, kind: &str) -> Result<Vec<LineRow>, StoreError> {
        self.text_rows(&q().lines_of_type, &[agent, kind], |r| rows::line_row(r))
    }

    fn finding_lines(&self, agent: &str, session: &str) -> Result<Vec<LineRow>, StoreError> {
        self.text_rows(&q().finding_lines, &[agent, session], |r| rows::line_row(r))
    }

    fn triage_history(&self, agent: &str, session: &str) -> Result<Vec<TriageRow>, StoreError> {
        let rows = self.text_rows(&q().triage_history, &[agent, session], |r| {
            rows::triage_row(r, 0)
        })?;
        Ok(rows.into_iter().flatten().collect())
    }

    fn triage_insert(&self, agent: &str, session: &str, t: &TriageRow) -> Result<i64, StoreError> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        tx.execute(
            &q().triage_insert,
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
        let id = tx.last_insert_rowid();
        let state = if t.false_positive {
            TriageState::FalsePositive
        } else {
            TriageState::Triaged
        };
        tx.execute(
            &q().triage_current,
            params![agent, session, id, state.slug(), t.event, t.causes],
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn forward_agents(&self) -> Result<Vec<CursorRow>, StoreError> {
        self.rows(&q().forward_agents, &[], |r| rows::cursor_row(r))
    }

    fn forward_cursors(&self, destination: &str) -> Result<Vec<CursorRow>, StoreError> {
        self.text_rows(&q().forward_cursors, &[destination], |r| {
            rows::cursor_row(r)
        })
    }

    fn forward_lines(
        &self,
        agent: &str,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<LineRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&q().forward_lines)?;
        let rows = stmt.query_map(
            params![
                agent,
                after as i64,
                upto as i64,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| rows::line_row(r),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn session_row(&self, agent: &str, session: &str) -> Result<Option<SessionRow>, StoreError> {
        let held = self.text_rows(&q().session_row, &[agent, session], |r| {
            rows::session_row(r, 0)
        })?;
        Ok(held.into_iter().flatten().next())
    }

    fn forward_advance(&self, destination: &str, agent: &str, seq: u64) -> Result<(), StoreError> {
        self.conn.execute(
            &q().forward_advance,
            params![
                destination,
                agent,
                seq as i64,
                crate::findings::now_rfc3339()
            ],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Imports `lines` as agent A's, from the first line's seq on.
    fn import_lines(s: &Sqlite, lines: Vec<BundleLine>) {
        let batch = ImportBatch {
            agent: "A",
            link: None,
            from: lines.first().map_or(1, |l| l.seq),
            to: 0,
            source: "",
            sha256: None,
            log: LogPolicy::Never,
        };
        s.import(&batch, &mut lines.into_iter().map(Ok)).unwrap();
    }

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
        // The aggregation columns are back-filled: the finding carried no
        // taxonomy, so the policy classified it (a removable medium).
        assert_eq!(rows[0].auto_event, "precursor");
        assert_eq!(rows[0].auto_causes, r#"["unknown"]"#);
        let count = |scope: Scope<'_>| s.incidents(&scope).unwrap().len();
        let leak = Scope {
            event: Some("leak"),
            state: Some(TriageState::Triaged),
            since: derived::utc_ms("2019-05-01T00:00:00Z"),
            before: derived::utc_ms("2019-05-01T00:00:00.001Z"),
            ..Scope::default()
        };
        assert_eq!(count(leak), 1);
        let untriaged = Scope {
            state: Some(TriageState::Untriaged),
            ..Scope::default()
        };
        assert_eq!(count(untriaged), 0);
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
        import_lines(&s, lines);
        let rows = s.incidents(&Scope::default()).unwrap();
        let order: Vec<&str> = rows.iter().map(|r| r.session.as_str()).collect();
        assert_eq!(order, ["late", "early"]);
        assert_eq!(rows[0].started.as_ref().unwrap().location, "\"removable\"");
        assert_eq!(rows[0].first_location, "\"host\"");
    }

    #[test]
    fn stored_id_lengths_are_those_of_all_sessions_sorted() {
        let s = Sqlite::open_in_memory().unwrap();
        let sessions = [
            "aaaa00000000000011",
            "b",
            "aaaa0000000000001",
            "aaaa00000000000002",
            "aaaa000000000000",
            "aaab",
            "aaaa0000000000001x",
            "c",
        ];
        let mut seq = 0;
        // Three imports, each adding sessions between ones held before.
        for batch in [&sessions[..2], &sessions[2..5], &sessions[5..]] {
            let lines: Vec<BundleLine> = batch
                .iter()
                .map(|id| {
                    seq += 1;
                    let text = format!(
                        r#"{{"type":"finding","v":1,"id":"f{seq}","session":"{id}","time":"2019-02-01T00:00:00Z","location":"host","path":"a","size":1,"sha256":"00","verdict":"malicious","matches":[]}}"#
                    );
                    line(seq, "finding", &text)
                })
                .collect();
            import_lines(&s, lines);
        }
        let mut sorted = sessions.to_vec();
        sorted.sort();
        let rows = s.incidents(&Scope::default()).unwrap();
        assert_eq!(rows.len(), sessions.len());
        for r in rows {
            let i = sorted.iter().position(|x| *x == r.session).unwrap();
            let prev = i.checked_sub(1).map(|j| sorted[j]);
            let next = sorted.get(i + 1).copied();
            let want = derived::id_need(&r.session, [prev, next]);
            assert_eq!(r.id_need as usize, want, "{}", r.session);
        }
    }

    /// The plan SQLite picks for a statement, one line per step.
    fn plan(s: &Sqlite, sql: &str, args: &[Param]) -> String {
        let mut stmt = s
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map(params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn listing_and_counting_use_their_indexes() {
        let s = Sqlite::open_in_memory().unwrap();
        let untriaged = Scope {
            state: Some(TriageState::Untriaged),
            ..Scope::default()
        };
        let leak = Scope {
            event: Some("leak"),
            ..Scope::default()
        };
        let one = Scope {
            only: Some(("A", "s-1")),
            ..Scope::default()
        };
        let cases = [
            (Scope::default(), "SCAN i USING INDEX incidents_order"),
            (untriaged, "SEARCH i USING INDEX incidents_state (state=?)"),
            (leak, "SEARCH i USING INDEX incidents_event (event=?)"),
            (
                one,
                "USING INDEX sqlite_autoindex_incidents_1 (agent=? AND session=?)",
            ),
        ];
        for (scope, want) in cases {
            let (sql, args) = sql::incidents_sql(Dialect::Sqlite, &scope);
            let p = plan(&s, &sql, &args);
            assert!(p.contains(want), "{scope:?}: {p}");
            assert!(!p.contains("TEMP B-TREE"), "no sort for {scope:?}: {p}");
            assert!(p.contains("t USING INTEGER PRIMARY KEY"), "{p}");
        }
        // A time window: its range, and a sort of what it holds.
        let window = Scope {
            since: Some(10),
            before: Some(20),
            ..Scope::default()
        };
        let (sql, args) = sql::incidents_sql(Dialect::Sqlite, &window);
        let p = plan(&s, &sql, &args);
        assert!(
            p.contains("SEARCH i USING INDEX incidents_time (utc_ms>? AND utc_ms<?)"),
            "{p}"
        );
        let periods = [
            Period {
                column: 0,
                from: 0,
                to: 10,
            },
            Period {
                column: 4,
                from: 10,
                to: 20,
            },
        ];
        let (sql, args) = sql::counts_sql(Dialect::Sqlite, &periods);
        let p = plan(&s, &sql, &args);
        assert!(
            p.contains(
                "SEARCH incidents USING COVERING INDEX incidents_time (utc_ms>? AND utc_ms<?)"
            ),
            "{p}"
        );
    }

    #[test]
    fn forward_cursors_only_move_on_and_lines_are_the_forwarded_kinds() {
        let s = Sqlite::open_in_memory().unwrap();
        let text = |kind: &str| format!(r#"{{"type":"{kind}"}}"#);
        let lines = vec![
            line(1, "session", &text("session")),
            line(2, "skip", &text("skip")),
            line(3, "finding", &text("finding")),
            line(4, "summary", &text("summary")),
        ];
        import_lines(&s, lines);
        let seqs = |after, upto, limit| -> Vec<u64> {
            let rows = s.forward_lines("A", after, upto, limit).unwrap();
            rows.iter().map(|r| r.seq).collect()
        };
        assert_eq!(seqs(0, 4, 10), [1, 3, 4], "no skip");
        assert_eq!(seqs(1, 3, 10), [3]);
        assert_eq!(seqs(0, 4, 2), [1, 3]);
        let agents = s.forward_agents().unwrap();
        assert_eq!(
            agents,
            [CursorRow {
                agent: "A".into(),
                seq: 4
            }]
        );
        assert!(s.forward_cursors("d").unwrap().is_empty());
        s.forward_advance("d", "A", 3).unwrap();
        s.forward_advance("d", "A", 2).unwrap();
        let at = |d: &str| s.forward_cursors(d).unwrap();
        assert_eq!(
            at("d"),
            [CursorRow {
                agent: "A".into(),
                seq: 3
            }],
            "never back"
        );
        assert!(at("e").is_empty(), "destinations apart");
    }

    #[test]
    fn every_migration_has_a_step() {
        assert_eq!(
            SCHEMA_VERSION, 5,
            "add the new migration's step to migrate()"
        );
    }
}
