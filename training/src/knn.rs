use std::borrow::Cow;
use std::time::Instant;

use classifier::predictors::{Artifact, KnnPredictor, PredictorKind, TrainingSet};
use serde::{Deserialize, Serialize};

use crate::progress::report;
use crate::warm_start::{extend_metrics, remap_set, wrong_kind, Aligned};
use crate::{Error, FitOptions, Progress, ProgressFn};

/// kNN settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnConfig {
    /// Labelled neighbours that vote per model. Default 20: large enough to average out 0/1
    /// label noise, small enough to stay local.
    pub k: usize,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self { k: 20 }
    }
}

/// "Fits" kNN: validates the set and stores its embeddings and labels.
pub fn fit_knn(
    set: &TrainingSet,
    config: &KnnConfig,
    progress: ProgressFn<'_>,
) -> Result<KnnPredictor, Error> {
    fit_knn_with(set, config, FitOptions::default(), progress)
}

/// [`fit_knn`] with an optional warm start from an [`Artifact::Knn`]: the artifact's stored
/// prompts are kept and the set's rows added under them, over the union of their models (the
/// artifact's first; cells a side has no column for stay unlabelled), with the artifact's `k`.
///
/// Refuses cell weights: a neighbour vote has no loss to weigh, and honouring them would mean
/// storing them in the artifact; use the linear, MLP or MF predictor for weighted fitting.
pub fn fit_knn_with(
    set: &TrainingSet,
    config: &KnnConfig,
    options: FitOptions<'_>,
    mut progress: ProgressFn<'_>,
) -> Result<KnnPredictor, Error> {
    if options.weights.is_some() {
        return Err(Error::CellWeights {
            reason: "the knn predictor cannot use cell weights (it stores labels and has no \
                     loss to weigh); fit linear, mlp or mf, or use the masked loss"
                .into(),
        });
    }
    let start = match options.warm_start {
        None => None,
        Some(Artifact::Knn(p)) => Some(p),
        Some(other) => return Err(wrong_kind(other, PredictorKind::Knn)),
    };
    let aligned = Aligned::new(set, None, start.map(KnnPredictor::manifest))?;
    let clock = Instant::now();
    let (stored, k) = match start {
        Some(start) => {
            let mut all = start.training_set();
            let models = aligned.set.models.clone();
            if all.models != models {
                all = remap_set(&all, &models);
            }
            all.x.extend(aligned.set.x.iter().cloned());
            all.quality.extend(aligned.set.quality.iter().cloned());
            all.output_tokens
                .extend(aligned.set.output_tokens.iter().cloned());
            (Cow::Owned(all), start.k())
        }
        None => (aligned.set.clone(), config.k),
    };
    let mut p = KnnPredictor::new(&stored, k)?;
    let mut metrics = serde_json::json!({
        "rows": stored.len(),
        "fit_seconds": clock.elapsed().as_secs_f64(),
    });
    extend_metrics(
        &mut metrics,
        aligned.metrics(start.map(KnnPredictor::manifest)),
    );
    p.manifest_mut().metrics = metrics;
    report(
        &mut progress,
        Progress {
            done: 1,
            total: 1,
            message: format!("indexed {} prompts", stored.len()),
            train_loss: None,
            val_loss: None,
        },
    );
    Ok(p)
}
