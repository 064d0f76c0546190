//! Off-policy evaluation: a candidate router's expected quality and cost, estimated from
//! traffic that another router (the logging policy) served.
//!
//! Each [`LoggedStep`] is one logged request: the action the logging policy took (a model
//! index), the probability it had of taking it (`propensity`, μ), the realised reward (quality
//! feedback) and cost, and for the candidate (target) policy its action distribution π and,
//! for the doubly robust estimator, predicted reward and cost per action. With importance
//! weight `w_i = π(a_i | x_i) / μ_i`, optionally clipped at `M` (`w_i ← min(w_i, M)`):
//!
//! - **IPS**: `V = (1/n) Σ w_i y_i`. Unbiased when every action the target can take had
//!   `μ > 0` and propensities are exact; variance grows with `1/μ`.
//! - **Self-normalised IPS**: `V = Σ w_i y_i / Σ w_i`. Slightly biased (consistent), but
//!   bounded by the observed values and far less variable with small propensities.
//! - **Doubly robust**: `V = (1/n) Σ [ Σ_a π(a|x_i) ŷ(x_i,a) + w_i (y_i − ŷ(x_i,a_i)) ]`.
//!   Unbiased if either the propensities or the model `ŷ` are right; with a good `ŷ` the
//!   correction term is small and the variance much lower than IPS.
//!
//! `y` is the reward for [`Target::Reward`] and the cost for [`Target::Cost`].
//!
//! **Confidence intervals** are 95 % normal approximations (`z = 1.96`, configurable) from the
//! per-step terms: for IPS and DR `V ± z·s/√n` with `s` the sample standard deviation of the
//! terms; for SNIPS the delta method, `se = √(Σ w_i² (y_i − V)²) / Σ w_i`. They assume
//! independent steps and are optimistic when few weights dominate: check
//! [`Estimate::effective_sample_size`] (`(Σ w)² / Σ w²`, Kish) and distrust intervals when it is
//! a small fraction of `n`. Clipping lowers variance at the price of a downward bias on
//! non-negative values (the clipped-away weight mass is lost); it is off by default.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

mod gate;
pub use gate::{
    gate, Gate, GateEstimator, GateLimits, DEFAULT_MIN_EFFECTIVE_N, DEFAULT_MIN_SUPPORT,
};

/// One logged request, as an off-policy estimator sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedStep {
    /// Index of the action (model) the logging policy took.
    pub logged_action: usize,
    /// Probability the logging policy had of taking it, in `(0, 1]`.
    pub propensity: f64,
    /// Realised reward (quality feedback, usually in `[0, 1]`).
    pub reward: f64,
    /// Realised cost in USD.
    pub cost: f64,
    /// The candidate router's probability of each action on this request (sums to 1).
    pub target_probs: Vec<f64>,
    /// Predicted reward per action (for the doubly robust estimator; may be empty otherwise).
    pub reward_model: Vec<f64>,
    /// Predicted cost per action (for the doubly robust estimator; may be empty otherwise).
    pub cost_model: Vec<f64>,
}

impl LoggedStep {
    /// The step in utility at `lambda`: reward `quality − λ·cost`, and the reward model
    /// `ŷ − λ·ĉ` likewise. The estimators apply unchanged, utility being linear in both.
    pub fn in_utility(&self, lambda: f64) -> LoggedStep {
        LoggedStep {
            reward: self.reward - lambda * self.cost,
            reward_model: self
                .reward_model
                .iter()
                .zip(&self.cost_model)
                .map(|(r, c)| r - lambda * c)
                .collect(),
            ..self.clone()
        }
    }
}

/// Which logged value to estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The reward (quality).
    Reward,
    /// The cost in USD.
    Cost,
}

/// Estimator settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeConfig {
    /// Clip importance weights at this value (`None`: no clipping, the unbiased default).
    pub clip: Option<f64>,
    /// Normal quantile of the interval; 1.96 gives 95 %.
    pub z: f64,
}

impl Default for OpeConfig {
    fn default() -> Self {
        Self {
            clip: None,
            z: 1.96,
        }
    }
}

