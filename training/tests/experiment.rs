//! The committed default router artifact loads and predicts sensible values.

use std::path::Path;

use classifier::predictors::{Artifact, PredictorKind};
use router_core::QualityPredictor;

#[test]
fn default_router_artifact_loads_and_predicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/default-router");
    if !dir.join("manifest.json").exists() {
        eprintln!("no artifact at {}; skipped", dir.display());
        return;
    }
    let artifact = Artifact::load(&dir).unwrap();
    let manifest = artifact.manifest();
    assert_eq!(manifest.kind, PredictorKind::Stacked);
    assert_eq!(manifest.encoder_sha256, classifier::weights::MODEL_SHA256);
    assert!(manifest
        .check_encoder(classifier::weights::MODEL_SHA256)
        .is_ok());
    assert!(manifest
        .models
        .iter()
        .any(|m| m.as_str() == "gpt-4-1106-preview"));
    let d = manifest.embedding_dim;
    let x: Vec<f32> = (0..d)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let norm = (d as f32).sqrt();
    let x: Vec<f32> = x.iter().map(|v| v / norm).collect();
    let estimates = artifact.predict(&x);
    assert_eq!(estimates.len(), artifact.models().len());
    for e in estimates {
        assert!((0.0..=1.0).contains(&e.quality), "{e:?}");
        assert!(
            e.output_tokens.is_finite() && e.output_tokens >= 0.0,
            "{e:?}"
        );
    }
}
