//! [`ExperimentData`]: an outcome table with its prompt embeddings, as dense per-model labels.

use std::sync::Arc;

use classifier::predictors::TrainingSet;
use datasets::{estimate_tokens, OutcomeTable, Split};
use evals::EvalSet;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use router_core::ModelId;

use crate::Error;

/// Prompts × models with embeddings, labels, realised costs, tasks and the source's split.
///
/// Every row is kept for training (missing cells are masked there); only *complete* rows, where
/// every model has both a score and a cost, are eligible for a test set, so that every router
/// and baseline is scored on the same prompts (see [`ExperimentData::is_complete`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExperimentData {
    /// The table's source (`routerbench`, `routellm+llmrouter`, ...).
    pub source: String,
    /// The models, in column order.
    pub models: Vec<ModelId>,
    /// One unit-length embedding per row.
    pub x: Vec<Vec<f32>>,
    /// Realised quality in `[0, 1]`.
    pub quality: Vec<Vec<Option<f64>>>,
    /// Realised cost in USD (recorded, or estimated from prices by the caller).
    pub cost: Vec<Vec<Option<f64>>>,
    /// Output tokens: recorded, else estimated from the recorded response (characters / 4),
    /// else implied by a recorded (not estimated) cost and the model's prices.
    pub output_tokens: Vec<Vec<Option<f32>>>,
    /// Estimated prompt tokens (characters / 4), used to predict cost from prices.
    pub input_tokens: Vec<f64>,
    /// Each row's task (`mmlu/anatomy`, `gsm8k`, ...).
    pub tasks: Vec<Option<String>>,
    /// Each row's split in the source, where it has one.
    pub splits: Vec<Option<Split>>,
    /// USD per 1M (input, output) tokens per model, from the catalog; `None` = not priced.
    pub prices: Vec<Option<(f64, f64)>>,
    /// Each row's source (the `--data` argument it came from), where the caller set it; what
    /// [`super::SplitKind::Source`] splits on.
    pub sources: Vec<Option<String>>,
    /// Each row's last-layer encoder token states (`tokens × 384`), for fitting a routing
    /// adapter ([`crate::adapter`]); empty when the caller did not compute them.
    pub token_states: Vec<Arc<[f32]>>,
}