/// An estimate with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower end of the interval.
    pub ci_low: f64,
    /// Upper end of the interval.
    pub ci_high: f64,
    /// Logged steps used.
    pub n: usize,
    /// Kish effective sample size of the importance weights, `(Σ w)² / Σ w²` (0 when every
    /// weight is 0: the target never takes a logged action).
    pub effective_sample_size: f64,
}

/// The three estimators for one value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimates {
    /// Inverse propensity scoring.
    pub ips: Estimate,
    /// Self-normalised IPS.
    pub snips: Estimate,
    /// Doubly robust.
    pub dr: Estimate,
}

/// A candidate router's estimated quality and cost, plus the logging policy's own averages.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeReport {
    /// Expected reward (quality) under the candidate.
    pub reward: Estimates,
    /// Expected cost in USD under the candidate.
    pub cost: Estimates,
    /// Mean logged reward (the logging policy's on-policy value), for reference.
    pub logged_reward: Estimate,
    /// Mean logged cost, for reference.
    pub logged_cost: Estimate,
}

/// Inverse propensity scoring. Checks every step first (see [`validate`]).
pub fn ips(steps: &[LoggedStep], target: Target, config: &OpeConfig) -> Result<Estimate> {
    validate(steps, false)?;
    let w = weights(steps, config);
    let terms: Vec<f64> = steps
        .iter()
        .zip(&w)
        .map(|(s, w)| w * observed(s, target))
        .collect();
    Ok(mean_estimate(&terms, &w, config.z))
}

/// Self-normalised IPS. With every weight 0 (the target never agrees with the log) the value
/// is NaN with an infinite interval: the log says nothing about the target.
pub fn snips(steps: &[LoggedStep], target: Target, config: &OpeConfig) -> Result<Estimate> {
    validate(steps, false)?;
    let w = weights(steps, config);
    let total: f64 = w.iter().sum();
    let ess = kish(&w);
    if total <= 0.0 {
        return Ok(Estimate {
            value: f64::NAN,
            ci_low: f64::NEG_INFINITY,
            ci_high: f64::INFINITY,
            n: steps.len(),
            effective_sample_size: ess,
        });
    }
    let value = steps
        .iter()
        .zip(&w)
        .map(|(s, w)| w * observed(s, target))
        .sum::<f64>()
        / total;
    let se = steps
        .iter()
        .zip(&w)
        .map(|(s, w)| (w * (observed(s, target) - value)).powi(2))
        .sum::<f64>()
        .sqrt()
        / total;
    Ok(Estimate {
        value,
        ci_low: value - config.z * se,
        ci_high: value + config.z * se,
        n: steps.len(),
        effective_sample_size: ess,
    })
}

/// Doubly robust. Needs `reward_model` (for [`Target::Reward`]) or `cost_model` (for
/// [`Target::Cost`]) on every step, one entry per action.
pub fn doubly_robust(steps: &[LoggedStep], target: Target, config: &OpeConfig) -> Result<Estimate> {
    validate(steps, true)?;
    let w = weights(steps, config);
    let terms: Vec<f64> = steps
        .iter()
        .zip(&w)
        .map(|(s, w)| {
            let model = match target {
                Target::Reward => &s.reward_model,
                Target::Cost => &s.cost_model,
            };
            let direct: f64 = s.target_probs.iter().zip(model).map(|(p, y)| p * y).sum();
            direct + w * (observed(s, target) - model[s.logged_action])
        })
        .collect();
    Ok(mean_estimate(&terms, &w, config.z))
}

/// All three estimators for reward and cost, plus the logged means.
pub fn evaluate_policy(steps: &[LoggedStep], config: &OpeConfig) -> Result<OpeReport> {
    let all = |target| -> Result<Estimates> {
        Ok(Estimates {
            ips: ips(steps, target, config)?,
            snips: snips(steps, target, config)?,
            dr: doubly_robust(steps, target, config)?,
        })
    };
    let ones = vec![1.0; steps.len()];
    let logged = |target| {
        let values: Vec<f64> = steps.iter().map(|s| observed(s, target)).collect();
        mean_estimate(&values, &ones, config.z)
    };
    Ok(OpeReport {
        reward: all(Target::Reward)?,
        cost: all(Target::Cost)?,
        logged_reward: logged(Target::Reward),
        logged_cost: logged(Target::Cost),
    })
}

