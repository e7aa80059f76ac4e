//! The statements both collector backends run, written once: every
//! statement of `sqlite` and `postgres` that is not schema (the migrations'
//! DDL stays with each backend, their types differ) is a template here in
//! PostgreSQL's notation, `$N` for parameter N and `$N::type` where the
//! server must be told a parameter's type. [`Dialect::render`] gives the
//! text a backend sends: PostgreSQL's unchanged, SQLite's with `?N` and the
//! casts dropped (SQLite has none and needs none). The fixed statements are
//! rendered once per dialect ([`Texts::of`]); the scope, listing, prefix and
//! report queries are built per call with their parameters as [`Param`]s,
//! which each backend binds its own way. Both backends compare text as
//! bytes and accept `ON CONFLICT`, `IS DISTINCT FROM` and row values, so the
//! one planner hint SQLite needs (`likelihood` on a time bound) is the only
//! difference a builder makes besides the notation.

use super::backend::{Period, Scope};
use super::derived;
use std::sync::OnceLock;

/// The SQL dialect a statement is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// A template as this dialect takes it: PostgreSQL's as written;
    /// SQLite's with each `$N` as `?N` and a `::type` after it dropped.
    pub fn render(self, template: &str) -> String {
        match self {
            Dialect::Postgres => template.to_string(),
            Dialect::Sqlite => sqlite_text(template),
        }
    }

    /// A condition on an incident's time: for SQLite marked likely to hold
    /// for few incidents (its planner then takes the time range instead of
    /// scanning the listing-order index; a wide range costs a sort, no
    /// more); PostgreSQL's planner needs no hint.
    fn few(self, cond: String) -> String {
        match self {
            Dialect::Postgres => cond,
            Dialect::Sqlite => format!("likelihood({cond}, 0.05)"),
        }
    }
}

/// `$N` as `?N`, a `::type` right after it dropped; any other `$` (there is
/// none in the templates) is kept.
fn sqlite_text(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' || !chars.peek().is_some_and(char::is_ascii_digit) {
            out.push(c);
            continue;
        }
        out.push('?');
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            out.push(d);
        }
        let mut after = chars.clone();
        if after.next() == Some(':') && after.next() == Some(':') {
            while after
                .next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                .is_some()
            {}
            chars = after;
        }
    }
    out
}

/// A statement parameter of the kinds the built queries take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    Text(String),
    Int(i64),
}

/// Declares [`Texts`] (one rendered text a statement) and the template of
/// each, so a statement is named once and written once.
macro_rules! texts {
    ($($(#[$doc:meta])* $name:ident = $template:expr;)*) => {
        /// Every fixed statement, rendered for one dialect.
        pub struct Texts {
            $($(#[$doc])* pub $name: String,)*
        }

        impl Texts {
            fn render(d: Dialect) -> Texts {
                Texts {
                    $($name: d.render($template),)*
                }
            }

            /// The templates, named (for the tests).
            #[cfg(test)]
            fn templates() -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($name), $template),)*]
            }
        }
    };
}

