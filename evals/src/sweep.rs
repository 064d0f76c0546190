//! The λ-sweep: how a router trades quality for cost.
//!
//! For a willingness-to-pay λ (quality per USD), every prompt goes to
//! `argmax_m (q̂_m − λ·ĉ_m)`, ties going to the lower predicted cost, then the lower column.
//! λ = 0 picks the best predicted quality; λ = ∞ picks the cheapest predicted cost (ties: the
//! better predicted quality). Each λ gives one point: the mean *realised* cost and quality of
//! the picks, plus each model's share of calls. This is RouterBench's `λ·P − cost` routing rule.

use serde::{Deserialize, Serialize};

use crate::{input::Point, Error, EvalSet, Result, RouterScores};

/// Which λ values to sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LambdaGrid {
    /// 0, then `points` values log-spaced over `λ·c̄ ∈ [1e-4, 1e5]` where `c̄` is the router's
    /// mean predicted cost (so the grid adapts to the price scale), then ∞.
    Auto {
        /// Number of finite, positive λ values.
        points: usize,
    },
    /// These λ values (≥ 0; `f64::INFINITY` allowed), swept in ascending order.
    Explicit(Vec<f64>),
}

impl Default for LambdaGrid {
    fn default() -> Self {
        Self::Auto { points: 181 }
    }
}

/// One operating point of a router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The λ used; `None` (JSON `null`) stands for λ = ∞ (pure cost minimisation).
    pub lambda: Option<f64>,
    /// Mean realised cost per prompt (USD).
    pub cost: f64,
    /// Mean realised quality.
    pub quality: f64,
    /// Fraction of prompts sent to each model, in the set's column order (sums to 1).
    pub shares: Vec<f64>,
}

impl SweepPoint {
    /// The point's cost and quality.
    pub fn point(&self) -> Point {
        Point {
            cost: self.cost,
            quality: self.quality,
        }
    }
}

/// The λ values `grid` denotes for `scores`, ascending, with ∞ last if present.
pub fn lambda_values(grid: &LambdaGrid, scores: &RouterScores) -> Result<Vec<f64>> {
    match grid {
        LambdaGrid::Auto { points } => {
            let cells = scores.cost.iter().flatten();
            let (sum, count) = cells.fold((0.0, 0usize), |(s, c), v| (s + v.abs(), c + 1));
            let mean = if count > 0 && sum > 0.0 {
                sum / count as f64
            } else {
                1.0
            };
            let mut out = vec![0.0];
            let (lo, hi) = (-4.0_f64, 5.0_f64);
            for k in 0..*points {
                let t = if *points > 1 {
                    k as f64 / (*points - 1) as f64
                } else {
                    0.5
                };
                out.push(10f64.powf(lo + (hi - lo) * t) / mean);
            }
            out.push(f64::INFINITY);
            Ok(out)
        }
        LambdaGrid::Explicit(values) => {
            for (index, &value) in values.iter().enumerate() {
                if value.is_nan() || value < 0.0 {
                    return Err(Error::InvalidLambda { index, value });
                }
            }
            let mut out = values.clone();
            out.sort_by(f64::total_cmp);
            out.dedup();
            Ok(out)
        }
    }
}

/// The model a router picks for one prompt at willingness-to-pay `lambda`.
pub fn pick(quality: &[f64], cost: &[f64], lambda: f64) -> usize {
    let mut best = 0;
    for j in 1..quality.len() {
        let better = if lambda.is_infinite() {
            // Lexicographic: cheaper, then better; avoids ∞·0 and ∞ − ∞.
            cost[j] < cost[best] || (cost[j] == cost[best] && quality[j] > quality[best])
        } else {
            let (uj, ub) = (
                quality[j] - lambda * cost[j],
                quality[best] - lambda * cost[best],
            );
            uj > ub || (uj == ub && cost[j] < cost[best])
        };
        if better {
            best = j;
        }
    }
    best
}

