//! Warm starts and cell weights on planted data: a warm start with no epochs is the artifact, a
//! short warm fit beats a short cold one, a weight of 0 is a dropped row and a weight of 2 a
//! duplicated one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use classifier::predictors::{Artifact, PredictorKind, TrainingSet};
use router_core::{ModelId, QualityPredictor};

use crate::synthetic::{planted, PlantedConfig};
use crate::*;

fn neural(max_epochs: usize) -> NeuralConfig {
    NeuralConfig {
        max_epochs,
        batch_size: 64,
        learning_rate: 1e-2,
        ..NeuralConfig::default()
    }
}

fn mf(max_epochs: usize) -> MfConfig {
    MfConfig {
        latent_dim: 16,
        difficulty_axis: false,
        neural: neural(max_epochs),
    }
}

fn mlp(max_epochs: usize) -> MlpConfig {
    MlpConfig {
        hidden: vec![32],
        neural: NeuralConfig {
            learning_rate: 3e-3,
            ..neural(max_epochs)
        },
    }
}

/// One planted population, cut into consecutive slices of the given lengths.
fn slices(lengths: &[usize], missing: f64) -> Vec<TrainingSet> {
    let p = planted(&PlantedConfig {
        rows: lengths.iter().sum(),
        missing,
        seed: 11,
        ..PlantedConfig::default()
    });
    let mut start = 0;
    lengths
        .iter()
        .map(|&n| {
            let rows: Vec<usize> = (start..start + n).collect();
            start += n;
            p.set.subset(&rows)
        })
        .collect()
}

/// The largest difference between two predictors' quality and log-token estimates for the
/// models of `a`, matched by id, over `set`'s prompts.
fn max_diff(a: &dyn QualityPredictor, b: &dyn QualityPredictor, set: &TrainingSet) -> f64 {
    let cols: Vec<usize> = a
        .models()
        .iter()
        .map(|m| b.models().iter().position(|n| n == m).unwrap())
        .collect();
    let mut worst = 0.0f64;
    for x in &set.x {
        let (pa, pb) = (a.predict(x), b.predict(x));
        for (j, &c) in cols.iter().enumerate() {
            worst = worst
                .max((pa[j].quality - pb[c].quality).abs())
                .max((pa[j].output_tokens.ln_1p() - pb[c].output_tokens.ln_1p()).abs());
        }
    }
    worst
}

fn warm(start: &Artifact) -> FitOptions<'_> {
    FitOptions {
        weights: None,
        warm_start: Some(start),
    }
}

#[test]
fn zero_warm_epochs_reproduce_the_artifact() {
    let sets = slices(&[400, 100], 0.3);
    let mf_a: Artifact = fit_mf(&sets[0], &mf(10), None).unwrap().into();
    let mf_b = fit_mf_with(&sets[1], &mf(0), warm(&mf_a), None).unwrap();
    assert_eq!(max_diff(&mf_a, &mf_b, &sets[1]), 0.0);
    let mlp_a: Artifact = fit_mlp(&sets[0], &mlp(10), None).unwrap().into();
    let mlp_b = fit_mlp_with(&sets[1], &mlp(0), warm(&mlp_a), None).unwrap();
    assert_eq!(max_diff(&mlp_a, &mlp_b, &sets[1]), 0.0);
    // A cold start still needs an epoch.
    assert!(matches!(
        fit_mf(&sets[1], &mf(0), None),
        Err(Error::Config {
            field: "max_epochs",
            ..
        })
    ));
}

#[test]
fn warm_start_maps_models_by_id_and_appends_new_ones() {
    let sets = slices(&[400, 100], 0.0);
    let a: Artifact = fit_mf(&sets[0], &mf(10), None).unwrap().into();
    // The new set knows models 3 and 1 (in that order) and one the artifact lacks.
    let b = &sets[1];
    let order = [3usize, 1, 0];
    let set = TrainingSet {
        models: vec![
            ModelId::new("model-3"),
            ModelId::new("model-1"),
            ModelId::new("newcomer"),
        ],
        x: b.x.clone(),
        quality: b
            .quality
            .iter()
            .map(|r| order.iter().map(|&j| r[j]).collect())
            .collect(),
        output_tokens: b
            .output_tokens
            .iter()
            .map(|r| order.iter().map(|&j| r[j]).collect())
            .collect(),
        tasks: Vec::new(),
    };
    for predictor in [PredictorKind::Mf, PredictorKind::Mlp] {
        let start: Artifact = match predictor {
            PredictorKind::Mf => a.clone(),
            _ => fit_mlp(&sets[0], &mlp(10), None).unwrap().into(),
        };
        let configs = experiment::PredictorConfigs {
            mf: mf(0),
            mlp: mlp(0),
            ..Default::default()
        };
        let out = fit_predictor_with(predictor, &set, &configs, 0, warm(&start), None).unwrap();
        let names: Vec<&str> = out.models().iter().map(ModelId::as_str).collect();
        assert_eq!(
            names,
            ["model-0", "model-1", "model-2", "model-3", "newcomer"]
        );
        assert_eq!(max_diff(&start, &out, b), 0.0, "{predictor:?}");
        assert_eq!(
            out.manifest().metrics["warm_start"]["added_models"],
            serde_json::json!(["newcomer"])
        );
    }
}

