//! The dashboard's window aggregates ([`crate::window_stats`]) on PostgreSQL: the SQLite
//! queries of `crate::stats` with `jsonb` operators, feeding the same assembly, so both logs
//! give the same [`WindowStats`].
//!
//! Where the two SQL dialects differ, the queries here follow SQLite's results: booleans are
//! counted with `FILTER`, sums of integers are cast back to `int8`, `NULL` sorts first and
//! text sorts by bytes (`COLLATE "C"`). Requests logged in the same millisecond come newest
//! first by their place in the table (`ctid`), which follows insertion order as SQLite's
//! `rowid` does until a `VACUUM` lets new rows reuse freed space.

use postgres::fallible_iterator::FallibleIterator;
use postgres::{IsolationLevel, Row, Transaction};

use crate::location::PgUrl;
use crate::stats::assemble::{self, count, BucketRow, Query, RecentFields, Source};
use crate::stats::columns::{bucket_row, recent_fields, Columns};
use crate::stats::{KeySpend, Limits, Window, WindowStats};
use crate::Error;

/// The window's rows with their record parsed once: `OFFSET 0` keeps the planner from
/// inlining the subquery, which would parse the JSON again for every field read.
const WINDOW_ROWS: &str = "(SELECT timestamp_ms, status, model, key_id, cost_usd, latency_ms,
        record::jsonb AS j
    FROM outcomes WHERE timestamp_ms >= $1 AND timestamp_ms < $2 OFFSET 0) w";

/// Whether the row was answered from the cache.
const IS_HIT: &str = "COALESCE(jsonb_typeof(j -> 'cache_hit') = 'object', false)";

/// Whether the cached answer came from an identical request in flight.
const COALESCED: &str = "COALESCE(j -> 'cache_hit' -> 'coalesced' = 'true'::jsonb, false)";

/// Upstream attempts (0 where the record has no array).
const ATTEMPTS: &str = "COALESCE(CASE WHEN jsonb_typeof(j -> 'attempts') = 'array'
    THEN jsonb_array_length(j -> 'attempts') END, 0)::int8";

/// [`crate::window_stats`] on PostgreSQL, off the caller's runtime.
pub fn window_stats(url: &PgUrl, window: &Window, limits: &Limits) -> Result<WindowStats, Error> {
    super::off_runtime(|| window_stats_here(url, window, limits))
}

fn window_stats_here(url: &PgUrl, window: &Window, limits: &Limits) -> Result<WindowStats, Error> {
    let mut client = super::connect(url)?;
    if !super::read::has_log(&mut client, url)? {
        return Ok(assemble::empty(window));
    }
    let names = super::read::has_table(&mut client, url, "client_keys")?;
    // One snapshot for all queries: the percentiles' ranks come from the counts.
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(Error::pg(url))?;
    let mut source = Postgres { tx, url, names };
    assemble::assemble(&mut source, window, limits)
}

/// A read-only transaction on the log.
struct Postgres<'a> {
    tx: Transaction<'a>,
    url: &'a PgUrl,
    /// The database has `client_keys`, so keys get their names.
    names: bool,
}

