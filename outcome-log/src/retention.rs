//! Retention: outcomes older than a cutoff are deleted with their labels and judge calls,
//! each batch archived first, so that a log kept for years does not grow without bound.
//!
//! A running gateway keeps writing while this runs. Rows go in small batches, each in its own
//! short write transaction: one long delete would hold SQLite's single write lock for longer
//! than the gateway's `commit_timeout` and make it drop (or, failing closed, refuse) requests.
//! A batch is written to the archive and flushed before the transaction that deletes it
//! commits, so a crash between the two leaves the rows in both places, never in neither.
//!
//! Each deleted row's requests, tokens and cost are added to `pruned_spend` (per UTC day,
//! client key and model) in the same transaction, so budgets and `switchyard spend` keep
//! counting what was pruned. [`prune_to_size`] caps the log's size by pruning the oldest rows.

use std::io::Write;
use std::path::Path;

use router_core::{Feedback, FeedbackSource, Outcome};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::location::Location;
use crate::read::feedback_query;
use crate::schema::has_table;
use crate::Error;

/// The shortest age retention: a day. Budgets no longer need the rows themselves (a pruned
/// row's spend stays in `pruned_spend`, which the start-up recount reads) and the judge's
/// calls of the current and previous UTC day are never pruned, so the floor only keeps a
/// zero-day retention from deleting every row as it is written.
pub const MIN_RETENTION_DAYS: u64 = 1;

/// Rows per delete transaction: a few milliseconds of write lock each.
pub const DEFAULT_PRUNE_BATCH: usize = 500;

/// What a prune removed (or, dry, would remove).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Outcome rows.
    pub outcomes: usize,
    /// Feedback labels of those requests.
    pub feedback: usize,
    /// Judge calls older than the cutoff (never those of the current or previous UTC day).
    pub judge_calls: usize,
}

/// [`prune`] as a retention policy: every outcome older than `days` days from now, archived
/// first when `archive` is given (appended to, created if missing; nothing is deleted when it
/// cannot be opened), [`DEFAULT_PRUNE_BATCH`] rows per transaction. What `switchyard log
/// prune` and the gateway's `[log] retention_days` run.
pub fn prune_older_than(
    db: impl Into<Location>,
    days: u64,
    archive: Option<&Path>,
    dry_run: bool,
) -> Result<PruneReport, Error> {
    let before_ms = now_ms().saturating_sub(days.saturating_mul(DAY_MS));
    match db.into() {
        Location::Sqlite(db) => {
            let mut file = open_archive(archive, dry_run)?;
            let archive = file.as_mut().map(|f| f as &mut dyn Write);
            prune(&db, before_ms, archive, DEFAULT_PRUNE_BATCH, dry_run)
        }
        Location::Postgres(url) => crate::pg::off_runtime(|| {
            let mut file = open_archive(archive, dry_run)?;
            let archive = file.as_mut().map(|f| f as &mut dyn Write);
            crate::pg::retention::prune(&url, before_ms, archive, dry_run)
        }),
    }
}

const DAY_MS: u64 = 86_400_000;

/// Adds one outcome row to its `pruned_spend` bucket (before the row is deleted).
const LEDGER_UPSERT: &str = "INSERT INTO pruned_spend
        (day_ms, key_id, model, requests, ok, input_tokens, output_tokens, cost_usd)
    SELECT (timestamp_ms / 86400000) * 86400000, COALESCE(key_id, ''), COALESCE(model, ''), 1,
           status = 'ok', COALESCE(json_extract(record, '$.input_tokens'), 0),
           COALESCE(json_extract(record, '$.output_tokens'), 0), COALESCE(cost_usd, 0)
    FROM outcomes WHERE request_id = ?1
    ON CONFLICT (day_ms, key_id, model) DO UPDATE SET
        requests = requests + excluded.requests, ok = ok + excluded.ok,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cost_usd = cost_usd + excluded.cost_usd";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The cutoff for judge calls: the judge's daily budget is recounted from the day's judge