#[test]
fn short_warm_fit_beats_short_cold_fit_on_new_data() {
    // A: plenty of fully labelled prompts. B: few prompts with most cells missing, as in a
    // bandit log. Both sides get the same 5-epoch budget on B.
    let sets = slices(&[1000, 150, 500], 0.0);
    let b_train = slices(&[1000, 150, 500], 0.75).swap_remove(1);
    let a: Artifact = fit_mf(&sets[0], &mf(40), None).unwrap().into();
    let cold = fit_mf(&b_train, &mf(5), None).unwrap();
    let warm_fit = fit_mf_with(&b_train, &mf(5), warm(&a), None).unwrap();
    let (cold, warm_fit) = (
        evaluate(&cold, &sets[2]).quality_mse,
        evaluate(&warm_fit, &sets[2]).quality_mse,
    );
    assert!(warm_fit < cold, "warm {warm_fit} vs cold {cold}");
}

#[test]
fn linear_warm_start_shrinks_towards_the_artifact() {
    let sets = slices(&[600, 60, 500], 0.0);
    let a: Artifact = fit_linear(&sets[0], &LinearConfig::default(), None)
        .unwrap()
        .into();
    // An overwhelming pull towards the artifact on the same data returns the artifact.
    let stiff = LinearConfig {
        penalties: vec![1e9],
        ..LinearConfig::default()
    };
    let same = fit_linear_with(&sets[0], &stiff, warm(&a), None).unwrap();
    assert!(max_diff(&a, &same, &sets[2]) < 1e-3);
    // On a few new prompts the artifact is a better prior mean than 0 (with penalties strong
    // enough for the prior to matter; the same grid on both sides).
    let grid = LinearConfig {
        penalties: vec![1e-3, 1e-2, 1e-1, 1.0],
        ..LinearConfig::default()
    };
    let cold = fit_linear(&sets[1], &grid, None).unwrap();
    let warm_fit = fit_linear_with(&sets[1], &grid, warm(&a), None).unwrap();
    let (cold, warm_fit) = (
        evaluate(&cold, &sets[2]).quality_mse,
        evaluate(&warm_fit, &sets[2]).quality_mse,
    );
    assert!(warm_fit < cold, "warm {warm_fit} vs cold {cold}");
}

#[test]
fn knn_warm_start_adds_points() {
    let sets = slices(&[200, 50], 0.2);
    let a: Artifact = fit_knn(&sets[0], &KnnConfig { k: 5 }, None).unwrap().into();
    let grown = fit_knn_with(&sets[1], &KnnConfig { k: 9 }, warm(&a), None).unwrap();
    let mut both = sets[0].clone();
    both.x.extend(sets[1].x.iter().cloned());
    both.quality.extend(sets[1].quality.iter().cloned());
    both.output_tokens
        .extend(sets[1].output_tokens.iter().cloned());
    let direct = fit_knn(&both, &KnnConfig { k: 5 }, None).unwrap();
    assert_eq!(grown.k(), 5);
    assert!(max_diff(&direct, &grown, &sets[1]) < 1e-5);
}

#[test]
fn mismatched_warm_starts_are_refused() {
    let sets = slices(&[100], 0.0);
    let knn: Artifact = fit_knn(&sets[0], &KnnConfig { k: 5 }, None).unwrap().into();
    let err = fit_mf_with(&sets[0], &mf(1), warm(&knn), None).unwrap_err();
    assert!(err.to_string().contains("knn predictor"), "{err}");
    let mut narrow = sets[0].clone();
    narrow.x.iter_mut().for_each(|x| x.truncate(16));
    let err = fit_knn_with(&narrow, &KnnConfig::default(), warm(&knn), None).unwrap_err();
    assert!(err.to_string().contains("32-dimensional"), "{err}");
}

/// `set` with row 0 repeated, and weights that instead count row 0 twice.
fn doubled(set: &TrainingSet) -> (TrainingSet, CellWeights) {
    let mut dup = set.clone();
    dup.x.push(set.x[0].clone());
    dup.quality.push(set.quality[0].clone());
    dup.output_tokens.push(set.output_tokens[0].clone());
    let mut w = CellWeights::ones(set.len(), set.models.len());
    let mut rows = w.rows().to_vec();
    rows[0].iter_mut().for_each(|v| *v = 2.0);
    w = CellWeights::new(rows);
    (dup, w)
}

/// `set` with `extra` appended, and weights that give the extra rows no say.
fn padded(set: &TrainingSet, extra: &TrainingSet) -> (TrainingSet, CellWeights) {
    let mut out = set.clone();
    out.x.extend(extra.x.iter().cloned());
    out.quality.extend(extra.quality.iter().cloned());
    out.output_tokens
        .extend(extra.output_tokens.iter().cloned());
    let mut w = CellWeights::ones(set.len(), set.models.len());
    w.append(CellWeights::new(vec![
        vec![0.0; set.models.len()];
        extra.len()
    ]));
    (out, w)
}

