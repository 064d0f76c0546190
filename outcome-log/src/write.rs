//! Synchronous writes: opening (and migrating) the database, a group of outcome rows in one
//! transaction, and feedback labels with their first-label-wins rules. The gateway calls
//! these from its single writer thread, so that the label checks cannot race.

use std::path::Path;

use router_core::{Feedback, FeedbackSource, Outcome};
use rusqlite::{params, Connection, OptionalExtension};

use crate::migrations::{migrate, Migrated, SCHEMA_VERSION};
use crate::Error;

/// What became of a posted feedback label. Exhaustive on purpose: the gateway maps every
/// verdict to an HTTP answer and a judge result.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedbackVerdict {
    /// Stored.
    Stored,
    /// No outcome row has this request id.
    UnknownRequest,
    /// The request already has a label for this metric; the first one wins (a human one
    /// over a judge's, whichever came first).
    AlreadyLabelled {
        /// The stored score.
        score: f64,
    },
    /// Stored, replacing the judge's label for the same metric (human labels win).
    ReplacedJudge {
        /// The judge's score it replaced.
        score: f64,
    },
    /// The log could not take or store it.
    Unavailable,
}

/// Opens (creating it and its folder if needed) the database in WAL mode and migrates it to
/// [`SCHEMA_VERSION`]. A commit is in the WAL before it returns, so it survives the process
/// being killed; `fsync` also syncs the WAL on every commit so that it survives power loss
/// (`synchronous = FULL`).
pub fn open(path: &Path, fsync: bool) -> Result<Connection, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Dir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let db = Error::sqlite(path);
    let mut conn = Connection::open(path).map_err(&db)?;
    // WAL lets `switchyard log export` read while the gateway writes.
    conn.pragma_update(None, "journal_mode", "WAL")
        .and_then(|_| {
            conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })
        })
        .map_err(&db)?;
    match migrate(&mut conn).map_err(&db)? {
        Migrated::From(_) => Ok(conn),
        Migrated::TooNew(found) => Err(Error::TooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        }),
    }
}

/// Stops `conn` from checkpointing the WAL itself (SQLite's default does it, with a sync of the
/// database file, inside the commit that crosses 1,000 pages), for a writer whose checkpoints
/// run elsewhere ([`checkpoint`] on another connection), so that no commit pays for one.
pub fn checkpoint_elsewhere(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.pragma_update(None, "wal_autocheckpoint", 0)
}

/// Copies what the WAL holds into the database file without waiting for anyone (SQLite's
/// `PASSIVE` checkpoint: writers go on appending meanwhile). Returns the WAL's frames and how
/// many of them are now in the database; when all are, the next commit starts the WAL over.
pub fn checkpoint(conn: &Connection) -> Result<(i64, i64), rusqlite::Error> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

