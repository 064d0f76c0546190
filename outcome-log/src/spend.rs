//! Spend per client key (or model, or day) from the outcome log: `switchyard spend` and the
//! budgets' start-up seed.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::location::Location;
use crate::schema::{has_column, has_table};
use crate::Error;

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

pub(crate) fn open_read(db: &Path) -> Result<Connection, Error> {
    if !db.exists() {
        return Err(Error::Missing {
            path: db.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(Error::sqlite(db))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(Error::sqlite(db))?;
    Ok(conn)
}

/// The key id of a row: the indexed column where the log has it, else the JSON record (logs
/// written before keys existed have neither, and read as `NULL`).
pub(crate) fn key_expr(conn: &Connection) -> rusqlite::Result<&'static str> {
    Ok(if has_column(conn, "outcomes", "key_id")? {
        "key_id"
    } else {
        "json_extract(record, '$.key_id')"
    })
}

/// USD charged to `key_id` since `since_ms` (Unix ms), pruned rows included: their spend is
/// kept per UTC day, so a pruned day counts when it starts at or after `since_ms` (budget
/// periods start at a UTC day).
pub fn key_spend_since(db: impl Into<Location>, key_id: &str, since_ms: u64) -> Result<f64, Error> {
    let db = match db.into() {
        Location::Sqlite(path) => path,
        Location::Postgres(url) => return crate::pg::read::key_spend_since(&url, key_id, since_ms),
    };
    let db = db.as_path();
    let conn = open_read(db)?;
    if !has_table(&conn, "outcomes").map_err(Error::sqlite(db))? {
        return Ok(0.0);
    }
    let key = key_expr(&conn).map_err(Error::sqlite(db))?;
    let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
    let logged: f64 = conn
        .query_row(
            &format!(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM outcomes WHERE {key} = ?1 AND timestamp_ms >= ?2"
            ),
            rusqlite::params![key_id, since],
            |r| r.get(0),
        )
        .map_err(Error::sqlite(db))?;
    if !has_table(&conn, "pruned_spend").map_err(Error::sqlite(db))? {
        return Ok(logged);
    }
    let pruned: f64 = conn
        .query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM pruned_spend WHERE key_id = ?1 AND day_ms >= ?2",
            rusqlite::params![key_id, since],
            |r| r.get(0),
        )
        .map_err(Error::sqlite(db))?;
    Ok(logged + pruned)
}

/// Requests and cost of the pruned day that `since_ms` falls inside (it started before
/// `since_ms`), which [`spend_report`] leaves out: pruned rows are kept only as per-day sums,
/// and a size cap prunes recent rows too, so "the last hour" can miss most of its spend.
/// `None` when no pruned day straddles `since_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct PrunedStraddle {
    /// The UTC day's start, Unix ms.
    pub day_ms: u64,
    /// Requests pruned from that day.
    pub requests: u64,
    /// Their cost, USD.
    pub cost_usd: f64,
}

/// See [`PrunedStraddle`].
pub fn pruned_straddling(
    db: impl Into<Location>,
    since_ms: u64,
) -> Result<Option<PrunedStraddle>, Error> {
    let db = match db.into() {
        Location::Sqlite(path) => path,
        Location::Postgres(url) => return crate::pg::read::pruned_straddling(&url, since_ms),
    };
    let db = db.as_path();
    let conn = open_read(db)?;
    if !has_table(&conn, "pruned_spend").map_err(Error::sqlite(db))? {
        return Ok(None);
    }
    let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
    conn.query_row(
        "SELECT day_ms, SUM(requests), SUM(cost_usd) FROM pruned_spend
         WHERE day_ms < ?1 AND day_ms > ?1 - ?2 GROUP BY day_ms",
        rusqlite::params![since, DAY_MS],
        |r| {
            Ok(PrunedStraddle {
                day_ms: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                requests: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                cost_usd: r.get(2)?,
            })
        },
    )
    .optional()
    .map_err(Error::sqlite(db))
}

