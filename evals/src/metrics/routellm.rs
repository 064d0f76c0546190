//! RouteLLM's metrics for a (weak, strong) model pair (Ong et al. 2024, arXiv:2406.18665, §5;
//! reference code `lm-sys/RouteLLM` `routellm/evals/evaluate.py` and `benchmarks.py`).
//!
//! - The router's "strong wins" score per prompt is `q̂_strong − q̂_weak` (our routers predict
//!   quality per model, not a win rate; the difference orders prompts the same way a win-rate
//!   estimate would). A threshold `t` sends prompts with score `≥ t` to the strong model.
//! - Sweeping `t` over every distinct score gives the curve (percentage of strong calls,
//!   quality), from 0 % (all weak) to 100 % (all strong). RouteLLM samples 10 quantile
//!   thresholds; we take every distinct score, the limit of that grid. Prompts with equal scores
//!   move together, and linear interpolation between points is the expected value of
//!   splitting such a tie at random.
//! - `PGR(x) = (q(x) − q_weak) / (q_strong − q_weak)`.
//! - `APGR = ∫_0^1 PGR(x) dx` over the strong-call fraction, by the trapezoid rule on the
//!   curve's points, as `apgr_metric` (`np.trapz` of accuracy minus the weak/strong areas).
//!   Random routing's expected curve is the diagonal, so its APGR is 0.5.
//! - `CPT(p)` = the least percentage of strong calls at which the interpolated PGR reaches `p`
//!   (first crossing; RouteLLM's `np.interp` gives the same on a monotone curve).
//!
//! The strong model is the one with the higher mean realised quality (ties: the more expensive).

use router_core::ModelId;
use serde::{Deserialize, Serialize};

use crate::{EvalSet, RouterScores};

/// One threshold of the call-percentage sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallCurvePoint {
    /// Percentage of prompts sent to the strong model, 0–100.
    pub strong_pct: f64,
    /// Mean realised quality.
    pub quality: f64,
    /// Performance gap recovered at this point.
    pub pgr: f64,
}

/// RouteLLM's numbers for one router on a two-model set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteLlmMetrics {
    /// The weaker model.
    pub weak: ModelId,
    /// The stronger model.
    pub strong: ModelId,
    /// Mean quality of the weak model alone.
    pub weak_quality: f64,
    /// Mean quality of the strong model alone.
    pub strong_quality: f64,
    /// Average performance gap recovered over 0–100 % strong calls.
    pub apgr: f64,
    /// Least percentage of strong calls reaching PGR 50 %.
    pub cpt50_pct: Option<f64>,
    /// Least percentage of strong calls reaching PGR 80 %.
    pub cpt80_pct: Option<f64>,
    /// The call-percentage curve.
    pub curve: Vec<CallCurvePoint>,
}

/// Performance gap recovered by quality `q` between `weak` and `strong` qualities.
pub fn pgr(q: f64, weak: f64, strong: f64) -> f64 {
    (q - weak) / (strong - weak)
}

/// Column indices `(weak, strong)` of a two-model set; `None` unless there are exactly two
/// models with different mean quality.
pub fn weak_strong(set: &EvalSet) -> Option<(usize, usize)> {
    if set.n_models() != 2 {
        return None;
    }
    let m = set.model_means();
    if m[0].quality == m[1].quality {
        return None;
    }
    let strong0 = m[0].quality > m[1].quality;
    Some(if strong0 { (1, 0) } else { (0, 1) })
}

/// The (strong %, quality) points of thresholding `score` (higher → strong) at every distinct
/// value, plus the all-weak point, ascending in strong %.
pub fn strong_call_curve(score: &[f64], q_weak: &[f64], q_strong: &[f64]) -> Vec<(f64, f64)> {
    let n = score.len();
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    let mut total: f64 = q_weak.iter().sum();
    let mut out = vec![(0.0, total / n as f64)];
    for (k, &i) in order.iter().enumerate() {
        total += q_strong[i] - q_weak[i];
        let group_ends = order.get(k + 1).is_none_or(|&next| score[next] != score[i]);
        if group_ends {
            out.push((100.0 * (k + 1) as f64 / n as f64, total / n as f64));
        }
    }
    out
}

/// Trapezoid integral of PGR over the strong-call fraction.
pub fn apgr(curve: &[CallCurvePoint]) -> f64 {
    curve
        .windows(2)
        .map(|w| (w[1].strong_pct - w[0].strong_pct) / 100.0 * (w[0].pgr + w[1].pgr) / 2.0)
        .sum()
}

