//! The uncertainty-aware tie-break through the real binary: `train --tie-margin` writes the
//! training means and the margin into the artifact, `route` (the gateway's loading path)
//! applies them, and bad margins or a tampered manifest are refused with the field and the
//! fix named. Needs the encoder weights (`switchyard model fetch`, which `scripts/test.sh`
//! runs first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{switchyard, text};
use serde_json::Value;

const FIXTURE: &str = "tests/fixtures/routellm-gsm8k";

fn train(out: &str, cache: &str, margin: &str) -> std::process::Output {
    switchyard(&[
        "train",
        "--data",
        FIXTURE,
        "--max-prompts",
        "120",
        "--max-tokens",
        "64",
        "--cache-dir",
        cache,
        "--predictor",
        "linear",
        "--no-guard",
        "--tie-margin",
        margin,
        "--out",
        out,
    ])
}

#[test]
fn the_artifact_carries_the_tie_break_and_route_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tied");
    let out_s = out.to_str().unwrap();
    let cache = dir.path().join("cache");
    let cache_s = cache.to_str().unwrap();
    let trained = train(out_s, cache_s, "0.5");
    assert!(
        trained.status.success(),
        "train failed: {}",
        text(&trained.stderr)
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let tie = &manifest["tie_break"];
    assert_eq!(tie["margin"], 0.5, "{tie}");
    let means = tie["means"].as_array().unwrap();
    assert_eq!(means.len(), 2, "both RouteLLM models: {tie}");
    for m in means {
        let q = m["quality"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&q), "{m}");
        assert!(m["output_tokens"].as_f64().unwrap() > 0.0, "{m}");
    }

    // At λ = 0 (quality only) the fixed choice is the better model by the means. A margin of
    // half a quality point is more than any per-prompt gain of a linear fit on 120 prompts
    // can be, so `route` keeps every prompt with it, and says when it did.
    let best = means
        .iter()
        .max_by(|a, b| {
            a["quality"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["quality"].as_f64().unwrap())
        })
        .unwrap()["model"]
        .as_str()
        .unwrap()
        .to_owned();
    for prompt in [
        "What is 2 + 2?",
        "Janet has 3 apples and buys 5 more. She gives away half. How many are left?",
    ] {
        let route = switchyard(&[
            "route",
            "--artifact",
            out_s,
            "--willingness-to-pay",
            "1e9",
            prompt,
        ]);
        assert!(route.status.success(), "{}", text(&route.stderr));
        let routed: Value = serde_json::from_slice(&route.stdout).unwrap();
        assert_eq!(routed["chosen"], best.as_str(), "{routed}");
        if routed["tie_break"].is_object() {
            assert_eq!(routed["tie_break"]["fixed"], best.as_str(), "{routed}");
        }
    }

    // A tampered manifest is refused when loaded, naming the field.
    let mut bad = manifest.clone();
    bad["tie_break"]["margin"] = Value::from(-1.0);
    std::fs::write(out.join("manifest.json"), bad.to_string()).unwrap();
    let route = switchyard(&["route", "--artifact", out_s, "What is 2 + 2?"]);
    let stderr = text(&route.stderr);
    assert!(!route.status.success());
    assert!(
        stderr.contains("tie_break") && stderr.contains("margin"),
        "{stderr}"
    );
}

#[test]
fn a_negative_margin_or_one_fitted_on_logged_traffic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let cache = dir.path().join("cache");
    let bad = train(out.to_str().unwrap(), cache.to_str().unwrap(), "-0.1");
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("finite number ≥ 0"),
        "{}",
        text(&bad.stderr)
    );

    let log = dir.path().join("outcomes.sqlite");
    let from_log = switchyard(&[
        "train",
        "--from-log",
        log.to_str().unwrap(),
        "--tie-margin",
        "0.02",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!from_log.status.success());
    assert!(
        text(&from_log.stderr).contains("--tie-margin cannot be combined with --from-log"),
        "{}",
        text(&from_log.stderr)
    );
}