/// calls at start-up, so a size cap that prunes recent rows leaves yesterday's and today's.
pub(crate) fn judge_cutoff(cutoff: i64) -> i64 {
    let now = now_ms();
    let yesterday = (now - now % DAY_MS).saturating_sub(DAY_MS);
    cutoff.min(i64::try_from(yesterday).unwrap_or(i64::MAX))
}

/// The archive, opened for append (created if missing); `None` without one or when dry.
fn open_archive(
    archive: Option<&Path>,
    dry_run: bool,
) -> Result<Option<std::io::BufWriter<std::fs::File>>, Error> {
    let Some(path) = archive.filter(|_| !dry_run) else {
        return Ok(None);
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|f| Some(std::io::BufWriter::new(f)))
        .map_err(|source| Error::Archive {
            path: path.to_owned(),
            source,
        })
}

/// The archive a size pass appends to, opened at its first deleting pass: a log already under
/// its cap leaves no file behind, and one that cannot be opened stops the pass before anything
/// is deleted.
pub(crate) struct Archive<'a> {
    path: Option<&'a Path>,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl<'a> Archive<'a> {
    pub(crate) fn new(path: Option<&'a Path>) -> Self {
        Self { path, file: None }
    }

    /// Where a pass's deleted rows go; `None` without an archive or when dry.
    pub(crate) fn writer(&mut self, dry_run: bool) -> Result<Option<&mut dyn Write>, Error> {
        if self.file.is_none() {
            self.file = open_archive(self.path, dry_run)?;
        }
        Ok(self
            .file
            .as_mut()
            .filter(|_| !dry_run)
            .map(|f| f as &mut dyn Write))
    }
}

/// Opens an existing log for pruning (migrated), waiting up to 10 s for the gateway's group
/// commits (milliseconds each) rather than failing at once.
fn open_existing(db: &Path) -> Result<Connection, Error> {
    if !db.exists() {
        return Err(Error::Missing {
            path: db.to_owned(),
        });
    }
    let conn = crate::write::open(db, false)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(Error::sqlite(db))?;
    Ok(conn)
}

