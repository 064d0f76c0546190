use std::path::Path;

use router_core::{ModelEstimate, ModelId};

use super::linear::check_lengths;
use super::priors::{affine, dot, sigmoid};
use super::weights_file::{WeightsReader, WeightsWriter};
use super::{Manifest, ModelPriors, PredictorError};

/// Default L2 pull of a new model's embedding towards the mean of the known models' embeddings,
/// in units of one probe's log-loss (see [`MfPredictor::fit_new_model`]). Measured on LLMRouter
/// (docs/learning-loop.md): 1 overfits 50–200 probes, 10 to 100 all beat the probes' mean.
pub const NEW_MODEL_L2: f32 = 10.0;

/// Newton iterations for a new model; the problem is strongly convex, so a few suffice.
const NEW_MODEL_MAX_ITER: usize = 50;

/// Learned prompt projection and model embeddings, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct MfWeights {
    /// Latent dimension `k`.
    pub latent_dim: usize,
    /// `k × d` prompt projection `P`.
    pub projection: Vec<f32>,
    /// `m × k` quality embeddings `v_m`.
    pub quality_emb: Vec<f32>,
    /// `m` quality biases `b_m` (residuals over the prior logit).
    pub quality_bias: Vec<f32>,
    /// `m × k` token embeddings.
    pub tokens_emb: Vec<f32>,
    /// `m` token biases (residuals over the prior `ln(1 + tokens)`).
    pub tokens_bias: Vec<f32>,
    /// Item-response form only (empty otherwise): `d` weights of the prompt's difficulty
    /// `δ(x) = w·x`, shared by every model.
    pub difficulty: Vec<f32>,
    /// Item-response form only (empty otherwise): `m` log-discriminations `ρ_m`; model `m`'s
    /// logit falls by `e^{ρ_m}·δ(x)`, so harder prompts lower every model, some more than others.
    pub discrimination: Vec<f32>,
}

impl MfWeights {
    /// Whether the weights carry the item-response difficulty axis.
    pub fn has_difficulty(&self) -> bool {
        !self.difficulty.is_empty()
    }
}

/// Matrix factorisation over (prompt, model), as in RouteLLM's MF router and EmbedLLM:
/// quality `σ(⟨v_m, P·x⟩ + b_m + logit(prior_m))`, `ln(1 + tokens)` `⟨u_m, P·x⟩ + c_m + prior_m`.
///
/// The item-response form (manifest kind `irt`, as in MIRT routers) adds one difficulty axis
/// shared by every model: quality `σ(⟨v_m, P·x⟩ + b_m − e^{ρ_m}·w·x + logit(prior_m))`, where
/// `w·x` is the prompt's difficulty, `b_m` the model's ability and `e^{ρ_m}` its
/// discrimination; with a small `k` most of what the prompt says about the models goes
/// through that one shared, well-determined direction.
///
/// Because every model is just a vector in a shared latent space, a new model can be added by
/// fitting its vector alone on a few probe prompts ([`MfPredictor::fit_new_model`]).
#[derive(Clone, Debug)]
pub struct MfPredictor {
    manifest: Manifest,
    priors: ModelPriors,
    weights: MfWeights,
}

