//! Comparing the arms of an A/B experiment on their own logged traffic.
//!
//! Arms are assigned at random (a hash of the caller, see the gateway's `[experiment]`), so
//! each arm's rows are a sample of the same traffic under its own router, and a plain
//! difference of means estimates what switching would change: no importance weighting is
//! needed (off-policy estimates answer a different question: what a router that did *not*
//! serve the traffic would have done).
//!
//! Intervals are normal approximations (Welch's for differences): the means are over hundreds
//! or more requests per arm in any comparison worth reading, where the central limit theorem
//! holds, and they cost one pass over the rows (a bootstrap over a million-row log would not).
//! An arm with fewer than two values for a quantity gets no interval (NaN), and a gate then
//! refuses.

use serde::Serialize;

use crate::error::{Error, Result};

/// 97.5 % quantile of the standard normal: two-sided 95 % intervals.
const Z_95: f64 = 1.959_963_984_540_054;

/// One logged request of an arm.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmObservation {
    /// The arm that routed it.
    pub arm: String,
    /// Its reward label in `[0, 1]`, when it has one.
    pub quality: Option<f64>,
    /// What it cost (0 when nothing was served).
    pub cost_usd: f64,
    /// End-to-end latency.
    pub latency_ms: f64,
    /// The router could not run in time and the static fallback model served it.
    pub static_fallback: bool,
    /// No answer reached the client.
    pub failed: bool,
}

/// A mean and its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanCi {
    /// The mean (or difference of means).
    pub mean: f64,
    /// Lower end of the 95 % interval (NaN with fewer than two values).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Values behind it (for a difference, the smaller arm's).
    pub n: usize,
}

/// Mean and sample variance of `xs` (variance NaN below two values).
fn moments(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

impl MeanCi {
    /// The mean of `xs` with its normal 95 % interval.
    pub fn of(xs: &[f64]) -> MeanCi {
        let (mean, var) = moments(xs);
        let half = Z_95 * (var / xs.len() as f64).sqrt();
        MeanCi {
            mean,
            low: mean - half,
            high: mean + half,
            n: xs.len(),
        }
    }

    /// `mean(a) − mean(b)` with Welch's 95 % interval (independent samples).
    pub fn difference(a: &[f64], b: &[f64]) -> MeanCi {
        let (ma, va) = moments(a);
        let (mb, vb) = moments(b);
        let half = Z_95 * (va / a.len() as f64 + vb / b.len() as f64).sqrt();
        let mean = ma - mb;
        MeanCi {
            mean,
            low: mean - half,
            high: mean + half,
            n: a.len().min(b.len()),
        }
    }

    /// Whether the whole interval lies above 0 (false when there is none).
    pub fn above_zero(&self) -> bool {
        self.low > 0.0
    }
}

/// What one arm's own traffic shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmSummary {
    /// The arm.
    pub arm: String,
    /// Its requests.
    pub requests: usize,
    /// Those with a reward label.
    pub labelled: usize,
    /// Mean reward over the labelled requests.
    pub quality: MeanCi,
    /// Mean cost per request, USD.
    pub cost_usd: MeanCi,
    /// Mean `quality − λ·cost` over the labelled requests.
    pub utility: MeanCi,
    /// Median latency, ms.
    pub latency_p50_ms: f64,
    /// 95th percentile latency, ms.
    pub latency_p95_ms: f64,
    /// Share of requests the static fallback served.
    pub fallback_share: f64,
    /// Share of requests with no answer.
    pub error_share: f64,
}

/// An arm against the control arm: `arm − control`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmDelta {
    /// The arm.
    pub arm: String,
    /// Quality difference (labelled requests).
    pub quality: MeanCi,
    /// Cost difference per request, USD.
    pub cost_usd: MeanCi,
    /// Utility difference (labelled requests).
    pub utility: MeanCi,
}

/// Every arm, and each against the control.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AbReport {
    /// λ of the utility, quality points per USD.
    pub lambda: f64,
    /// The control arm.
    pub control: String,
    /// Every arm, control first, then by name.
    pub arms: Vec<ArmSummary>,
    /// Every other arm against the control, by name.
    pub deltas: Vec<ArmDelta>,
}

impl AbReport {
    /// `arm`'s comparison with the control.
    pub fn delta(&self, arm: &str) -> Option<&ArmDelta> {
        self.deltas.iter().find(|d| d.arm == arm)
    }
}

/// The rows of one arm, split into the series the report needs.
struct Series {
    quality: Vec<f64>,
    cost: Vec<f64>,
    utility: Vec<f64>,
    latency: Vec<f64>,
    fallbacks: usize,
    failed: usize,
}

