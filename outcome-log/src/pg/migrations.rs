//! The PostgreSQL layout as versioned steps, recorded in `switchyard_schema`. All steps run
//! in one transaction under an advisory lock, so two gateways starting at once migrate once
//! and a crash leaves the database at a whole version (PostgreSQL's DDL is transactional).
//!
//! Version 1 is the SQLite file's version 5 (outcomes with `key_id`, feedback with `source`,
//! `judge_calls`, `pruned_spend`) in PostgreSQL's types; later changes add steps here and in
//! `crate::migrations` together (version 2 is the file's version 6).

use postgres::Client;

/// The layout this build writes.
pub const SCHEMA_VERSION: i32 = 2;

/// Any fixed number: the advisory lock that serialises migrations across gateways.
const MIGRATION_LOCK: i64 = 0x5357_4954_4348; // "SWITCH"

const STEPS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE IF NOT EXISTS outcomes (
        request_id   TEXT PRIMARY KEY,
        timestamp_ms BIGINT NOT NULL,
        model        TEXT,
        status       TEXT NOT NULL,
        cost_usd     DOUBLE PRECISION,
        latency_ms   DOUBLE PRECISION NOT NULL,
        record       TEXT NOT NULL,
        key_id       TEXT
    );
    CREATE INDEX IF NOT EXISTS outcomes_timestamp ON outcomes(timestamp_ms);
    CREATE INDEX IF NOT EXISTS outcomes_model ON outcomes(model);
    CREATE INDEX IF NOT EXISTS outcomes_key ON outcomes(key_id, timestamp_ms);
    CREATE TABLE IF NOT EXISTS feedback (
        id           BIGSERIAL PRIMARY KEY,
        request_id   TEXT NOT NULL,
        metric       TEXT NOT NULL,
        score        DOUBLE PRECISION NOT NULL,
        timestamp_ms BIGINT NOT NULL,
        source       TEXT NOT NULL DEFAULT 'human'
    );
    CREATE INDEX IF NOT EXISTS feedback_request ON feedback(request_id);
    CREATE TABLE IF NOT EXISTS judge_calls (
        id            BIGSERIAL PRIMARY KEY,
        request_id    TEXT NOT NULL,
        timestamp_ms  BIGINT NOT NULL,
        judge_model   TEXT,
        method        TEXT NOT NULL,
        result        TEXT NOT NULL,
        score         DOUBLE PRECISION,
        cost_usd      DOUBLE PRECISION NOT NULL,
        input_tokens  BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        latency_ms    DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX IF NOT EXISTS judge_calls_timestamp ON judge_calls(timestamp_ms);
    CREATE INDEX IF NOT EXISTS judge_calls_request ON judge_calls(request_id);
    CREATE TABLE IF NOT EXISTS pruned_spend (
        day_ms        BIGINT NOT NULL,
        key_id        TEXT NOT NULL,
        model         TEXT NOT NULL,
        requests      BIGINT NOT NULL,
        ok            BIGINT NOT NULL,
        input_tokens  BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_usd      DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (day_ms, key_id, model)
    );
    CREATE INDEX IF NOT EXISTS pruned_spend_key ON pruned_spend(key_id, day_ms);",
    ),
    // No query looks outcomes up by model; the index only cost every insert a B-tree update.
    (2, "DROP INDEX IF EXISTS outcomes_model;"),
];

/// What [`migrate`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migrated {
    /// The version before (now [`SCHEMA_VERSION`]).
    From(i32),
    /// The database is newer than this build: nothing was touched.
    TooNew(i32),
}

/// Brings the database up to [`SCHEMA_VERSION`].
pub fn migrate(client: &mut Client) -> Result<Migrated, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS switchyard_schema (
            id      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
            version INTEGER NOT NULL
        );
        INSERT INTO switchyard_schema (version) VALUES (0) ON CONFLICT (id) DO NOTHING;",
    )?;
    let from: i32 = tx
        .query_one("SELECT version FROM switchyard_schema", &[])?
        .get(0);
    if from > SCHEMA_VERSION {
        return Ok(Migrated::TooNew(from));
    }
    for (version, sql) in STEPS.iter().filter(|(v, _)| *v > from) {
        tx.batch_execute(sql)?;
        tx.execute("UPDATE switchyard_schema SET version = $1", &[version])?;
    }
    tx.commit()?;
    Ok(Migrated::From(from))
}