/// Writes `rows` in one transaction. Returns, per row, whether it was stored: a row whose JSON
/// would not read back as an [`Outcome`] (a non-finite number becomes `null`) is refused
/// rather than stored, so that the export never meets an unreadable row.
pub fn write_batch(conn: &mut Connection, rows: &[Outcome]) -> Result<Vec<bool>, rusqlite::Error> {
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
            let status = status_name(o);
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

/// The row's JSON, when it reads back as an [`Outcome`]. A row whose floats are all finite
/// always does (a non-finite float, written as `null`, is the only way `serde_json`'s output
/// fails to read back), so only a row with one is parsed again to decide.
pub(crate) fn storable_json(o: &Outcome) -> Option<String> {
    let json = serde_json::to_string(o).ok()?;
    if !crate::finite::all_finite(o) {
        serde_json::from_str::<Outcome>(&json).ok()?;
    }
    Some(json)
}

/// The row's `status` column: the status's serialized name (`ok`, `error`, …).
pub(crate) fn status_name(o: &Outcome) -> String {
    serde_json::to_value(o.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Stores a label unless the request is unknown (or, with `key_id`, made under another key)
/// or already labelled for this metric. The first label wins, except that a human label
/// replaces a judge label (and a judge label never replaces anything): a person's verdict is
/// worth more than the grader's.
pub fn add_feedback(
    conn: &mut Connection,
    request_id: &str,
    key_id: Option<&str>,
    fb: &Feedback,
    timestamp_ms: u64,
) -> Result<FeedbackVerdict, rusqlite::Error> {
    let tx = conn.transaction()?;
    let verdict = label_in(&tx, request_id, key_id, fb, timestamp_ms)?;
    tx.commit()?;
    Ok(verdict)
}

/// Stores a judged request's label (when it has one, setting the call's result from what
/// storing it gave) and its `judge_calls` accounting row in one transaction, so that a crash
/// cannot keep a label whose paid call the day's judge budget no longer counts.
pub fn add_judged(
    conn: &mut Connection,
    call: &mut crate::JudgeCall,
    label: Option<&Feedback>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    if let Some(fb) = label {
        let verdict = label_in(&tx, &call.request_id, None, fb, call.timestamp_ms)?;
        call.result = crate::JudgeResult::of_label(verdict);
    }
    crate::judge_calls::insert(&tx, call)?;
    tx.commit()
}

/// [`add_feedback`] inside the caller's transaction.
fn label_in(
    tx: &rusqlite::Transaction<'_>,
    request_id: &str,
    key_id: Option<&str>,
    fb: &Feedback,
    timestamp_ms: u64,
) -> Result<FeedbackVerdict, rusqlite::Error> {
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
    let verdict = label_verdict(existing, fb);
    match verdict {
        FeedbackVerdict::AlreadyLabelled { .. } => return Ok(verdict),
        FeedbackVerdict::ReplacedJudge { .. } => {
            tx.prepare_cached(
                "DELETE FROM feedback WHERE request_id = ?1 AND metric = ?2 AND source <> 'human'",
            )?
            .execute(params![request_id, fb.metric])?;
        }
        _ => {}
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
    Ok(verdict)
}

/// What a new label `fb` does given the request's first stored label for the metric (its
/// score and source), the same on every backend: `Stored` (none yet), `AlreadyLabelled`
/// (keep the stored one) or `ReplacedJudge` (delete the judge's labels, then store).
pub(crate) fn label_verdict(existing: Option<(f64, String)>, fb: &Feedback) -> FeedbackVerdict {
    let Some((score, source)) = existing else {
        return FeedbackVerdict::Stored;
    };
    let existing = FeedbackSource::from_stored(&source);
    if fb.source != FeedbackSource::Human || existing == FeedbackSource::Human {
        FeedbackVerdict::AlreadyLabelled { score }
    } else {
        FeedbackVerdict::ReplacedJudge { score }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn row(id: &str) -> Outcome {
        Outcome {
            requested_model: "gpt-4o-mini".to_owned(),
            propensity: Some(1.0),
            ttft_ms: Some(1.0),
            latency_ms: 2.0,
            input_tokens: Some(3),
            output_tokens: Some(4),
            cost_usd: Some(0.5),
            ..Outcome::answered(id, 1, "gpt-4o-mini")
        }
    }

    /// What reads back is stored, and only that: a non-finite `Option<f64>` reads back as
    /// `None` (stored as `null`), a non-finite plain `f64` cannot (refused).
    #[test]
    fn stores_exactly_the_rows_that_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("o.sqlite"), false).unwrap();
        let mut optional_nan = row("b");
        optional_nan.cost_usd = Some(f64::NAN);
        let mut plain_nan = row("c");
        plain_nan.latency_ms = f64::INFINITY;
        let stored = write_batch(&mut conn, &[row("a"), optional_nan, plain_nan]).unwrap();
        assert_eq!(stored, [true, true, false]);
        let read = crate::read_outcomes(dir.path().join("o.sqlite")).unwrap();
        let ids: Vec<&str> = read.iter().map(|o| o.request_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(read[1].cost_usd, None);
        assert_eq!(read[0], row("a"));
    }
}
