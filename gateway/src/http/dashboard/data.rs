//! `GET /dashboard/data`: the outcome log's aggregates over a window
//! ([`outcome_log::stats`]), priced against the two counterfactual models, with the routing
//! mix folded to the top models and prompts shown only as `[log] privacy` allows.

use std::collections::HashMap;
use std::time::Duration;

use models::CatalogEntry;
use outcome_log::stats::{Bucket, Limits, MixCell, Priced, RecentRow, Window, WindowStats};
use router_core::PromptRecord;
use serde_json::{json, Value};

use crate::config::Privacy;
use crate::http::error::ApiError;
use crate::state::AppState;

/// The window when none is asked for.
const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The shortest and longest windows: a minute still fills a few buckets; past a year the scan
/// is all of a big log.
const WINDOW_RANGE: (Duration, Duration) = (
    Duration::from_secs(60),
    Duration::from_secs(400 * 24 * 3600),
);
/// Buckets when none are asked for, and the most allowed (each is one SVG bar per model).
const DEFAULT_BUCKETS: u64 = 48;
const MAX_BUCKETS: u64 = 240;
/// Models drawn in the routing mix; the rest are summed as `other`.
const MIX_MODELS: usize = 8;
/// What the page shows of the unbounded parts.
pub(crate) const LIMITS: Limits = Limits {
    keys: 20,
    recent: 50,
    prompt_chars: 300,
};

/// The parsed query string.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Query {
    /// The window's length as written (`24h`), echoed back.
    pub window_name: String,
    /// Its length.
    pub window: Duration,
    /// How many buckets cut it.
    pub buckets: u64,
}

/// Parses `window=<humantime>&buckets=<n>`; anything else is a 400 naming it.
pub(crate) fn parse_query(raw: Option<&str>) -> Result<Query, ApiError> {
    let mut q = Query {
        window_name: "24h".to_owned(),
        window: DEFAULT_WINDOW,
        buckets: DEFAULT_BUCKETS,
    };
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let shown: String = value.chars().take(40).collect();
        match name {
            "window" => {
                let d = humantime_serde::re::humantime::parse_duration(value).map_err(|_| {
                    ApiError::InvalidRequest(format!(
                        "`window={shown}` is not a duration; use for example 1h, 24h or 7d"
                    ))
                })?;
                if d < WINDOW_RANGE.0 || d > WINDOW_RANGE.1 {
                    return Err(ApiError::InvalidRequest(format!(
                        "`window={shown}` must be between 1m and 400d"
                    )));
                }
                q.window = d;
                q.window_name = shown;
            }
            "buckets" => {
                q.buckets = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_BUCKETS).contains(n))
                    .ok_or_else(|| {
                        ApiError::InvalidRequest(format!(
                            "`buckets={shown}` must be a whole number from 1 to {MAX_BUCKETS}"
                        ))
                    })?;
            }
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(ApiError::InvalidRequest(format!(
                    "unknown query parameter `{shown}`; the dashboard takes `window` and `buckets`"
                )));
            }
        }
    }
    Ok(q)
}

/// The window ending now, its end rounded up to a whole bucket so that buckets stay put
/// between refreshes.
pub(crate) fn window_at(q: &Query, now_ms: u64) -> Window {
    let span = u64::try_from(q.window.as_millis()).unwrap_or(u64::MAX);
    let bucket_ms = span.div_ceil(q.buckets.max(1)).max(1);
    let until_ms = now_ms.saturating_add(1).div_ceil(bucket_ms) * bucket_ms;
    Window {
        since_ms: until_ms.saturating_sub(bucket_ms.saturating_mul(q.buckets)),
        until_ms,
        bucket_ms,
    }
}

/// One counterfactual model: every priced request sent to it, with the same token counts.
struct Counterfactual<'a> {
    entry: &'a CatalogEntry,
}

impl Counterfactual<'_> {
    /// List prices: rows keep no prompt-cache counts, and another model's cache would have
    /// hit differently. The actual line (the rows' `cost_usd`) has cache reads and writes at
    /// their prices, so for cached traffic it sits lower than a list-price line would. No
    /// long-prompt price either: `p` sums many requests, whose single lengths are not kept.
    fn cost(&self, p: &Priced) -> f64 {
        self.entry
            .spec
            .list_cost_usd(p.input_tokens as f64, p.output_tokens as f64)
    }

    fn json(&self, p: &Priced) -> Value {
        json!({
            "model": self.entry.id().as_str(),
            "quality_prior": self.entry.quality_prior,
            "input_usd_per_mtok": self.entry.spec.input_usd_per_mtok,
            "output_usd_per_mtok": self.entry.spec.output_usd_per_mtok,
            "cost_usd": self.cost(p),
        })
    }
}

/// The live candidates' catalog entries: the models `auto` could have sent everything to.
fn candidates(state: &AppState) -> Vec<&CatalogEntry> {
    state
        .config
        .candidates
        .iter()
        .filter_map(|m| state.catalog.get(m).ok())
        .collect()
}

