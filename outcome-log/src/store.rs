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

    /// [`crate::write::add_judged`] on either backend: the judge's label (setting the call's
    /// result from what storing it gave) and its accounting row in one transaction.
    pub fn add_judged(
        &mut self,
        call: &mut JudgeCall,
        label: Option<&Feedback>,
    ) -> Result<(), Error> {
        match self {
            Store::Sqlite { conn, path } => {
                crate::write::add_judged(conn, call, label).map_err(Error::sqlite(path))
            }
            Store::Postgres(w) => w.add_judged(call, label),
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

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use router_core::ModelId;
    use testkit::postgres::PostgresServer;

    use super::*;
    use crate::judge_calls::JudgeResult;
    use crate::PgUrl;

    /// A paid absolute-score judge call for request `id`.
    pub(crate) fn call(id: &str) -> JudgeCall {
        JudgeCall {
            request_id: id.to_owned(),
            timestamp_ms: 10,
            judge_model: Some(ModelId::new("gpt-4o-mini")),
            method: "absolute",
            result: JudgeResult::Stored,
            score: Some(1.0),
            cost_usd: 0.01,
            input_tokens: 1,
            output_tokens: 1,
            latency_ms: 1.0,
        }
    }

    /// Runs `sql` on the store's own connection; returns the first column of its first row
    /// when it reads one.
    fn count(store: &mut Store, sql: &str) -> i64 {
        match store {
            Store::Sqlite { conn, .. } => conn.query_row(sql, [], |r| r.get(0)).unwrap(),
            Store::Postgres(w) => w.client().query_one(sql, &[]).unwrap().get(0),
        }
    }

    fn execute(store: &mut Store, sql: &str) {
        match store {
            Store::Sqlite { conn, .. } => conn.execute_batch(sql).unwrap(),
            Store::Postgres(w) => w.client().batch_execute(sql).unwrap(),
        }
    }

    /// A judged request's label and its accounting row commit together, with the call's result
    /// set from what storing the label gave; when the accounting row cannot be written, the
    /// label is not kept either (before, they were two commits: a crash between them kept a
    /// label whose paid call the day's judge budget no longer counted).
    fn judged_label_and_row_are_one_transaction(mut store: Store) {
        store
            .write_batch(&[
                crate::read::tests::outcome("a", 1),
                crate::read::tests::outcome("b", 2),
            ])
            .unwrap();
        let mut first = call("a");
        store
            .add_judged(&mut first, Some(&Feedback::judge("correct", 1.0)))
            .unwrap();
        assert_eq!(first.result, JudgeResult::Stored);
        store
            .add_feedback("b", None, &Feedback::human("correct", 0.0), 5)
            .unwrap();
        let mut second = call("b");
        store
            .add_judged(&mut second, Some(&Feedback::judge("correct", 1.0)))
            .unwrap();
        assert_eq!(second.result, JudgeResult::Superseded);
        let mut unknown = call("nope");
        store
            .add_judged(&mut unknown, Some(&Feedback::judge("correct", 1.0)))
            .unwrap();
        assert_eq!(unknown.result, JudgeResult::UnknownRequest);
        assert_eq!(count(&mut store, "SELECT COUNT(*) FROM judge_calls"), 3);
        assert_eq!(
            count(
                &mut store,
                "SELECT COUNT(*) FROM judge_calls WHERE result = 'superseded'"
            ),
            1
        );
        assert_eq!(count(&mut store, "SELECT COUNT(*) FROM feedback"), 2);
        // The accounting row fails: the label goes with it.
        execute(&mut store, "DROP TABLE judge_calls");
        store
            .write_batch(&[crate::read::tests::outcome("c", 3)])
            .unwrap();
        let mut lost = call("c");
        assert!(store
            .add_judged(&mut lost, Some(&Feedback::judge("correct", 1.0)))
            .is_err());
        assert_eq!(
            count(
                &mut store,
                "SELECT COUNT(*) FROM feedback WHERE request_id = 'c'"
            ),
            0
        );
    }

    #[test]
    fn judged_writes_are_one_transaction_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let at = Location::Sqlite(dir.path().join("o.sqlite"));
        judged_label_and_row_are_one_transaction(
            Store::open(&at, false, Duration::from_secs(5)).unwrap(),
        );
    }

    #[test]
    fn judged_writes_are_one_transaction_on_postgres() {
        let Some(pg) = PostgresServer::start() else {
            return;
        };
        let at = Location::Postgres(PgUrl::new(pg.fresh_database()));
        judged_label_and_row_are_one_transaction(
            Store::open(&at, false, Duration::from_secs(5)).unwrap(),
        );
    }
}