impl Series {
    fn of(rows: &[&ArmObservation], lambda: f64) -> Series {
        let labelled = rows
            .iter()
            .filter_map(|r| r.quality.map(|q| (q, r.cost_usd)));
        let mut latency: Vec<f64> = rows.iter().map(|r| r.latency_ms).collect();
        latency.sort_by(f64::total_cmp);
        Series {
            quality: labelled.clone().map(|(q, _)| q).collect(),
            utility: labelled.map(|(q, c)| q - lambda * c).collect(),
            cost: rows.iter().map(|r| r.cost_usd).collect(),
            latency,
            fallbacks: rows.iter().filter(|r| r.static_fallback).count(),
            failed: rows.iter().filter(|r| r.failed).count(),
        }
    }
}

/// Summarises every arm of `rows` and compares each with `control` at `lambda`.
pub fn compare(rows: &[ArmObservation], control: &str, lambda: f64) -> Result<AbReport> {
    let mut names: Vec<&str> = rows.iter().map(|r| r.arm.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if !names.contains(&control) {
        return Err(Error::UnknownArm {
            arm: control.to_owned(),
            known: names.iter().map(|n| (*n).to_owned()).collect(),
        });
    }
    // Control first, the others by name.
    names.retain(|n| *n != control);
    names.insert(0, control);
    let series: Vec<(&str, Series)> = names
        .iter()
        .map(|name| {
            let of_arm: Vec<&ArmObservation> = rows.iter().filter(|r| r.arm == *name).collect();
            (*name, Series::of(&of_arm, lambda))
        })
        .collect();
    let arms = series
        .iter()
        .map(|(name, s)| {
            let requests = s.cost.len();
            ArmSummary {
                arm: (*name).to_owned(),
                requests,
                labelled: s.quality.len(),
                quality: MeanCi::of(&s.quality),
                cost_usd: MeanCi::of(&s.cost),
                utility: MeanCi::of(&s.utility),
                latency_p50_ms: crate::paired::percentile(&s.latency, 0.5),
                latency_p95_ms: crate::paired::percentile(&s.latency, 0.95),
                fallback_share: s.fallbacks as f64 / requests as f64,
                error_share: s.failed as f64 / requests as f64,
            }
        })
        .collect();
    let base = &series[0].1;
    let deltas = series[1..]
        .iter()
        .map(|(name, s)| ArmDelta {
            arm: (*name).to_owned(),
            quality: MeanCi::difference(&s.quality, &base.quality),
            cost_usd: MeanCi::difference(&s.cost, &base.cost),
            utility: MeanCi::difference(&s.utility, &base.utility),
        })
        .collect();
    Ok(AbReport {
        lambda,
        control: control.to_owned(),
        arms,
        deltas,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn obs(arm: &str, quality: Option<f64>, cost: f64) -> ArmObservation {
        ArmObservation {
            arm: arm.to_owned(),
            quality,
            cost_usd: cost,
            latency_ms: 100.0,
            static_fallback: false,
            failed: false,
        }
    }

    #[test]
    fn welch_interval_matches_a_hand_computation() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [2.0, 2.0, 2.0, 2.0, 2.0];
        let d = MeanCi::difference(&a, &b);
        // var(a) = 5/3, var(b) = 0: se = sqrt(5/12).
        let half = Z_95 * (5.0_f64 / 12.0).sqrt();
        assert!((d.mean - 0.5).abs() < 1e-12);
        assert!((d.low - (0.5 - half)).abs() < 1e-12);
        assert!((d.high - (0.5 + half)).abs() < 1e-12);
        assert_eq!(d.n, 4);
        let one = MeanCi::of(&[0.3]);
        assert!(one.low.is_nan() && !one.above_zero());
    }

    #[test]
    fn a_better_arm_is_shown_better_and_the_control_comes_first() {
        let mut rows = Vec::new();
        for i in 0..400 {
            // Control: quality 0.6 ± noise at 1 cent; candidate: 0.7 at half a cent.
            let wiggle = f64::from(i % 5) * 0.05 - 0.1;
            rows.push(obs("control", Some(0.6 + wiggle), 0.01));
            rows.push(obs("candidate", Some(0.7 + wiggle), 0.005));
            rows.push(obs("candidate", None, 0.005));
        }
        rows.push(ArmObservation {
            failed: true,
            static_fallback: true,
            ..obs("control", None, 0.0)
        });
        let report = compare(&rows, "control", 5.0).unwrap();
        assert_eq!(report.arms[0].arm, "control");
        assert_eq!(report.arms[0].requests, 401);
        assert_eq!(report.arms[1].labelled, 400);
        assert!((report.arms[0].error_share - 1.0 / 401.0).abs() < 1e-12);
        let d = report.delta("candidate").unwrap();
        assert!((d.quality.mean - 0.1).abs() < 1e-9, "{d:?}");
        assert!(d.quality.above_zero() && d.utility.above_zero());
        assert!(d.cost_usd.high < 0.0, "{d:?}");
    }

    #[test]
    fn an_unknown_control_names_the_arms_there_are() {
        let rows = [obs("a", Some(1.0), 0.0), obs("b", Some(1.0), 0.0)];
        let err = compare(&rows, "control", 5.0).unwrap_err().to_string();
        assert!(err.contains("`control`") && err.contains("a, b"), "{err}");
    }
}
