//! The PostgreSQL backend (the sync `postgres` client, one connection per
//! store): the schema as the ordered [`super::MIGRATIONS`], its version in
//! the one-row table `kensa_schema`, and every statement of [`Backend`],
//! each the counterpart of one in `sqlite`. Text columns compare as bytes
//! (`COLLATE "C"`), as SQLite's do, so both backends sort alike whatever
//! the database's locale. Migrations run under a transaction-scoped
//! advisory lock, one transaction each with the version bump. Many
//! importers may write at once: each import is one READ COMMITTED
//! transaction that first takes an advisory lock derived from its agent
//! id, so two imports of one agent queue (the later one sees what the
//! first stored) while imports of different agents run side by side; a
//! serialization failure or deadlock the server reports anyway is retried
//! a few times.

use super::backend::{
    Backend, CursorRow, ImportBatch, IncidentRow, LineRow, LogPolicy, Neighbours, Scope,
    SessionRow, TriageRow, TriageState,
};
use super::pgconn::PgTarget;
use super::{derive, Derived, ImportError, ImportOutcome, StoreError, TrustedKey, SCHEMA_VERSION};
use crate::bundle::BundleLine;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, IsolationLevel, Row, Statement, Transaction};
use std::cell::{RefCell, RefMut};
use std::time::Duration;

/// Advisory lock key (arbitrary, "kensa" + 1) held while migrating.
const MIGRATION_LOCK: i64 = 0x6b65_6e73_6100_0001;
/// Attempts of one import when the server reports a serialization failure
/// or a deadlock.
const IMPORT_ATTEMPTS: u32 = 5;
/// Bytes of lines kept to replay an import on a retry; past this, a
/// serialization failure is returned instead of retried.
const MAX_REPLAY: usize = 64 << 20;

const V1_RECORDS: &str = r#"
CREATE TABLE records(agent TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, hash TEXT NOT NULL, type TEXT COLLATE "C" NOT NULL, session TEXT COLLATE "C", time TEXT COLLATE "C", line TEXT NOT NULL, imported TEXT NOT NULL, PRIMARY KEY(agent, seq));
CREATE TABLE trusted_keys(agent TEXT COLLATE "C" PRIMARY KEY, pubkey TEXT NOT NULL, name TEXT COLLATE "C" UNIQUE, added TEXT NOT NULL);
CREATE TABLE imports(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, time TEXT NOT NULL, agent TEXT COLLATE "C" NOT NULL, source TEXT NOT NULL, sha256 TEXT, from_seq BIGINT NOT NULL, to_seq BIGINT NOT NULL, added BIGINT NOT NULL, duplicates BIGINT NOT NULL);
"#;

const V2_TRIAGE: &str = r#"
CREATE TABLE triage(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, agent TEXT COLLATE "C" NOT NULL, session TEXT COLLATE "C" NOT NULL, event TEXT COLLATE "C" NOT NULL, causes TEXT NOT NULL, false_positive BOOLEAN NOT NULL, note TEXT, "by" TEXT NOT NULL, time TEXT NOT NULL);
CREATE INDEX triage_incident ON triage(agent, session);
"#;

