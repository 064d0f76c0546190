//! One policy: what the gateway serves (`auto` chat completions and `/v1/route`), what
//! `switchyard route` would print, and what off-policy evaluation (and therefore `switchyard
//! loop`'s gate) re-derives from the outcome log are the same decision with the same
//! propensities, for a pool that mixes models the trained predictor knows, a model its
//! artifact carries an onboarded fit of (`switchyard onboard --live`), and models only the
//! catalog's task priors know, with the artifact's uncertainty-aware tie-break on.
//!
//! A real gateway on loopback routes through the testkit fake provider with ε-greedy
//! exploration; every answer gets feedback; then `training::from_log::ope_steps` rebuilds each
//! logged decision from the prompt with the same predictor, task classifier and exploration.
//! No encoder weights needed: a deterministic hashing embedder stands in for MiniLM on both
//! sides (the seam is `router_core::Embedder`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use classifier::predictors::{TaskClassifier, TaskClassifierFile};
use gateway::config::{GatewayConfig, Privacy, ProviderConfig};
use gateway::upstream::ProviderKind;
use router_core::{
    BoxError, EstimateSource, Exploration, ModelId, Objective, ProviderId, QualityPredictor, Task,
};
use serde_json::{json, Value};
use training::from_log::{bandit_samples, load_outcomes, ope_steps, OpeSetup, SampleConfig};

const DIM: usize = 8;
const KEY_ENV: &str = "SWITCHYARD_ONE_POLICY_KEY";
/// Known to the predictor: the first two. Task priors only: the third. Onboarded: the last.
const POOL: [&str; 4] = ["gpt-4o-mini", "gpt-4o", "gpt-5", "gpt-4.1-mini"];

/// Where each pool model's estimate comes from.
fn expected_source(model: &str) -> EstimateSource {
    match POOL.iter().position(|m| *m == model) {
        Some(0 | 1) => EstimateSource::Trained,
        Some(3) => EstimateSource::Onboarded,
        _ => EstimateSource::TaskPrior,
    }
}

