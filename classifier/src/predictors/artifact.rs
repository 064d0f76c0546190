use std::path::Path;

use router_core::{ModelEstimate, ModelId, QualityPredictor};

use super::weights_file::WeightsReader;
use super::{
    KnnPredictor, LinearPredictor, Manifest, MfPredictor, MlpPredictor, PredictorError,
    PredictorKind, StackedPredictor, TaskMixPredictor, TaskPriorsPredictor, MANIFEST_FILE,
};

/// Any saved predictor: what [`Artifact::load`] returns and [`Artifact::save`] writes.
///
/// An artifact is a directory with `manifest.json` ([`Manifest`]) and `weights.safetensors`;
/// the manifest's `kind` says which variant the weights belong to.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Artifact {
    /// k nearest neighbours.
    Knn(KnnPredictor),
    /// Per-model ridge regression.
    Linear(LinearPredictor),
    /// Multi-output MLP.
    Mlp(MlpPredictor),
    /// Matrix factorisation, plain or in its item-response form (the manifest's kind says).
    Mf(MfPredictor),
    /// Base predictors combined per model (boxed: it holds artifacts itself).
    Stacked(Box<StackedPredictor>),
    /// No weights: per-task estimates fitted from labels, over the catalog's priors.
    TaskPriors(TaskPriorsPredictor),
    /// `P(task | prompt)` times per-task means.
    TaskMix(TaskMixPredictor),
}

impl Artifact {
    /// Reads an artifact directory, checking the manifest and every tensor's shape.
    pub fn load(dir: &Path) -> Result<Self, PredictorError> {
        let manifest = Manifest::read(dir)?;
        if manifest.kind == PredictorKind::TaskPriors {
            return Ok(Self::TaskPriors(TaskPriorsPredictor::new(manifest)));
        }
        let weights = WeightsReader::open(dir)?;
        Ok(match manifest.kind {
            PredictorKind::Knn => Self::Knn(KnnPredictor::from_parts(
                manifest,
                &weights,
                &dir.join(MANIFEST_FILE),
            )?),
            PredictorKind::Linear => Self::Linear(LinearPredictor::from_parts(manifest, &weights)?),
            PredictorKind::Mlp => Self::Mlp(MlpPredictor::from_parts(manifest, &weights)?),
            PredictorKind::Mf | PredictorKind::Irt => {
                Self::Mf(MfPredictor::from_parts(manifest, &weights)?)
            }
            PredictorKind::Stacked => Self::Stacked(Box::new(StackedPredictor::from_parts(
                manifest, &weights, dir,
            )?)),
            // Handled above, before looking for a weights file it does not have.
            PredictorKind::TaskPriors => Self::TaskPriors(TaskPriorsPredictor::new(manifest)),
            PredictorKind::TaskMix => {
                Self::TaskMix(TaskMixPredictor::from_parts(manifest, &weights)?)
            }
        })
    }

    /// Writes `weights.safetensors` and `manifest.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        match self {
            Self::Knn(p) => p.save(dir),
            Self::Linear(p) => p.save(dir),
            Self::Mlp(p) => p.save(dir),
            Self::Mf(p) => p.save(dir),
            Self::Stacked(p) => p.save(dir),
            Self::TaskPriors(p) => p.save(dir),
            Self::TaskMix(p) => p.save(dir),
        }
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        match self {
            Self::Knn(p) => p.manifest(),
            Self::Linear(p) => p.manifest(),
            Self::Mlp(p) => p.manifest(),
            Self::Mf(p) => p.manifest(),
            Self::Stacked(p) => p.manifest(),
            Self::TaskPriors(p) => p.manifest(),
            Self::TaskMix(p) => p.manifest(),
        }
    }

    /// The manifest, to set `encoder_sha256` or `metrics` before saving.
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        match self {
            Self::Knn(p) => p.manifest_mut(),
            Self::Linear(p) => p.manifest_mut(),
            Self::Mlp(p) => p.manifest_mut(),
            Self::Mf(p) => p.manifest_mut(),
            Self::Stacked(p) => p.manifest_mut(),
            Self::TaskPriors(p) => p.manifest_mut(),
            Self::TaskMix(p) => p.manifest_mut(),
        }
    }

    /// Predicts, failing on an embedding of the wrong length.
    pub fn try_predict(&self, embedding: &[f32]) -> Result<Vec<ModelEstimate>, PredictorError> {
        match self {
            Self::Knn(p) => p.try_predict(embedding),
            Self::Linear(p) => p.try_predict(embedding),
            Self::Mlp(p) => p.try_predict(embedding),
            Self::Mf(p) => p.try_predict(embedding),
            Self::Stacked(p) => p.try_predict(embedding),
            Self::TaskPriors(p) => p.try_predict(embedding),
            Self::TaskMix(p) => p.try_predict(embedding),
        }
    }

    fn inner(&self) -> &dyn QualityPredictor {
        match self {
            Self::Knn(p) => p,
            Self::Linear(p) => p,
            Self::Mlp(p) => p,
            Self::Mf(p) => p,
            Self::Stacked(p) => p.as_ref(),
            Self::TaskPriors(p) => p,
            Self::TaskMix(p) => p,
        }
    }
}

impl QualityPredictor for Artifact {
    fn models(&self) -> &[ModelId] {
        self.inner().models()
    }

    fn routing(&self) -> router_core::RoutingMode {
        self.manifest().routing
    }

    fn generation(&self) -> Option<&str> {
        Some(&self.manifest().created_at)
    }

    fn predict(&self, embedding: &[f32]) -> Vec<ModelEstimate> {
        self.inner().predict(embedding)
    }

    fn difficulty_link(&self) -> Option<&router_core::policy::DifficultyLink> {
        self.manifest().difficulty.as_ref()
    }

    fn onboarded(&self, model: &ModelId) -> Option<&router_core::OnboardedModel> {
        self.manifest().onboarded.iter().find(|o| o.model == *model)
    }

    fn tie_break(&self) -> Option<&router_core::policy::TieBreak> {
        self.manifest().tie_break.as_ref()
    }
}

impl From<TaskPriorsPredictor> for Artifact {
    fn from(p: TaskPriorsPredictor) -> Self {
        Self::TaskPriors(p)
    }
}

impl From<TaskMixPredictor> for Artifact {
    fn from(p: TaskMixPredictor) -> Self {
        Self::TaskMix(p)
    }
}

impl From<KnnPredictor> for Artifact {
    fn from(p: KnnPredictor) -> Self {
        Self::Knn(p)
    }
}

impl From<LinearPredictor> for Artifact {
    fn from(p: LinearPredictor) -> Self {
        Self::Linear(p)
    }
}

impl From<MlpPredictor> for Artifact {
    fn from(p: MlpPredictor) -> Self {
        Self::Mlp(p)
    }
}

impl From<StackedPredictor> for Artifact {
    fn from(p: StackedPredictor) -> Self {
        Self::Stacked(Box::new(p))
    }
}

impl From<MfPredictor> for Artifact {
    fn from(p: MfPredictor) -> Self {
        Self::Mf(p)
    }
}

/// Loads any artifact directory as a boxed [`QualityPredictor`]. Use [`Artifact::load`] to
/// keep access to the manifest.
pub fn load_artifact(dir: &Path) -> Result<Box<dyn QualityPredictor>, PredictorError> {
    Ok(Box::new(Artifact::load(dir)?))
}
