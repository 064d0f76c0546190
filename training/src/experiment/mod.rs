//! The routing experiment: split, decontaminate, fit every predictor, score them as routers.
//!
//! - [`ExperimentData`]: an outcome table with embeddings; every row trains (missing cells are
//!   masked), only rows where every model has a score and a cost are tested.
//! - [`SplitKind`], [`Fold`], [`own_split`], [`random_split`], [`loto_splits`],
//!   [`decontaminate`]: how prompts are divided.
//! - [`fit_predictor`], [`PredictorConfigs`], [`router_scores`], [`CostModel`]: fitting a
//!   predictor and turning its quality and output-token estimates into a router's scores.
//! - [`run`] / [`ExperimentConfig`] → [`ExperimentReport`]: one `evals::Report` per fold and
//!   seed, and their `evals::SeedSummary`.

mod data;
mod fit;
mod split;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::time::Instant;

use classifier::predictors::PredictorKind;
use evals::{evaluate, EvalConfig, Report, SeedSummary};
use router_core::ModelId;
use serde::{Deserialize, Serialize};

pub use data::{sample_rows, ExperimentData};
pub use fit::{fit_predictor, router_scores, CostModel, PredictorConfigs};
pub use split::{decontaminate, loto_splits, own_split, random_split, Fold, SplitKind};

use crate::{Error, Progress, ProgressFn};

/// Version of the [`ExperimentReport`] JSON layout (see `docs/eval-json.md`).
pub const EXPERIMENT_SCHEMA_VERSION: u32 = 1;

/// What to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// The predictors to fit and score, in report order.
    pub predictors: Vec<PredictorKind>,
    /// How to split.
    pub split: SplitKind,
    /// One run per seed (and per fold for leave-one-task-out). The seed drives the random
    /// split and the predictors' initialisation and minibatch order.
    pub seeds: Vec<u64>,
    /// Share of rows tested by [`SplitKind::Random`]. Default 0.2.
    pub test_fraction: f64,
    /// With [`SplitKind::Loto`], hold out only this task family.
    pub holdout_task: Option<String>,
    /// Drop test prompts whose cosine similarity to some training prompt is at least this.
    pub decontaminate: Option<f64>,
    /// Fitting settings.
    pub configs: PredictorConfigs,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            predictors: vec![
                PredictorKind::Knn,
                PredictorKind::Linear,
                PredictorKind::Mlp,
                PredictorKind::Mf,
            ],
            split: SplitKind::Random,
            seeds: vec![0, 1, 2],
            test_fraction: 0.2,
            holdout_task: None,
            decontaminate: Some(0.95),
            configs: PredictorConfigs::default(),
        }
    }
}

/// One fold at one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// `own`, `random`, or the held-out task family.
    pub fold: String,
    /// The seed.
    pub seed: u64,
    /// Rows fitted on.
    pub train_rows: usize,
    /// Rows scored.
    pub test_rows: usize,
    /// Test-side rows left out because some model lacks a score or cost.
    pub test_incomplete_dropped: usize,
    /// Test rows dropped as near-duplicates of training rows.
    pub decontaminated_dropped: usize,
    /// Fit time per predictor, seconds, in predictor order.
    pub fit_seconds: Vec<(String, f64)>,
    /// The evaluation.
    pub report: Report,
}

/// Everything an experiment measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// [`EXPERIMENT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The data's source.
    pub source: String,
    /// The models, in column order.
    pub models: Vec<ModelId>,
    /// Rows in the data (all, before splitting).
    pub rows: usize,
    /// The split.
    pub split: SplitKind,
    /// How predicted cost was formed.
    pub cost_model: CostModel,
    /// The decontamination threshold, if any.
    pub decontaminate: Option<f64>,
    /// One entry per fold × seed.
    pub runs: Vec<RunReport>,
    /// Mean ± sd per router over `runs`.
    pub summary: SeedSummary,
}

