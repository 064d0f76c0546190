//! Fitting a [`StackedPredictor`]: base predictors combined per model by a logistic regression
//! on their out-of-fold predictions (a super learner).
//!
//! Why: on benchmark sets with many models and a few thousand prompts every single predictor
//! is noisy per model, and the router takes an argmax over those noisy estimates, so it favours
//! whichever model is over-estimated on a prompt. A combination fitted on held-out predictions
//! averages the bases' noise away and shrinks each base's weight to what its per-prompt
//! differences actually predicted on prompts it did not see; with no signal every weight goes to
//! 0 and the estimate is the model's mean (the fixed policy).

use classifier::predictors::{
    cholesky_solve, clamped_logit, to_log_tokens, Artifact, Manifest, ModelPriors, PredictorKind,
    StackWeights, StackedPredictor, TokenWeights, TrainingSet,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::experiment::{fit_predictor, PredictorConfigs};
use crate::{Error, Progress, ProgressFn};

/// One base of a stack: a predictor kind, with kNN's `k` overridable so that a local and a
/// wide neighbourhood (close to the prompt's task mean) can both be bases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackBase {
    /// The base's kind (not `stacked`).
    pub kind: PredictorKind,
    /// kNN only: neighbours, instead of the kNN settings' `k`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
}

impl StackBase {
    fn label(&self) -> String {
        match self.k {
            Some(k) => format!("{}(k={k})", self.kind.as_str()),
            None => self.kind.as_str().to_owned(),
        }
    }
}

/// Stacking settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackConfig {
    /// The bases. Default: kNN with k = 20 and k = 100, ridge, MLP, MF and the task mixture
    /// (which degenerates to the model means, weight 0, on rows without task labels).
    pub bases: Vec<StackBase>,
    /// Folds of the out-of-fold predictions the combination is fitted on (at least 2).
    /// Default 4: every base is fitted 5 times in all.
    pub folds: usize,
    /// L2 penalty on the combination's coefficients (not the intercept), in units of one
    /// labelled cell's log loss. Default 2: a few thousand cells barely feel it, a few dozen
    /// are pulled towards the model's mean. The output-token combination takes the same
    /// penalty against its squared error in `ln(1 + tokens)`.
    pub l2: f64,
}

impl Default for StackConfig {
    fn default() -> Self {
        let base = |kind, k| StackBase { kind, k };
        Self {
            bases: vec![
                base(PredictorKind::Knn, Some(20)),
                base(PredictorKind::Knn, Some(100)),
                base(PredictorKind::Linear, None),
                base(PredictorKind::Mlp, None),
                base(PredictorKind::Mf, None),
                base(PredictorKind::TaskMix, None),
            ],
            folds: 4,
            l2: 2.0,
        }
    }
}

fn fit_base(
    base: &StackBase,
    set: &TrainingSet,
    configs: &PredictorConfigs,
    seed: u64,
    progress: ProgressFn<'_>,
) -> Result<Artifact, Error> {
    if base.kind == PredictorKind::Stacked {
        return Err(Error::Config {
            field: "stack.bases",
            reason: "a stack's base cannot itself be a stack".into(),
        });
    }
    let mut configs = configs.clone();
    if let Some(k) = base.k {
        configs.knn.k = k;
    }
    fit_predictor(base.kind, set, &configs, seed, progress)
}

