//! Retention by size: when the log's live pages exceed a cap, the oldest outcomes are pruned
//! (archived first, their spend kept in `pruned_spend`) until it is back under 90 % of it.
//!
//! The size is what the data occupies, `(page_count − freelist_count) × page_size`, not the
//! file's length: SQLite reuses freed pages rather than returning them to the file system, so
//! after a prune the file stops growing but does not shrink (`VACUUM`, offline, shrinks it).
//! Pruning to 90 % rather than to the cap leaves room for a few minutes of traffic before the
//! next pass, instead of pruning a sliver on every check.

use std::path::Path;

use rusqlite::Connection;

use super::{open_existing, prune, Archive, PruneReport, DEFAULT_PRUNE_BATCH};
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

/// What a size pass needs of a backend; [`prune_until_under`] is the rule both backends share.
pub(crate) trait SizedLog {
    /// The log's size as this backend measures it.
    fn used(&mut self) -> Result<u64, Error>;
    /// How many outcome rows there are.
    fn outcome_rows(&mut self) -> Result<i64, Error>;
    /// The timestamp of the outcome with `older` rows older than it.
    fn oldest_timestamp_after(&mut self, older: i64) -> Result<i64, Error>;
    /// Prunes (with `dry_run`, counts) the outcomes older than `before_ms`.
    fn prune(&mut self, before_ms: u64, dry_run: bool) -> Result<PruneReport, Error>;
}

/// Prunes the oldest outcomes of `log` until it is at most 90 % of `max_bytes` (nothing when
/// it is within `max_bytes`). With `dry_run` it only says how many of the oldest rows one pass
/// would prune.
pub(crate) fn prune_until_under(
    log: &mut impl SizedLog,
    max_bytes: u64,
    dry_run: bool,
) -> Result<SizeReport, Error> {
    let before = log.used()?;
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
        let Some(cutoff) = cutoff_for(log, report.after_bytes, target)? else {
            report.still_over = true;
            break;
        };
        let pass = log.prune(cutoff, dry_run)?;
        if dry_run {
            report.pruned = pass;
            return Ok(report);
        }
        report.pruned.outcomes += pass.outcomes;
        report.pruned.feedback += pass.feedback;
        report.pruned.judge_calls += pass.judge_calls;
        report.after_bytes = log.used()?;
        if report.after_bytes <= target {
            break;
        }
    }
    Ok(report)
}

/// The timestamp before which the oldest rows must go to bring `used` bytes down to
/// `target`, taking each outcome's share as `used / rows` and rounding the count up. `None`
/// when no outcome is left.
fn cutoff_for(log: &mut impl SizedLog, used: u64, target: u64) -> Result<Option<u64>, Error> {
    let rows = log.outcome_rows()?;
    if rows == 0 {
        return Ok(None);
    }
    let per_row = (used as f64 / rows as f64).max(1.0);
    let excess = used.saturating_sub(target) as f64;
    let drop = ((excess / per_row).ceil() as i64).clamp(1, rows);
    let last = log.oldest_timestamp_after(drop - 1)?;
    // Rows sharing the last one's millisecond go with it: the cutoff is exclusive.
    Ok(Some(u64::try_from(last.saturating_add(1)).unwrap_or(0)))
}

/// A SQLite file as a [`SizedLog`]: its pages in use, pruned in [`DEFAULT_PRUNE_BATCH`] batches.
struct File<'a> {
    db: &'a Path,
    conn: Connection,
    archive: Archive<'a>,
}

impl SizedLog for File<'_> {
    fn used(&mut self) -> Result<u64, Error> {
        used_bytes(&self.conn).map_err(Error::sqlite(self.db))
    }

    fn outcome_rows(&mut self) -> Result<i64, Error> {
        self.conn
            .query_row("SELECT COUNT(*) FROM outcomes", [], |r| r.get(0))
            .map_err(Error::sqlite(self.db))
    }

    fn oldest_timestamp_after(&mut self, older: i64) -> Result<i64, Error> {
        self.conn
            .query_row(
                "SELECT timestamp_ms FROM outcomes ORDER BY timestamp_ms LIMIT 1 OFFSET ?1",
                [older],
                |r| r.get(0),
            )
            .map_err(Error::sqlite(self.db))
    }

    fn prune(&mut self, before_ms: u64, dry_run: bool) -> Result<PruneReport, Error> {
        let archive = self.archive.writer(dry_run)?;
        prune(self.db, before_ms, archive, DEFAULT_PRUNE_BATCH, dry_run)
    }
}

/// [`prune_until_under`] on a SQLite file, archiving each batch to `archive` first.
pub(crate) fn prune_file_to_size(
    db: &Path,
    max_bytes: u64,
    archive: Option<&Path>,
    dry_run: bool,
) -> Result<SizeReport, Error> {
    let mut file = File {
        db,
        conn: open_existing(db)?,
        archive: Archive::new(archive),
    };
    prune_until_under(&mut file, max_bytes, dry_run)
}
