//! Fitting every predictor on planted data: each beats the per-model mean, survives missing
//! labels, and round-trips through its artifact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use classifier::predictors::{load_artifact, Artifact, ModelPriors, TrainingSet};
use router_core::{ModelId, QualityPredictor};
use training::synthetic::{planted, PlantedConfig};
use training::*;

/// Fast settings: small data, few epochs.
fn mlp_config() -> MlpConfig {
    MlpConfig {
        hidden: vec![64],
        neural: NeuralConfig {
            max_epochs: 40,
            batch_size: 64,
            learning_rate: 3e-3,
            ..NeuralConfig::default()
        },
    }
}

fn mf_config() -> MfConfig {
    MfConfig {
        latent_dim: 16,
        difficulty_axis: false,
        neural: NeuralConfig {
            max_epochs: 40,
            batch_size: 64,
            learning_rate: 1e-2,
            ..NeuralConfig::default()
        },
    }
}

/// The per-model-mean baseline as a predictor.
struct Baseline(Vec<ModelId>, ModelPriors);

impl QualityPredictor for Baseline {
    fn models(&self) -> &[ModelId] {
        &self.0
    }
    fn predict(&self, _: &[f32]) -> Vec<router_core::ModelEstimate> {
        self.1.estimates()
    }
}

fn data(missing: f64) -> (TrainingSet, TrainingSet) {
    let p = planted(&PlantedConfig {
        rows: 1500,
        missing,
        seed: 7,
        ..PlantedConfig::default()
    });
    split_holdout(&p.set, 0.2, 1)
}

fn fit_all(train: &TrainingSet) -> Vec<(&'static str, Artifact)> {
    vec![
        (
            "knn",
            fit_knn(train, &KnnConfig::default(), None).unwrap().into(),
        ),
        (
            "linear",
            fit_linear(train, &LinearConfig::default(), None)
                .unwrap()
                .into(),
        ),
        ("mlp", fit_mlp(train, &mlp_config(), None).unwrap().into()),
        ("mf", fit_mf(train, &mf_config(), None).unwrap().into()),
    ]
}

fn beats_baseline(missing: f64) {
    let (train, test) = data(missing);
    let base = evaluate(
        &Baseline(train.models.clone(), ModelPriors::from_training_set(&train)),
        &test,
    );
    for (name, p) in fit_all(&train) {
        let s = evaluate(&p, &test);
        eprintln!(
            "missing {missing} {name}: quality {:.4} (base {:.4}), log tokens {:.4} (base {:.4})",
            s.quality_mse, base.quality_mse, s.log_tokens_mse, base.log_tokens_mse
        );
        assert!(
            s.quality_mse < 0.85 * base.quality_mse,
            "{name} quality {} vs {}",
            s.quality_mse,
            base.quality_mse
        );
        assert!(
            s.log_tokens_mse < 0.7 * base.log_tokens_mse,
            "{name} tokens {} vs {}",
            s.log_tokens_mse,
            base.log_tokens_mse
        );
    }
}

#[test]
fn every_predictor_beats_the_per_model_mean() {
    beats_baseline(0.0);
}

#[test]
fn every_predictor_beats_the_per_model_mean_with_half_the_cells_missing() {
    beats_baseline(0.5);
}

#[test]
fn artifacts_round_trip_predictions() {
    let (train, test) = data(0.3);
    for (name, mut p) in fit_all(&train) {
        p.manifest_mut().encoder_sha256 = "test-encoder".into();
        let dir = tempfile::tempdir().unwrap();
        p.save(dir.path()).unwrap();
        let loaded = Artifact::load(dir.path()).unwrap();
        assert_eq!(loaded.manifest(), p.manifest(), "{name}");
        assert_eq!(loaded.manifest().training_data_sha256, train.sha256());
        let boxed = load_artifact(dir.path()).unwrap();
        assert_eq!(boxed.models(), train.models.as_slice());
        for x in test.x.iter().take(50) {
            for (a, b) in p.predict(x).iter().zip(boxed.predict(x)) {
                assert!((a.quality - b.quality).abs() <= 1e-6, "{name}");
                assert!(
                    (a.output_tokens - b.output_tokens).abs() <= 1e-6 * a.output_tokens.max(1.0),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn new_model_from_fifty_probes_gets_close_to_full_training() {
    let (train, test) = data(0.0);
    let last = train.models.len() - 1;
    let full = fit_mf(&train, &mf_config(), None).unwrap();
    // The same set without the last model.
    let drop_last = |s: &TrainingSet| TrainingSet {
        models: s.models[..last].to_vec(),
        x: s.x.clone(),
        quality: s.quality.iter().map(|r| r[..last].to_vec()).collect(),
        output_tokens: s.output_tokens.iter().map(|r| r[..last].to_vec()).collect(),
        tasks: s.tasks.clone(),
    };
    let mut partial = fit_mf(&drop_last(&train), &mf_config(), None).unwrap();
    let probes: Vec<(Vec<f32>, f32)> = (0..train.len())
        .filter_map(|i| Some((train.x[i].clone(), train.quality[i][last]?)))
        .take(50)
        .collect();
    let mean = probes.iter().map(|p| p.1).sum::<f32>() / 50.0;
    partial
        .fit_new_model(train.models[last].clone(), &probes)
        .unwrap();
    assert_eq!(partial.models(), train.models.as_slice());

    let full_mse = evaluate(&full, &test).quality_mse_per_model[last];
    let new_mse = evaluate(&partial, &test).quality_mse_per_model[last];
    let mean_mse = test
        .quality
        .iter()
        .filter_map(|r| r[last])
        .map(|q| f64::from(q - mean).powi(2))
        .sum::<f64>()
        / test.quality.iter().filter(|r| r[last].is_some()).count() as f64;
    eprintln!(
        "new model: probes {new_mse:.4}, full training {full_mse:.4}, probe mean {mean_mse:.4}"
    );
    assert!(new_mse < 0.9 * mean_mse, "{new_mse} vs mean {mean_mse}");
    assert!(new_mse < full_mse + 0.04, "{new_mse} vs full {full_mse}");
}

#[test]
fn progress_reports_and_config_errors() {
    let (train, _) = data(0.0);
    let mut reports = Vec::new();
    let mut cb = |p: &Progress| reports.push(p.clone());
    let cfg = MfConfig {
        neural: NeuralConfig {
            max_epochs: 3,
            ..mf_config().neural
        },
        ..mf_config()
    };
    let mf = fit_mf(&train, &cfg, Some(&mut cb)).unwrap();
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[2].done, 3);
    assert!(reports[2].val_loss.is_some());
    assert_eq!(mf.manifest().metrics["epochs"], 3);

    let bad = MlpConfig {
        hidden: vec![0],
        ..mlp_config()
    };
    assert!(matches!(
        fit_mlp(&train, &bad, None),
        Err(Error::Config {
            field: "hidden",
            ..
        })
    ));
    let bad = LinearConfig {
        penalties: vec![],
        ..LinearConfig::default()
    };
    assert!(matches!(
        fit_linear(&train, &bad, None),
        Err(Error::Config {
            field: "penalties",
            ..
        })
    ));
    assert!(matches!(
        fit_knn(&TrainingSet::default(), &KnnConfig::default(), None),
        Err(Error::EmptyTrainingSet)
    ));
}
