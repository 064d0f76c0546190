//! Refitting a router on the loop's log (bandit feedback, masked loss), leaving out the
//! requests held back to check the next off-policy estimate on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use classifier::predictors::{
    Artifact, Manifest, PredictorKind, TaskClassifier, TaskPriorsPredictor, TrainingSet,
};
use router_core::{Embedder, ModelId, ModelPrior, OnboardedModel};

use crate::experiment::PredictorConfigs;
use crate::from_log::{bandit_training_set, BanditSample};
use crate::onboarding::fit::{fit_tasks, FitConfig, ScoredProbe};
use crate::{fit_predictor_with, Error, FitOptions};

/// What a `task_priors` refit needs besides the log: the task classifier that spreads each
/// logged prompt over the tasks, and the catalog's prior of every routed model (what its
/// estimates shrink toward).
#[derive(Clone, Debug)]
pub struct TaskPriorInputs {
    /// `P(task | prompt)` over the loop's embeddings.
    pub tasks: Arc<TaskClassifier>,
    /// Each routed model's catalog prior.
    pub priors: HashMap<ModelId, ModelPrior>,
    /// How strongly the priors hold.
    pub fit: FitConfig,
}

/// How the loop refits.
#[derive(Clone, Debug)]
pub struct RefitConfig {
    /// The predictor to fit.
    pub kind: PredictorKind,
    /// Its hyper-parameters.
    pub configs: PredictorConfigs,
    /// Seeds whatever the fitter randomises.
    pub seed: u64,
    /// The settings of the encoder behind `embedder`, written into the artifact so that the
    /// gateway serves it with the same (None: the encoder's defaults).
    pub encoder: Option<classifier::predictors::EncoderSettings>,
    /// The routing adapter behind `embedder`, if any: written beside every refit so that the
    /// gateway (which must already run it) can load the refit.
    pub adapter: Option<classifier::RoutingAdapter>,
    /// Required when `kind` is [`PredictorKind::TaskPriors`].
    pub task_priors: Option<TaskPriorInputs>,
}

/// A refitted router and what it was fitted on.
pub struct Refitted {
    /// The artifact, manifest filled (encoder fingerprint, data).
    pub artifact: Artifact,
    /// Distinct prompts in the training set.
    pub prompts: usize,
    /// Labelled (prompt, model) cells.
    pub labelled_cells: usize,
    /// Samples left out because they are held out.
    pub held_out: usize,
}

/// Fits `config.kind` on every sample whose request is not in `held_out`, with one output per
/// model in `models` (cells of models that never served a prompt stay unlabelled). With
/// `warm_start` the fit continues from that artifact (its models kept, matched by id) instead
/// of starting from scratch: the loop passes the router it started from, so that what it knew
/// from benchmarks is refined by the log rather than thrown away. Every refit reads the whole
/// log, so warm-starting from the previous round's refit would count old rows twice.
pub fn refit(
    samples: &[BanditSample],
    held_out: &HashSet<String>,
    models: &[ModelId],
    embedder: &dyn Embedder,
    config: &RefitConfig,
    warm_start: Option<&Artifact>,
) -> Result<Refitted, Error> {
    if let Some(a) = warm_start {
        let fingerprint = &a.manifest().encoder_sha256;
        if fingerprint != embedder.fingerprint() {
            return Err(Error::WarmStart {
                reason: format!(
                    "the artifact was fitted on embeddings of encoder {fingerprint}, the loop \
                     encodes with {}; start from an artifact of this encoder",
                    embedder.fingerprint()
                ),
            });
        }
    }
    let train: Vec<BanditSample> = samples
        .iter()
        .filter(|s| !held_out.contains(&s.request_id))
        .cloned()
        .collect();
    if train.is_empty() {
        return Err(Error::EmptyTrainingSet);
    }
    let bandit = bandit_training_set(&train, embedder, Some(models), None)?;
    let set = bandit.set;
    let labelled_cells = set.quality.iter().flatten().filter(|c| c.is_some()).count();
    let options = FitOptions {
        weights: None,
        warm_start,
    };
    let mut artifact = match (config.kind, &config.task_priors) {
        (PredictorKind::TaskPriors, Some(inputs)) => {
            task_priors_artifact(&set, inputs, &set.sha256())?
        }
        (PredictorKind::TaskPriors, None) => {
            return Err(Error::Config {
                field: "predictor",
                reason: "task_priors needs the task classifier and the catalog's priors".into(),
            })
        }
        _ => fit_predictor_with(
            config.kind,
            &set,
            &config.configs,
            config.seed,
            options,
            None,
        )?,
    };
    let data = serde_json::json!({
        "source": "switchyard loop (gateway outcome log, bandit feedback)",
        "prompts": set.len(),
        "labelled_cells": labelled_cells,
        "seed": config.seed,
        "warm_start": warm_start.map(|a| a.manifest().training_data_sha256.clone()),
    });
    crate::artifact_files::stamp(
        &mut artifact,
        embedder.fingerprint().to_owned(),
        config.encoder.clone(),
        [("data", data)],
    );
    Ok(Refitted {
        artifact,
        prompts: set.len(),
        labelled_cells,
        held_out: samples.len() - train.len(),
    })
}

/// A `task_priors` artifact: for every model with labels in `set`, its per-task estimates
/// fitted from them ([`fit_tasks`]), each labelled prompt counting toward every task by its
/// `P(task | prompt)`, shrunk toward the model's catalog prior. Models without labels, or
/// without a prior, keep routing on the catalog.
pub fn task_priors_artifact(
    set: &TrainingSet,
    inputs: &TaskPriorInputs,
    data_sha256: &str,
) -> Result<Artifact, Error> {
    let dim = set.x.first().map_or(0, Vec::len);
    let distributions = set
        .x
        .iter()
        .map(|x| inputs.tasks.try_predict(x))
        .collect::<Result<Vec<_>, _>>()?;
    let now = classifier::predictors::now_rfc3339();
    let mut onboarded = Vec::new();
    for (col, model) in set.models.iter().enumerate() {
        let Some(prior) = inputs.priors.get(model) else {
            continue;
        };
        let mut probes = Vec::new();
        let mut labelled = 0u32;
        for (row, dist) in distributions.iter().enumerate() {
            let Some(score) = set.quality[row][col] else {
                continue;
            };
            labelled += 1;
            let tokens = set.output_tokens[row][col].map(|t| t.max(0.0).round() as u32);
            for (task, p) in dist.ranked() {
                if p < 0.01 {
                    break;
                }
                probes.push(ScoredProbe {
                    task,
                    weight: p,
                    score: f64::from(score),
                    difficulty: 0.0,
                    output_tokens: tokens,
                });
            }
        }
        let tasks = fit_tasks(prior, &probes, &inputs.fit);
        if tasks.is_empty() {
            continue;
        }
        onboarded.push(OnboardedModel {
            model: model.clone(),
            onboarded_at: now.clone(),
            probe_set_sha256: data_sha256.to_owned(),
            requests: labelled,
            errors: 0,
            cost_usd: 0.0,
            tasks,
            // The training table carries no latencies; the gateway's catalog prior stays.
            latency: None,
        });
    }
    let mut manifest = Manifest::new(
        PredictorKind::TaskPriors,
        Vec::new(),
        dim,
        data_sha256.to_owned(),
        serde_json::json!({ "prior_sd": inputs.fit.prior_sd }),
    );
    manifest.onboarded = onboarded;
    Ok(TaskPriorsPredictor::new(manifest).into())
}
