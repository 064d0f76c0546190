use std::time::Instant;

use classifier::predictors::{KnnPredictor, TrainingSet};
use serde::{Deserialize, Serialize};

use crate::progress::report;
use crate::{Error, Progress, ProgressFn};

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
    mut progress: ProgressFn<'_>,
) -> Result<KnnPredictor, Error> {
    if set.is_empty() {
        return Err(Error::EmptyTrainingSet);
    }
    let start = Instant::now();
    let mut p = KnnPredictor::new(set, config.k)?;
    p.manifest_mut().metrics = serde_json::json!({
        "rows": set.len(),
        "fit_seconds": start.elapsed().as_secs_f64(),
    });
    report(
        &mut progress,
        Progress {
            done: 1,
            total: 1,
            message: format!("indexed {} prompts", set.len()),
            train_loss: None,
            val_loss: None,
        },
    );
    Ok(p)
}
