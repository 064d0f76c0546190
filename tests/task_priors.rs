//! Issue 14's target, with the default install: the bundled router artifact (which knows none
//! of these models), the bundled task classifier, the embedded catalog's task priors (an item
//! response fit over cited results, docs/task-priors.md) and the real encoder. Candidates
//! gpt-4o-mini, gpt-4o, gpt-5, claude-haiku-4.5 and claude-sonnet-4.5; three prompts: a
//! sentiment label, an open research-level maths question and a hard coding task. The gateway
//! runs on loopback without providers, so `/v1/route` decides over the candidates offline.
//!
//! What the honest priors and the default trade-off (0.20 USD per quality point, λ = 5)
//! support, and what this test asserts (measured numbers in docs/task-priors.md):
//! - every prompt gets its own task distribution and prompt-dependent estimates, each marked
//!   `task_prior`, and the decision never claims to be trained;
//! - a reasoning model's predicted completion length follows the task (gpt-5: about 1,950
//!   tokens on the maths prompt, 850 on the label's mixed distribution), so its predicted cost
//!   does too, while a model without per-task measurements keeps one length;
//! - at the default λ both hard prompts go to a stronger model (gpt-5: 0.30 and 0.17 above
//!   claude-haiku-4.5 for 1.7 and 0.9 cents more);
//! - the sentiment label does *not* go to a light model at the default λ. The classifier is
//!   unsure of it (classification 0.38, knowledge 0.22, writing 0.22, reasoning 0.10), and over
//!   that mix the priors put gpt-5 0.20 above gpt-4o-mini and 0.09 above claude-haiku-4.5 for
//!   0.8 cents: a light model wins only above λ ≈ 14.5, while the hard prompts go to gpt-5 only
//!   below λ ≈ 17 (maths) and 18.6 (coding). Only λ in (14.5, 17), i.e. 0.06 to 0.07 USD per
//!   quality point, meets the issue's whole statement; the default was not set to land there
//!   (its rationale: docs/task-priors.md, "The default trade-off"). The test prints the ranges.
//!   A caller who caps the cost gets the light model, which the test checks.
//!
//! Needs the encoder weights (`switchyard model fetch`; `scripts/test.sh` fetches them): skipped
//! with a note otherwise, as the other weight-dependent tests are.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use gateway::config::GatewayConfig;
use router_core::ModelId;
use serde_json::{json, Value};

const CANDIDATES: [&str; 5] = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-5",
    "claude-haiku-4.5",
    "claude-sonnet-4.5",
];
const LIGHT: [&str; 2] = ["gpt-4o-mini", "claude-haiku-4.5"];
const STRONG: [&str; 3] = ["gpt-4o", "gpt-5", "claude-sonnet-4.5"];

const SENTIMENT: &str = "Label the sentiment of: 'I loved this film'";
const MATHS: &str = "Is there an odd perfect number? Prove or disprove, or give the strongest \
                     partial result you can, with a rigorous argument.";
