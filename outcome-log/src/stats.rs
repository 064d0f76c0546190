//! Aggregates of one time window for the gateway's dashboard: requests, spend, tokens, cache
//! hits, fallbacks and latency percentiles per time bucket, the answering models per bucket,
//! spend per client key, and the last requests.
//!
//! Everything is aggregated in SQL over the indexed `timestamp_ms` range and comes back
//! bounded: one row per bucket (the caller picks how many), one per bucket and model, the top
//! keys, the last requests. The latency percentiles need the window's latencies in order; they
//! are streamed from one sorted query, never held in memory. A log with millions of rows in the
//! window costs one scan of them per call, so callers run this off the async workers.
//!
//! The SQLite file's queries are in `sqlite`, PostgreSQL's in [`crate::pg::stats`]; both hand
//! their rows to `assemble`, which builds the buckets and picks the percentiles for either.

pub(crate) mod assemble;
pub(crate) mod columns;
mod sqlite;

use router_core::PromptRecord;
use serde::Serialize;

use crate::location::Location;
use crate::schema::has_table;
use crate::spend::open_read;
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

/// Reads the aggregates of `window` from the log at `db`, a SQLite file or a PostgreSQL
/// database (read-only; a running gateway keeps writing). A log without outcomes yet reads as
/// empty buckets.
pub fn window_stats(
    db: impl Into<Location>,
    window: &Window,
    limits: &Limits,
) -> Result<WindowStats, Error> {
    let path = match db.into() {
        Location::Sqlite(path) => path,
        Location::Postgres(url) => return crate::pg::stats::window_stats(&url, window, limits),
    };
    let conn = open_read(&path)?;
    if !has_table(&conn, "outcomes").map_err(Error::sqlite(&path))? {
        return Ok(assemble::empty(window));
    }
    let mut source = sqlite::Sqlite { conn, path: &path };
    assemble::assemble(&mut source, window, limits)
}

#[cfg(test)]
pub(crate) mod tests;