/// Version 3, with the two functions that stand for SQLite's `strftime`
/// and `json_extract` in scope conditions: NULL, never an error, for a
/// value that does not parse.
const V3_DERIVED: &str = r#"
CREATE TABLE findings(agent TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, session TEXT COLLATE "C" NOT NULL, time TEXT COLLATE "C" NOT NULL, location TEXT NOT NULL, taxonomy TEXT, PRIMARY KEY(agent, seq));
CREATE INDEX findings_incident ON findings(agent, session, taxonomy);
CREATE TABLE sessions(agent TEXT COLLATE "C" NOT NULL, session TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, time TEXT COLLATE "C" NOT NULL, host TEXT NOT NULL, location TEXT NOT NULL, medium TEXT, PRIMARY KEY(agent, session));
CREATE TABLE incidents(agent TEXT COLLATE "C" NOT NULL, session TEXT COLLATE "C" NOT NULL, first_seq BIGINT NOT NULL, time TEXT COLLATE "C" NOT NULL, location TEXT NOT NULL, detections BIGINT NOT NULL, sort_time TEXT COLLATE "C" NOT NULL, PRIMARY KEY(agent, session));
CREATE INDEX incidents_session ON incidents(session, agent);
CREATE INDEX incidents_order ON incidents(sort_time, session, agent);
CREATE FUNCTION kensa_utc(t TEXT) RETURNS TEXT LANGUAGE plpgsql STABLE SET TimeZone = 'UTC' AS $f$
BEGIN
  IF t !~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([Zz]|[+-]\d{2}:\d{2})?$' THEN
    RETURN NULL;
  END IF;
  RETURN to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS');
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$f$;
CREATE FUNCTION kensa_json_event(t TEXT) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  RETURN t::jsonb ->> 'event';
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$f$;
"#;

/// Version 5: per destination and agent, the last seq `kensa forward` sent.
const V5_FORWARD: &str = r#"
CREATE TABLE forward_cursors(destination TEXT COLLATE "C" NOT NULL, agent TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, updated TEXT NOT NULL, PRIMARY KEY(destination, agent));
"#;

/// The collector database on a PostgreSQL server.
pub struct Postgres {
    client: RefCell<Client>,
}

impl Postgres {
    /// Connects to `target` and brings its schema up to date.
    pub fn open(target: &PgTarget) -> Result<Postgres, StoreError> {
        let mut client = target.connect()?;
        migrate(&mut client)?;
        Ok(Postgres {
            client: RefCell::new(client),
        })
    }

    fn client(&self) -> Result<RefMut<'_, Client>, StoreError> {
        self.client
            .try_borrow_mut()
            .map_err(|_| StoreError::Reentered)
    }

    fn rows<T>(
        &self,
        sql: &str,
        args: &[String],
        f: impl FnMut(&Row) -> Result<T, postgres::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let rows = self.client()?.query(sql, &params)?;
        Ok(rows.iter().map(f).collect::<Result<_, _>>()?)
    }
}

/// The version in `kensa_schema`; 0 when the table does not exist yet.
/// Asks `pg_class` with the statement's snapshot (not `to_regclass`, whose
/// cached catalog may not show a table another session created while this
/// one waited for the migration lock).
fn stored_version(c: &mut impl GenericClient) -> Result<i64, postgres::Error> {
    let exists: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relname = 'kensa_schema' AND n.nspname = current_schema())",
            &[],
        )?
        .try_get(0)?;
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> = c
        .query_one("SELECT MAX(version) FROM kensa_schema", &[])?
        .try_get(0)?;
    Ok(v.unwrap_or(0))
}

/// Runs every migration the database has not had, each in a transaction
/// that holds the migration lock and reads the version again under it (two
/// processes opening a new database at once migrate it once). A database
/// already current is only read, so a role that may not create tables can
/// use it.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let found = stored_version(client)?;
    if !(0..=SCHEMA_VERSION).contains(&found) {
        return Err(StoreError::Schema { found });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        let found = stored_version(&mut tx)?;
        if !(0..=SCHEMA_VERSION).contains(&found) {
            return Err(StoreError::Schema { found });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let version = found + 1;
        match version {
            1 => {
                tx.batch_execute("CREATE TABLE kensa_schema(version BIGINT NOT NULL)")?;
                tx.execute("INSERT INTO kensa_schema(version) VALUES(0)", &[])?;
                tx.batch_execute(V1_RECORDS)?;
            }
            // The per-table versions SQLite once had never existed here.
            2 => tx.batch_execute(V2_TRIAGE)?,
            3 => migrate_derived(&mut tx)?,
            _ => tx.batch_execute(V5_FORWARD)?,
        }
        tx.execute("UPDATE kensa_schema SET version = $1", &[&version])?;
        tx.commit()?;
    }
}

