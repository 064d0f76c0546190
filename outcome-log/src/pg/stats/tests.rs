#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use router_core::{Attempt, DecisionReason, ModelId, Outcome, OutcomeStatus, PromptRecord};
use testkit::postgres::PostgresServer;

use crate::location::{Location, PgUrl};
use crate::pg::Session;
use crate::read::tests::outcome;
use crate::stats::tests::{answered, decision, hit, MIN, T0};
use crate::stats::{CacheKind, Limits, Window};
use crate::PgWriter;

/// Costs are sums of powers of two, so that both databases' sums are exact in any order.
fn priced(mut o: Outcome, key: Option<&str>, cost_usd: f64) -> Outcome {
    o.key_id = key.map(str::to_owned);
    o.cost_usd = Some(cost_usd);
    o
}

/// Every kind of row the dashboard tells apart, in two batches: one request id is logged
/// again in the second (the later row replaces the first), and several share a millisecond.
fn batches() -> [Vec<Outcome>; 2] {
    let mut fallback = answered("fallback", T0 + MIN + 1, "gpt-4.1-nano", 30.0, (10, 5));
    fallback.decision = Some(decision("gpt-4.1-nano", DecisionReason::StaticFallback));
    fallback.prompt = PromptRecord::Full {
        text: "héllo wörld, ✓ more than eight characters".to_owned(),
    };
    let mut failover = answered("failover", T0 + MIN + 2, "gpt-4o", 300.0, (100, 50));
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
    failover.prompt = PromptRecord::Hashed {
        sha256: "cd".repeat(32),
    };
    let mut pinned = answered("pinned", T0 + 2 * MIN, "gpt-4o", 100.0, (1, 1));
    pinned.requested_model = "gpt-4o".to_owned();
    pinned.prompt = PromptRecord::Full {
        text: "short".to_owned(),
    };
    let mut failed = outcome("failed", T0 + 3 * MIN);
    failed.status = OutcomeStatus::UpstreamError;
    failed.latency_ms = 9_999.0;
    failed.key_id = Some("k2".to_owned());
    let mut no_tokens = outcome("no-tokens", T0 + 2 * MIN + 7);
    no_tokens.model = Some(ModelId::new("Zeta-upper"));
    no_tokens.cost_usd = Some(0.125);
    let mut same_ms: Vec<Outcome> = (0..4)
        .map(|i| {
            let id = format!("same-{}", ["d", "b", "c", "a"][i]);
            let model = ["gpt-4o", "gpt-4o-mini", "claude-3-5-haiku", "gpt-4o"][i];
            priced(
                answered(&id, T0 + 3 * MIN + 10, model, 20.0 + i as f64, (3, 4)),
                Some(["k1", "k2", "k3", "k1"][i]),
                0.25,
            )
        })
        .collect();
    same_ms[0].requested_model = "claude-3-5-haiku".to_owned();
    let first = vec![
        priced(
            answered("r1", T0, "gpt-4o-mini", 10.0, (1000, 500)),
            Some("k1"),
            0.5,
        ),
        priced(fallback, Some("k2"), 0.0625),
        priced(failover, Some("k1"), 1.0),
        priced(pinned, None, 0.25),
        failed,
        no_tokens,
        // Replaced in the second batch.
        priced(
            answered("again", T0 + 30, "gpt-4o", 7.0, (1, 1)),
            Some("k3"),
            4.0,
        ),
        priced(hit("exact", T0 + 3 * MIN, None, false), Some("k3"), 0.0),
        priced(hit("semantic", T0 + 3 * MIN, Some(0.9), false), None, 0.0),
        priced(
            hit("coalesced", T0 + 3 * MIN + 1, None, true),
            Some("k2"),
            0.0,
        ),
        // Outside the window on both sides.
        priced(
            answered("early", T0 - 1, "early", 1.0, (1, 1)),
            Some("k9"),
            8.0,
        ),
        priced(
            answered("late", T0 + 4 * MIN, "late", 1.0, (1, 1)),
            Some("k9"),
            8.0,
        ),
    ];
    let mut second = same_ms;
    second.push(priced(
        answered("again", T0 + 3 * MIN + 10, "gpt-4o", 70.0, (2, 2)),
        Some("k3"),
        0.5,
    ));
    second.extend((0..40).map(|i| {
        let latency = f64::from((i * 37) % 23);
        let model = ["gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"][i as usize % 3];
        priced(
            answered(
                &format!("bulk-{i:02}"),
                T0 + u64::from(i) * 4_001,
                model,
                latency,
                (i, 1),
            ),
            Some(["k1", "k2", "k4"][i as usize % 3]),
            0.03125,
        )
    }));
    [first, second]
}