#[test]
fn weight_two_duplicates_and_weight_zero_drops_a_row() {
    let sets = slices(&[200, 30], 0.3);
    let (base, extra) = (&sets[0], &sets[1]);
    let weighted = |w| FitOptions {
        weights: Some(w),
        warm_start: None,
    };
    // Full-batch training without a validation slice, so that both sides see the same loss.
    let full_batch = |mut c: NeuralConfig| {
        c.batch_size = 1000;
        c.validation_fraction = 0.0;
        c.max_epochs = 30;
        c
    };
    let mf_cfg = MfConfig {
        neural: full_batch(mf(0).neural),
        ..mf(0)
    };
    let ridge = LinearConfig {
        penalties: vec![1e-3],
        validation_fraction: 0.0,
        ..LinearConfig::default()
    };

    let (dup, w2) = doubled(base);
    let a = fit_mf(&dup, &mf_cfg, None).unwrap();
    let b = fit_mf_with(base, &mf_cfg, weighted(&w2), None).unwrap();
    assert!(
        max_diff(&a, &b, extra) < 1e-4,
        "{}",
        max_diff(&a, &b, extra)
    );
    let a = fit_linear(&dup, &ridge, None).unwrap();
    let b = fit_linear_with(base, &ridge, weighted(&w2), None).unwrap();
    assert!(max_diff(&a, &b, extra) < 1e-5);

    let (pad, w0) = padded(base, extra);
    let a = fit_mf(base, &mf_cfg, None).unwrap();
    let b = fit_mf_with(&pad, &mf_cfg, weighted(&w0), None).unwrap();
    assert!(
        max_diff(&a, &b, extra) < 1e-4,
        "{}",
        max_diff(&a, &b, extra)
    );
    let mlp_cfg = MlpConfig {
        neural: full_batch(mlp(0).neural),
        ..mlp(0)
    };
    let a = fit_mlp(base, &mlp_cfg, None).unwrap();
    let b = fit_mlp_with(&pad, &mlp_cfg, weighted(&w0), None).unwrap();
    assert!(
        max_diff(&a, &b, extra) < 1e-4,
        "{}",
        max_diff(&a, &b, extra)
    );
    let a = fit_linear(base, &ridge, None).unwrap();
    let b = fit_linear_with(&pad, &ridge, weighted(&w0), None).unwrap();
    assert!(max_diff(&a, &b, extra) < 1e-5);
    assert!(b.manifest().metrics["cell_weights"]["effective_cells"].is_number());
}

#[test]
fn weights_are_checked_and_refused_by_knn() {
    let sets = slices(&[50], 0.0);
    let set = &sets[0];
    let short = CellWeights::ones(set.len() - 1, set.models.len());
    let opts = |w| FitOptions {
        weights: Some(w),
        warm_start: None,
    };
    let err = fit_mf_with(set, &mf(1), opts(&short), None).unwrap_err();
    assert!(err.to_string().contains("49 rows of weights"), "{err}");
    let mut rows = CellWeights::ones(set.len(), set.models.len())
        .rows()
        .to_vec();
    rows[3][1] = -1.0;
    let negative = CellWeights::new(rows);
    let err = fit_linear_with(set, &LinearConfig::default(), opts(&negative), None).unwrap_err();
    assert!(err.to_string().contains("row 3, model `model-1`"), "{err}");
    let ones = CellWeights::ones(set.len(), set.models.len());
    let err = fit_knn_with(set, &KnnConfig::default(), opts(&ones), None).unwrap_err();
    assert!(matches!(err, Error::CellWeights { .. }), "{err}");
}

#[test]
fn a_warm_fit_that_only_gets_worse_keeps_the_start() {
    let sets = slices(&[400, 200], 0.3);
    let a: Artifact = fit_mf(&sets[0], &mf(10), None).unwrap().into();
    // A learning rate this large wrecks the factors in the first epoch.
    let mut wild = mf(3);
    wild.neural.learning_rate = 50.0;
    let out = fit_mf_with(&sets[1], &wild, warm(&a), None).unwrap();
    assert_eq!(out.manifest().metrics["best_epoch"], 0);
    assert_eq!(max_diff(&a, &out, &sets[1]), 0.0);
}

#[test]
fn weights_follow_their_models_when_sets_are_merged() {
    let ips = vec![vec![Some(4.0), None], vec![None, Some(1.25)]];
    let log_models = [ModelId::new("b"), ModelId::new("c")];
    let merged = [ModelId::new("a"), ModelId::new("b"), ModelId::new("c")];
    let mut all = CellWeights::ones(1, 3);
    all.append(CellWeights::from_cells(&ips).remap(&log_models, &merged));
    assert_eq!(
        all.rows(),
        [
            vec![1.0, 1.0, 1.0],
            vec![0.0, 4.0, 0.0],
            vec![0.0, 0.0, 1.25]
        ]
    );
}