/// Fits the stack: out-of-fold predictions of every base on `config.folds` folds, one
/// non-negative, L2-penalised logistic regression per model on them, and the bases refitted
/// on all rows. `configs` holds the bases' own settings; `seed` seeds the folds and the bases.
pub fn fit_stacked(
    set: &TrainingSet,
    config: &StackConfig,
    configs: &PredictorConfigs,
    seed: u64,
    mut progress: ProgressFn<'_>,
) -> Result<StackedPredictor, Error> {
    set.validate()?;
    if config.bases.is_empty() {
        return Err(Error::Config {
            field: "stack.bases",
            reason: "a stack needs at least one base".into(),
        });
    }
    if !(config.l2.is_finite() && config.l2 >= 0.0) {
        return Err(Error::Config {
            field: "stack.l2",
            reason: format!("{} is not a finite, non-negative penalty", config.l2),
        });
    }
    let clock = std::time::Instant::now();
    let (n, m, nb) = (set.len(), set.models.len(), config.bases.len());
    let folds = config.folds.clamp(2, n.max(2));
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x57ac_4ed1));
    let total = ((folds + 1) * nb) as u64;
    let mut step = 0u64;
    let mut tick = |progress: &mut ProgressFn<'_>, message: String| {
        step += 1;
        if let Some(cb) = progress.as_mut() {
            cb(&Progress {
                done: step,
                total,
                message,
                train_loss: None,
                val_loss: None,
            });
        }
    };
    // oof[i][b][j]: base b's logit for model j on row i, predicted by a fit without row i;
    // oof_tokens the same for its ln(1 + output tokens).
    let mut oof = vec![vec![vec![0.0f64; m]; nb]; n];
    let mut oof_tokens = vec![vec![vec![0.0f64; m]; nb]; n];
    for f in 0..folds {
        let held: Vec<usize> = order.iter().skip(f).step_by(folds).copied().collect();
        let mut is_held = vec![false; n];
        held.iter().for_each(|&i| is_held[i] = true);
        let train: Vec<usize> = (0..n).filter(|&i| !is_held[i]).collect();
        if held.is_empty() || train.is_empty() {
            continue;
        }
        let part = set.subset(&train);
        for (b, base) in config.bases.iter().enumerate() {
            let fitted = fit_base(base, &part, configs, seed, None)?;
            for &i in &held {
                for (j, e) in fitted.try_predict(&set.x[i])?.iter().enumerate() {
                    oof[i][b][j] = clamped_logit(e.quality);
                    oof_tokens[i][b][j] = f64::from(to_log_tokens(e.output_tokens as f32));
                }
            }
            tick(
                &mut progress,
                format!("fold {}/{folds}: {}", f + 1, base.label()),
            );
        }
    }
    let mut tokens = TokenWeights {
        coef: vec![0.0; m * nb],
        bias: vec![0.0; m],
    };
    let mut weights = StackWeights {
        bases: nb,
        coef: vec![0.0; m * nb],
        bias: vec![0.0; m],
        tokens: None,
    };
    let priors = ModelPriors::from_training_set(set);
    let mut fits = Vec::with_capacity(m);
    for j in 0..m {
        let rows: Vec<(Vec<f64>, f64)> = (0..n)
            .filter_map(|i| {
                set.quality[i][j].map(|y| (oof[i].iter().map(|l| l[j]).collect(), f64::from(y)))
            })
            .collect();
        let prior_logit = clamped_logit(f64::from(priors.quality[j]));
        let (coef, bias) = if rows.is_empty() {
            (vec![0.0; nb], prior_logit)
        } else {
            nonnegative_logistic(&rows, nb, config.l2)
        };
        for (b, c) in coef.iter().enumerate() {
            weights.coef[j * nb + b] = *c as f32;
        }
        weights.bias[j] = bias as f32;
        // Output tokens: why fitted rather than averaged. Where the bases disagree on length
        // (a task mean against a neighbourhood that mixes sources), their plain average priced
        // prompts worse than the per-task means did (docs/routing-quality.md, "Output tokens
        // combined like quality").
        let token_rows: Vec<(Vec<f64>, f64)> = (0..n)
            .filter_map(|i| {
                set.output_tokens[i][j].map(|t| {
                    (
                        oof_tokens[i].iter().map(|l| l[j]).collect(),
                        f64::from(to_log_tokens(t)),
                    )
                })
            })
            .collect();
        let (token_coef, token_bias) = if token_rows.is_empty() {
            (vec![0.0; nb], f64::from(priors.log_tokens[j]))
        } else {
            nonnegative_least_squares(&token_rows, nb, config.l2)
        };
        for (b, c) in token_coef.iter().enumerate() {
            tokens.coef[j * nb + b] = *c as f32;
        }
        tokens.bias[j] = token_bias as f32;
        fits.push(serde_json::json!({
            "model": set.models[j].as_str(),
            "labelled": rows.len(),
            "coef": coef,
            "bias": bias,
            "token_rows": token_rows.len(),
            "token_coef": token_coef,
            "token_bias": token_bias,
        }));
    }
    weights.tokens = Some(tokens);
    let mut bases = Vec::with_capacity(nb);
    for base in &config.bases {
        bases.push(fit_base(base, set, configs, seed, None)?);
        tick(&mut progress, format!("all rows: {}", base.label()));
    }
    let mut manifest = Manifest::new(
        PredictorKind::Stacked,
        set.models.clone(),
        set.dim(),
        set.sha256(),
        serde_json::json!({
            "stack": config,
            "bases": config.bases.iter().map(StackBase::label).collect::<Vec<_>>(),
        }),
    );
    manifest.metrics = serde_json::json!({
        "rows": n,
        "folds": folds,
        "combination": fits,
        "fit_seconds": clock.elapsed().as_secs_f64(),
    });
    Ok(StackedPredictor::from_parts_checked(
        manifest, priors, bases, weights,
    )?)
}