impl MfPredictor {
    /// Assembles a fitted predictor, checking shapes against the manifest.
    pub fn from_weights(
        manifest: Manifest,
        priors: ModelPriors,
        weights: MfWeights,
    ) -> Result<Self, PredictorError> {
        let (m, d, k) = (
            manifest.models.len(),
            manifest.embedding_dim,
            weights.latent_dim,
        );
        check_lengths(&[
            ("projection", weights.projection.len(), k * d),
            ("quality.emb", weights.quality_emb.len(), m * k),
            ("quality.bias", weights.quality_bias.len(), m),
            ("tokens.emb", weights.tokens_emb.len(), m * k),
            ("tokens.bias", weights.tokens_bias.len(), m),
            ("priors", priors.len(), m),
        ])?;
        let irt = manifest.kind == super::PredictorKind::Irt;
        if irt || weights.has_difficulty() {
            check_lengths(&[
                ("difficulty.w", weights.difficulty.len(), d),
                ("difficulty.log_scale", weights.discrimination.len(), m),
            ])?;
        } else {
            check_lengths(&[("difficulty.log_scale", weights.discrimination.len(), 0)])?;
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

    /// The per-model priors the weights are residuals over (and the fallback for models
    /// without labels); a warm start keeps them so that the weights keep their meaning.
    pub fn priors(&self) -> &ModelPriors {
        &self.priors
    }

    /// The factors.
    pub fn weights(&self) -> &MfWeights {
        &self.weights
    }

    fn project(&self, embedding: &[f32]) -> Result<Vec<f32>, PredictorError> {
        let d = self.manifest.embedding_dim;
        if embedding.len() != d {
            return Err(PredictorError::EmbeddingDim {
                expected: d,
                found: embedding.len(),
            });
        }
        let zeros = vec![0.0; self.weights.latent_dim];
        Ok(affine(&self.weights.projection, &zeros, embedding))
    }

    /// The prompt's difficulty `w·x` (0 without the item-response axis).
    fn difficulty(&self, embedding: &[f32]) -> f32 {
        if self.weights.has_difficulty() {
            dot(&self.weights.difficulty, embedding)
        } else {
            0.0
        }
    }

    /// How much model `j`'s logit falls per unit of difficulty.
    fn discrimination(&self, j: usize) -> f32 {
        self.weights.discrimination.get(j).map_or(0.0, |r| r.exp())
    }

    /// Predicts, failing on an embedding of the wrong length.
    pub fn try_predict(&self, embedding: &[f32]) -> Result<Vec<ModelEstimate>, PredictorError> {
        let h = self.project(embedding)?;
        let delta = self.difficulty(embedding);
        let (k, w) = (self.weights.latent_dim, &self.weights);
        Ok((0..self.priors.len())
            .map(|j| {
                let row = j * k..(j + 1) * k;
                let s = dot(&w.quality_emb[row.clone()], &h) + w.quality_bias[j]
                    - self.discrimination(j) * delta;
                let t = dot(&w.tokens_emb[row], &h) + w.tokens_bias[j];
                let q = sigmoid(s + self.priors.quality_logit(j));
                self.priors.finish(j, q, t + self.priors.log_tokens[j])
            })
            .collect())
    }

    /// Adds `model` by fitting only its quality embedding and bias on `probes` (embedding,
    /// quality in `[0, 1]`), with the projection and every other model frozen. Uses
    /// [`NEW_MODEL_L2`]; see [`MfPredictor::fit_new_model_with`].
    pub fn fit_new_model(
        &mut self,
        model: ModelId,
        probes: &[(Vec<f32>, f32)],
    ) -> Result<(), PredictorError> {
        self.fit_new_model_with(model, probes, NEW_MODEL_L2)
    }

    /// [`MfPredictor::fit_new_model`] with an explicit L2 strength `l2 > 0`.
    ///
    /// Minimises the summed log-loss over the probes plus `l2 · (‖v − v̄‖² + b²)`, where `v̄` is
    /// the mean embedding of the known models: with few probes the new model starts as "an
    /// average model" and moves only as far as the evidence carries it. The problem is strongly
    /// convex and `k + 1`-dimensional, so it is solved exactly by Newton's method. Output tokens
    /// have no probes, so the new model gets the mean token embedding, bias and prior.
    pub fn fit_new_model_with(
        &mut self,
        model: ModelId,
        probes: &[(Vec<f32>, f32)],
        l2: f32,
    ) -> Result<(), PredictorError> {
        let invalid = |probe, reason: String| PredictorError::ProbeInvalid {
            model: model.clone(),
            probe,
            reason,
        };
        if self.manifest.models.contains(&model) {
            return Err(PredictorError::ModelAlreadyKnown { model });
        }
        if probes.is_empty() {
            return Err(invalid(0, "no probes given".into()));
        }
        if !(l2 > 0.0 && l2.is_finite()) {
            return Err(invalid(
                0,
                format!("l2 must be positive and finite, got {l2}"),
            ));
        }
        let mut hs = Vec::with_capacity(probes.len());
        for (i, (x, y)) in probes.iter().enumerate() {
            if !(0.0..=1.0).contains(y) {
                return Err(invalid(i, format!("quality {y} is outside [0, 1]")));
            }
            hs.push(self.project(x).map_err(|e| invalid(i, e.to_string()))?);
        }
        let k = self.weights.latent_dim;
        let prior_q = probes.iter().map(|p| p.1).sum::<f32>() / probes.len() as f32;
        // With the difficulty axis the new model gets the known models' mean discrimination,
        // and each probe's difficulty enters its offset (only `v` and `b` are fitted).
        let rho = self.weights.has_difficulty().then(|| {
            let known = mean_rows(
                &self.weights.discrimination,
                1,
                &self.priors.quality_labelled,
            );
            known[0] as f32
        });
        let offsets: Vec<f64> = probes
            .iter()
            .map(|(x, _)| {
                f64::from(logit(prior_q) - rho.map_or(0.0, f32::exp) * self.difficulty(x))
            })
            .collect();
        let v_bar = mean_rows(&self.weights.quality_emb, k, &self.priors.quality_labelled);
        let theta = newton_logistic(&hs, probes, &v_bar, &offsets, f64::from(l2));

        let tokens_emb = mean_rows(&self.weights.tokens_emb, k, &self.priors.tokens_labelled);
        let labelled = |flags: &[bool], values: &[f32]| -> Option<f32> {
            let picked: Vec<f32> = flags
                .iter()
                .zip(values)
                .filter(|p| *p.0)
                .map(|p| *p.1)
                .collect();
            (!picked.is_empty()).then(|| picked.iter().sum::<f32>() / picked.len() as f32)
        };
        let tokens_bias = labelled(&self.priors.tokens_labelled, &self.weights.tokens_bias);
        let tokens_prior = labelled(&self.priors.tokens_labelled, &self.priors.log_tokens);

        let w = &mut self.weights;
        w.quality_emb.extend(theta[..k].iter().map(|&v| v as f32));
        w.quality_bias.push(theta[k] as f32);
        w.tokens_emb.extend(tokens_emb.iter().map(|&v| v as f32));
        w.tokens_bias.push(tokens_bias.unwrap_or(0.0));
        if let Some(rho) = rho {
            w.discrimination.push(rho);
        }
        let p = &mut self.priors;
        p.quality.push(prior_q);
        p.quality_labelled.push(true);
        p.tokens_labelled.push(tokens_prior.is_some());
        p.log_tokens.push(tokens_prior.unwrap_or_else(|| {
            p.log_tokens.iter().sum::<f32>() / p.log_tokens.len().max(1) as f32
        }));
        self.manifest.models.push(model.clone());
        if let Some(metrics) = self.manifest.metrics.as_object_mut() {
            let entry = serde_json::json!({ "model": model, "probes": probes.len(), "l2": l2 });
            match metrics
                .get_mut("added_models")
                .and_then(serde_json::Value::as_array_mut)
            {
                Some(list) => list.push(entry),
                None => {
                    metrics.insert("added_models".into(), serde_json::json!([entry]));
                }
            }
        }
        Ok(())
    }

    /// Writes `weights.safetensors` and `manifest.json` into `dir` (created if missing).
    pub fn save(&self, dir: &Path) -> Result<(), PredictorError> {
        let (m, d, k) = (
            self.priors.len(),
            self.manifest.embedding_dim,
            self.weights.latent_dim,
        );
        let w = &self.weights;
        let mut out = WeightsWriter::default();
        out.f32("projection", &w.projection, &[k, d])?;
        out.f32("quality.emb", &w.quality_emb, &[m, k])?;
        out.f32("quality.bias", &w.quality_bias, &[m])?;
        out.f32("tokens.emb", &w.tokens_emb, &[m, k])?;
        out.f32("tokens.bias", &w.tokens_bias, &[m])?;
        if w.has_difficulty() {
            out.f32("difficulty.w", &w.difficulty, &[d])?;
            out.f32("difficulty.log_scale", &w.discrimination, &[m])?;
        }
        out.priors(&self.priors)?;
        out.save(dir)?;
        self.manifest.write(dir)
    }

    pub(crate) fn from_parts(
        manifest: Manifest,
        r: &WeightsReader,
    ) -> Result<Self, PredictorError> {
        let (m, d) = (manifest.models.len(), manifest.embedding_dim);
        let (projection, dims) = r.f32_any("projection")?;
        let [k, pd] = dims[..] else {
            return Err(r.invalid("projection", format!("shape {dims:?}, expected [k, {d}]")));
        };
        if pd != d {
            return Err(r.invalid("projection", format!("shape {dims:?}, expected [k, {d}]")));
        }
        let weights = MfWeights {
            latent_dim: k,
            projection,
            quality_emb: r.f32("quality.emb", &[m, k])?,
            quality_bias: r.f32("quality.bias", &[m])?,
            tokens_emb: r.f32("tokens.emb", &[m, k])?,
            tokens_bias: r.f32("tokens.bias", &[m])?,
            difficulty: if r.has("difficulty.w") || manifest.kind == super::PredictorKind::Irt {
                r.f32("difficulty.w", &[d])?
            } else {
                Vec::new()
            },
            discrimination: if r.has("difficulty.w") || manifest.kind == super::PredictorKind::Irt {
                r.f32("difficulty.log_scale", &[m])?
            } else {
                Vec::new()
            },
        };
        Self::from_weights(manifest, r.priors(m)?, weights)
    }
}

super::quality_predictor_from_try_predict!(MfPredictor);

fn logit(q: f32) -> f32 {
    let q = q.clamp(1e-3, 1.0 - 1e-3);
    (q / (1.0 - q)).ln()
}

/// Mean of the `k`-wide rows whose flag is set (all rows when none is), in `f64`.
fn mean_rows(rows: &[f32], k: usize, flags: &[bool]) -> Vec<f64> {
    let use_all = !flags.iter().any(|&f| f);
    let mut mean = vec![0.0f64; k];
    let mut count = 0usize;
    for (row, &flag) in rows.chunks_exact(k.max(1)).zip(flags) {
        if flag || use_all {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, &v)| *m += f64::from(v));
            count += 1;
        }
    }
    mean.iter_mut().for_each(|m| *m /= count.max(1) as f64);
    mean
}

