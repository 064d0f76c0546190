//! An artifact without learned weights: only per-task estimates of models fitted from their
//! labelled answers (the manifest's `onboarded` list) on top of the catalog's priors.
//!
//! What `switchyard loop --predictor task-priors` refits from a few logged labels: each
//! model's estimate for a task starts at the catalog's score and moves only as far as the
//! labels of that task show, so a refit on a hundred labels spread over eleven models is never
//! less informed than the priors it started from (a kNN or ridge refit on the same labels
//! routes below them: docs/learning-loop.md). It knows no model per prompt (`models` is empty);
//! the policy reads its fits through [`router_core::QualityPredictor::onboarded`].

use std::path::Path;

use router_core::{ModelEstimate, ModelId, QualityPredictor};

use super::{Manifest, PredictorError};

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct TaskPriorsPredictor {
    manifest: Manifest,
}

impl TaskPriorsPredictor {
    /// The predictor of `manifest` (kind `task_priors`, no models, the fits in `onboarded`).
    pub fn new(manifest: Manifest) -> Self {
        Self { manifest }
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest, to fill before saving.
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// Writes `manifest.json` into `dir` (created if missing); there are no weights.
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        std::fs::create_dir_all(dir).map_err(PredictorError::io(dir))?;
        self.manifest.write(dir)
    }

    /// No per-prompt estimates: an empty list, whatever the embedding.
    pub fn try_predict(&self, _embedding: &[f32]) -> Result<Vec<ModelEstimate>, PredictorError> {
        Ok(Vec::new())
    }
}

impl QualityPredictor for TaskPriorsPredictor {
    fn models(&self) -> &[ModelId] {
        &self.manifest.models
    }

    fn predict(&self, _embedding: &[f32]) -> Vec<ModelEstimate> {
        Vec::new()
    }

    fn onboarded(&self, model: &ModelId) -> Option<&router_core::OnboardedModel> {
        self.manifest.onboarded.iter().find(|o| o.model == *model)
    }
}
