#![allow(clippy::unwrap_used, clippy::expect_used)]

use router_core::{
    Attempt, CacheHit, DecisionReason, ModelId, Outcome, OutcomeStatus, PromptRecord, RouteDecision,
};

use super::*;
use crate::read::tests::outcome;

pub(crate) const T0: u64 = 1_800_000_000_000;
pub(crate) const MIN: u64 = 60_000;

pub(crate) fn decision(chosen: &str, reason: DecisionReason) -> RouteDecision {
    RouteDecision {
        chosen: ModelId::new(chosen),
        ranked: Vec::new(),
        reason,
        propensity: 1.0,
        tasks: None,
        difficulty: None,
        routing: None,
        tie_break: None,
        input_tokens: None,
    }
}

pub(crate) fn answered(
    id: &str,
    ts: u64,
    model: &str,
    latency_ms: f64,
    tokens: (u32, u32),
) -> Outcome {
    let mut o = outcome(id, ts);
    o.model = Some(ModelId::new(model));
    o.decision = Some(decision(model, DecisionReason::BestFeasible));
    o.attempts = vec![Attempt {
        model: ModelId::new(model),
        status_code: Some(200),
        error: None,
        duration_ms: latency_ms,
        provider: None,
        upstream_name: None,
    }];
    o.latency_ms = latency_ms;
    o.input_tokens = Some(tokens.0);
    o.output_tokens = Some(tokens.1);
    o.cost_usd = Some(f64::from(tokens.0 + tokens.1) * 1e-6);
    o
}

pub(crate) fn hit(id: &str, ts: u64, similarity: Option<f64>, coalesced: bool) -> Outcome {
    let mut o = outcome(id, ts);
    o.cost_usd = Some(0.0);
    o.cache_hit = Some(CacheHit {
        source_request_id: "r0".to_owned(),
        saved_usd: 0.5,
        similarity,
        coalesced,
    });
    o
}

fn write(rows: &[Outcome]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite");
    let mut conn = crate::open(&db, false).unwrap();
    assert!(crate::write_batch(&mut conn, rows)
        .unwrap()
        .iter()
        .all(|s| *s));
    (dir, db)
}

const LIMITS: Limits = Limits {
    keys: 10,
    recent: 50,
    prompt_chars: 8,
};

fn window() -> Window {
    Window {
        since_ms: T0,
        until_ms: T0 + 4 * MIN,
        bucket_ms: MIN,
    }
}

#[test]
fn counts_fallbacks_failovers_and_each_kind_of_cache_hit_per_bucket() {
    let mut fallback = answered("r2", T0 + MIN + 1, "gpt-4.1-nano", 30.0, (10, 5));
    fallback.decision = Some(decision("gpt-4.1-nano", DecisionReason::StaticFallback));
    let mut failover = answered("r3", T0 + MIN + 2, "gpt-4o", 300.0, (100, 50));
    failover.attempts.insert(
        0,
        Attempt {
            model: ModelId::new("gpt-4o-mini"),
            status_code: Some(500),
            error: Some("upstream_5xx".to_owned()),
            duration_ms: 5.0,
            provider: None,
            upstream_name: None,
        },
    );
    let mut pinned = answered("r4", T0 + 2 * MIN, "gpt-4o", 100.0, (1, 1));
    pinned.requested_model = "gpt-4o".to_owned();
    let mut failed = outcome("r5", T0 + 3 * MIN);
    failed.status = OutcomeStatus::UpstreamError;
    failed.latency_ms = 9_999.0;
    let rows = vec![
        answered("r1", T0, "gpt-4o-mini", 10.0, (1000, 500)),
        fallback,
        failover,
        pinned,
        failed,
        hit("h1", T0 + 3 * MIN, None, false),
        hit("h2", T0 + 3 * MIN, Some(0.9), false),
        hit("h3", T0 + 3 * MIN, None, true),
        // Outside the window on both sides.
        answered("early", T0 - 1, "gpt-4o", 1.0, (1, 1)),
        answered("late", T0 + 4 * MIN, "gpt-4o", 1.0, (1, 1)),
    ];
    let (_dir, db) = write(&rows);
    let s = window_stats(&db, &window(), &LIMITS).unwrap();
    let t = &s.totals;
    assert_eq!(t.requests, 8);
    assert_eq!(t.ok, 7);
    // The pinned request has a decision but was not routed.
    assert_eq!((t.routed, t.static_fallbacks, t.failovers), (3, 1, 1));
    assert_eq!(
        (t.cache_exact, t.cache_semantic, t.cache_coalesced),
        (1, 1, 1)
    );
    assert!((t.cache_saved_usd - 1.5).abs() < 1e-12);
    assert_eq!(t.priced.requests, 4);
    assert_eq!(t.priced.input_tokens, 1111);
    assert_eq!(t.priced.output_tokens, 556);
    assert!((t.priced.cost_usd - 1667e-6).abs() < 1e-12);

    assert_eq!(s.buckets.len(), 4);
    let starts: Vec<u64> = s.buckets.iter().map(|b| b.start_ms).collect();
    assert_eq!(starts, [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]);
    let per: Vec<u64> = s.buckets.iter().map(|b| b.counts.requests).collect();
    assert_eq!(per, [1, 2, 1, 4]);
    assert_eq!(s.buckets[1].counts.static_fallbacks, 1);

    // Latency over answered, non-cached rows: 10, 30, 100, 300.
    assert_eq!(s.latency.count, 4);
    assert_eq!(s.latency.p50_ms, Some(30.0));
    assert_eq!(s.latency.p90_ms, Some(300.0));
    assert_eq!(s.latency.p99_ms, Some(300.0));
    assert_eq!(s.buckets[1].latency.p50_ms, Some(30.0));
    assert_eq!(s.buckets[1].latency.count, 2);
    assert_eq!(s.buckets[3].latency, Percentiles::default());

    let cache_cell = s.mix.iter().find(|c| c.model.is_none()).unwrap();
    assert_eq!((cache_cell.bucket, cache_cell.requests), (3, 3));
    assert!(s.mix.iter().all(|c| c.model.as_deref() != Some("early")));
    assert_eq!(s.mix.iter().map(|c| c.requests).sum::<u64>(), 7);

    assert_eq!(s.recent.len(), 8);
    assert_eq!(s.recent[0].timestamp_ms, T0 + 3 * MIN);
    let by_id = |id: &str| s.recent.iter().find(|r| r.request_id == id).unwrap();
    assert_eq!(by_id("h2").cache, Some(CacheKind::Semantic));
    assert_eq!(by_id("h3").cache, Some(CacheKind::Coalesced));
    assert_eq!(by_id("h1").cache, Some(CacheKind::Exact));
    assert_eq!(by_id("r2").reason.as_deref(), Some("static_fallback"));
    assert_eq!(by_id("r3").attempts, 2);
    assert_eq!(by_id("r5").status, "upstream_error");
}

