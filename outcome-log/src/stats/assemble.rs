//! What both backends share: the window's empty buckets, the nearest-rank percentile picking,
//! the bucket indexes, and the recent rows' cache kind and cut prompt. A backend only runs its
//! own SQL and hands the rows over through [`Source`]; [`assemble`] builds the
//! [`WindowStats`], so the SQLite file and PostgreSQL cannot drift apart.

use router_core::PromptRecord;

use super::{
    Bucket, CacheKind, Counts, KeySpend, Limits, MixCell, Percentiles, RecentRow, Window,
    WindowStats,
};
use crate::Error;

/// One row of a backend's per-bucket counts.
pub(crate) struct BucketRow {
    /// `(timestamp_ms - since_ms) / bucket_ms`, as the SQL computed it.
    pub bucket: Option<i64>,
    /// What was logged in it.
    pub counts: Counts,
    /// Rows the latency percentiles are taken over (`ok`, not from the cache).
    pub answered: u64,
}

/// One of the last requests, its columns as a backend reads them.
pub(crate) struct RecentFields {
    pub request_id: String,
    pub timestamp_ms: Option<i64>,
    pub key_id: Option<String>,
    pub requested_model: Option<String>,
    pub chosen: Option<String>,
    pub reason: Option<String>,
    pub model: Option<String>,
    pub attempts: Option<i64>,
    pub status: String,
    /// `cache_hit` is an object.
    pub hit: bool,
    /// `cache_hit.similarity` is not null.
    pub semantic: bool,
    /// `cache_hit.coalesced` is true.
    pub coalesced: bool,
    pub latency_ms: f64,
    pub cost_usd: Option<f64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub prompt_kind: Option<String>,
    /// The stored text, cut to [`Query::prompt_fetch`] characters.
    pub prompt_text: Option<String>,
    pub prompt_sha256: Option<String>,
}

/// The window and limits as SQL parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Query {
    pub since_ms: i64,
    pub until_ms: i64,
    /// At least 1.
    pub bucket_ms: i64,
    /// Keys to return.
    pub keys: i64,
    /// Recent rows to return.
    pub recent: i64,
    /// Characters of a prompt text to fetch: one more than kept tells whether it was cut.
    pub prompt_fetch: i64,
}

impl Query {
    fn new(w: &Window, limits: &Limits) -> Query {
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        Query {
            since_ms: i(w.since_ms),
            until_ms: i(w.until_ms),
            bucket_ms: i(w.bucket_ms.max(1)),
            keys: n(limits.keys),
            recent: n(limits.recent),
            prompt_fetch: n(limits.prompt_chars.saturating_add(1)),
        }
    }

    /// `since`, `until` and `bucket_ms`, the parameters `?1`/`$1` to `?3`/`$3`.
    pub fn window(&self) -> [i64; 3] {
        [self.since_ms, self.until_ms, self.bucket_ms]
    }
}

/// A backend's queries over `[since_ms, until_ms)`; each calls back once per row.
pub(crate) trait Source {
    /// Per-bucket counts, one row per bucket with rows.
    fn bucket_counts(&mut self, q: &Query, row: &mut dyn FnMut(BucketRow)) -> Result<(), Error>;
    /// `(bucket, latency_ms)` of the `ok` rows not from the cache, ascending by latency.
    fn latencies(&mut self, q: &Query, row: &mut dyn FnMut(Option<i64>, f64)) -> Result<(), Error>;
    /// `(bucket, model or None for the cache, count)` of the `ok` rows, ordered by bucket,
    /// then model with `None` first.
    fn mix(
        &mut self,
        q: &Query,
        row: &mut dyn FnMut(Option<i64>, Option<String>, Option<i64>),
    ) -> Result<(), Error>;
    /// The `q.keys` keys with the largest spend, their names attached.
    fn keys(&mut self, q: &Query) -> Result<Vec<KeySpend>, Error>;
    /// The last `q.recent` rows, newest first.
    fn recent(&mut self, q: &Query, row: &mut dyn FnMut(RecentFields)) -> Result<(), Error>;
}

