//! Continuing a fit from an existing artifact, and the options every `fit_*_with` takes.
//!
//! A warm start keeps the artifact's models, in its column order, and adds the training set's
//! other models after them, matching columns by model id: a log usually labels only the models
//! the router served, and a refit must not forget the rest. The architecture (MLP layer widths,
//! MF latent dimension, kNN `k`) comes from the artifact, and so do the per-model priors of the
//! models it had labels for, because the networks' weights are residuals over those priors.

use std::borrow::Cow;

use classifier::predictors::{Artifact, Manifest, ModelPriors, PredictorKind, TrainingSet};
use router_core::ModelId;

use crate::cell_weights::weighted_priors;
use crate::experiment::PredictorConfigs;
use crate::{fit_knn_with, fit_linear_with, fit_mf_with, fit_mlp_with};
use crate::{CellWeights, Error, LinearConfig, ProgressFn};

/// What a fit starts from and how it weighs cells, beyond its training set and settings.
/// The default is a cold start with the plain masked loss.
#[derive(Clone, Copy, Debug, Default)]
pub struct FitOptions<'a> {
    /// Per-cell loss weights; `None`: every labelled cell weighs 1. kNN refuses weights.
    pub weights: Option<&'a CellWeights>,
    /// A fitted predictor to continue from. Its kind must be the fitter's and its embedding
    /// dimension the set's; checking its encoder fingerprint is the caller's job (the
    /// training set does not know its encoder).
    pub warm_start: Option<&'a Artifact>,
}

/// [`crate::experiment::fit_predictor`] with [`FitOptions`]: fits `kind` on `set`, seeding
/// whatever is random with `seed`.
pub fn fit_predictor_with(
    kind: PredictorKind,
    set: &TrainingSet,
    configs: &PredictorConfigs,
    seed: u64,
    options: FitOptions<'_>,
    progress: ProgressFn<'_>,
) -> Result<Artifact, Error> {
    Ok(match kind {
        PredictorKind::Knn => fit_knn_with(set, &configs.knn, options, progress)?.into(),
        PredictorKind::Linear => {
            let config = LinearConfig {
                seed,
                ..configs.linear.clone()
            };
            fit_linear_with(set, &config, options, progress)?.into()
        }
        PredictorKind::Mlp => {
            let mut config = configs.mlp.clone();
            config.neural.seed = seed;
            fit_mlp_with(set, &config, options, progress)?.into()
        }
        PredictorKind::Mf | PredictorKind::Irt => {
            let mut config = if kind == PredictorKind::Irt {
                configs.irt.clone()
            } else {
                configs.mf.clone()
            };
            config.neural.seed = seed;
            fit_mf_with(set, &config, options, progress)?.into()
        }
        PredictorKind::TaskPriors => {
            return Err(Error::Config {
                field: "predictor",
                reason: "task_priors is fitted from logged labels with the task classifier and \
                         the catalog (train --from-log or loop with --predictor task-priors), \
                         not from a benchmark table"
                    .into(),
            })
        }
        PredictorKind::TaskMix => {
            if options.warm_start.is_some() || options.weights.is_some() {
                return Err(Error::Config {
                    field: "predictor",
                    reason: "the task mixture is refitted from scratch (it is a few counts and a \
                             softmax) and takes neither a warm start nor cell weights"
                        .into(),
                });
            }
            crate::fit_task_mix(set, &configs.task_mix, seed)?.into()
        }
        PredictorKind::Stacked => {
            if options.warm_start.is_some() || options.weights.is_some() {
                return Err(Error::Config {
                    field: "predictor",
                    reason: "the stacked predictor refits its bases from scratch and takes \
                             neither a warm start nor cell weights; fit linear, mlp or mf"
                        .into(),
                });
            }
            crate::fit_stacked(set, &configs.stack, configs, seed, progress)?.into()
        }
    })
}

/// The error for a warm start from another kind of predictor.
pub(crate) fn wrong_kind(start: &Artifact, fitting: PredictorKind) -> Error {
    Error::WarmStart {
        reason: format!(
            "the artifact holds a {} predictor but a {} predictor is being fitted; pick the \
             artifact's kind or start from scratch",
            start.manifest().kind.as_str(),
            fitting.as_str()
        ),
    }
}

/// The warm-start model order: the artifact's models, then the set's other models.
pub(crate) fn warm_columns(start: &[ModelId], set: &[ModelId]) -> Vec<ModelId> {
    let mut models = start.to_vec();
    models.extend(set.iter().filter(|m| !start.contains(m)).cloned());
    models
}

