//! The task classifier: `P(task | prompt)` over [`router_core::Task`] from a prompt embedding,
//! the input of the task-aware priors (see `router_core::task`).
//!
//! A multinomial logistic (softmax) regression on the 384-d embedding: `p = softmax((W·x + b) /
//! T)`, with `T` a temperature fitted on held-out prompts so that the probabilities are
//! calibrated, not just the argmax. One query is seven dot products of length 384: negligible
//! next to the encoder, so it runs on the encoder worker beside the quality predictor.
//!
//! Stored as one JSON file (weights, the training data's sources and sizes, validation
//! numbers), small enough to compile into the binary: [`TaskClassifier::bundled`] is the one
//! fitted by `switchyard train-tasks` on the project's licence-clean task labels, so the
//! gateway has task priors out of the box.

use std::path::Path;

use router_core::{Task, TaskDistribution, TASK_COUNT};
use serde::{Deserialize, Serialize};

use super::priors::affine;
use super::PredictorError;

/// The file format this build writes and reads.
pub const TASK_CLASSIFIER_FORMAT_VERSION: u32 = 1;

/// The classifier compiled into the binary (`classifier/assets/task-classifier.json`).
const BUNDLED: &str = include_str!("../../assets/task-classifier.json");

/// Name used for the bundled file in errors.
const BUNDLED_ORIGIN: &str = "<bundled task-classifier.json>";

/// The stored form: everything needed to predict, plus how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskClassifierFile {
    /// [`TASK_CLASSIFIER_FORMAT_VERSION`] at the time of writing.
    pub format_version: u32,
    /// Fingerprint of the encoder the training embeddings came from.
    pub encoder_sha256: String,
    /// Token budget the training prompts were embedded with.
    pub encoder_max_tokens: usize,
    /// Embedding length.
    pub embedding_dim: usize,
    /// The classes, in row order of `weights` and `bias`.
    pub tasks: Vec<Task>,
    /// One row of `embedding_dim` weights per class.
    pub weights: Vec<Vec<f32>>,
    /// One bias per class.
    pub bias: Vec<f32>,
    /// Softmax temperature (> 0), fitted on held-out prompts.
    pub temperature: f32,
    /// When it was fitted, RFC 3339 UTC.
    pub created_at: String,
    /// The data it was fitted on (sources, label mapping, counts), free-form.
    pub training: serde_json::Value,
    /// Held-out accuracy and calibration, free-form.
    pub metrics: serde_json::Value,
}

/// A validated, ready-to-run task classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskClassifier {
    file: TaskClassifierFile,
    /// `weights` flattened row-major, for [`affine`].
    flat: Vec<f32>,
}

impl TaskClassifierFile {
    /// A file stamped with the current time, for a freshly fitted classifier.
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per stored field; a builder would add nothing"
    )]
    pub fn fitted(
        encoder_sha256: String,
        encoder_max_tokens: usize,
        tasks: Vec<Task>,
        weights: Vec<Vec<f32>>,
        bias: Vec<f32>,
        temperature: f32,
        training: serde_json::Value,
        metrics: serde_json::Value,
    ) -> Self {
        Self {
            format_version: TASK_CLASSIFIER_FORMAT_VERSION,
            encoder_sha256,
            encoder_max_tokens,
            embedding_dim: weights.first().map_or(0, Vec::len),
            tasks,
            weights,
            bias,
            temperature,
            created_at: super::manifest::now_rfc3339(),
            training,
            metrics,
        }
    }
}

