//! RouterBench's Average Improvement in Quality (Hu et al. 2024, arXiv:2403.12031, §3):
//!
//! `AIQ(R) = 1/(c_max − c_min) · ∫_{c_min}^{c_max} R̃(c) dc`
//!
//! where `R̃` is the router's non-decreasing convex hull ([`super::hull`]). The range is the same
//! for every router of a report: `[c_min, c_max]` = [cheapest single model's mean cost, most
//! expensive single model's mean cost] ([`CostRange::of_models`]).
//!
//! Where `R̃` is undefined (below the router's cheapest point) it contributes zero, as in the
//! reference code (`withmartian/routerbench` `evaluation/AIQ.py` @30e0925 `calc_AIQ`: the
//! trapezoid starts at the router's first hull point while the normaliser spans the whole
//! range); to the right of its last point the curve stays flat, as there (`ndch[-1, 1]`
//! extended to the largest cost). This keeps the oracle's AIQ an upper bound: a flat extension
//! to the left would credit a router with quality at a price it cannot run at.

use serde::{Deserialize, Serialize};

use super::hull::{hull_area, hull_value};
use crate::input::Point;

/// The cost interval AIQ averages over.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostRange {
    /// Cheapest single model's mean cost per prompt (USD).
    pub min: f64,
    /// Most expensive single model's mean cost per prompt (USD).
    pub max: f64,
}

impl CostRange {
    /// The range spanned by the single models' mean costs.
    pub fn of_models(models: &[Point]) -> Self {
        let min = models.iter().map(|p| p.cost).fold(f64::INFINITY, f64::min);
        let max = models
            .iter()
            .map(|p| p.cost)
            .fold(f64::NEG_INFINITY, f64::max);
        Self { min, max }
    }
}

/// AIQ of a hull over `range`. When every model costs the same (`max == min`) the average
/// degenerates to the curve's value at that cost (0 where undefined).
pub fn aiq(hull: &[Point], range: CostRange) -> f64 {
    if range.max > range.min {
        hull_area(hull, range.min, range.max) / (range.max - range.min)
    } else {
        hull_value(hull, range.min).unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::metrics::hull::non_decreasing_hull;

    fn p(cost: f64, quality: f64) -> Point {
        Point { cost, quality }
    }

    #[test]
    fn aiq_by_hand() {
        let models = [p(1.0, 0.5), p(3.0, 0.9), p(2.0, 0.4)];
        let range = CostRange::of_models(&models);
        assert_eq!(range, CostRange { min: 1.0, max: 3.0 });
        // Zero router: hull (1,0.5)–(3,0.9); mean height 0.7.
        let zero = non_decreasing_hull(&models);
        assert!((aiq(&zero, range) - 0.7).abs() < 1e-12);
        // A router starting at 2.0 with 0.8 then flat at 0.9 from 2.5: [1,2] counts 0,
        // [2,2.5] = 0.425, [2.5,3] = 0.45 → 0.875 / 2.
        let r = non_decreasing_hull(&[p(2.0, 0.8), p(2.5, 0.9)]);
        assert!((aiq(&r, range) - 0.4375).abs() < 1e-12);
        // A router below the range is clipped at c_min.
        let r = non_decreasing_hull(&[p(0.0, 0.0), p(2.0, 1.0)]);
        // R̃(1) = 0.5 → [1,2] = 0.75, [2,3] = 1 → 1.75 / 2.
        assert!((aiq(&r, range) - 0.875).abs() < 1e-12);
        // Degenerate range.
        let flat = CostRange { min: 1.0, max: 1.0 };
        assert_eq!(aiq(&zero, flat), 0.5);
    }
}
