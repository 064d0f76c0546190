//! The SQLite schema of the outcome log, row writes and the JSONL export.
//!
//! One row per request in `outcomes`: the full [`Outcome`] as JSON in `record` plus indexed
//! columns for the common queries; labels posted later go to `feedback`, joined by request id
//! on export.

use std::io::Write;
use std::path::Path;

use router_core::{Feedback, FeedbackSource, Outcome};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::FeedbackVerdict;

use crate::error::Error;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outcomes (
    request_id   TEXT PRIMARY KEY,
    timestamp_ms INTEGER NOT NULL,
    model        TEXT,
    status       TEXT NOT NULL,
    cost_usd     REAL,
    latency_ms   REAL NOT NULL,
    record       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_timestamp ON outcomes(timestamp_ms);
CREATE INDEX IF NOT EXISTS outcomes_model ON outcomes(model);
CREATE TABLE IF NOT EXISTS feedback (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   TEXT NOT NULL,
    metric       TEXT NOT NULL,
    score        REAL NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    source       TEXT NOT NULL DEFAULT 'human'
);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback(request_id);
";

/// Adds the `source` column (`human` or `judge`) to feedback tables created before the judge;
/// every older label was posted through `/v1/feedback`, so the default `human` is right.
fn migrate_feedback_source(conn: &Connection) -> Result<(), rusqlite::Error> {
    if !feedback_has_source(conn)? {
        conn.execute_batch(
            "ALTER TABLE feedback ADD COLUMN source TEXT NOT NULL DEFAULT 'human';",
        )?;
    }
    Ok(())
}

/// Adds the `key_id` column (client keys) to logs created before it; old rows read as `NULL`.
fn migrate_key_id(conn: &Connection) -> Result<(), rusqlite::Error> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('outcomes') WHERE name = 'key_id'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE outcomes ADD COLUMN key_id TEXT;")?;
    }
    conn.execute_batch("CREATE INDEX IF NOT EXISTS outcomes_key ON outcomes(key_id, timestamp_ms);")
}

/// Whether the feedback table has the `source` column (logs older than the judge do not).
fn feedback_has_source(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('feedback') WHERE name = 'source'",
        [],
        |r| r.get(0),
    )
}

fn db_error(path: &Path, source: rusqlite::Error) -> Error {
    Error::OutcomeLog {
        path: path.to_owned(),
        source,
    }
}

/// Opens (creating it and its folder if needed) the database in WAL mode. A commit is in the
/// WAL before it returns, so it survives the process being killed; `fsync` also syncs the
/// WAL on every commit so that it survives power loss (`synchronous = FULL`).
pub(crate) fn open(path: &Path, fsync: bool) -> Result<Connection, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::OutcomeLogDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
    // WAL lets `switchyard log export` read while the gateway writes.
    conn.pragma_update(None, "journal_mode", "WAL")
        .and_then(|_| {
            conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })
        })
        .and_then(|_| conn.execute_batch(SCHEMA))
        .and_then(|_| migrate_key_id(&conn))
        .and_then(|_| migrate_feedback_source(&conn))
        .and_then(|_| conn.execute_batch(super::judge_calls::SCHEMA))
        .map_err(|e| db_error(path, e))?;
    Ok(conn)
}