const CODING: &str = "Implement a lock-free multi-producer multi-consumer queue in Rust with \
                      epoch-based memory reclamation, and prove it is linearizable.";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn route(
    http: &reqwest::Client,
    base: &str,
    prompt: &str,
    headers: &[(&str, &str)],
) -> Value {
    let mut req = http
        .post(format!("{base}/v1/route"))
        .json(&json!({ "prompt": prompt }));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// A numeric field of one candidate of a `/v1/route` answer.
fn field(decision: &Value, model: &str, name: &str) -> f64 {
    decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .and_then(|c| c[name].as_f64())
        .unwrap_or_else(|| panic!("{model}.{name} in {decision}"))
}

/// The λ (quality points per USD, on a log grid from 0.01 to 10^4) at which the utility
/// `quality − λ·cost` of the candidates' estimates is highest for a model of `set`, as
/// `(from, to)` ranges: what the doc comment's thresholds are read from.
fn lambda_ranges(decision: &Value, set: &[&str]) -> Vec<(f64, f64)> {
    let cands: Vec<(String, f64, f64)> = decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["model"].as_str().unwrap().to_owned(),
                c["quality"].as_f64().unwrap(),
                c["cost_usd"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut open: Option<f64> = None;
    let mut last = 0.0;
    for k in 0..=600 {
        let lambda = 10f64.powf(-2.0 + f64::from(k) / 100.0);
        let best = cands
            .iter()
            .max_by(|a, b| (a.1 - lambda * a.2).total_cmp(&(b.1 - lambda * b.2)))
            .unwrap();
        let inside = set.contains(&best.0.as_str());
        match (inside, open) {
            (true, None) => open = Some(lambda),
            (false, Some(from)) => {
                out.push((from, last));
                open = None;
            }
            _ => {}
        }
        last = lambda;
    }
    if let Some(from) = open {
        out.push((from, last));
    }
    out
}

fn top_task(decision: &Value) -> String {
    decision["tasks"]
        .as_object()
        .unwrap()
        .iter()
        .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
        .map(|(t, _)| t.clone())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_current_models_get_prompt_dependent_task_priors() {
    let encoder_dir = repo().join(".switchyard/encoder/all-MiniLM-L6-v2");
    if !encoder_dir.join("model.safetensors").exists() {
        eprintln!(
            "skipped: no encoder weights in {} (run `switchyard model fetch`)",
            encoder_dir.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut raw = GatewayConfig::default();
    raw.log.sqlite = dir.path().join("outcomes.sqlite");
    raw.router.artifact = Some(repo().join("artifacts/default-router"));
    raw.router.candidates = Some(CANDIDATES.iter().map(|m| ModelId::new(*m)).collect());
    // Offline, on a loaded CI machine: give the encoder all the time it needs.
    raw.router.routing_deadline = std::time::Duration::from_secs(60);
    let config = gateway::Config::resolve(raw, &|_| None).unwrap();
    let service = gateway::server::load_classifier(
        &config,
        &encoder_dir,
        classifier::ServiceConfig::default(),
        classifier::EncoderConfig::default(),
    )
    .unwrap()
    .expect("the encoder service starts");
    assert!(
        service.task_classifier().is_some(),
        "bundled task classifier"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway::spawn(config, listener, Some(service))
        .await
        .unwrap();
    let base = format!("http://{}", gw.local_addr());
    let http = reqwest::Client::new();

    let sentiment = route(&http, &base, SENTIMENT, &[]).await;
    let maths = route(&http, &base, MATHS, &[]).await;
    let coding = route(&http, &base, CODING, &[]).await;

    for d in [&sentiment, &maths, &coding] {
        assert_eq!(d["offline"], true, "{d}");
        assert_eq!(d["source"], "priors", "no candidate is trained: {d}");
        for c in d["candidates"].as_array().unwrap() {
            assert_eq!(c["source"], "task_prior", "{c}");
        }
    }
    // The classifier tells the three apart.
    assert_eq!(top_task(&maths), "advanced_math", "{maths}");
    assert_eq!(top_task(&coding), "coding", "{coding}");
    assert_eq!(top_task(&sentiment), "classification", "{sentiment}");
    // Prompt-dependent estimates: the light model's estimate moves with the task. (The
    // bundled artifact's difficulty shift moves every prior of a prompt together, so the gap
    // also depends on the artifact: 0.125 with the MF artifact, 0.048 with the stack.)
    let mini = |d: &Value| field(d, "gpt-4o-mini", "quality");
    assert!(
        mini(&sentiment) - mini(&maths) > 0.03,
        "{sentiment}\n{maths}"
    );
    assert!(
        field(&maths, "gpt-5", "quality") - mini(&maths)
            > field(&sentiment, "gpt-5", "quality") - mini(&sentiment),
        "the gap to the strongest model grows on research maths"
    );
    // Predicted completion length (and so cost) follows the task for a reasoning model, and
    // not for a model without per-task measurements.
    let tokens = |d: &Value, m: &str| field(d, m, "output_tokens");
    assert!(
        tokens(&maths, "gpt-5") > 2.0 * tokens(&sentiment, "gpt-5"),
        "{maths}\n{sentiment}"
    );
    assert!(tokens(&maths, "gpt-5") > 1500.0, "{maths}");
    assert_eq!(
        tokens(&maths, "claude-haiku-4.5"),
        tokens(&sentiment, "claude-haiku-4.5")
    );

    // Default λ: the hard prompts go to a stronger model.
    let chosen = |d: &Value| d["chosen"].as_str().unwrap().to_owned();
    for d in [&maths, &coding] {
        assert!(STRONG.contains(&chosen(d).as_str()), "{d}");
    }
    for (name, d) in [
        ("label", &sentiment),
        ("maths", &maths),
        ("coding", &coding),
    ] {
        for m in CANDIDATES {
            eprintln!(
                "{name}: {m}: quality {:.3}, output tokens {:.0}, cost {:.5} USD",
                field(d, m, "quality"),
                field(d, m, "output_tokens"),
                field(d, m, "cost_usd")
            );
        }
        eprintln!("{name}: tasks {}", d["tasks"]);
        // The bundled artifact carries a difficulty link: its anchors' estimates shift the
        // priors of the models it does not know, and the decision says by how much.
        let shift = d["difficulty"].as_f64().unwrap_or(f64::NAN);
        assert!(shift.is_finite() && shift.abs() <= 4.0, "{d}");
        eprintln!("{name}: difficulty shift {shift:+.3} logits");
        eprintln!(
            "{name}: chosen {} at the default λ; light model wins for λ in {:?}, strong for λ in {:?}",
            chosen(d),
            lambda_ranges(d, &LIGHT),
            lambda_ranges(d, &STRONG)
        );
    }
    // A caller who caps the cost gets a light model for the label (and the cap is met).
    let capped = route(
        &http,
        &base,
        SENTIMENT,
        &[("x-switchyard-max-cost-usd", "0.001")],
    )
    .await;
    assert!(LIGHT.contains(&chosen(&capped).as_str()), "{capped}");
    assert!(
        field(&capped, &chosen(&capped), "cost_usd") <= 0.001,
        "{capped}"
    );
    gw.shutdown().await.unwrap();
}