/// Deletes every outcome logged before `before_ms` (Unix ms) with its feedback and judge
/// calls, `batch` rows per transaction. With `archive`, each batch is first written there as
/// JSON lines (one [`Outcome`] per line with its feedback attached, as `switchyard log export`
/// writes them; a row that no longer reads as an outcome is archived as its stored JSON). With
/// `dry_run` nothing is written or deleted and the counts say what would go.
pub fn prune(
    db: &Path,
    before_ms: u64,
    mut archive: Option<&mut dyn Write>,
    batch: usize,
    dry_run: bool,
) -> Result<PruneReport, Error> {
    let err = Error::sqlite(db);
    let mut conn = open_existing(db)?;
    let cutoff = i64::try_from(before_ms).unwrap_or(i64::MAX);
    let judge_cutoff = judge_cutoff(cutoff);
    let mut report = PruneReport::default();
    if dry_run {
        return count(&conn, cutoff).map_err(&err);
    }
    let batch = batch.max(1);
    let judged = has_table(&conn, "judge_calls").map_err(&err)?;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let rows = oldest(&tx, cutoff, batch).map_err(&err)?;
        if rows.is_empty() {
            tx.commit().map_err(&err)?;
            break;
        }
        if let Some(out) = archive.as_deref_mut() {
            for (request_id, record) in &rows {
                let line = archived_line(&tx, request_id, record).map_err(&err)?;
                out.write_all(line.as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
                    .map_err(|source| Error::ExportWrite { source })?;
            }
            out.flush()
                .map_err(|source| Error::ExportWrite { source })?;
        }
        for (request_id, _) in &rows {
            tx.prepare_cached(LEDGER_UPSERT)
                .and_then(|mut s| s.execute([request_id]))
                .map_err(&err)?;
            report.feedback += tx
                .execute("DELETE FROM feedback WHERE request_id = ?1", [request_id])
                .map_err(&err)?;
            report.outcomes += tx
                .execute("DELETE FROM outcomes WHERE request_id = ?1", [request_id])
                .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        if rows.len() < batch {
            break;
        }
    }
    // Judge calls before the judge's cutoff, whether their request row was pruned above, went
    // earlier or was never stored.
    if judged {
        report.judge_calls += conn
            .execute(
                "DELETE FROM judge_calls WHERE timestamp_ms < ?1",
                params![judge_cutoff],
            )
            .map_err(&err)?;
    }
    Ok(report)
}

/// The next `batch` outcome rows older than the cutoff, oldest first.
fn oldest(conn: &Connection, cutoff: i64, batch: usize) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT request_id, record FROM outcomes WHERE timestamp_ms < ?1
         ORDER BY timestamp_ms, request_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![cutoff, i64::try_from(batch).unwrap_or(i64::MAX)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    rows.collect()
}

/// One archive line: the outcome with its labels, or the stored JSON as it is.
fn archived_line(conn: &Connection, request_id: &str, record: &str) -> rusqlite::Result<String> {
    let Ok(mut outcome) = serde_json::from_str::<Outcome>(record) else {
        return Ok(record.to_owned());
    };
    if let Some(sql) = feedback_query(conn)? {
        let mut stmt = conn.prepare_cached(sql)?;
        let labels = stmt.query_map([request_id], |r| {
            Ok(Feedback {
                metric: r.get(0)?,
                score: r.get(1)?,
                source: FeedbackSource::from_stored(&r.get::<_, String>(2)?),
            })
        })?;
        for label in labels {
            outcome.feedback.push(label?);
        }
    }
    Ok(serde_json::to_string(&outcome).unwrap_or_else(|_| record.to_owned()))
}

/// What a prune at this cutoff would delete.
fn count(conn: &Connection, cutoff: i64) -> rusqlite::Result<PruneReport> {
    let one = |sql: &str| conn.query_row(sql, [cutoff], |r| r.get::<_, i64>(0));
    let judge = if has_table(conn, "judge_calls")? {
        // What the deletes below remove: every call before the judge's cutoff (a pruned
        // request's later calls go at the next pass).
        conn.query_row(
            "SELECT COUNT(*) FROM judge_calls WHERE timestamp_ms < ?1",
            [judge_cutoff(cutoff)],
            |r| r.get::<_, i64>(0),
        )?
    } else {
        0
    };
    Ok(PruneReport {
        outcomes: one("SELECT COUNT(*) FROM outcomes WHERE timestamp_ms < ?1")? as usize,
        feedback: one("SELECT COUNT(*) FROM feedback WHERE request_id IN
             (SELECT request_id FROM outcomes WHERE timestamp_ms < ?1)")?
            as usize,
        judge_calls: judge as usize,
    })
}

mod size;

pub(crate) use size::{prune_until_under, SizedLog};
pub use size::{used_bytes, SizeReport};

/// Prunes the oldest outcomes until the log is at most 90 % of `max_bytes` (nothing when it is
/// within `max_bytes`), archiving each batch to `archive` first (appended to, created if
/// missing; nothing is deleted when it cannot be opened). With `dry_run` it only says how many
/// of the oldest rows one pass would prune. A SQLite file's size is its pages in use; on
/// PostgreSQL it is the estimated live data (`crate::pg::retention::used_bytes`). What
/// `switchyard log prune --max-bytes` and the gateway's `[log] retention_max_bytes` run.
pub fn prune_to_size(
    db: impl Into<Location>,
    max_bytes: u64,
    archive: Option<&Path>,
    dry_run: bool,
) -> Result<SizeReport, Error> {
    match db.into() {
        Location::Sqlite(db) => size::prune_file_to_size(&db, max_bytes, archive, dry_run),
        Location::Postgres(url) => crate::pg::off_runtime(|| {
            crate::pg::retention::prune_to_size(&url, max_bytes, Archive::new(archive), dry_run)
        }),
    }
}

#[cfg(test)]
mod tests;