fn windows() -> Vec<Window> {
    let w = |since_ms, bucket_ms| Window {
        since_ms,
        until_ms: T0 + 4 * MIN,
        bucket_ms,
    };
    vec![
        w(T0, MIN),
        w(T0, 7_001),
        w(T0, 4 * MIN),
        w(T0, 90_000),
        w(T0 + MIN + 2, 1_000),
        w(T0 - MIN, MIN),
    ]
}

/// The same rows in a SQLite file and in PostgreSQL give the same stats, for every window,
/// bucket width and limit.
#[test]
fn postgres_gives_the_same_stats_as_the_sqlite_file() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = PgUrl::new(pg.fresh_database());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log.sqlite");
    let mut conn = crate::open(&file, false).unwrap();
    let mut w = PgWriter::open(
        &url,
        Session {
            fsync: false,
            statement_timeout: Some(Duration::from_secs(5)),
        },
    )
    .unwrap();
    for batch in batches() {
        assert!(crate::write_batch(&mut conn, &batch)
            .unwrap()
            .iter()
            .all(|s| *s));
        assert!(w.write_batch(&batch).unwrap().iter().all(|s| *s));
    }
    let keys = "CREATE TABLE client_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL);
        INSERT INTO client_keys VALUES ('k1', 'alpha'), ('k2', 'beta');";
    conn.execute_batch(keys).unwrap();
    w.client().batch_execute(keys).unwrap();

    let sqlite = Location::Sqlite(file);
    let postgres = Location::Postgres(url);
    let limits = [
        Limits {
            keys: 10,
            recent: 100,
            prompt_chars: 8,
        },
        Limits {
            keys: 2,
            recent: 3,
            prompt_chars: 0,
        },
    ];
    for window in windows() {
        for limits in &limits {
            let want = crate::window_stats(&sqlite, &window, limits).unwrap();
            let got = crate::window_stats(&postgres, &window, limits).unwrap();
            assert_eq!(got, want, "{window:?} {limits:?}");
        }
    }

    // The rows above reach every part of the stats.
    let s = crate::window_stats(&postgres, &windows()[0], &limits[0]).unwrap();
    let t = &s.totals;
    assert_eq!(t.requests, 54);
    assert!(t.static_fallbacks == 1 && t.failovers == 1 && t.routed > 0);
    assert_eq!(
        (t.cache_exact, t.cache_semantic, t.cache_coalesced),
        (1, 1, 1)
    );
    assert!(s.mix.iter().any(|c| c.model.is_none()));
    assert_eq!(s.keys[0].name.as_deref(), Some("alpha"));
    assert!(s.keys.iter().any(|k| k.key_id.is_none()));
    let ids: Vec<&str> = s.recent[..5]
        .iter()
        .map(|r| r.request_id.as_str())
        .collect();
    assert_eq!(ids, ["again", "same-a", "same-c", "same-b", "same-d"]);
    let by_id = |id: &str| s.recent.iter().find(|r| r.request_id == id).unwrap();
    assert_eq!(by_id("coalesced").cache, Some(CacheKind::Coalesced));
    assert!(by_id("fallback").prompt_truncated);
    assert_eq!(
        by_id("fallback").prompt,
        Some(PromptRecord::Full {
            text: "héllo wö".to_owned()
        })
    );
    assert_eq!(by_id("failed").status, "upstream_error");
}

/// A database without the log reads as empty buckets, as an empty SQLite file does.
#[test]
fn a_database_without_the_log_reads_as_empty_buckets() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let url = PgUrl::new(pg.fresh_database());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.sqlite");
    std::fs::write(&file, b"").unwrap();
    let limits = Limits {
        keys: 10,
        recent: 10,
        prompt_chars: 8,
    };
    let want = crate::window_stats(&file, &windows()[0], &limits).unwrap();
    let got = crate::window_stats(Location::Postgres(url), &windows()[0], &limits).unwrap();
    assert_eq!(got, want);
    assert_eq!(got.buckets.len(), 4);
}