/// A UTC day in ms (the `pruned_spend` bucket).
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Requests, tokens and cost grouped `by`, from `since_ms` on (all rows when `None`), largest
/// cost first. Rows pruned by retention count through their per-day sums (`pruned_spend`):
/// a pruned day is included when it starts at or after `since_ms`.
pub fn spend_report(
    db: impl Into<Location>,
    by: SpendBy,
    since_ms: Option<u64>,
) -> Result<Vec<SpendRow>, Error> {
    let db = match db.into() {
        Location::Sqlite(path) => path,
        Location::Postgres(url) => return crate::pg::read::spend_report(&url, by, since_ms),
    };
    let db = db.as_path();
    let conn = open_read(db)?;
    if !has_table(&conn, "outcomes").map_err(Error::sqlite(db))? {
        return Ok(Vec::new());
    }
    let (group, pruned_group) = match by {
        SpendBy::Key => (
            key_expr(&conn).map_err(Error::sqlite(db))?,
            "NULLIF(key_id, '')",
        ),
        SpendBy::Model => ("model", "NULLIF(model, '')"),
        SpendBy::Day => (
            "strftime('%Y-%m-%d', timestamp_ms / 1000, 'unixepoch')",
            "strftime('%Y-%m-%d', day_ms / 1000, 'unixepoch')",
        ),
    };
    let pruned = if has_table(&conn, "pruned_spend").map_err(Error::sqlite(db))? {
        format!(
            "UNION ALL SELECT {pruned_group}, requests, ok, input_tokens, output_tokens, cost_usd
             FROM pruned_spend WHERE day_ms >= ?1"
        )
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT g, SUM(n), SUM(ok), SUM(i), SUM(o), SUM(c) FROM (
            SELECT {group} AS g, 1 AS n, status = 'ok' AS ok,
                   COALESCE(json_extract(record, '$.input_tokens'), 0) AS i,
                   COALESCE(json_extract(record, '$.output_tokens'), 0) AS o,
                   COALESCE(cost_usd, 0) AS c
            FROM outcomes WHERE timestamp_ms >= ?1
            {pruned}
         ) GROUP BY g ORDER BY 6 DESC, g"
    );
    let since = i64::try_from(since_ms.unwrap_or(0)).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare(&sql).map_err(Error::sqlite(db))?;
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
        .map_err(Error::sqlite(db))?;
    if by == SpendBy::Key && has_column(&conn, "client_keys", "name").unwrap_or(false) {
        let mut name = conn
            .prepare("SELECT name FROM client_keys WHERE id = ?1")
            .map_err(Error::sqlite(db))?;
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

    /// A pruned day that `--since` starts inside is reported (the report leaves it out); one
    /// that starts at or after `--since` is in the report, and an older one is not in the window.
    #[test]
    fn the_pruned_day_since_starts_inside_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("log.sqlite");
        let conn = crate::write::open(&db, false).unwrap();
        let day = 20_000 * DAY_MS;
        for (key, model, requests, cost) in [("k1", "m1", 3, 0.5), ("k2", "m2", 2, 0.25)] {
            conn.execute(
                "INSERT INTO pruned_spend VALUES (?1, ?2, ?3, ?4, ?4, 0, 0, ?5)",
                rusqlite::params![day, key, model, requests, cost],
            )
            .unwrap();
        }
        drop(conn);
        let at = |ms: i64| pruned_straddling(db.as_path(), u64::try_from(ms).unwrap()).unwrap();
        assert_eq!(
            at(day + 3 * 3_600_000),
            Some(PrunedStraddle {
                day_ms: u64::try_from(day).unwrap(),
                requests: 5,
                cost_usd: 0.75
            })
        );
        assert_eq!(at(day), None, "a day starting at --since is in the report");
        assert_eq!(at(day + DAY_MS), None, "the next day");
        assert_eq!(at(day - 1), None, "before the day");
    }
}
