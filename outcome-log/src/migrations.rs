//! The schema as ordered, versioned migration steps, recorded in SQLite's `user_version`.
//!
//! Step N takes a file at version N - 1 to version N, in one transaction with the version
//! bump, so a crash leaves the file at a whole version. Files written before versioning have
//! `user_version` 0 but may already hold some of the later columns (they were added ad hoc
//! at open), so every step checks before it alters: running a step on a file that has its
//! change already is a no-op.

use rusqlite::{Connection, Transaction};

use crate::schema::has_column;

/// The layout this build writes; [`migrate`] brings any older file up to it.
pub const SCHEMA_VERSION: i64 = 6;

struct Step {
    version: i64,
    apply: fn(&Transaction<'_>) -> rusqlite::Result<()>,
}

const STEPS: &[Step] = &[
    Step {
        version: 1,
        apply: base_tables,
    },
    Step {
        version: 2,
        apply: outcomes_key_id,
    },
    Step {
        version: 3,
        apply: feedback_source,
    },
    Step {
        version: 4,
        apply: judge_calls,
    },
    Step {
        version: 5,
        apply: pruned_spend,
    },
    Step {
        version: 6,
        apply: drop_model_index,
    },
];

/// Version 1, the oldest layout: outcome rows and feedback labels.
fn base_tables(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS outcomes (
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
            timestamp_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS feedback_request ON feedback(request_id);",
    )
}

/// Version 2: the client key of each row (client keys); older rows read as `NULL`.
fn outcomes_key_id(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    if !has_column(tx, "outcomes", "key_id")? {
        tx.execute_batch("ALTER TABLE outcomes ADD COLUMN key_id TEXT;")?;
    }
    tx.execute_batch("CREATE INDEX IF NOT EXISTS outcomes_key ON outcomes(key_id, timestamp_ms);")
}

/// Version 3: who gave a label (`human` or `judge`). Every older label was posted through
/// `/v1/feedback`, so the default `human` is right.
fn feedback_source(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    if !has_column(tx, "feedback", "source")? {
        tx.execute_batch("ALTER TABLE feedback ADD COLUMN source TEXT NOT NULL DEFAULT 'human';")?;
    }
    Ok(())
}

/// Version 4: the judge's own accounting, one row per judged request (daily budget, spend),
/// so that a restart does not reset the day's spend.
fn judge_calls(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS judge_calls (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id    TEXT NOT NULL,
            timestamp_ms  INTEGER NOT NULL,
            judge_model   TEXT,
            method        TEXT NOT NULL,
            result        TEXT NOT NULL,
            score         REAL,
            cost_usd      REAL NOT NULL,
            input_tokens  INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            latency_ms    REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS judge_calls_timestamp ON judge_calls(timestamp_ms);
        CREATE INDEX IF NOT EXISTS judge_calls_request ON judge_calls(request_id);",
    )
}

/// Version 5: what retention deleted, summed per UTC day, client key and model (`''` where a
/// row had none), so that budgets recounted at start-up and `switchyard spend` still see the
/// spend of pruned rows (a size cap may prune rows of the current budget period).
fn pruned_spend(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS pruned_spend (
            day_ms        INTEGER NOT NULL,
            key_id        TEXT NOT NULL,
            model         TEXT NOT NULL,
            requests      INTEGER NOT NULL,
            ok            INTEGER NOT NULL,
            input_tokens  INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cost_usd      REAL NOT NULL,
            PRIMARY KEY (day_ms, key_id, model)
        );
        CREATE INDEX IF NOT EXISTS pruned_spend_key ON pruned_spend(key_id, day_ms);",
    )
}

/// Version 6: no index on `outcomes(model)`. No query looks rows up by model (reports group
/// by it over a time range, which the timestamp index serves), and every commit paid for it:
/// one more B-tree page written to the WAL per committed group.
fn drop_model_index(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("DROP INDEX IF EXISTS outcomes_model;")
}

/// What [`migrate`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migrated {
    /// The file's version before, and after (always [`SCHEMA_VERSION`]).
    From(i64),
    /// The file is newer than this build: nothing was touched.
    TooNew(i64),
}

/// The file's schema version (`user_version`; 0 for a new file or one older than versioning).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies every step above the file's version, each in its own transaction with its
/// version bump.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    let from = version(conn)?;
    if from > SCHEMA_VERSION {
        return Ok(Migrated::TooNew(from));
    }
    for step in STEPS.iter().filter(|s| s.version > from) {
        let tx = conn.transaction()?;
        (step.apply)(&tx)?;
        tx.pragma_update(None, "user_version", step.version)?;
        tx.commit()?;
    }
    Ok(Migrated::From(from))
}

#[cfg(test)]
mod tests;