/// The realised mean cost, quality and call shares of routing prompt `i` to `choice[i]`.
pub fn realise(set: &EvalSet, choice: &[usize], lambda: Option<f64>) -> SweepPoint {
    let n = set.n_prompts() as f64;
    let mut shares = vec![0.0; set.n_models()];
    let (mut cost, mut quality) = (0.0, 0.0);
    for (i, &j) in choice.iter().enumerate() {
        cost += set.cost[i][j];
        quality += set.quality[i][j];
        shares[j] += 1.0;
    }
    shares.iter_mut().for_each(|s| *s /= n);
    SweepPoint {
        lambda,
        cost: cost / n,
        quality: quality / n,
        shares,
    }
}

/// Sweeps `grid` for `scores` on `set`; one point per λ, in grid order.
pub fn lambda_sweep(
    set: &EvalSet,
    scores: &RouterScores,
    grid: &LambdaGrid,
) -> Result<Vec<SweepPoint>> {
    set.validate()?;
    scores.validate_against(set)?;
    let lambdas = lambda_values(grid, scores)?;
    Ok(lambdas
        .into_iter()
        .map(|lambda| {
            let choice: Vec<usize> = (0..scores.quality.len())
                .map(|i| scores.pick(i, lambda))
                .collect();
            realise(set, &choice, lambda.is_finite().then_some(lambda))
        })
        .collect())
}