impl ExperimentData {
    /// Builds the data from a table and one embedding per table row (same order), with
    /// `prices(model)` = USD per 1M (input, output) tokens where known.
    pub fn from_table(
        table: &OutcomeTable,
        x: Vec<Vec<f32>>,
        prices: &dyn Fn(&str) -> Option<(f64, f64)>,
    ) -> Result<Self, Error> {
        if x.len() != table.rows.len() {
            return Err(Error::Experiment {
                reason: format!(
                    "{} embeddings for {} prompts of {}",
                    x.len(),
                    table.rows.len(),
                    table.source
                ),
            });
        }
        let m = table.models.len();
        let cells = |f: &dyn Fn(&datasets::Cell) -> Option<f64>| -> Vec<Vec<Option<f64>>> {
            table
                .rows
                .iter()
                .map(|r| {
                    (0..m)
                        .map(|j| r.cells.get(j).and_then(Option::as_ref).and_then(f))
                        .collect()
                })
                .collect()
        };
        let quality = cells(&|c| Some(c.score.clamp(0.0, 1.0)));
        let cost = cells(&|c| c.cost_usd.filter(|v| v.is_finite() && *v >= 0.0));
        let model_prices: Vec<Option<(f64, f64)>> =
            table.models.iter().map(|m| prices(m)).collect();
        let output_tokens = table
            .rows
            .iter()
            .map(|r| {
                (0..m)
                    .map(|j| {
                        let c = r.cells.get(j).and_then(Option::as_ref)?;
                        let input = c
                            .input_tokens
                            .map_or_else(|| estimate_tokens(&r.text), f64::from);
                        output_tokens_of(c, input, model_prices[j]).map(|t| t as f32)
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            source: table.source.clone(),
            models: table.models.iter().map(ModelId::new).collect(),
            x,
            quality,
            cost,
            output_tokens,
            input_tokens: table
                .rows
                .iter()
                .map(|r| estimate_tokens(&r.text))
                .collect(),
            // Lower case, so that labels differing only in case (`Math`, `math`: sources merged
            // or labelled by hand) are one task for the per-task rule, leave-one-task-out and
            // the guard's task folds.
            tasks: table
                .rows
                .iter()
                .map(|r| r.task.as_deref().map(str::to_lowercase))
                .collect(),
            splits: table.rows.iter().map(|r| r.split).collect(),
            prices: model_prices,
            sources: vec![None; table.rows.len()],
            token_states: Vec::new(),
        })
    }

    /// The models without a catalog price (their predicted cost falls back to training means).
    pub fn unpriced_models(&self) -> Vec<ModelId> {
        self.models
            .iter()
            .zip(&self.prices)
            .filter(|(_, p)| p.is_none())
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// The same rows restricted to the model columns `columns` (in that order); rows without a
    /// label in any of them are dropped. Returns the data and, per kept row, its old index.
    pub fn restrict_columns(&self, columns: &[usize]) -> (Self, Vec<usize>) {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| columns.iter().any(|&j| self.quality[i][j].is_some()))
            .collect();
        let pick = |row: &Vec<Option<f64>>| -> Vec<Option<f64>> {
            columns.iter().map(|&j| row[j]).collect()
        };
        let data = Self {
            source: self.source.clone(),
            models: columns.iter().map(|&j| self.models[j].clone()).collect(),
            x: keep.iter().map(|&i| self.x[i].clone()).collect(),
            quality: keep.iter().map(|&i| pick(&self.quality[i])).collect(),
            cost: keep.iter().map(|&i| pick(&self.cost[i])).collect(),
            output_tokens: keep
                .iter()
                .map(|&i| columns.iter().map(|&j| self.output_tokens[i][j]).collect())
                .collect(),
            input_tokens: keep.iter().map(|&i| self.input_tokens[i]).collect(),
            tasks: keep.iter().map(|&i| self.tasks[i].clone()).collect(),
            splits: keep.iter().map(|&i| self.splits[i]).collect(),
            prices: columns.iter().map(|&j| self.prices[j]).collect(),
            sources: keep.iter().map(|&i| self.sources[i].clone()).collect(),
            token_states: self.pick_states(&keep),
        };
        (data, keep)
    }

    /// Rows `rows` (in that order), every column kept: the training rows of a fold as a data
    /// set of their own, for the guard's nested validation.
    pub fn rows(&self, rows: &[usize]) -> Self {
        Self {
            source: self.source.clone(),
            models: self.models.clone(),
            x: rows.iter().map(|&i| self.x[i].clone()).collect(),
            quality: rows.iter().map(|&i| self.quality[i].clone()).collect(),
            cost: rows.iter().map(|&i| self.cost[i].clone()).collect(),
            output_tokens: rows
                .iter()
                .map(|&i| self.output_tokens[i].clone())
                .collect(),
            input_tokens: rows.iter().map(|&i| self.input_tokens[i]).collect(),
            tasks: rows.iter().map(|&i| self.tasks[i].clone()).collect(),
            splits: rows.iter().map(|&i| self.splits[i]).collect(),
            prices: self.prices.clone(),
            sources: rows.iter().map(|&i| self.sources[i].clone()).collect(),
            token_states: self.pick_states(rows),
        }
    }

    fn pick_states(&self, rows: &[usize]) -> Vec<Arc<[f32]>> {
        if self.token_states.is_empty() {
            return Vec::new();
        }
        rows.iter().map(|&i| self.token_states[i].clone()).collect()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Whether every model has a score and a cost on row `i` (only such rows are tested).
    pub fn is_complete(&self, i: usize) -> bool {
        self.quality[i].iter().all(Option::is_some) && self.cost[i].iter().all(Option::is_some)
    }

    /// The task family of row `i`: its task up to the first `/` (`mmlu/anatomy` → `mmlu`).
    pub fn task_family(&self, i: usize) -> Option<&str> {
        self.tasks[i]
            .as_deref()
            .map(classifier::predictors::task_family)
    }

    /// The fitting input for `rows`, missing cells kept as `None`.
    pub fn training_set(&self, rows: &[usize]) -> TrainingSet {
        TrainingSet {
            models: self.models.clone(),
            x: rows.iter().map(|&i| self.x[i].clone()).collect(),
            quality: rows
                .iter()
                .map(|&i| {
                    self.quality[i]
                        .iter()
                        .map(|q| q.map(|v| v as f32))
                        .collect()
                })
                .collect(),
            output_tokens: rows
                .iter()
                .map(|&i| self.output_tokens[i].clone())
                .collect(),
            tasks: rows.iter().map(|&i| self.tasks[i].clone()).collect(),
        }
    }

    /// The realised labels of `rows`, which must be complete.
    pub fn eval_set(&self, rows: &[usize]) -> Result<EvalSet, Error> {
        let dense = |t: &[Vec<Option<f64>>]| -> Vec<Vec<f64>> {
            rows.iter()
                .map(|&i| t[i].iter().map(|v| v.unwrap_or(0.0)).collect())
                .collect()
        };
        if let Some(&bad) = rows.iter().find(|&&i| !self.is_complete(i)) {
            return Err(Error::Experiment {
                reason: format!("test row {bad} lacks a score or cost for some model"),
            });
        }
        Ok(EvalSet::new(
            self.models.clone(),
            dense(&self.quality),
            dense(&self.cost),
        )?)
    }

    /// Whether every model has a price (then predicted cost comes from prices × tokens).
    pub fn all_priced(&self) -> bool {
        !self.prices.is_empty() && self.prices.iter().all(Option::is_some)
    }

    /// Models that `rows` cannot teach a router: no quality label on any of them, or, where
    /// predicted cost falls back to training means (a model without a price), no recorded
    /// cost. A router fitted on such rows would take the model for free or useless.
    pub fn unlearnable_models(&self, rows: &[usize]) -> Vec<&ModelId> {
        let need_cost = !self.all_priced();
        self.models
            .iter()
            .enumerate()
            .filter(|&(j, _)| {
                let scored = rows.iter().any(|&i| self.quality[i][j].is_some());
                let costed = rows.iter().any(|&i| self.cost[i][j].is_some());
                !scored || (need_cost && !costed)
            })
            .map(|(_, m)| m)
            .collect()
    }

    /// Each model's mean realised cost over the costed cells of `rows` (0 where none: callers
    /// refuse such rows first, see [`Self::unlearnable_models`]).
    pub fn mean_costs(&self, rows: &[usize]) -> Vec<f64> {
        (0..self.models.len())
            .map(|j| {
                let v: Vec<f64> = rows.iter().filter_map(|&i| self.cost[i][j]).collect();
                if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            })
            .collect()
    }
}

/// Keeps `max` rows of `table` drawn at random with `seed`, in their original order (a
/// subsample for slow machines; a no-op when the table is smaller).
pub fn sample_rows(table: &mut OutcomeTable, max: usize, seed: u64) {
    if max >= table.rows.len() {
        return;
    }
    let mut idx: Vec<usize> = (0..table.rows.len()).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut keep = vec![false; table.rows.len()];
    idx[..max].iter().for_each(|&i| keep[i] = true);
    let mut it = keep.into_iter();
    table.rows.retain(|_| it.next().unwrap_or(false));
}

/// A cell's output tokens: recorded, else estimated from its response, else implied by its
/// cost, `input` tokens and the model's `prices` (`(cost·10⁶ − input·p_in) / p_out`).
/// The last matters where a set records real costs but neither tokens nor responses: without
/// it every model would be predicted at the default length and a verbose model would look as
/// cheap per prompt as a terse one at the same price. For a cost *estimated* at the default
/// length (no tokens, no response) it gives that default: the label then matches the cost the
/// prompt is scored at. Left unlabelled, such rows were predicted at the lengths of other
/// sources' prompts, so a mixture priced their cost on another basis than it scored it
/// (measured: RouterBench + GSM8K + MMLU, docs/routing-quality.md).
fn output_tokens_of(c: &datasets::Cell, input: f64, prices: Option<(f64, f64)>) -> Option<f64> {
    if let Some(t) = c.output_tokens {
        return Some(f64::from(t));
    }
    if let Some(resp) = c.response.as_deref() {
        return Some(estimate_tokens(resp));
    }
    // The same filter as the cost target: a negative or non-finite cost implies nothing.
    let cost = c.cost_usd.filter(|v| v.is_finite() && *v >= 0.0)?;
    let (p_in, p_out) = prices?;
    let implied = (cost * 1e6 - input * p_in) / p_out;
    (p_out > 0.0 && implied.is_finite()).then(|| implied.clamp(0.0, 1e6))
}

#[cfg(test)]
mod tests {
    use super::output_tokens_of;

    #[test]
    fn output_tokens_come_from_tokens_then_response_then_a_real_cost() {
        let mut c = datasets::Cell::from_score(1.0);
        c.cost_usd = Some(0.0011); // 100 input tokens at $1/M + 500 output tokens at $2/M
        assert_eq!(output_tokens_of(&c, 100.0, Some((1.0, 2.0))), Some(500.0));
        assert_eq!(output_tokens_of(&c, 100.0, None), None);
        assert_eq!(output_tokens_of(&c, 100.0, Some((1.0, 0.0))), None);
        // A negative cost is no cost: it must not be read as "0 output tokens".
        let mut neg = datasets::Cell::from_score(1.0);
        neg.cost_usd = Some(-0.005);
        assert_eq!(output_tokens_of(&neg, 100.0, Some((1.0, 2.0))), None);
        c.response = Some("x".repeat(40));
        assert_eq!(output_tokens_of(&c, 100.0, Some((1.0, 2.0))), Some(10.0));
        c.output_tokens = Some(7);
        assert_eq!(output_tokens_of(&c, 100.0, Some((1.0, 2.0))), Some(7.0));
        // A cost estimated at the default length gives that length back: the label matches
        // the cost the prompt is scored at.
        let mut e = datasets::Cell::from_score(1.0);
        e.cost_usd = Some(0.0005); // 100 input tokens at $1/M + 200 default output at $2/M
        e.cost_estimated = true;
        assert_eq!(output_tokens_of(&e, 100.0, Some((1.0, 2.0))), Some(200.0));
    }
}
