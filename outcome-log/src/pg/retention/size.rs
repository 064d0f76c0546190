//! Retention by size on PostgreSQL: the same rule as the SQLite file's (`crate::retention`,
//! the size module): over the cap, the oldest outcomes are pruned (archived first, their spend
//! kept in `pruned_spend`) until the log is back under 90 % of it.
//!
//! What "the log's size" means differs. SQLite's pages in use are exact and cheap to read;
//! PostgreSQL reports no cheap live size: a table's files keep their length after a delete (the
//! space is reused once autovacuum has run), so their length would stay over the cap and every
//! pass would prune again. The cap applies instead to the **live data**, estimated per table
//! as its row count times the mean stored size of its newest 1,000 rows
//! (`pg_column_size`), plus each row's heap and index overhead. The estimate drops as soon as
//! rows are deleted, so a pass stops where it should. The files then stay near the size the cap
//! allows plus what autovacuum has not yet reclaimed; set the cap below the disk the database
//! may use, as with SQLite.

use std::io::Write;

use postgres::Client;

use crate::location::PgUrl;
use crate::retention::SizeReport;
use crate::Error;

/// The fraction of the cap a prune brings the log down to (as the SQLite file's).
const TARGET: f64 = 0.9;
/// Passes at most: each re-measures.
const PASSES: usize = 4;
/// Rows whose sizes are averaged per table: the newest, so the mean follows today's rows.
const SAMPLE: i64 = 1000;

/// Per table: its name, the column its newest rows sort by, and the stored bytes of one row
/// with the row's overhead: the heap tuple's line pointer (4 bytes; `pg_column_size` of the
/// row already counts its header) and one index entry per index (an 8-byte index tuple
/// header, a 4-byte line pointer and the key).
const TABLES: &[(&str, &str, &str)] = &[
    (
        "outcomes",
        "timestamp_ms",
        // Indexes: the primary key (request_id), timestamp_ms, (key_id, timestamp_ms).
        "pg_column_size(t.*) + 4 + 3 * 12 + pg_column_size(t.request_id) + 8 \
         + COALESCE(pg_column_size(t.key_id), 0) + 8",
    ),
    (
        "feedback",
        "id",
        // Indexes: the primary key (id), request_id.
        "pg_column_size(t.*) + 4 + 2 * 12 + 8 + pg_column_size(t.request_id)",
    ),
    (
        "judge_calls",
        "id",
        // Indexes: the primary key (id), timestamp_ms, request_id.
        "pg_column_size(t.*) + 4 + 3 * 12 + 8 + 8 + pg_column_size(t.request_id)",
    ),
    (
        "pruned_spend",
        "day_ms",
        // Indexes: the primary key (day_ms, key_id, model), (key_id, day_ms).
        "pg_column_size(t.*) + 4 + 2 * 12 + 2 * (8 + pg_column_size(t.key_id)) \
         + pg_column_size(t.model)",
    ),
];

/// Estimated bytes of the log's live data (see the module docs); tables that do not exist
/// count 0.
pub fn used_bytes(client: &mut Client) -> Result<u64, postgres::Error> {
    let mut total = 0.0;
    for (table, newest, row_bytes) in TABLES {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[table])?
            .get(0);
        if !exists {
            continue;
        }
        let row = client.query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {table}),
                        (SELECT COALESCE(avg({row_bytes}), 0)::float8
                         FROM (SELECT * FROM {table} ORDER BY {newest} DESC LIMIT $1) t)"
            ),
            &[&SAMPLE],
        )?;
        let (rows, mean): (i64, f64) = (row.get(0), row.get(1));
        total += rows as f64 * mean;
    }
    Ok(total.max(0.0) as u64)
}

/// Prunes the oldest outcomes until the log's estimated live data is at most 90 % of
/// `max_bytes` (nothing when it is within `max_bytes`), archiving each batch to `archive`
/// first. With `dry_run` it only says how many of the oldest rows one pass would prune.
pub fn prune_to_size(
    url: &PgUrl,
    max_bytes: u64,
    mut archive: Option<&mut dyn Write>,
    dry_run: bool,
) -> Result<SizeReport, Error> {
    let mut client = crate::pg::connect(url)?;
    let err = Error::pg(url);
    let before = used_bytes(&mut client).map_err(&err)?;
    let mut report = SizeReport {
        before_bytes: before,
        after_bytes: before,
        ..SizeReport::default()
    };
    if before <= max_bytes {
        return Ok(report);
    }
    let target = (max_bytes as f64 * TARGET) as u64;
    for _ in 0..PASSES {
        let Some(cutoff) = cutoff_for(&mut client, report.after_bytes, target).map_err(&err)?
        else {
            report.still_over = true;
            break;
        };
        // A fresh reborrow per pass (the trait object's lifetime cannot shrink behind `&mut`).
        let out = archive.as_mut().map(|w| &mut **w as &mut dyn Write);
        let pass = super::prune(url, cutoff, out, dry_run)?;
        if dry_run {
            report.pruned = pass;
            return Ok(report);
        }
        report.pruned.outcomes += pass.outcomes;
        report.pruned.feedback += pass.feedback;
        report.pruned.judge_calls += pass.judge_calls;
        report.after_bytes = used_bytes(&mut client).map_err(&err)?;
        if report.after_bytes <= target {
            break;
        }
    }
    Ok(report)
}

/// The timestamp before which the oldest rows must go to bring `used` bytes down to `target`,
/// taking each outcome's share as `used / rows` and rounding the count up; `None` when no
/// outcome is left. Rows sharing the last one's millisecond go with it.
fn cutoff_for(client: &mut Client, used: u64, target: u64) -> Result<Option<u64>, postgres::Error> {
    let rows: i64 = client
        .query_one("SELECT count(*) FROM outcomes", &[])?
        .get(0);
    if rows == 0 {
        return Ok(None);
    }
    let per_row = (used as f64 / rows as f64).max(1.0);
    let excess = used.saturating_sub(target) as f64;
    let drop = ((excess / per_row).ceil() as i64).clamp(1, rows);
    let last: i64 = client
        .query_one(
            "SELECT timestamp_ms FROM outcomes ORDER BY timestamp_ms LIMIT 1 OFFSET $1",
            &[&(drop - 1)],
        )?
        .get(0);
    Ok(Some(u64::try_from(last.saturating_add(1)).unwrap_or(0)))
}
