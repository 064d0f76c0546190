//! Issue 12, the semantic response cache, over loopback with the real encoder: a reworded
//! deterministic request is answered from the stored answer (one upstream call, the cosine in
//! the outcome row, `semantic_hit` in the header and the metrics), for a pinned model and for
//! `auto` (which then routes on the same embedding); near misses (a changed number, a reversed
//! conversion, a copy to a place instead of from it), another scope (system prompt) and
//! `no-cache` go upstream; a router reload empties the cache. Skipped, loudly, without the encoder weights (`switchyard model fetch`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gateway::config::GatewayConfig;
use gateway::upstream::ProviderKind;
use gateway::{Config, RunningGateway};
use serde_json::{json, Value};
use testkit::{FakeProvider, Scenario};

use crate::e2e_harness::{header, provider};

const MODEL: &str = "gpt-4o-mini";
const TOKEN_ENV: &str = "SWITCHYARD_SEMANTIC_ADMIN_TOKEN";
const TOKEN: &str = "semantic-admin-5";

struct Semantic {
    fake: FakeProvider,
    gw: RunningGateway,
    client: reqwest::Client,
    dir: tempfile::TempDir,
    fingerprint: String,
}

fn encoder_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.switchyard/encoder/all-MiniLM-L6-v2")
}

