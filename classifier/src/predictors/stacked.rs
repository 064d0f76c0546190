use std::path::Path;

use router_core::ModelEstimate;

use super::priors::{sigmoid, to_log_tokens};
use super::weights_file::{WeightsReader, WeightsWriter};
use super::{Artifact, Manifest, ModelPriors, PredictorError, PredictorKind};

/// Base predictions are clamped to this distance from 0 and 1 before taking their logit, so
/// a base that is certain cannot dominate the sum with an infinite term.
const LOGIT_CLAMP: f64 = 1e-3;

/// The stacker's per-model combination of its bases' quality logits, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct StackWeights {
    /// Number of bases `B`.
    pub bases: usize,
    /// `m × B` coefficients: model `j`'s logit is `bias[j] + Σ_b coef[j·B + b] · logit(q_b,j)`.
    pub coef: Vec<f32>,
    /// `m` intercepts.
    pub bias: Vec<f32>,
    /// The combination of the bases' output-token predictions; `None` (artifacts written
    /// before it existed) averages them.
    pub tokens: Option<TokenWeights>,
}

/// The stacker's per-model combination of its bases' `ln(1 + tokens)` predictions, fitted on
/// their out-of-fold predictions like the quality combination, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenWeights {
    /// `m × B` coefficients: model `j`'s `ln(1 + tokens)` is
    /// `bias[j] + Σ_b coef[j·B + b] · ln(1 + tokens_b,j)`.
    pub coef: Vec<f32>,
    /// `m` intercepts.
    pub bias: Vec<f32>,
}

/// A stacked ensemble: several base predictors fitted on the same rows, combined per model by
/// a logistic regression fitted on their out-of-fold predictions (a "super learner").
///
/// The combination both averages (less variance than any one base) and calibrates: where a
/// base's per-prompt differences did not predict held-out outcomes, its weight shrinks, and
/// with every weight at 0 a model's estimate is its intercept, the training mean — the fixed
/// policy. Output tokens combine the bases' `ln(1 + tokens)` the same way (a least-squares fit
/// on out-of-fold predictions), or average them in an artifact without that fit.
///
/// Saved as an artifact directory whose `base-<b>/` sub-directories hold the bases.
#[derive(Clone, Debug)]
pub struct StackedPredictor {
    manifest: Manifest,
    priors: ModelPriors,
    bases: Vec<Artifact>,
    weights: StackWeights,
}

/// Name of base `b`'s sub-directory inside a stacked artifact.
pub fn base_dir_name(b: usize) -> String {
    format!("base-{b}")
}

