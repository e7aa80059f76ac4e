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
//! a few times. As in `sqlite`, an import refreshes the aggregation
//! columns of the incidents it touched (under the agent's lock, so placing
//! an id among its agent's sessions cannot race) and a triage sets its
//! incident's current state in its own transaction, the higher triage id
//! winning; listing and the report read `incidents` and its indexes only.
//! Long reads (the back-fills, one incident's findings) go through
//! portals a thousand rows at a time.

use super::backend::{
    Backend, CountRow, CursorRow, ImportBatch, IncidentRow, LineRow, LogPolicy, Period, Scope,
    SessionRow, TriageRow, TriageState,
};
use super::derived::{self, derive, Derived, FindingRow, Findings, Scanned};
use super::pgconn::PgTarget;
use super::{ImportError, ImportOutcome, StoreError, TrustedKey, SCHEMA_VERSION};
use crate::bundle::BundleLine;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, IsolationLevel, Row, Statement, Transaction};
use std::cell::{RefCell, RefMut};
use std::collections::BTreeSet;
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

/// Version 4: what listing, filtering and counting read, per incident
/// (as in `sqlite`, see `derived`), its indexes, and the two functions
/// version 3 needed for conditions on raw texts, no longer used.
const V4_AGGREGATION: &str = r#"
ALTER TABLE incidents ADD COLUMN utc_ms BIGINT;
ALTER TABLE incidents ADD COLUMN auto_event TEXT COLLATE "C" NOT NULL DEFAULT 'precursor';
ALTER TABLE incidents ADD COLUMN auto_causes TEXT COLLATE "C" NOT NULL DEFAULT '["unknown"]';
ALTER TABLE incidents ADD COLUMN triage_id BIGINT;
ALTER TABLE incidents ADD COLUMN state TEXT COLLATE "C" NOT NULL DEFAULT 'untriaged';
ALTER TABLE incidents ADD COLUMN event TEXT COLLATE "C" NOT NULL DEFAULT 'precursor';
ALTER TABLE incidents ADD COLUMN causes TEXT COLLATE "C" NOT NULL DEFAULT '["unknown"]';
ALTER TABLE incidents ADD COLUMN id_need BIGINT;
CREATE INDEX incidents_state ON incidents(state, sort_time, session, agent);
CREATE INDEX incidents_event ON incidents(event, sort_time, session, agent);
CREATE INDEX incidents_time ON incidents(utc_ms, state, event, causes);
DROP INDEX findings_incident;
CREATE INDEX findings_incident ON findings(agent, session, seq);
DROP FUNCTION kensa_utc(TEXT);
DROP FUNCTION kensa_json_event(TEXT);
UPDATE incidents SET triage_id =
  (SELECT MAX(y.id) FROM triage y WHERE y.agent = incidents.agent AND y.session = incidents.session);
UPDATE incidents SET
  state = (SELECT CASE WHEN t.false_positive THEN 'false_positive' ELSE 'triaged' END
           FROM triage t WHERE t.id = incidents.triage_id),
  event = (SELECT t.event FROM triage t WHERE t.id = incidents.triage_id),
  causes = (SELECT t.causes FROM triage t WHERE t.id = incidents.triage_id)
WHERE triage_id IS NOT NULL;
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
        self.query(sql, &params, f)
    }

    fn arg_rows<T>(
        &self,
        sql: &str,
        args: &[Arg],
        f: impl FnMut(&Row) -> Result<T, postgres::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(Arg::sql).collect();
        self.query(sql, &params, f)
    }

    fn query<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: impl FnMut(&Row) -> Result<T, postgres::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.client()?.query(sql, params)?;
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
            4 => migrate_aggregation(&mut tx)?,
            _ => tx.batch_execute(V5_FORWARD)?,
        }
        tx.execute("UPDATE kensa_schema SET version = $1", &[&version])?;
        tx.commit()?;
    }
}

/// Version 3: the incident columns, derived from every finding and session
/// line already held (read a thousand at a time through a portal).
fn migrate_derived(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute(V3_DERIVED)?;
    let stmts = Statements::prepare(tx)?;
    let portal = tx.bind(
        "SELECT agent, seq, type, line FROM records WHERE type IN ('finding', 'session') ORDER BY agent, seq",
        &[],
    )?;
    loop {
        let held = tx.query_portal(&portal, 1000)?;
        if held.is_empty() {
            break;
        }
        for r in &held {
            let agent: String = r.try_get(0)?;
            let seq: i64 = r.try_get(1)?;
            let kind: String = r.try_get(2)?;
            let line: String = r.try_get(3)?;
            store_derived(tx, &stmts, &agent, seq as u64, &kind, &line)?;
        }
    }
    tx.batch_execute(INCIDENTS_OF_FINDINGS)?;
    Ok(())
}