/// Version 3: the incident columns, derived from every finding and session
/// line already held.
fn migrate_derived(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute(V3_DERIVED)?;
    let held = tx.query(
        "SELECT agent, seq, type, line FROM records WHERE type IN ('finding', 'session') ORDER BY agent, seq",
        &[],
    )?;
    let stmts = Statements::prepare(tx)?;
    for r in &held {
        let agent: String = r.try_get(0)?;
        let seq: i64 = r.try_get(1)?;
        let kind: String = r.try_get(2)?;
        let line: String = r.try_get(3)?;
        store_derived(tx, &stmts, &agent, seq as u64, &kind, &line)?;
    }
    Ok(())
}

/// The statements an import runs per line, prepared once per transaction.
struct Statements {
    held: Statement,
    insert: Statement,
    finding: Statement,
    incident: Statement,
    session: Statement,
    session_order: Statement,
}

impl Statements {
    fn prepare(tx: &mut Transaction<'_>) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            held: tx.prepare("SELECT hash FROM records WHERE agent = $1 AND seq = $2")?,
            insert: tx.prepare(
                "INSERT INTO records(agent, seq, hash, type, session, time, line, imported)
                 VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
            )?,
            finding: tx.prepare(
                "INSERT INTO findings(agent, seq, session, time, location, taxonomy) VALUES($1, $2, $3, $4, $5, $6)",
            )?,
            incident: tx.prepare(
                "INSERT INTO incidents AS i(agent, session, first_seq, time, location, detections, sort_time)
                 VALUES($1, $2, $3, $4, $5, 1,
                   COALESCE((SELECT s.time FROM sessions s WHERE s.agent = $1 AND s.session = $2), $4))
                 ON CONFLICT(agent, session) DO UPDATE SET detections = i.detections + 1,
                   time = CASE WHEN excluded.first_seq < i.first_seq THEN excluded.time ELSE i.time END,
                   location = CASE WHEN excluded.first_seq < i.first_seq THEN excluded.location ELSE i.location END,
                   first_seq = LEAST(i.first_seq, excluded.first_seq),
                   sort_time = COALESCE((SELECT s.time FROM sessions s WHERE s.agent = $1 AND s.session = $2),
                     CASE WHEN excluded.first_seq < i.first_seq THEN excluded.time ELSE i.time END)",
            )?,
            session: tx.prepare(
                "INSERT INTO sessions AS s(agent, session, seq, time, host, location, medium) VALUES($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT(agent, session) DO UPDATE SET seq = excluded.seq, time = excluded.time,
                   host = excluded.host, location = excluded.location, medium = excluded.medium
                 WHERE excluded.seq > s.seq",
            )?,
            session_order: tx.prepare(
                "UPDATE incidents SET sort_time =
                   (SELECT s.time FROM sessions s WHERE s.agent = $1 AND s.session = $2)
                 WHERE agent = $1 AND session = $2",
            )?,
        })
    }
}

/// Writes what incidents need from a new line into the derived tables.
fn store_derived(
    tx: &mut Transaction<'_>,
    st: &Statements,
    agent: &str,
    seq: u64,
    kind: &str,
    line: &str,
) -> Result<(), postgres::Error> {
    if kind != "finding" && kind != "session" {
        return Ok(());
    }
    let seq_i = seq as i64;
    match derive(agent, seq, line) {
        Some(Derived::Finding {
            session,
            time,
            location,
            taxonomy,
        }) if kind == "finding" => {
            tx.execute(
                &st.finding,
                &[&agent, &seq_i, &session, &time, &location, &taxonomy],
            )?;
            tx.execute(&st.incident, &[&agent, &session, &seq_i, &time, &location])?;
        }
        Some(Derived::Session {
            id,
            time,
            host,
            location,
            medium,
        }) if kind == "session" => {
            tx.execute(
                &st.session,
                &[&agent, &id, &seq_i, &time, &host, &location, &medium],
            )?;
            tx.execute(&st.session_order, &[&agent, &id])?;
        }
        _ => {}
    }
    Ok(())
}