impl StackedPredictor {
    /// Assembles a fitted stack, checking that every base predicts the manifest's models in its
    /// order over embeddings of its length, that no base is itself stacked, and the shapes.
    pub fn from_parts_checked(
        manifest: Manifest,
        priors: ModelPriors,
        bases: Vec<Artifact>,
        weights: StackWeights,
    ) -> Result<Self, PredictorError> {
        let m = manifest.models.len();
        let invalid = |tensor: &str, reason: String| PredictorError::WeightsTensor {
            path: super::WEIGHTS_FILE.into(),
            tensor: tensor.to_owned(),
            reason,
        };
        if bases.is_empty() || bases.len() != weights.bases {
            return Err(invalid(
                "stack.coef",
                format!(
                    "{} bases stored for {} coefficients per model; a stack needs at least one",
                    bases.len(),
                    weights.bases
                ),
            ));
        }
        super::linear::check_lengths(&[
            ("stack.coef", weights.coef.len(), m * weights.bases),
            ("stack.bias", weights.bias.len(), m),
            ("priors", priors.len(), m),
        ])?;
        if let Some(t) = &weights.tokens {
            super::linear::check_lengths(&[
                ("stack.token_coef", t.coef.len(), m * weights.bases),
                ("stack.token_bias", t.bias.len(), m),
            ])?;
        }
        for (b, base) in bases.iter().enumerate() {
            let bm = base.manifest();
            if bm.kind == PredictorKind::Stacked {
                return Err(invalid(
                    &base_dir_name(b),
                    "a stack's base cannot itself be a stack".into(),
                ));
            }
            if !predicts_per_prompt(bm.kind) {
                return Err(invalid(
                    &base_dir_name(b),
                    format!(
                        "is of kind `{}`, which makes no per-prompt estimates for the stack to \
                         combine; refit the stack with per-prompt bases (knn, linear, mlp, mf, \
                         irt, task_mix) or serve that artifact on its own",
                        bm.kind.as_str()
                    ),
                ));
            }
            if bm.models != manifest.models || bm.embedding_dim != manifest.embedding_dim {
                return Err(invalid(
                    &base_dir_name(b),
                    format!(
                        "predicts {} models over {}-d embeddings; the stack has {m} over {}-d \
                         (every base must be fitted on the stack's rows)",
                        bm.models.len(),
                        bm.embedding_dim,
                        manifest.embedding_dim
                    ),
                ));
            }
        }
        Ok(Self {
            manifest,
            priors,
            bases,
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

    /// The bases, in coefficient order.
    pub fn bases(&self) -> &[Artifact] {
        &self.bases
    }

    /// The combination weights.
    pub fn weights(&self) -> &StackWeights {
        &self.weights
    }

    /// The per-model training means (the fallback for models without labels).
    pub fn priors(&self) -> &ModelPriors {
        &self.priors
    }

    /// Predicts, failing on an embedding of the wrong length.
    pub fn try_predict(&self, embedding: &[f32]) -> Result<Vec<ModelEstimate>, PredictorError> {
        let per_base = self
            .bases
            .iter()
            .map(|b| b.try_predict(embedding))
            .collect::<Result<Vec<_>, _>>()?;
        let (m, nb) = (self.priors.len(), self.weights.bases);
        // Loading refuses the bases known to answer otherwise; this keeps one that slips
        // through an error for the caller instead of an out-of-bounds panic on every prompt.
        if let Some((b, est)) = per_base.iter().enumerate().find(|(_, e)| e.len() != m) {
            return Err(PredictorError::WeightsTensor {
                path: super::WEIGHTS_FILE.into(),
                tensor: base_dir_name(b),
                reason: format!(
                    "returned {} estimates for the stack's {m} models",
                    est.len()
                ),
            });
        }
        Ok((0..m)
            .map(|j| {
                let mut z = f64::from(self.weights.bias[j]);
                for (b, est) in per_base.iter().enumerate() {
                    z += f64::from(self.weights.coef[j * nb + b]) * clamped_logit(est[j].quality);
                }
                let base_tokens =
                    |b: usize| f64::from(to_log_tokens(per_base[b][j].output_tokens as f32));
                let log_tokens = match &self.weights.tokens {
                    Some(t) => (0..nb).fold(f64::from(t.bias[j]), |acc, b| {
                        acc + f64::from(t.coef[j * nb + b]) * base_tokens(b)
                    }),
                    None => (0..nb).map(base_tokens).sum::<f64>() / nb as f64,
                };
                self.priors.finish(j, sigmoid(z as f32), log_tokens as f32)
            })
            .collect())
    }

    /// Writes the bases into `base-<b>/`, then `weights.safetensors` and `manifest.json`.
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        for (b, base) in self.bases.iter().enumerate() {
            base.save(&dir.join(base_dir_name(b)))?;
        }
        let (m, nb) = (self.priors.len(), self.weights.bases);
        let mut out = WeightsWriter::default();
        out.f32("stack.coef", &self.weights.coef, &[m, nb])?;
        out.f32("stack.bias", &self.weights.bias, &[m])?;
        if let Some(t) = &self.weights.tokens {
            out.f32("stack.token_coef", &t.coef, &[m, nb])?;
            out.f32("stack.token_bias", &t.bias, &[m])?;
        }
        out.priors(&self.priors)?;
        out.save(dir)?;
        self.manifest.write(dir)
    }

    pub(crate) fn from_parts(
        manifest: Manifest,
        w: &WeightsReader,
        dir: &Path,
    ) -> Result<Self, PredictorError> {
        let m = manifest.models.len();
        let (coef, dims) = w.f32_any("stack.coef")?;
        let [rows, nb] = dims[..] else {
            return Err(w.invalid(
                "stack.coef",
                format!("shape {dims:?}, expected [models, bases]"),
            ));
        };
        if rows != m {
            return Err(w.invalid("stack.coef", format!("{rows} rows for {m} models")));
        }
        let bias = w.f32("stack.bias", &[m])?;
        let tokens = if w.has("stack.token_coef") {
            Some(TokenWeights {
                coef: w.f32("stack.token_coef", &[m, nb])?,
                bias: w.f32("stack.token_bias", &[m])?,
            })
        } else {
            None
        };
        let priors = w.priors(m)?;
        let bases = (0..nb)
            .map(|b| Artifact::load(&dir.join(base_dir_name(b))))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_parts_checked(
            manifest,
            priors,
            bases,
            StackWeights {
                bases: nb,
                coef,
                bias,
                tokens,
            },
        )
    }
}

/// Whether artifacts of `kind` estimate each model per prompt, which is what a stack combines.
/// Exhaustive so that a new kind has to decide.
fn predicts_per_prompt(kind: PredictorKind) -> bool {
    match kind {
        PredictorKind::Knn
        | PredictorKind::Linear
        | PredictorKind::Mlp
        | PredictorKind::Mf
        | PredictorKind::Irt
        | PredictorKind::TaskMix
        | PredictorKind::Stacked => true,
        // Its estimates are per task, read through `onboarded`; per prompt it returns none.
        PredictorKind::TaskPriors => false,
    }
}

/// `logit(q)` with `q` kept [`LOGIT_CLAMP`] away from 0 and 1 (and 0.5 for a non-finite `q`).
pub fn clamped_logit(q: f64) -> f64 {
    let q = if q.is_finite() { q } else { 0.5 };
    let q = q.clamp(LOGIT_CLAMP, 1.0 - LOGIT_CLAMP);
    (q / (1.0 - q)).ln()
}

super::quality_predictor_from_try_predict!(StackedPredictor);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use router_core::ModelId;
    use serde_json::json;

    use super::*;
    use crate::predictors::TaskPriorsPredictor;

    /// Loading refuses a base that answers with no estimates, so this builds the stack past
    /// that check: should another such base slip through, the stack fails, it does not panic.
    #[test]
    fn a_base_with_the_wrong_number_of_estimates_is_an_error() {
        let models = vec![ModelId::new("a"), ModelId::new("b")];
        let manifest = |kind| Manifest::new(kind, models.clone(), 3, String::new(), json!({}));
        let priors = ModelPriors {
            quality: vec![0.5, 0.5],
            log_tokens: vec![3.0, 3.0],
            quality_labelled: vec![true, true],
            tokens_labelled: vec![true, true],
        };
        let base = Artifact::from(TaskPriorsPredictor::new(manifest(
            PredictorKind::TaskPriors,
        )));
        let weights = StackWeights {
            bases: 1,
            coef: vec![1.0; 2],
            bias: vec![0.0; 2],
            tokens: None,
        };
        assert!(StackedPredictor::from_parts_checked(
            manifest(PredictorKind::Stacked),
            priors.clone(),
            vec![base.clone()],
            weights.clone(),
        )
        .is_err());
        let stack = StackedPredictor {
            manifest: manifest(PredictorKind::Stacked),
            priors,
            bases: vec![base],
            weights,
        };
        let err = stack.try_predict(&[1.0, 0.0, 0.0]).unwrap_err().to_string();
        assert!(
            err.contains("base-0") && err.contains("0 estimates"),
            "{err}"
        );
    }
}