/// Version 3's incidents from the findings (as in `sqlite`).
const INCIDENTS_OF_FINDINGS: &str = "
INSERT INTO incidents(agent, session, first_seq, time, location, detections, sort_time)
SELECT f.agent, f.session, f.seq, f.time, f.location, g.n, COALESCE(s.time, f.time)
FROM (SELECT agent, session, MIN(seq) AS first, COUNT(*) AS n FROM findings GROUP BY agent, session) g
JOIN findings f ON f.agent = g.agent AND f.seq = g.first
LEFT JOIN sessions s ON s.agent = g.agent AND s.session = g.session";

/// Version 4: the aggregation columns, back-filled: the current state of
/// every triaged incident from its latest triage row, then each incident
/// refreshed as an import would (in key order, a thousand at a time).
fn migrate_aggregation(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute(V4_AGGREGATION)?;
    let st = Refresh::prepare(tx)?;
    let mut after = (String::new(), String::new());
    loop {
        let keys = tx.query(
            "SELECT agent, session FROM incidents WHERE (agent, session) > ($1, $2)
             ORDER BY agent, session LIMIT 1000",
            &[&after.0, &after.1],
        )?;
        let Some(last) = keys.last().map(pair).transpose()? else {
            return Ok(());
        };
        for k in &keys {
            let (agent, session) = pair(k)?;
            refresh(tx, &st, &agent, &session)?;
        }
        after = last;
    }
}

/// The statements an import runs per line, prepared once per transaction
/// (the schema of version 3 is enough).
struct Statements {
    held: Statement,
    insert: Statement,
    finding: Statement,
    session: Statement,
}

/// The statements that make or update an incident (version 4).
struct Refresh {
    scan: Statement,
    held: Statement,
    prev: Statement,
    next: Statement,
    grow: Statement,
    insert: Statement,
    counts: Statement,
    class: Statement,
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
            session: tx.prepare(
                "INSERT INTO sessions AS s(agent, session, seq, time, host, location, medium) VALUES($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT(agent, session) DO UPDATE SET seq = excluded.seq, time = excluded.time,
                   host = excluded.host, location = excluded.location, medium = excluded.medium
                 WHERE excluded.seq > s.seq",
            )?,
        })
    }
}

impl Refresh {
    fn prepare(tx: &mut Transaction<'_>) -> Result<Refresh, postgres::Error> {
        Ok(Refresh {
            scan: tx.prepare(
                "SELECT f.seq, f.time, f.location, f.taxonomy, r.line, s.time, s.location, s.medium
                 FROM findings f
                 LEFT JOIN sessions s ON s.agent = f.agent AND s.session = f.session
                 LEFT JOIN records r ON f.taxonomy IS NULL AND r.agent = f.agent AND r.seq = f.seq
                 WHERE f.agent = $1 AND f.session = $2 ORDER BY f.seq",
            )?,
            held: tx.prepare("SELECT id_need FROM incidents WHERE agent = $1 AND session = $2")?,
            prev: tx.prepare(
                "SELECT session, id_need FROM incidents WHERE agent = $1 AND session < $2
                 ORDER BY session DESC LIMIT 1",
            )?,
            next: tx.prepare(
                "SELECT session, id_need FROM incidents WHERE agent = $1 AND session > $2
                 ORDER BY session LIMIT 1",
            )?,
            grow: tx.prepare("UPDATE incidents SET id_need = $3 WHERE agent = $1 AND session = $2")?,
            insert: tx.prepare(
                "INSERT INTO incidents(agent, session, first_seq, time, location, detections, sort_time,
                   utc_ms, auto_event, auto_causes, event, causes, id_need)
                 VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $10, $11)",
            )?,
            counts: tx.prepare(
                "UPDATE incidents SET detections = $3, first_seq = $4, time = $5, location = $6,
                   id_need = COALESCE($7::bigint, id_need)
                 WHERE agent = $1 AND session = $2
                   AND (detections <> $3 OR first_seq <> $4 OR $7::bigint IS NOT NULL)",
            )?,
            class: tx.prepare(
                "UPDATE incidents SET sort_time = $3, utc_ms = $4, auto_event = $5, auto_causes = $6,
                   event = CASE WHEN triage_id IS NULL THEN $5 ELSE event END,
                   causes = CASE WHEN triage_id IS NULL THEN $6 ELSE causes END
                 WHERE agent = $1 AND session = $2 AND (sort_time <> $3
                   OR utc_ms IS DISTINCT FROM $4::bigint OR auto_event <> $5 OR auto_causes <> $6
                   OR (triage_id IS NULL AND (event <> $5 OR causes <> $6)))",
            )?,
        })
    }
}

