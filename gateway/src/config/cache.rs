//! `[cache]`: the response cache, exact and semantic (see `crate::cache`).

use std::time::Duration;

use serde::Deserialize;

use super::invalid;
use crate::error::Error;

/// The raw `[cache]` section.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Answer repeated identical requests from memory. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// How long a stored answer is served (`10m`, `1h`, …); at most 365 days.
    #[serde(default = "default_ttl", with = "humantime_serde")]
    pub ttl: Duration,
    /// Most answers kept at once.
    #[serde(default = "default_max_entries")]
    pub max_entries: u64,
    /// Most bytes of stored answers (their JSON size) kept at once.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Cache only requests whose answer is meant to be reproducible: `temperature = 0` or a
    /// fixed `seed`. False caches every request (a sampled answer is then replayed as is).
    #[serde(default = "default_deterministic_only")]
    pub deterministic_only: bool,
    /// Also answer a reworded request from a stored one: same request but for the last user
    /// message, whose routing embedding is within `semantic_threshold` cosine and whose text
    /// has the same numbers and operators (in order) and content words. Needs the encoder.
    /// Its index is bounded like the answers, separately (`max_entries`, `max_bytes`).
    /// Default false.
    #[serde(default)]
    pub semantic: bool,
    /// The least cosine between two prompts' routing embeddings for a semantic hit, in
    /// (0, 1]. Default 0.85 (calibrated on docs/data/semantic-cache-pairs.jsonl).
    #[serde(default = "default_semantic_threshold")]
    pub semantic_threshold: f32,
    /// Also keep exact answers in `[redis]`, so that an answer stored by one replica is served
    /// by every other (each still keeps its own copies in memory). Needs `[redis]`.
    #[serde(default)]
    pub shared: bool,
    /// A feedback label (a client's `/v1/feedback` or the judge's) scoring a cached answer
    /// below this, on the request that made it or on any request it was replayed to, takes
    /// it out of the cache: the next such request is answered afresh. In [0, 1]; 0 turns it
    /// off (no score is below 0). Default 0.5.
    #[serde(default = "default_evict_below")]
    pub evict_below: f64,
}

fn default_evict_below() -> f64 {
    0.5
}

fn default_semantic_threshold() -> f32 {
    0.85
}

fn default_ttl() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_entries() -> u64 {
    10_000
}
fn default_max_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_deterministic_only() -> bool {
    true
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            ttl: default_ttl(),
            max_entries: default_max_entries(),
            max_bytes: default_max_bytes(),
            deterministic_only: default_deterministic_only(),
            semantic: false,
            semantic_threshold: default_semantic_threshold(),
            shared: false,
            evict_below: default_evict_below(),
        }
    }
}

/// `[cache]` after validation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cache {
    /// Whether the cache is on.
    pub enabled: bool,
    /// How long a stored answer is served (non-zero, at most [`MAX_TTL`]).
    pub ttl: Duration,
    /// Most answers kept (≥ 1).
    pub max_entries: u64,
    /// Most bytes of answers kept (≥ `max_entries`).
    pub max_bytes: u64,
    /// Cache only `temperature = 0` or seeded requests.
    pub deterministic_only: bool,
    /// Whether reworded requests may hit (see [`CacheConfig::semantic`]).
    pub semantic: bool,
    /// The least cosine for a semantic hit, in (0, 1].
    pub semantic_threshold: f32,
    /// Whether exact answers are kept in Redis too (checked against `[redis]` by the caller).
    pub shared: bool,
    /// Labels scoring a cached answer below this evict it (0: never).
    pub evict_below: f64,
}

/// The longest accepted `ttl`. moka refuses (panics on) a time-to-live over 1000 years; a year
/// is far beyond any useful cache lifetime and keeps the check obvious.
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Checks `[cache]`. The values are checked even when `enabled = false`, so that turning the
/// cache on later cannot reveal an old mistake at a worse moment.
pub fn resolve(raw: CacheConfig) -> Result<Cache, Error> {
    if raw.ttl.is_zero() {
        return Err(invalid("cache.ttl", "must be greater than zero"));
    }
    if raw.ttl > MAX_TTL {
        return Err(invalid(
            "cache.ttl",
            format!(
                "{:?} is longer than the largest accepted TTL of 365 days",
                raw.ttl
            ),
        ));
    }
    if raw.max_entries == 0 {
        return Err(invalid("cache.max_entries", "must be at least 1"));
    }
    if raw.max_bytes < raw.max_entries {
        return Err(invalid(
            "cache.max_bytes",
            format!(
                "{} bytes cannot hold cache.max_entries = {} answers; raise it (the default is {})",
                raw.max_bytes,
                raw.max_entries,
                default_max_bytes()
            ),
        ));
    }
    if !(raw.semantic_threshold > 0.0 && raw.semantic_threshold <= 1.0) {
        return Err(invalid(
            "cache.semantic_threshold",
            format!(
                "{} is not a cosine in (0, 1]; the default is {}",
                raw.semantic_threshold,
                default_semantic_threshold()
            ),
        ));
    }
    if !(0.0..=1.0).contains(&raw.evict_below) {
        return Err(invalid(
            "cache.evict_below",
            format!(
                "{} is not a feedback score in [0, 1]; the default is {} (0 turns eviction by feedback off)",
                raw.evict_below,
                default_evict_below()
            ),
        ));
    }
    if raw.shared && !raw.enabled {
        return Err(invalid(
            "cache.shared",
            "needs cache.enabled = true (the shared answers are the cache's)",
        ));
    }
    if raw.semantic && !raw.enabled {
        return Err(invalid(
            "cache.semantic",
            "needs cache.enabled = true (semantic hits reuse the stored answers)",
        ));
    }
    Ok(Cache {
        enabled: raw.enabled,
        ttl: raw.ttl,
        max_entries: raw.max_entries,
        max_bytes: raw.max_bytes,
        deterministic_only: raw.deterministic_only,
        semantic: raw.semantic,
        semantic_threshold: raw.semantic_threshold,
        shared: raw.shared,
        evict_below: raw.evict_below,
    })
}