impl Postgres<'_> {
    fn bucket_counts_here(
        &mut self,
        q: &Query,
        f: &mut dyn FnMut(BucketRow),
    ) -> Result<(), postgres::Error> {
        let sql = format!(
            "SELECT b, COUNT(*), COUNT(*) FILTER (WHERE ok), COUNT(*) FILTER (WHERE routed),
                   COUNT(*) FILTER (WHERE fell_back), COUNT(*) FILTER (WHERE failover),
                   COUNT(*) FILTER (WHERE hit AND NOT semantic AND NOT coalesced),
                   COUNT(*) FILTER (WHERE hit AND semantic),
                   COUNT(*) FILTER (WHERE hit AND coalesced AND NOT semantic),
                   SUM(saved), SUM(cost), COUNT(*) FILTER (WHERE i IS NOT NULL OR o IS NOT NULL),
                   SUM(COALESCE(i, 0))::int8, SUM(COALESCE(o, 0))::int8,
                   SUM(CASE WHEN i IS NOT NULL OR o IS NOT NULL THEN cost ELSE 0 END),
                   COUNT(*) FILTER (WHERE ok AND NOT hit)
            FROM (
                SELECT (timestamp_ms - $1) / $3 AS b, status = 'ok' AS ok,
                       COALESCE(cost_usd, 0) AS cost,
                       j ->> 'requested_model' = 'auto'
                           AND j -> 'decision' ->> 'reason' IS NOT NULL AS routed,
                       COALESCE(j -> 'decision' ->> 'reason' = 'static_fallback', false) AS fell_back,
                       {ATTEMPTS} > 1 AS failover,
                       {IS_HIT} AS hit,
                       j -> 'cache_hit' ->> 'similarity' IS NOT NULL AS semantic,
                       {COALESCED} AS coalesced,
                       COALESCE((j -> 'cache_hit' ->> 'saved_usd')::float8, 0) AS saved,
                       (j ->> 'input_tokens')::int8 AS i, (j ->> 'output_tokens')::int8 AS o
                FROM {WINDOW_ROWS}
            ) t GROUP BY b"
        );
        for r in self
            .tx
            .query(&sql, &[&q.since_ms, &q.until_ms, &q.bucket_ms])?
        {
            f(bucket_row(&r)?);
        }
        Ok(())
    }

    /// Streams the latencies (the window may hold millions of rows).
    fn latencies_here(
        &mut self,
        q: &Query,
        f: &mut dyn FnMut(Option<i64>, f64),
    ) -> Result<(), postgres::Error> {
        let sql = format!(
            "SELECT (timestamp_ms - $1) / $3, latency_ms FROM {WINDOW_ROWS}
             WHERE status = 'ok' AND NOT {IS_HIT} ORDER BY latency_ms"
        );
        let mut rows = self.tx.query_raw(&sql, q.window())?;
        while let Some(r) = rows.next()? {
            f(r.try_get(0)?, r.try_get(1)?);
        }
        Ok(())
    }

    fn mix_here(
        &mut self,
        q: &Query,
        f: &mut dyn FnMut(Option<i64>, Option<String>, Option<i64>),
    ) -> Result<(), postgres::Error> {
        let sql = format!(
            "SELECT b, m, COUNT(*) FROM (
                SELECT (timestamp_ms - $1) / $3 AS b, CASE WHEN {IS_HIT} THEN NULL ELSE model END AS m
                FROM {WINDOW_ROWS} WHERE status = 'ok'
             ) t GROUP BY b, m ORDER BY b, m COLLATE \"C\" NULLS FIRST"
        );
        for r in self
            .tx
            .query(&sql, &[&q.since_ms, &q.until_ms, &q.bucket_ms])?
        {
            f(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        }
        Ok(())
    }

    fn keys_here(&mut self, q: &Query) -> Result<Vec<KeySpend>, postgres::Error> {
        let name = if self.names {
            "(SELECT name FROM client_keys k WHERE k.id = w.key_id)"
        } else {
            "NULL::text"
        };
        let sql = format!(
            "SELECT key_id, {name}, COUNT(*), SUM(COALESCE(cost_usd, 0)),
                    SUM(COALESCE((j ->> 'input_tokens')::int8, 0))::int8,
                    SUM(COALESCE((j ->> 'output_tokens')::int8, 0))::int8
             FROM {WINDOW_ROWS}
             GROUP BY key_id ORDER BY 4 DESC, 3 DESC, key_id COLLATE \"C\" NULLS FIRST LIMIT $3"
        );
        let rows = self.tx.query(&sql, &[&q.since_ms, &q.until_ms, &q.keys])?;
        rows.iter()
            .map(|r: &Row| {
                Ok(KeySpend {
                    key_id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    requests: count(r.try_get(2)?),
                    cost_usd: r.try_get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                    input_tokens: count(r.try_get(4)?),
                    output_tokens: count(r.try_get(5)?),
                })
            })
            .collect()
    }

    fn recent_here(
        &mut self,
        q: &Query,
        f: &mut dyn FnMut(RecentFields),
    ) -> Result<(), postgres::Error> {
        // The last rows are picked first, then only theirs are parsed.
        let sql = format!(
            "SELECT request_id, timestamp_ms, key_id, j ->> 'requested_model',
                    j -> 'decision' ->> 'chosen', j -> 'decision' ->> 'reason', model, {ATTEMPTS},
                    status, {IS_HIT}, j -> 'cache_hit' ->> 'similarity' IS NOT NULL, {COALESCED},
                    latency_ms, cost_usd, (j ->> 'input_tokens')::int8,
                    (j ->> 'output_tokens')::int8, j -> 'prompt' ->> 'kind',
                    substr(j -> 'prompt' ->> 'text', 1, $4), j -> 'prompt' ->> 'sha256'
             FROM (
                SELECT request_id, timestamp_ms, key_id, model, status, latency_ms, cost_usd,
                       record, ctid AS pos
                FROM outcomes WHERE timestamp_ms >= $1 AND timestamp_ms < $2
                ORDER BY timestamp_ms DESC, ctid DESC LIMIT $3
             ) last CROSS JOIN LATERAL (SELECT last.record::jsonb AS j OFFSET 0) parsed
             ORDER BY timestamp_ms DESC, pos DESC"
        );
        let fetch = i32::try_from(q.prompt_fetch).unwrap_or(i32::MAX);
        let rows = self
            .tx
            .query(&sql, &[&q.since_ms, &q.until_ms, &q.recent, &fetch])?;
        for r in &rows {
            f(recent_fields(r)?);
        }
        Ok(())
    }
}

impl Columns for Row {
    type Error = postgres::Error;

    fn text(&self, k: usize) -> Result<Option<String>, postgres::Error> {
        self.try_get(k)
    }

    fn int(&self, k: usize) -> Result<Option<i64>, postgres::Error> {
        self.try_get(k)
    }

    fn float(&self, k: usize) -> Result<Option<f64>, postgres::Error> {
        self.try_get(k)
    }

    fn flag(&self, k: usize) -> Result<bool, postgres::Error> {
        self.try_get(k)
    }
}

impl Source for Postgres<'_> {
    fn bucket_counts(&mut self, q: &Query, f: &mut dyn FnMut(BucketRow)) -> Result<(), Error> {
        self.bucket_counts_here(q, f).map_err(Error::pg(self.url))
    }

    fn latencies(&mut self, q: &Query, f: &mut dyn FnMut(Option<i64>, f64)) -> Result<(), Error> {
        self.latencies_here(q, f).map_err(Error::pg(self.url))
    }

    fn mix(
        &mut self,
        q: &Query,
        f: &mut dyn FnMut(Option<i64>, Option<String>, Option<i64>),
    ) -> Result<(), Error> {
        self.mix_here(q, f).map_err(Error::pg(self.url))
    }

    fn keys(&mut self, q: &Query) -> Result<Vec<KeySpend>, Error> {
        self.keys_here(q).map_err(Error::pg(self.url))
    }

    fn recent(&mut self, q: &Query, f: &mut dyn FnMut(RecentFields)) -> Result<(), Error> {
        self.recent_here(q, f).map_err(Error::pg(self.url))
    }
}

#[cfg(test)]
mod tests;
