//! Quality and output-token predictors over prompt embeddings, and the one artifact format
//! they share.
//!
//! Every predictor implements [`router_core::QualityPredictor`]: from a unit-length prompt
//! embedding it estimates, for each model it knows, the quality in `[0, 1]` and the number of
//! output tokens. Output tokens are modelled as `ln(1 + tokens)`; a model without any label
//! of a kind falls back to its [`ModelPriors`] entry.
//!
//! - [`TrainingSet`]: embeddings plus per-model labels with missing cells, the input of the
//!   fitting functions in the `training` crate.
//! - [`KnnPredictor`]: similarity-weighted mean over the `k` nearest labelled neighbours.
//! - [`LinearPredictor`]: per-model ridge regression (fitted with linfa).
//! - [`MlpPredictor`]: a multi-output MLP (fitted with candle).
//! - [`MfPredictor`]: matrix factorisation with learned model embeddings (RouteLLM's MF
//!   router, EmbedLLM); [`MfPredictor::fit_new_model`] adds a model from a few probes. Its
//!   item-response form (kind `irt`) adds a prompt difficulty shared by every model.
//! - [`StackedPredictor`]: several of the above combined per model by a logistic regression
//!   fitted on their out-of-fold predictions (a super learner).
//! - [`TaskMixPredictor`]: the per-task rule made soft: `P(task | prompt)` over the data's own
//!   task families times each task's per-model means (a stack base).
//! - [`Artifact`], [`Manifest`], [`load_artifact`]: a directory holding `weights.safetensors`
//!   and `manifest.json`, the same for every kind.
//! - [`TaskClassifier`]: `P(task | prompt)` over [`router_core::Task`] (softmax regression), the
//!   input of the task-aware priors for models no predictor knows; one is bundled.
//!
//! Inference is plain Rust over `f32` slices (no tensor library on the request path): one
//! query is a handful of small matrix-vector products, where framework overhead would dominate.
//! See `README.md` in this folder for why matrix factorisation is the "stronger" model.

/// Implements [`router_core::QualityPredictor`] for a predictor with `manifest` and `priors`
/// fields and a `try_predict`: an embedding of the wrong length gets the priors (the trait
/// cannot fail; `try_predict` says why).
macro_rules! quality_predictor_from_try_predict {
    ($predictor:ty) => {
        impl router_core::QualityPredictor for $predictor {
            fn models(&self) -> &[router_core::ModelId] {
                &self.manifest.models
            }

            fn routing(&self) -> router_core::RoutingMode {
                self.manifest.routing
            }

            fn predict(&self, embedding: &[f32]) -> Vec<router_core::ModelEstimate> {
                self.try_predict(embedding)
                    .unwrap_or_else(|_| self.priors.estimates())
            }
        }
    };
}
pub(crate) use quality_predictor_from_try_predict;

mod artifact;
mod error;
mod knn;
mod linear;
mod manifest;
mod mf;
mod mlp;
mod priors;
mod stacked;
mod task_classifier;
mod task_mix;
mod task_priors;
mod training_set;
mod weights_file;

#[cfg(test)]
mod tests;

pub use artifact::{load_artifact, Artifact};
pub use error::PredictorError;
pub use knn::KnnPredictor;
pub use linear::{LinearPredictor, LinearWeights};
pub use manifest::{
    now_rfc3339, EncoderSettings, Manifest, PredictorKind, MANIFEST_FILE, MANIFEST_FORMAT_VERSION,
    WEIGHTS_FILE,
};
pub use mf::{cholesky_solve, MfPredictor, MfWeights, NEW_MODEL_L2};
pub use mlp::{DenseLayer, MlpPredictor, MlpWeights};
pub use priors::{from_log_tokens, to_log_tokens, ModelPriors, DEFAULT_OUTPUT_TOKENS};
pub use stacked::{base_dir_name, clamped_logit, StackWeights, StackedPredictor, TokenWeights};
pub use task_classifier::{
    softmax, TaskClassifier, TaskClassifierFile, TASK_CLASSIFIER_FORMAT_VERSION,
};
pub use task_mix::{TaskMixPredictor, TaskMixWeights};
pub use task_priors::TaskPriorsPredictor;
pub use training_set::{task_family, TrainingSet};
