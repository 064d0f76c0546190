//! The dense inputs every metric reads: realised labels ([`EvalSet`]) and a router's
//! predictions ([`RouterScores`]).
//!
//! Missing cells are not representable: whoever builds an [`EvalSet`] (the `datasets` importers,
//! the CLI) restricts it to prompts for which every model has a label, so that every router and
//! baseline is scored on exactly the same prompts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use router_core::ModelId;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Realised outcomes of every model on every prompt of a test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSet {
    /// The candidate models, in column order.
    pub models: Vec<ModelId>,
    /// Realised quality, prompts × models, each in `[0, 1]`.
    pub quality: Vec<Vec<f64>>,
    /// Realised cost in USD, prompts × models, each `≥ 0`.
    pub cost: Vec<Vec<f64>>,
}

/// A router's predictions on the prompts of an [`EvalSet`], in the same row and column order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouterScores {
    /// The name shown in reports and plots.
    pub name: String,
    /// Predicted quality, prompts × models (any finite number; only the order matters).
    pub quality: Vec<Vec<f64>>,
    /// Predicted cost in USD, prompts × models (finite).
    pub cost: Vec<Vec<f64>>,
    /// When set, the λ-optimal fixed choice keeps a prompt unless the estimates prefer another
    /// model by more than a margin ([`TieBreak`]); `None`: plain `argmax q̂ − λ·ĉ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie: Option<TieBreak>,
}

/// An uncertainty-aware tie-break (issue 9: "when the estimate is unsure, the λ-optimal single
/// model wins ties"). At each λ the fixed choice `f = argmax q̄ − λ·c̄` is the model the
/// training means prefer, what the fixed policy sends every prompt to. A prompt goes to the
/// estimates' best model `b` instead only when `(q̂_b − λ·ĉ_b) − (q̂_f − λ·ĉ_f) > margin`: a
/// per-prompt gain smaller than the estimates can resolve leaves the prompt with `f`. Margin 0
/// is the plain router; an infinite one is the fixed policy. At λ = ∞ (cheapest predicted
/// cost) it does not apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TieBreak {
    /// Per model, the training mean of the quality (the fixed policy's estimate).
    pub mean_quality: Vec<f64>,
    /// Per model, the training mean of the cost in USD.
    pub mean_cost: Vec<f64>,
    /// Utility (quality points) the estimates must gain over the fixed choice to leave it.
    pub margin: f64,
}

/// A point of the cost–quality plane: mean realised cost per prompt and mean realised quality.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Mean cost per prompt in USD.
    pub cost: f64,
    /// Mean quality in `[0, 1]`.
    pub quality: f64,
}

impl EvalSet {
    /// Builds and validates a set.
    pub fn new(models: Vec<ModelId>, quality: Vec<Vec<f64>>, cost: Vec<Vec<f64>>) -> Result<Self> {
        let set = Self {
            models,
            quality,
            cost,
        };
        set.validate()?;
        Ok(set)
    }

    /// Number of prompts (rows).
    pub fn n_prompts(&self) -> usize {
        self.quality.len()
    }

    /// Number of models (columns).
    pub fn n_models(&self) -> usize {
        self.models.len()
    }

    /// Checks shapes, that qualities lie in `[0, 1]` and that costs are finite and `≥ 0`.
    pub fn validate(&self) -> Result<()> {
        let (n, m) = (self.n_prompts(), self.n_models());
        if n == 0 || m == 0 {
            return Err(Error::EmptySet {
                prompts: n,
                models: m,
            });
        }
        let name = "evaluation set";
        check_matrix(name, "quality", &self.quality, n, m, |v| {
            (0.0..=1.0)
                .contains(&v)
                .then_some(())
                .ok_or("realised quality must lie in [0, 1]")
        })?;
        check_matrix(name, "cost", &self.cost, n, m, |v| {
            (v.is_finite() && v >= 0.0)
                .then_some(())
                .ok_or("realised cost must be finite and ≥ 0 USD")
        })
    }

    /// Each model's mean realised cost and quality, in column order.
    pub fn model_means(&self) -> Vec<Point> {
        let n = self.n_prompts() as f64;
        (0..self.n_models())
            .map(|j| Point {
                cost: self.cost.iter().map(|r| r[j]).sum::<f64>() / n,
                quality: self.quality.iter().map(|r| r[j]).sum::<f64>() / n,
            })
            .collect()
    }
}

impl RouterScores {
    /// Plain scores: `argmax q̂ − λ·ĉ` per prompt.
    pub fn new(name: impl Into<String>, quality: Vec<Vec<f64>>, cost: Vec<Vec<f64>>) -> Self {
        Self {
            name: name.into(),
            quality,
            cost,
            tie: None,
        }
    }

    /// The model prompt `i` goes to at willingness-to-pay `lambda` (with the tie-break when
    /// set).
    pub fn pick(&self, i: usize, lambda: f64) -> usize {
        let (q, c) = (&self.quality[i], &self.cost[i]);
        let best = crate::sweep::pick(q, c, lambda);
        match &self.tie {
            Some(tie) if lambda.is_finite() => {
                let fixed = crate::sweep::pick(&tie.mean_quality, &tie.mean_cost, lambda);
                let utility = |j: usize| q[j] - lambda * c[j];
                if fixed < q.len() && utility(best) - utility(fixed) <= tie.margin {
                    fixed
                } else {
                    best
                }
            }
            _ => best,
        }
    }

