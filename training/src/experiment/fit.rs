//! Fitting any predictor kind, and turning its predictions into a router's scores.

use classifier::predictors::{Artifact, PredictorKind, TrainingSet};
use evals::RouterScores;
use serde::{Deserialize, Serialize};

use super::ExperimentData;
use crate::{
    Error, KnnConfig, LinearConfig, MfConfig, MlpConfig, ProgressFn, StackConfig, TaskMixConfig,
};

/// Every predictor's fitting settings (their seeds are overridden per run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictorConfigs {
    /// kNN.
    pub knn: KnnConfig,
    /// Ridge regression.
    pub linear: LinearConfig,
    /// MLP.
    pub mlp: MlpConfig,
    /// Matrix factorisation.
    pub mf: MfConfig,
    /// The item-response predictor ([`MfConfig::irt`]).
    #[serde(default = "MfConfig::irt")]
    pub irt: MfConfig,
    /// Stacking (its bases use the settings above).
    #[serde(default)]
    pub stack: StackConfig,
    /// The task mixture (`P(task | prompt)` × per-task means).
    #[serde(default)]
    pub task_mix: TaskMixConfig,
}

impl Default for PredictorConfigs {
    fn default() -> Self {
        Self {
            knn: KnnConfig::default(),
            linear: LinearConfig::default(),
            mlp: MlpConfig::default(),
            mf: MfConfig::default(),
            irt: MfConfig::irt(),
            stack: StackConfig::default(),
            task_mix: TaskMixConfig::default(),
        }
    }
}

/// Fits one predictor of `kind` on `set`, seeding whatever is random with `seed`.
pub fn fit_predictor(
    kind: PredictorKind,
    set: &TrainingSet,
    configs: &PredictorConfigs,
    seed: u64,
    progress: ProgressFn<'_>,
) -> Result<Artifact, Error> {
    crate::fit_predictor_with(
        kind,
        set,
        configs,
        seed,
        crate::FitOptions::default(),
        progress,
    )
}

/// How a router's predicted cost is formed from its predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostModel {
    /// `(prompt tokens × input price + predicted output tokens × output price) / 1e6`, with
    /// catalog prices and prompt tokens estimated as characters / 4. Used when every model is
    /// priced.
    PricesTimesTokens,
    /// Each model's mean realised cost per prompt over the training rows (no per-prompt
    /// variation). Used when some model has no price.
    TrainMean,
}

impl CostModel {
    /// [`CostModel::PricesTimesTokens`] when every model is priced, else
    /// [`CostModel::TrainMean`].
    pub fn for_data(data: &ExperimentData) -> Self {
        if data.all_priced() {
            Self::PricesTimesTokens
        } else {
            Self::TrainMean
        }
    }
}

/// The router `name`'s predicted quality and cost on `test` rows.
pub fn router_scores(
    name: &str,
    predictor: &Artifact,
    data: &ExperimentData,
    test: &[usize],
    cost_model: CostModel,
    train_mean_cost: &[f64],
) -> Result<RouterScores, Error> {
    let mut quality = Vec::with_capacity(test.len());
    let mut cost = Vec::with_capacity(test.len());
    for &i in test {
        let estimates = predictor.try_predict(&data.x[i])?;
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        quality.push(estimates.iter().map(|e| finite(e.quality)).collect());
        cost.push(
            estimates
                .iter()
                .enumerate()
                .map(
                    |(j, e)| match (cost_model, data.prices.get(j).copied().flatten()) {
                        (CostModel::PricesTimesTokens, Some((input, output))) => finite(
                            (data.input_tokens[i] * input + e.output_tokens.max(0.0) * output)
                                / 1e6,
                        ),
                        _ => train_mean_cost.get(j).copied().unwrap_or(0.0),
                    },
                )
                .collect(),
        );
    }
    Ok(RouterScores {
        name: name.to_owned(),
        quality,
        cost,
        tie: None,
    })
}
