//! Finishing and writing a fitted router artifact: the manifest records which encoder the fit
//! saw and what it was fitted on, and the folder holds the predictor's files with, beside them,
//! the routing adapter it was trained with. `switchyard train` and the learning loop's refits
//! both write artifacts this way, so that a folder never pairs a predictor with another fit's
//! adapter (a stale one would change every embedding the gateway serves it).

use std::path::Path;

use classifier::adapter::ADAPTER_FILE;
use classifier::predictors::{Artifact, EncoderSettings, ModelPriors, TrainingSet};
use classifier::RoutingAdapter;
use router_core::policy::{MeanEstimate, TieBreak};

use crate::Error;

/// Records in `artifact`'s manifest the encoder the fit saw (its fingerprint and settings) and,
/// under `metrics`, each `(key, value)` of `entries` (the training data's description, the
/// guard's report, the adapter's fit).
pub fn stamp(
    artifact: &mut Artifact,
    encoder_sha256: String,
    encoder: Option<EncoderSettings>,
    entries: impl IntoIterator<Item = (&'static str, serde_json::Value)>,
) {
    let manifest = artifact.manifest_mut();
    manifest.encoder_sha256 = encoder_sha256;
    manifest.encoder = encoder;
    if !manifest.metrics.is_object() {
        manifest.metrics = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(metrics) = &mut manifest.metrics {
        for (key, value) in entries {
            metrics.insert(key.to_owned(), value);
        }
    }
}

/// The uncertainty-aware tie-break for an artifact fitted on `set`: every model with quality
/// labels, with its training means (the fixed policy's estimates: mean quality, typical output
/// tokens), and `margin`.
pub fn tie_break(set: &TrainingSet, margin: f64) -> TieBreak {
    let priors = ModelPriors::from_training_set(set);
    let means = set
        .models
        .iter()
        .zip(priors.estimates())
        .zip(&priors.quality_labelled)
        .filter(|(_, &labelled)| labelled)
        .map(|((model, estimate), _)| MeanEstimate {
            model: model.clone(),
            quality: estimate.quality.clamp(0.0, 1.0),
            output_tokens: estimate.output_tokens.max(0.0),
        })
        .collect();
    TieBreak { margin, means }
}

/// Writes `artifact` into `dir` (created if missing) with `adapter` beside it; without one,
/// an adapter left in `dir` by an earlier fit is removed.
pub fn save(
    artifact: &Artifact,
    dir: &Path,
    adapter: Option<&RoutingAdapter>,
) -> Result<(), Error> {
    artifact.save(dir)?;
    let path = dir.join(ADAPTER_FILE);
    match adapter {
        Some(adapter) => adapter.save(&path).map_err(|e| Error::Experiment {
            reason: format!("writing {}: {e}", path.display()),
        }),
        None if path.exists() => {
            std::fs::remove_file(&path).map_err(|source| Error::Io { path, source })
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;

    #[test]
    fn a_refit_without_an_adapter_removes_the_last_fits_and_the_manifest_keeps_its_records() {
        let set = synthetic::planted(&synthetic::PlantedConfig {
            rows: 40,
            ..synthetic::PlantedConfig::default()
        })
        .set;
        let mut artifact = crate::fit_predictor_with(
            classifier::predictors::PredictorKind::Linear,
            &set,
            &crate::experiment::PredictorConfigs::default(),
            1,
            crate::FitOptions::default(),
            None,
        )
        .unwrap();
        stamp(
            &mut artifact,
            "enc".to_owned(),
            None,
            [("data", serde_json::json!({"prompts": 40}))],
        );
        assert_eq!(artifact.manifest().encoder_sha256, "enc");
        assert_eq!(artifact.manifest().metrics["data"]["prompts"], 40);

        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(ADAPTER_FILE);
        std::fs::write(&stale, b"an earlier fit's adapter").unwrap();
        save(&artifact, dir.path(), None).unwrap();
        assert!(!stale.exists(), "the stale adapter is gone");
        let back = Artifact::load(dir.path()).unwrap();
        assert_eq!(back.manifest().metrics["data"]["prompts"], 40);
    }
}
