use std::path::Path;

use router_core::ModelEstimate;

use super::linear::check_lengths;
use super::priors::{affine, sigmoid};
use super::weights_file::{WeightsReader, WeightsWriter};
use super::{Manifest, ModelPriors, PredictorError};

/// One fully connected layer, `y = W x + b`, `W` row-major `out × in`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    /// Input width.
    pub in_dim: usize,
    /// Output width.
    pub out_dim: usize,
    /// `out_dim × in_dim` weights.
    pub weight: Vec<f32>,
    /// `out_dim` biases.
    pub bias: Vec<f32>,
}

/// The layers of a [`MlpPredictor`].
#[derive(Clone, Debug, PartialEq)]
pub struct MlpWeights {
    /// Hidden layers, each followed by a ReLU.
    pub hidden: Vec<DenseLayer>,
    /// `2m` outputs: `m` quality logits, then `m` `ln(1 + tokens)` values, both residuals over
    /// the model priors (so an untrained head predicts the per-model mean).
    pub output: DenseLayer,
}

/// A multi-output MLP: embedding → ReLU hidden layers → per-model quality logit and log tokens.
///
/// Sharing the hidden layers across models lets sparse models borrow what dense ones taught
/// the network about prompts; the masked loss trains each head only on its labelled cells.
#[derive(Clone, Debug)]
pub struct MlpPredictor {
    manifest: Manifest,
    priors: ModelPriors,
    weights: MlpWeights,
}

impl MlpPredictor {
    /// Assembles a fitted predictor, checking that the layer shapes chain from
    /// `embedding_dim` to `2 × models`.
    pub fn from_weights(
        manifest: Manifest,
        priors: ModelPriors,
        weights: MlpWeights,
    ) -> Result<Self, PredictorError> {
        let m = manifest.models.len();
        let mut width = manifest.embedding_dim;
        let mut checks = Vec::new();
        let names: Vec<String> = (0..weights.hidden.len())
            .map(|i| format!("hidden.{i}"))
            .chain(std::iter::once("output".to_owned()))
            .collect();
        for (layer, name) in weights.hidden.iter().chain([&weights.output]).zip(&names) {
            checks.push((name.as_str(), layer.in_dim, width));
            checks.push((
                name.as_str(),
                layer.weight.len(),
                layer.in_dim * layer.out_dim,
            ));
            checks.push((name.as_str(), layer.bias.len(), layer.out_dim));
            width = layer.out_dim;
        }
        checks.push(("output", weights.output.out_dim, 2 * m));
        checks.push(("priors", priors.len(), m));
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

    /// The layers.
    pub fn weights(&self) -> &MlpWeights {
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
        let mut h = embedding.to_vec();
        for layer in &self.weights.hidden {
            h = affine(&layer.weight, &layer.bias, &h);
            h.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        let out = affine(&self.weights.output.weight, &self.weights.output.bias, &h);
        let m = self.priors.len();
        Ok((0..m)
            .map(|j| {
                let q = sigmoid(out[j] + self.priors.quality_logit(j));
                self.priors
                    .finish(j, q, out[m + j] + self.priors.log_tokens[j])
            })
            .collect())
    }

    /// Writes `weights.safetensors` and `manifest.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        let mut out = WeightsWriter::default();
        for (i, layer) in self.weights.hidden.iter().enumerate() {
            write_layer(&mut out, &format!("hidden.{i}"), layer)?;
        }
        write_layer(&mut out, "output", &self.weights.output)?;
        out.priors(&self.priors)?;
        out.save(dir)?;
        self.manifest.write(dir)
    }

    pub(crate) fn from_parts(
        manifest: Manifest,
        w: &WeightsReader,
    ) -> Result<Self, PredictorError> {
        let mut hidden = Vec::new();
        while w.has(&format!("hidden.{}.weight", hidden.len())) {
            hidden.push(read_layer(w, &format!("hidden.{}", hidden.len()))?);
        }
        let output = read_layer(w, "output")?;
        let priors = w.priors(manifest.models.len())?;
        Self::from_weights(manifest, priors, MlpWeights { hidden, output })
    }
}

super::quality_predictor_from_try_predict!(MlpPredictor);

fn write_layer(out: &mut WeightsWriter, name: &str, l: &DenseLayer) -> Result<(), PredictorError> {
    out.f32(&format!("{name}.weight"), &l.weight, &[l.out_dim, l.in_dim])?;
    out.f32(&format!("{name}.bias"), &l.bias, &[l.out_dim])
}

fn read_layer(w: &WeightsReader, name: &str) -> Result<DenseLayer, PredictorError> {
    let wname = format!("{name}.weight");
    let (weight, dims) = w.f32_any(&wname)?;
    let [out_dim, in_dim] = dims[..] else {
        return Err(w.invalid(&wname, format!("shape {dims:?}, expected [out, in]")));
    };
    Ok(DenseLayer {
        in_dim,
        out_dim,
        weight,
        bias: w.f32(&format!("{name}.bias"), &[out_dim])?,
    })
}
