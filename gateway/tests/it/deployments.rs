//! Deployments over loopback: one catalog model on two providers (two `[[providers]]` names on
//! the testkit fake, told apart by their upstream names), balanced by weight or by measured
//! latency, failing over to each other before the next model, with a breaker each.

use std::time::Duration;

use gateway::config::{Balancing, DeploymentConfig, GatewayConfig};
use gateway::upstream::ProviderKind;
use router_core::{ModelId, OutcomeStatus, ProviderId};
use testkit::{FakeProvider, Scenario};

use crate::e2e_harness::{chat_body, header, provider, Harness};

/// `gpt-4o` on provider `openai` as `gpt-4o-a` (weight `wa`) and on `azure` as `gpt-4o-b`
/// (weight `wb`); candidates `gpt-4o` and `gpt-4o-mini` (catalog default on `openai`).
async fn two_deployments(wa: i64, wb: i64, tweak: impl FnOnce(&mut GatewayConfig)) -> Harness {
    let fake = FakeProvider::start().await;
    let providers = vec![
        provider("openai", ProviderKind::Openai, &fake.openai_base_url()),
        provider("azure", ProviderKind::Openai, &fake.openai_base_url()),
    ];
    let dep = |p: &str, name: &str, weight| DeploymentConfig {
        model: ModelId::new("gpt-4o"),
        provider: ProviderId::new(p),
        upstream_name: Some(name.to_owned()),
        weight,
    };
    Harness::custom(fake, providers, &["gpt-4o", "gpt-4o-mini"], |c| {
        c.deployments = vec![dep("openai", "gpt-4o-a", wa), dep("azure", "gpt-4o-b", wb)];
        c.balancing.seed = Some(42);
        tweak(c);
    })
    .await
}

#[tokio::test]
async fn weighted_balancing_splits_traffic_by_weight() {
    let h = two_deployments(3, 1, |_| {}).await;
    const N: usize = 200;
    for _ in 0..N {
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    }
    let (a, b) = (h.fake.calls("gpt-4o-a"), h.fake.calls("gpt-4o-b"));
    assert_eq!(a + b, N, "one attempt per request");
    // Expected 150 : 50 (sd ≈ 6); the band is ±5 sd, and the draws are seeded anyway.
    assert!((120..=180).contains(&a), "openai got {a}, azure {b}");
    let rows = h.rows().await;
    let on_azure = rows
        .iter()
        .filter(|r| r.attempts[0].provider == Some(ProviderId::new("azure")))
        .count();
    assert_eq!(on_azure, b, "each attempt names its provider");
    assert!(rows
        .iter()
        .all(|r| r.cost_usd.is_some_and(|c| c > 0.0) && r.model == Some(ModelId::new("gpt-4o"))));
    let m = h.gw.metrics();
    let counted = m.counter_value(
        "switchyard_deployment_attempts_total",
        &[("model", "gpt-4o"), ("provider", "azure"), ("result", "ok")],
    );
    assert_eq!(counted as usize, b);
    h.stop().await;
}

#[tokio::test]
async fn a_failing_deployment_fails_over_to_the_other_before_the_next_model() {
    // `a` first almost always (1000 : 1), and the breaker never opens: every request shows
    // the walk a → b.
    let h = two_deployments(1000, 1, |c| {
        c.circuit_breaker.failures_to_open = 1000;
    })
    .await;
    h.fake.always("gpt-4o-a", Scenario::status(503));
    for stream in [false, true] {
        let resp = h.chat(&chat_body("gpt-4o", stream, "hi")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
        let _ = resp.text().await.unwrap();
    }
    assert_eq!(
        h.fake.calls("gpt-4o-mini"),
        0,
        "the next model was not needed"
    );
    let rows = h.rows().await;
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.status, OutcomeStatus::Ok);
        assert_eq!(row.attempts.len(), 2, "{:?}", row.attempts);
        let (first, second) = (&row.attempts[0], &row.attempts[1]);
        assert_eq!(first.provider, Some(ProviderId::new("openai")));
        assert_eq!(first.upstream_name.as_deref(), Some("gpt-4o-a"));
        assert_eq!(first.status_code, Some(503));
        assert_eq!(second.provider, Some(ProviderId::new("azure")));
        assert_eq!(second.upstream_name.as_deref(), Some("gpt-4o-b"));
        assert_eq!(second.error, None);
        assert_eq!(row.model, Some(ModelId::new("gpt-4o")));
    }
    h.stop().await;
}