/// Checks the steps: at least one; propensities in `(0, 1]`; finite rewards and costs;
/// `target_probs` non-negative, summing to 1 (±1e-6), the logged action in range; with
/// `models`, `reward_model` and `cost_model` as long as `target_probs` and finite.
pub fn validate(steps: &[LoggedStep], models: bool) -> Result<()> {
    if steps.is_empty() {
        return Err(Error::EmptySet {
            prompts: 0,
            models: 0,
        });
    }
    let invalid = |field, row, col, value, why| Error::InvalidValue {
        source_name: "logged steps".into(),
        field,
        row,
        col,
        value,
        why,
    };
    let shape = |field, row, found, expected| Error::ShapeMismatch {
        source_name: "logged steps".into(),
        field,
        row,
        found,
        expected,
    };
    for (i, s) in steps.iter().enumerate() {
        let k = s.target_probs.len();
        if s.logged_action >= k {
            return Err(shape("target_probs", i, k, s.logged_action + 1));
        }
        let a = s.logged_action;
        if !(s.propensity > 0.0 && s.propensity <= 1.0) {
            let why = "a propensity must be in (0, 1]; drop steps logged without one";
            return Err(invalid("propensity", i, a, s.propensity, why));
        }
        if !s.reward.is_finite() {
            return Err(invalid("reward", i, a, s.reward, "must be finite"));
        }
        if !s.cost.is_finite() {
            return Err(invalid("cost", i, a, s.cost, "must be finite"));
        }
        if let Some((j, &p)) = s
            .target_probs
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.is_finite() && **p >= 0.0))
        {
            return Err(invalid("target_probs", i, j, p, "must be ≥ 0 and finite"));
        }
        let total: f64 = s.target_probs.iter().sum();
        if (total - 1.0).abs() > 1e-6 {
            return Err(invalid("target_probs", i, 0, total, "must sum to 1"));
        }
        if models {
            for (field, model) in [
                ("reward_model", &s.reward_model),
                ("cost_model", &s.cost_model),
            ] {
                if model.len() != k {
                    return Err(shape(field, i, model.len(), k));
                }
                if let Some((j, &y)) = model.iter().enumerate().find(|(_, y)| !y.is_finite()) {
                    return Err(invalid(field, i, j, y, "must be finite"));
                }
            }
        }
    }
    Ok(())
}

fn observed(s: &LoggedStep, target: Target) -> f64 {
    match target {
        Target::Reward => s.reward,
        Target::Cost => s.cost,
    }
}

fn weights(steps: &[LoggedStep], config: &OpeConfig) -> Vec<f64> {
    steps
        .iter()
        .map(|s| {
            let w = s.target_probs[s.logged_action] / s.propensity;
            match config.clip {
                Some(m) if m.is_finite() && m > 0.0 => w.min(m),
                _ => w,
            }
        })
        .collect()
}

fn kish(w: &[f64]) -> f64 {
    let (s, s2) = w.iter().fold((0.0, 0.0), |(s, s2), w| (s + w, s2 + w * w));
    if s2 > 0.0 {
        s * s / s2
    } else {
        0.0
    }
}

/// Mean of per-step terms with a normal interval from their sample standard deviation.
fn mean_estimate(terms: &[f64], w: &[f64], z: f64) -> Estimate {
    let n = terms.len();
    let nf = n as f64;
    let value = terms.iter().sum::<f64>() / nf;
    let var = if n > 1 {
        terms.iter().map(|t| (t - value).powi(2)).sum::<f64>() / (nf - 1.0)
    } else {
        f64::INFINITY
    };
    let half = z * (var / nf).sqrt();
    Estimate {
        value,
        ci_low: value - half,
        ci_high: value + half,
        n,
        effective_sample_size: kish(w),
    }
}

#[cfg(test)]
mod tests;
