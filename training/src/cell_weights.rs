//! Per-cell loss weights: how much each labelled (prompt, model) cell counts in a fit.
//!
//! The default masked loss weighs every labelled cell 1. Inverse-propensity weights
//! (`BanditTrainingSet::ips_weights`) make the weighted empirical risk an unbiased estimate of
//! the risk under the prompt distribution instead of under the logging policy's choices (see
//! `docs/learning-loop.md` §3). Every fitter normalises by the summed weight, so a weight of 2
//! is exactly a duplicated row and a weight of 0 is a row left out.

use classifier::predictors::{to_log_tokens, ModelPriors, TrainingSet, DEFAULT_OUTPUT_TOKENS};
use router_core::ModelId;

use crate::Error;

/// Quality prior where no model has a label; the value `ModelPriors::from_training_set` uses.
const DEFAULT_QUALITY: f32 = 0.5;

/// One non-negative weight per cell of a [`TrainingSet`] (`n × m`, same order as
/// `set.quality`); a weight applies to the cell's quality and token labels alike, and is
/// ignored on unlabelled cells.
#[derive(Clone, Debug, PartialEq)]
pub struct CellWeights {
    rows: Vec<Vec<f32>>,
}

impl CellWeights {
    /// Weights as given, row by row; checked against the set when a fit uses them.
    pub fn new(rows: Vec<Vec<f32>>) -> Self {
        Self { rows }
    }

    /// Every cell weighs 1: the plain masked loss.
    pub fn ones(rows: usize, models: usize) -> Self {
        Self::new(vec![vec![1.0; models]; rows])
    }

    /// From a table with missing cells, such as `BanditTrainingSet::ips_weights`; a missing
    /// cell (an unlabelled one) gets 0.
    pub fn from_cells(cells: &[Vec<Option<f32>>]) -> Self {
        Self::new(
            cells
                .iter()
                .map(|row| row.iter().map(|c| c.unwrap_or(0.0)).collect())
                .collect(),
        )
    }

    /// The weights, row by row.
    pub fn rows(&self) -> &[Vec<f32>] {
        &self.rows
    }

    /// The weight of row `i`, column `j` (0 outside the table).
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.rows
            .get(i)
            .and_then(|r| r.get(j))
            .copied()
            .unwrap_or(0.0)
    }

    /// The same weights with columns reordered from `from` to `to` by model id; a model of
    /// `to` absent from `from` gets 0 (it has no labels in the rows these weights belong to).
    pub fn remap(&self, from: &[ModelId], to: &[ModelId]) -> Self {
        let cols: Vec<Option<usize>> = to
            .iter()
            .map(|m| from.iter().position(|f| f == m))
            .collect();
        Self::new(
            self.rows
                .iter()
                .map(|row| {
                    cols.iter()
                        .map(|c| c.and_then(|c| row.get(c).copied()).unwrap_or(0.0))
                        .collect()
                })
                .collect(),
        )
    }

    /// Appends `other`'s rows (which must have the same columns) under these.
    pub fn append(&mut self, other: Self) {
        self.rows.extend(other.rows);
    }

    /// Fails unless there is one weight per cell of `set` and every labelled cell's weight is
    /// finite and non-negative.
    pub fn check(&self, set: &TrainingSet) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::CellWeights { reason });
        if self.rows.len() != set.len() {
            return bad(format!(
                "{} rows of weights for {} training rows; build the weights from the same set",
                self.rows.len(),
                set.len()
            ));
        }
        for (i, row) in self.rows.iter().enumerate() {
            if row.len() != set.models.len() {
                return bad(format!(
                    "row {i} has {} weights for {} models",
                    row.len(),
                    set.models.len()
                ));
            }
            for (j, &w) in row.iter().enumerate() {
                let labelled = set.quality[i][j].is_some() || set.output_tokens[i][j].is_some();
                if labelled && !(w.is_finite() && w >= 0.0) {
                    return bad(format!(
                        "row {i}, model `{}`: weight {w} is not a finite non-negative number",
                        set.models[j]
                    ));
                }
            }
        }
        Ok(())
    }

    /// Manifest diagnostics over the labelled quality cells: count, mean and largest weight,
    /// and the effective sample size `(Σw)² / Σw²` (how many equally weighted cells carry the
    /// same information).
    pub fn summary(&self, set: &TrainingSet) -> serde_json::Value {
        let labelled: Vec<f64> = set
            .quality
            .iter()
            .enumerate()
            .flat_map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_some())
                    .map(move |(j, _)| f64::from(self.get(i, j)))
            })
            .collect();
        let sum: f64 = labelled.iter().sum();
        let sum_sq: f64 = labelled.iter().map(|w| w * w).sum();
        serde_json::json!({
            "cells": labelled.len(),
            "mean": sum / labelled.len().max(1) as f64,
            "max": labelled.iter().copied().fold(0.0, f64::max),
            "effective_cells": if sum_sq > 0.0 { sum * sum / sum_sq } else { 0.0 },
        })
    }
}

/// Per-model priors as weighted means of the labelled cells (plain means without weights, as
/// `ModelPriors::from_training_set`): with inverse-propensity weights a model's prior is its
/// self-normalised IPS mean, not the mean over the prompts the logging policy sent it.
pub(crate) fn weighted_priors(set: &TrainingSet, weights: Option<&CellWeights>) -> ModelPriors {
    let Some(weights) = weights else {
        return ModelPriors::from_training_set(set);
    };
    let means = |table: &[Vec<Option<f32>>], map: fn(f32) -> f32| -> Vec<Option<f32>> {
        (0..set.models.len())
            .map(|j| {
                let (mut sum, mut total) = (0.0f64, 0.0f64);
                for (i, row) in table.iter().enumerate() {
                    if let Some(v) = row[j] {
                        let w = f64::from(weights.get(i, j));
                        sum += w * f64::from(map(v));
                        total += w;
                    }
                }
                (total > 0.0).then(|| (sum / total) as f32)
            })
            .collect()
    };
    let fill = |means: Vec<Option<f32>>, default: f32| -> (Vec<f32>, Vec<bool>) {
        let known: Vec<f32> = means.iter().flatten().copied().collect();
        let global = if known.is_empty() {
            default
        } else {
            known.iter().sum::<f32>() / known.len() as f32
        };
        let labelled = means.iter().map(Option::is_some).collect();
        (
            means.into_iter().map(|v| v.unwrap_or(global)).collect(),
            labelled,
        )
    };
    let (quality, quality_labelled) = fill(means(&set.quality, |v| v), DEFAULT_QUALITY);
    let (log_tokens, tokens_labelled) = fill(
        means(&set.output_tokens, to_log_tokens),
        to_log_tokens(DEFAULT_OUTPUT_TOKENS),
    );
    ModelPriors {
        quality,
        log_tokens,
        quality_labelled,
        tokens_labelled,
    }
}
