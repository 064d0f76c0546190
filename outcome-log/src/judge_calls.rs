//! The `judge_calls` table: one row per judged request, with what the judge (or the
//! reference check) said and what it cost. Labels themselves go to `feedback` with
//! `source = 'judge'`; this table is the judge's own accounting (daily budget, spend, how
//! often it answered garbage), so that a restart does not reset the day's spend.

use router_core::ModelId;
use rusqlite::{params, Connection, OpenFlags};

use crate::location::Location;
use crate::schema::has_table;
use crate::Error;

/// How a judged request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JudgeResult {
    /// The label is stored as a feedback row with `source = 'judge'`.
    Stored,
    /// The request already had a label for the metric (a human's, or an earlier judge's):
    /// the judge's label was not stored.
    Superseded,
    /// The outcome row is not in the log (dropped under `fail_open`): nothing to label.
    UnknownRequest,
    /// The log could not take the label.
    LogUnavailable,
    /// The judge answered, but not with a verdict the parser accepts.
    Garbage,
    /// The judge call (or the reference model's call) failed.
    Error,
}

impl JudgeResult {
    /// The stored, metric-label name.
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeResult::Stored => "stored",
            JudgeResult::Superseded => "superseded",
            JudgeResult::UnknownRequest => "unknown_request",
            JudgeResult::LogUnavailable => "log_unavailable",
            JudgeResult::Garbage => "garbage",
            JudgeResult::Error => "error",
        }
    }
}

impl JudgeResult {
    /// What storing the judge's label gave, as the call's result.
    pub fn of_label(verdict: crate::FeedbackVerdict) -> Self {
        use crate::FeedbackVerdict as V;
        match verdict {
            V::Stored | V::ReplacedJudge { .. } => JudgeResult::Stored,
            V::AlreadyLabelled { .. } => JudgeResult::Superseded,
            V::UnknownRequest => JudgeResult::UnknownRequest,
            V::Unavailable => JudgeResult::LogUnavailable,
        }
    }
}

/// One judged request, as the judge hands it to the log.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeCall {
    /// The judged request.
    pub request_id: String,
    /// Unix milliseconds when judging finished.
    pub timestamp_ms: u64,
    /// The judge model; `None` for a reference-answer check (no model called).
    pub judge_model: Option<ModelId>,
    /// `absolute`, `pairwise` or `reference`.
    pub method: &'static str,
    /// How it ended; the writer replaces `Stored` with what storing the label gave.
    pub result: JudgeResult,
    /// The score the judge gave, when it gave one.
    pub score: Option<f64>,
    /// USD spent on it (judge and reference-model calls, catalog prices).
    pub cost_usd: f64,
    /// Input tokens over its calls.
    pub input_tokens: u32,
    /// Output tokens over its calls.
    pub output_tokens: u32,
    /// Time spent judging, in milliseconds.
    pub latency_ms: f64,
}

/// Stores one judged request's accounting row.
pub fn insert(conn: &Connection, call: &JudgeCall) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO judge_calls (request_id, timestamp_ms, judge_model, method, result, score,
         cost_usd, input_tokens, output_tokens, latency_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        call.request_id,
        i64::try_from(call.timestamp_ms).unwrap_or(i64::MAX),
        call.judge_model.as_ref().map(|m| m.as_str()),
        call.method,
        call.result.as_str(),
        call.score.filter(|s| s.is_finite()),
        if call.cost_usd.is_finite() {
            call.cost_usd
        } else {
            0.0
        },
        call.input_tokens,
        call.output_tokens,
        if call.latency_ms.is_finite() {
            call.latency_ms
        } else {
            0.0
        },
    ])?;
    Ok(())
}

/// USD the judge spent since `since_ms` (Unix milliseconds), read from `db`; 0 for a log
/// without the table. The judge reads it once at start-up to resume the day's budget.
pub fn judge_spend_since(db: impl Into<Location>, since_ms: u64) -> Result<f64, Error> {
    let db = match db.into() {
        Location::Sqlite(path) => path,
        Location::Postgres(url) => return crate::pg::read::judge_spend_since(&url, since_ms),
    };
    let db = db.as_path();
    let err = Error::sqlite(db);
    if !db.exists() {
        return Ok(0.0);
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(&err)?;
    if !has_table(&conn, "judge_calls").map_err(&err)? {
        return Ok(0.0);
    }
    conn.query_row(
        "SELECT COALESCE(SUM(cost_usd), 0.0) FROM judge_calls WHERE timestamp_ms >= ?1",
        [i64::try_from(since_ms).unwrap_or(i64::MAX)],
        |r| r.get(0),
    )
    .map_err(&err)
}

/// Every judge call in `db`, oldest first (tests and diagnostics).
pub fn read_judge_calls(db: impl Into<Location>) -> Result<Vec<JudgeCallRow>, Error> {
    let db = match db.into() {
        Location::Sqlite(path) => path,
        Location::Postgres(url) => return crate::pg::read::read_judge_calls(&url),
    };
    let db = db.as_path();
    let err = Error::sqlite(db);
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(&err)?;
    let mut stmt = conn
        .prepare(
            "SELECT request_id, judge_model, method, result, score, cost_usd FROM judge_calls ORDER BY id",
        )
        .map_err(&err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(JudgeCallRow {
                request_id: r.get(0)?,
                judge_model: r.get(1)?,
                method: r.get(2)?,
                result: r.get(3)?,
                score: r.get(4)?,
                cost_usd: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(&err)?;
    Ok(rows)
}

/// A `judge_calls` row as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeCallRow {
    /// The judged request.
    pub request_id: String,
    /// The judge model, `None` for reference checks.
    pub judge_model: Option<String>,
    /// `absolute`, `pairwise` or `reference`.
    pub method: String,
    /// [`JudgeResult::as_str`].
    pub result: String,
    /// The judge's score, when it gave one.
    pub score: Option<f64>,
    /// USD spent.
    pub cost_usd: f64,
}