impl TaskClassifier {
    /// Builds a classifier from its stored form, checking shapes and values; `origin` names
    /// the source in errors.
    pub fn from_file(file: TaskClassifierFile, origin: &Path) -> Result<Self, PredictorError> {
        let invalid = |field, reason: String| PredictorError::ManifestField {
            path: origin.to_owned(),
            field,
            reason: format!("{reason}; refit with `switchyard train-tasks`"),
        };
        if file.format_version != TASK_CLASSIFIER_FORMAT_VERSION {
            return Err(invalid(
                "format_version",
                format!(
                    "version {} is not supported (this build reads {TASK_CLASSIFIER_FORMAT_VERSION})",
                    file.format_version
                ),
            ));
        }
        if file.tasks.len() < 2 {
            return Err(invalid("tasks", "needs at least two classes".into()));
        }
        for (i, t) in file.tasks.iter().enumerate() {
            if file.tasks[..i].contains(t) {
                return Err(invalid("tasks", format!("`{t}` is listed twice")));
            }
        }
        let d = file.embedding_dim;
        if d == 0
            || file.weights.len() != file.tasks.len()
            || file.weights.iter().any(|row| row.len() != d)
        {
            return Err(invalid(
                "weights",
                format!("must be {} rows of {d} numbers", file.tasks.len()),
            ));
        }
        if file.bias.len() != file.tasks.len() {
            return Err(invalid(
                "bias",
                format!("must hold {} numbers", file.tasks.len()),
            ));
        }
        if file
            .weights
            .iter()
            .flatten()
            .chain(&file.bias)
            .any(|w| !w.is_finite())
        {
            return Err(invalid("weights", "holds a non-finite number".into()));
        }
        if !(file.temperature.is_finite() && file.temperature > 0.0) {
            return Err(invalid(
                "temperature",
                format!("must be a finite number > 0, got {}", file.temperature),
            ));
        }
        let flat = file.weights.iter().flatten().copied().collect();
        Ok(Self { file, flat })
    }

    /// Parses the JSON form; `origin` names the source in errors.
    pub fn from_json(json: &str, origin: &Path) -> Result<Self, PredictorError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let file: TaskClassifierFile =
            serde_path_to_error::deserialize(de).map_err(|e| PredictorError::ManifestJson {
                path: origin.to_owned(),
                field: e.path().to_string(),
                source: e.into_inner(),
            })?;
        Self::from_file(file, origin)
    }

    /// Reads a classifier file written by [`TaskClassifier::save`].
    pub fn load(path: &Path) -> Result<Self, PredictorError> {
        let json = std::fs::read_to_string(path).map_err(PredictorError::io(path))?;
        Self::from_json(&json, path)
    }

    /// The classifier compiled into the binary.
    pub fn bundled() -> Result<Self, PredictorError> {
        Self::from_json(BUNDLED, Path::new(BUNDLED_ORIGIN))
    }

    /// The bundled classifier, checked against the encoder it will read embeddings of.
    pub fn bundled_for(fingerprint: &str, dim: usize) -> Result<Self, PredictorError> {
        let c = Self::bundled()?;
        c.check_encoder(fingerprint, dim)?;
        Ok(c)
    }

    /// Writes the JSON form to `path`.
    pub fn save(&self, path: &Path) -> Result<(), PredictorError> {
        let json = serde_json::to_string_pretty(&self.file).map_err(|source| {
            PredictorError::ManifestJson {
                path: path.to_owned(),
                field: ".".into(),
                source,
            }
        })?;
        std::fs::write(path, json + "\n").map_err(PredictorError::io(path))
    }

    /// The stored form (training data, metrics).
    pub fn file(&self) -> &TaskClassifierFile {
        &self.file
    }

    /// Fails unless the classifier was fitted on embeddings of the encoder with this
    /// fingerprint and length: vectors of another encoder would be classified as noise.
    pub fn check_encoder(&self, fingerprint: &str, dim: usize) -> Result<(), PredictorError> {
        if self.file.embedding_dim != dim {
            return Err(PredictorError::EmbeddingDim {
                expected: self.file.embedding_dim,
                found: dim,
            });
        }
        if self.file.encoder_sha256 != fingerprint {
            return Err(PredictorError::EncoderMismatch {
                artifact: self.file.encoder_sha256.clone(),
                encoder: fingerprint.to_owned(),
            });
        }
        Ok(())
    }

    /// `P(task | prompt)`; tasks the classifier has no class for get probability 0.
    pub fn try_predict(&self, embedding: &[f32]) -> Result<TaskDistribution, PredictorError> {
        if embedding.len() != self.file.embedding_dim {
            return Err(PredictorError::EmbeddingDim {
                expected: self.file.embedding_dim,
                found: embedding.len(),
            });
        }
        let logits = affine(&self.flat, &self.file.bias, embedding);
        let probs = softmax(&logits, self.file.temperature);
        let mut weights = [0.0; TASK_COUNT];
        for (t, p) in self.file.tasks.iter().zip(probs) {
            weights[t.index()] = f64::from(p);
        }
        Ok(TaskDistribution::from_weights(weights))
    }
}

