use std::path::Path;

use router_core::ModelEstimate;

use super::priors::dot;
use super::weights_file::{WeightsReader, WeightsWriter};
use super::{
    from_log_tokens, to_log_tokens, Manifest, ModelPriors, PredictorError, PredictorKind,
    TrainingSet,
};

/// Added to every neighbour's weight so that neighbours with zero or negative similarity still
/// count (as a plain mean) instead of dividing by zero.
const WEIGHT_FLOOR: f32 = 1e-3;

/// k nearest neighbours by cosine similarity.
///
/// For each model separately, the `k` most similar training prompts *that have a label for that
/// model* vote, weighted by `max(similarity, 0) + 0.001`; a model with no labels gets its prior.
/// Searching per model (rather than taking one global top-k and skipping unlabelled cells) keeps
/// `k` votes even when half the cells are missing.
#[derive(Clone, Debug)]
pub struct KnnPredictor {
    manifest: Manifest,
    k: usize,
    dim: usize,
    /// `n × d`, row-major.
    x: Vec<f32>,
    /// `n × m`, 0 where missing.
    quality: Vec<f32>,
    quality_mask: Vec<bool>,
    /// `n × m` `ln(1 + tokens)`, 0 where missing.
    log_tokens: Vec<f32>,
    tokens_mask: Vec<bool>,
    priors: ModelPriors,
}