/// `set` with its columns reordered to `models` by id; a model the set lacks is unlabelled.
pub(crate) fn remap_set(set: &TrainingSet, models: &[ModelId]) -> TrainingSet {
    let cols: Vec<Option<usize>> = models
        .iter()
        .map(|m| set.models.iter().position(|s| s == m))
        .collect();
    let remap = |table: &[Vec<Option<f32>>]| -> Vec<Vec<Option<f32>>> {
        table
            .iter()
            .map(|row| {
                cols.iter()
                    .map(|c| c.and_then(|c| row[c]))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    TrainingSet {
        models: models.to_vec(),
        x: set.x.clone(),
        quality: remap(&set.quality),
        output_tokens: remap(&set.output_tokens),
        tasks: set.tasks.clone(),
    }
}

/// A training set and its weights in the columns a fit will use.
pub(crate) struct Aligned<'a> {
    /// The set, in warm-start column order when there is a warm start.
    pub set: Cow<'a, TrainingSet>,
    /// The weights in the same order, checked against the set.
    pub weights: Option<Cow<'a, CellWeights>>,
    /// Per column, the warm-start artifact's column for the same model.
    pub from: Vec<Option<usize>>,
}

impl<'a> Aligned<'a> {
    /// Validates the set and weights, and with a warm start reorders both to
    /// [`warm_columns`] after checking the embedding dimension.
    pub fn new(
        set: &'a TrainingSet,
        weights: Option<&'a CellWeights>,
        start: Option<&Manifest>,
    ) -> Result<Self, Error> {
        if set.is_empty() {
            return Err(Error::EmptyTrainingSet);
        }
        set.validate()?;
        if let Some(w) = weights {
            w.check(set)?;
        }
        let Some(start) = start else {
            return Ok(Self {
                set: Cow::Borrowed(set),
                weights: weights.map(Cow::Borrowed),
                from: vec![None; set.models.len()],
            });
        };
        if start.embedding_dim != set.dim() {
            return Err(Error::WarmStart {
                reason: format!(
                    "the artifact expects {}-dimensional embeddings but the training set has \
                     {}-dimensional ones; embed with the artifact's encoder",
                    start.embedding_dim,
                    set.dim()
                ),
            });
        }
        let models = warm_columns(&start.models, &set.models);
        let from = models
            .iter()
            .map(|m| start.models.iter().position(|s| s == m))
            .collect();
        if models == set.models {
            return Ok(Self {
                set: Cow::Borrowed(set),
                weights: weights.map(Cow::Borrowed),
                from,
            });
        }
        Ok(Self {
            set: Cow::Owned(remap_set(set, &models)),
            weights: weights.map(|w| Cow::Owned(w.remap(&set.models, &models))),
            from,
        })
    }

    /// The weights, if any.
    pub fn weights(&self) -> Option<&CellWeights> {
        self.weights.as_deref()
    }

    /// The fit's priors: (weighted) means of the set, except that a model the warm-start
    /// artifact had labels for keeps the artifact's prior, so its weights keep their meaning.
    pub fn priors(&self, start: Option<&ModelPriors>) -> ModelPriors {
        let mut priors = weighted_priors(&self.set, self.weights());
        let Some(start) = start else {
            return priors;
        };
        for (j, from) in self.from.iter().enumerate() {
            let Some(a) = *from else { continue };
            if start.quality_labelled[a] {
                priors.quality[j] = start.quality[a];
                priors.quality_labelled[j] = true;
            }
            if start.tokens_labelled[a] {
                priors.log_tokens[j] = start.log_tokens[a];
                priors.tokens_labelled[j] = true;
            }
        }
        priors
    }

    /// What the manifest records about the options: the warm start's origin and the models
    /// it added, and the weights' summary.
    pub fn metrics(&self, start: Option<&Manifest>) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        if let Some(start) = start {
            let added: Vec<&ModelId> = self
                .set
                .models
                .iter()
                .zip(&self.from)
                .filter(|(_, f)| f.is_none())
                .map(|(m, _)| m)
                .collect();
            out.insert(
                "warm_start".into(),
                serde_json::json!({
                    "from_training_data_sha256": start.training_data_sha256,
                    "from_created_at": start.created_at,
                    "added_models": added,
                }),
            );
        }
        if let Some(w) = self.weights() {
            out.insert("cell_weights".into(), w.summary(&self.set));
        }
        out
    }
}

/// Adds `extra` entries to a manifest's metrics object.
pub(crate) fn extend_metrics(
    metrics: &mut serde_json::Value,
    extra: serde_json::Map<String, serde_json::Value>,
) {
    if let serde_json::Value::Object(map) = metrics {
        map.extend(extra);
    }
}