/// Least strong-call percentage at which the interpolated PGR reaches `target`.
pub fn cpt(curve: &[CallCurvePoint], target: f64) -> Option<f64> {
    let first = curve.first()?;
    if first.pgr >= target {
        return Some(first.strong_pct);
    }
    curve.windows(2).find_map(|w| {
        let (a, b) = (w[0], w[1]);
        (b.pgr >= target).then(|| {
            let t = (target - a.pgr) / (b.pgr - a.pgr);
            a.strong_pct + t * (b.strong_pct - a.strong_pct)
        })
    })
}

/// RouteLLM's metrics for `scores` on a two-model `set`; `None` for other sets (see
/// [`weak_strong`]). Both must already be validated.
pub fn routellm_metrics(set: &EvalSet, scores: &RouterScores) -> Option<RouteLlmMetrics> {
    let (w, s) = weak_strong(set)?;
    let means = set.model_means();
    let (qw, qs) = (means[w].quality, means[s].quality);
    let score: Vec<f64> = scores.quality.iter().map(|r| r[s] - r[w]).collect();
    let weak: Vec<f64> = set.quality.iter().map(|r| r[w]).collect();
    let strong: Vec<f64> = set.quality.iter().map(|r| r[s]).collect();
    let curve: Vec<CallCurvePoint> = strong_call_curve(&score, &weak, &strong)
        .into_iter()
        .map(|(strong_pct, quality)| CallCurvePoint {
            strong_pct,
            quality,
            pgr: pgr(quality, qw, qs),
        })
        .collect();
    Some(RouteLlmMetrics {
        weak: set.models[w].clone(),
        strong: set.models[s].clone(),
        weak_quality: qw,
        strong_quality: qs,
        apgr: apgr(&curve),
        cpt50_pct: cpt(&curve, 0.5),
        cpt80_pct: cpt(&curve, 0.8),
        curve,
    })
}

/// RouteLLM's metrics of random routing (and of the zero router, which mixes the two models):
/// in expectation the straight line from the weak to the strong model, so APGR = 0.5,
/// CPT(50 %) = 50 % and CPT(80 %) = 80 %. `None` as for [`weak_strong`].
pub fn random_routing_metrics(set: &EvalSet) -> Option<RouteLlmMetrics> {
    let (w, s) = weak_strong(set)?;
    let means = set.model_means();
    let (qw, qs) = (means[w].quality, means[s].quality);
    let curve = vec![
        CallCurvePoint {
            strong_pct: 0.0,
            quality: qw,
            pgr: 0.0,
        },
        CallCurvePoint {
            strong_pct: 100.0,
            quality: qs,
            pgr: 1.0,
        },
    ];
    Some(RouteLlmMetrics {
        weak: set.models[w].clone(),
        strong: set.models[s].clone(),
        weak_quality: qw,
        strong_quality: qs,
        apgr: apgr(&curve),
        cpt50_pct: cpt(&curve, 0.5),
        cpt80_pct: cpt(&curve, 0.8),
        curve,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn pt(strong_pct: f64, pgr: f64) -> CallCurvePoint {
        CallCurvePoint {
            strong_pct,
            quality: pgr,
            pgr,
        }
    }

    #[test]
    fn pgr_apgr_cpt_by_hand() {
        assert!((pgr(0.6, 0.4, 0.8) - 0.5).abs() < 1e-12);
        // Diagonal: APGR 0.5, CPT(50) = 50, CPT(80) = 80.
        let diag = [pt(0.0, 0.0), pt(100.0, 1.0)];
        assert_eq!(apgr(&diag), 0.5);
        assert_eq!(cpt(&diag, 0.5), Some(50.0));
        assert_eq!(cpt(&diag, 0.8), Some(80.0));
        // Reaches 1 at 25 %: area 0.125 + 0.75 = 0.875; CPT(50) = 12.5.
        let fast = [pt(0.0, 0.0), pt(25.0, 1.0), pt(100.0, 1.0)];
        assert_eq!(apgr(&fast), 0.875);
        assert_eq!(cpt(&fast, 0.5), Some(12.5));
        assert_eq!(cpt(&[pt(0.0, 0.0), pt(100.0, 0.5)], 0.8), None);
    }

    #[test]
    fn curve_moves_ties_together() {
        // Scores 0.9, 0.1, 0.1, −1: weak all 0, strong 1,1,0,1.
        let c = strong_call_curve(&[0.1, 0.9, 0.1, -1.0], &[0.0; 4], &[1.0, 1.0, 0.0, 1.0]);
        assert_eq!(
            c,
            vec![(0.0, 0.0), (25.0, 0.25), (75.0, 0.5), (100.0, 0.75)]
        );
    }
}