impl KnnPredictor {
    /// Stores a validated training set for search.
    pub fn new(set: &TrainingSet, k: usize) -> Result<Self, PredictorError> {
        set.validate()?;
        if set.is_empty() {
            return Err(PredictorError::TrainingSetShape {
                field: "x",
                row: 0,
                reason: "no prompts; kNN needs at least one labelled neighbour".into(),
            });
        }
        if k == 0 {
            return Err(PredictorError::TrainingSetShape {
                field: "k",
                row: 0,
                reason: "k must be at least 1".into(),
            });
        }
        let (n, m) = (set.len(), set.models.len());
        let mut quality = vec![0.0; n * m];
        let mut quality_mask = vec![false; n * m];
        let mut log_tokens = vec![0.0; n * m];
        let mut tokens_mask = vec![false; n * m];
        for i in 0..n {
            for j in 0..m {
                if let Some(q) = set.quality[i][j] {
                    quality[i * m + j] = q;
                    quality_mask[i * m + j] = true;
                }
                if let Some(t) = set.output_tokens[i][j] {
                    log_tokens[i * m + j] = to_log_tokens(t);
                    tokens_mask[i * m + j] = true;
                }
            }
        }
        let manifest = Manifest::new(
            PredictorKind::Knn,
            set.models.clone(),
            set.dim(),
            set.sha256(),
            serde_json::json!({ "k": k }),
        );
        Ok(Self {
            manifest,
            k,
            dim: set.dim(),
            x: set.x.iter().flatten().copied().collect(),
            quality,
            quality_mask,
            log_tokens,
            tokens_mask,
            priors: ModelPriors::from_training_set(set),
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

    /// Neighbours per model.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The stored points as a training set, for extending them (a kNN warm start). Token
    /// labels come back from their stored `ln(1 + tokens)` form, so they round-trip up to
    /// float rounding.
    pub fn training_set(&self) -> TrainingSet {
        let m = self.priors.len();
        let cells = |values: &[f32], mask: &[bool], map: fn(f32) -> f32| {
            values
                .chunks_exact(m.max(1))
                .zip(mask.chunks_exact(m.max(1)))
                .map(|(v, k)| v.iter().zip(k).map(|(&v, &k)| k.then(|| map(v))).collect())
                .collect()
        };
        TrainingSet {
            models: self.manifest.models.clone(),
            x: self
                .x
                .chunks_exact(self.dim.max(1))
                .map(<[f32]>::to_vec)
                .collect(),
            quality: cells(&self.quality, &self.quality_mask, |v| v),
            output_tokens: cells(&self.log_tokens, &self.tokens_mask, from_log_tokens),
            // kNN stores no task labels.
            tasks: Vec::new(),
        }
    }

    /// Predicts, failing on an embedding of the wrong length.
    pub fn try_predict(&self, embedding: &[f32]) -> Result<Vec<ModelEstimate>, PredictorError> {
        if embedding.len() != self.dim {
            return Err(PredictorError::EmbeddingDim {
                expected: self.dim,
                found: embedding.len(),
            });
        }
        let m = self.priors.len();
        let n = self.x.len() / self.dim.max(1);
        let mut order: Vec<(f32, usize)> = self
            .x
            .chunks_exact(self.dim)
            .map(|row| dot(row, embedding))
            .zip(0..)
            .collect();
        let by_similarity =
            |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        // Most models label most rows, so a short sorted prefix usually yields k labels for
        // every model; sort everything only when it does not.
        let prefix = (self.k * 8).max(256).min(n);
        if prefix < n && prefix > 0 {
            order.select_nth_unstable_by(prefix - 1, by_similarity);
            order[..prefix].sort_unstable_by(by_similarity);
        } else {
            order.sort_unstable_by(by_similarity);
        }
        let mut out = Vec::with_capacity(m);
        let mut sorted_all = false;
        for j in 0..m {
            let mut vote = |mask: &[bool], labels: &[f32]| -> Option<f32> {
                let walk = |order: &[(f32, usize)]| {
                    let (mut sum, mut weight, mut seen) = (0.0f32, 0.0f32, 0);
                    for &(sim, i) in order {
                        if mask[i * m + j] {
                            let w = sim.max(0.0) + WEIGHT_FLOOR;
                            sum += w * labels[i * m + j];
                            weight += w;
                            seen += 1;
                            if seen == self.k {
                                break;
                            }
                        }
                    }
                    (seen, (weight > 0.0).then(|| sum / weight))
                };
                let (seen, value) = walk(&order[..prefix]);
                if seen == self.k || prefix == n {
                    return value;
                }
                if !sorted_all {
                    order.sort_unstable_by(by_similarity);
                    sorted_all = true;
                }
                walk(&order).1
            };
            let quality = vote(&self.quality_mask, &self.quality);
            let log_tokens = vote(&self.tokens_mask, &self.log_tokens);
            out.push(self.priors.finish(
                j,
                quality.unwrap_or(self.priors.quality[j]),
                log_tokens.unwrap_or(self.priors.log_tokens[j]),
            ));
        }
        Ok(out)
    }

    /// Writes `weights.safetensors` and `manifest.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        let (n, m) = (self.x.len() / self.dim.max(1), self.priors.len());
        let mut w = WeightsWriter::default();
        w.f32("x", &self.x, &[n, self.dim])?;
        w.f32("quality", &self.quality, &[n, m])?;
        w.mask("quality_mask", &self.quality_mask, &[n, m])?;
        w.f32("log_tokens", &self.log_tokens, &[n, m])?;
        w.mask("tokens_mask", &self.tokens_mask, &[n, m])?;
        w.priors(&self.priors)?;
        w.save(dir)?;
        self.manifest.write(dir)
    }

    pub(crate) fn from_parts(
        manifest: Manifest,
        weights: &WeightsReader,
        manifest_path: &Path,
    ) -> Result<Self, PredictorError> {
        let k = manifest
            .hyperparameters
            .get("k")
            .and_then(serde_json::Value::as_u64)
            .filter(|&k| k > 0)
            .ok_or_else(|| PredictorError::ManifestField {
                path: manifest_path.to_owned(),
                field: "hyperparameters.k",
                reason: "must be a positive integer for a knn artifact".into(),
            })? as usize;
        let (m, d) = (manifest.models.len(), manifest.embedding_dim);
        let (x, dims) = weights.f32_any("x")?;
        if dims.len() != 2 || dims[1] != d {
            return Err(weights.invalid("x", format!("shape {dims:?}, expected [n, {d}]")));
        }
        let n = dims[0];
        Ok(Self {
            k,
            dim: d,
            x,
            quality: weights.f32("quality", &[n, m])?,
            quality_mask: weights.mask("quality_mask", &[n, m])?,
            log_tokens: weights.f32("log_tokens", &[n, m])?,
            tokens_mask: weights.mask("tokens_mask", &[n, m])?,
            priors: weights.priors(m)?,
            manifest,
        })
    }
}

super::quality_predictor_from_try_predict!(KnnPredictor);
