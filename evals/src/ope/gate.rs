//! A deployment gate on off-policy estimates: ship a candidate router only when its estimated
//! utility is better than what the logging (current) router realised on the same requests.

use serde::{Deserialize, Serialize};

use super::{doubly_robust, ips, snips, Estimate, LoggedStep, OpeConfig, Target};
use crate::Result;

/// The estimator a gate trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateEstimator {
    /// Inverse propensity scoring: unbiased, widest.
    Ips,
    /// Self-normalised IPS: bounded by the observed values, the conservative default.
    Snips,
    /// Doubly robust: narrowest, but only as honest as its reward model (see
    /// docs/learning-loop.md §7: optimistic when the reward model is the candidate itself).
    Dr,
}

impl GateEstimator {
    /// Parses `ips`, `snips` or `dr`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ips" => Some(Self::Ips),
            "snips" => Some(Self::Snips),
            "dr" => Some(Self::Dr),
            _ => None,
        }
    }
}

/// Effective sample size below which a gate never passes (see [`gate`]).
pub const DEFAULT_MIN_EFFECTIVE_N: f64 = 30.0;

/// A gate's verdict and the figures behind it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Quality points per USD in the utility `quality − λ·cost` (0: quality alone).
    pub lambda: f64,
    /// The estimator used.
    pub estimator: GateEstimator,
    /// The candidate's estimated utility with its interval.
    pub candidate: Estimate,
    /// The logging policy's realised mean utility on the same requests.
    pub logged: Estimate,
    /// The least effective sample size the gate accepted.
    pub min_effective_n: f64,
    /// Whether the candidate's interval lies wholly above the logged mean, on enough
    /// effective samples.
    pub pass: bool,
}

/// Estimates the candidate's utility `quality − λ·cost` per request with `estimator` and
/// passes it only when the lower end of its interval is above the logging policy's realised
/// mean utility: "better, beyond the estimate's own noise". Utility is linear in reward and
/// cost, so every estimator applies unchanged to per-step utilities (the DR model included:
/// `ŷ − λ·ĉ`). The logged mean's own noise is not counted; it is the same requests.
///
/// It also refuses whenever the importance weights' effective sample size is below
/// `min_effective_n` ([`DEFAULT_MIN_EFFECTIVE_N`]): with few effective samples the normal
/// interval is over-confident (on RouterBench a SNIPS interval of ±0.06 at an effective size of
/// 12 passed a router whose true utility was 0.09 worse; docs/learning-loop.md §7).
pub fn gate(
    steps: &[LoggedStep],
    lambda: f64,
    estimator: GateEstimator,
    min_effective_n: f64,
    config: &OpeConfig,
) -> Result<Gate> {
    let utility: Vec<LoggedStep> = steps
        .iter()
        .map(|s| LoggedStep {
            reward: s.reward - lambda * s.cost,
            reward_model: s
                .reward_model
                .iter()
                .zip(&s.cost_model)
                .map(|(r, c)| r - lambda * c)
                .collect(),
            ..s.clone()
        })
        .collect();
    let candidate = match estimator {
        GateEstimator::Ips => ips(&utility, Target::Reward, config)?,
        GateEstimator::Snips => snips(&utility, Target::Reward, config)?,
        GateEstimator::Dr => doubly_robust(&utility, Target::Reward, config)?,
    };
    let values: Vec<f64> = utility.iter().map(|s| s.reward).collect();
    let logged = super::mean_estimate(&values, &vec![1.0; values.len()], config.z);
    Ok(Gate {
        lambda,
        estimator,
        min_effective_n,
        pass: candidate.ci_low > logged.value && candidate.effective_sample_size >= min_effective_n,
        candidate,
        logged,
    })
}