texts! {
    /// The hash held for (agent, seq).
    held_hash = "SELECT hash FROM records WHERE agent = $1 AND seq = $2";
    /// A journal line as imported.
    insert_record = "INSERT INTO records(agent, seq, hash, type, session, time, line, imported)
         VALUES($1, $2, $3, $4, $5, $6, $7, $8)";
    /// A finding's derived row.
    insert_finding = "INSERT INTO findings(agent, seq, session, time, location, taxonomy)
         VALUES($1, $2, $3, $4, $5, $6)";
    /// A session start; the one with the highest seq wins.
    upsert_session = "INSERT INTO sessions(agent, session, seq, time, host, location, medium)
         VALUES($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT(agent, session) DO UPDATE SET seq = excluded.seq, time = excluded.time,
           host = excluded.host, location = excluded.location, medium = excluded.medium
         WHERE excluded.seq > sessions.seq";
    /// An incident's findings in seq order, each with its session (and the
    /// line where the finding carried no taxonomy).
    scan = "SELECT f.seq, f.time, f.location, f.taxonomy, r.line, s.time, s.location, s.medium
         FROM findings f
         LEFT JOIN sessions s ON s.agent = f.agent AND s.session = f.session
         LEFT JOIN records r ON f.taxonomy IS NULL AND r.agent = f.agent AND r.seq = f.seq
         WHERE f.agent = $1 AND f.session = $2 ORDER BY f.seq";
    /// A held incident's id length (NULL until placed); no row when new.
    held_need = "SELECT id_need FROM incidents WHERE agent = $1 AND session = $2";
    /// The agent's incident just before a session.
    prev_incident = "SELECT session, id_need FROM incidents WHERE agent = $1 AND session < $2
         ORDER BY session DESC LIMIT 1";
    /// The agent's incident just after a session.
    next_incident = "SELECT session, id_need FROM incidents WHERE agent = $1 AND session > $2
         ORDER BY session LIMIT 1";
    /// A neighbour's id length, grown.
    grow_need = "UPDATE incidents SET id_need = $3 WHERE agent = $1 AND session = $2";
    /// A new incident with every column (its current classification the
    /// automatic one).
    insert_incident = "INSERT INTO incidents(agent, session, first_seq, time, location, detections,
           sort_time, utc_ms, auto_event, auto_causes, event, causes, id_need)
         VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $10, $11)";
    /// A held incident's count and first finding (and a length not placed
    /// yet), written only when they changed.
    update_counts = "UPDATE incidents SET detections = $3, first_seq = $4, time = $5, location = $6,
           id_need = COALESCE($7::bigint, id_need)
         WHERE agent = $1 AND session = $2
           AND (detections <> $3 OR first_seq <> $4 OR $7::bigint IS NOT NULL)";
    /// A held incident's order, time and classification, written only when
    /// they changed (so a new finding alone rewrites no index entry).
    update_class = "UPDATE incidents SET sort_time = $3, utc_ms = $4, auto_event = $5, auto_causes = $6,
           event = CASE WHEN triage_id IS NULL THEN $5 ELSE event END,
           causes = CASE WHEN triage_id IS NULL THEN $6 ELSE causes END
         WHERE agent = $1 AND session = $2 AND (sort_time <> $3
           OR utc_ms IS DISTINCT FROM $4::bigint OR auto_event <> $5 OR auto_causes <> $6
           OR (triage_id IS NULL AND (event <> $5 OR causes <> $6)))";
    /// The highest seq held of an agent.
    max_seq = "SELECT MAX(seq) FROM records WHERE agent = $1";
    /// One import's log row.
    log_import = "INSERT INTO imports(time, agent, source, sha256, from_seq, to_seq, added, duplicates)
         VALUES($1, $2, $3, $4, $5, $6, $7, $8)";
    /// Every (seq, hash) held of an agent.
    record_hashes = "SELECT seq, hash FROM records WHERE agent = $1 ORDER BY seq";
    /// One trusted key.
    trust_get = "SELECT agent, pubkey, name, added FROM trusted_keys WHERE agent = $1";
    /// The agent holding a key name.
    trust_name_holder = "SELECT agent FROM trusted_keys WHERE name = $1";
    /// A key trusted (again: a new name replaces the held one).
    trust_put = "INSERT INTO trusted_keys(agent, pubkey, name, added) VALUES($1, $2, $3, $4)
         ON CONFLICT(agent) DO UPDATE SET name = COALESCE(excluded.name, trusted_keys.name)";
    /// Every trusted key.
    trust_list = "SELECT agent, pubkey, name, added FROM trusted_keys ORDER BY agent";
    /// A key no longer trusted, by id or name.
    trust_remove = "DELETE FROM trusted_keys WHERE agent = $1 OR name = $1";
    /// The agent with incidents just before one.
    agent_before = "SELECT MAX(agent) FROM incidents WHERE agent < $1";
    /// The agent with incidents just after one.
    agent_after = "SELECT MIN(agent) FROM incidents WHERE agent > $1";
    /// An agent's lines of one type (as line rows without a session).
    lines_of_type = "SELECT agent, '', seq, line FROM records WHERE agent = $1 AND type = $2
         ORDER BY seq";
    /// An incident's finding lines in seq order.
    finding_lines = "SELECT f.agent, f.session, f.seq, r.line FROM findings f
         JOIN records r ON r.agent = f.agent AND r.seq = f.seq
         WHERE f.agent = $1 AND f.session = $2 ORDER BY f.seq";
    /// An incident's triage rows, oldest first.
    triage_history = r#"SELECT id, event, causes, false_positive, note, "by", time FROM triage
         WHERE agent = $1 AND session = $2 ORDER BY id"#;
    /// A triage row (the caller reads its id back its own way).
    triage_insert = r#"INSERT INTO triage(agent, session, event, causes, false_positive, note, "by", time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#;
    /// An incident's current state from a triage row; the higher triage id
    /// (the later decision) stays current whichever commits first.
    triage_current = "UPDATE incidents SET triage_id = $3, state = $4, event = $5, causes = $6
         WHERE agent = $1 AND session = $2 AND (triage_id IS NULL OR triage_id < $3)";
    /// Every agent with its highest seq held.
    forward_agents = "SELECT agent, MAX(seq) FROM records GROUP BY agent ORDER BY agent";
    /// A destination's cursors.
    forward_cursors = "SELECT agent, seq FROM forward_cursors WHERE destination = $1 ORDER BY agent";
    /// The lines `kensa forward` sends of an agent in (after, upto].
    forward_lines = "SELECT agent, '', seq, line FROM records
         WHERE agent = $1 AND seq > $2 AND seq <= $3 AND type IN ('finding', 'session', 'summary')
         ORDER BY seq LIMIT $4";
    /// A session start's columns.
    session_row = "SELECT time, host, location, medium FROM sessions WHERE agent = $1 AND session = $2";
    /// A destination's cursor of an agent, moved on (never back).
    forward_advance = "INSERT INTO forward_cursors(destination, agent, seq, updated) VALUES($1, $2, $3, $4)
         ON CONFLICT(destination, agent) DO UPDATE SET seq = excluded.seq, updated = excluded.updated
         WHERE excluded.seq > forward_cursors.seq";
    /// The next thousand incident keys after one (the migration's back-fill).
    incident_keys_after = "SELECT agent, session FROM incidents WHERE (agent, session) > ($1, $2)
         ORDER BY agent, session LIMIT 1000";
    /// Every line the derived tables are made from (migration to version 3).
    derivable_lines = "SELECT agent, seq, type, line FROM records
         WHERE type IN ('finding', 'session') ORDER BY agent, seq";
}

