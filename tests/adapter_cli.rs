//! A routing adapter end to end through the real binary: `train --adapter` writes it into the
//! artifact, `route` (the gateway's loading path) and `score` encode with it, and an artifact
//! whose adapter file is missing or belongs to another training is refused with the field and
//! the fix named. Needs the encoder weights (`switchyard model fetch`, which `scripts/test.sh`
//! runs first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/served.rs"]
mod served;

use common::{switchyard, text};
use serde_json::Value;
use served::{served_as_trained, train_small};

const FIXTURE: &str = "tests/fixtures/routellm-gsm8k";

#[test]
fn an_adapter_is_trained_into_the_artifact_and_served_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapted");
    let out_s = out.to_str().unwrap();
    let cache = dir.path().join("cache");
    // So few prompts rarely earn the adapter its place; this test is about carrying it.
    let adapter = [
        "--adapter",
        "--adapter-rank",
        "4",
        "--adapter-min-gain",
        "-1",
    ];
    let train = train_small(FIXTURE, &cache, &out, &adapter);
    let stderr = text(&train.stderr);
    assert!(train.status.success(), "train failed: {stderr}");
    assert!(stderr.contains("routing adapter (rank 4)"), "{stderr}");

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    // The standard 384 values, then the adapted 384.
    assert_eq!(manifest["embedding_dim"], 768);
    let digest = manifest["encoder"]["adapter"].as_str().unwrap().to_owned();
    assert_eq!(digest.len(), 64);
    assert_ne!(
        manifest["encoder_sha256"].as_str().unwrap(),
        classifier::weights::MODEL_SHA256,
        "the fingerprint must tell adapted embeddings apart"
    );
    assert!(manifest["metrics"]["adapter"]["best_val_loss"].is_number());
    let adapter = classifier::RoutingAdapter::load(&out.join("adapter.safetensors")).unwrap();
    assert_eq!((adapter.rank, adapter.digest()), (4, digest));

    // `route` (as `serve` loads it), `score` and `loop` encode with the adapter, and the loop
    // writes it beside every refit, which the gateway hot-reloads (a refit without it would be
    // refused).
    let looped = dir.path().join("loop");
    served_as_trained(&out, FIXTURE, &cache, &looped);
    let refit = classifier::RoutingAdapter::load(&looped.join("router-1/adapter.safetensors"));
    assert_eq!(refit.unwrap(), adapter);

    // Another training's adapter in the folder, then none: refused, naming field and fix.
    let stale = dir.path().join("stale");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::copy(
        out.join("adapter.safetensors"),
        stale.join("adapter.safetensors"),
    )
    .unwrap();
    let mut other = adapter.clone();
    other.query[0] += 1.0;
    other.save(&out.join("adapter.safetensors")).unwrap();
    let route = switchyard(&["route", "--artifact", out_s, "What is 2 + 2?"]);
    let stderr = text(&route.stderr);
    assert!(!route.status.success());
    assert!(
        stderr.contains("encoder.adapter") && stderr.contains("digest"),
        "{stderr}"
    );
    std::fs::remove_file(out.join("adapter.safetensors")).unwrap();
    let route = switchyard(&["route", "--artifact", out_s, "What is 2 + 2?"]);
    let stderr = text(&route.stderr);
    assert!(!route.status.success());
    assert!(
        stderr.contains("adapter.safetensors") && stderr.contains("copy the artifact folder whole"),
        "{stderr}"
    );
}

#[test]
fn an_adapter_needs_benchmark_data() {
    let dir = tempfile::tempdir().unwrap();
    let run = switchyard(&[
        "train",
        "--from-log",
        dir.path().join("log.db").to_str().unwrap(),
        "--adapter",
        "--out",
        dir.path().join("a").to_str().unwrap(),
    ]);
    let stderr = text(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("--adapter cannot be combined with --from-log"),
        "{stderr}"
    );
}
