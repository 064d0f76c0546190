use std::time::Instant;

use classifier::predictors::{
    to_log_tokens, Artifact, LinearPredictor, LinearWeights, Manifest, PredictorKind, TrainingSet,
};
use linfa_linalg::cholesky::SolveC;
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::metrics::split_indices;
use crate::progress::report;
use crate::warm_start::{extend_metrics, wrong_kind, Aligned};
use crate::{Error, FitOptions, Progress, ProgressFn};

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
/// labelled rows only, solving the normal equations with linfa-linalg's Cholesky. Same as
/// [`fit_linear_with`] with default options.
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
    progress: ProgressFn<'_>,
) -> Result<LinearPredictor, Error> {
    fit_linear_with(set, config, FitOptions::default(), progress)
}

/// [`fit_linear`] with cell weights and an optional warm start from an [`Artifact::Linear`].
///
/// Weights make every sum in the normal equations a weighted one (`XᵀWX`, `XᵀWy`, weighted
/// means and a weighted validation MSE); rows of weight 0 are left out. A warm start shrinks
/// each known model's coefficients towards the artifact's instead of towards 0, minimising
/// `1/(2n)‖y − Xw − b‖² + ½·penalty·‖w − w₀‖²`: the posterior mean under a Gaussian prior
/// centred on the old fit, which is what warm starting means for a closed-form fit. Intercepts
/// are refitted (flat prior); a model or target with fewer than two labelled rows keeps the
/// artifact's coefficients and intercept; new models shrink towards 0 as in a cold fit.
pub fn fit_linear_with(
    set: &TrainingSet,
    config: &LinearConfig,
    options: FitOptions<'_>,
    mut progress: ProgressFn<'_>,
) -> Result<LinearPredictor, Error> {
    let start = match options.warm_start {
        None => None,
        Some(Artifact::Linear(p)) => Some(p),
        Some(other) => return Err(wrong_kind(other, PredictorKind::Linear)),
    };
    let aligned = Aligned::new(set, options.weights, start.map(LinearPredictor::manifest))?;
    let set = aligned.set.as_ref();
    let weight = |i: usize, j: usize| aligned.weights().map_or(1.0, |w| f64::from(w.get(i, j)));
    if config.penalties.is_empty() || config.penalties.iter().any(|p| p.is_nan() || *p < 0.0) {
        return Err(Error::Config {
            field: "penalties",
            reason: "needs at least one non-negative value".into(),
        });
    }
    let clock = Instant::now();
    let (m, d) = (set.models.len(), set.dim());
    let priors = aligned.priors(start.map(LinearPredictor::priors));
    let (train, val) = split_indices(set.len(), config.validation_fraction, config.seed);
    let mut weights = LinearWeights {
        quality_w: vec![0.0; m * d],
        quality_b: priors.quality.clone(),
        tokens_w: vec![0.0; m * d],
        tokens_b: priors.log_tokens.clone(),
    };
    let (mut prior_only, mut kept) = (Vec::new(), Vec::new());
    let mut chosen = Vec::new();
    for j in 0..m {
        let quality = |i: usize| set.quality[i][j];
        let tokens = |i: usize| set.output_tokens[i][j].map(to_log_tokens);
        let labels: [&dyn Fn(usize) -> Option<f32>; 2] = [&quality, &tokens];
        // The warm start's coefficients and intercept per target, for a model it knows.
        let old = start.zip(aligned.from[j]).map(|(p, a)| {
            let w = p.weights();
            [
                (&w.quality_w[a * d..(a + 1) * d], w.quality_b[a]),
                (&w.tokens_w[a * d..(a + 1) * d], w.tokens_b[a]),
            ]
        });
        // Usually every outcome carries both labels: then both targets share one Gram matrix
        // and one Cholesky factorisation per penalty.
        let shared = (0..set.len()).all(|i| quality(i).is_some() == tokens(i).is_some());
        let groups: &[&[usize]] = if shared { &[&[0, 1]] } else { &[&[0], &[1]] };
        for group in groups {
            let group_labels: Vec<_> = group.iter().map(|&t| labels[t]).collect();
            let prior_mean = old.map(|old| {
                Array2::from_shape_fn((d, group.len()), |(r, c)| f64::from(old[group[c]].0[r]))
            });
            let rows = Rows {
                train: &train,
                val: &val,
                weight: &|i| weight(i, j),
            };
            let fits = fit_group(
                set,
                &rows,
                &group_labels,
                &config.penalties,
                prior_mean.as_ref(),
            );
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
                    None => {
                        let entry = serde_json::json!({ "model": set.models[j], "target": target });
                        if let Some(old) = old {
                            w[j * d..(j + 1) * d].copy_from_slice(old[t].0);
                            b[j] = old[t].1;
                            kept.push(entry);
                        } else {
                            prior_only.push(entry);
                        }
                    }
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
        "fit_seconds": clock.elapsed().as_secs_f64(),
        "chosen_penalties": chosen,
        "prior_only": prior_only,
        "kept_from_warm_start": kept,
    });
    extend_metrics(
        &mut manifest.metrics,
        aligned.metrics(start.map(LinearPredictor::manifest)),
    );
    Ok(LinearPredictor::from_weights(manifest, priors, weights)?)
}