impl Texts {
    /// The statements of `d`, rendered on first use.
    pub fn of(d: Dialect) -> &'static Texts {
        static POSTGRES: OnceLock<Texts> = OnceLock::new();
        static SQLITE: OnceLock<Texts> = OnceLock::new();
        let cell = match d {
            Dialect::Postgres => &POSTGRES,
            Dialect::Sqlite => &SQLITE,
        };
        cell.get_or_init(|| Texts::render(d))
    }
}

/// Version 3's incidents from the findings: one per (agent, session), its
/// first finding's time and location, its count, ordered by its session's
/// time, else its first finding's.
pub const INCIDENTS_OF_FINDINGS: &str = "
INSERT INTO incidents(agent, session, first_seq, time, location, detections, sort_time)
SELECT f.agent, f.session, f.seq, f.time, f.location, g.n, COALESCE(s.time, f.time)
FROM (SELECT agent, session, MIN(seq) AS first, COUNT(*) AS n FROM findings GROUP BY agent, session) g
JOIN findings f ON f.agent = g.agent AND f.seq = g.first
LEFT JOIN sessions s ON s.agent = g.agent AND s.session = g.session";

/// The distinct agents with incidents: from the smallest, each next one
/// found by one lookup in the primary key (a skip scan written out).
pub const AGENTS: &str = "WITH RECURSIVE a(agent) AS (
       SELECT MIN(agent) FROM incidents
       UNION ALL
       SELECT (SELECT MIN(i.agent) FROM incidents i WHERE i.agent > a.agent)
       FROM a WHERE a.agent IS NOT NULL)
     SELECT agent FROM a WHERE agent IS NOT NULL";

