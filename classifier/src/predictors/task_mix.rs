use std::path::Path;

use router_core::ModelEstimate;

use super::priors::affine;
use super::weights_file::{WeightsReader, WeightsWriter};
use super::{softmax, Manifest, ModelPriors, PredictorError};

/// The fitted parts of a [`TaskMixPredictor`], row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskMixWeights {
    /// Number of task classes `K` (1 when the training rows had no task labels).
    pub classes: usize,
    /// `K × d` softmax weights of `P(task | prompt)`.
    pub class_w: Vec<f32>,
    /// `K` softmax biases.
    pub class_b: Vec<f32>,
    /// Softmax temperature (> 0), fitted on held-out rows.
    pub temperature: f32,
    /// `K × m` mean quality of each model on each task (shrunk towards the model's mean).
    pub quality: Vec<f32>,
    /// `K × m` mean `ln(1 + tokens)` of each model on each task (shrunk the same way).
    pub log_tokens: Vec<f32>,
}

/// The per-task rule made soft: `P(task | prompt)` from a softmax regression on the embedding,
/// times each task's per-model means.
///
/// Why: a person routing by hand writes "maths goes to model A, code to model B", and on sets
/// with many tasks that rule is hard to beat, because per-prompt predictors spend their
/// capacity re-learning it from few labels per model. This predictor is that rule with the
/// task guessed from the prompt; as a stack base it lets the combination start from the task
/// means and add what the other bases see in the prompt itself. Tasks are the data's own
/// families (`mmlu/anatomy` counts as `mmlu`).
#[derive(Clone, Debug)]
pub struct TaskMixPredictor {
    manifest: Manifest,
    priors: ModelPriors,
    weights: TaskMixWeights,
}

impl TaskMixPredictor {
    /// Assembles a fitted predictor, checking shapes against the manifest.
    pub fn from_weights(
        manifest: Manifest,
        priors: ModelPriors,
        weights: TaskMixWeights,
    ) -> Result<Self, PredictorError> {
        let (m, d, k) = (
            manifest.models.len(),
            manifest.embedding_dim,
            weights.classes,
        );
        super::linear::check_lengths(&[
            ("class.weight", weights.class_w.len(), k * d),
            ("class.bias", weights.class_b.len(), k),
            ("task.quality", weights.quality.len(), k * m),
            ("task.log_tokens", weights.log_tokens.len(), k * m),
            ("priors", priors.len(), m),
        ])?;
        let bad = |tensor: &str, reason: String| PredictorError::WeightsTensor {
            path: super::WEIGHTS_FILE.into(),
            tensor: tensor.to_owned(),
            reason,
        };
        if k == 0 {
            return Err(bad("class.bias", "no task classes; at least one".into()));
        }
        if !(weights.temperature.is_finite() && weights.temperature > 0.0) {
            return Err(bad(
                "class.temperature",
                format!("{} is not a positive temperature", weights.temperature),
            ));
        }
        if let Some(q) = weights.quality.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(bad("task.quality", format!("{q} is outside [0, 1]")));
        }
        Ok(Self {
            manifest,
            priors,
            weights,
        })
    }

    /// The artifact manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest, to set `encoder_sha256` or `metrics` before saving.
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// The fitted parts.
    pub fn weights(&self) -> &TaskMixWeights {
        &self.weights
    }

    /// `P(task | prompt)` over the classes, in the order of the weights' rows.
    pub fn task_probabilities(&self, embedding: &[f32]) -> Result<Vec<f32>, PredictorError> {
        let d = self.manifest.embedding_dim;
        if embedding.len() != d {
            return Err(PredictorError::EmbeddingDim {
                expected: d,
                found: embedding.len(),
            });
        }
        let w = &self.weights;
        Ok(softmax(
            &affine(&w.class_w, &w.class_b, embedding),
            w.temperature,
        ))
    }

    /// Predicts, failing on an embedding of the wrong length.
    pub fn try_predict(&self, embedding: &[f32]) -> Result<Vec<ModelEstimate>, PredictorError> {
        let p = self.task_probabilities(embedding)?;
        let m = self.priors.len();
        let w = &self.weights;
        Ok((0..m)
            .map(|j| {
                let (mut q, mut t) = (0.0f32, 0.0f32);
                for (c, pc) in p.iter().enumerate() {
                    q += pc * w.quality[c * m + j];
                    t += pc * w.log_tokens[c * m + j];
                }
                self.priors.finish(j, q, t)
            })
            .collect())
    }

    /// Writes `weights.safetensors` and `manifest.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        let (m, d, k) = (
            self.priors.len(),
            self.manifest.embedding_dim,
            self.weights.classes,
        );
        let w = &self.weights;
        let mut out = WeightsWriter::default();
        out.f32("class.weight", &w.class_w, &[k, d])?;
        out.f32("class.bias", &w.class_b, &[k])?;
        out.f32("class.temperature", &[w.temperature], &[1])?;
        out.f32("task.quality", &w.quality, &[k, m])?;
        out.f32("task.log_tokens", &w.log_tokens, &[k, m])?;
        out.priors(&self.priors)?;
        out.save(dir)?;
        self.manifest.write(dir)
    }

    pub(crate) fn from_parts(
        manifest: Manifest,
        r: &WeightsReader,
    ) -> Result<Self, PredictorError> {
        let (m, d) = (manifest.models.len(), manifest.embedding_dim);
        let (class_b, dims) = r.f32_any("class.bias")?;
        let [k] = dims[..] else {
            return Err(r.invalid("class.bias", format!("shape {dims:?}, expected [classes]")));
        };
        let weights = TaskMixWeights {
            classes: k,
            class_w: r.f32("class.weight", &[k, d])?,
            class_b,
            temperature: r.f32("class.temperature", &[1])?[0],
            quality: r.f32("task.quality", &[k, m])?,
            log_tokens: r.f32("task.log_tokens", &[k, m])?,
        };
        Self::from_weights(manifest, r.priors(m)?, weights)
    }
}

super::quality_predictor_from_try_predict!(TaskMixPredictor);
