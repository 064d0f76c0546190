//! Aggregates of one time window for the gateway's dashboard: requests, spend, tokens, cache
//! hits, fallbacks and latency percentiles per time bucket, the answering models per bucket,
//! spend per client key, and the last requests.
//!
//! Everything is aggregated in SQL over the indexed `timestamp_ms` range and comes back
//! bounded: one row per bucket (the caller picks how many), one per bucket and model, the top
//! keys, the last requests. The latency percentiles need the window's latencies in order; they
//! are streamed from one sorted query, never held in memory. A log with millions of rows in the
//! window costs one scan of them per call, so callers run this off the async workers.

use std::path::Path;

use router_core::PromptRecord;
use rusqlite::Connection;
use serde::Serialize;

use crate::schema::{has_column, has_table};
use crate::spend::{key_expr, open_read};
use crate::Error;

/// The time range to aggregate, `[since_ms, until_ms)` in Unix ms, cut into buckets of
/// `bucket_ms` starting at `since_ms` (the last may be shorter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First millisecond included.
    pub since_ms: u64,
    /// First millisecond excluded.
    pub until_ms: u64,
    /// Width of a bucket, at least 1.
    pub bucket_ms: u64,
}

impl Window {
    /// How many buckets cover the window.
    pub fn buckets(&self) -> usize {
        let span = self.until_ms.saturating_sub(self.since_ms);
        usize::try_from(span.div_ceil(self.bucket_ms.max(1))).unwrap_or(usize::MAX)
    }
}

/// How many rows the unbounded parts return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Client keys, largest spend first.
    pub keys: usize,
    /// Last requests, newest first.
    pub recent: usize,
    /// Characters of a stored prompt text kept per recent request.
    pub prompt_chars: usize,
}

/// Rows a model answered with token counts: what the counterfactual costs are priced on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Priced {
    /// Rows with input or output tokens logged.
    pub requests: u64,
    /// Their prompt tokens.
    pub input_tokens: u64,
    /// Their completion tokens.
    pub output_tokens: u64,
    /// Their logged cost in USD.
    pub cost_usd: f64,
}

/// Latency percentiles (nearest rank) of requests a model answered successfully; cache hits
/// are left out, since their few milliseconds say nothing about the models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Requests measured.
    pub count: u64,
    /// Median latency in ms (`None` without requests).
    pub p50_ms: Option<f64>,
    /// 90th percentile in ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile in ms.
    pub p99_ms: Option<f64>,
}

/// Counts of one bucket, or of the whole window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Rows logged.
    pub requests: u64,
    /// Rows with status `ok`.
    pub ok: u64,
    /// `auto` requests the router decided.
    pub routed: u64,
    /// Of those, decisions that fell back to the static model (encoder busy or late).
    pub static_fallbacks: u64,
    /// Rows with more than one upstream attempt (failover).
    pub failovers: u64,
    /// Answered from the exact-match cache.
    pub cache_exact: u64,
    /// Answered from the semantic cache.
    pub cache_semantic: u64,
    /// Answered with the answer of an identical request in flight.
    pub cache_coalesced: u64,
    /// USD the cache hits did not spend.
    pub cache_saved_usd: f64,
    /// Logged cost in USD.
    pub cost_usd: f64,
    /// The rows with token counts.
    pub priced: Priced,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.routed += o.routed;
        self.static_fallbacks += o.static_fallbacks;
        self.failovers += o.failovers;
        self.cache_exact += o.cache_exact;
        self.cache_semantic += o.cache_semantic;
        self.cache_coalesced += o.cache_coalesced;
        self.cache_saved_usd += o.cache_saved_usd;
        self.cost_usd += o.cost_usd;
        self.priced.requests += o.priced.requests;
        self.priced.input_tokens += o.priced.input_tokens;
        self.priced.output_tokens += o.priced.output_tokens;
        self.priced.cost_usd += o.priced.cost_usd;
    }
}

/// One time bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bucket {
    /// Its first millisecond.
    pub start_ms: u64,
    /// What was logged in it.
    #[serde(flatten)]
    pub counts: Counts,
    /// Its latency percentiles.
    pub latency: Percentiles,
}