fn held_hash(
    tx: &mut Transaction<'_>,
    st: &Statements,
    agent: &str,
    seq: u64,
) -> Result<Option<String>, postgres::Error> {
    match tx.query_opt(&st.held, &[&agent, &(seq as i64)])? {
        Some(r) => r.try_get(0),
        None => Ok(None),
    }
}

fn max_seq_in(c: &mut impl GenericClient, agent: &str) -> Result<u64, postgres::Error> {
    let v: Option<i64> = c
        .query_one("SELECT MAX(seq) FROM records WHERE agent = $1", &[&agent])?
        .try_get(0)?;
    Ok(v.unwrap_or(0) as u64)
}

/// The line before `from` must be held with the hash the first line names
/// (seq 1's predecessor was already checked against the genesis value).
fn link(
    tx: &mut Transaction<'_>,
    st: &Statements,
    agent: &str,
    from: u64,
    first_prev: &str,
) -> Result<(), ImportError> {
    if from <= 1 {
        return Ok(());
    }
    match held_hash(tx, st, agent, from - 1).map_err(StoreError::from)? {
        Some(h) if h == first_prev => Ok(()),
        Some(h) => Err(ImportError::Fork {
            agent: agent.to_string(),
            seq: from - 1,
            held: h,
            got: first_prev.to_string(),
        }),
        None => Err(ImportError::Gap {
            agent: agent.to_string(),
            have: max_seq_in(tx, agent).map_err(StoreError::from)?,
            from,
        }),
    }
}

fn insert(
    tx: &mut Transaction<'_>,
    st: &Statements,
    agent: &str,
    line: &BundleLine,
    now: &str,
    outcome: &mut ImportOutcome,
) -> Result<(), ImportError> {
    match held_hash(tx, st, agent, line.seq).map_err(StoreError::from)? {
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
            tx.execute(
                &st.insert,
                &[
                    &agent,
                    &(line.seq as i64),
                    &line.hash,
                    &line.kind,
                    &line.session,
                    &line.time,
                    &line.line,
                    &now,
                ],
            )
            .map_err(StoreError::from)?;
            store_derived(tx, st, agent, line.seq, &line.kind, &line.line)
                .map_err(StoreError::from)?;
            outcome.added += 1;
        }
    }
    Ok(())
}

fn log_import(
    tx: &mut Transaction<'_>,
    o: &ImportOutcome,
    batch: &ImportBatch<'_>,
    now: &str,
) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO imports(time, agent, source, sha256, from_seq, to_seq, added, duplicates)
         VALUES($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &now,
            &o.agent,
            &batch.source,
            &batch.sha256,
            &(o.from as i64),
            &(o.to as i64),
            &(o.added as i64),
            &(o.duplicates as i64),
        ],
    )?;
    Ok(())
}

/// The advisory lock key of an agent: the first 8 bytes of a SHA-256 of
/// its id (two agents sharing a key only queue behind each other).
fn agent_lock(agent: &str) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("kensa agent {agent}").as_bytes());
    i64::from_be_bytes(d.as_slice().first_chunk::<8>().copied().unwrap_or_default())
}

/// The lines of one import, kept as they are read (up to [`MAX_REPLAY`]
/// bytes) so that a retried transaction reads the same lines again.
struct Replay<'a> {
    rest: &'a mut dyn Iterator<Item = Result<BundleLine, ImportError>>,
    seen: Vec<BundleLine>,
    bytes: usize,
    pos: usize,
    overflow: bool,
}

impl Replay<'_> {
    fn next_line(&mut self) -> Option<Result<BundleLine, ImportError>> {
        if let Some(l) = self.seen.get(self.pos) {
            self.pos += 1;
            return Some(Ok(l.clone()));
        }
        let item = self.rest.next()?;
        if let Ok(l) = &item {
            self.bytes += l.line.len();
            if self.overflow || self.bytes > MAX_REPLAY {
                self.overflow = true;
                self.seen = Vec::new();
            } else {
                self.seen.push(l.clone());
                self.pos += 1;
            }
        }
        Some(item)
    }

    /// Starts again from the first line; false when they were not kept.
    fn rewind(&mut self) -> bool {
        self.pos = 0;
        !self.overflow
    }
}