/// One point of the alternative policy "cheapest model predicted to reach `min_quality`":
/// per prompt, among models with `q̂ ≥ min_quality` the lowest predicted cost (ties: better
/// predicted quality); if none qualifies, the best predicted quality (ties: cheaper). Points
/// carry `lambda: None`. Not part of [`crate::Report`]; callers who want these curves can
/// feed the points to [`crate::metrics::hull::non_decreasing_hull`] and
/// [`crate::metrics::aiq::aiq`].
pub fn threshold_sweep(
    set: &EvalSet,
    scores: &RouterScores,
    min_quality: &[f64],
) -> Result<Vec<SweepPoint>> {
    set.validate()?;
    scores.validate_against(set)?;
    Ok(min_quality
        .iter()
        .map(|&tau| {
            let choice: Vec<usize> = scores
                .quality
                .iter()
                .zip(&scores.cost)
                .map(|(q, c)| {
                    let qualifying = (0..q.len()).filter(|&j| q[j] >= tau);
                    let cheapest = qualifying.reduce(|b, j| {
                        if c[j] < c[b] || (c[j] == c[b] && q[j] > q[b]) {
                            j
                        } else {
                            b
                        }
                    });
                    cheapest.unwrap_or_else(|| pick(q, c, 0.0))
                })
                .collect();
            realise(set, &choice, None)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::TieBreak;
    use router_core::ModelId;

    #[test]
    fn pick_breaks_ties_towards_cheaper() {
        assert_eq!(pick(&[0.5, 0.5], &[2.0, 1.0], 0.0), 1);
        assert_eq!(pick(&[0.9, 0.5], &[2.0, 1.0], 0.0), 0);
        // Exact tie 1 − 0.5·2 = 0.5 − 0.5·1 = 0: the cheaper model wins.
        assert_eq!(pick(&[1.0, 0.5], &[2.0, 1.0], 0.5), 1);
        assert_eq!(pick(&[0.9, 0.5], &[2.0, 1.0], 0.1), 0);
        assert_eq!(pick(&[0.9, 0.5, 0.7], &[2.0, 1.0, 1.0], f64::INFINITY), 2);
    }

    #[test]
    fn sweep_moves_from_best_to_cheapest() {
        let set = EvalSet::new(
            vec![ModelId::new("big"), ModelId::new("small")],
            vec![vec![1.0, 0.0], vec![1.0, 1.0]],
            vec![vec![10.0, 1.0], vec![10.0, 1.0]],
        )
        .unwrap();
        let scores = RouterScores::oracle(&set);
        let grid = LambdaGrid::Explicit(vec![f64::INFINITY, 0.0, 0.5]);
        let pts = lambda_sweep(&set, &scores, &grid).unwrap();
        assert_eq!(pts.len(), 3);
        // λ = 0: prompt 0 → big (1.0 > 0.0), prompt 1 → small (tie, cheaper).
        assert_eq!((pts[0].cost, pts[0].quality), (5.5, 1.0));
        assert_eq!(pts[0].shares, vec![0.5, 0.5]);
        // λ = 0.5: 1 − 5 < 0 − 0.5 → small everywhere.
        assert_eq!((pts[1].cost, pts[1].quality), (1.0, 0.5));
        assert_eq!(pts[2].lambda, None);
        let e = lambda_sweep(&set, &scores, &LambdaGrid::Explicit(vec![-1.0])).unwrap_err();
        assert!(matches!(e, Error::InvalidLambda { index: 0, .. }));
    }

    #[test]
    fn threshold_sweep_picks_cheapest_qualifying() {
        let set = EvalSet::new(
            vec![
                ModelId::new("big"),
                ModelId::new("mid"),
                ModelId::new("small"),
            ],
            vec![vec![1.0, 0.5, 0.0]],
            vec![vec![10.0, 4.0, 1.0]],
        )
        .unwrap();
        let scores = RouterScores {
            name: "r".into(),
            quality: vec![vec![0.9, 0.6, 0.2]],
            cost: vec![vec![10.0, 4.0, 1.0]],
            tie: None,
        };
        let pts = threshold_sweep(&set, &scores, &[0.0, 0.5, 0.8, 0.95]).unwrap();
        let picked: Vec<f64> = pts.iter().map(|p| p.cost).collect();
        // τ = 0.95: nobody qualifies → best predicted quality (big).
        assert_eq!(picked, vec![1.0, 4.0, 10.0, 10.0]);
    }

    #[test]
    fn the_fixed_choice_keeps_a_prompt_unless_the_estimates_gain_more_than_the_margin() {
        // Training means prefer model 0 at λ = 0. Prompt 0's estimates prefer model 1 by 0.05,
        // prompt 1's by 0.30.
        let mut scores = RouterScores::new(
            "r",
            vec![vec![0.60, 0.65], vec![0.40, 0.70]],
            vec![vec![1.0, 1.0], vec![1.0, 1.0]],
        );
        let plain = |s: &RouterScores| (0..2).map(|i| s.pick(i, 0.0)).collect::<Vec<_>>();
        assert_eq!(plain(&scores), vec![1, 1]);
        let tie = |margin: f64| TieBreak {
            mean_quality: vec![0.8, 0.5],
            mean_cost: vec![1.0, 1.0],
            margin,
        };
        scores.tie = Some(tie(0.0));
        assert_eq!(plain(&scores), vec![1, 1], "margin 0 is the plain router");
        scores.tie = Some(tie(0.1));
        assert_eq!(
            plain(&scores),
            vec![0, 1],
            "a 0.05 gain is a tie, 0.30 is not"
        );
        scores.tie = Some(tie(f64::INFINITY));
        assert_eq!(
            plain(&scores),
            vec![0, 0],
            "an infinite margin is the fixed policy"
        );
        // λ = ∞ minimises predicted cost whatever the margin.
        scores.cost = vec![vec![2.0, 1.0], vec![2.0, 1.0]];
        assert_eq!(scores.pick(0, f64::INFINITY), 1);
        // A negative margin is refused, naming the field.
        scores.tie = Some(tie(-0.1));
        let set = EvalSet::new(
            vec![ModelId::new("a"), ModelId::new("b")],
            vec![vec![1.0, 0.0]; 2],
            vec![vec![1.0, 1.0]; 2],
        )
        .unwrap();
        let err = scores.validate_against(&set).unwrap_err().to_string();
        assert!(err.contains("tie.margin"), "{err}");
    }
}
