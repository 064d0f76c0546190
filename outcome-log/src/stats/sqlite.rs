//! The window's queries on the SQLite file (`json_extract` over the `record` column).

use std::path::Path;

use rusqlite::Connection;

use super::assemble::{count, BucketRow, Query, RecentFields, Source};
use super::columns::{bucket_row, recent_fields, Columns};
use super::KeySpend;
use crate::schema::has_column;
use crate::spend::key_expr;
use crate::Error;

/// `1` when the row was answered from the cache, else `0`.
const IS_HIT: &str = "COALESCE(json_type(record, '$.cache_hit') = 'object', 0)";

/// An open log file.
pub(super) struct Sqlite<'a> {
    pub conn: Connection,
    pub path: &'a Path,
}

impl Sqlite<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        Error::sqlite(self.path)
    }

    fn bucket_counts_here(&self, q: &Query, f: &mut dyn FnMut(BucketRow)) -> rusqlite::Result<()> {
        let sql = format!(
            "WITH w AS (
                SELECT (timestamp_ms - ?1) / ?3 AS b, status = 'ok' AS ok,
                       COALESCE(cost_usd, 0) AS cost,
                       json_extract(record, '$.requested_model') = 'auto'
                           AND json_extract(record, '$.decision.reason') IS NOT NULL AS routed,
                       COALESCE(json_extract(record, '$.decision.reason') = 'static_fallback', 0) AS fell_back,
                       COALESCE(json_array_length(record, '$.attempts') > 1, 0) AS failover,
                       {IS_HIT} AS hit,
                       json_extract(record, '$.cache_hit.similarity') IS NOT NULL AS semantic,
                       COALESCE(json_extract(record, '$.cache_hit.coalesced'), 0) AS coalesced,
                       COALESCE(json_extract(record, '$.cache_hit.saved_usd'), 0) AS saved,
                       json_extract(record, '$.input_tokens') AS i,
                       json_extract(record, '$.output_tokens') AS o
                FROM outcomes WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2
            )
            SELECT b, COUNT(*), SUM(ok), SUM(routed), SUM(fell_back), SUM(failover),
                   SUM(hit AND NOT semantic AND NOT coalesced), SUM(hit AND semantic),
                   SUM(hit AND coalesced AND NOT semantic), SUM(saved), SUM(cost),
                   SUM(i IS NOT NULL OR o IS NOT NULL), SUM(COALESCE(i, 0)), SUM(COALESCE(o, 0)),
                   SUM(CASE WHEN i IS NOT NULL OR o IS NOT NULL THEN cost ELSE 0 END),
                   SUM(ok AND NOT hit)
            FROM w GROUP BY b"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(q.window())?;
        while let Some(r) = rows.next()? {
            f(bucket_row(r)?);
        }
        Ok(())
    }

    fn latencies_here(
        &self,
        q: &Query,
        f: &mut dyn FnMut(Option<i64>, f64),
    ) -> rusqlite::Result<()> {
        let sql = format!(
            "SELECT (timestamp_ms - ?1) / ?3, latency_ms FROM outcomes
             WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2 AND status = 'ok' AND NOT {IS_HIT}
             ORDER BY latency_ms"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(q.window())?;
        while let Some(r) = rows.next()? {
            f(r.get(0)?, r.get(1)?);
        }
        Ok(())
    }

    fn mix_here(
        &self,
        q: &Query,
        f: &mut dyn FnMut(Option<i64>, Option<String>, Option<i64>),
    ) -> rusqlite::Result<()> {
        let sql = format!(
            "SELECT (timestamp_ms - ?1) / ?3, CASE WHEN {IS_HIT} THEN NULL ELSE model END, COUNT(*)
             FROM outcomes WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2 AND status = 'ok'
             GROUP BY 1, 2 ORDER BY 1, 2"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(q.window())?;
        while let Some(r) = rows.next()? {
            f(r.get(0)?, r.get(1)?, r.get(2)?);
        }
        Ok(())
    }

    fn keys_here(&self, q: &Query) -> rusqlite::Result<Vec<KeySpend>> {
        let key = key_expr(&self.conn)?;
        let sql = format!(
            "SELECT {key}, COUNT(*), SUM(COALESCE(cost_usd, 0)),
                    SUM(COALESCE(json_extract(record, '$.input_tokens'), 0)),
                    SUM(COALESCE(json_extract(record, '$.output_tokens'), 0))
             FROM outcomes WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2
             GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1 LIMIT ?4"
        );
        let [since, until, width] = q.window();
        let mut stmt = self.conn.prepare(&sql)?;
        let mut out = stmt
            .query_map(rusqlite::params![since, until, width, q.keys], |r| {
                Ok(KeySpend {
                    key_id: r.get(0)?,
                    name: None,
                    requests: count(r.get(1)?),
                    cost_usd: r.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                    input_tokens: count(r.get(3)?),
                    output_tokens: count(r.get(4)?),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if has_column(&self.conn, "client_keys", "name")? {
            let mut name = self
                .conn
                .prepare("SELECT name FROM client_keys WHERE id = ?1")?;
            for row in &mut out {
                if let Some(id) = &row.key_id {
                    row.name = name.query_row([id], |r| r.get(0)).ok();
                }
            }
        }
        Ok(out)
    }

    fn recent_here(&self, q: &Query, f: &mut dyn FnMut(RecentFields)) -> rusqlite::Result<()> {
        let key = key_expr(&self.conn)?;
        // Requests started in the same millisecond are ordered by insertion (rowid: commit
        // order), not by their random ids, so the newest is the one answered last.
        let sql = format!(
            "SELECT request_id, timestamp_ms, {key}, json_extract(record, '$.requested_model'),
                    json_extract(record, '$.decision.chosen'), json_extract(record, '$.decision.reason'),
                    model, COALESCE(json_array_length(record, '$.attempts'), 0), status,
                    {IS_HIT}, json_extract(record, '$.cache_hit.similarity') IS NOT NULL,
                    COALESCE(json_extract(record, '$.cache_hit.coalesced'), 0),
                    latency_ms, cost_usd, json_extract(record, '$.input_tokens'),
                    json_extract(record, '$.output_tokens'), json_extract(record, '$.prompt.kind'),
                    substr(json_extract(record, '$.prompt.text'), 1, ?5),
                    json_extract(record, '$.prompt.sha256')
             FROM outcomes WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2
             ORDER BY timestamp_ms DESC, rowid DESC LIMIT ?4"
        );
        let [since, until, width] = q.window();
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params![
            since,
            until,
            width,
            q.recent,
            q.prompt_fetch
        ])?;
        while let Some(r) = rows.next()? {
            f(recent_fields(r)?);
        }
        Ok(())
    }
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, k: usize) -> rusqlite::Result<Option<String>> {
        self.get(k)
    }

    fn int(&self, k: usize) -> rusqlite::Result<Option<i64>> {
        self.get(k)
    }

    fn float(&self, k: usize) -> rusqlite::Result<Option<f64>> {
        self.get(k)
    }

    /// SQLite has no booleans: comparisons and JSON `true` are the integer 1.
    fn flag(&self, k: usize) -> rusqlite::Result<bool> {
        self.get(k)
    }
}

impl Source for Sqlite<'_> {
    fn bucket_counts(&mut self, q: &Query, f: &mut dyn FnMut(BucketRow)) -> Result<(), Error> {
        self.bucket_counts_here(q, f).map_err(self.err())
    }

    fn latencies(&mut self, q: &Query, f: &mut dyn FnMut(Option<i64>, f64)) -> Result<(), Error> {
        self.latencies_here(q, f).map_err(self.err())
    }

    fn mix(
        &mut self,
        q: &Query,
        f: &mut dyn FnMut(Option<i64>, Option<String>, Option<i64>),
    ) -> Result<(), Error> {
        self.mix_here(q, f).map_err(self.err())
    }

    fn keys(&mut self, q: &Query) -> Result<Vec<KeySpend>, Error> {
        self.keys_here(q).map_err(self.err())
    }

    fn recent(&mut self, q: &Query, f: &mut dyn FnMut(RecentFields)) -> Result<(), Error> {
        self.recent_here(q, f).map_err(self.err())
    }
}