/// Runs the experiment. Progress reports carry the fold, seed and predictor in `message`.
pub fn run(
    data: &ExperimentData,
    config: &ExperimentConfig,
    mut progress: ProgressFn<'_>,
) -> Result<ExperimentReport, Error> {
    if config.predictors.is_empty() || config.seeds.is_empty() {
        return Err(Error::Experiment {
            reason: "choose at least one predictor and one seed".into(),
        });
    }
    let cost_model = CostModel::for_data(data);
    let fixed_folds = match config.split {
        SplitKind::Own => Some(vec![own_split(data)?]),
        SplitKind::Loto => Some(loto_splits(data, config.holdout_task.as_deref())?),
        SplitKind::Random => None,
    };
    let mut runs = Vec::new();
    for &seed in &config.seeds {
        let folds = match &fixed_folds {
            Some(f) => f.clone(),
            None => vec![random_split(data, config.test_fraction, seed)],
        };
        for fold in folds {
            let (test, dropped) = match config.decontaminate {
                Some(t) => decontaminate(&data.x, &fold.train, &fold.test, t),
                None => (fold.test.clone(), 0),
            };
            if test.is_empty() || fold.train.is_empty() {
                return Err(Error::Experiment {
                    reason: format!(
                        "fold `{}` has {} training and {} test prompts left (after {} incomplete and {dropped} near-duplicates were dropped)",
                        fold.label,
                        fold.train.len(),
                        test.len(),
                        fold.incomplete_dropped
                    ),
                });
            }
            let set = data.training_set(&fold.train);
            let eval_set = data.eval_set(&test)?;
            let train_mean = data.mean_costs(&fold.train);
            let mut routers = Vec::new();
            let mut fit_seconds = Vec::new();
            for &kind in &config.predictors {
                let prefix = format!("{} seed {seed} {}:", fold.label, kind.as_str());
                let mut relay = |p: &Progress| {
                    if let Some(f) = progress.as_mut() {
                        let mut p = p.clone();
                        p.message = format!("{prefix} {}", p.message);
                        f(&p);
                    }
                };
                let start = Instant::now();
                let predictor = fit_predictor(kind, &set, &config.configs, seed, Some(&mut relay))?;
                fit_seconds.push((kind.as_str().to_owned(), start.elapsed().as_secs_f64()));
                routers.push(router_scores(
                    kind.as_str(),
                    &predictor,
                    data,
                    &test,
                    cost_model,
                    &train_mean,
                )?);
            }
            let report = evaluate(&eval_set, &routers, &EvalConfig::default())?;
            runs.push(RunReport {
                fold: fold.label.clone(),
                seed,
                train_rows: fold.train.len(),
                test_rows: test.len(),
                test_incomplete_dropped: fold.incomplete_dropped,
                decontaminated_dropped: dropped,
                fit_seconds,
                report,
            });
        }
    }
    let reports: Vec<Report> = runs.iter().map(|r| r.report.clone()).collect();
    Ok(ExperimentReport {
        schema_version: EXPERIMENT_SCHEMA_VERSION,
        source: data.source.clone(),
        models: data.models.clone(),
        rows: data.len(),
        split: config.split,
        cost_model,
        decontaminate: config.decontaminate,
        runs,
        summary: SeedSummary::from_reports(&reports),
    })
}

impl ExperimentReport {
    /// Markdown: the split and data, the mean ± sd table, then one line per run.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "**{}**: {} prompts × {} models; split `{}`; predicted cost: {}; decontamination: {}.\n\n",
            self.source,
            self.rows,
            self.models.len(),
            self.split.as_str(),
            match self.cost_model {
                CostModel::PricesTimesTokens => "catalog prices × (prompt tokens, predicted output tokens)",
                CostModel::TrainMean => "each model's mean training cost",
            },
            match self.decontaminate {
                Some(t) => format!("test prompts with cosine ≥ {t} to a training prompt dropped"),
                None => "off".into(),
            }
        );
        out.push_str(&self.summary.to_markdown());
        out.push_str(
            "\n| fold | seed | train | test | dropped (incomplete) | dropped (near-duplicate) | best single (quality, $/prompt) | AIQ per router (zero router, oracle) |\n| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
        );
        for r in &self.runs {
            let rep = &r.report;
            let best = rep
                .single_models
                .iter()
                .find(|s| s.model == rep.best_single);
            let aiqs: Vec<String> = rep
                .routers
                .iter()
                .map(|x| format!("{} {:.4}", x.name, x.aiq))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} {} | {} (zero {:.4}, oracle {:.4}) |",
                r.fold,
                r.seed,
                r.train_rows,
                r.test_rows,
                r.test_incomplete_dropped,
                r.decontaminated_dropped,
                rep.best_single,
                best.map_or(String::new(), |b| format!(
                    "({:.3}, {:.6})",
                    b.quality, b.cost
                )),
                aiqs.join(", "),
                rep.zero_router.aiq,
                rep.oracle.aiq
            );
        }
        out
    }

    /// The report as pretty-printed JSON (schema: `docs/eval-json.md`).
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Experiment {
            reason: format!("serialising the report: {e}"),
        })
    }
}
