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

/// Least share of the candidate's decisions the log must cover for a gate to pass (see
/// [`gate`]).
pub const DEFAULT_MIN_SUPPORT: f64 = 0.9;

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
    /// The mean importance weight `π(a|x) / p(a|x)` over the logged steps: an unbiased
    /// estimate of the share of the candidate's decisions that the logging policy could have
    /// taken (1 when the log covers every one of them).
    pub support: f64,
    /// The least support the gate accepted.
    pub min_support: f64,
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
///
/// And it refuses when the log does not cover the candidate's decisions: when the mean
/// importance weight (the share of its decisions the logging policy could have taken) is
/// below `min_support` ([`DEFAULT_MIN_SUPPORT`]). A model the logging policy never explores
/// (top-k exploration leaves the others at probability 0) contributes nothing to any
/// estimator; SNIPS then scores the candidate on its covered decisions only, as if the
/// uncovered ones did as well, which is how it overshot the replayed truth in the RouterBench
/// loop (docs/learning-loop.md).
pub fn gate(
    steps: &[LoggedStep],
    lambda: f64,
    estimator: GateEstimator,
    limits: GateLimits,
    config: &OpeConfig,
) -> Result<Gate> {
    let utility: Vec<LoggedStep> = steps.iter().map(|s| s.in_utility(lambda)).collect();
    let candidate = match estimator {
        GateEstimator::Ips => ips(&utility, Target::Reward, config)?,
        GateEstimator::Snips => snips(&utility, Target::Reward, config)?,
        GateEstimator::Dr => doubly_robust(&utility, Target::Reward, config)?,
    };
    let values: Vec<f64> = utility.iter().map(|s| s.reward).collect();
    let logged = super::mean_estimate(&values, &vec![1.0; values.len()], config.z);
    // Unclipped: clipping would hide exactly the mass this measures.
    let support = steps
        .iter()
        .map(|s| s.target_probs.get(s.logged_action).copied().unwrap_or(0.0) / s.propensity)
        .sum::<f64>()
        / steps.len().max(1) as f64;
    Ok(Gate {
        lambda,
        estimator,
        min_effective_n: limits.min_effective_n,
        support,
        min_support: limits.min_support,
        pass: candidate.ci_low > logged.value
            && candidate.effective_sample_size >= limits.min_effective_n
            && support >= limits.min_support,
        candidate,
        logged,
    })
}

/// What a gate requires besides a better interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateLimits {
    /// Least effective sample size of the importance weights.
    pub min_effective_n: f64,
    /// Least share of the candidate's decisions the log covers (mean importance weight).
    pub min_support: f64,
}

impl Default for GateLimits {
    fn default() -> Self {
        Self {
            min_effective_n: DEFAULT_MIN_EFFECTIVE_N,
            min_support: DEFAULT_MIN_SUPPORT,
        }
    }
}

impl Gate {
    /// Why the gate held the candidate back, or `None` when it passed.
    pub fn refusal(&self) -> Option<String> {
        if self.pass {
            return None;
        }
        let mut why = Vec::new();
        if self.candidate.ci_low <= self.logged.value {
            why.push(format!(
                "its interval's lower end {:.4} is not above the logged {:.4}",
                self.candidate.ci_low, self.logged.value
            ));
        }
        if self.candidate.effective_sample_size < self.min_effective_n {
            why.push(format!(
                "effective n {:.0} is below {:.0}",
                self.candidate.effective_sample_size, self.min_effective_n
            ));
        }
        if self.support < self.min_support {
            why.push(format!(
                "the log covers {:.0} % of its decisions (at least {:.0} % needed: explore more \
                 models, e.g. a wider top-k, before judging it)",
                100.0 * self.support,
                100.0 * self.min_support
            ));
        }
        Some(why.join("; "))
    }
}