/// Logistic regression of fractional targets `y ∈ [0, 1]` on `features` with an unpenalised
/// intercept, an L2 penalty `l2` on the coefficients and every coefficient ≥ 0 (a base whose
/// logit moves against the outcome is dropped rather than subtracted: negative weights on
/// correlated bases fit noise). Newton steps on the free coefficients; a coefficient that
/// would go negative is fixed at 0 and the rest refitted.
pub fn nonnegative_logistic(rows: &[(Vec<f64>, f64)], nb: usize, l2: f64) -> (Vec<f64>, f64) {
    nonnegative(nb, |free| newton_logistic(rows, free, l2))
}

/// The active-set loop both combinations share: `fit` over the features still free, every
/// feature whose coefficient comes out negative fixed at 0, refitted until none is.
fn nonnegative(nb: usize, fit: impl Fn(&[bool]) -> (Vec<f64>, f64)) -> (Vec<f64>, f64) {
    let mut free: Vec<bool> = vec![true; nb];
    loop {
        let (coef, bias) = fit(&free);
        if (0..nb).any(|b| free[b] && coef[b] < 0.0) {
            for b in 0..nb {
                if coef[b] < 0.0 {
                    free[b] = false;
                }
            }
        } else {
            return (coef, bias);
        }
    }
}

/// Least squares of `y` on `features` with an unpenalised intercept, an L2 penalty `l2` on the
/// coefficients and every coefficient ≥ 0, by the same active-set loop as
/// [`nonnegative_logistic`]: the output-token combination, where `y` is `ln(1 + tokens)`.
pub fn nonnegative_least_squares(rows: &[(Vec<f64>, f64)], nb: usize, l2: f64) -> (Vec<f64>, f64) {
    nonnegative(nb, |free| ridge(rows, free, l2))
}