/// Writes what incidents need from a new line into the derived tables;
/// returns the session of the incident it touched (a session start
/// touches its incident, if there is one), which [`refresh`] makes or
/// updates once per import.
fn store_derived(
    tx: &mut Transaction<'_>,
    st: &Statements,
    agent: &str,
    seq: u64,
    kind: &str,
    line: &str,
) -> Result<Option<String>, postgres::Error> {
    if kind != "finding" && kind != "session" {
        return Ok(None);
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
            Ok(Some(session))
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
            Ok(Some(id))
        }
        _ => Ok(None),
    }
}

/// Makes or updates one incident from all its lines, as `sqlite::refresh`
/// does (one pass over its findings with its session, then one insert, or
/// the updates of what changed).
fn refresh(
    tx: &mut Transaction<'_>,
    st: &Refresh,
    agent: &str,
    session: &str,
) -> Result<(), postgres::Error> {
    let Some((f, started)) = scan(tx, st, agent, session)? else {
        return Ok(());
    };
    let time = started.unwrap_or_else(|| f.first_time.clone());
    let held = tx.query_opt(&st.held, &[&agent, &session])?;
    let placed: Option<Option<i64>> = held.map(|r| r.try_get(0)).transpose()?;
    let need = match placed {
        Some(Some(_)) => None,
        _ => Some(place_id(tx, st, agent, session)? as i64),
    };
    let (key, utc) = ([agent, session], derived::utc_ms(&time));
    let count = i64::try_from(f.count).unwrap_or(i64::MAX);
    if placed.is_none() {
        tx.execute(
            &st.insert,
            &[
                &key[0],
                &key[1],
                &f.first_seq,
                &f.first_time,
                &f.first_location,
                &count,
                &time,
                &utc,
                &f.event,
                &f.causes,
                &need,
            ],
        )?;
        return Ok(());
    }
    update_held(tx, st, [agent, session], &f, &time, need)
}

/// A held incident's columns, each statement run only when its columns
/// changed (as `sqlite::update_held`).
fn update_held(
    tx: &mut Transaction<'_>,
    st: &Refresh,
    key: [&str; 2],
    f: &Scanned,
    time: &str,
    need: Option<i64>,
) -> Result<(), postgres::Error> {
    let count = i64::try_from(f.count).unwrap_or(i64::MAX);
    let (first, location) = (&f.first_time, &f.first_location);
    tx.execute(
        &st.counts,
        &[
            &key[0],
            &key[1],
            &count,
            &f.first_seq,
            first,
            location,
            &need,
        ],
    )?;
    let utc = derived::utc_ms(time);
    tx.execute(
        &st.class,
        &[&key[0], &key[1], &time, &utc, &f.event, &f.causes],
    )?;
    Ok(())
}

/// One pass over an incident's findings in seq order with its session,
/// read a thousand rows at a time through a portal: the incident's
/// columns and its session's time (`None` for a session without findings).
fn scan(
    tx: &mut Transaction<'_>,
    st: &Refresh,
    agent: &str,
    session: &str,
) -> Result<Option<(Scanned, Option<String>)>, postgres::Error> {
    let portal = tx.bind(&st.scan, &[&agent, &session])?;
    let mut acc: Option<(Findings, Option<String>)> = None;
    loop {
        let rows = tx.query_portal(&portal, 1000)?;
        if rows.is_empty() {
            return Ok(acc.and_then(|(f, started)| Some((f.finish()?, started))));
        }
        for r in &rows {
            if acc.is_none() {
                let time: Option<String> = r.try_get(5)?;
                let location: Option<&str> = r.try_get(6)?;
                let medium: Option<&str> = r.try_get(7)?;
                let f = Findings::new(
                    time.as_ref()
                        .map(|_| (location.unwrap_or_default(), medium)),
                );
                acc = Some((f, time));
            }
            if let Some((findings, _)) = acc.as_mut() {
                findings.add(
                    agent,
                    &FindingRow {
                        seq: r.try_get(0)?,
                        time: r.try_get(1)?,
                        location: r.try_get(2)?,
                        taxonomy: r.try_get(3)?,
                        line: r.try_get(4)?,
                    },
                );
            }
        }
    }
}

