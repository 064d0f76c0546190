//! Exploration on top of the greedy policy, with exact propensities: ε-greedy, softmax
//! (Boltzmann) and Thompson sampling.
//!
//! A router that only ever picks its greedy choice never learns what the other models would
//! have done on the same prompts: logged feedback then covers one model per prompt region, and
//! off-policy estimates of any other router have no support there. [`explore`] randomises the
//! choice among the best few candidates and records in [`RouteDecision::propensity`] the exact
//! probability with which the chosen model was picked, so that logged traffic can be reweighted
//! later (inverse propensity scoring, doubly robust estimates).
//!
//! Rules:
//! - Only decisions the policy reached as [`DecisionReason::BestFeasible`] are explored, and only
//!   among feasible candidates (no violation at all): exploration never breaks a caller's cost,
//!   latency or quality limits, and never overrides a relaxed or static-fallback choice.
//! - The pool is the greedy model followed by the next feasible candidates in ranked order, at
//!   most `top_k` models in all.
//! - The caller supplies the uniform draw `u ∈ [0, 1)`, so this crate stays free of random
//!   number generators and every decision is reproducible from its draw.

use serde::{Deserialize, Serialize};

use crate::{Candidate, DecisionReason, EstimateSource, ModelId, RouteDecision};

mod thompson;

/// How (and whether) the router explores beyond its greedy choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Exploration {
    /// Always the greedy choice (propensity 1).
    #[default]
    Off,
    /// With probability `epsilon` pick uniformly among the top `k` feasible candidates
    /// (greedy included), else the greedy one: the greedy model has propensity
    /// `1 − ε + ε/k`, each other pool member `ε/k`.
    EpsilonGreedy {
        /// Exploration rate in `[0, 1]` (values outside are clamped; NaN counts as 0).
        epsilon: f64,
        /// Pool size, greedy included; 0 and 1 disable exploration.
        top_k: usize,
    },
    /// Pick among the top `k` feasible candidates with probability proportional to
    /// `exp(utility / temperature)` (Boltzmann exploration): close runners-up are tried often,
    /// clearly worse ones rarely.
    Softmax {
        /// Temperature in utility units (quality points); at or below 0 (or NaN) the policy is
        /// greedy.
        temperature: f64,
        /// Pool size, greedy included; 0 and 1 disable exploration.
        top_k: usize,
    },
    /// Thompson sampling among the top `k` feasible candidates: each candidate's utility is
    /// drawn from a normal posterior centred on its estimate and the largest draw wins. The
    /// posterior's spread says how much the estimate is trusted: for a model fitted from
    /// probes or labels (live onboarding, a task-priors refit) the fit's own posterior
    /// ([`crate::Candidate::spread`]), which narrows as labels accumulate; `trained_sd` for
    /// estimates a trained predictor made (and fits written before spreads were kept);
    /// `prior_sd` for catalog priors. So a model the router knows only from the catalog, or
    /// from a few probes, is tried more often than a runner-up it has learned, and each less
    /// as its gap to the greedy choice grows. The probabilities
    /// are computed, not sampled ([`thompson`]), so the logged propensities are exact.
    Thompson {
        /// Posterior standard deviation, in quality points, of a trained estimate (and of an
        /// onboarded one whose fit kept no spread).
        #[serde(default = "default_trained_sd")]
        trained_sd: f64,
        /// Posterior standard deviation, in quality points, of a catalog prior (task or flat),
        /// and of the share of an onboarded estimate that no probe measured.
        #[serde(default = "default_prior_sd")]
        prior_sd: f64,
        /// Pool size, greedy included; 0 and 1 disable exploration.
        top_k: usize,
    },
}

/// The default spread of a trained estimate's posterior, in quality points. Chosen on
/// validation seeds of the RouterBench cold loop (docs/learning-loop.md, "Thompson sampling in
/// the loop"), not fitted per model: with it a trained runner-up 0.02 behind the greedy choice
/// is tried about a quarter of the time (two candidates), one 0.05 behind about 4 % of the time.
pub const DEFAULT_TRAINED_SD: f64 = 0.02;
/// The default spread of a catalog prior's posterior: two and a half times a trained one's,
/// since a prior is the same for every prompt of a task and misses a model's quality on a given
/// prompt by far more (docs/task-priors.md).
pub const DEFAULT_PRIOR_SD: f64 = 0.05;

fn default_trained_sd() -> f64 {
    DEFAULT_TRAINED_SD
}

fn default_prior_sd() -> f64 {
    DEFAULT_PRIOR_SD
}

impl Exploration {
    fn top_k(&self) -> usize {
        match *self {
            Exploration::Off => 1,
            Exploration::EpsilonGreedy { top_k, .. }
            | Exploration::Softmax { top_k, .. }
            | Exploration::Thompson { top_k, .. } => top_k.max(1),
        }
    }
}