/// Whether the server asks for the transaction to be run again.
fn retryable(e: &ImportError) -> bool {
    use postgres::error::SqlState;
    let ImportError::Store(StoreError::Pg(e)) = e else {
        return false;
    };
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// One attempt of an import: one transaction under the agent's lock.
fn import_once(
    client: &mut Client,
    batch: &ImportBatch<'_>,
    lines: &mut Replay<'_>,
) -> Result<ImportOutcome, ImportError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .map_err(StoreError::from)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&agent_lock(batch.agent)],
    )
    .map_err(StoreError::from)?;
    let st = Statements::prepare(&mut tx).map_err(StoreError::from)?;
    if let Some((from, prev)) = batch.link {
        link(&mut tx, &st, batch.agent, from, prev)?;
    }
    let mut outcome = ImportOutcome {
        agent: batch.agent.to_string(),
        from: batch.from,
        to: batch.to,
        added: 0,
        duplicates: 0,
    };
    let now = crate::findings::now_rfc3339();
    while let Some(line) = lines.next_line() {
        let line = line?;
        insert(&mut tx, &st, batch.agent, &line, &now, &mut outcome)?;
        outcome.to = outcome.to.max(line.seq);
    }
    let log = match batch.log {
        LogPolicy::Always => true,
        LogPolicy::IfAdded => outcome.added > 0,
        LogPolicy::Never => false,
    };
    if log {
        log_import(&mut tx, &outcome, batch, &now).map_err(StoreError::from)?;
    }
    tx.commit().map_err(StoreError::from)?;
    Ok(outcome)
}

fn trusted_key(r: &Row) -> Result<TrustedKey, postgres::Error> {
    Ok(TrustedKey {
        agent: r.try_get(0)?,
        pubkey: r.try_get(1)?,
        name: r.try_get(2)?,
        added: r.try_get(3)?,
    })
}

/// A triage row from columns `at..at + 7`; `None` when the id is NULL (no
/// triage joined).
fn triage_row(r: &Row, at: usize) -> Result<Option<TriageRow>, postgres::Error> {
    let Some(id) = r.try_get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    Ok(Some(TriageRow {
        id,
        event: r.try_get(at + 1)?,
        causes: r.try_get(at + 2)?,
        false_positive: r.try_get(at + 3)?,
        note: r.try_get(at + 4)?,
        by: r.try_get(at + 5)?,
        time: r.try_get(at + 6)?,
    }))
}

fn incident_row(r: &Row) -> Result<IncidentRow, postgres::Error> {
    let started = match r.try_get::<_, Option<String>>(5)? {
        Some(time) => Some(SessionRow {
            time,
            host: r.try_get(6)?,
            location: r.try_get(7)?,
            medium: r.try_get(8)?,
        }),
        None => None,
    };
    Ok(IncidentRow {
        agent: r.try_get(0)?,
        session: r.try_get(1)?,
        first_time: r.try_get(2)?,
        first_location: r.try_get(3)?,
        detections: r.try_get::<_, i64>(4)? as u64,
        started,
        triage: triage_row(r, 9)?,
    })
}

fn line_row(r: &Row) -> Result<LineRow, postgres::Error> {
    Ok(LineRow {
        agent: r.try_get(0)?,
        session: r.try_get(1)?,
        seq: r.try_get::<_, i64>(2)? as u64,
        line: r.try_get(3)?,
    })
}

fn cursor_row(r: &Row) -> Result<CursorRow, postgres::Error> {
    Ok(CursorRow {
        agent: r.try_get(0)?,
        seq: r.try_get::<_, i64>(1)?.max(0) as u64,
    })
}

