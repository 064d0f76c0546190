//! A reward model for the doubly robust estimator that is fitted on the evaluated log itself,
//! cross-fitted so that no step's prediction has seen that step's own outcome.
//!
//! Why not the candidate's own predictions: the candidate picks, per prompt, the model whose
//! predicted quality is highest, so on the models it picks its predictions are biased upward
//! (the optimiser's curse). Where the log supports the pick, the importance-weighted
//! correction removes that bias; where it does not (the logging policy never tries that model
//! on such prompts), the doubly robust estimate is the candidate's optimism, and its interval,
//! computed as if the reward model were exact, misses the truth (docs/learning-loop.md, §7).
//! A reward model fitted independently of the candidate, and of each step's own outcome, has
//! no such selection bias.
//!
//! The model, for step `i` in fold `f` and action `a`, from the steps outside fold `f` that
//! logged `a` (`T_a`):
//! - the action's level `m = (Σ_{T_a} r + c·p) / (|T_a| + c)`, with `p` the router's prior
//!   for `a` on this prompt (the catalog's task-weighted score, as the policy computes it for
//!   a model no predictor knows) and `c` pseudo-rows of it;
//! - the prompt's neighbourhood: the `k` steps of `T_a` nearest by cosine similarity of
//!   their embeddings, `(Σ_{nn} r + c·m) / (|nn| + c)`.
//!
//! So an action the log never took keeps its prior, one it took a few times moves toward what
//! those times showed, and one it took often follows the prompt's neighbours.

/// How the cross-fitted reward model is fitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrossFit {
    /// Folds; each step's prediction comes from the other `folds − 1`.
    pub folds: usize,
    /// Neighbours per action.
    pub neighbours: usize,
    /// Pseudo-rows of the prior in each shrinkage step.
    pub prior_rows: f64,
    /// At most this many steps of each action per fold are searched for neighbours (a
    /// deterministic stride through them), so a large log stays quick: `n × actions × this`
    /// similarity computations at most.
    pub max_pool: usize,
}

impl Default for CrossFit {
    fn default() -> Self {
        CrossFit {
            folds: 5,
            neighbours: 20,
            prior_rows: 5.0,
            max_pool: 2_000,
        }
    }
}

/// What one logged step contributes to the fit.
pub(crate) struct FitRow<'a> {
    /// The prompt's embedding.
    pub(crate) embedding: &'a [f32],
    /// The action the logging policy took.
    pub(crate) action: usize,
    /// Its realised reward.
    pub(crate) reward: f64,
    /// The router's prior quality of every action on this prompt.
    pub(crate) priors: &'a [f64],
}