/// Successful requests of one bucket answered by one model (or from the cache).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MixCell {
    /// Index into [`WindowStats::buckets`].
    pub bucket: usize,
    /// The model that answered; `None` for answers from the cache.
    pub model: Option<String>,
    /// How many.
    pub requests: u64,
}

/// Spend of one client key in the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeySpend {
    /// The key id; `None` for requests made without a key.
    pub key_id: Option<String>,
    /// The key's name, when the key table knows it.
    pub name: Option<String>,
    /// Rows logged.
    pub requests: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Logged cost in USD.
    pub cost_usd: f64,
}

/// How a cached answer was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    /// The exact-match cache.
    Exact,
    /// The semantic cache (a reworded request).
    Semantic,
    /// An identical request in flight (coalescing).
    Coalesced,
}

/// One of the last requests, as logged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecentRow {
    /// The gateway's request id.
    pub request_id: String,
    /// When it arrived (Unix ms).
    pub timestamp_ms: u64,
    /// The client key id.
    pub key_id: Option<String>,
    /// The `model` the client sent (`auto` or a name).
    pub requested_model: Option<String>,
    /// The model the router chose first (for `auto`).
    pub chosen: Option<String>,
    /// Why it was chosen (`best_feasible`, `static_fallback`, …).
    pub reason: Option<String>,
    /// The model that answered (or was tried last).
    pub model: Option<String>,
    /// Upstream attempts.
    pub attempts: u64,
    /// The row's status (`ok`, `upstream_error`, …).
    pub status: String,
    /// How the cache served it, if it did.
    pub cache: Option<CacheKind>,
    /// Total latency in ms.
    pub latency_ms: f64,
    /// Cost in USD.
    pub cost_usd: Option<f64>,
    /// Prompt tokens.
    pub input_tokens: Option<u64>,
    /// Completion tokens.
    pub output_tokens: Option<u64>,
    /// The prompt as stored, its text cut to [`Limits::prompt_chars`].
    pub prompt: Option<PromptRecord>,
    /// Whether the text was cut.
    pub prompt_truncated: bool,
}

/// Everything [`window_stats`] reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WindowStats {
    /// The whole window.
    pub totals: Counts,
    /// The whole window's latency percentiles.
    pub latency: Percentiles,
    /// One per bucket, oldest first (empty buckets included).
    pub buckets: Vec<Bucket>,
    /// Successful requests per bucket and answering model (empty cells left out).
    pub mix: Vec<MixCell>,
    /// The keys with the largest spend.
    pub keys: Vec<KeySpend>,
    /// The last requests, newest first.
    pub recent: Vec<RecentRow>,
}

/// Reads the aggregates of `window` from the log at `db` (read-only; a running gateway keeps
/// writing). A database without outcomes yet reads as empty buckets.
pub fn window_stats(db: &Path, window: &Window, limits: &Limits) -> Result<WindowStats, Error> {
    let conn = open_read(db)?;
    let err = Error::sqlite(db);
    let n = window.buckets();
    let mut stats = WindowStats {
        buckets: (0..n)
            .map(|i| Bucket {
                start_ms: window
                    .since_ms
                    .saturating_add(window.bucket_ms.saturating_mul(i as u64)),
                ..Bucket::default()
            })
            .collect(),
        ..WindowStats::default()
    };
    if !has_table(&conn, "outcomes").map_err(&err)? {
        return Ok(stats);
    }
    let p = Params::new(window);
    let answered = bucket_counts(&conn, &p, &mut stats).map_err(&err)?;
    latencies(&conn, &p, &answered, &mut stats).map_err(&err)?;
    stats.mix = mix(&conn, &p, n).map_err(&err)?;
    stats.keys = keys(&conn, &p, limits.keys).map_err(&err)?;
    stats.recent = recent(&conn, &p, limits).map_err(&err)?;
    Ok(stats)
}

/// The window as SQL parameters `?1` (since), `?2` (until), `?3` (bucket width).
struct Params([i64; 3]);

impl Params {
    fn new(w: &Window) -> Params {
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Params([i(w.since_ms), i(w.until_ms), i(w.bucket_ms.max(1))])
    }
}

/// `1` when the row was answered from the cache, else `0`.
const IS_HIT: &str = "COALESCE(json_type(record, '$.cache_hit') = 'object', 0)";

