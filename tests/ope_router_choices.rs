//! Which logged requests off-policy evaluation reads as the router's own draws, on rows a real
//! gateway wrote: an `auto` request, an `auto` request a restricting rule narrowed (both
//! decided by the router), a request naming its model, and an `auto` request a rule pinned
//! (neither decided by the router, though the gateway logs both with a decision at propensity
//! 1). Only the first two may enter IPS, SNIPS, DR and the gate's logged mean; all four stay
//! training samples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use gateway::config::{
    GatewayConfig, MatchConfig, Privacy, ProviderConfig, RuleConfig, WhenConfig,
};
use gateway::upstream::ProviderKind;
use router_core::{BoxError, ModelEstimate, ModelId, ProviderId, QualityPredictor};
use serde_json::json;
use training::from_log::{bandit_samples, load_outcomes, ope_steps, OpeSetup, SampleConfig};

const KEY_ENV: &str = "SWITCHYARD_OPE_ROUTER_CHOICES_KEY";
const POOL: [&str; 2] = ["gpt-4o-mini", "gpt-4o"];

/// Every prompt on one axis: the candidate below knows no model, so only the priors matter.
struct Flat;

impl router_core::Embedder for Flat {
    fn dim(&self) -> usize {
        2
    }
    fn fingerprint(&self) -> &str {
        "flat2"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
    }
}

/// A candidate that knows no model: it routes on the catalog's priors, as the gateway did.
struct PriorsOnly;

impl QualityPredictor for PriorsOnly {
    fn models(&self) -> &[ModelId] {
        &[]
    }
    fn predict(&self, _embedding: &[f32]) -> Vec<ModelEstimate> {
        Vec::new()
    }
}

fn user_rule(name: &str, user: &str) -> RuleConfig {
    RuleConfig {
        name: Some(name.to_owned()),
        when: WhenConfig {
            user: Some(MatchConfig {
                equals: Some(user.to_owned()),
                glob: None,
                regex: None,
            }),
            ..WhenConfig::default()
        },
        pin: None,
        allow: None,
        deny: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requests_the_router_decided_are_its_draws() {
    let fake = testkit::FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.log.privacy = Privacy::Full;
    raw.providers = vec![ProviderConfig {
        name: ProviderId::new("openai"),
        kind: ProviderKind::Openai,
        base_url: fake.openai_base_url(),
        api_key_env: Some(KEY_ENV.to_owned()),
        prompt_cache: None,
    }];
    raw.router.candidates = Some(POOL.iter().map(|m| ModelId::new(*m)).collect());
    raw.rules = vec![
        RuleConfig {
            pin: Some(ModelId::new("gpt-4o")),
            ..user_rule("research", "researcher")
        },
        RuleConfig {
            deny: Some(vec![ModelId::new("gpt-4o")]),
            ..user_rule("frugal", "intern")
        },
    ];
    let config =
        gateway::Config::resolve(raw, &|k| (k == KEY_ENV).then(|| "k".to_owned())).unwrap();
    let catalog = config.catalog.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, None).await.unwrap();
    let base = format!("http://{}", gw.local_addr());
    let http = reqwest::Client::new();

    let mut ids = Vec::new();
    for (model, user) in [
        ("auto", "anyone"),
        ("auto", "intern"),
        ("gpt-4o", "anyone"),
        ("auto", "researcher"),
    ] {
        let text = format!("a question from {user} for {model}");
        let resp = http
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({"model": model, "user": user,
                          "messages": [{"role": "user", "content": text}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["x-switchyard-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let _ = resp.bytes().await;
        let fb = http
            .post(format!("{base}/v1/feedback"))
            .json(&json!({"request_id": id, "metric": "correct", "score": 1.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(fb.status(), 202);
        ids.push(id);
    }
    gw.outcome_log().flush().await;
    let outcomes = load_outcomes(&dir.path().join("outcomes.sqlite")).unwrap();
    gw.shutdown().await.unwrap();

    // The gateway logs a decision for every one of them.
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(|o| o.decision.is_some()));
    let (samples, skipped) = bandit_samples(&outcomes, &SampleConfig::default());
    assert_eq!(samples.len(), 4, "{skipped}");
    let decided: Vec<bool> = ids
        .iter()
        .map(|id| {
            samples
                .iter()
                .find(|s| &s.request_id == id)
                .unwrap()
                .is_on_router_choice()
        })
        .collect();
    assert_eq!(decided, [true, true, false, false]);

    let entries: Vec<models::CatalogEntry> = POOL
        .iter()
        .map(|m| catalog.get(&ModelId::new(*m)).unwrap().clone())
        .collect();
    let setup = OpeSetup {
        catalog: &entries,
        candidate: &PriorsOnly,
        tasks: None,
        reward_model: training::from_log::RewardModel::Candidate,
        constraints: &router_core::Constraints::default(),
        objective: router_core::Objective::default(),
        exploration: &router_core::Exploration::Off,
        anchor_catalog: None,
    };
    let log = ope_steps(&samples, &Flat, &setup).unwrap();
    assert_eq!(log.request_ids, ids[..2].to_vec(), "{}", log.skipped);
    assert_eq!(log.skipped.not_router_choice, 2);
    // The narrowed request is re-routed under the rule's restriction it logged.
    assert_eq!(log.steps[1].target_probs, vec![1.0, 0.0]);
}