/// A seq as the BIGINT it is stored as (seqs past `i64::MAX` do not occur:
/// the journal refuses them; they saturate here rather than wrap).
fn seq_arg(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn pair(r: &Row) -> Result<(String, String), postgres::Error> {
    Ok((r.try_get(0)?, r.try_get(1)?))
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
        TriageState::Triaged => format!("{} = false", latest_triage(t, "false_positive")),
        TriageState::FalsePositive => format!("{} = true", latest_triage(t, "false_positive")),
    }
}

/// The condition that the incident of the row `t` may be event `$n`
/// (see [`Scope::event`]); a taxonomy that is not valid JSON is skipped.
fn event_sql(t: &str, n: usize) -> String {
    format!(
        "({latest} = ${n}::text OR ({untriaged} AND EXISTS (SELECT 1 FROM findings g
           WHERE g.agent = {t}.agent AND g.session = {t}.session AND (g.taxonomy IS NULL
             OR kensa_json_event(g.taxonomy) = ${n}::text))))",
        latest = latest_triage(t, "event"),
        untriaged = state_sql(t, TriageState::Untriaged),
    )
}

/// The incident time of the row `t` in UTC as `YYYY-MM-DDTHH:MM:SS.sss`
/// (NULL when it does not parse).
fn time_sql(t: &str) -> String {
    format!(
        "(SELECT kensa_utc(z.sort_time) FROM incidents z WHERE z.agent = {t}.agent AND z.session = {t}.session)"
    )
}

/// The WHERE clause of a scope over a table aliased `t` that has `agent`
/// and `session` columns, and its parameters.
fn scope_sql(scope: &Scope<'_>, t: &str) -> (String, Vec<String>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    let mut arg = |v: &str| {
        args.push(v.to_string());
        args.len()
    };
    if let Some(a) = scope.agent {
        conds.push(format!("{t}.agent = ${}::text", arg(a)));
    }
    if let Some((a, s)) = scope.only {
        conds.push(format!("{t}.agent = ${}::text", arg(a)));
        conds.push(format!("{t}.session = ${}::text", arg(s)));
    }
    if let Some(state) = scope.state {
        conds.push(state_sql(t, state));
    }
    if let Some(since) = scope.since {
        conds.push(format!("{} >= ${}::text", time_sql(t), arg(since)));
    }
    if let Some(before) = scope.before {
        conds.push(format!("{} < ${}::text", time_sql(t), arg(before)));
    }
    if let Some(event) = scope.event {
        conds.push(event_sql(t, arg(event)));
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" AND {}", conds.join(" AND ")), args)
    }
}

const TRIAGE_COLUMNS: &str = r#"id, event, causes, false_positive, note, "by", time"#;

