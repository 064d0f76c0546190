//! `switchyard loop` end to end on a small slice: the real binary starts a replay provider and
//! a gateway on loopback, routes 3 rounds of GSM8K prompts (RouteLLM's recorded answers,
//! Apache-2.0) with exploration, posts feedback, refits from the SQLite log, estimates every
//! refit off-policy on held-out requests, and hot-reloads it. Needs the encoder weights
//! (`switchyard model fetch`, which `scripts/test.sh` runs first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{manifest, switchyard, text};
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/routellm-gsm8k";

#[test]
fn three_rounds_learn_log_estimate_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loop");
    let out_s = out.to_str().unwrap();
    let run = switchyard(&[
        "loop",
        "--data",
        FIXTURE,
        "--rounds",
        "3",
        "--per-round",
        "30",
        "--holdout",
        "0.3",
        "--epsilon",
        "0.3",
        "--seed",
        "1",
        "--out",
        out_s,
        "--json",
    ]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "loop failed: {stderr}");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();

    let rounds = report["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 3);
    for (i, r) in rounds.iter().enumerate() {
        assert_eq!(r["round"], i);
        assert_eq!(r["requests"], 30);
        assert_eq!(r["failed"], 0, "{r}");
        assert_eq!(r["held_out"], 9);
        let (q, o, regret) = (
            r["quality"].as_f64().unwrap(),
            r["oracle"].as_f64().unwrap(),
            r["regret"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&q) && q <= o + 1e-12, "{r}");
        assert!((regret - (o - q)).abs() < 1e-9);
        assert!(r["best_single"].as_f64().unwrap() <= o + 1e-12);
        assert!(r["cost"].as_f64().unwrap() > 0.0);
        let shares: f64 = r["shares"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-9, "{r}");
    }
    assert_eq!(rounds[0]["router"], "catalog priors");
    assert_eq!(rounds[1]["router"], "knn refit on rounds 0–0");
    assert_eq!(rounds[2]["router"], "knn refit on rounds 0–1");

    // One check per refit (rounds 1, 2 and the undeployed third), none for the cold start.
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4);
    assert!(checks[0].is_null());
    for c in &checks[1..] {
        let n = c["n"].as_u64().unwrap();
        assert!((1..=9).contains(&n), "{c}");
        let truth = c["truth_quality"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&truth));
        assert!(c["truth_cost"].as_f64().unwrap() > 0.0);
        for est in ["ips", "snips", "dr"] {
            let e = &c["report"]["reward"][est];
            assert_eq!(e["n"].as_u64(), Some(n));
            assert!(e["ci_low"].as_f64().unwrap() <= e["ci_high"].as_f64().unwrap());
        }
        let logged = c["report"]["logged_reward"]["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&logged));
    }

    // Everything the run promises is on disk.
    for f in ["report.md", "report.json", "rounds.svg", "outcomes.sqlite"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    for r in 1..=3 {
        assert!(out.join(format!("router-{r}/manifest.json")).is_file());
    }
    let svg = std::fs::read_to_string(out.join("rounds.svg")).unwrap();
    assert!(svg.contains("regret against the oracle"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| 2 | knn refit on rounds 0–1 | 30 |"), "{md}");

    // The log holds every routed request with its propensity, the constraints the router
    // applied, and the posted score; exploration deviated from the greedy choice sometimes.
    let outcomes = training::from_log::load_outcomes(&out.join("outcomes.sqlite")).unwrap();
    assert_eq!(outcomes.len(), 90);
    let mut explored = 0;
    for o in &outcomes {
        let p = o.propensity.unwrap();
        assert!(p > 0.0 && p <= 1.0);
        let allowed = o.constraints.as_ref().unwrap().candidates.as_ref().unwrap();
        assert_eq!(allowed.len(), 2);
        assert_eq!(o.feedback.len(), 1, "{}", o.request_id);
        let d = o.decision.as_ref().unwrap();
        if d.reason == router_core::DecisionReason::Exploration {
            explored += 1;
            assert!((p - 0.15).abs() < 1e-12, "ε/k for the explored model: {p}");
        }
    }
    assert!(explored > 0 && explored < 45, "{explored} explored choices");

    // The same log gates a candidate from the command line: the exit status is the verdict.
    // The candidate is estimated with the exploration the loop's gateway served with (ε 0.3
    // over the top 2, the defaults), as it would be deployed.
    let db = out.join("outcomes.sqlite");
    let router = out.join("router-3");
    let explored = ["--exploration", "epsilon_greedy", "--epsilon", "0.3"];
    let mut args = vec![
        "eval",
        "--from-log",
        db.to_str().unwrap(),
        "--router",
        router.to_str().unwrap(),
        "--gate",
        "snips",
        "--json",
    ];
    args.extend(explored);
    let eval = switchyard(&args);
    let stderr = text(&eval.stderr);
    let gate = format!(
        "gate (Snips, λ = {})",
        router_core::Objective::default().lambda()
    );
    let verdict = stderr.lines().find(|l| l.contains(&gate));
    let verdict = verdict.unwrap_or_else(|| panic!("no gate verdict: {stderr}"));
    assert_eq!(
        eval.status.success(),
        verdict.ends_with(": pass"),
        "{verdict}"
    );
    let report: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(report["reward"]["snips"]["n"], 90);

    // The same log refits the catalog's per-task priors instead (`--predictor task-priors`):
    // an artifact without weights whose fits say, per model and task, how far the labels moved
    // the prior; the gate evaluates it like any router.
    // `train --from-log` the log into task priors at `out`, with `extra` flags; the manifest.
    let task_priors = |out: &Path, extra: &[&str]| -> Value {
        let mut args = vec!["train", "--from-log", db.to_str().unwrap()];
        args.extend(["--predictor", "task-priors", "--out", out.to_str().unwrap()]);
        args.extend(extra);
        let train = switchyard(&args);
        let stderr = text(&train.stderr);
        assert!(train.status.success(), "{stderr}");
        manifest(out)
    };
    let priors_out = dir.path().join("task-priors");
    let manifest = task_priors(&priors_out, &[]);
    assert_eq!(manifest["kind"], "task_priors", "{manifest}");
    assert_eq!(manifest["models"].as_array().unwrap().len(), 0);
    let fits = manifest["onboarded"].as_array().unwrap();
    assert_eq!(fits.len(), 2, "both routed models have labels: {manifest}");
    for fit in fits {
        let maths = fit["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task"] == "math")
            .unwrap_or_else(|| panic!("GSM8K prompts are maths: {fit}"));
        assert!(maths["probes"].as_u64().unwrap() > 0);
        assert_ne!(maths["estimate"], maths["prior"], "{fit}");
    }
    let mut args = vec![
        "eval",
        "--from-log",
        db.to_str().unwrap(),
        "--router",
        priors_out.to_str().unwrap(),
        "--gate",
        "snips",
    ];
    args.extend(explored);
    let eval = switchyard(&args);
    let stderr = text(&eval.stderr);
    assert!(stderr.contains(&gate), "{stderr}");

    // On top of the bundled artifact (`--warm-start`) the refit keeps it whole: its weights,
    // models and difficulty link. It knows both GSM8K models, so neither gets a fit: a model
    // the artifact was trained on keeps its trained estimates.
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/default-router");
    let layered = task_priors(
        &dir.path().join("layered"),
        &["--warm-start", bundled.to_str().unwrap()],
    );
    let start = common::manifest(&bundled);
    for field in ["kind", "models", "difficulty", "encoder_sha256"] {
        assert_eq!(layered[field], start[field], "{field}");
    }
    assert_eq!(layered["onboarded"], start["onboarded"]);
    assert!(layered["hyperparameters"]["task_priors_refit"].is_object());
}

#[test]
fn too_few_prompts_is_a_clear_error_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loop");
    let run = switchyard(&[
        "loop",
        "--data",
        FIXTURE,
        "--rounds",
        "5",
        "--per-round",
        "100",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("120 prompts") && stderr.contains("--per-round"),
        "{stderr}"
    );
    assert!(!Path::new(&out).join("outcomes.sqlite").exists());
}

#[test]
fn label_share_labels_a_share_of_the_requests_a_refit_may_learn_from() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loop");
    let run = switchyard(&[
        "loop",
        "--data",
        FIXTURE,
        "--rounds",
        "2",
        "--per-round",
        "40",
        "--holdout",
        "0.25",
        "--label-share",
        "0.25",
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let stderr = text(&run.stderr);
    assert!(run.status.success(), "loop failed: {stderr}");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["settings"]["label_share"], 0.25);
    let outcomes = training::from_log::load_outcomes(&out.join("outcomes.sqlite")).unwrap();
    assert_eq!(outcomes.len(), 80);
    // Per round: the 10 held out, always labelled for the check, and a quarter of the other
    // 30 (8, rounded), drawn among those alone.
    for (round, rows) in outcomes.chunks(40).enumerate() {
        let labelled = rows.iter().filter(|o| !o.feedback.is_empty()).count();
        assert_eq!(labelled, 18, "round {round}");
    }
    for check in &report["checks"].as_array().unwrap()[1..] {
        assert_eq!(
            check["n"], 10,
            "every held-out request is labelled: {check}"
        );
    }
    // Each refit learned from those 8 labels of every round so far, and from no held-out
    // request: not this round's, nor an earlier round's.
    for (r, labels) in [(1, 8), (2, 16)] {
        let m = manifest(&out.join(format!("router-{r}")));
        assert_eq!(m["metrics"]["data"]["labelled_cells"], labels, "router-{r}");
    }
    // A share outside [0, 1] is refused before anything starts.
    let bad = switchyard(&[
        "loop",
        "--data",
        FIXTURE,
        "--label-share",
        "1.5",
        "--out",
        "x",
    ]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("--label-share"));
}
