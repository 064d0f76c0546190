//! Retention by size: when the log's live pages exceed a cap, the oldest outcomes are pruned
//! (archived first, their spend kept in `pruned_spend`) until it is back under 90 % of it.
//!
//! The size is what the data occupies, `(page_count − freelist_count) × page_size`, not the
//! file's length: SQLite reuses freed pages rather than returning them to the file system, so
//! after a prune the file stops growing but does not shrink (`VACUUM`, offline, shrinks it).
//! Pruning to 90 % rather than to the cap leaves room for a few minutes of traffic before the
//! next pass, instead of pruning a sliver on every check.

use std::io::Write;
use std::path::Path;

use rusqlite::Connection;

use super::{open_archive, open_existing, prune, PruneReport, DEFAULT_PRUNE_BATCH};
use crate::Error;

/// The fraction of the cap a prune brings the log down to.
const TARGET: f64 = 0.9;

/// Passes at most: each re-measures, since a row's share of the pages is an estimate.
const PASSES: usize = 4;

/// What a size pass found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SizeReport {
    /// Live bytes before.
    pub before_bytes: u64,
    /// Live bytes after (before, when dry).
    pub after_bytes: u64,
    /// What was (or, dry, would be) pruned.
    pub pruned: PruneReport,
    /// Still over the cap with no outcome left to prune: the rest is labels of kept rows,
    /// client keys or judge calls, and only a larger cap helps.
    pub still_over: bool,
}

/// Bytes of the database's pages in use.
pub fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    let live = pragma("page_count")?.saturating_sub(pragma("freelist_count")?);
    Ok(u64::try_from(live.saturating_mul(pragma("page_size")?)).unwrap_or(0))
}

/// Prunes the oldest outcomes until the file's live bytes are at most 90 % of `max_bytes`
/// (nothing when it is within `max_bytes`), archiving each batch to `archive` first. With
/// `dry_run` it only says how many of the oldest rows one pass would prune.
pub(crate) fn prune_file_to_size(
    db: &Path,
    max_bytes: u64,
    archive: Option<&Path>,
    dry_run: bool,
) -> Result<SizeReport, Error> {
    let err = Error::sqlite(db);
    let conn = open_existing(db)?;
    let before = used_bytes(&conn).map_err(&err)?;
    let mut report = SizeReport {
        before_bytes: before,
        after_bytes: before,
        ..SizeReport::default()
    };
    if before <= max_bytes {
        return Ok(report);
    }
    let mut file = open_archive(archive, dry_run)?;
    let target = (max_bytes as f64 * TARGET) as u64;
    for _ in 0..PASSES {
        let Some(cutoff) = cutoff_for(&conn, report.after_bytes, target).map_err(&err)? else {
            report.still_over = true;
            break;
        };
        if dry_run {
            report.pruned = super::count(&conn, cutoff).map_err(&err)?;
            return Ok(report);
        }
        let pass = prune(
            db,
            u64::try_from(cutoff).unwrap_or(0),
            file.as_mut().map(|f| f as &mut dyn Write),
            DEFAULT_PRUNE_BATCH,
            false,
        )?;
        report.pruned.outcomes += pass.outcomes;
        report.pruned.feedback += pass.feedback;
        report.pruned.judge_calls += pass.judge_calls;
        report.after_bytes = used_bytes(&conn).map_err(&err)?;
        if report.after_bytes <= target {
            break;
        }
    }
    Ok(report)
}

/// The timestamp before which the oldest rows must go to bring `used` bytes down to
/// `target`, taking each outcome's share as `used / rows` and rounding the count up. `None`
/// when no outcome is left.
fn cutoff_for(conn: &Connection, used: u64, target: u64) -> rusqlite::Result<Option<i64>> {
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM outcomes", [], |r| r.get(0))?;
    if rows == 0 {
        return Ok(None);
    }
    let per_row = (used as f64 / rows as f64).max(1.0);
    let excess = used.saturating_sub(target) as f64;
    let drop = ((excess / per_row).ceil() as i64).clamp(1, rows);
    let last: i64 = conn.query_row(
        "SELECT timestamp_ms FROM outcomes ORDER BY timestamp_ms LIMIT 1 OFFSET ?1",
        [drop - 1],
        |r| r.get(0),
    )?;
    // Rows sharing the last one's millisecond go with it: the cutoff is exclusive.
    Ok(Some(last.saturating_add(1)))
}
