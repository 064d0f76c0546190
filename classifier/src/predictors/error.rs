use std::path::PathBuf;

use router_core::ModelId;

/// Everything that can go wrong building, saving, loading or extending a predictor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PredictorError {
    /// Reading or writing an artifact file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `manifest.json` is not valid JSON or a field has the wrong type.
    #[error(
        "{path}: {}{source}; re-run `switchyard train` to rewrite the artifact",
        field_part(field)
    )]
    ManifestJson {
        /// The manifest file.
        path: PathBuf,
        /// The JSON path of the offending field (`.` when the document itself is bad).
        field: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// `manifest.json` parsed but a field's value is unusable.
    #[error("{path}: field `{field}`: {reason}")]
    ManifestField {
        /// The manifest file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// `weights.safetensors` could not be read or written as a safetensors file.
    #[error("{path}: {source}; re-run `switchyard train` to rewrite the artifact")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: candle_core::Error,
    },
    /// A tensor in `weights.safetensors` is missing or has the wrong shape or dtype.
    #[error("{path}: tensor `{tensor}`: {reason}; the manifest and weights disagree, re-run `switchyard train`")]
    WeightsTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A [`super::TrainingSet`] is inconsistent.
    #[error("training set: `{field}` row {row}: {reason}")]
    TrainingSetShape {
        /// The field of the training set.
        field: &'static str,
        /// The first bad row.
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// An embedding has the wrong length for this predictor.
    #[error("embedding has {found} dimensions, the predictor expects {expected}")]
    EmbeddingDim {
        /// What the predictor was trained on.
        expected: usize,
        /// What was passed.
        found: usize,
    },
    /// The artifact was trained on embeddings from a different encoder.
    #[error("artifact was trained with encoder {artifact}, but the loaded encoder is {encoder}; retrain with `switchyard train` or load the matching encoder")]
    EncoderMismatch {
        /// The artifact's `encoder_sha256`.
        artifact: String,
        /// The running encoder's fingerprint.
        encoder: String,
    },
    /// [`super::MfPredictor::fit_new_model`] was asked to add a model it already knows.
    #[error("model `{model}` is already in the predictor; new-model fitting only adds models")]
    ModelAlreadyKnown {
        /// The model.
        model: ModelId,
    },
    /// The probes for a new model are unusable.
    #[error("new model `{model}`: probe {probe}: {reason}")]
    ProbeInvalid {
        /// The model being added.
        model: ModelId,
        /// Index of the bad probe (0 when there are none).
        probe: usize,
        /// What is wrong.
        reason: String,
    },
}

/// `field `x`: ` for a JSON path that names a field; nothing for the whole document (`.`)
/// or a position serde_path_to_error could not name (`?`).
fn field_part(field: &str) -> String {
    if field.is_empty() || field.split('.').all(|s| s == "?" || s.is_empty()) {
        String::new()
    } else {
        format!("field `{field}`: ")
    }
}

impl PredictorError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