/// Fills the buckets' and the window's counts; returns, per bucket, how many rows the latency
/// percentiles are taken over.
fn bucket_counts(
    conn: &Connection,
    p: &Params,
    stats: &mut WindowStats,
) -> rusqlite::Result<Vec<u64>> {
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
    let mut answered = vec![0; stats.buckets.len()];
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(p.0)?;
    while let Some(r) = rows.next()? {
        let Some(i) = bucket_index(r.get(0)?, stats.buckets.len()) else {
            continue;
        };
        let c = |k: usize| -> rusqlite::Result<u64> { Ok(count(r.get(k)?)) };
        let counts = Counts {
            requests: c(1)?,
            ok: c(2)?,
            routed: c(3)?,
            static_fallbacks: c(4)?,
            failovers: c(5)?,
            cache_exact: c(6)?,
            cache_semantic: c(7)?,
            cache_coalesced: c(8)?,
            cache_saved_usd: r.get::<_, Option<f64>>(9)?.unwrap_or(0.0),
            cost_usd: r.get::<_, Option<f64>>(10)?.unwrap_or(0.0),
            priced: Priced {
                requests: c(11)?,
                input_tokens: c(12)?,
                output_tokens: c(13)?,
                cost_usd: r.get::<_, Option<f64>>(14)?.unwrap_or(0.0),
            },
        };
        answered[i] = c(15)?;
        stats.totals.add(&counts);
        stats.buckets[i].counts = counts;
    }
    Ok(answered)
}