/// Newton's method for `θ = (v, b)` minimising
/// `Σ_i softplus(s_i) − y_i s_i + l2 (‖v − v̄‖² + b²)` with `s_i = v·h_i + b + offsets_i`.
fn newton_logistic(
    hs: &[Vec<f32>],
    probes: &[(Vec<f32>, f32)],
    v_bar: &[f64],
    offsets: &[f64],
    l2: f64,
) -> Vec<f64> {
    let k = v_bar.len();
    let n = k + 1;
    let mut theta: Vec<f64> = v_bar.iter().copied().chain([0.0]).collect();
    let anchor = theta.clone();
    for _ in 0..NEW_MODEL_MAX_ITER {
        let mut grad: Vec<f64> = theta
            .iter()
            .zip(&anchor)
            .map(|(t, a)| 2.0 * l2 * (t - a))
            .collect();
        let mut hess = vec![0.0f64; n * n];
        (0..n).for_each(|i| hess[i * n + i] = 2.0 * l2);
        for ((h, (_, y)), offset) in hs.iter().zip(probes).zip(offsets) {
            let z: Vec<f64> = h.iter().map(|&v| f64::from(v)).chain([1.0]).collect();
            let s: f64 = z.iter().zip(&theta).map(|(a, b)| a * b).sum::<f64>() + offset;
            let p = 1.0 / (1.0 + (-s).exp());
            let r = p - f64::from(*y);
            let c = p * (1.0 - p);
            for a in 0..n {
                grad[a] += r * z[a];
                for b in 0..n {
                    hess[a * n + b] += c * z[a] * z[b];
                }
            }
        }
        let Some(step) = cholesky_solve(&mut hess, &grad, n) else {
            break;
        };
        theta.iter_mut().zip(&step).for_each(|(t, s)| *t -= s);
        if step.iter().map(|s| s * s).sum::<f64>().sqrt() < 1e-9 {
            break;
        }
    }
    theta
}

/// Solves `A x = b` for symmetric positive-definite `A` (overwritten with its Cholesky factor);
/// `None` if `A` is not positive definite.
pub fn cholesky_solve(a: &mut [f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut diag = a[j * n + j];
        for p in 0..j {
            diag -= a[j * n + p] * a[j * n + p];
        }
        if diag <= 0.0 || !diag.is_finite() {
            return None;
        }
        let diag = diag.sqrt();
        a[j * n + j] = diag;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for p in 0..j {
                v -= a[i * n + p] * a[j * n + p];
            }
            a[i * n + j] = v / diag;
        }
    }
    let mut y = b.to_vec();
    for i in 0..n {
        for p in 0..i {
            y[i] -= a[i * n + p] * y[p];
        }
        y[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for p in i + 1..n {
            y[i] -= a[p * n + i] * y[p];
        }
        y[i] /= a[i * n + i];
    }
    Some(y)
}