/// The cross-fitted predicted reward of every action for every row, in `[0, 1]`. Fold of row
/// `i`: `i mod folds` (logs are in time order, so each fold spans the whole period). With
/// fewer than two rows, or one fold, each row gets its priors.
pub(crate) fn cross_fitted_rewards(rows: &[FitRow<'_>], fit: &CrossFit) -> Vec<Vec<f64>> {
    let folds = fit.folds.min(rows.len());
    if folds < 2 {
        return rows.iter().map(|r| clamp_all(r.priors)).collect();
    }
    let actions = rows.iter().map(|r| r.priors.len()).max().unwrap_or(0);
    let norms: Vec<f64> = rows.iter().map(|r| norm(r.embedding)).collect();
    let mut out = vec![Vec::new(); rows.len()];
    for fold in 0..folds {
        // Per action, the training steps (outside this fold) that logged it.
        let mut by_action: Vec<Vec<usize>> = vec![Vec::new(); actions];
        for (j, r) in rows.iter().enumerate() {
            if j % folds != fold && r.action < actions {
                by_action[r.action].push(j);
            }
        }
        let sums: Vec<f64> = by_action
            .iter()
            .map(|idx| idx.iter().map(|&j| rows[j].reward).sum())
            .collect();
        let pools: Vec<Vec<usize>> = by_action
            .iter()
            .map(|idx| thin(idx, fit.max_pool))
            .collect();
        for i in (fold..rows.len()).step_by(folds) {
            let row = &rows[i];
            out[i] = (0..actions)
                .map(|a| {
                    let prior = row.priors.get(a).copied().unwrap_or(0.5);
                    let level = shrink(sums[a], by_action[a].len(), prior, fit.prior_rows);
                    let near = nearest(rows, &norms, i, &pools[a], fit.neighbours);
                    let near_sum: f64 = near.iter().map(|&j| rows[j].reward).sum();
                    shrink(near_sum, near.len(), level, fit.prior_rows).clamp(0.0, 1.0)
                })
                .collect();
        }
    }
    out
}

/// `(sum + c·anchor) / (n + c)`: a mean of `n` values shrunk toward `anchor`.
fn shrink(sum: f64, n: usize, anchor: f64, c: f64) -> f64 {
    let v = (sum + c * anchor) / (n as f64 + c);
    if v.is_finite() {
        v
    } else {
        anchor
    }
}

fn clamp_all(priors: &[f64]) -> Vec<f64> {
    priors.iter().map(|p| p.clamp(0.0, 1.0)).collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt()
}

/// At most `max` of `idx`, evenly spaced.
fn thin(idx: &[usize], max: usize) -> Vec<usize> {
    if idx.len() <= max || max == 0 {
        return idx.to_vec();
    }
    (0..max).map(|k| idx[k * idx.len() / max]).collect()
}

/// The `k` rows of `pool` most similar to row `i` (cosine), most similar first.
fn nearest(rows: &[FitRow<'_>], norms: &[f64], i: usize, pool: &[usize], k: usize) -> Vec<usize> {
    let me = rows[i].embedding;
    let mut scored: Vec<(f64, usize)> = pool
        .iter()
        .map(|&j| {
            let dot: f64 = me
                .iter()
                .zip(rows[j].embedding)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            let denom = norms[i] * norms[j];
            let sim = if denom > 0.0 { dot / denom } else { 0.0 };
            (sim, j)
        })
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(k);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, j)| j).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two prompt regions (embeddings along x or y); action 0 is right in region x only,
    /// action 1 everywhere; action 2 is never logged.
    fn rows(n: usize) -> (Vec<Vec<f32>>, Vec<(usize, f64)>) {
        let mut embeddings = Vec::new();
        let mut logged = Vec::new();
        for i in 0..n {
            let x_region = i % 2 == 0;
            embeddings.push(if x_region {
                vec![1.0, 0.01 * (i % 7) as f32]
            } else {
                vec![0.01 * (i % 5) as f32, 1.0]
            });
            let action = (i / 2) % 2;
            let reward = match (action, x_region) {
                (0, true) | (1, _) => 1.0,
                _ => 0.0,
            };
            logged.push((action, reward));
        }
        (embeddings, logged)
    }

    fn fit_rows<'a>(
        embeddings: &'a [Vec<f32>],
        logged: &[(usize, f64)],
        priors: &'a [f64],
    ) -> Vec<FitRow<'a>> {
        embeddings
            .iter()
            .zip(logged)
            .map(|(e, &(action, reward))| FitRow {
                embedding: e,
                action,
                reward,
                priors,
            })
            .collect()
    }

    #[test]
    fn the_model_follows_the_logged_rewards_per_region_and_keeps_the_prior_elsewhere() {
        let (embeddings, logged) = rows(400);
        let priors = [0.5, 0.5, 0.7];
        let fitted = cross_fitted_rewards(
            &fit_rows(&embeddings, &logged, &priors),
            &CrossFit::default(),
        );
        // Row 0 is in region x, row 1 in region y.
        assert!(fitted[0][0] > 0.85, "{:?}", fitted[0]);
        assert!(fitted[1][0] < 0.15, "{:?}", fitted[1]);
        assert!(fitted[1][1] > 0.85, "{:?}", fitted[1]);
        // Never logged: the prior.
        assert!((fitted[0][2] - 0.7).abs() < 1e-9, "{:?}", fitted[0]);
    }

    #[test]
    fn no_row_s_prediction_depends_on_its_own_outcome() {
        let (embeddings, logged) = rows(60);
        let priors = [0.5, 0.5, 0.5];
        let before = cross_fitted_rewards(
            &fit_rows(&embeddings, &logged, &priors),
            &CrossFit::default(),
        );
        let mut flipped = logged.clone();
        flipped[7].1 = 1.0 - flipped[7].1;
        let after = cross_fitted_rewards(
            &fit_rows(&embeddings, &flipped, &priors),
            &CrossFit::default(),
        );
        assert_eq!(before[7], after[7]);
        // Rows of other folds do see it.
        assert!(before.iter().zip(&after).any(|(b, a)| b != a));
    }

    #[test]
    fn tiny_logs_get_their_priors_and_large_pools_are_thinned() {
        let (embeddings, logged) = rows(1);
        let priors = [0.2, 1.5, -0.1];
        let fitted = cross_fitted_rewards(
            &fit_rows(&embeddings, &logged, &priors),
            &CrossFit::default(),
        );
        assert_eq!(fitted, vec![vec![0.2, 1.0, 0.0]]);
        assert_eq!(thin(&[1, 2, 3, 4, 5, 6], 3), vec![1, 3, 5]);
        assert_eq!(thin(&[1, 2], 3), vec![1, 2]);
    }
}
