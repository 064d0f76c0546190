//! A/B splits between router artifacts (`[experiment]`), end to end with the real encoder and
//! the bundled artifact: every `auto` row names its arm, a user stays on one arm, each arm
//! routes with its own predictor (the priors-only arm on catalog priors), pinned requests are
//! outside the experiment, the metric counts arms, and a bad arm artifact stops the start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gateway::config::{ArmConfig, ExperimentConfig, GatewayConfig, Sticky};
use router_core::Outcome;
use serde_json::{json, Value};

use crate::e2e_harness::{all_providers, config, header, Harness};

const CANDIDATES: [&str; 3] = [
    "gpt-4-1106-preview",
    "claude-3-haiku-20240307",
    "gemini-2.0-flash-001",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn encoder_dir() -> Option<PathBuf> {
    let dir = repo().join(".switchyard/encoder/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").exists() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: no encoder weights in {} (run `switchyard model fetch`)",
            dir.display()
        );
        None
    }
}

fn arm(name: &str, share: f64, artifact: Option<PathBuf>, priors_only: bool) -> ArmConfig {
    ArmConfig {
        name: name.to_owned(),
        share,
        artifact,
        priors_only,
    }
}

/// Control serves the configured (bundled) artifact, `copy` loads the same artifact as its
/// own arm, `priors` routes on catalog priors.
fn three_arms(raw: &mut GatewayConfig) {
    let bundled = repo().join("artifacts/default-router");
    raw.router.artifact = Some(bundled.clone());
    // A debug-build encoder on a busy machine can be slow; the test is about the split.
    raw.router.routing_deadline = Duration::from_secs(60);
    raw.experiment = Some(ExperimentConfig {
        name: "bundled-vs-priors".to_owned(),
        sticky: Sticky::User,
        arms: vec![
            arm("control", 1.0, None, false),
            arm("copy", 1.0, Some(bundled), false),
            arm("priors", 1.0, None, true),
        ],
    });
}

async fn start(encoder: &Path) -> Harness {
    let fake = testkit::FakeProvider::start().await;
    let log_dir = tempfile::tempdir().unwrap();
    let cfg = config(
        log_dir.path(),
        all_providers(&fake),
        &CANDIDATES,
        three_arms,
    );
    let service = gateway::server::load_classifier(
        &cfg,
        encoder,
        classifier::ServiceConfig::default(),
        classifier::EncoderConfig::default(),
    )
    .unwrap()
    .expect("the encoder service starts");
    Harness::start(fake, cfg, Some(service), log_dir).await
}

fn body(model: &str, user: &str, prompt: &str) -> Value {
    json!({
        "model": model,
        "user": user,
        "messages": [{"role": "user", "content": prompt}],
    })
}