#[tokio::test]
async fn when_every_deployment_fails_the_next_model_answers() {
    let h = two_deployments(1, 1, |_| {}).await;
    h.fake.always("gpt-4o-a", Scenario::status(500));
    h.fake.always("gpt-4o-b", Scenario::status(500));
    let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let row = h.only_row().await;
    let tried: Vec<(Option<&str>, Option<&str>)> = row
        .attempts
        .iter()
        .map(|a| (a.upstream_name.as_deref(), a.error.as_deref()))
        .collect();
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert_eq!(tried[2], (Some("gpt-4o-mini"), None));
    h.stop().await;
}

#[tokio::test]
async fn an_open_breaker_on_one_deployment_leaves_the_other_serving() {
    let h = two_deployments(1000, 1, |c| {
        c.circuit_breaker.failures_to_open = 1;
        c.circuit_breaker.open_for = Duration::from_secs(3600);
    })
    .await;
    h.fake.always("gpt-4o-a", Scenario::status(500));
    for _ in 0..5 {
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    }
    assert_eq!(
        h.fake.calls("gpt-4o-a"),
        1,
        "its breaker kept it away after one failure"
    );
    assert_eq!(h.fake.calls("gpt-4o-b"), 5);
    // The breaker is the deployment's, not the provider's: gpt-4o-mini on `openai` still runs.
    let resp = h.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    let rows = h.rows().await;
    let skipped = rows
        .iter()
        .filter(|r| {
            r.attempts.iter().any(|a| {
                a.error.as_deref() == Some("circuit_open")
                    && a.upstream_name.as_deref() == Some("gpt-4o-a")
            })
        })
        .count();
    assert_eq!(skipped, 4, "{rows:#?}");
    h.stop().await;
}

#[tokio::test]
async fn latency_balancing_prefers_the_faster_deployment() {
    let h = two_deployments(1, 1, |c| {
        c.balancing.strategy = Balancing::Latency;
        c.balancing.latency_exploration = 0.0;
    })
    .await;
    h.fake
        .always("gpt-4o-a", Scenario::Delay(Duration::from_millis(400)));
    for _ in 0..20 {
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200);
    }
    // Each deployment is measured once (unmeasured ones go first), then the fast one leads.
    assert_eq!(h.fake.calls("gpt-4o-a"), 1);
    assert_eq!(h.fake.calls("gpt-4o-b"), 19);
    h.stop().await;
}

#[tokio::test]
async fn latency_exploration_measures_the_slow_deployment_again() {
    let h = two_deployments(1, 1, |c| {
        c.balancing.models = [(ModelId::new("gpt-4o"), Balancing::Latency)]
            .into_iter()
            .collect();
        c.balancing.latency_exploration = 0.5;
    })
    .await;
    h.fake
        .always("gpt-4o-a", Scenario::Delay(Duration::from_millis(50)));
    for _ in 0..40 {
        let resp = h.chat(&chat_body("gpt-4o", false, "hi")).await;
        assert_eq!(resp.status(), 200);
    }
    // Half the orderings are by weight, so the slow one still leads in about 10 of 40
    // (seeded); without exploration it would lead exactly once.
    let slow = h.fake.calls("gpt-4o-a");
    assert!((3..=20).contains(&slow), "{slow}");
    h.stop().await;
}