/// `softmax(z / t)`, shifted by the maximum so that `exp` never overflows.
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits
        .iter()
        .map(|z| ((z - top) / temperature).exp())
        .collect();
    let total: f32 = e.iter().sum();
    e.into_iter().map(|x| x / total).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tiny() -> TaskClassifierFile {
        TaskClassifierFile {
            format_version: TASK_CLASSIFIER_FORMAT_VERSION,
            encoder_sha256: "abc".into(),
            encoder_max_tokens: 128,
            embedding_dim: 2,
            tasks: vec![Task::Math, Task::Writing],
            weights: vec![vec![4.0, 0.0], vec![0.0, 4.0]],
            bias: vec![0.0, 0.0],
            temperature: 1.0,
            created_at: "2026-01-01T00:00:00Z".into(),
            training: serde_json::json!({}),
            metrics: serde_json::json!({}),
        }
    }

    #[test]
    fn predicts_a_distribution_over_the_taxonomy() {
        let c = TaskClassifier::from_file(tiny(), Path::new("t.json")).unwrap();
        let p = c.try_predict(&[1.0, 0.0]).unwrap();
        assert_eq!(p.top(), Task::Math);
        assert!(p.get(Task::Math) > 0.9);
        assert_eq!(p.get(Task::Coding), 0.0);
        let sum: f64 = p.as_array().iter().sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(matches!(
            c.try_predict(&[1.0]),
            Err(PredictorError::EmbeddingDim {
                expected: 2,
                found: 1
            })
        ));
    }

    #[test]
    fn round_trips_through_json_and_checks_the_encoder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let c = TaskClassifier::from_file(tiny(), &path).unwrap();
        c.save(&path).unwrap();
        let back = TaskClassifier::load(&path).unwrap();
        assert_eq!(back, c);
        assert!(back.check_encoder("abc", 2).is_ok());
        assert!(matches!(
            back.check_encoder("other", 2),
            Err(PredictorError::EncoderMismatch { .. })
        ));
    }

    #[test]
    fn bad_files_name_the_field() {
        let mut f = tiny();
        f.weights[1].pop();
        let err = TaskClassifier::from_file(f, Path::new("t.json")).unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
        let mut f = tiny();
        f.temperature = 0.0;
        let err = TaskClassifier::from_file(f, Path::new("t.json")).unwrap_err();
        assert!(err.to_string().contains("temperature"), "{err}");
        let mut f = tiny();
        f.tasks[1] = Task::Math;
        let err = TaskClassifier::from_file(f, Path::new("t.json")).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let err = TaskClassifier::from_json(
            r#"{"format_version": 1, "tasks": ["poetry"]}"#,
            Path::new("t.json"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("tasks"), "{err}");
    }

    #[test]
    fn the_bundled_classifier_loads() {
        let c = TaskClassifier::bundled().unwrap();
        assert_eq!(c.file().embedding_dim, crate::EMBEDDING_DIM);
        assert_eq!(c.file().encoder_sha256, crate::weights::MODEL_SHA256);
    }
}
