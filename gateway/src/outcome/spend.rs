//! Spend per client key (or model, or day) from the outcome log: `switchyard spend` and the
//! budgets' start-up seed.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::error::Error;

/// What a spend report groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpendBy {
    /// The client key (`null` for requests made without one).
    Key,
    /// The model that answered.
    Model,
    /// The UTC day (`YYYY-MM-DD`).
    Day,
}

/// One line of a spend report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendRow {
    /// The key id, model id or day; `None` for rows without one.
    pub group: Option<String>,
    /// The key's name, when grouping by key and the key is known.
    pub name: Option<String>,
    /// Requests logged.
    pub requests: u64,
    /// Requests answered successfully.
    pub ok: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in USD from catalog prices.
    pub cost_usd: f64,
}

fn db_error(path: &Path, source: rusqlite::Error) -> Error {
    Error::OutcomeLog {
        path: path.to_owned(),
        source,
    }
}

fn open_read(db: &Path) -> Result<Connection, Error> {
    if !db.exists() {
        return Err(Error::OutcomeLogMissing {
            path: db.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| db_error(db, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| db_error(db, e))?;
    Ok(conn)
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names.iter().any(|n| n == column))
}

/// Whether `table` exists: a database made by `switchyard keys create` before the gateway
/// ever ran (or any fresh SQLite file) has no `outcomes` table yet, which reads as no spend.
fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [table],
        |r| r.get(0),
    )
}

/// The key id of a row: the indexed column where the log has it, else the JSON record (logs
/// written before keys existed have neither, and read as `NULL`).
fn key_expr(conn: &Connection) -> rusqlite::Result<&'static str> {
    Ok(if has_column(conn, "outcomes", "key_id")? {
        "key_id"
    } else {
        "json_extract(record, '$.key_id')"
    })
}

/// USD charged to `key_id` since `since_ms` (Unix ms).
pub fn key_spend_since(db: &Path, key_id: &str, since_ms: u64) -> Result<f64, Error> {
    let conn = open_read(db)?;
    if !has_table(&conn, "outcomes").map_err(|e| db_error(db, e))? {
        return Ok(0.0);
    }
    let key = key_expr(&conn).map_err(|e| db_error(db, e))?;
    conn.query_row(
        &format!(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM outcomes WHERE {key} = ?1 AND timestamp_ms >= ?2"
        ),
        rusqlite::params![key_id, i64::try_from(since_ms).unwrap_or(i64::MAX)],
        |r| r.get(0),
    )
    .map_err(|e| db_error(db, e))
}

/// Requests, tokens and cost grouped `by`, from `since_ms` on (all rows when `None`), largest
/// cost first.
pub fn spend_report(db: &Path, by: SpendBy, since_ms: Option<u64>) -> Result<Vec<SpendRow>, Error> {
    let conn = open_read(db)?;
    if !has_table(&conn, "outcomes").map_err(|e| db_error(db, e))? {
        return Ok(Vec::new());
    }
    let group = match by {
        SpendBy::Key => key_expr(&conn).map_err(|e| db_error(db, e))?,
        SpendBy::Model => "model",
        SpendBy::Day => "strftime('%Y-%m-%d', timestamp_ms / 1000, 'unixepoch')",
    };
    let sql = format!(
        "SELECT {group} AS g, COUNT(*), SUM(status = 'ok'),
                COALESCE(SUM(json_extract(record, '$.input_tokens')), 0),
                COALESCE(SUM(json_extract(record, '$.output_tokens')), 0),
                COALESCE(SUM(cost_usd), 0)
         FROM outcomes WHERE timestamp_ms >= ?1 GROUP BY g ORDER BY 6 DESC, g"
    );
    let since = i64::try_from(since_ms.unwrap_or(0)).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare(&sql).map_err(|e| db_error(db, e))?;
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut rows = stmt
        .query_map([since], |r| {
            Ok(SpendRow {
                group: r.get(0)?,
                name: None,
                requests: count(r.get(1)?),
                ok: count(r.get::<_, Option<i64>>(2)?.unwrap_or(0)),
                input_tokens: count(r.get(3)?),
                output_tokens: count(r.get(4)?),
                cost_usd: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| db_error(db, e))?;
    if by == SpendBy::Key && has_column(&conn, "client_keys", "name").unwrap_or(false) {
        let mut name = conn
            .prepare("SELECT name FROM client_keys WHERE id = ?1")
            .map_err(|e| db_error(db, e))?;
        for row in &mut rows {
            if let Some(id) = &row.group {
                row.name = name.query_row([id], |r| r.get(0)).ok();
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_database_without_outcomes_reports_no_spend() {
        let dir = tempfile::tempdir().unwrap();
        // An empty file is a valid, empty SQLite database.
        let empty = dir.path().join("empty.sqlite");
        std::fs::write(&empty, b"").unwrap();
        // Keys created before the gateway ever ran: `client_keys` only.
        let keys_only = dir.path().join("keys.sqlite");
        crate::auth::KeyStore::open(&keys_only).unwrap();
        for db in [&empty, &keys_only] {
            for by in [SpendBy::Key, SpendBy::Model, SpendBy::Day] {
                assert_eq!(spend_report(db, by, None).unwrap(), Vec::new());
            }
            assert_eq!(key_spend_since(db, "key_0", 0).unwrap(), 0.0);
        }
        let missing = dir.path().join("nope.sqlite");
        let err = spend_report(&missing, SpendBy::Key, None).unwrap_err();
        assert!(err.to_string().contains("nope.sqlite"), "{err}");
    }
}
