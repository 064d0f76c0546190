//! [`Store`]: the writer's connection to whichever backend holds the log, with the three
//! writes the gateway makes (outcome groups, labels, judge rows) and the same results on both.

use std::path::PathBuf;
use std::time::Duration;

use router_core::{Feedback, Outcome};
use rusqlite::Connection;

use crate::judge_calls::JudgeCall;
use crate::pg::write::PgWriter;
use crate::write::FeedbackVerdict;
use crate::{Error, Location};

/// A writer's open log.
#[derive(Debug)]
pub enum Store {
    /// The SQLite file and its connection.
    Sqlite {
        /// The connection.
        conn: Connection,
        /// The file, for errors.
        path: PathBuf,
    },
    /// A PostgreSQL connection (boxed: it is several times a SQLite connection's size).
    Postgres(Box<PgWriter>),
}

impl Store {
    /// Opens (creating and migrating) the log at `at`. `fsync`: every commit waits for the
    /// disk (SQLite `synchronous = FULL`; PostgreSQL `synchronous_commit = on`).
    /// `commit_timeout` bounds PostgreSQL statements; SQLite's lock wait is set per write.
    pub fn open(at: &Location, fsync: bool, commit_timeout: Duration) -> Result<Store, Error> {
        match at {
            Location::Sqlite(path) => Ok(Store::Sqlite {
                conn: crate::write::open(path, fsync)?,
                path: path.clone(),
            }),
            Location::Postgres(url) => PgWriter::open(
                url,
                crate::pg::Session {
                    fsync,
                    statement_timeout: Some(commit_timeout),
                },
            )
            .map(|w| Store::Postgres(Box::new(w))),
        }
    }

    /// The SQLite connection, for what only a file has (WAL checkpoints, busy timeouts).
    pub fn sqlite(&mut self) -> Option<&mut Connection> {
        match self {
            Store::Sqlite { conn, .. } => Some(conn),
            Store::Postgres(_) => None,
        }
    }

    /// How long a SQLite write waits for another connection's lock (PostgreSQL bounds each
    /// statement by the timeout given at open instead).
    pub fn lock_wait(&self, timeout: Duration) -> Result<(), Error> {
        match self {
            Store::Sqlite { conn, path } => conn.busy_timeout(timeout).map_err(Error::sqlite(path)),
            Store::Postgres(_) => Ok(()),
        }
    }

    /// [`crate::write_batch`] on either backend.
    pub fn write_batch(&mut self, rows: &[Outcome]) -> Result<Vec<bool>, Error> {
        match self {
            Store::Sqlite { conn, path } => {
                crate::write::write_batch(conn, rows).map_err(Error::sqlite(path))
            }
            Store::Postgres(w) => w.write_batch(rows),
        }
    }

    /// [`crate::add_feedback`] on either backend.
    pub fn add_feedback(
        &mut self,
        request_id: &str,
        key_id: Option<&str>,
        fb: &Feedback,
        timestamp_ms: u64,
    ) -> Result<FeedbackVerdict, Error> {
        match self {
            Store::Sqlite { conn, path } => {
                crate::write::add_feedback(conn, request_id, key_id, fb, timestamp_ms)
                    .map_err(Error::sqlite(path))
            }
            Store::Postgres(w) => w.add_feedback(request_id, key_id, fb, timestamp_ms),
        }
    }

    /// Stores a judge accounting row on either backend.
    pub fn insert_judge_call(&mut self, call: &JudgeCall) -> Result<(), Error> {
        match self {
            Store::Sqlite { conn, path } => {
                crate::judge_calls::insert(conn, call).map_err(Error::sqlite(path))
            }
            Store::Postgres(w) => w.insert_judge_call(call),
        }
    }
}