/// A new incident's id length from its neighbours among its agent's
/// sessions; a neighbour already placed grows to tell it apart from this
/// one (one not placed yet is placed on its own turn, and sees this one).
fn place_id(
    tx: &mut Transaction<'_>,
    st: &Refresh,
    agent: &str,
    session: &str,
) -> Result<usize, postgres::Error> {
    let mut near: [Option<String>; 2] = [None, None];
    for (k, stmt) in [&st.prev, &st.next].into_iter().enumerate() {
        let Some(r) = tx.query_opt(stmt, &[&agent, &session])? else {
            continue;
        };
        let n: String = r.try_get(0)?;
        let need: Option<i64> = r.try_get(1)?;
        let theirs = (derived::common_prefix(session, &n) + 1) as i64;
        if need.is_some_and(|v| v < theirs) {
            tx.execute(&st.grow, &[&agent, &n, &theirs])?;
        }
        if let Some(slot) = near.get_mut(k) {
            *slot = Some(n);
        }
    }
    let [p, n] = &near;
    Ok(derived::id_need(session, [p.as_deref(), n.as_deref()]))
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
    touched: &mut BTreeSet<String>,
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
            touched.extend(
                store_derived(tx, st, agent, line.seq, &line.kind, &line.line)
                    .map_err(StoreError::from)?,
            );
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

/// Stores the lines of one import, then refreshes every incident they
/// touched.
fn store_lines(
    tx: &mut Transaction<'_>,
    st: &Statements,
    agent: &str,
    lines: &mut Replay<'_>,
    now: &str,
    outcome: &mut ImportOutcome,
) -> Result<(), ImportError> {
    let mut touched = BTreeSet::new();
    while let Some(line) = lines.next_line() {
        let line = line?;
        insert(tx, st, agent, &line, now, outcome, &mut touched)?;
        outcome.to = outcome.to.max(line.seq);
    }
    let rf = Refresh::prepare(tx).map_err(StoreError::from)?;
    for session in &touched {
        refresh(tx, &rf, agent, session).map_err(StoreError::from)?;
    }
    Ok(())
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
    store_lines(&mut tx, &st, batch.agent, lines, &now, &mut outcome)?;
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
        auto_event: r.try_get(16)?,
        auto_causes: r.try_get(17)?,
        id_need: r.try_get::<_, Option<i64>>(18)?.unwrap_or(0).max(0) as u64,
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

/// A statement parameter of the kinds the scope and report queries take.
enum Arg {
    Text(String),
    Int(i64),
}

impl Arg {
    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Arg::Text(t) => t,
            Arg::Int(i) => i,
        }
    }
}

/// The WHERE conditions of a scope over the incidents table aliased `i`
/// (each on an indexed column, as in `sqlite`), and their parameters.
fn scope_sql(scope: &Scope<'_>) -> (String, Vec<Arg>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    let mut cond = |column: &str, op: &str, v: Arg| {
        args.push(v);
        conds.push(format!("i.{column} {op} ${}", args.len()));
    };
    let text = |s: &str| Arg::Text(s.to_string());
    if let Some(a) = scope.agent {
        cond("agent", "=", text(a));
    }
    if let Some((a, s)) = scope.only {
        cond("agent", "=", text(a));
        cond("session", "=", text(s));
    }
    if let Some(state) = scope.state {
        cond("state", "=", text(state.slug()));
    }
    if let Some(since) = scope.since {
        cond("utc_ms", ">=", Arg::Int(since));
    }
    if let Some(before) = scope.before {
        cond("utc_ms", "<", Arg::Int(before));
    }
    if let Some(event) = scope.event {
        cond("event", "=", text(event));
    }
    if scope.untimed {
        conds.push("i.utc_ms IS NULL".to_string());
    }
    if conds.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), args)
    }
}

/// The listing's query (as `sqlite::incidents_sql`).
fn incidents_sql(scope: &Scope<'_>) -> (String, Vec<Arg>) {
    let (cond, args) = scope_sql(scope);
    let sql = format!(
        r#"SELECT i.agent, i.session, i.time, i.location, i.detections,
                s.time, s.host, s.location, s.medium,
                t.id, t.event, t.causes, t.false_positive, t.note, t."by", t.time,
                i.auto_event, i.auto_causes, i.id_need
         FROM incidents i
         LEFT JOIN sessions s ON s.agent = i.agent AND s.session = i.session
         LEFT JOIN triage t ON t.id = i.triage_id{cond}
         ORDER BY i.sort_time, i.session, i.agent"#
    );
    (sql, args)
}