/// The candidate with the highest catalog quality prior (the first in catalog order on a tie).
fn best<'a>(candidates: &[&'a CatalogEntry]) -> Option<Counterfactual<'a>> {
    let mut best: Option<&CatalogEntry> = None;
    for &c in candidates {
        if best.is_none_or(|b| c.quality_prior > b.quality_prior) {
            best = Some(c);
        }
    }
    best.map(|entry| Counterfactual { entry })
}

/// The candidate that would have cost least on the window's tokens. At list prices cost is
/// linear in the token counts, so one model is cheapest for the window as a whole.
fn cheapest<'a>(candidates: &[&'a CatalogEntry], total: &Priced) -> Option<Counterfactual<'a>> {
    // Without tokens yet, rank by list price of a token in and a token out.
    let tokens = if total.input_tokens + total.output_tokens == 0 {
        (1.0, 1.0)
    } else {
        (total.input_tokens as f64, total.output_tokens as f64)
    };
    let mut cheapest: Option<(&CatalogEntry, f64)> = None;
    for &c in candidates {
        let cost = c.spec.list_cost_usd(tokens.0, tokens.1);
        if cheapest.is_none_or(|(_, least)| cost < least) {
            cheapest = Some((c, cost));
        }
    }
    cheapest.map(|(entry, _)| Counterfactual { entry })
}

/// The routing mix: one series per model of the top [`MIX_MODELS`] by requests, then `other`
/// and `cache`, each with a count per bucket.
fn mix_json(cells: &[MixCell], buckets: usize) -> Value {
    let mut per_model: HashMap<Option<&str>, u64> = HashMap::new();
    for c in cells {
        *per_model.entry(c.model.as_deref()).or_default() += c.requests;
    }
    let mut models: Vec<(&str, u64)> = per_model
        .iter()
        .filter_map(|(m, n)| m.map(|m| (m, *n)))
        .collect();
    models.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    models.truncate(MIX_MODELS);
    let mut names: Vec<String> = models.iter().map(|(m, _)| (*m).to_owned()).collect();
    let mut series = vec![vec![0u64; buckets]; names.len() + 2];
    let (other, cache) = (names.len(), names.len() + 1);
    for c in cells {
        let row = match c.model.as_deref() {
            None => cache,
            Some(m) => names.iter().position(|n| n == m).unwrap_or(other),
        };
        if let Some(slot) = series.get_mut(row).and_then(|s| s.get_mut(c.bucket)) {
            *slot += c.requests;
        }
    }
    names.push("other".to_owned());
    names.push("cache".to_owned());
    let series: Vec<Value> = names
        .iter()
        .zip(series)
        .filter(|(_, counts)| counts.iter().any(|n| *n > 0))
        .map(|(name, counts)| json!({ "model": name, "requests": counts }))
        .collect();
    json!({ "series": series })
}

/// A stored prompt as the current privacy setting allows it to be shown: the text only with
/// `full`; a hash with `full` or `hashed`; nothing with `none`. A row stored under a looser
/// setting than today's is shown under today's.
fn shown_prompt(privacy: Privacy, stored: Option<&PromptRecord>, truncated: bool) -> Value {
    match (privacy, stored) {
        (Privacy::Full, Some(PromptRecord::Full { text })) => {
            json!({ "kind": "full", "text": text, "truncated": truncated })
        }
        (Privacy::Full | Privacy::Hashed, Some(PromptRecord::Hashed { sha256 })) => {
            json!({ "kind": "hashed", "sha256": sha256 })
        }
        (Privacy::Hashed, Some(PromptRecord::Full { .. })) => json!({ "kind": "withheld" }),
        _ => Value::Null,
    }
}

fn privacy_name(p: Privacy) -> &'static str {
    match p {
        Privacy::Full => "full",
        Privacy::Hashed => "hashed",
        Privacy::None => "none",
    }
}

fn recent_json(state: &AppState, rows: &[RecentRow]) -> Vec<Value> {
    let names: HashMap<String, String> = state
        .auth
        .keys()
        .iter()
        .map(|k| (k.record.id.clone(), k.record.name.clone()))
        .collect();
    let privacy = state.config.log.privacy;
    rows.iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            if let Some(obj) = v.as_object_mut() {
                obj.remove("prompt_truncated");
                obj.insert(
                    "prompt".to_owned(),
                    shown_prompt(privacy, r.prompt.as_ref(), r.prompt_truncated),
                );
                let name = r.key_id.as_ref().and_then(|id| names.get(id));
                obj.insert("key_name".to_owned(), json!(name));
            }
            v
        })
        .collect()
}

fn bucket_json(
    b: &Bucket,
    best: Option<&Counterfactual<'_>>,
    cheapest: Option<&Counterfactual<'_>>,
) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "best_usd".to_owned(),
            json!(best.map(|c| c.cost(&b.counts.priced))),
        );
        obj.insert(
            "cheapest_usd".to_owned(),
            json!(cheapest.map(|c| c.cost(&b.counts.priced))),
        );
    }
    v
}