/// Hashes the prompt's first word to one of the first four axes plus a little per-text noise:
/// prompts of one topic land together, as sentence embeddings of similar prompts do.
struct HashEmbedder;

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl router_core::Embedder for HashEmbedder {
    fn dim(&self) -> usize {
        DIM
    }
    fn fingerprint(&self) -> &str {
        "hash8"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        Ok(texts
            .iter()
            .map(|t| {
                let topic = fnv(t.split_whitespace().next().unwrap_or("")) % 4;
                let noise = fnv(t);
                let mut v: Vec<f32> = (0..DIM)
                    .map(|i| ((noise >> (i * 7)) & 0x7f) as f32 / 1270.0)
                    .collect();
                v[topic as usize] += 1.0;
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

/// The artifact: [`knn`] plus an onboarded fit of the last pool model, which the probes found
/// strong at coding and writing.
fn predictor() -> classifier::predictors::Artifact {
    let mut artifact = classifier::predictors::Artifact::from(knn());
    let task = |task, estimate| router_core::OnboardedTask {
        task,
        probes: 20,
        mean_score: estimate,
        prior: 0.7,
        estimate,
        // A posterior spread, as a fit from 20 probes keeps: Thompson sampling explores the
        // model by it, so serving and evaluation must both see it.
        sd: Some(0.06),
        output_tokens: Some(120.0),
    };
    artifact.manifest_mut().onboarded = vec![router_core::OnboardedModel {
        model: ModelId::new(POOL[3]),
        onboarded_at: "2026-12-03T00:00:00Z".into(),
        probe_set_sha256: "test".into(),
        requests: 80,
        errors: 0,
        cost_usd: 0.01,
        // Measured faster than the catalog's prior: the policy must use it everywhere.
        latency: Some(router_core::LatencyPrior {
            ttft_ms: 120.0,
            tokens_per_s: 400.0,
        }),
        tasks: vec![
            task(Task::AdvancedMath, 0.3),
            task(Task::Coding, 0.97),
            task(Task::Classification, 0.6),
            task(Task::Writing, 0.97),
        ],
    }];
    // The uncertainty-aware tie-break (`train --tie-margin`): by the training means gpt-4o is
    // the fixed choice; a prompt leaves it only for a gain above 0.15 (gpt-4.1-mini's on coding
    // and writing prompts is about 0.12).
    let mean = |model: &str, quality| router_core::policy::MeanEstimate {
        model: ModelId::new(model),
        quality,
        output_tokens: 225.0,
    };
    artifact.manifest_mut().tie_break = Some(router_core::policy::TieBreak {
        margin: 0.15,
        means: vec![mean(POOL[0], 0.55), mean(POOL[1], 0.9)],
    });
    artifact
}

/// A trained predictor over the first two pool models: gpt-4o is better on topic axes 0 and 1.
fn knn() -> classifier::predictors::KnnPredictor {
    let emb = HashEmbedder;
    let texts: Vec<String> = (0..80)
        .map(|i| format!("{} sample {i}", ["alpha", "beta", "gamma", "delta"][i % 4]))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let x = router_core::Embedder::embed(&emb, &refs).unwrap();
    let quality = x
        .iter()
        .map(|v| {
            let hard = v[0] > 0.5 || v[1] > 0.5;
            vec![Some(if hard { 0.3 } else { 0.8 }), Some(0.9)]
        })
        .collect();
    let set = classifier::predictors::TrainingSet {
        models: vec![ModelId::new(POOL[0]), ModelId::new(POOL[1])],
        output_tokens: vec![vec![Some(200.0), Some(250.0)]; x.len()],
        x,
        quality,
        tasks: Vec::new(),
    };
    training::fit_knn(&set, &training::KnnConfig { k: 5 }, None).unwrap()
}

/// A task classifier on the hashing embedder's axes: axis 0 advanced maths, 1 coding, 2
/// classification, 3 writing.
fn tasks() -> TaskClassifier {
    let classes = [
        Task::AdvancedMath,
        Task::Coding,
        Task::Classification,
        Task::Writing,
    ];
    let weights = (0..4)
        .map(|c| (0..DIM).map(|i| if i == c { 6.0 } else { 0.0 }).collect())
        .collect();
    let file = TaskClassifierFile::fitted(
        "hash8".into(),
        128,
        classes.to_vec(),
        weights,
        vec![0.0; 4],
        1.0,
        json!({}),
        json!({}),
    );
    TaskClassifier::from_file(file, std::path::Path::new("<test>")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_and_off_policy_evaluation_make_the_same_decisions() {
    same_decisions(Exploration::EpsilonGreedy {
        epsilon: 0.5,
        top_k: 3,
    })
    .await;
    // Thompson sampling's propensities depend on every candidate's utility, source and
    // spread, so they agree only if both sides assemble the candidates identically.
    same_decisions(Exploration::Thompson {
        trained_sd: 0.05,
        prior_sd: 0.1,
        top_k: 3,
    })
    .await;
}

async fn same_decisions(exploration: Exploration) {
    let fake = testkit::FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let objective = Objective::Utility { lambda: 20.0 };
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    // Off-policy evaluation re-embeds the logged prompt.
    raw.log.privacy = Privacy::Full;
    raw.providers = vec![ProviderConfig {
        name: ProviderId::new("openai"),
        kind: ProviderKind::Openai,
        base_url: fake.openai_base_url(),
        api_key_env: Some(KEY_ENV.to_owned()),
        prompt_cache: None,
    }];
    raw.router.candidates = Some(POOL.iter().map(|m| ModelId::new(*m)).collect());
    raw.router.exploration = exploration;
    raw.router.exploration_seed = Some(7);
    raw.router.lambda = Some(objective.lambda());
    raw.router.routing_deadline = std::time::Duration::from_secs(30);
    let config =
        gateway::Config::resolve(raw, &|k| (k == KEY_ENV).then(|| "k".to_owned())).unwrap();
    let catalog = config.catalog.clone();

    let predictor = Arc::new(predictor());
    let task_classifier = Arc::new(tasks());
    let service = classifier::Service::start(
        Arc::new(HashEmbedder),
        Some(predictor.clone() as Arc<dyn QualityPredictor>),
        classifier::ServiceConfig::default(),
    )
    .unwrap();
    service.set_task_classifier(Some(task_classifier.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, Some(service))
        .await
        .unwrap();
    let base = format!("http://{}", gw.local_addr());
    let http = reqwest::Client::new();

    let route = |prompt: &'static str| {
        let request = http
            .post(format!("{base}/v1/route"))
            .json(&json!({ "prompt": prompt }));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // /v1/route says, per candidate, where its estimate came from; never "trained" overall.
    let routed = route("alpha prove the conjecture").await;
    assert_eq!(routed["source"], "mixed", "{routed}");
    assert_eq!(routed["routing"], "learned", "{routed}");
    // The hashing embedder puts each topic on one axis: the classifier is sure of its task.
    let top = routed["tasks"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(top > 0.9, "{routed}");
    for c in routed["candidates"].as_array().unwrap() {
        let want = expected_source(c["model"].as_str().unwrap()).as_str();
        assert_eq!(c["source"], want, "{c}");
        // Only the onboarded model's estimate has a measured spread: its fitted tasks'
        // posterior, over the share of the prompt they cover.
        if want == "onboarded" {
            assert!(c["spread"]["sd"].as_f64().unwrap() > 0.0, "{c}");
            assert!(c["spread"]["measured"].as_f64().unwrap() > 0.0, "{c}");
        } else {
            assert!(c.get("spread").is_none(), "{c}");
        }
    }
    // A coding prompt: gpt-4.1-mini's onboarded score beats gpt-4o by less than the margin,
    // and /v1/route says the tie-break kept the fixed choice.
    let coding = route("beta write the parser").await;
    assert_eq!(coding["tie_break"]["fixed"], POOL[1], "{coding}");
    assert_eq!(coding["tie_break"]["preferred"], POOL[3], "{coding}");
    if coding["reason"] != "exploration" {
        assert_eq!(coding["chosen"], POOL[1], "{coding}");
        assert_eq!(coding["failover_order"][0], POOL[1], "{coding}");
    }

    let topics = ["alpha", "beta", "gamma", "delta"];
    let mut ids = Vec::new();
    for i in 0..60 {
        let text = format!("{} request {i}", topics[i % 4]);
        let resp = http
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({"model": "auto", "messages": [{"role": "user", "content": text}]}))
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

    // Every logged candidate says where its estimate came from.
    let logged: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.decision.as_ref())
        .collect();
    assert!(logged.len() >= 60);
    for d in &logged {
        for c in &d.ranked {
            assert_eq!(c.source, Some(expected_source(c.model.as_str())));
            let onboarded = expected_source(c.model.as_str()) == EstimateSource::Onboarded;
            assert_eq!(c.spread.is_some(), onboarded, "{c:?}");
        }
        assert!(d.tasks.is_some());
    }
    // The tie-break kept some prompts with the fixed choice: the comparison below covers it.
    let kept = logged.iter().filter(|d| d.tie_break.is_some()).count();
    assert!(
        kept > 0 && kept < logged.len(),
        "{kept} of {}",
        logged.len()
    );

    let (samples, skipped) = bandit_samples(&outcomes, &SampleConfig::default());
    assert_eq!(samples.len(), 60, "{skipped}");
    let entries: Vec<models::CatalogEntry> = POOL
        .iter()
        .map(|m| catalog.get(&ModelId::new(*m)).unwrap().clone())
        .collect();
    let setup = OpeSetup {
        catalog: &entries,
        candidate: predictor.as_ref(),
        tasks: Some(&task_classifier),
        reward_model: training::from_log::RewardModel::Candidate,
        constraints: &router_core::Constraints::default(),
        objective,
        exploration: &exploration,
        anchor_catalog: Some(&catalog),
    };
    let log = ope_steps(&samples, &HashEmbedder, &setup).unwrap();
    assert_eq!(log.steps.len(), 60, "{:?}", log.skipped);
    let mut explored = 0;
    let mut served_by = std::collections::BTreeSet::new();
    for (step, id) in log.steps.iter().zip(&log.request_ids) {
        let o = outcomes.iter().find(|o| &o.request_id == id).unwrap();
        let d = o.decision.as_ref().unwrap();
        // Same propensity for the served model, and the same greedy choice.
        let evaluated = step.target_probs[step.logged_action];
        assert!(
            (evaluated - d.propensity).abs() < 1e-12,
            "{id}: served with propensity {}, evaluated {evaluated}",
            d.propensity
        );
        let greedy = step
            .target_probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(a, _)| log.actions[a].clone())
            .unwrap();
        assert_eq!(greedy, d.ranked[0].model, "{id}");
        explored += usize::from(d.reason == router_core::DecisionReason::Exploration);
        served_by.insert(d.chosen.clone());
    }
    // The comparison covered explored decisions and prior-only models, not just one path.
    assert!(explored > 5, "{explored}");
    assert!(served_by.iter().any(|m| !POOL[..2].contains(&m.as_str())));
    assert!(served_by.contains(&ModelId::new(POOL[3])), "{served_by:?}");
}

/// An artifact the guard turned into the fixed policy: `/v1/route` says so, and every prompt
/// gets the same estimates whatever its topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_shows_when_the_artifact_routes_as_the_fixed_policy() {
    let emb = HashEmbedder;
    let texts: Vec<String> = (0..40)
        .map(|i| format!("{} sample {i}", ["alpha", "beta"][i % 2]))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let x = router_core::Embedder::embed(&emb, &refs).unwrap();
    let set = classifier::predictors::TrainingSet {
        models: vec![ModelId::new(POOL[0]), ModelId::new(POOL[1])],
        output_tokens: vec![vec![Some(200.0), Some(250.0)]; x.len()],
        quality: (0..x.len())
            .map(|i| vec![Some(if i % 2 == 0 { 0.2 } else { 0.9 }), Some(0.8)])
            .collect(),
        x,
        tasks: Vec::new(),
    };
    let artifact = training::experiment::fixed_policy_artifact(&set).unwrap();
    let mut raw = GatewayConfig::default();
    let dir = tempfile::tempdir().unwrap();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.router.candidates = Some(POOL[..2].iter().map(|m| ModelId::new(*m)).collect());
    let config = gateway::Config::resolve(raw, &|_| None).unwrap();
    let service = classifier::Service::start(
        Arc::new(HashEmbedder),
        Some(Arc::new(artifact) as Arc<dyn QualityPredictor>),
        classifier::ServiceConfig::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, Some(service))
        .await
        .unwrap();
    let base = format!("http://{}", gw.local_addr());
    let http = reqwest::Client::new();
    let mut qualities = Vec::new();
    for prompt in ["alpha prove it", "beta write it"] {
        let routed: Value = http
            .post(format!("{base}/v1/route"))
            .json(&json!({"prompt": prompt}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(routed["routing"], "fixed_policy", "{routed}");
        let q: Vec<Value> = routed["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["quality"].clone())
            .collect();
        qualities.push(q);
    }
    assert_eq!(qualities[0], qualities[1]);
}