    /// Checks that the predictions have the set's shape and are finite.
    pub fn validate_against(&self, set: &EvalSet) -> Result<()> {
        let (n, m) = (set.n_prompts(), set.n_models());
        let finite = |v: f64| {
            v.is_finite()
                .then_some(())
                .ok_or("predictions must be finite")
        };
        check_matrix(&self.name, "quality", &self.quality, n, m, finite)?;
        check_matrix(&self.name, "cost", &self.cost, n, m, finite)?;
        if let Some(tie) = &self.tie {
            // One row each: a model's mean, in the set's column order.
            let row = |v: &Vec<f64>| std::slice::from_ref(v).to_vec();
            check_matrix(
                &self.name,
                "tie.mean_quality",
                &row(&tie.mean_quality),
                1,
                m,
                finite,
            )?;
            check_matrix(
                &self.name,
                "tie.mean_cost",
                &row(&tie.mean_cost),
                1,
                m,
                finite,
            )?;
            let margin = [vec![tie.margin]];
            check_matrix(&self.name, "tie.margin", &margin, 1, 1, |v| {
                (v >= 0.0 && !v.is_nan())
                    .then_some(())
                    .ok_or("the margin must be ≥ 0 (∞ routes as the fixed policy)")
            })?;
        }
        Ok(())
    }

    /// The oracle: predictions equal to the realised labels.
    pub fn oracle(set: &EvalSet) -> Self {
        Self::new(crate::ORACLE_LABEL, set.quality.clone(), set.cost.clone())
    }

    /// A router that knows nothing: uniform random predicted quality per cell (seeded), and
    /// each model's mean realised cost as its predicted cost. Its RouteLLM APGR is ≈ 0.5.
    pub fn random(set: &EvalSet, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let means = set.model_means();
        let quality = (0..set.n_prompts())
            .map(|_| (0..set.n_models()).map(|_| rng.gen::<f64>()).collect())
            .collect();
        let cost = (0..set.n_prompts())
            .map(|_| means.iter().map(|p| p.cost).collect())
            .collect();
        // The seed stays out of the name so that SeedSummary matches runs across seeds.
        Self::new("random", quality, cost)
    }
}

fn check_matrix(
    source_name: &str,
    field: &'static str,
    rows: &[Vec<f64>],
    n: usize,
    m: usize,
    check: impl Fn(f64) -> Result<(), &'static str>,
) -> Result<()> {
    if rows.len() != n {
        return Err(Error::RowCountMismatch {
            source_name: source_name.to_owned(),
            field,
            found: rows.len(),
            expected: n,
        });
    }
    for (row, values) in rows.iter().enumerate() {
        if values.len() != m {
            return Err(Error::ShapeMismatch {
                source_name: source_name.to_owned(),
                field,
                row,
                found: values.len(),
                expected: m,
            });
        }
        for (col, &value) in values.iter().enumerate() {
            check(value).map_err(|why| Error::InvalidValue {
                source_name: source_name.to_owned(),
                field,
                row,
                col,
                value,
                why,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ids(n: usize) -> Vec<ModelId> {
        (0..n).map(|i| ModelId::new(format!("m{i}"))).collect()
    }

    #[test]
    fn means_are_column_averages() {
        let set = EvalSet::new(
            ids(2),
            vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]],
            vec![vec![1.0, 2.0], vec![1.0, 4.0], vec![1.0, 6.0]],
        )
        .unwrap();
        let means = set.model_means();
        assert_eq!(
            means[0],
            Point {
                cost: 1.0,
                quality: 2.0 / 3.0
            }
        );
        assert_eq!(
            means[1],
            Point {
                cost: 4.0,
                quality: 2.0 / 3.0
            }
        );
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        let e = EvalSet::new(ids(2), vec![vec![0.5]], vec![vec![1.0, 1.0]]).unwrap_err();
        assert!(matches!(
            e,
            Error::ShapeMismatch {
                row: 0,
                found: 1,
                expected: 2,
                ..
            }
        ));
        let e = EvalSet::new(ids(1), vec![vec![1.5]], vec![vec![1.0]]).unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidValue {
                field: "quality",
                ..
            }
        ));
        let e = EvalSet::new(ids(1), vec![vec![0.5]], vec![vec![-1.0]]).unwrap_err();
        assert!(matches!(e, Error::InvalidValue { field: "cost", .. }));
        let e = EvalSet::new(ids(1), vec![], vec![]).unwrap_err();
        assert!(matches!(e, Error::EmptySet { .. }));
        let set = EvalSet::new(ids(1), vec![vec![0.5]], vec![vec![1.0]]).unwrap();
        let r = RouterScores {
            name: "r".into(),
            quality: vec![vec![f64::NAN]],
            cost: vec![vec![1.0]],
            tie: None,
        };
        assert!(r.validate_against(&set).is_err());
    }
}