/// Ridge regression over the `free` features (the others stay 0) with an unpenalised
/// intercept: centred normal equations, solved by Cholesky. Without rows, or with a singular
/// system, every coefficient is 0 and the intercept the mean.
fn ridge(rows: &[(Vec<f64>, f64)], free: &[bool], l2: f64) -> (Vec<f64>, f64) {
    let idx: Vec<usize> = (0..free.len()).filter(|&b| free[b]).collect();
    let n = rows.len().max(1) as f64;
    let mean_y = rows.iter().map(|r| r.1).sum::<f64>() / n;
    let mean_x: Vec<f64> = idx
        .iter()
        .map(|&b| rows.iter().map(|r| r.0[b]).sum::<f64>() / n)
        .collect();
    let p = idx.len();
    let mut a = vec![0.0f64; p * p];
    let mut rhs = vec![0.0f64; p];
    for (x, y) in rows {
        let xc: Vec<f64> = idx.iter().zip(&mean_x).map(|(&b, m)| x[b] - m).collect();
        for r in 0..p {
            rhs[r] += xc[r] * (y - mean_y);
            for c in 0..p {
                a[r * p + c] += xc[r] * xc[c];
            }
        }
    }
    for r in 0..p {
        a[r * p + r] += l2 + 1e-9;
    }
    let mut coef = vec![0.0f64; free.len()];
    let w = if p == 0 {
        Vec::new()
    } else {
        cholesky_solve(&mut a, &rhs, p).unwrap_or_else(|| vec![0.0; p])
    };
    let mut bias = mean_y;
    for (k, &b) in idx.iter().enumerate() {
        coef[b] = w[k];
        bias -= w[k] * mean_x[k];
    }
    (coef, bias)
}