/// The models `explore` may pick for `greedy` (greedy first), with their probabilities.
///
/// `greedy` is the decision as [`crate::policy::route`] returned it. The probabilities sum to 1;
/// every model absent from the list has probability 0. Off-policy estimators use this as the
/// target policy's action distribution.
pub fn action_distribution(
    greedy: &RouteDecision,
    exploration: &Exploration,
) -> Vec<(ModelId, f64)> {
    let pool = pool(greedy, exploration.top_k());
    let k = pool.len();
    if k <= 1 {
        return vec![(greedy.chosen.clone(), 1.0)];
    }
    let probs: Vec<f64> = match *exploration {
        Exploration::Off => return vec![(greedy.chosen.clone(), 1.0)],
        Exploration::EpsilonGreedy { epsilon, .. } => {
            let eps = clamp_unit(epsilon);
            let share = eps / k as f64;
            (0..k)
                .map(|i| if i == 0 { 1.0 - eps + share } else { share })
                .collect()
        }
        Exploration::Softmax { temperature, .. } => {
            if !(temperature > 0.0 && temperature.is_finite()) {
                return vec![(greedy.chosen.clone(), 1.0)];
            }
            let utilities = pool_utilities(greedy, &pool);
            // Shift by the largest utility so that exp never overflows.
            let top = utilities.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = utilities
                .iter()
                .map(|u| ((u - top) / temperature).exp())
                .collect();
            let total: f64 = weights.iter().sum();
            weights.iter().map(|w| w / total).collect()
        }
        Exploration::Thompson {
            trained_sd,
            prior_sd,
            ..
        } => {
            let utilities = pool_utilities(greedy, &pool);
            let sds: Vec<f64> = pool
                .iter()
                .map(|c| match (c.spread, c.source) {
                    // Fitted from probes or labels: the fit's own posterior, the catalog's
                    // spread for the share of the estimate no probe measured.
                    (Some(spread), _) => spread.total(prior_sd),
                    (None, Some(EstimateSource::Trained | EstimateSource::Onboarded)) => trained_sd,
                    (None, Some(EstimateSource::TaskPrior | EstimateSource::FlatPrior) | None) => {
                        prior_sd
                    }
                })
                .collect();
            thompson::win_probabilities(&utilities, &sds)
        }
    };
    pool.iter().map(|c| c.model.clone()).zip(probs).collect()
}

/// The pool's utilities as the utility-weighted explorations (softmax, Thompson) compare them.
/// Where the tie-break kept the fixed choice (`greedy.tie_break`), the kept model competes
/// with its utility raised by the margin, the hurdle the tie-break already held the others
/// to, so it stays the likeliest pick, as it is the greedy one.
fn pool_utilities(greedy: &RouteDecision, pool: &[&Candidate]) -> Vec<f64> {
    let kept = greedy
        .tie_break
        .as_ref()
        .filter(|t| t.fixed == greedy.chosen)
        .map_or(0.0, |t| finite_or_zero(t.margin).max(0.0));
    pool.iter()
        .enumerate()
        .map(|(i, c)| finite_or_zero(c.utility) + if i == 0 { kept } else { 0.0 })
        .collect()
}

/// The probability that `explore` picks `model` for the greedy decision `greedy` (0 for models
/// outside the pool).
pub fn propensity_of(greedy: &RouteDecision, exploration: &Exploration, model: &ModelId) -> f64 {
    action_distribution(greedy, exploration)
        .into_iter()
        .find(|(m, _)| m == model)
        .map_or(0.0, |(_, p)| p)
}

/// Applies `exploration` to the greedy decision, given a uniform draw `u ∈ [0, 1)` (values
/// outside are clamped).
///
/// The result keeps `ranked` unchanged, sets `chosen` to the sampled model and `propensity` to
/// its exact probability; `reason` becomes [`DecisionReason::Exploration`] when the sampled
/// model is not the greedy one. Decisions not reached as [`DecisionReason::BestFeasible`] come
/// back unchanged.
pub fn explore(greedy: RouteDecision, exploration: &Exploration, u: f64) -> RouteDecision {
    let dist = action_distribution(&greedy, exploration);
    if dist.len() <= 1 {
        return greedy;
    }
    let u = if u.is_finite() {
        u.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Inverse CDF; the last model with any probability absorbs rounding, so that some model
    // is always picked and never one whose logged propensity would be 0.
    let mut acc = 0.0;
    let mut pick = dist.iter().rposition(|(_, p)| *p > 0.0).unwrap_or(0);
    for (i, (_, p)) in dist.iter().enumerate() {
        acc += p;
        if u < acc {
            pick = i;
            break;
        }
    }
    let (model, propensity) = dist[pick].clone();
    let reason = if model == greedy.chosen {
        greedy.reason
    } else {
        DecisionReason::Exploration
    };
    RouteDecision {
        chosen: model,
        reason,
        propensity,
        ranked: greedy.ranked,
        tasks: greedy.tasks,
        difficulty: greedy.difficulty,
        routing: greedy.routing,
        tie_break: greedy.tie_break,
        input_tokens: greedy.input_tokens,
    }
}

/// The greedy candidate, then the next feasible candidates in ranked order, `top_k` at most;
/// only the greedy one unless the decision is a plain best-feasible choice.
fn pool(greedy: &RouteDecision, top_k: usize) -> Vec<&Candidate> {
    let Some(first) = greedy.chosen_candidate() else {
        return Vec::new();
    };
    let mut pool = vec![first];
    if greedy.reason != DecisionReason::BestFeasible || !first.is_feasible() {
        return pool;
    }
    pool.extend(
        greedy
            .ranked
            .iter()
            .filter(|c| c.is_feasible() && c.model != greedy.chosen)
            .take(top_k.saturating_sub(1)),
    );
    pool
}

fn clamp_unit(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests;