#[test]
fn percentiles_are_nearest_rank() {
    let rows: Vec<Outcome> = (1..=100)
        .map(|i| answered(&format!("r{i:03}"), T0 + i, "m", i as f64, (1, 1)))
        .collect();
    let (_dir, db) = write(&rows);
    let s = window_stats(&db, &window(), &LIMITS).unwrap();
    assert_eq!(
        (s.latency.p50_ms, s.latency.p90_ms, s.latency.p99_ms),
        (Some(50.0), Some(90.0), Some(99.0))
    );
    assert_eq!(s.recent.len(), 50, "bounded by the limit");
}

#[test]
fn spend_per_key_is_largest_first_with_names_and_prompts_are_cut() {
    let mut a = answered("a", T0, "m", 1.0, (1000, 0));
    a.key_id = Some("key_a".to_owned());
    a.prompt = PromptRecord::Full {
        text: "<script>alert(1)</script> and more".to_owned(),
    };
    let mut b = answered("b", T0 + 1, "m", 1.0, (10, 0));
    b.key_id = Some("key_b".to_owned());
    b.prompt = PromptRecord::Hashed {
        sha256: "ab".repeat(32),
    };
    let mut c = answered("c", T0 + 2, "m", 1.0, (5, 0));
    c.key_id = Some("key_b".to_owned());
    let (_dir, db) = write(&[a, b, c]);
    let s = window_stats(&db, &window(), &LIMITS).unwrap();
    let keys: Vec<(Option<&str>, u64)> = s
        .keys
        .iter()
        .map(|k| (k.key_id.as_deref(), k.requests))
        .collect();
    assert_eq!(keys, [(Some("key_a"), 1), (Some("key_b"), 2)]);
    assert_eq!(s.keys[1].input_tokens, 15);
    let one = window_stats(&db, &window(), &Limits { keys: 1, ..LIMITS }).unwrap();
    assert_eq!(one.keys.len(), 1);

    let by_id = |id: &str| s.recent.iter().find(|r| r.request_id == id).unwrap();
    assert_eq!(
        by_id("a").prompt,
        Some(PromptRecord::Full {
            text: "<script>".to_owned()
        })
    );
    assert!(by_id("a").prompt_truncated);
    assert_eq!(
        by_id("b").prompt,
        Some(PromptRecord::Hashed {
            sha256: "ab".repeat(32)
        })
    );
    assert_eq!(by_id("c").prompt, Some(PromptRecord::None));
}

#[test]
fn a_log_without_outcomes_reads_as_empty_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.sqlite");
    std::fs::write(&db, b"").unwrap();
    let s = window_stats(&db, &window(), &LIMITS).unwrap();
    assert_eq!(s.buckets.len(), 4);
    assert_eq!(s.totals, Counts::default());
    assert!(s.recent.is_empty());
    let missing = window_stats(dir.path().join("nope.sqlite"), &window(), &LIMITS);
    assert!(matches!(missing, Err(Error::Missing { .. })));
}
