//! Fitting Switchyard's predictors from a [`TrainingSet`].
//!
//! - [`fit_knn`] / [`KnnConfig`]: stores the set for k-nearest-neighbour search.
//! - [`fit_linear`] / [`LinearConfig`]: per-model ridge regression (closed form, linfa-linalg).
//! - [`fit_mlp`] / [`MlpConfig`]: a multi-output MLP in candle with a masked loss.
//! - [`fit_mf`] / [`MfConfig`]: matrix factorisation with learned model embeddings.
//! - [`fit_stacked`] / [`StackConfig`]: several of the above combined per model on their
//!   out-of-fold predictions.
//! - [`fit_knn_with`], [`fit_linear_with`], [`fit_mlp_with`], [`fit_mf_with`] and
//!   [`fit_predictor_with`] take [`FitOptions`]: per-cell loss weights ([`CellWeights`], e.g.
//!   inverse propensities from a bandit log) and a warm start from an existing artifact.
//! - [`evaluate`] / [`HeldOutScores`]: masked mean squared errors on held-out rows.
//! - [`split_holdout`]: a seeded train/held-out split.
//! - [`replay`]: an OpenAI-compatible server answering from a benchmark's recorded outcomes.
//! - [`onboarding`]: adding a new model to a fitted MF predictor from a few probe prompts.
//! - [`synthetic`]: seeded training sets with planted structure (tests, timing).
//! - [`from_log`]: the gateway's outcome log to bandit training sets and off-policy evaluation
//!   steps.
//! - [`train`]: `switchyard train`'s steps (mixing logged and benchmark rows, fitting the
//!   planned artifact or the guard's fixed policy, stamping its provenance).
//! - [`task_classifier`]: fitting `P(task | prompt)` on the shared datasets' task labels, the
//!   input of the task-aware priors.
//!
//! Every function returns the classifier-side predictor, ready to `save`; its manifest records
//! the configuration, the training-data hash, validation numbers and the fit time. Set
//! `manifest_mut().encoder_sha256` before saving. Progress goes to an optional callback taking
//! a [`Progress`] (the CLI draws it as a bar).
//!
//! [`TrainingSet`]: classifier::predictors::TrainingSet

pub mod adapter;
pub mod artifact_files;
mod cell_weights;
mod error;
pub mod from_log;
mod knn;
mod linear;
mod metrics;
mod mf;
mod mlp;
mod neural;
mod progress;
mod stack;
pub mod synthetic;
pub mod task_classifier;
mod task_mix;
pub mod train;
mod warm_start;

#[cfg(test)]
mod fit_options_tests;

pub use cell_weights::CellWeights;
pub use error::Error;
pub use knn::{fit_knn, fit_knn_with, KnnConfig};
pub use linear::{fit_linear, fit_linear_with, LinearConfig};
pub use metrics::{evaluate, split_holdout, HeldOutScores};
pub use mf::{fit_mf, fit_mf_with, MfConfig};
pub use mlp::{fit_mlp, fit_mlp_with, MlpConfig};
pub use neural::NeuralConfig;
pub use progress::{Progress, ProgressFn};
pub use stack::{fit_stacked, nonnegative_logistic, StackBase, StackConfig};
pub use task_mix::{fit_task_mix, TaskMixConfig};
pub use warm_start::{fit_predictor_with, FitOptions};
pub mod embed_cache;
pub mod experiment;
pub mod learning_loop;
pub mod onboarding;
pub mod replay;
