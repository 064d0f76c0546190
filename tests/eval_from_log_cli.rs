//! `switchyard eval --from-log --router`, through the real binary: the candidate is encoded as
//! it was trained (not with `--max-tokens`), estimated with the exploration the gateway would
//! deploy it with, and gated on each request's utility at the trade-off it was routed under.
//! A router evaluated on the log it wrote itself is the check: its estimate must be exactly
//! what it realised. Needs the encoder weights (`switchyard model fetch`, which
//! `scripts/test.sh` runs first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{switchyard, text};
use router_core::{
    Constraints, DecisionReason, Feedback, ModelId, Objective, Outcome, PromptRecord, RouteDecision,
};
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/routellm-gsm8k";

/// A kNN router trained on the fixture with a 16-token budget: every GSM8K prompt is longer,
/// so encoding it with any other budget changes what the router sees.
fn short_budget_router(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("knn16");
    let run = switchyard(&[
        "train",
        "--data",
        FIXTURE,
        "--max-tokens",
        "16",
        "--predictor",
        "knn",
        "--no-guard",
        "--cache-dir",
        dir.join("cache").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    out
}

/// One round of the fixture's traffic served by `router` through `switchyard loop`'s gateway
/// with `exploration` flags; the outcome log.
fn log_of(router: &Path, out: &Path, per_round: &str, exploration: &[&str]) -> std::path::PathBuf {
    let mut args = vec![
        "loop",
        "--data",
        FIXTURE,
        "--start",
        router.to_str().unwrap(),
        "--rounds",
        "1",
        "--per-round",
        per_round,
        "--holdout",
        "0.25",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(exploration);
    let run = switchyard(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    out.join("outcomes.sqlite")
}

fn eval(db: &Path, router: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "eval",
        "--from-log",
        db.to_str().unwrap(),
        "--router",
        router.to_str().unwrap(),
    ];
    args.extend(extra);
    switchyard(&args)
}

#[test]
fn the_candidate_is_encoded_as_it_was_trained() {
    let dir = tempfile::tempdir().unwrap();
    let router = short_budget_router(dir.path());
    let db = log_of(
        &router,
        &dir.path().join("off"),
        "60",
        &["--exploration", "off"],
    );
    // Default flags: --max-tokens 256 must not apply to an artifact trained with 16.
    let out = eval(&db, &router, &["--json"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("was trained: 16 tokens (not --max-tokens 256)"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The router on its own deterministic log: it makes every logged choice again, so IPS
    // is exactly the logged mean on all 60 requests.
    let ips = &report["reward"]["ips"];
    let logged = report["logged_reward"]["value"].as_f64().unwrap();
    assert_eq!(ips["n"], 60, "{report}");
    assert_eq!(
        ips["effective_sample_size"].as_f64(),
        Some(60.0),
        "{report}"
    );
    assert!(
        (ips["value"].as_f64().unwrap() - logged).abs() < 1e-9,
        "{report}"
    );
}

#[test]
fn the_candidate_is_estimated_with_the_gateways_exploration() {
    let dir = tempfile::tempdir().unwrap();
    let router = short_budget_router(dir.path());
    let exploring = [
        "--exploration",
        "epsilon_greedy",
        "--epsilon",
        "0.5",
        "--top-k",
        "2",
    ];
    let db = log_of(&router, &dir.path().join("explored"), "100", &exploring);

    // The log explored: the gateway's exploration must be named.
    let refused = eval(&db, &router, &["--gate", "snips"]);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(
        err.contains("the logging router explored") && err.contains("--exploration"),
        "{err}"
    );

    // Estimated as it would be deployed, the logging router is exactly what it realised: no
    // gain over itself, so the gate holds it back.
    let mut args = vec!["--gate", "snips", "--json"];
    args.extend(exploring);
    let out = eval(&db, &router, &args);
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success(),
        "the gate passed the logging router: {stderr}"
    );
    assert!(stderr.contains("not shown better"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let snips = &report["reward"]["snips"];
    let logged = report["logged_reward"]["value"].as_f64().unwrap();
    assert_eq!(snips["n"], 100, "{report}");
    assert!(
        (snips["effective_sample_size"].as_f64().unwrap() - 100.0).abs() < 1e-6,
        "{report}"
    );
    assert!(
        (snips["value"].as_f64().unwrap() - logged).abs() < 1e-9,
        "{report}"
    );
}

/// `n` `auto` requests over gpt-4o and gpt-4o-mini routed at λ = `lambda` by an ε-greedy
/// router (ε = 0.5 over both) whose greedy choice is the mini: every fourth request explored
/// gpt-4o. gpt-4o answers right (1.0) with 1,000 output tokens; the mini scores 0.7 for a
/// twentieth of the cost.
fn cheap_router_log(n: usize, lambda: f64) -> Vec<Outcome> {
    let pool = vec![ModelId::new("gpt-4o"), ModelId::new("gpt-4o-mini")];
    (0..n)
        .map(|i| {
            let explored = i % 4 == 0;
            let (model, score, cost, propensity) = if explored {
                ("gpt-4o", 1.0, 0.0101, 0.25)
            } else {
                ("gpt-4o-mini", 0.7, 0.000606, 0.75)
            };
            Outcome {
                prompt: PromptRecord::Full {
                    text: format!("logged question number {i}: what is {i} plus {i}?"),
                },
                decision: Some(RouteDecision {
                    chosen: ModelId::new(model),
                    ranked: Vec::new(),
                    reason: if explored {
                        DecisionReason::Exploration
                    } else {
                        DecisionReason::BestFeasible
                    },
                    propensity,
                    tasks: None,
                    difficulty: None,
                    routing: None,
                    tie_break: None,
                    input_tokens: Some(40),
                }),
                constraints: Some(Constraints {
                    candidates: Some(pool.clone()),
                    ..Constraints::default()
                }),
                objective: Some(Objective::Utility { lambda }),
                propensity: Some(propensity),
                input_tokens: Some(40),
                output_tokens: Some(1000),
                cost_usd: Some(cost),
                feedback: vec![Feedback::human("correct", score)],
                latency_ms: 10.0,
                ..Outcome::answered(format!("r{i}"), 1_700_000_000_000 + i as u64, model)
            }
        })
        .collect()
}

/// A router that always prefers gpt-4o: trained on prompts gpt-4o always solves and the mini
/// never does, so it buys gpt-4o's quality at any price it predicts.
fn quality_router(dir: &Path) -> std::path::PathBuf {
    let bench = dir.join("bench.jsonl");
    let mut rows = vec![
        r#"{"switchyard_outcomes":1,"source":"quality-bench","models":["gpt-4o","gpt-4o-mini"]}"#
            .to_owned(),
    ];
    for i in 0..24 {
        rows.push(format!(
            r#"{{"id":"b{i}","text":"benchmark question {i}: what is {i} times {i}?","cells":{{"gpt-4o":{{"score":1.0,"cost_usd":0.002}},"gpt-4o-mini":{{"score":0.0,"cost_usd":0.0001}}}}}}"#
        ));
    }
    std::fs::write(&bench, rows.join("\n") + "\n").unwrap();
    let out = dir.join("quality");
    let run = switchyard(&[
        "train",
        "--data",
        bench.to_str().unwrap(),
        "--max-tokens",
        "64",
        "--predictor",
        "knn",
        "--no-guard",
        "--cache-dir",
        dir.join("cache").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    out
}

#[test]
fn the_gate_scores_each_request_at_the_lambda_it_was_routed_under() {
    let dir = tempfile::tempdir().unwrap();
    let router = quality_router(dir.path());
    let exploring = [
        "--gate",
        "snips",
        "--exploration",
        "epsilon_greedy",
        "--epsilon",
        "0.5",
        "--top-k",
        "2",
    ];
    let write = |name: &str, lambda: f64| {
        let path = dir.path().join(name);
        let lines: Vec<String> = cheap_router_log(200, lambda)
            .iter()
            .map(|o| serde_json::to_string(o).unwrap())
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    // Routed at λ = 5, gpt-4o's extra 0.3 quality is worth its cost: the candidate, which
    // prefers it, is better than the logging router and passes (0.886 against 0.760).
    let at_5 = eval(&write("at5.jsonl", 5.0), &router, &exploring);
    let stderr = text(&at_5.stderr);
    assert!(at_5.status.success(), "{stderr}");
    assert!(
        stderr.contains("gate (Snips, λ = 5)") && stderr.contains(": pass"),
        "{stderr}"
    );
    // Routed at λ = 100 (a cent per quality point), the same choices cost more than they
    // gain (0.152 against 0.477): the gate judges the trade-off the requests were routed
    // under, not the default one, and refuses.
    let at_100 = eval(&write("at100.jsonl", 100.0), &router, &exploring);
    let stderr = text(&at_100.stderr);
    assert!(!at_100.status.success(), "passed at λ = 100: {stderr}");
    assert!(
        stderr.contains("gate (Snips, λ = 100)") && stderr.contains("not shown better"),
        "{stderr}"
    );
}
