//! What every artifact that changes the embedding must survive: `route` (the gateway's loading
//! path) applies its trained estimates, `score` encodes as it was trained, and `loop` starts
//! from it and hot-reloads its refits. For the CLI tests of such artifact options.

use std::path::Path;

use serde_json::Value;

use super::{switchyard, text};

/// A GSM8K question, routed by the artifact under test.
const PROMPT: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?";

/// `train`s a linear predictor without the guard on 160 prompts of `fixture` at 64 tokens into
/// `out` (embeddings cached in `cache`), with the artifact option under test in `extra`.
pub fn train_small(
    fixture: &str,
    cache: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let (cache, out) = (cache.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec!["train", "--data", fixture, "--max-prompts", "160"];
    args.extend(["--max-tokens", "64", "--cache-dir", cache]);
    args.extend(["--predictor", "linear", "--no-guard"]);
    args.extend(extra);
    args.extend(["--out", out]);
    switchyard(&args)
}

/// Runs `route`, `score` (5 prompts of `fixture`) and a two-round `loop` into `looped` with
/// the artifact in `artifact`, asserting each succeeded, the route was `trained` and the loop
/// served its first refit.
pub fn served_as_trained(artifact: &Path, fixture: &str, cache: &Path, looped: &Path) {
    let artifact = artifact.to_str().unwrap();
    // A dimension or fingerprint mismatch would fall back to priors.
    let route = switchyard(&["route", "--artifact", artifact, PROMPT]);
    assert!(
        route.status.success(),
        "route failed: {}",
        text(&route.stderr)
    );
    let routed: Value = serde_json::from_slice(&route.stdout).unwrap();
    assert_eq!(routed["source"], "trained", "{routed}");

    let score = switchyard(&[
        "score",
        "--artifact",
        artifact,
        "--data",
        fixture,
        "--max-prompts",
        "5",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(
        score.status.success(),
        "score failed: {}",
        text(&score.stderr)
    );
    assert_eq!(text(&score.stdout).lines().count(), 5);

    let run = switchyard(&[
        "loop",
        "--data",
        fixture,
        "--start",
        artifact,
        "--rounds",
        "2",
        "--per-round",
        "30",
        "--holdout",
        "0.3",
        "--epsilon",
        "0.3",
        "--seed",
        "1",
        "--out",
        looped.to_str().unwrap(),
        "--json",
    ]);
    assert!(run.status.success(), "loop failed: {}", text(&run.stderr));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["rounds"][1]["router"], "knn refit on rounds 0–0");
}