/// A SQL count (`NULL` for a sum over no rows) as `u64`.
fn count(v: Option<i64>) -> u64 {
    v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// A bucket number from SQL, when it is one of the window's.
fn bucket_index(b: Option<i64>, n: usize) -> Option<usize> {
    b.and_then(|b| usize::try_from(b).ok()).filter(|&b| b < n)
}

/// The 1-based nearest rank of percentile `p` among `n` values.
fn rank(p: f64, n: u64) -> u64 {
    ((p * n as f64).ceil() as u64).clamp(1, n.max(1))
}

const PERCENTILES: [f64; 3] = [0.50, 0.90, 0.99];

/// Picks values at the nearest ranks of [`PERCENTILES`] from a stream in ascending order.
struct RankPicker {
    n: u64,
    seen: u64,
    picked: [Option<f64>; 3],
}

impl RankPicker {
    fn new(n: u64) -> RankPicker {
        RankPicker {
            n,
            seen: 0,
            picked: [None; 3],
        }
    }

    fn push(&mut self, v: f64) {
        self.seen += 1;
        for (slot, p) in self.picked.iter_mut().zip(PERCENTILES) {
            if self.seen == rank(p, self.n) {
                *slot = Some(v);
            }
        }
    }

    fn done(&self) -> Percentiles {
        Percentiles {
            count: self.n,
            p50_ms: self.picked[0],
            p90_ms: self.picked[1],
            p99_ms: self.picked[2],
        }
    }
}

/// The window's and each bucket's percentiles from one query sorted by latency: each bucket's
/// size is known from [`bucket_counts`], so its ranks are picked as its rows stream past.
fn latencies(
    conn: &Connection,
    p: &Params,
    answered: &[u64],
    stats: &mut WindowStats,
) -> rusqlite::Result<()> {
    let total: u64 = answered.iter().sum();
    let mut all = RankPicker::new(total);
    let mut per: Vec<RankPicker> = answered.iter().map(|&n| RankPicker::new(n)).collect();
    let sql = format!(
        "SELECT (timestamp_ms - ?1) / ?3, latency_ms FROM outcomes
         WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2 AND status = 'ok' AND NOT {IS_HIT}
         ORDER BY latency_ms"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(p.0)?;
    while let Some(r) = rows.next()? {
        let v: f64 = r.get(1)?;
        all.push(v);
        if let Some(i) = bucket_index(r.get(0)?, per.len()) {
            per[i].push(v);
        }
    }
    stats.latency = all.done();
    for (bucket, picker) in stats.buckets.iter_mut().zip(&per) {
        bucket.latency = picker.done();
    }
    Ok(())
}

/// Successful requests per bucket and answering model (`None`: the cache).
fn mix(conn: &Connection, p: &Params, n: usize) -> rusqlite::Result<Vec<MixCell>> {
    let sql = format!(
        "SELECT (timestamp_ms - ?1) / ?3, CASE WHEN {IS_HIT} THEN NULL ELSE model END, COUNT(*)
         FROM outcomes WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2 AND status = 'ok'
         GROUP BY 1, 2 ORDER BY 1, 2"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(p.0)?;
    let mut cells = Vec::new();
    while let Some(r) = rows.next()? {
        if let Some(bucket) = bucket_index(r.get(0)?, n) {
            cells.push(MixCell {
                bucket,
                model: r.get(1)?,
                requests: count(r.get(2)?),
            });
        }
    }
    Ok(cells)
}

/// The `limit` keys with the largest spend in the window, with their names.
fn keys(conn: &Connection, p: &Params, limit: usize) -> rusqlite::Result<Vec<KeySpend>> {
    let key = key_expr(conn)?;
    let sql = format!(
        "SELECT {key}, COUNT(*), SUM(COALESCE(cost_usd, 0)),
                SUM(COALESCE(json_extract(record, '$.input_tokens'), 0)),
                SUM(COALESCE(json_extract(record, '$.output_tokens'), 0))
         FROM outcomes WHERE timestamp_ms >= ?1 AND timestamp_ms < ?2
         GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1 LIMIT ?4"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare(&sql)?;
    let mut out = stmt
        .query_map(rusqlite::params![p.0[0], p.0[1], p.0[2], limit], |r| {
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
    if has_column(conn, "client_keys", "name")? {
        let mut name = conn.prepare("SELECT name FROM client_keys WHERE id = ?1")?;
        for row in &mut out {
            if let Some(id) = &row.key_id {
                row.name = name.query_row([id], |r| r.get(0)).ok();
            }
        }
    }
    Ok(out)
}

/// The last `limits.recent` requests, newest first.
fn recent(conn: &Connection, p: &Params, limits: &Limits) -> rusqlite::Result<Vec<RecentRow>> {
    let key = key_expr(conn)?;
    // One character more than kept tells whether the text was cut. Requests started in the
    // same millisecond are ordered by insertion (rowid: commit order), not by their random
    // ids, so the newest is the one answered last.
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
    let keep = limits.prompt_chars;
    let limit = i64::try_from(limits.recent).unwrap_or(i64::MAX);
    let fetch = i64::try_from(keep.saturating_add(1)).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(
        rusqlite::params![p.0[0], p.0[1], p.0[2], limit, fetch],
        |r| {
            let cache = match (r.get::<_, bool>(9)?, r.get::<_, bool>(10)?, r.get(11)?) {
                (false, _, _) => None,
                (true, true, _) => Some(CacheKind::Semantic),
                (true, false, 1) => Some(CacheKind::Coalesced),
                (true, false, _) => Some(CacheKind::Exact),
            };
            let text: Option<String> = r.get(17)?;
            let truncated = text.as_ref().is_some_and(|t| t.chars().count() > keep);
            let prompt = match r.get::<_, Option<String>>(16)?.as_deref() {
                Some("full") => Some(PromptRecord::Full {
                    text: text
                        .map(|t| t.chars().take(keep).collect())
                        .unwrap_or_default(),
                }),
                Some("hashed") => Some(PromptRecord::Hashed {
                    sha256: r.get::<_, Option<String>>(18)?.unwrap_or_default(),
                }),
                Some("none") => Some(PromptRecord::None),
                _ => None,
            };
            Ok(RecentRow {
                request_id: r.get(0)?,
                timestamp_ms: count(r.get(1)?),
                key_id: r.get(2)?,
                requested_model: r.get(3)?,
                chosen: r.get(4)?,
                reason: r.get(5)?,
                model: r.get(6)?,
                attempts: count(r.get(7)?),
                status: r.get(8)?,
                cache,
                latency_ms: r.get(12)?,
                cost_usd: r.get(13)?,
                input_tokens: r
                    .get::<_, Option<i64>>(14)?
                    .and_then(|v| u64::try_from(v).ok()),
                output_tokens: r
                    .get::<_, Option<i64>>(15)?
                    .and_then(|v| u64::try_from(v).ok()),
                prompt,
                prompt_truncated: truncated,
            })
        },
    )?;
    rows.collect()
}

#[cfg(test)]
mod tests;