impl Backend for Postgres {
    fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(stored_version(&mut *self.client()?)?)
    }

    fn max_seq(&self, agent: &str) -> Result<u64, StoreError> {
        Ok(max_seq_in(&mut *self.client()?, agent)?)
    }

    fn record_hashes(&self, agent: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.rows(
            "SELECT seq, hash FROM records WHERE agent = $1 ORDER BY seq",
            &[agent.to_string()],
            |r| Ok((r.try_get::<_, i64>(0)? as u64, r.try_get(1)?)),
        )
    }

    fn trust_get(&self, agent: &str) -> Result<Option<TrustedKey>, StoreError> {
        let rows = self.rows(
            "SELECT agent, pubkey, name, added FROM trusted_keys WHERE agent = $1",
            &[agent.to_string()],
            trusted_key,
        )?;
        Ok(rows.into_iter().next())
    }

    fn trust_name_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let rows = self.rows(
            "SELECT agent FROM trusted_keys WHERE name = $1",
            &[name.to_string()],
            |r| r.try_get(0),
        )?;
        Ok(rows.into_iter().next())
    }

    fn trust_put(&self, k: &TrustedKey) -> Result<(), StoreError> {
        self.client()?.execute(
            "INSERT INTO trusted_keys AS t(agent, pubkey, name, added) VALUES($1, $2, $3, $4)
             ON CONFLICT(agent) DO UPDATE SET name = COALESCE(excluded.name, t.name)",
            &[&k.agent, &k.pubkey, &k.name, &k.added],
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
        let n = self.client()?.execute(
            "DELETE FROM trusted_keys WHERE agent = $1 OR name = $1",
            &[&id_or_name],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn import(
        &self,
        batch: &ImportBatch<'_>,
        lines: &mut dyn Iterator<Item = Result<BundleLine, ImportError>>,
    ) -> Result<ImportOutcome, ImportError> {
        let mut client = self.client()?;
        let mut replay = Replay {
            rest: lines,
            seen: Vec::new(),
            bytes: 0,
            pos: 0,
            overflow: false,
        };
        let mut attempt = 1;
        loop {
            match import_once(&mut client, batch, &mut replay) {
                Err(e) if retryable(&e) && attempt < IMPORT_ATTEMPTS && replay.rewind() => {
                    tracing::info!(agent = batch.agent, attempt, "import retried: {e}");
                    std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn incidents(&self, scope: &Scope<'_>) -> Result<Vec<IncidentRow>, StoreError> {
        let (cond, args) = scope_sql(scope, "i");
        let sql = format!(
            r#"SELECT i.agent, i.session, i.time, i.location, i.detections,
                    s.time, s.host, s.location, s.medium,
                    t.id, t.event, t.causes, t.false_positive, t.note, t."by", t.time
             FROM incidents i
             LEFT JOIN sessions s ON s.agent = i.agent AND s.session = i.session
             LEFT JOIN triage t ON t.id =
                 (SELECT MAX(y.id) FROM triage y WHERE y.agent = i.agent AND y.session = i.session)
             WHERE 1 = 1{cond}
             ORDER BY i.sort_time, i.session, i.agent"#
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
        self.rows(&sql, &args, pair)
    }

    fn incident_agents(&self) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT DISTINCT agent FROM incidents ORDER BY agent",
            &[],
            |r| r.try_get(0),
        )
    }

    fn incident_neighbours(&self, agent: &str, session: &str) -> Result<Neighbours, StoreError> {
        let one = |sql: &str, args: &[String]| -> Result<Option<String>, StoreError> {
            Ok(self.rows(sql, args, |r| r.try_get(0))?.into_iter().next())
        };
        let a = [agent.to_string()];
        let s = [agent.to_string(), session.to_string()];
        Ok(Neighbours {
            agents: [
                one("SELECT agent FROM incidents WHERE agent < $1 ORDER BY agent DESC LIMIT 1", &a)?,
                one("SELECT agent FROM incidents WHERE agent > $1 ORDER BY agent LIMIT 1", &a)?,
            ],
            sessions: [
                one(
                    "SELECT session FROM incidents WHERE agent = $1 AND session < $2 ORDER BY session DESC LIMIT 1",
                    &s,
                )?,
                one(
                    "SELECT session FROM incidents WHERE agent = $1 AND session > $2 ORDER BY session LIMIT 1",
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
            "SELECT agent, session FROM incidents WHERE left(session, length($1::text)) = $1::text",
        );
        if let Some(a) = agent {
            args.push(a.to_string());
            sql.push_str(" AND upper(left(agent, length($2::text))) = upper($2::text)");
        }
        sql.push_str(" ORDER BY session, agent");
        self.rows(&sql, &args, pair)
    }

    fn taxonomies(&self, scope: &Scope<'_>) -> Result<Vec<(String, String, String)>, StoreError> {
        let (cond, args) = scope_sql(scope, "f");
        let sql = format!(
            "SELECT DISTINCT f.agent, f.session, f.taxonomy FROM findings f WHERE f.taxonomy IS NOT NULL{cond}"
        );
        self.rows(&sql, &args, |r| {
            Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
        })
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
            "SELECT agent, ''::text, seq, line FROM records WHERE agent = $1 AND type = $2 ORDER BY seq",
            &[agent.to_string(), kind.to_string()],
            line_row,
        )
    }

    fn finding_lines(&self, agent: &str, session: &str) -> Result<Vec<LineRow>, StoreError> {
        self.rows(
            "SELECT f.agent, f.session, f.seq, r.line FROM findings f
             JOIN records r ON r.agent = f.agent AND r.seq = f.seq
             WHERE f.agent = $1 AND f.session = $2 ORDER BY f.seq",
            &[agent.to_string(), session.to_string()],
            line_row,
        )
    }

    fn triage_history(&self, agent: &str, session: &str) -> Result<Vec<TriageRow>, StoreError> {
        let sql = format!(
            "SELECT {TRIAGE_COLUMNS} FROM triage WHERE agent = $1 AND session = $2 ORDER BY id"
        );
        let rows = self.rows(&sql, &[agent.to_string(), session.to_string()], |r| {
            triage_row(r, 0)
        })?;
        Ok(rows.into_iter().flatten().collect())
    }

    fn triage_insert(&self, agent: &str, session: &str, t: &TriageRow) -> Result<i64, StoreError> {
        let row = self.client()?.query_one(
            r#"INSERT INTO triage(agent, session, event, causes, false_positive, note, "by", time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"#,
            &[
                &agent,
                &session,
                &t.event,
                &t.causes,
                &t.false_positive,
                &t.note,
                &t.by,
                &t.time,
            ],
        )?;
        Ok(row.try_get(0)?)
    }

    fn forward_agents(&self) -> Result<Vec<CursorRow>, StoreError> {
        self.rows(
            "SELECT agent, MAX(seq) FROM records GROUP BY agent ORDER BY agent",
            &[],
            cursor_row,
        )
    }

    fn forward_cursors(&self, destination: &str) -> Result<Vec<CursorRow>, StoreError> {
        self.rows(
            "SELECT agent, seq FROM forward_cursors WHERE destination = $1 ORDER BY agent",
            &[destination.to_string()],
            cursor_row,
        )
    }

    fn forward_lines(
        &self,
        agent: &str,
        after: u64,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<LineRow>, StoreError> {
        let (after, upto) = (seq_arg(after), seq_arg(upto));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.client()?.query(
            "SELECT agent, '', seq, line FROM records
             WHERE agent = $1 AND seq > $2 AND seq <= $3 AND type IN ('finding', 'session', 'summary')
             ORDER BY seq LIMIT $4",
            &[&agent, &after, &upto, &limit],
        )?;
        Ok(rows.iter().map(line_row).collect::<Result<_, _>>()?)
    }

    fn session_row(&self, agent: &str, session: &str) -> Result<Option<SessionRow>, StoreError> {
        let row = self.client()?.query_opt(
            "SELECT time, host, location, medium FROM sessions WHERE agent = $1 AND session = $2",
            &[&agent, &session],
        )?;
        row.map(|r| {
            Ok(SessionRow {
                time: r.try_get(0)?,
                host: r.try_get(1)?,
                location: r.try_get(2)?,
                medium: r.try_get(3)?,
            })
        })
        .transpose()
    }

    fn forward_advance(&self, destination: &str, agent: &str, seq: u64) -> Result<(), StoreError> {
        self.client()?.execute(
            "INSERT INTO forward_cursors(destination, agent, seq, updated) VALUES($1, $2, $3, $4)
             ON CONFLICT(destination, agent) DO UPDATE SET seq = excluded.seq, updated = excluded.updated
             WHERE excluded.seq > forward_cursors.seq",
            &[
                &destination,
                &agent,
                &seq_arg(seq),
                &crate::findings::now_rfc3339(),
            ],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_has_a_step() {
        assert_eq!(
            SCHEMA_VERSION, 5,
            "add the new migration's step to migrate()"
        );
    }

    #[test]
    fn agent_locks_differ_and_stay_the_same() {
        assert_eq!(agent_lock("a"), agent_lock("a"));
        assert_ne!(agent_lock("a"), agent_lock("b"));
        assert_ne!(agent_lock("a"), MIGRATION_LOCK);
    }
}
