//! The outcome log's one owner: the SQLite schema and its versioned migrations
//! ([`migrations`]), the synchronous writes ([`write`], [`judge_calls`]) and the reads
//! ([`read`], [`spend`], and the dashboard's window aggregates in [`stats`]).
//!
//! The gateway writes the log (its async side, the group-commit thread, calls [`write`]);
//! `switchyard train --from-log`, `eval --from-log` and `switchyard log export` read it
//! through [`read`]. Keeping the format in one crate means a column added by the writer is
//! read by every reader the same way, and a second backend (PostgreSQL, issue 13) can sit
//! behind the same functions.
//!
//! Layout: one row per request in `outcomes` (the full [`router_core::Outcome`] as JSON in
//! `record` plus indexed columns for the common queries); labels in `feedback`, joined by
//! request id on read; the judge's accounting in `judge_calls`.

mod finite;
pub mod judge_calls;
pub mod location;
pub mod migrations;
pub mod pg;
pub mod read;
pub mod retention;
mod schema;
pub mod spend;
pub mod stats;
mod store;
pub mod write;

use std::path::PathBuf;

pub use judge_calls::{judge_spend_since, read_judge_calls, JudgeCall, JudgeCallRow, JudgeResult};
pub use location::{Location, PgUrl};
pub use migrations::SCHEMA_VERSION;
pub use pg::write::PgWriter;
pub use read::{export_jsonl, for_each_outcome, read_outcomes, read_outcomes_with, OnBadRecord};
pub use retention::{
    prune, prune_older_than, prune_to_size, used_bytes, PruneReport, SizeReport,
    DEFAULT_PRUNE_BATCH, MIN_RETENTION_DAYS,
};
pub use spend::{key_spend_since, spend_report, SpendBy, SpendRow};
pub use stats::{window_stats, Limits, Window, WindowStats};
pub use store::Store;
pub use write::{
    add_feedback, checkpoint, checkpoint_elsewhere, open, write_batch, FeedbackVerdict,
};

/// Everything that can go wrong opening, writing or reading the outcome log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite could not open, migrate or query the database.
    #[error("outcome log {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database's folder could not be created.
    #[error("cannot create outcome log folder {}: {source}", path.display())]
    Dir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database to read does not exist.
    #[error("outcome log {} does not exist; run `switchyard serve` first or pass the right --db path", path.display())]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// The database was written by a newer Switchyard whose layout this one does not know.
    #[error("outcome log {}: schema version {found} is newer than this build's {supported}; upgrade switchyard or point [log] sqlite at another file", path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The file's `user_version`.
        found: i64,
        /// [`SCHEMA_VERSION`].
        supported: i64,
    },
    /// A stored outcome record is not valid JSON for this version.
    #[error("outcome log {}: record of request {request_id} is invalid: {source}", path.display())]
    RecordInvalid {
        /// The database file.
        path: PathBuf,
        /// The request whose row is bad.
        request_id: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The retention archive could not be opened for appending.
    #[error("cannot open the outcome archive {}: {source}", path.display())]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// PostgreSQL refused the connection or a statement.
    #[error("outcome log {url}: {}", pg_message(source))]
    Postgres {
        /// The database (password masked).
        url: PgUrl,
        /// The driver's error.
        source: postgres::Error,
    },
    /// `sslmode=require` could not be set up.
    #[error("outcome log {url}: {message}")]
    PgTls {
        /// The database.
        url: PgUrl,
        /// What is missing.
        message: String,
    },
    /// The database was migrated by a newer Switchyard.
    #[error("outcome log {url}: schema version {found} is newer than this build's {supported}; upgrade switchyard or point [log] postgres at another database")]
    PgTooNew {
        /// The database.
        url: PgUrl,
        /// Its `switchyard_schema.version`.
        found: i32,
        /// This build's PostgreSQL layout.
        supported: i32,
    },
    /// The database has no outcome log tables.
    #[error("{url} holds no outcome log (no `outcomes` table); run `switchyard serve` with `[log] postgres` set to it first, or pass the right URL")]
    PgNoLog {
        /// The database.
        url: PgUrl,
    },
    /// A stored record in PostgreSQL is not valid JSON for this version.
    #[error("outcome log {url}: record of request {request_id} is invalid: {source}")]
    PgRecordInvalid {
        /// The database.
        url: PgUrl,
        /// The request whose row is bad.
        request_id: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Writing the export failed.
    #[error("cannot write the outcome export: {source}")]
    ExportWrite {
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The server's own message where there is one (`postgres::Error`'s `Display` says only
/// "db error"), else the driver's.
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        // The driver's own message already ends with its cause.
        None => e.to_string(),
    }
}

impl Error {
    pub(crate) fn pg(url: &PgUrl) -> impl Fn(postgres::Error) -> Error + '_ {
        move |source| Error::Postgres {
            url: url.clone(),
            source,
        }
    }

    pub(crate) fn sqlite(path: &std::path::Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |source| Error::Sqlite {
            path: path.to_owned(),
            source,
        }
    }
}