/// The report's query (as `sqlite::counts_sql`): one range scan of
/// `incidents_time`, each period a CASE arm.
fn counts_sql(periods: &[Period]) -> (String, Vec<Arg>) {
    let mut arms = String::new();
    let mut args = Vec::new();
    for p in periods {
        args.push(Arg::Int(p.from));
        args.push(Arg::Int(p.to));
        arms.push_str(&format!(
            " WHEN utc_ms >= ${} AND utc_ms < ${} THEN {}",
            args.len() - 1,
            args.len(),
            p.column
        ));
    }
    let lo = periods.iter().map(|p| p.from).min().unwrap_or(0);
    let hi = periods.iter().map(|p| p.to).max().unwrap_or(0);
    args.push(Arg::Int(lo));
    args.push(Arg::Int(hi));
    let n = args.len();
    let sql = format!(
        "SELECT x.c, x.state, x.event, x.causes, COUNT(*) FROM
           (SELECT CASE{arms} END AS c, state, event, causes FROM incidents
            WHERE utc_ms >= ${} AND utc_ms < ${n}) x
         WHERE x.c IS NOT NULL GROUP BY x.c, x.state, x.event, x.causes",
        n - 1
    );
    (sql, args)
}

/// The distinct agents with incidents, one index lookup each.
const AGENTS_SQL: &str = "WITH RECURSIVE a(agent) AS (
       SELECT MIN(agent) FROM incidents
       UNION ALL
       SELECT (SELECT MIN(i.agent) FROM incidents i WHERE i.agent > a.agent)
       FROM a WHERE a.agent IS NOT NULL)
     SELECT agent FROM a WHERE agent IS NOT NULL";

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
        let (sql, args) = incidents_sql(scope);
        self.arg_rows(&sql, &args, incident_row)
    }

    fn incident_agents(&self) -> Result<Vec<String>, StoreError> {
        self.rows(AGENTS_SQL, &[], |r| r.try_get(0))
    }

    fn agent_neighbours(&self, agent: &str) -> Result<[Option<String>; 2], StoreError> {
        let one = |sql: &str| -> Result<Option<String>, StoreError> {
            let rows = self.rows(sql, &[agent.to_string()], |r| r.try_get(0))?;
            Ok(rows.into_iter().next().flatten())
        };
        Ok([
            one("SELECT MAX(agent) FROM incidents WHERE agent < $1")?,
            one("SELECT MIN(agent) FROM incidents WHERE agent > $1")?,
        ])
    }

    fn incidents_with_prefix(
        &self,
        agent: Option<&str>,
        session: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut args = vec![session.to_string()];
        let mut sql = String::from("SELECT agent, session FROM incidents WHERE session >= $1");
        if let Some(end) = derived::prefix_end(session) {
            args.push(end);
            sql.push_str(&format!(" AND session < ${}", args.len()));
        }
        if let Some(a) = agent {
            args.push(a.to_string());
            let n = args.len();
            sql.push_str(&format!(
                " AND upper(left(agent, length(${n}::text))) = upper(${n}::text)"
            ));
        }
        sql.push_str(" ORDER BY session, agent");
        self.rows(&sql, &args, pair)
    }

    fn report_counts(&self, periods: &[Period]) -> Result<Vec<CountRow>, StoreError> {
        if periods.is_empty() {
            return Ok(Vec::new());
        }
        let (sql, args) = counts_sql(periods);
        self.arg_rows(&sql, &args, |r| {
            Ok(CountRow {
                column: r.try_get::<_, i32>(0)?.max(0) as usize,
                state: r.try_get(1)?,
                event: r.try_get(2)?,
                causes: r.try_get(3)?,
                count: r.try_get::<_, i64>(4)?.max(0) as u64,
            })
        })
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
        let mut client = self.client()?;
        let mut tx = client.transaction()?;
        let row = tx.query_one(
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
        let id: i64 = row.try_get(0)?;
        let state = if t.false_positive {
            TriageState::FalsePositive
        } else {
            TriageState::Triaged
        };
        // Two analysts at once: the row lock orders the updates, and the
        // higher id (the later decision) stays current whichever commits
        // first.
        tx.execute(
            "UPDATE incidents SET triage_id = $3, state = $4, event = $5, causes = $6
             WHERE agent = $1 AND session = $2 AND (triage_id IS NULL OR triage_id < $3)",
            &[&agent, &session, &id, &state.slug(), &t.event, &t.causes],
        )?;
        tx.commit()?;
        Ok(id)
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