/// The WHERE conditions of a scope over the incidents table aliased `i`
/// (each on an indexed column), and their parameters.
fn scope_sql(d: Dialect, scope: &Scope<'_>) -> (String, Vec<Param>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    let mut cond = |column: &str, op: &str, v: Param| {
        args.push(v);
        let c = format!("i.{column} {op} ${}", args.len());
        conds.push(if column == "utc_ms" { d.few(c) } else { c });
    };
    let text = |s: &str| Param::Text(s.to_string());
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
        cond("utc_ms", ">=", Param::Int(since));
    }
    if let Some(before) = scope.before {
        cond("utc_ms", "<", Param::Int(before));
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

/// The listing's query: one row per incident in scope, with its session
/// and its latest triage (by the stored id), in listing order.
pub fn incidents_sql(d: Dialect, scope: &Scope<'_>) -> (String, Vec<Param>) {
    let (cond, args) = scope_sql(d, scope);
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
    (d.render(&sql), args)
}

/// The incidents whose session id starts with `session` (the index range
/// `[session, prefix_end)` of `incidents_session`) and whose agent id
/// starts with `agent`, ASCII case ignored.
pub fn prefix_sql(d: Dialect, agent: Option<&str>, session: &str) -> (String, Vec<Param>) {
    let mut args = vec![Param::Text(session.to_string())];
    let mut sql = String::from("SELECT agent, session FROM incidents WHERE session >= $1");
    if let Some(end) = derived::prefix_end(session) {
        args.push(Param::Text(end));
        sql.push_str(&format!(" AND session < ${}", args.len()));
    }
    if let Some(a) = agent {
        args.push(Param::Text(a.to_string()));
        let n = args.len();
        sql.push_str(&format!(
            " AND upper(substr(agent, 1, length(${n}::text))) = upper(${n}::text)"
        ));
    }
    sql.push_str(" ORDER BY session, agent");
    (d.render(&sql), args)
}

/// The report's query: each period's range as a CASE arm (its column a
/// BIGINT in both dialects), over one range scan of `incidents_time` from
/// the first period's start to the last one's end.
pub fn counts_sql(d: Dialect, periods: &[Period]) -> (String, Vec<Param>) {
    let mut arms = String::new();
    let mut args = Vec::new();
    for p in periods {
        args.push(Param::Int(p.from));
        args.push(Param::Int(p.to));
        arms.push_str(&format!(
            " WHEN utc_ms >= ${} AND utc_ms < ${} THEN CAST({} AS BIGINT)",
            args.len() - 1,
            args.len(),
            p.column
        ));
    }
    let lo = periods.iter().map(|p| p.from).min().unwrap_or(0);
    let hi = periods.iter().map(|p| p.to).max().unwrap_or(0);
    args.push(Param::Int(lo));
    args.push(Param::Int(hi));
    let n = args.len();
    let sql = format!(
        "SELECT x.c, x.state, x.event, x.causes, COUNT(*) FROM
           (SELECT CASE{arms} END AS c, state, event, causes FROM incidents
            WHERE utc_ms >= ${} AND utc_ms < ${n}) x
         WHERE x.c IS NOT NULL GROUP BY x.c, x.state, x.event, x.causes",
        n - 1
    );
    (d.render(&sql), args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::backend::TriageState;

    #[test]
    fn sqlite_takes_numbered_question_marks_without_casts() {
        let t = "a = $1 AND b = $12::bigint OR $3::text IS NULL AND c = '$' AND d = $x";
        assert_eq!(
            Dialect::Sqlite.render(t),
            "a = ?1 AND b = ?12 OR ?3 IS NULL AND c = '$' AND d = $x"
        );
        assert_eq!(Dialect::Postgres.render(t), t);
    }

    #[test]
    fn every_template_numbers_its_parameters_from_one_without_a_gap() {
        for (name, template) in Texts::templates() {
            let sqlite = Dialect::Sqlite.render(template);
            assert!(!sqlite.contains('$') && !sqlite.contains("::"), "{name}");
            let mut seen: Vec<u32> = template
                .split('$')
                .skip(1)
                .map(|s| s.chars().take_while(char::is_ascii_digit).collect())
                .filter_map(|d: String| d.parse().ok())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            let want: Vec<u32> = (1..=seen.len() as u32).collect();
            assert_eq!(seen, want, "{name}");
        }
    }

    #[test]
    fn builders_render_each_dialect_from_one_text() {
        let scope = Scope {
            agent: Some("A"),
            state: Some(TriageState::Triaged),
            since: Some(10),
            ..Scope::default()
        };
        let (pg, args) = incidents_sql(Dialect::Postgres, &scope);
        let (lite, same) = incidents_sql(Dialect::Sqlite, &scope);
        assert_eq!(args, same);
        assert_eq!(args.last(), Some(&Param::Int(10)));
        assert!(
            pg.contains("i.utc_ms >= $3") && !pg.contains("likelihood"),
            "{pg}"
        );
        assert!(lite.contains("likelihood(i.utc_ms >= ?3, 0.05)"), "{lite}");
        let (pg, args) = prefix_sql(Dialect::Postgres, Some("ab"), "s");
        assert!(pg.contains("length($3::text)"), "{pg}");
        assert_eq!(args.len(), 3);
        let (lite, _) = prefix_sql(Dialect::Sqlite, Some("ab"), "s");
        assert!(lite.contains("upper(substr(agent, 1, length(?3))) = upper(?3)"));
        let periods = [Period {
            column: 2,
            from: 5,
            to: 9,
        }];
        let (lite, args) = counts_sql(Dialect::Sqlite, &periods);
        assert!(
            lite.contains("WHEN utc_ms >= ?1 AND utc_ms < ?2 THEN CAST(2 AS BIGINT)"),
            "{lite}"
        );
        assert!(
            lite.contains("WHERE utc_ms >= ?3 AND utc_ms < ?4"),
            "{lite}"
        );
        assert_eq!(args, [5, 9, 5, 9].map(Param::Int));
    }
}
