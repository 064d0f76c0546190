//! The routing experiment: split, decontaminate, fit every predictor, score them as routers.
//!
//! - [`ExperimentData`]: an outcome table with embeddings; every row trains (missing cells are
//!   masked), only rows where every model has a score and a cost are tested.
//! - [`SplitKind`], [`Fold`], [`own_split`], [`random_split`], [`loto_splits`],
//!   [`decontaminate`]: how prompts are divided.
//! - [`fit_predictor`], [`PredictorConfigs`], [`router_scores`], [`CostModel`]: fitting a
//!   predictor and turning its quality and output-token estimates into a router's scores.
//! - [`per_task_scores`], [`fixed_policy_scores`]: the hand-written baselines (each task's
//!   best model on the training split at each λ; the single best one).
//! - [`run`] / [`ExperimentConfig`] → [`ExperimentReport`]: one `evals::Report` per fold and
//!   seed with paired bootstrap intervals, and one [`FoldSummary`] per fold (never pooled).
//! - [`guard()`] / [`GuardConfig`] → [`GuardReport`]: nested validation deciding whether a
//!   learned predictor or the fixed policy ([`fixed_policy_artifact`]) is shipped.

mod baselines;
mod data;
mod fit;
mod guard;
#[cfg(test)]
mod guard_calibration;
mod load;
mod split;
mod summary;
#[cfg(test)]
pub(crate) mod tests;

use std::borrow::Cow;
use std::time::Instant;

use classifier::predictors::PredictorKind;
use evals::{evaluate, EvalConfig, PairedDiff, Report, SeedSummary};
use router_core::ModelId;
use serde::{Deserialize, Serialize};

pub use baselines::{
    fixed_policy_scores, hybrid_scores, per_task_scores, tie_break_scores, training_means, Means,
    FIXED_POLICY_LABEL, PER_TASK_LABEL,
};
pub use data::{sample_rows, ExperimentData};
pub use fit::{fit_predictor, router_scores, CostModel, PredictorConfigs};
pub use guard::{
    fixed_policy_artifact, validate as guard, CandidateValidation, GuardConfig, GuardReport,
    DEFAULT_MIN_GAIN,
};
pub use load::{
    embed_table, import_priced, import_sources, resolve_data, source_specs, token_states,
    CostBasis, ImportSpec, SourceSpec, DATASET_NAMES,
};
pub use split::{
    decontaminate, loto_splits, own_split, random_split, source_splits, Fold, SplitKind,
};
use summary::summarise_folds;

use crate::adapter::{adapt, AdapterConfig, AdapterReport};
use crate::progress::relay_prefixed;
use crate::{Error, Progress, ProgressFn};

/// Version of the [`ExperimentReport`] JSON layout (see `docs/eval-json.md`).
pub const EXPERIMENT_SCHEMA_VERSION: u32 = 2;

/// The cosine similarity at and above which a test (or guard validation) prompt counts as a
/// copy of a training prompt and is left out.
pub const DEFAULT_DECONTAMINATION: f64 = 0.95;

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
    /// With [`SplitKind::Loto`] or [`SplitKind::Source`], hold out only this task family or
    /// source.
    pub holdout_task: Option<String>,
    /// Drop test prompts whose cosine similarity to some training prompt is at least this.
    pub decontaminate: Option<f64>,
    /// Fitting settings.
    pub configs: PredictorConfigs,
    /// The evaluation's settings (λ grid, bootstrap).
    #[serde(default)]
    pub eval: EvalConfig,
    /// Also score the router `switchyard train` would ship: per run, the guard's nested
    /// validation on the fold's training rows picks one of its candidates or the fixed policy
    /// (reported as `guarded`). `None`: not scored.
    #[serde(default)]
    pub guard: Option<GuardConfig>,
    /// Also report every router's seed-combined paired difference against this one (a
    /// predictor's name such as `mf`, or `guarded`), for choosing between learned routers
    /// with an interval rather than by their means. `None`: only the zero router and the
    /// per-task rule are baselines.
    #[serde(default)]
    pub compare_to: Option<String>,
    /// Per run, fit a routing adapter on the fold's training rows ([`crate::adapter`]) and
    /// give every predictor `[embedding | adapted embedding]`. Needs
    /// [`ExperimentData::token_states`]. `None`: the plain embeddings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterConfig>,
    /// Also score, per learned predictor, its quality with the per-task rule's cost and the
    /// rule's quality with its cost ([`hybrid_scores`]): where it trails the rule, which
    /// estimate loses.
    #[serde(default)]
    pub hybrids: bool,
    /// Also score, per learned predictor and per margin here, the predictor with the
    /// uncertainty-aware tie-break ([`tie_break_scores`]): the λ-optimal fixed choice keeps a
    /// prompt unless the estimates gain more than the margin (quality points) by leaving it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tie_margins: Vec<f64>,
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
            seeds: (0..5).collect(),
            test_fraction: 0.2,
            holdout_task: None,
            decontaminate: Some(DEFAULT_DECONTAMINATION),
            configs: PredictorConfigs::default(),
            guard: None,
            eval: EvalConfig::default(),
            compare_to: None,
            adapter: None,
            hybrids: false,
            tie_margins: Vec::new(),
        }
    }
}