/// The page's JSON from the window's aggregates.
pub(crate) fn render(state: &AppState, q: &Query, window: &Window, stats: &WindowStats) -> Value {
    let pool = candidates(state);
    let total = &stats.totals.priced;
    let best = best(&pool);
    let cheapest = cheapest(&pool, total);
    let share = |n: u64, of: u64| (of > 0).then(|| n as f64 / of as f64);
    let t = &stats.totals;
    let hits = t.cache_exact + t.cache_semantic + t.cache_coalesced;
    let mut totals = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(obj) = totals.as_object_mut() {
        obj.insert(
            "fallback_share".to_owned(),
            json!(share(t.static_fallbacks, t.routed)),
        );
        obj.insert(
            "failover_share".to_owned(),
            json!(share(t.failovers, t.requests)),
        );
        obj.insert("cache_hit_share".to_owned(), json!(share(hits, t.requests)));
    }
    json!({
        "object": "dashboard",
        "window": {
            "name": q.window_name,
            "since_ms": window.since_ms,
            "until_ms": window.until_ms,
            "bucket_ms": window.bucket_ms,
        },
        "privacy": privacy_name(state.config.log.privacy),
        "totals": totals,
        "latency": stats.latency,
        "counterfactual": {
            "actual_usd": total.cost_usd,
            "requests": total.requests,
            "input_tokens": total.input_tokens,
            "output_tokens": total.output_tokens,
            "best": best.as_ref().map(|c| c.json(total)),
            "cheapest": cheapest.as_ref().map(|c| c.json(total)),
        },
        "buckets": stats
            .buckets
            .iter()
            .map(|b| bucket_json(b, best.as_ref(), cheapest.as_ref()))
            .collect::<Vec<_>>(),
        "mix": mix_json(&stats.mix, stats.buckets.len()),
        "keys": stats.keys,
        "recent": recent_json(state, &stats.recent),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_query_takes_a_window_and_buckets_and_refuses_anything_else() {
        let q = parse_query(None).unwrap();
        assert_eq!((q.window, q.buckets), (DEFAULT_WINDOW, DEFAULT_BUCKETS));
        let q = parse_query(Some("window=7d&buckets=7")).unwrap();
        assert_eq!(q.window, Duration::from_secs(7 * 86400));
        assert_eq!((q.window_name.as_str(), q.buckets), ("7d", 7));
        for bad in [
            "window=soon",
            "window=1s",
            "window=999d",
            "buckets=0",
            "buckets=241",
            "buckets=-1",
            "limit=5",
            "window",
        ] {
            let err = parse_query(Some(bad)).unwrap_err();
            assert!(matches!(err, ApiError::InvalidRequest(_)), "{bad}: {err}");
        }
        let long = format!("{}=1", "x".repeat(10_000));
        let msg = parse_query(Some(&long)).unwrap_err().to_string();
        assert!(msg.len() < 200, "the echo is bounded: {msg}");
    }

    #[test]
    fn a_window_ends_on_a_whole_bucket_after_now() {
        let q = parse_query(Some("window=1h&buckets=60")).unwrap();
        let w = window_at(&q, 3_600_000 * 10 + 30_001);
        assert_eq!(w.bucket_ms, 60_000);
        assert_eq!(w.until_ms, 3_600_000 * 10 + 60_000);
        assert_eq!(w.until_ms - w.since_ms, 3_600_000);
        assert_eq!(w.buckets(), 60);
    }

    #[test]
    fn the_mix_keeps_the_top_models_and_sums_the_rest() {
        let mut cells: Vec<MixCell> = (0..10)
            .map(|i| MixCell {
                bucket: i % 2,
                model: Some(format!("m{i}")),
                requests: 10 + i as u64,
            })
            .collect();
        cells.push(MixCell {
            bucket: 1,
            model: None,
            requests: 3,
        });
        let v = mix_json(&cells, 2);
        let series = v["series"].as_array().unwrap();
        let names: Vec<&str> = series
            .iter()
            .map(|s| s["model"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["m9", "m8", "m7", "m6", "m5", "m4", "m3", "m2", "other", "cache"]
        );
        // m1 (11, bucket 1) and m0 (10, bucket 0) are `other`.
        assert_eq!(series[8]["requests"], json!([10, 11]));
        assert_eq!(series[9]["requests"], json!([0, 3]));
    }

    #[test]
    fn prompts_are_shown_only_as_privacy_allows() {
        let full = PromptRecord::Full {
            text: "<b>hi</b>".to_owned(),
        };
        let hashed = PromptRecord::Hashed {
            sha256: "ab".to_owned(),
        };
        assert_eq!(
            shown_prompt(Privacy::Full, Some(&full), false)["text"],
            "<b>hi</b>"
        );
        assert_eq!(
            shown_prompt(Privacy::Hashed, Some(&full), false),
            json!({"kind": "withheld"})
        );
        assert_eq!(
            shown_prompt(Privacy::Hashed, Some(&hashed), false)["sha256"],
            "ab"
        );
        assert_eq!(shown_prompt(Privacy::None, Some(&full), false), Value::Null);
        assert_eq!(
            shown_prompt(Privacy::None, Some(&hashed), false),
            Value::Null
        );
        assert_eq!(
            shown_prompt(Privacy::Full, Some(&PromptRecord::None), false),
            Value::Null
        );
    }
}