#[tokio::test]
async fn auto_traffic_splits_by_user_and_each_arm_routes_with_its_own_predictor() {
    let Some(encoder) = encoder_dir() else {
        return;
    };
    let h = start(&encoder).await;

    let users: Vec<String> = (0..24).map(|i| format!("user-{i}")).collect();
    // The request id of each `auto` request, in the order sent.
    let mut sent = Vec::new();
    for user in &users {
        let resp = h
            .chat(&body(
                "auto",
                user,
                "Prove that there are infinitely many primes.",
            ))
            .await;
        assert_eq!(resp.status(), 200);
        sent.push(header(&resp, "x-switchyard-request-id").to_owned());
        let _ = resp.bytes().await.unwrap();
    }
    // The same users again, with another prompt: each stays on its arm.
    for user in users.iter().take(8) {
        let resp = h
            .chat(&body("auto", user, "Write a haiku about autumn."))
            .await;
        assert_eq!(resp.status(), 200);
        sent.push(header(&resp, "x-switchyard-request-id").to_owned());
        let _ = resp.bytes().await.unwrap();
    }
    // A pinned request is outside the experiment.
    let pinned = h.chat(&body("gpt-4-1106-preview", "user-0", "Hello")).await;
    assert_eq!(pinned.status(), 200);
    assert_eq!(header(&pinned, "x-switchyard-model"), "gpt-4-1106-preview");
    let _ = pinned.bytes().await.unwrap();

    let rows: Vec<Outcome> = h.rows().await;
    assert_eq!(rows.len(), 24 + 8 + 1);
    let mut per_arm = std::collections::BTreeMap::<String, usize>::new();
    for row in &rows {
        if row.requested_model != "auto" {
            assert!(row.arm.is_none(), "a pinned row has no arm: {row:?}");
            continue;
        }
        let arm = row
            .arm
            .as_ref()
            .expect("every routed auto row names its arm");
        assert_eq!(arm.experiment, "bundled-vs-priors");
        assert_eq!(arm.unit, "user");
        *per_arm.entry(arm.arm.clone()).or_default() += 1;
        let decision = row.decision.as_ref().unwrap();
        let sources: Vec<String> = decision
            .ranked
            .iter()
            .map(|c| serde_json::to_value(c).unwrap()["source"].to_string())
            .collect();
        match arm.arm.as_str() {
            // Both artifact arms know every candidate: trained estimates.
            "control" | "copy" => assert!(
                sources.iter().all(|s| s.contains("trained")),
                "{}: {sources:?}",
                arm.arm
            ),
            "priors" => assert!(
                sources.iter().all(|s| !s.contains("trained")),
                "priors arm: {sources:?}"
            ),
            other => panic!("unknown arm {other}"),
        }
    }
    assert_eq!(per_arm.values().sum::<usize>(), 32, "{per_arm:?}");
    assert_eq!(
        per_arm.len(),
        3,
        "24 users over three equal arms: {per_arm:?}"
    );

    // Stickiness, read back per user through the request ids: the first 24 sent are users
    // 0..24, the next 8 users 0..8 again. (Not through the rows' order: two requests in the
    // same millisecond are read back in request-id order.)
    let auto: Vec<&Outcome> = sent
        .iter()
        .map(|id| {
            rows.iter()
                .find(|r| &r.request_id == id)
                .expect("a row per request")
        })
        .collect();
    for i in 0..8 {
        assert_eq!(
            auto[i].arm.as_ref().unwrap().arm,
            auto[24 + i].arm.as_ref().unwrap().arm,
            "user-{i} changed arm"
        );
    }

    // /v1/route says which arm a user's request would take.
    let first_arm = auto[0].arm.as_ref().unwrap().arm.clone();
    let routed: Value = h
        .post_json("/v1/route", &json!({"prompt": "Hello", "user": "user-0"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(routed["arm"]["arm"], first_arm.as_str(), "{routed}");

    let metrics = h.gw.metrics();
    let counted: f64 = per_arm
        .keys()
        .map(|a| {
            metrics.counter_value(
                "switchyard_experiment_requests_total",
                &[("experiment", "bundled-vs-priors"), ("arm", a)],
            )
        })
        .sum();
    assert_eq!(counted, 32.0);
    h.stop().await;
}

#[tokio::test]
async fn an_arm_artifact_that_cannot_serve_stops_the_start_naming_the_arm() {
    let Some(encoder) = encoder_dir() else {
        return;
    };
    let fake = testkit::FakeProvider::start().await;
    let log_dir = tempfile::tempdir().unwrap();
    let cfg = config(log_dir.path(), all_providers(&fake), &CANDIDATES, |raw| {
        three_arms(raw);
        if let Some(e) = raw.experiment.as_mut() {
            e.arms[1].artifact = Some(repo().join("artifacts/no-such-router"));
        }
    });
    let service = gateway::server::load_classifier(
        &cfg,
        &encoder,
        classifier::ServiceConfig::default(),
        classifier::EncoderConfig::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Err(err) = gateway::spawn(cfg, listener, service).await else {
        panic!("the start is refused");
    };
    assert!(
        err.to_string().contains("experiment.arms[1].artifact"),
        "{err}"
    );
}