/// Writes `rows` in one transaction. Returns, per row, whether it was stored: a row whose JSON
/// would not read back as an [`Outcome`] (a non-finite number becomes `null`) is refused
/// rather than stored, so that the export never meets an unreadable row.
pub(crate) fn write_batch(
    conn: &mut Connection,
    rows: &[Outcome],
) -> Result<Vec<bool>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut stored = Vec::with_capacity(rows.len());
    {
        let mut outcome = tx.prepare_cached(
            "INSERT OR REPLACE INTO outcomes
             (request_id, timestamp_ms, model, status, cost_usd, latency_ms, record, key_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for o in rows {
            let Some(record) = storable_json(o) else {
                tracing::error!(request_id = %o.request_id, "Outcome row has a non-finite number; not stored.");
                stored.push(false);
                continue;
            };
            let status = serde_json::to_value(o.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            outcome.execute(params![
                o.request_id,
                i64::try_from(o.timestamp_ms).unwrap_or(i64::MAX),
                o.model.as_ref().map(|m| m.as_str()),
                status,
                o.cost_usd,
                o.latency_ms,
                record,
                o.key_id,
            ])?;
            stored.push(true);
        }
    }
    tx.commit()?;
    Ok(stored)
}

/// The row's JSON, when it reads back as an [`Outcome`].
fn storable_json(o: &Outcome) -> Option<String> {
    let json = serde_json::to_string(o).ok()?;
    serde_json::from_str::<Outcome>(&json).ok()?;
    Some(json)
}

/// Stores a label unless the request is unknown (or, with `key_id`, made under another key)
/// or already labelled for this metric. The first label wins, except that a human label
/// replaces a judge label (and a judge label never replaces anything): a person's verdict is
/// worth more than the grader's.
pub(crate) fn add_feedback(
    conn: &mut Connection,
    request_id: &str,
    key_id: Option<&str>,
    fb: &Feedback,
    timestamp_ms: u64,
) -> Result<FeedbackVerdict, rusqlite::Error> {
    let tx = conn.transaction()?;
    let known: bool = tx
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM outcomes WHERE request_id = ?1 AND (?2 IS NULL OR key_id = ?2))",
        )?
        .query_row(params![request_id, key_id], |r| r.get(0))?;
    if !known {
        return Ok(FeedbackVerdict::UnknownRequest);
    }
    let existing: Option<(f64, String)> = tx
        .prepare_cached(
            "SELECT score, source FROM feedback WHERE request_id = ?1 AND metric = ?2 ORDER BY id LIMIT 1",
        )?
        .query_row(params![request_id, fb.metric], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let mut verdict = FeedbackVerdict::Stored;
    if let Some((score, source)) = existing {
        let existing = FeedbackSource::from_stored(&source);
        if fb.source != FeedbackSource::Human || existing == FeedbackSource::Human {
            return Ok(FeedbackVerdict::AlreadyLabelled { score });
        }
        tx.prepare_cached(
            "DELETE FROM feedback WHERE request_id = ?1 AND metric = ?2 AND source <> 'human'",
        )?
        .execute(params![request_id, fb.metric])?;
        verdict = FeedbackVerdict::ReplacedJudge { score };
    }
    tx.prepare_cached(
        "INSERT INTO feedback (request_id, metric, score, timestamp_ms, source) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        request_id,
        fb.metric,
        fb.score,
        i64::try_from(timestamp_ms).unwrap_or(i64::MAX),
        fb.source.as_str(),
    ])?;
    tx.commit()?;
    Ok(verdict)
}

/// Reads every outcome, oldest first, with its feedback attached.
pub fn read_outcomes(db: &Path) -> Result<Vec<Outcome>, Error> {
    let mut all = Vec::new();
    for_each_outcome(db, |o| {
        all.push(o);
        Ok(())
    })?;
    Ok(all)
}

/// Writes one [`Outcome`] JSON object per line, oldest first, feedback attached. Returns the
/// number of lines.
pub fn export_jsonl(db: &Path, out: &mut impl Write) -> Result<usize, Error> {
    let mut n = 0;
    for_each_outcome(db, |o| {
        serde_json::to_writer(&mut *out, &o)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"))
            .map_err(|source| Error::OutcomeExportWrite { source })?;
        n += 1;
        Ok(())
    })?;
    out.flush()
        .map_err(|source| Error::OutcomeExportWrite { source })?;
    Ok(n)
}

fn for_each_outcome(
    db: &Path,
    mut f: impl FnMut(Outcome) -> Result<(), Error>,
) -> Result<(), Error> {
    if !db.exists() {
        return Err(Error::OutcomeLogMissing {
            path: db.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| db_error(db, e))?;
    let mut rows = conn
        .prepare("SELECT request_id, record FROM outcomes ORDER BY timestamp_ms, request_id")
        .map_err(|e| db_error(db, e))?;
    let mut feedback = conn
        .prepare(
            if feedback_has_source(&conn).map_err(|e| db_error(db, e))? {
                "SELECT metric, score, source FROM feedback WHERE request_id = ?1 ORDER BY id"
            } else {
                // A log written before judge labels, read without being migrated (read-only).
                "SELECT metric, score, 'human' FROM feedback WHERE request_id = ?1 ORDER BY id"
            },
        )
        .map_err(|e| db_error(db, e))?;
    let mut iter = rows.query([]).map_err(|e| db_error(db, e))?;
    while let Some(row) = iter.next().map_err(|e| db_error(db, e))? {
        let request_id: String = row.get(0).map_err(|e| db_error(db, e))?;
        let record: String = row.get(1).map_err(|e| db_error(db, e))?;
        // A row that does not read back (written by an older version before rows were
        // checked) is skipped with a warning: one bad row must not block the export or
        // `train --from-log`.
        let mut outcome: Outcome = match serde_json::from_str(&record) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(path = %db.display(), request_id = %request_id, error = %e, "Skipped an unreadable outcome row.");
                continue;
            }
        };
        let labels = feedback
            .query_map([&request_id], |r| {
                Ok(Feedback {
                    metric: r.get(0)?,
                    score: r.get(1)?,
                    source: FeedbackSource::from_stored(&r.get::<_, String>(2)?),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| db_error(db, e))?;
        outcome.feedback.extend(labels);
        f(outcome)?;
    }
    Ok(())
}
