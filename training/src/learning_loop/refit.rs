//! Refitting a router on the loop's log (bandit feedback, masked loss), leaving out the
//! requests held back to check the next off-policy estimate on.

use std::collections::HashSet;

use classifier::predictors::{Artifact, PredictorKind};
use router_core::{Embedder, ModelId};

use super::task_priors::{task_priors_artifact, task_priors_on, TaskPriorInputs};
use crate::experiment::PredictorConfigs;
use crate::from_log::{bandit_training_set, BanditSample};
use crate::{fit_predictor_with, Error, FitOptions};

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
/// `warm_start` the fit continues from that artifact (its models kept, matched by id; for
/// `task_priors`, its weights and difficulty link kept and the other models' priors refitted:
/// [`task_priors_on`]) instead of starting from scratch: the loop passes the router it started
/// from, so that what it knew from benchmarks is refined by the log rather than thrown away.
/// Every refit reads the whole log, so warm-starting from the previous round's refit would
/// count old rows twice.
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
        (PredictorKind::TaskPriors, Some(inputs)) => match warm_start {
            Some(start) => task_priors_on(start, &set, inputs, &set.sha256())?,
            None => task_priors_artifact(&set, inputs, &set.sha256())?,
        },
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
