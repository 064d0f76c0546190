use classifier::predictors::{to_log_tokens, TrainingSet};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use router_core::{ModelEstimate, QualityPredictor};
use serde::Serialize;

/// Masked mean squared errors over the labelled cells of a set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeldOutScores {
    /// Mean squared error of quality over labelled quality cells.
    pub quality_mse: f64,
    /// Mean squared error of `ln(1 + tokens)` over labelled token cells.
    pub log_tokens_mse: f64,
    /// Per-model quality MSE, in the set's model order (`NaN` where a model has no labels).
    pub quality_mse_per_model: Vec<f64>,
    /// Labelled quality cells scored.
    pub quality_cells: usize,
    /// Labelled token cells scored.
    pub token_cells: usize,
}

/// Scores `predictor` on `set`'s labelled cells, matching models by id (set models the
/// predictor does not know are skipped).
pub fn evaluate(predictor: &dyn QualityPredictor, set: &TrainingSet) -> HeldOutScores {
    let columns: Vec<Option<usize>> = set
        .models
        .iter()
        .map(|m| predictor.models().iter().position(|p| p == m))
        .collect();
    evaluate_with(set, &columns, |x| predictor.predict(x))
}

/// Scores a prediction function whose output column for set model `j` is `columns[j]`.
pub(crate) fn evaluate_with(
    set: &TrainingSet,
    columns: &[Option<usize>],
    predict: impl Fn(&[f32]) -> Vec<ModelEstimate>,
) -> HeldOutScores {
    let m = set.models.len();
    let (mut q_sum, mut q_n) = (vec![0.0f64; m], vec![0usize; m]);
    let (mut t_sum, mut t_n) = (0.0f64, 0usize);
    for (i, x) in set.x.iter().enumerate() {
        let est = predict(x);
        for (j, col) in columns.iter().enumerate() {
            let Some(e) = col.and_then(|c| est.get(c)) else {
                continue;
            };
            if let Some(q) = set.quality[i][j] {
                q_sum[j] += (e.quality - f64::from(q)).powi(2);
                q_n[j] += 1;
            }
            if let Some(t) = set.output_tokens[i][j] {
                let pred = (e.output_tokens as f32).max(0.0).ln_1p();
                t_sum += f64::from(pred - to_log_tokens(t)).powi(2);
                t_n += 1;
            }
        }
    }
    let q_total: f64 = q_sum.iter().sum();
    let q_cells: usize = q_n.iter().sum();
    HeldOutScores {
        quality_mse: q_total / q_cells.max(1) as f64,
        log_tokens_mse: t_sum / t_n.max(1) as f64,
        quality_mse_per_model: q_sum
            .iter()
            .zip(&q_n)
            .map(|(s, &n)| if n == 0 { f64::NAN } else { s / n as f64 })
            .collect(),
        quality_cells: q_cells,
        token_cells: t_n,
    }
}

/// Splits rows into `(train, held_out)` with `held_out_fraction` of them held out, shuffled
/// with `seed`; at least one row stays on each side when the set has two or more.
pub fn split_holdout(
    set: &TrainingSet,
    held_out_fraction: f64,
    seed: u64,
) -> (TrainingSet, TrainingSet) {
    let (train, held) = split_indices(set.len(), held_out_fraction, seed);
    (set.subset(&train), set.subset(&held))
}

pub(crate) fn split_indices(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut held = ((n as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
    if n >= 2 && fraction > 0.0 {
        held = held.clamp(1, n - 1);
    }
    let train = idx.split_off(held);
    (train, idx)
}
