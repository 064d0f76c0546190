//! `[router] exploration`: seeded epsilon-greedy and Thompson sampling over the real server,
//! `/v1/route` and chat, with the propensity of every logged choice.

use std::collections::BTreeMap;

use gateway::config::{GatewayConfig, ProviderConfig};
use gateway::upstream::ProviderKind;
use gateway::{Config, RunningGateway};
use router_core::{DecisionReason, Exploration, ModelId, ProviderId};
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario};

const MODELS: [&str; 3] = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano"];
const KEY_ENV: &str = "SWITCHYARD_LOOP_TEST_KEY";

fn config(dir: &std::path::Path, base_url: &str, seed: u64) -> Config {
    let epsilon_one = Exploration::EpsilonGreedy {
        epsilon: 1.0,
        top_k: 3,
    };
    config_with(dir, base_url, seed, epsilon_one)
}

fn config_with(
    dir: &std::path::Path,
    base_url: &str,
    seed: u64,
    exploration: Exploration,
) -> Config {
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.join("outcomes.sqlite");
    raw.providers = vec![ProviderConfig {
        name: ProviderId::new("openai"),
        kind: ProviderKind::Openai,
        base_url: base_url.to_owned(),
        api_key_env: Some(KEY_ENV.to_owned()),
        prompt_cache: None,
    }];
    raw.router.candidates = Some(MODELS.iter().map(|m| ModelId::new(*m)).collect());
    raw.router.exploration = exploration;
    raw.router.exploration_seed = Some(seed);
    Config::resolve(raw, &|k| (k == KEY_ENV).then(|| "sk-loop".to_owned())).unwrap()
}

async fn start(fake: &FakeProvider, dir: &std::path::Path, seed: u64) -> RunningGateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gateway::spawn(config(dir, &fake.openai_base_url(), seed), listener, None)
        .await
        .unwrap()
}

async fn route_choices(gw: &RunningGateway, n: usize) -> Vec<(String, f64)> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for i in 0..n {
        let v: Value = client
            .post(format!("http://{}/v1/route", gw.local_addr()))
            .json(&json!({"prompt": format!("question {i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.push((
            v["chosen"].as_str().unwrap().to_owned(),
            v["propensity"].as_f64().unwrap(),
        ));
    }
    out
}

/// Sends `n` `auto` chat completions (`"{prefix} {i}"`) and returns their committed outcome rows.
async fn auto_chats(gw: &RunningGateway, n: usize, prefix: &str) -> Vec<router_core::Outcome> {
    let client = reqwest::Client::new();
    for i in 0..n {
        let r = client
            .post(format!("http://{}/v1/chat/completions", gw.local_addr()))
            .json(&json!({
                "model": "auto",
                "messages": [{"role": "user", "content": format!("{prefix} {i}")}]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    gw.wait_idle().await;
    gw.outcome_log().flush().await;
    let rows = gateway::read_outcomes(gw.outcome_log().location()).unwrap();
    assert_eq!(rows.len(), n);
    rows
}

#[tokio::test]
async fn epsilon_one_spreads_route_decisions_with_propensity_one_third() {
    let fake = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), 7).await;
    let choices = route_choices(&gw, 60).await;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (model, p) in &choices {
        *counts.entry(model.as_str()).or_default() += 1;
        assert!((p - 1.0 / 3.0).abs() < 1e-12, "{model}: {p}");
    }
    // Seeded: with 60 uniform draws over 3 models every model comes up.
    assert_eq!(counts.len(), 3, "{counts:?}");

    // The same seed replays the same choices.
    let dir2 = tempfile::tempdir().unwrap();
    let again = start(&fake, dir2.path(), 7).await;
    assert_eq!(route_choices(&again, 60).await, choices);
    gw.shutdown().await.unwrap();
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn chat_outcomes_log_the_explored_model_and_its_propensity() {
    let fake = FakeProvider::start().await;
    for m in MODELS {
        fake.always(m, Scenario::echo());
    }
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&fake, dir.path(), 11).await;
    let rows = auto_chats(&gw, 30, "hello").await;
    let mut served = std::collections::BTreeSet::new();
    let mut explored = 0;
    for row in &rows {
        let decision = row.decision.as_ref().unwrap();
        assert!((row.propensity.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(row.propensity, Some(decision.propensity));
        assert_eq!(row.model.as_ref(), Some(&decision.chosen));
        explored += usize::from(decision.reason == DecisionReason::Exploration);
        served.insert(row.model.clone().unwrap());
    }
    assert!(served.len() >= 2, "{served:?}");
    assert!(explored > 0);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn thompson_logs_the_computed_probability_of_each_choice() {
    let fake = FakeProvider::start().await;
    for m in MODELS {
        fake.always(m, Scenario::echo());
    }
    let dir = tempfile::tempdir().unwrap();
    let exploration = Exploration::Thompson {
        trained_sd: 0.05,
        prior_sd: 0.15,
        top_k: 3,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(
        config_with(dir.path(), &fake.openai_base_url(), 5, exploration),
        listener,
        None,
    )
    .await
    .unwrap();
    let rows = auto_chats(&gw, 40, "summarise item").await;
    let mut served = std::collections::BTreeSet::new();
    for row in &rows {
        let decision = row.decision.as_ref().unwrap();
        // The greedy decision the gateway explored from: the same ranking, its best first.
        let mut greedy = decision.clone();
        greedy.chosen = decision.ranked[0].model.clone();
        greedy.reason = DecisionReason::BestFeasible;
        let expected =
            router_core::exploration::propensity_of(&greedy, &exploration, &decision.chosen);
        let logged = row.propensity.unwrap();
        assert!(
            expected > 0.0 && (logged - expected).abs() < 1e-12,
            "{}: logged {logged}, computed {expected}",
            decision.chosen
        );
        assert_eq!(
            decision.reason == DecisionReason::Exploration,
            decision.chosen != greedy.chosen
        );
        served.insert(row.model.clone().unwrap());
    }
    // No trained predictor: every estimate is a catalog prior, 0.15 wide, so runners-up close
    // to the greedy choice are served too.
    assert!(served.len() >= 2, "{served:?}");
    gw.shutdown().await.unwrap();
}
