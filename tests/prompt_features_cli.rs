//! Prompt statistics end to end through the real binary: `train --prompt-features` records
//! them in the artifact, and `route` (the gateway's loading path), `score` and `loop` encode
//! with them, so the trained estimates apply where the artifact is served. Needs the encoder
//! weights (`switchyard model fetch`, which `scripts/test.sh` runs first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/served.rs"]
mod served;

use common::{manifest, switchyard, text};
use served::{served_as_trained, train_small};

const FIXTURE: &str = "tests/fixtures/routellm-gsm8k";

#[test]
fn prompt_features_are_trained_into_the_artifact_and_served_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("featured");
    let cache = dir.path().join("cache");
    let train = train_small(FIXTURE, &cache, &out, &["--prompt-features"]);
    let stderr = text(&train.stderr);
    assert!(train.status.success(), "train failed: {stderr}");
    assert!(stderr.contains("prompt statistics"), "{stderr}");

    let m = manifest(&out);
    // The standard 384 values, then the statistics.
    assert_eq!(
        m["embedding_dim"],
        classifier::EMBEDDING_DIM + classifier::prompt_features::PROMPT_FEATURES
    );
    assert_eq!(m["encoder"]["prompt_features"], true);
    assert_eq!(
        m["encoder_sha256"].as_str().unwrap(),
        classifier::featured_fingerprint(classifier::weights::MODEL_SHA256),
        "the fingerprint must tell these embeddings apart"
    );

    // `route` (as `serve` loads it), `score` and `loop` append the statistics, and the loop
    // records them in every refit, which the gateway hot-reloads (a refit without them would
    // be refused).
    let looped = dir.path().join("loop");
    served_as_trained(&out, FIXTURE, &cache, &looped);
    let refit = manifest(&looped.join("router-1"));
    assert_eq!(refit["encoder"]["prompt_features"], true);
    assert_eq!(refit["encoder_sha256"], m["encoder_sha256"]);
}

#[test]
fn prompt_features_with_an_adapter_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let train = switchyard(&[
        "train",
        "--data",
        FIXTURE,
        "--prompt-features",
        "--adapter",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!train.status.success());
    let stderr = text(&train.stderr);
    assert!(
        stderr.contains("--adapter cannot be combined with --prompt-features"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written");
}