/// One fold at one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// `own`, `random`, or the held-out task family or source.
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
    /// Each learned router's AIQ minus the per-task rule's, paired over the same bootstrap
    /// replicates, with 95 % intervals.
    #[serde(default)]
    pub paired_vs_per_task: Vec<PairedDiff>,
    /// The evaluation (its routers: the learned ones, `guarded` when asked for, then the
    /// per-task rule).
    pub report: Report,
    /// What the guard chose on this run's training rows (with [`ExperimentConfig::guard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardReport>,
    /// How this run's routing adapter fitted, and whether it was kept (with
    /// [`ExperimentConfig::adapter`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterFit>,
}

/// A run's routing adapter: its fit and whether the predictors got it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterFit {
    /// Validation losses and epochs.
    #[serde(flatten)]
    pub fit: AdapterReport,
    /// Whether it lowered the validation loss enough to be appended.
    pub kept: bool,
}

/// Name of the guarded router in reports.
pub const GUARDED_LABEL: &str = "guarded";

/// The runs of one fold (all seeds) summarised; folds are never pooled with each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FoldSummary {
    /// The fold's label.
    pub fold: String,
    /// Mean ± sd per router over the fold's seeds.
    pub summary: SeedSummary,
    /// Per router, the difference averaged over seeds against the zero router and against the
    /// per-task rule, with a 95 % interval from averaging the seeds' paired bootstrap
    /// replicates (on a fixed split the seeds share one test set and the same replicates).
    pub combined: Vec<PairedDiff>,
    /// The same with cross-fitted AIQ on both sides (`evals::metrics::cross_fit`): the hull's
    /// vertices chosen on the other half of the test prompts, so that a router gains only what
    /// its estimates know about the prompts (absent in reports written before it).
    #[serde(default)]
    pub combined_cross_fit: Vec<PairedDiff>,
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
    /// Models without a catalog price: with them, predicted cost falls back to each model's
    /// mean training cost.
    #[serde(default)]
    pub unpriced_models: Vec<ModelId>,
    /// The decontamination threshold, if any.
    pub decontaminate: Option<f64>,
    /// Bootstrap replicates behind every interval.
    pub bootstrap_resamples: usize,
    /// One entry per fold × seed.
    pub runs: Vec<RunReport>,
    /// One summary per fold.
    pub folds: Vec<FoldSummary>,
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
    let only = config.holdout_task.as_deref();
    let fixed_folds: Option<Vec<(Cow<'_, ExperimentData>, Fold)>> = match config.split {
        SplitKind::Own => Some(vec![(Cow::Borrowed(data), own_split(data)?)]),
        SplitKind::Loto => Some(
            loto_splits(data, only)?
                .into_iter()
                .map(|f| (Cow::Borrowed(data), f))
                .collect(),
        ),
        SplitKind::Source => Some(
            source_splits(data, only)?
                .into_iter()
                .map(|(d, f)| (Cow::Owned(d), f))
                .collect(),
        ),
        SplitKind::Random => None,
    };
    // What the report says predicted cost was: a cross-source fold keeps only the models its
    // sources share, so it can be priced where the whole data is not.
    let fold_datas: Vec<&ExperimentData> = match &fixed_folds {
        Some(folds) => folds.iter().map(|(d, _)| d.as_ref()).collect(),
        None => vec![data],
    };
    let mut unpriced_models: Vec<ModelId> = Vec::new();
    for d in &fold_datas {
        for m in d.unpriced_models() {
            if !unpriced_models.contains(&m) {
                unpriced_models.push(m);
            }
        }
    }
    let cost_model = if unpriced_models.is_empty() {
        CostModel::PricesTimesTokens
    } else {
        CostModel::TrainMean
    };
    let mut runs = Vec::new();
    for &seed in &config.seeds {
        let folds = match &fixed_folds {
            Some(f) => f.clone(),
            None => vec![(
                Cow::Borrowed(data),
                random_split(data, config.test_fraction, seed),
            )],
        };
        for (fold_data, fold) in folds {
            let data: &ExperimentData = &fold_data;
            let (test, dropped) = match config.decontaminate {
                Some(t) => decontaminate(&data.x, &fold.train, &fold.test, t),
                None => (fold.test.clone(), 0),
            };
            if test.is_empty() || fold.train.is_empty() {
                // Name the cause that emptied it: missing cells only where incomplete rows
                // were dropped, and near-copies where those were (sources sharing prompts).
                let missing = if fold.incomplete_dropped > 0 || fold.train.is_empty() {
                    what_is_missing(data)
                } else {
                    String::new()
                };
                let copies = match config.decontaminate {
                    Some(t) if dropped > 0 => format!(
                        "; the {dropped} near-duplicates are test prompts with a copy (cosine ≥ {t}) among the training prompts, as when sources share prompts: pass --no-decontaminate to test on them anyway"
                    ),
                    _ => String::new(),
                };
                return Err(Error::Experiment {
                    reason: format!(
                        "fold `{}` has {} training and {} test prompts left (after {} incomplete and {dropped} near-duplicates were dropped){missing}{copies}",
                        fold.label,
                        fold.train.len(),
                        test.len(),
                        fold.incomplete_dropped,
                    ),
                });
            }
            let mut fit_seconds = Vec::new();
            let plain = data;
            let mut adapter_fit = None;
            let adapted;
            let data: &ExperimentData = match &config.adapter {
                Some(adapter_config) => {
                    let start = Instant::now();
                    let prefix = format!("{} seed {seed} adapter:", fold.label);
                    let mut relay = |p: &Progress| relay_prefixed(&mut progress, &prefix, p);
                    let (with_adapter, adapter, fit) = adapt(
                        data,
                        &fold.train,
                        adapter_config,
                        seed,
                        &mut Some(&mut relay),
                    )?;
                    adapter_fit = Some(AdapterFit {
                        fit,
                        kept: adapter.is_some(),
                    });
                    adapted = with_adapter;
                    fit_seconds.push(("adapter".to_owned(), start.elapsed().as_secs_f64()));
                    &adapted
                }
                None => data,
            };
            let unlearnable = data.unlearnable_models(&fold.train);
            if !unlearnable.is_empty() {
                let names: Vec<&str> = unlearnable.iter().map(|m| m.as_str()).collect();
                return Err(Error::Experiment {
                    reason: format!(
                        "fold `{}`: the training rows hold no score{} for {}, so a router \
                         fitted on them would take {} for useless or free; leave {} out with \
                         --models, add training rows for {}{}",
                        fold.label,
                        if data.all_priced() {
                            ""
                        } else {
                            " or no recorded cost (no catalog price)"
                        },
                        names.join(", "),
                        names.join(", "),
                        if names.len() == 1 { "it" } else { "them" },
                        if names.len() == 1 { "it" } else { "them" },
                        if data.all_priced() {
                            ""
                        } else {
                            ", or price unknown models with --price MODEL=IN,OUT"
                        },
                    ),
                });
            }
            let set = data.training_set(&fold.train);
            let eval_set = data.eval_set(&test)?;
            let fold_cost = CostModel::for_data(data);
            let train_mean = data.mean_costs(&fold.train);
            let mut routers = Vec::new();
            for &kind in &config.predictors {
                let prefix = format!("{} seed {seed} {}:", fold.label, kind.as_str());
                let mut relay = |p: &Progress| relay_prefixed(&mut progress, &prefix, p);
                let start = Instant::now();
                let predictor = fit_predictor(kind, &set, &config.configs, seed, Some(&mut relay))?;
                fit_seconds.push((kind.as_str().to_owned(), start.elapsed().as_secs_f64()));
                routers.push(router_scores(
                    kind.as_str(),
                    &predictor,
                    data,
                    &test,
                    fold_cost,
                    &train_mean,
                )?);
            }
            let guard = match &config.guard {
                Some(guard_config) => {
                    let prefix = format!("{} seed {seed} guard:", fold.label);
                    let mut relay = |p: &Progress| relay_prefixed(&mut progress, &prefix, p);
                    // A guard that fits its own adapters per validation fold starts from the
                    // plain embeddings; otherwise it sees what the predictors saw.
                    let source = if guard_config.adapter.is_some() {
                        plain
                    } else {
                        data
                    };
                    let train_data = source.rows(&fold.train);
                    let g = guard::validate(
                        &train_data,
                        guard_config,
                        &config.configs,
                        seed,
                        Some(&mut relay),
                    )?;
                    let mut scores = match g.chosen {
                        Some(kind) => match config.predictors.iter().position(|&k| k == kind) {
                            Some(i) => routers[i].clone(),
                            None => {
                                let p = fit_predictor(kind, &set, &config.configs, seed, None)?;
                                router_scores(
                                    kind.as_str(),
                                    &p,
                                    data,
                                    &test,
                                    fold_cost,
                                    &train_mean,
                                )?
                            }
                        },
                        None => fixed_policy_scores(data, &fold.train, &test),
                    };
                    GUARDED_LABEL.clone_into(&mut scores.name);
                    routers.push(scores);
                    Some(g)
                }
                None => None,
            };
            if !config.tie_margins.is_empty() {
                let means = training_means(data, &fold.train);
                let learned = routers[..config.predictors.len()].to_vec();
                routers.extend(learned.iter().flat_map(|r| {
                    config
                        .tie_margins
                        .iter()
                        .map(|&margin| tie_break_scores(r, &means, margin))
                        .collect::<Vec<_>>()
                }));
            }
            let per_task = per_task_scores(data, &fold.train, &test);
            if config.hybrids {
                let learned = routers[..config.predictors.len()].to_vec();
                routers.extend(learned.iter().flat_map(|r| hybrid_scores(r, &per_task)));
            }
            // Last: the paired differences below and the reports read it there.
            routers.push(per_task);
            let report = evaluate(&eval_set, &routers, &config.eval)?;
            let per_task = report.routers.last();
            let paired_vs_per_task = report
                .routers
                .iter()
                .filter(|r| r.name != PER_TASK_LABEL)
                .filter_map(|r| {
                    let b = per_task?;
                    PairedDiff::between(
                        (&r.name, r.aiq, &r.aiq_replicates),
                        (&b.name, b.aiq, &b.aiq_replicates),
                    )
                })
                .collect();
            runs.push(RunReport {
                fold: fold.label.clone(),
                seed,
                train_rows: fold.train.len(),
                test_rows: test.len(),
                test_incomplete_dropped: fold.incomplete_dropped,
                decontaminated_dropped: dropped,
                fit_seconds,
                paired_vs_per_task,
                report,
                guard,
                adapter: adapter_fit,
            });
        }
    }
    let folds = summarise_folds(&runs, config.compare_to.as_deref());
    Ok(ExperimentReport {
        schema_version: EXPERIMENT_SCHEMA_VERSION,
        source: data.source.clone(),
        models: data.models.clone(),
        rows: data.len(),
        split: config.split,
        cost_model,
        unpriced_models,
        decontaminate: config.decontaminate,
        bootstrap_resamples: config.eval.bootstrap.resamples,
        runs,
        folds,
    })
}

/// Why rows are incomplete, per model, with the fix: a tested row needs every model's score
/// and cost, and data without recorded costs for models the catalog cannot price (open models)
/// leaves every row incomplete. Empty when every row is complete.
fn what_is_missing(data: &ExperimentData) -> String {
    let count = |cells: &[Vec<Option<f64>>]| -> Vec<String> {
        data.models
            .iter()
            .enumerate()
            .filter_map(|(j, m)| {
                let n = cells.iter().filter(|row| row[j].is_none()).count();
                (n > 0).then(|| format!("{m} ({n})"))
            })
            .collect()
    };
    let (scores, costs) = (count(&data.quality), count(&data.cost));
    let mut out = String::new();
    if !costs.is_empty() {
        out.push_str(&format!(
            "; rows without a cost: {}: give the data `cost_usd`, or prices with \
             `--price MODEL=IN,OUT` (USD per 1M tokens; `--price '*=IN,OUT'` for every model)",
            costs.join(", ")
        ));
    }
    if !scores.is_empty() {
        out.push_str(&format!(
            "; rows without a score: {}: leave such models out with `--models`",
            scores.join(", ")
        ));
    }
    out
}