/// The window's buckets, all empty.
pub(crate) fn empty(window: &Window) -> WindowStats {
    WindowStats {
        buckets: (0..window.buckets())
            .map(|i| Bucket {
                start_ms: window
                    .since_ms
                    .saturating_add(window.bucket_ms.saturating_mul(i as u64)),
                ..Bucket::default()
            })
            .collect(),
        ..WindowStats::default()
    }
}

/// Runs `source`'s queries and builds the stats of `window`.
pub(crate) fn assemble(
    source: &mut dyn Source,
    window: &Window,
    limits: &Limits,
) -> Result<WindowStats, Error> {
    let q = Query::new(window, limits);
    let mut stats = empty(window);
    let n = stats.buckets.len();

    let mut answered = vec![0; n];
    source.bucket_counts(&q, &mut |row| {
        if let Some(i) = bucket_index(row.bucket, n) {
            answered[i] = row.answered;
            stats.totals.add(&row.counts);
            stats.buckets[i].counts = row.counts;
        }
    })?;

    // Each bucket's size is known from the counts, so its ranks are picked as its rows
    // stream past in one query sorted by latency.
    let mut all = RankPicker::new(answered.iter().sum());
    let mut per: Vec<RankPicker> = answered.iter().map(|&n| RankPicker::new(n)).collect();
    source.latencies(&q, &mut |bucket, v| {
        all.push(v);
        if let Some(i) = bucket_index(bucket, n) {
            per[i].push(v);
        }
    })?;
    stats.latency = all.done();
    for (bucket, picker) in stats.buckets.iter_mut().zip(&per) {
        bucket.latency = picker.done();
    }

    source.mix(&q, &mut |bucket, model, requests| {
        if let Some(bucket) = bucket_index(bucket, n) {
            stats.mix.push(MixCell {
                bucket,
                model,
                requests: count(requests),
            });
        }
    })?;
    stats.keys = source.keys(&q)?;
    source.recent(&q, &mut |f| {
        stats.recent.push(recent_row(f, limits.prompt_chars))
    })?;
    Ok(stats)
}

/// A SQL count (`NULL` for a sum over no rows) as `u64`.
pub(crate) fn count(v: Option<i64>) -> u64 {
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

/// A recent row from its columns, its prompt text cut to `keep` characters.
fn recent_row(f: RecentFields, keep: usize) -> RecentRow {
    let cache = match (f.hit, f.semantic, f.coalesced) {
        (false, _, _) => None,
        (true, true, _) => Some(CacheKind::Semantic),
        (true, false, true) => Some(CacheKind::Coalesced),
        (true, false, false) => Some(CacheKind::Exact),
    };
    let truncated = f
        .prompt_text
        .as_ref()
        .is_some_and(|t| t.chars().count() > keep);
    let prompt = match f.prompt_kind.as_deref() {
        Some("full") => Some(PromptRecord::Full {
            text: f
                .prompt_text
                .map(|t| t.chars().take(keep).collect())
                .unwrap_or_default(),
        }),
        Some("hashed") => Some(PromptRecord::Hashed {
            sha256: f.prompt_sha256.unwrap_or_default(),
        }),
        Some("none") => Some(PromptRecord::None),
        _ => None,
    };
    let tokens = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    RecentRow {
        request_id: f.request_id,
        timestamp_ms: count(f.timestamp_ms),
        key_id: f.key_id,
        requested_model: f.requested_model,
        chosen: f.chosen,
        reason: f.reason,
        model: f.model,
        attempts: count(f.attempts),
        status: f.status,
        cache,
        latency_ms: f.latency_ms,
        cost_usd: f.cost_usd,
        input_tokens: tokens(f.input_tokens),
        output_tokens: tokens(f.output_tokens),
        prompt,
        prompt_truncated: truncated,
    }
}
