use std::path::Path;

use router_core::ModelEstimate;

use super::priors::dot;
use super::weights_file::{WeightsReader, WeightsWriter};
use super::{Manifest, ModelPriors, PredictorError};

/// Per-model linear coefficients, row-major: row `j` belongs to model `j`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearWeights {
    /// `m × d` quality coefficients.
    pub quality_w: Vec<f32>,
    /// `m` quality intercepts.
    pub quality_b: Vec<f32>,
    /// `m × d` `ln(1 + tokens)` coefficients.
    pub tokens_w: Vec<f32>,
    /// `m` `ln(1 + tokens)` intercepts.
    pub tokens_b: Vec<f32>,
}

/// Per-model ridge regression: quality `clamp(w·x + b, 0, 1)`, tokens `exp(u·x + c) - 1`.
#[derive(Clone, Debug)]
pub struct LinearPredictor {
    manifest: Manifest,
    priors: ModelPriors,
    weights: LinearWeights,
}

impl LinearPredictor {
    /// Assembles a fitted predictor, checking that the shapes agree with the manifest.
    pub fn from_weights(
        manifest: Manifest,
        priors: ModelPriors,
        weights: LinearWeights,
    ) -> Result<Self, PredictorError> {
        let (m, d) = (manifest.models.len(), manifest.embedding_dim);
        let checks = [
            ("quality_w", weights.quality_w.len(), m * d),
            ("quality_b", weights.quality_b.len(), m),
            ("tokens_w", weights.tokens_w.len(), m * d),
            ("tokens_b", weights.tokens_b.len(), m),
            ("priors", priors.len(), m),
        ];
        check_lengths(&checks)?;
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

    /// The per-model priors the weights are residuals over (and the fallback for models
    /// without labels); a warm start keeps them so that the weights keep their meaning.
    pub fn priors(&self) -> &ModelPriors {
        &self.priors
    }

    /// The coefficients.
    pub fn weights(&self) -> &LinearWeights {
        &self.weights
    }

    /// Predicts, failing on an embedding of the wrong length.
    pub fn try_predict(&self, embedding: &[f32]) -> Result<Vec<ModelEstimate>, PredictorError> {
        let d = self.manifest.embedding_dim;
        if embedding.len() != d {
            return Err(PredictorError::EmbeddingDim {
                expected: d,
                found: embedding.len(),
            });
        }
        let w = &self.weights;
        Ok((0..self.priors.len())
            .map(|j| {
                let q = w.quality_b[j] + dot(&w.quality_w[j * d..(j + 1) * d], embedding);
                let t = w.tokens_b[j] + dot(&w.tokens_w[j * d..(j + 1) * d], embedding);
                self.priors.finish(j, q, t)
            })
            .collect())
    }

    /// Writes `weights.safetensors` and `manifest.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        let (m, d) = (self.priors.len(), self.manifest.embedding_dim);
        let mut out = WeightsWriter::default();
        out.f32("quality.weight", &self.weights.quality_w, &[m, d])?;
        out.f32("quality.bias", &self.weights.quality_b, &[m])?;
        out.f32("tokens.weight", &self.weights.tokens_w, &[m, d])?;
        out.f32("tokens.bias", &self.weights.tokens_b, &[m])?;
        out.priors(&self.priors)?;
        out.save(dir)?;
        self.manifest.write(dir)
    }

    pub(crate) fn from_parts(
        manifest: Manifest,
        w: &WeightsReader,
    ) -> Result<Self, PredictorError> {
        let (m, d) = (manifest.models.len(), manifest.embedding_dim);
        let weights = LinearWeights {
            quality_w: w.f32("quality.weight", &[m, d])?,
            quality_b: w.f32("quality.bias", &[m])?,
            tokens_w: w.f32("tokens.weight", &[m, d])?,
            tokens_b: w.f32("tokens.bias", &[m])?,
        };
        Self::from_weights(manifest, w.priors(m)?, weights)
    }
}

super::quality_predictor_from_try_predict!(LinearPredictor);

/// Fails on the first `(name, found, expected)` whose lengths differ.
pub(crate) fn check_lengths(checks: &[(&str, usize, usize)]) -> Result<(), PredictorError> {
    match checks.iter().find(|(_, found, expected)| found != expected) {
        Some((name, found, expected)) => Err(PredictorError::WeightsTensor {
            path: super::WEIGHTS_FILE.into(),
            tensor: (*name).to_owned(),
            reason: format!(
                "{found} values, expected {expected} for the manifest's models and embedding_dim"
            ),
        }),
        None => Ok(()),
    }
}
