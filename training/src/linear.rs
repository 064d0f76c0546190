use std::time::Instant;

use classifier::predictors::{
    to_log_tokens, LinearPredictor, LinearWeights, Manifest, ModelPriors, PredictorKind,
    TrainingSet,
};
use linfa_linalg::cholesky::SolveC;
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::metrics::split_indices;
use crate::progress::report;
use crate::{Error, Progress, ProgressFn};

/// Ridge regression settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearConfig {
    /// Ridge strengths tried per model and target; the one with the lowest validation MSE is
    /// kept and refitted on all rows. In elastic-net scaling (`1/(2n)‖y − Xw‖² + ½·penalty·‖w‖²`,
    /// as linfa-elasticnet with `l1_ratio = 0`); unit-length 384-d embeddings have
    /// per-coordinate variance near 1/384, hence the small values. Default `[1e-4, 1e-3, 1e-2]`.
    pub penalties: Vec<f64>,
    /// Share of rows held out to pick the penalty (0: the first penalty is used). Default 0.1.
    pub validation_fraction: f64,
    /// Seed of the validation split. Default 0.
    pub seed: u64,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            penalties: vec![1e-4, 1e-3, 1e-2],
            validation_fraction: 0.1,
            seed: 0,
        }
    }
}

/// Fits quality and `ln(1 + tokens)` per model by ridge regression, each on that model's
/// labelled rows only, solving the normal equations with linfa-linalg's Cholesky.
///
/// Not linfa-elasticnet: its coordinate descent needed ~50 s for 1k × 32 × 4 models on
/// correlated embedding features (and far longer at 10k × 384), and it refuses sets with fewer
/// rows than dimensions; the closed form is exact, handles any row count, and tries several
/// penalties for the price of one Gram matrix.
///
/// Quality is regressed directly on 0/1 (or graded) labels and clamped to `[0, 1]` at
/// prediction time: a linear probability model, which for routing (ranking models by expected
/// quality) does as well as a logistic one and shares one code path with the token target.
/// A model/target with fewer than two labels keeps its prior; those are listed under
/// `metrics.prior_only` in the manifest.
pub fn fit_linear(
    set: &TrainingSet,
    config: &LinearConfig,
    mut progress: ProgressFn<'_>,
) -> Result<LinearPredictor, Error> {
    if set.is_empty() {
        return Err(Error::EmptyTrainingSet);
    }
    set.validate()?;
    if config.penalties.is_empty() || config.penalties.iter().any(|p| p.is_nan() || *p < 0.0) {
        return Err(Error::Config {
            field: "penalties",
            reason: "needs at least one non-negative value".into(),
        });
    }
    let start = Instant::now();
    let (m, d) = (set.models.len(), set.dim());
    let priors = ModelPriors::from_training_set(set);
    let (train, val) = split_indices(set.len(), config.validation_fraction, config.seed);
    let mut weights = LinearWeights {
        quality_w: vec![0.0; m * d],
        quality_b: priors.quality.clone(),
        tokens_w: vec![0.0; m * d],
        tokens_b: priors.log_tokens.clone(),
    };
    let mut prior_only = Vec::new();
    let mut chosen = Vec::new();
    for j in 0..m {
        let quality = |i: usize| set.quality[i][j];
        let tokens = |i: usize| set.output_tokens[i][j].map(to_log_tokens);
        let labels: [&dyn Fn(usize) -> Option<f32>; 2] = [&quality, &tokens];
        // Usually every outcome carries both labels: then both targets share one Gram matrix
        // and one Cholesky factorisation per penalty.
        let shared = (0..set.len()).all(|i| quality(i).is_some() == tokens(i).is_some());
        let groups: &[&[usize]] = if shared { &[&[0, 1]] } else { &[&[0], &[1]] };
        for group in groups {
            let group_labels: Vec<_> = group.iter().map(|&t| labels[t]).collect();
            let fits = fit_group(set, &train, &val, &group_labels, &config.penalties);
            for (&t, fit) in group.iter().zip(fits) {
                let (target, w, b) = if t == 0 {
                    ("quality", &mut weights.quality_w, &mut weights.quality_b)
                } else {
                    ("tokens", &mut weights.tokens_w, &mut weights.tokens_b)
                };
                match fit {
                    Some((coef, intercept, penalty)) => {
                        w[j * d..(j + 1) * d].copy_from_slice(&coef);
                        b[j] = intercept;
                        chosen.push(serde_json::json!({ "model": set.models[j], "target": target, "penalty": penalty }));
                    }
                    None => prior_only
                        .push(serde_json::json!({ "model": set.models[j], "target": target })),
                }
            }
        }
        report(
            &mut progress,
            Progress {
                done: j as u64 + 1,
                total: m as u64,
                message: format!("fitted {}", set.models[j]),
                train_loss: None,
                val_loss: None,
            },
        );
    }
    let mut manifest = Manifest::new(
        PredictorKind::Linear,
        set.models.clone(),
        d,
        set.sha256(),
        serde_json::to_value(config).unwrap_or_default(),
    );
    manifest.metrics = serde_json::json!({
        "rows": set.len(),
        "fit_seconds": start.elapsed().as_secs_f64(),
        "chosen_penalties": chosen,
        "prior_only": prior_only,
    });
    Ok(LinearPredictor::from_weights(manifest, priors, weights)?)
}