/// Penalised logistic regression over the `free` features (the others stay 0) by damped
/// Newton steps; the intercept starts at the targets' mean logit.
fn newton_logistic(rows: &[(Vec<f64>, f64)], free: &[bool], l2: f64) -> (Vec<f64>, f64) {
    let idx: Vec<usize> = (0..free.len()).filter(|&b| free[b]).collect();
    let p = idx.len() + 1; // intercept last
    let mean_y = rows.iter().map(|r| r.1).sum::<f64>() / rows.len() as f64;
    let mut w = vec![0.0f64; p];
    w[p - 1] = clamped_logit(mean_y);
    let loss = |w: &[f64]| -> f64 {
        let mut l = 0.0;
        for (x, y) in rows {
            let z = w[p - 1]
                + idx
                    .iter()
                    .enumerate()
                    .map(|(k, &b)| w[k] * x[b])
                    .sum::<f64>();
            // log(1 + e^z) − y z, computed stably.
            l += z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z;
        }
        l + 0.5 * l2 * w[..p - 1].iter().map(|v| v * v).sum::<f64>()
    };
    let mut current = loss(&w);
    for _ in 0..50 {
        let mut grad = vec![0.0f64; p];
        let mut hess = vec![0.0f64; p * p];
        for (x, y) in rows {
            let mut feat: Vec<f64> = idx.iter().map(|&b| x[b]).collect();
            feat.push(1.0);
            let z: f64 = feat.iter().zip(&w).map(|(a, b)| a * b).sum();
            let s = 1.0 / (1.0 + (-z).exp());
            let r = s - y;
            let v = (s * (1.0 - s)).max(1e-9);
            for a in 0..p {
                grad[a] += r * feat[a];
                for c in 0..p {
                    hess[a * p + c] += v * feat[a] * feat[c];
                }
            }
        }
        for a in 0..p - 1 {
            grad[a] += l2 * w[a];
            hess[a * p + a] += l2;
        }
        for a in 0..p {
            hess[a * p + a] += 1e-9;
        }
        let Some(step) = cholesky_solve(&mut hess, &grad, p) else {
            break;
        };
        // Backtracking keeps each step a descent step on the penalised loss.
        let mut t = 1.0;
        let mut improved = false;
        while t > 1e-4 {
            let trial: Vec<f64> = w.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            let l = loss(&trial);
            if l <= current {
                improved = current - l > 1e-10 * current.abs().max(1.0);
                w = trial;
                current = l;
                break;
            }
            t *= 0.5;
        }
        if !improved {
            break;
        }
    }
    let mut coef = vec![0.0f64; free.len()];
    for (k, &b) in idx.iter().enumerate() {
        coef[b] = w[k];
    }
    (coef, w[p - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonnegative_logistic_recovers_a_planted_weight_and_drops_a_harmful_base() {
        // Outcome follows feature 0 with slope 1.5; feature 1 is its negation (a base moving
        // against the outcome), which must be dropped rather than subtracted.
        let rows: Vec<(Vec<f64>, f64)> = (0..400)
            .map(|i| {
                let x = (i as f64 / 400.0) * 6.0 - 3.0;
                let p = 1.0 / (1.0 + (-(1.5 * x - 0.5)).exp());
                (vec![x, -x], p)
            })
            .collect();
        let (coef, bias) = nonnegative_logistic(&rows, 2, 0.0);
        assert!((coef[0] - 1.5).abs() < 1e-3, "{coef:?}");
        assert_eq!(coef[1], 0.0);
        assert!((bias + 0.5).abs() < 1e-3, "{bias}");
    }

    #[test]
    fn without_signal_the_combination_is_the_mean() {
        // Features unrelated to a constant outcome: all weight goes to the intercept.
        let rows: Vec<(Vec<f64>, f64)> = (0..200)
            .map(|i| (vec![((i * 37) % 11) as f64 - 5.0], 0.7))
            .collect();
        let (coef, bias) = nonnegative_logistic(&rows, 1, 2.0);
        assert!(coef[0].abs() < 1e-6, "{coef:?}");
        assert!((1.0 / (1.0 + (-bias).exp()) - 0.7).abs() < 1e-6);
    }

    #[test]
    fn nonnegative_least_squares_recovers_a_planted_weight_and_drops_a_harmful_base() {
        // ln(1 + tokens) = 0.3 + 0.8·x0 plus a small wobble; feature 1 moves against it.
        let rows: Vec<(Vec<f64>, f64)> = (0..300)
            .map(|i| {
                let x = (i as f64 / 300.0) * 4.0 + 2.0;
                let wobble = 0.01 * (((i * 37) % 7) as f64 - 3.0);
                (vec![x, -x], 0.3 + 0.8 * x + wobble)
            })
            .collect();
        let (coef, bias) = nonnegative_least_squares(&rows, 2, 0.0);
        assert!((coef[0] - 0.8).abs() < 0.01, "{coef:?}");
        assert_eq!(coef[1], 0.0);
        assert!((bias - 0.3).abs() < 0.05, "{bias}");
        // A penalty pulls the slope toward 0 and the intercept toward the mean, never negative.
        let (shrunk, _) = nonnegative_least_squares(&rows, 2, 1e4);
        assert!(shrunk[0] >= 0.0 && shrunk[0] < coef[0], "{shrunk:?}");
        // No rows: the intercept is 0 and so is every coefficient.
        assert_eq!(
            nonnegative_least_squares(&[], 2, 2.0),
            (vec![0.0, 0.0], 0.0)
        );
    }

    /// Mean log loss of `p` against the true probabilities of rows `rows`.
    fn log_loss(
        p: &dyn router_core::QualityPredictor,
        planted: &crate::synthetic::Planted,
        rows: std::ops::Range<usize>,
    ) -> f64 {
        let mut total = 0.0;
        let mut count = 0usize;
        for i in rows {
            for (j, e) in p.predict(&planted.set.x[i]).iter().enumerate() {
                let q = e.quality.clamp(1e-6, 1.0 - 1e-6);
                let t = f64::from(planted.truth[i][j]);
                total -= t * q.ln() + (1.0 - t) * (1.0 - q).ln();
                count += 1;
            }
        }
        total / count as f64
    }

    fn small_config() -> (StackConfig, PredictorConfigs) {
        let mut configs = PredictorConfigs::default();
        configs.mlp.hidden = vec![16];
        configs.mlp.neural.max_epochs = 20;
        configs.mf.latent_dim = 8;
        configs.mf.neural.max_epochs = 20;
        let stack = StackConfig {
            folds: 3,
            ..StackConfig::default()
        };
        (stack, configs)
    }

    #[test]
    fn stack_beats_the_means_on_planted_signal_and_round_trips() {
        let planted = crate::synthetic::planted(&crate::synthetic::PlantedConfig {
            rows: 900,
            missing: 0.2,
            ..Default::default()
        });
        let train = planted.set.subset(&(0..600).collect::<Vec<_>>());
        let (config, configs) = small_config();
        let stack = fit_stacked(&train, &config, &configs, 1, None).unwrap();
        let means = crate::experiment::fixed_policy_artifact(&train).unwrap();
        let (ours, theirs) = (
            log_loss(&stack, &planted, 600..900),
            log_loss(&means, &planted, 600..900),
        );
        assert!(ours < theirs - 0.02, "stack {ours:.4} vs means {theirs:.4}");
        // Every model leans on at least one base, none negatively; tokens are combined too.
        let w = stack.weights();
        assert!(w.coef.iter().all(|&c| c >= 0.0));
        let tokens = w
            .tokens
            .as_ref()
            .expect("a fitted stack combines output tokens");
        assert!(tokens.coef.iter().all(|&c| c >= 0.0));
        for j in 0..train.models.len() {
            assert!(w.coef[j * w.bases..(j + 1) * w.bases]
                .iter()
                .any(|&c| c > 0.1));
        }

        let dir = tempfile::tempdir().unwrap();
        Artifact::from(stack.clone()).save(dir.path()).unwrap();
        let loaded = Artifact::load(dir.path()).unwrap();
        assert_eq!(loaded.manifest().kind, PredictorKind::Stacked);
        for i in 600..610 {
            let x = &planted.set.x[i];
            let (a, b) = (
                stack.try_predict(x).unwrap(),
                loaded.try_predict(x).unwrap(),
            );
            for (a, b) in a.iter().zip(&b) {
                assert!((a.quality - b.quality).abs() < 1e-6);
                assert!((a.output_tokens - b.output_tokens).abs() < 1e-3);
            }
        }
        // An artifact written before the token combination existed averages the bases' lengths.
        let old = StackedPredictor::from_parts_checked(
            stack.manifest().clone(),
            stack.priors().clone(),
            stack.bases().to_vec(),
            StackWeights {
                tokens: None,
                ..stack.weights().clone()
            },
        )
        .unwrap();
        let old_dir = tempfile::tempdir().unwrap();
        Artifact::from(old).save(old_dir.path()).unwrap();
        let old = Artifact::load(old_dir.path()).unwrap();
        let x = &planted.set.x[600];
        let per_base: Vec<_> = stack
            .bases()
            .iter()
            .map(|b| b.try_predict(x).unwrap())
            .collect();
        for (j, e) in old.try_predict(x).unwrap().iter().enumerate() {
            let mean = per_base
                .iter()
                .map(|p| to_log_tokens(p[j].output_tokens as f32))
                .sum::<f32>()
                / per_base.len() as f32;
            let expected = classifier::predictors::from_log_tokens(mean);
            assert!((e.output_tokens as f32 - expected).abs() < 1e-2 * expected.max(1.0));
        }

        // A base that no longer matches the stack's models is refused on load, naming it.
        std::fs::remove_dir_all(dir.path().join("base-1")).unwrap();
        let err = Artifact::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("base-1"), "{err}");
    }

    #[test]
    fn stacks_refuse_nested_bases_and_bad_penalties() {
        let planted = crate::synthetic::planted(&crate::synthetic::PlantedConfig {
            rows: 60,
            ..Default::default()
        });
        let (mut config, configs) = small_config();
        config.bases = vec![StackBase {
            kind: PredictorKind::Stacked,
            k: None,
        }];
        let err = fit_stacked(&planted.set, &config, &configs, 0, None).unwrap_err();
        assert!(err.to_string().contains("stack"), "{err}");
        let (mut config, configs) = small_config();
        config.l2 = f64::NAN;
        let err = fit_stacked(&planted.set, &config, &configs, 0, None).unwrap_err();
        assert!(err.to_string().contains("stack.l2"), "{err}");
    }
}
