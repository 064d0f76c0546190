//! Reading the log back: every outcome, oldest first, with its feedback labels attached —
//! the rows `switchyard log export` writes and `train --from-log` learns from.
//!
//! The database is opened read-only (a running gateway may keep writing; WAL lets both go
//! on) and is never migrated by a reader, so a file older than a column reads around it.

use std::io::Write;
use std::path::Path;

use router_core::{Feedback, FeedbackSource, Outcome};
use rusqlite::{Connection, OpenFlags};

use crate::location::Location;
use crate::schema::{has_column, has_table};
use crate::Error;

/// What a reader does with a row whose `record` is not an [`Outcome`] (written by an older
/// version before rows were checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnBadRecord {
    /// Skip it with a warning: one bad row must not block an export.
    Skip,
    /// Stop with [`Error::RecordInvalid`], naming the request.
    Fail,
}

/// Calls `f` with every outcome, oldest first (by timestamp, then request id), its feedback
/// attached in the order the labels were stored.
/// `db` is a SQLite file or a PostgreSQL database ([`Location`]).
pub fn for_each_outcome(
    db: impl Into<Location>,
    on_bad: OnBadRecord,
    f: impl FnMut(Outcome) -> Result<(), Error>,
) -> Result<(), Error> {
    match db.into() {
        Location::Sqlite(path) => for_each_in_file(&path, on_bad, f),
        Location::Postgres(url) => crate::pg::read::for_each_outcome(&url, on_bad, f),
    }
}

fn for_each_in_file(
    db: &Path,
    on_bad: OnBadRecord,
    mut f: impl FnMut(Outcome) -> Result<(), Error>,
) -> Result<(), Error> {
    // A read-only open of a missing file fails with SQLite's vague "unable to open database
    // file"; check first so the error says the file is not there.
    if !db.exists() {
        return Err(Error::Missing {
            path: db.to_owned(),
        });
    }
    let err = Error::sqlite(db);
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(&err)?;
    // A file with only `client_keys` (made by `switchyard keys create` before the gateway
    // ever ran) holds no outcomes yet: nothing to read, as `log stats` also says, instead of
    // SQLite's "no such table".
    if !has_table(&conn, "outcomes").map_err(&err)? {
        return Ok(());
    }
    let mut feedback = match feedback_query(&conn).map_err(&err)? {
        Some(sql) => Some(conn.prepare(sql).map_err(&err)?),
        None => None,
    };
    let mut rows = conn
        .prepare("SELECT request_id, record FROM outcomes ORDER BY timestamp_ms, request_id")
        .map_err(&err)?;
    let mut iter = rows.query([]).map_err(&err)?;
    while let Some(row) = iter.next().map_err(&err)? {
        let request_id: String = row.get(0).map_err(&err)?;
        let record: String = row.get(1).map_err(&err)?;
        let mut outcome: Outcome = match serde_json::from_str(&record) {
            Ok(o) => o,
            Err(source) if on_bad == OnBadRecord::Fail => {
                return Err(Error::RecordInvalid {
                    path: db.to_owned(),
                    request_id,
                    source,
                })
            }
            Err(e) => {
                tracing::warn!(path = %db.display(), request_id = %request_id, error = %e, "Skipped an unreadable outcome row.");
                continue;
            }
        };
        if let Some(stmt) = feedback.as_mut() {
            let labels = stmt
                .query_map([&request_id], |r| {
                    Ok(Feedback {
                        metric: r.get(0)?,
                        score: r.get(1)?,
                        source: FeedbackSource::from_stored(&r.get::<_, String>(2)?),
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(&err)?;
            outcome.feedback.extend(labels);
        }
        f(outcome)?;
    }
    Ok(())
}

/// The query for one request's labels; `None` when the file has no feedback table (an older
/// or foreign database).
pub(crate) fn feedback_query(conn: &Connection) -> rusqlite::Result<Option<&'static str>> {
    if !has_table(conn, "feedback")? {
        return Ok(None);
    }
    Ok(Some(if has_column(conn, "feedback", "source")? {
        "SELECT metric, score, source FROM feedback WHERE request_id = ?1 ORDER BY id"
    } else {
        // A log written before judge labels, read without being migrated: every label there
        // was posted by a person.
        "SELECT metric, score, 'human' FROM feedback WHERE request_id = ?1 ORDER BY id"
    }))
}

/// Reads every outcome, oldest first, with its feedback attached; unreadable rows are
/// skipped (see [`OnBadRecord`]).
pub fn read_outcomes(db: impl Into<Location>) -> Result<Vec<Outcome>, Error> {
    read_outcomes_with(db, OnBadRecord::Skip)
}

/// [`read_outcomes`] with a choice of what an unreadable row does.
pub fn read_outcomes_with(
    db: impl Into<Location>,
    on_bad: OnBadRecord,
) -> Result<Vec<Outcome>, Error> {
    let mut all = Vec::new();
    for_each_outcome(db, on_bad, |o| {
        all.push(o);
        Ok(())
    })?;
    Ok(all)
}

/// Writes one [`Outcome`] JSON object per line, oldest first, feedback attached. Returns the
/// number of lines.
pub fn export_jsonl(db: impl Into<Location>, out: &mut impl Write) -> Result<usize, Error> {
    let mut n = 0;
    for_each_outcome(db, OnBadRecord::Skip, |o| {
        serde_json::to_writer(&mut *out, &o)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"))
            .map_err(|source| Error::ExportWrite { source })?;
        n += 1;
        Ok(())
    })?;
    out.flush()
        .map_err(|source| Error::ExportWrite { source })?;
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests;