/// A fitted target: coefficients, intercept (uncentred coordinates) and the chosen penalty.
type Fit = (Vec<f32>, f32, f64);

/// Coefficients (`d × targets`) and intercepts of one ridge solve.
type Solution = (Array2<f64>, Array1<f64>);

/// Fits targets that share their labelled rows: for every penalty on the training rows, keeps
/// per target the penalty with the best validation MSE, then refits on all labelled rows.
/// `None` for a target with fewer than two labelled rows or no positive-definite system.
fn fit_group(
    set: &TrainingSet,
    train: &[usize],
    val: &[usize],
    labels: &[&dyn Fn(usize) -> Option<f32>],
    penalties: &[f64],
) -> Vec<Option<Fit>> {
    let t = labels.len();
    let labelled = |i: &usize| labels[0](*i).is_some();
    let train_rows: Vec<usize> = train.iter().copied().filter(labelled).collect();
    let val_rows: Vec<usize> = val.iter().copied().filter(labelled).collect();
    let train_block = Block::new(set, &train_rows, labels);
    let val_block = Block::new(set, &val_rows, labels);
    let train_moments = Moments::from(&train_block);
    let mut best: Vec<Option<(f64, f64)>> = vec![None; t];
    for &penalty in penalties {
        let Some((w, b)) = train_moments.solve(penalty) else {
            continue;
        };
        let pred = val_block.x.dot(&w) + &b;
        for (c, best) in best.iter_mut().enumerate() {
            let err = &pred.column(c) - &val_block.y.column(c);
            let score = err.mapv(|e| e * e).mean().unwrap_or(0.0);
            if best.is_none_or(|(s, _)| score < s) {
                *best = Some((score, penalty));
            }
        }
    }
    let all = train_moments.add(&Moments::from(&val_block));
    let mut solved: Vec<(f64, Option<Solution>)> = Vec::new();
    best.iter()
        .enumerate()
        .map(|(c, best)| {
            let (_, penalty) = (*best)?;
            if !solved.iter().any(|(p, _)| *p == penalty) {
                solved.push((penalty, all.solve(penalty)));
            }
            let (w, b) = solved.iter().find(|(p, _)| *p == penalty)?.1.as_ref()?;
            Some((
                w.column(c).iter().map(|&v| v as f32).collect(),
                b[c] as f32,
                penalty,
            ))
        })
        .collect()
}

/// Embeddings and targets of some rows.
struct Block {
    /// `n × d`.
    x: Array2<f64>,
    /// `n × targets`.
    y: Array2<f64>,
}

impl Block {
    fn new(set: &TrainingSet, rows: &[usize], labels: &[&dyn Fn(usize) -> Option<f32>]) -> Self {
        let d = set.dim();
        let mut x = Array2::zeros((rows.len(), d));
        for (mut out, &i) in x.rows_mut().into_iter().zip(rows) {
            out.iter_mut()
                .zip(&set.x[i])
                .for_each(|(o, &v)| *o = f64::from(v));
        }
        let y = Array2::from_shape_fn((rows.len(), labels.len()), |(a, c)| {
            f64::from(labels[c](rows[a]).unwrap_or(0.0))
        });
        Self { x, y }
    }
}

/// Raw moments of a block (`XᵀX`, `XᵀY`, column sums, count), which add across blocks.
struct Moments {
    xtx: Array2<f64>,
    xty: Array2<f64>,
    sx: Array1<f64>,
    sy: Array1<f64>,
    n: f64,
}

impl From<&Block> for Moments {
    fn from(b: &Block) -> Self {
        Self {
            xtx: b.x.t().dot(&b.x),
            xty: b.x.t().dot(&b.y),
            sx: b.x.sum_axis(Axis(0)),
            sy: b.y.sum_axis(Axis(0)),
            n: b.x.nrows() as f64,
        }
    }
}

impl Moments {
    fn add(&self, o: &Self) -> Self {
        Self {
            xtx: &self.xtx + &o.xtx,
            xty: &self.xty + &o.xty,
            sx: &self.sx + &o.sx,
            sy: &self.sy + &o.sy,
            n: self.n + o.n,
        }
    }

    /// Ridge in elastic-net scaling on centred data: `(G + λI) W = g` with
    /// `G = XᵀX/n − x̄x̄ᵀ`, `g = XᵀY/n − x̄ȳᵀ`; intercepts `ȳ − Wᵀx̄`. Solved with linfa-linalg's
    /// Cholesky; `None` with fewer than two rows or a system that is not positive definite.
    fn solve(&self, penalty: f64) -> Option<Solution> {
        if self.n < 2.0 {
            return None;
        }
        let x_mean = &self.sx / self.n;
        let y_mean = &self.sy / self.n;
        let xm = x_mean.view().insert_axis(Axis(1));
        let ym = y_mean.view().insert_axis(Axis(0));
        let mut a =
            &self.xtx / self.n - xm.dot(&xm.t()) + Array2::<f64>::eye(x_mean.len()) * penalty;
        let g = &self.xty / self.n - xm.dot(&ym);
        let w = a.solvec(&g).ok()?;
        if w.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let b = &y_mean - &w.t().dot(&x_mean);
        Some((w, b))
    }
}