/// A fitted target: coefficients, intercept (uncentred coordinates) and the chosen penalty.
type Fit = (Vec<f32>, f32, f64);

/// Coefficients (`d × targets`) and intercepts of one ridge solve.
type Solution = (Array2<f64>, Array1<f64>);

/// The training and validation rows of one model, and each row's cell weight.
struct Rows<'a> {
    train: &'a [usize],
    val: &'a [usize],
    weight: &'a dyn Fn(usize) -> f64,
}

/// Fits targets that share their labelled rows: for every penalty on the training rows, keeps
/// per target the penalty with the best (weighted) validation MSE, then refits on all labelled
/// rows, shrinking towards `prior_mean` (`d × targets`, a warm start's coefficients) or 0.
/// `None` for a target with fewer than two labelled rows of positive weight or no
/// positive-definite system.
fn fit_group(
    set: &TrainingSet,
    rows: &Rows<'_>,
    labels: &[&dyn Fn(usize) -> Option<f32>],
    penalties: &[f64],
    prior_mean: Option<&Array2<f64>>,
) -> Vec<Option<Fit>> {
    let t = labels.len();
    let labelled = |i: &usize| labels[0](*i).is_some() && (rows.weight)(*i) > 0.0;
    let train_rows: Vec<usize> = rows.train.iter().copied().filter(labelled).collect();
    let val_rows: Vec<usize> = rows.val.iter().copied().filter(labelled).collect();
    let train_block = Block::new(set, &train_rows, labels, rows.weight);
    let val_block = Block::new(set, &val_rows, labels, rows.weight);
    let train_moments = Moments::from(&train_block);
    let val_weight = val_block.w.sum();
    let mut best: Vec<Option<(f64, f64)>> = vec![None; t];
    for &penalty in penalties {
        let Some((w, b)) = train_moments.solve(penalty, prior_mean) else {
            continue;
        };
        let pred = val_block.x.dot(&w) + &b;
        for (c, best) in best.iter_mut().enumerate() {
            let err = &pred.column(c) - &val_block.y.column(c);
            let score = if val_weight > 0.0 {
                (err.mapv(|e| e * e) * &val_block.w).sum() / val_weight
            } else {
                0.0
            };
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
                solved.push((penalty, all.solve(penalty, prior_mean)));
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

/// Embeddings, targets and weights of some rows.
struct Block {
    /// `n × d`.
    x: Array2<f64>,
    /// `n × targets`.
    y: Array2<f64>,
    /// `n` row weights.
    w: Array1<f64>,
}

impl Block {
    fn new(
        set: &TrainingSet,
        rows: &[usize],
        labels: &[&dyn Fn(usize) -> Option<f32>],
        weight: &dyn Fn(usize) -> f64,
    ) -> Self {
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
        let w = rows.iter().map(|&i| weight(i)).collect();
        Self { x, y, w }
    }
}

/// Weighted raw moments of a block (`XᵀWX`, `XᵀWY`, weighted column sums, summed weight) and
/// its row count, which add across blocks.
struct Moments {
    xtx: Array2<f64>,
    xty: Array2<f64>,
    sx: Array1<f64>,
    sy: Array1<f64>,
    n: f64,
    rows: usize,
}

impl From<&Block> for Moments {
    fn from(b: &Block) -> Self {
        let wx = &b.x * &b.w.view().insert_axis(Axis(1));
        Self {
            xtx: wx.t().dot(&b.x),
            xty: wx.t().dot(&b.y),
            sx: wx.sum_axis(Axis(0)),
            sy: (&b.y * &b.w.view().insert_axis(Axis(1))).sum_axis(Axis(0)),
            n: b.w.sum(),
            rows: b.x.nrows(),
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
            rows: self.rows + o.rows,
        }
    }

    /// Ridge in elastic-net scaling on centred data: `(G + λI) W = g + λW₀` with
    /// `G = XᵀWX/n − x̄x̄ᵀ`, `g = XᵀWY/n − x̄ȳᵀ` (weighted means, `n = Σw`) and prior mean `W₀`
    /// (0 without one); intercepts `ȳ − Wᵀx̄`. Solved with linfa-linalg's Cholesky; `None`
    /// with fewer than two rows or a system that is not positive definite.
    fn solve(&self, penalty: f64, prior_mean: Option<&Array2<f64>>) -> Option<Solution> {
        if self.rows < 2 || self.n <= 0.0 {
            return None;
        }
        let x_mean = &self.sx / self.n;
        let y_mean = &self.sy / self.n;
        let xm = x_mean.view().insert_axis(Axis(1));
        let ym = y_mean.view().insert_axis(Axis(0));
        let mut a =
            &self.xtx / self.n - xm.dot(&xm.t()) + Array2::<f64>::eye(x_mean.len()) * penalty;
        let mut g = &self.xty / self.n - xm.dot(&ym);
        if let Some(w0) = prior_mean {
            g = g + w0 * penalty;
        }
        let w = a.solvec(&g).ok()?;
        if w.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let b = &y_mean - &w.t().dot(&x_mean);
        Some((w, b))
    }
}
