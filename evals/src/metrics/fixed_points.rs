//! Two numbers readers ask for first, read off a router's hull: what it costs to match the best
//! single model's quality, and what quality it gets for the best single model's price.

use router_core::ModelId;
use serde::{Deserialize, Serialize};

use super::hull::{hull_value, min_cost_reaching};
use crate::input::Point;

/// A router's fixed points against the best single model (highest mean quality, ties cheaper).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixedPoints {
    /// The best single model.
    pub best_single: ModelId,
    /// Its mean quality.
    pub best_single_quality: f64,
    /// Its mean cost per prompt (USD).
    pub best_single_cost: f64,
    /// Least mean cost per prompt (USD) at which the router's hull reaches the best single
    /// model's quality; `None` (JSON `null`) = never reached.
    pub cost_to_reach_best_usd: Option<f64>,
    /// The same as a percentage of the best single model's cost (`None` if not reached or that
    /// model is free).
    pub cost_to_reach_best_pct: Option<f64>,
    /// The hull's quality at the best single model's cost; `None` if the router cannot spend
    /// that little.
    pub quality_at_best_cost: Option<f64>,
}

/// Index of the best single model: highest mean quality, ties to the cheaper, then the first.
pub fn best_single_index(models: &[Point]) -> usize {
    let mut best = 0;
    for (j, p) in models.iter().enumerate() {
        let b = models[best];
        if p.quality > b.quality || (p.quality == b.quality && p.cost < b.cost) {
            best = j;
        }
    }
    best
}

/// The fixed points of `hull` against `best` (a single model's id and mean point).
///
/// The best single model counts as reached only at no more than its cost, and not at one of
/// `all_best` (the router's points that send every prompt to that model): matching a model by
/// calling it for everything is no routing.
pub fn fixed_points(hull: &[Point], best: (&ModelId, Point), all_best: &[Point]) -> FixedPoints {
    let (id, b) = best;
    let tol = |x: f64| 1e-12 * x.abs().max(1e-12);
    let reach = min_cost_reaching(hull, b.quality)
        .filter(|&c| c <= b.cost + tol(b.cost))
        .filter(|&c| {
            !all_best
                .iter()
                .any(|p| (p.cost - c).abs() <= tol(c) && p.quality >= b.quality - 1e-12)
        });
    FixedPoints {
        best_single: id.clone(),
        best_single_quality: b.quality,
        best_single_cost: b.cost,
        cost_to_reach_best_usd: reach,
        cost_to_reach_best_pct: reach.filter(|_| b.cost > 0.0).map(|c| 100.0 * c / b.cost),
        quality_at_best_cost: hull_value(hull, b.cost),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn p(cost: f64, quality: f64) -> Point {
        Point { cost, quality }
    }

    #[test]
    fn fixed_points_by_hand() {
        let models = [p(1.0, 0.5), p(4.0, 0.8), p(3.0, 0.8)];
        assert_eq!(best_single_index(&models), 2);
        let id = ModelId::new("big");
        let hull = vec![p(0.5, 0.4), p(1.5, 0.9)];
        let f = fixed_points(&hull, (&id, models[2]), &[]);
        // 0.4 + (c − 0.5)·0.5 = 0.8 → c = 1.3 (43.3% of 3.0); flat 0.9 at 3.0.
        assert!((f.cost_to_reach_best_usd.unwrap() - 1.3).abs() < 1e-12);
        assert!((f.cost_to_reach_best_pct.unwrap() - 130.0 / 3.0).abs() < 1e-9);
        assert_eq!(f.quality_at_best_cost, Some(0.9));
        let low = vec![p(0.5, 0.4), p(1.5, 0.7)];
        let f = fixed_points(&low, (&id, models[2]), &[]);
        assert_eq!(f.cost_to_reach_best_usd, None);
        // Reaching it only by calling it for everything, or above its cost, does not count.
        let only_all = vec![p(0.5, 0.4), p(3.0, 0.8)];
        let f = fixed_points(&only_all, (&id, models[2]), &[p(3.0, 0.8)]);
        assert_eq!(f.cost_to_reach_best_usd, None);
        let dearer = vec![p(0.5, 0.4), p(6.0, 0.85)];
        let f = fixed_points(&dearer, (&id, models[2]), &[]);
        assert_eq!(f.cost_to_reach_best_usd, None);
        assert_eq!(f.cost_to_reach_best_pct, None);
    }
}
