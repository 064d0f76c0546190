//! The baselines every report carries: single models, random routing at a router's call
//! shares, RouterBench's zero router, and the per-prompt oracle.

use router_core::ModelId;
use serde::{Deserialize, Serialize};

use crate::{input::Point, metrics::hull::non_decreasing_hull, sweep::SweepPoint, EvalSet};

/// Label of the oracle in reports and plots.
pub const ORACLE_LABEL: &str = "oracle (upper bound)";
/// Label of the zero router in reports and plots.
pub const ZERO_ROUTER_LABEL: &str = "zero router";

/// One model used for every prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SingleModel {
    /// The model.
    pub model: ModelId,
    /// Mean cost per prompt (USD).
    pub cost: f64,
    /// Mean quality.
    pub quality: f64,
}

/// Every model of the set as a single point, in column order.
pub fn single_models(set: &EvalSet) -> Vec<SingleModel> {
    set.models
        .iter()
        .zip(set.model_means())
        .map(|(model, p)| SingleModel {
            model: model.clone(),
            cost: p.cost,
            quality: p.quality,
        })
        .collect()
}

/// Expected cost and quality of routing each prompt to a model drawn at random with
/// probabilities `shares` (column order): `Σ_m share_m · mean_m`. Paired with a router point,
/// it shows what the same call mix buys without looking at the prompt.
pub fn random_at_shares(models: &[Point], shares: &[f64]) -> Point {
    let (mut cost, mut quality) = (0.0, 0.0);
    for (p, s) in models.iter().zip(shares) {
        cost += s * p.cost;
        quality += s * p.quality;
    }
    Point { cost, quality }
}

/// The random-at-matched-rate point of every router point, in sweep order.
pub fn random_matched(models: &[Point], sweep: &[SweepPoint]) -> Vec<Point> {
    sweep
        .iter()
        .map(|sp| random_at_shares(models, &sp.shares))
        .collect()
}

/// RouterBench's zero router: random mixtures of single models, i.e. the non-decreasing convex
/// hull of the single-model points.
pub fn zero_router_hull(models: &[Point]) -> Vec<Point> {
    non_decreasing_hull(models)
}

/// The oracle point: per prompt the model with the best realised quality, the cheapest
/// (realised) among ties, then the first column.
pub fn oracle_choice(set: &EvalSet) -> Vec<usize> {
    set.quality
        .iter()
        .zip(&set.cost)
        .map(|(q, c)| {
            let mut best = 0;
            for j in 1..q.len() {
                if q[j] > q[best] || (q[j] == q[best] && c[j] < c[best]) {
                    best = j;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::sweep::realise;

    #[test]
    fn oracle_and_random_by_hand() {
        let set = EvalSet::new(
            vec![ModelId::new("cheap"), ModelId::new("dear")],
            vec![vec![1.0, 1.0], vec![0.0, 1.0], vec![0.0, 0.0]],
            vec![vec![1.0, 4.0], vec![1.0, 4.0], vec![1.0, 4.0]],
        )
        .unwrap();
        let choice = oracle_choice(&set);
        assert_eq!(choice, vec![0, 1, 0]);
        let o = realise(&set, &choice, Some(0.0));
        assert_eq!((o.cost, o.quality), (2.0, 2.0 / 3.0));
        let models = set.model_means();
        let r = random_at_shares(&models, &o.shares);
        // 2/3 cheap (1.0, 1/3) + 1/3 dear (4.0, 2/3).
        assert!((r.cost - 2.0).abs() < 1e-12);
        assert!((r.quality - 4.0 / 9.0).abs() < 1e-12);
        let singles = single_models(&set);
        assert_eq!(singles[1].model, ModelId::new("dear"));
        assert_eq!(zero_router_hull(&models).len(), 2);
    }
}