/// A gateway with the exact and semantic caches on, the real encoder (no predictor: `auto`
/// routes on priors, the semantic cache still embeds), and an admin token. `None` without
/// the weights.
async fn start() -> Option<Semantic> {
    let weights = encoder_dir();
    if !weights.join("model.safetensors").exists() {
        eprintln!(
            "skipped: no encoder weights in {} (run `switchyard model fetch`)",
            weights.display()
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeProvider::start().await;
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.providers = vec![provider(
        "openai",
        ProviderKind::Openai,
        &fake.openai_base_url(),
    )];
    raw.router.candidates = Some(vec![router_core::ModelId::new(MODEL)]);
    // A debug-build encoder on a busy machine can be slow; these tests are about the cache.
    raw.router.routing_deadline = Duration::from_secs(60);
    raw.cache.enabled = true;
    raw.cache.semantic = true;
    raw.admin.token_env = Some(TOKEN_ENV.to_owned());
    let cfg = Config::resolve(raw, &|k| match k {
        TOKEN_ENV => Some(TOKEN.to_owned()),
        crate::e2e_harness::KEY_ENV => Some(crate::e2e_harness::KEY.to_owned()),
        _ => None,
    })
    .unwrap();
    let encoder = Arc::new(classifier::Encoder::load(&weights, Default::default()).unwrap());
    let service =
        classifier::Service::start(encoder, None, classifier::ServiceConfig::default()).unwrap();
    let fingerprint = service.encoder_fingerprint().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(cfg, listener, Some(service)).await.unwrap();
    Some(Semantic {
        fake,
        gw,
        client: reqwest::Client::new(),
        dir,
        fingerprint,
    })
}

impl Semantic {
    async fn ask(&self, model: &str, system: Option<&str>, prompt: &str) -> reqwest::Response {
        self.ask_with(model, system, prompt, &[]).await
    }

    async fn ask_with(
        &self,
        model: &str,
        system: Option<&str>,
        prompt: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(json!({"role": "system", "content": s}));
        }
        messages.push(json!({"role": "user", "content": prompt}));
        let mut req = self
            .client
            .post(format!(
                "http://{}/v1/chat/completions",
                self.gw.local_addr()
            ))
            .json(&json!({"model": model, "temperature": 0, "messages": messages}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    fn counter(&self, result: &str) -> f64 {
        self.gw
            .metrics()
            .counter_value("switchyard_response_cache_total", &[("result", result)])
    }

    async fn rows(&self) -> Vec<router_core::Outcome> {
        self.gw.wait_idle().await;
        self.gw.outcome_log().flush().await;
        gateway::read_outcomes(self.gw.outcome_log().location()).unwrap()
    }

    async fn stop(self) {
        self.gw.shutdown().await.unwrap();
        self.fake.shutdown().await;
    }
}

async fn text_of(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_reworded_request_is_answered_from_the_stored_answer() {
    let Some(h) = start().await else { return };
    h.fake
        .script(MODEL, [Scenario::reply("use reversed() or .reverse()")]);
    let first = h
        .ask(MODEL, None, "How do I reverse a list in Python?")
        .await;
    assert_eq!(header(&first, "x-switchyard-cache"), "miss");
    let first_id = header(&first, "x-switchyard-request-id").to_owned();
    let answer = text_of(first).await;

    let second = h
        .ask(MODEL, None, "What's the way to reverse a Python list?")
        .await;
    assert_eq!(header(&second, "x-switchyard-cache"), "semantic_hit");
    assert_eq!(header(&second, "x-switchyard-cost-usd"), "0.00000000");
    let second_id = header(&second, "x-switchyard-request-id").to_owned();
    assert_eq!(text_of(second).await, answer);
    assert_eq!(
        h.fake.calls(MODEL),
        1,
        "one upstream call for both phrasings"
    );

    let rows = h.rows().await;
    let hit = rows.iter().find(|r| r.request_id == second_id).unwrap();
    let saved = hit.cache_hit.as_ref().unwrap();
    assert_eq!(saved.source_request_id, first_id);
    let similarity = saved.similarity.unwrap();
    assert!((0.85..=1.0).contains(&similarity), "{similarity}");
    assert_eq!(hit.cost_usd, Some(0.0));
    assert_eq!(h.counter("semantic_hit"), 1.0);
    assert_eq!(h.counter("miss"), 1.0, "the hit is not also counted a miss");
    h.stop().await;
}

#[tokio::test]
async fn near_misses_other_scopes_and_no_cache_go_upstream() {
    let Some(h) = start().await else { return };
    for (stored, asked) in [
        ("What is 17 times 23?", "What is 17 times 24?"),
        (
            "Convert Celsius to Fahrenheit.",
            "Convert Fahrenheit to Celsius.",
        ),
        (
            "What are the advantages of remote work?",
            "What are the disadvantages of remote work?",
        ),
        // The same words but for the preposition, which is no content word.
        ("How do I copy files from S3?", "How do I copy files to S3?"),
        // Review F1: the same numbers and words, but another operator or order.
        ("What is 10 - 3?", "What is 3 - 10?"),
        ("Solve x + 3 = 10", "Solve x - 3 = 10"),
        ("Explain pointers in C++", "Explain pointers in C"),
        ("Is 7 > 5?", "Is 7 < 5?"),
    ] {
        let calls = h.fake.calls(MODEL);
        let a = h.ask(MODEL, None, stored).await;
        assert_eq!(header(&a, "x-switchyard-cache"), "miss", "{stored}");
        let _ = a.bytes().await.unwrap();
        let b = h.ask(MODEL, None, asked).await;
        assert_eq!(header(&b, "x-switchyard-cache"), "miss", "{asked}");
        let _ = b.bytes().await.unwrap();
        assert_eq!(h.fake.calls(MODEL), calls + 2, "{stored} | {asked}");
    }

    // The same question under another system prompt is another scope.
    let question = "How many legs does a spider have?";
    let a = h.ask(MODEL, Some("Answer in French."), question).await;
    let _ = a.bytes().await.unwrap();
    let b = h
        .ask(
            MODEL,
            Some("Answer in German."),
            "How many legs do spiders have?",
        )
        .await;
    assert_eq!(header(&b, "x-switchyard-cache"), "miss");
    let _ = b.bytes().await.unwrap();
    // Same scope: a hit; with `no-cache`, a refresh.
    let c = h.ask(MODEL, Some("Answer in German."), question).await;
    assert_eq!(header(&c, "x-switchyard-cache"), "semantic_hit");
    let _ = c.bytes().await.unwrap();
    let d = h
        .ask_with(
            MODEL,
            Some("Answer in German."),
            "How many legs does a spider have, please?",
            &[("x-switchyard-cache", "no-cache")],
        )
        .await;
    assert_eq!(header(&d, "x-switchyard-cache"), "bypass");
    let _ = d.bytes().await.unwrap();
    assert_eq!(h.counter("semantic_hit"), 1.0);
    h.stop().await;
}

#[tokio::test]
async fn auto_requests_hit_too_and_a_router_reload_empties_the_cache() {
    let Some(h) = start().await else { return };
    let first = h
        .ask("auto", None, "Write a haiku about autumn leaves.")
        .await;
    assert_eq!(header(&first, "x-switchyard-cache"), "miss");
    assert_eq!(header(&first, "x-switchyard-model"), MODEL);
    let _ = first.bytes().await.unwrap();
    let second = h
        .ask("auto", None, "Compose a haiku about leaves in autumn.")
        .await;
    assert_eq!(header(&second, "x-switchyard-cache"), "semantic_hit");
    let _ = second.bytes().await.unwrap();
    // A pinned request never reuses an `auto` answer.
    let pinned = h
        .ask(MODEL, None, "Compose a haiku about leaves in autumn.")
        .await;
    assert_eq!(header(&pinned, "x-switchyard-cache"), "miss");
    let _ = pinned.bytes().await.unwrap();
    let rows = h.rows().await;
    let routed = rows.iter().find(|r| r.cache_hit.is_none()).unwrap();
    assert!(
        routed.decision.is_some(),
        "the miss was routed on the same scores"
    );

    let artifact =
        crate::loop_reload::artifact(h.dir.path(), "new", &[MODEL], MODEL, &h.fingerprint);
    let reloaded = h
        .client
        .post(format!("http://{}/admin/reload", h.gw.local_addr()))
        .bearer_auth(TOKEN)
        .json(&json!({"artifact": artifact}))
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200, "{}", reloaded.text().await.unwrap());
    let after = h
        .ask("auto", None, "Write a haiku about autumn leaves.")
        .await;
    assert_eq!(header(&after, "x-switchyard-cache"), "miss");
    let _ = after.bytes().await.unwrap();
    h.stop().await;
}
