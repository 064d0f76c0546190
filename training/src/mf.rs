use std::time::Instant;

use candle_core::{Tensor, Var};
use classifier::predictors::{
    Artifact, Manifest, MfPredictor, MfWeights, PredictorKind, TrainingSet,
};
use serde::{Deserialize, Serialize};

use crate::neural::{init_rng, report_json, train, uniform, values, var, Network, NeuralConfig};
use crate::warm_start::{extend_metrics, wrong_kind, Aligned};
use crate::{Error, FitOptions, ProgressFn};

/// Matrix-factorisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfConfig {
    /// Latent dimension `k` of the prompt projection and model embeddings. Default 64
    /// (RouteLLM uses 128 over 1536-d embeddings; 384-d MiniLM vectors need fewer).
    pub latent_dim: usize,
    /// Optimiser and early stopping. Default as [`NeuralConfig`] but with learning rate 3e-3:
    /// the bilinear model has few parameters per row and converges slowly at 1e-3.
    pub neural: NeuralConfig,
    /// Add the item-response difficulty axis (manifest kind `irt`). Default false.
    #[serde(default)]
    pub difficulty_axis: bool,
}

impl MfConfig {
    /// The item-response predictor's defaults: a shared difficulty axis and a small latent
    /// space (4), so that with a few thousand prompts most of the signal goes through the one
    /// well-determined direction instead of 64 noisy ones.
    pub fn irt() -> Self {
        Self {
            latent_dim: 4,
            difficulty_axis: true,
            ..Self::default()
        }
    }
}

impl Default for MfConfig {
    fn default() -> Self {
        Self {
            latent_dim: 64,
            neural: NeuralConfig {
                learning_rate: 3e-3,
                ..NeuralConfig::default()
            },
            difficulty_axis: false,
        }
    }
}

struct Mf {
    projection: Var,
    quality_emb: Var,
    quality_bias: Var,
    tokens_emb: Var,
    tokens_bias: Var,
    /// `d × 1` difficulty weights and `m` log-discriminations (item-response form only).
    difficulty: Option<(Var, Var)>,
}

impl Network for Mf {
    fn vars(&self) -> Vec<Var> {
        let mut vars = vec![
            self.projection.clone(),
            self.quality_emb.clone(),
            self.quality_bias.clone(),
            self.tokens_emb.clone(),
            self.tokens_bias.clone(),
        ];
        if let Some((w, rho)) = &self.difficulty {
            vars.extend([w.clone(), rho.clone()]);
        }
        vars
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let h = x.matmul(&self.projection.as_tensor().t()?)?;
        let mut q = h
            .matmul(&self.quality_emb.as_tensor().t()?)?
            .broadcast_add(self.quality_bias.as_tensor())?;
        if let Some((w, rho)) = &self.difficulty {
            // n × 1 difficulties times 1 × m discriminations.
            let delta = x.matmul(w.as_tensor())?;
            let scale = rho.as_tensor().exp()?.unsqueeze(0)?;
            q = (q - delta.broadcast_mul(&scale)?)?;
        }
        let t = h
            .matmul(&self.tokens_emb.as_tensor().t()?)?
            .broadcast_add(self.tokens_bias.as_tensor())?;
        Ok((q, t))
    }
}

impl Mf {
    fn new(w: &MfWeights, m: usize, d: usize) -> Result<Self, Error> {
        let k = w.latent_dim;
        Ok(Self {
            projection: var(&w.projection, &[k, d])?,
            quality_emb: var(&w.quality_emb, &[m, k])?,
            quality_bias: var(&w.quality_bias, &[m])?,
            tokens_emb: var(&w.tokens_emb, &[m, k])?,
            tokens_bias: var(&w.tokens_bias, &[m])?,
            difficulty: if w.has_difficulty() {
                Some((var(&w.difficulty, &[d, 1])?, var(&w.discrimination, &[m])?))
            } else {
                None
            },
        })
    }

    fn weights(&self, k: usize) -> Result<MfWeights, Error> {
        Ok(MfWeights {
            latent_dim: k,
            projection: values(&self.projection)?,
            quality_emb: values(&self.quality_emb)?,
            quality_bias: values(&self.quality_bias)?,
            tokens_emb: values(&self.tokens_emb)?,
            tokens_bias: values(&self.tokens_bias)?,
            difficulty: match &self.difficulty {
                Some((w, _)) => values(w)?,
                None => Vec::new(),
            },
            discrimination: match &self.difficulty {
                Some((_, rho)) => values(rho)?,
                None => Vec::new(),
            },
        })
    }
}

/// Fresh factors for `m` models over `d`-dimensional prompts (with the difficulty axis: zero
/// difficulty weights and unit discriminations, so training starts from plain MF).
fn initial_weights(m: usize, d: usize, k: usize, irt: bool, seed: u64) -> MfWeights {
    let mut rng = init_rng(seed);
    // Unit-length inputs: a ±1 projection gives latent coordinates of order one; small model
    // embeddings start every model near its prior.
    let emb_bound = 0.1 / (k as f32).sqrt();
    MfWeights {
        latent_dim: k,
        projection: uniform(&mut rng, k * d, 1.0),
        quality_emb: uniform(&mut rng, m * k, emb_bound),
        quality_bias: vec![0.0; m],
        tokens_emb: uniform(&mut rng, m * k, emb_bound),
        tokens_bias: vec![0.0; m],
        difficulty: if irt { vec![0.0; d] } else { Vec::new() },
        discrimination: if irt { vec![0.0; m] } else { Vec::new() },
    }
}

/// The warm start's factors: its projection, and per column the artifact's embeddings and
/// biases for a model it knows (`from[j]`), fresh ones for a new model.
fn warm_weights(start: &MfPredictor, from: &[Option<usize>], d: usize, seed: u64) -> MfWeights {
    let s = start.weights();
    let k = s.latent_dim;
    let mut w = initial_weights(from.len(), d, k, s.has_difficulty(), seed);
    w.projection.clone_from(&s.projection);
    w.difficulty.clone_from(&s.difficulty);
    for (j, a) in from.iter().enumerate() {
        let Some(a) = *a else { continue };
        w.quality_emb[j * k..(j + 1) * k].copy_from_slice(&s.quality_emb[a * k..(a + 1) * k]);
        w.tokens_emb[j * k..(j + 1) * k].copy_from_slice(&s.tokens_emb[a * k..(a + 1) * k]);
        w.quality_bias[j] = s.quality_bias[a];
        w.tokens_bias[j] = s.tokens_bias[a];
        if s.has_difficulty() {
            w.discrimination[j] = s.discrimination[a];
        }
    }
    w
}

/// Fits matrix factorisation: a shared prompt projection `P` (`k × d`) and per model a
/// quality embedding and bias and a token embedding and bias, with the masked loss of
/// [`crate::fit_mlp`]; with `config.difficulty_axis` also the item-response difficulty
/// weights and per-model discriminations (manifest kind `irt`). The result can take new models later through
/// [`MfPredictor::fit_new_model`].
pub fn fit_mf(
    set: &TrainingSet,
    config: &MfConfig,
    progress: ProgressFn<'_>,
) -> Result<MfPredictor, Error> {
    fit_mf_with(set, config, FitOptions::default(), progress)
}

/// [`fit_mf`] with cell weights and an optional warm start from an [`Artifact::Mf`]: the
/// projection and the known models' embeddings and biases start from the artifact's, new
/// models' from a fresh draw, and training runs `config.neural` as configured (0 epochs
/// allowed). The latent dimension is the artifact's; `config.latent_dim` is ignored.
pub fn fit_mf_with(
    set: &TrainingSet,
    config: &MfConfig,
    options: FitOptions<'_>,
    mut progress: ProgressFn<'_>,
) -> Result<MfPredictor, Error> {
    let start = match options.warm_start {
        None => None,
        Some(Artifact::Mf(p)) => Some(p),
        Some(other) => return Err(wrong_kind(other, PredictorKind::Mf)),
    };
    config.neural.check(start.is_some())?;
    let aligned = Aligned::new(set, options.weights, start.map(MfPredictor::manifest))?;
    let set = aligned.set.as_ref();
    let mut config = config.clone();
    if let Some(start) = start {
        config.latent_dim = start.weights().latent_dim;
        config.difficulty_axis = start.weights().has_difficulty();
    }
    if config.latent_dim == 0 {
        return Err(Error::Config {
            field: "latent_dim",
            reason: "must be at least 1".into(),
        });
    }
    let clock = Instant::now();
    let (m, d, k) = (set.models.len(), set.dim(), config.latent_dim);
    let initial = match start {
        Some(start) => warm_weights(start, &aligned.from, d, config.neural.seed),
        None => initial_weights(m, d, k, config.difficulty_axis, config.neural.seed),
    };
    let net = Mf::new(&initial, m, d)?;
    let priors = aligned.priors(start.map(MfPredictor::priors));
    let report = train(
        &net,
        set,
        aligned.weights(),
        &priors,
        &config.neural,
        start.is_some(),
        &mut progress,
    )?;
    let kind = if config.difficulty_axis {
        PredictorKind::Irt
    } else {
        PredictorKind::Mf
    };
    let mut manifest = Manifest::new(
        kind,
        set.models.clone(),
        d,
        set.sha256(),
        serde_json::to_value(&config).unwrap_or_default(),
    );
    manifest.metrics = report_json(&report, set.len(), clock.elapsed().as_secs_f64());
    extend_metrics(
        &mut manifest.metrics,
        aligned.metrics(start.map(MfPredictor::manifest)),
    );
    Ok(MfPredictor::from_weights(
        manifest,
        priors,
        net.weights(k)?,
    )?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::synthetic::{planted, PlantedConfig};
    use router_core::{ModelId, QualityPredictor};

    #[test]
    fn irt_fits_round_trips_and_takes_new_models_with_its_difficulty_axis() {
        let p = planted(&PlantedConfig {
            rows: 600,
            latent: 1,
            ..Default::default()
        });
        let mut config = MfConfig::irt();
        config.neural.max_epochs = 30;
        let mut irt = fit_mf(&p.set, &config, None).unwrap();
        assert_eq!(irt.manifest().kind, PredictorKind::Irt);
        let w = irt.weights();
        assert_eq!((w.difficulty.len(), w.discrimination.len()), (32, 4));
        assert!(
            w.difficulty.iter().any(|v| *v != 0.0),
            "the difficulty axis was trained"
        );

        let dir = tempfile::tempdir().unwrap();
        irt.save(dir.path()).unwrap();
        let loaded = Artifact::load(dir.path()).unwrap();
        assert_eq!(loaded.manifest().kind, PredictorKind::Irt);
        let x = &p.set.x[0];
        for (a, b) in irt.predict(x).iter().zip(loaded.predict(x)) {
            assert!((a.quality - b.quality).abs() < 1e-6);
        }

        // A new model from probes gets the mean discrimination and follows its probes.
        let probes: Vec<(Vec<f32>, f32)> = (0..40).map(|i| (p.set.x[i].clone(), 1.0)).collect();
        irt.fit_new_model(ModelId::new("new"), &probes).unwrap();
        assert_eq!(irt.weights().discrimination.len(), 5);
        let est = irt.predict(&p.set.x[1]);
        assert!(est[4].quality > 0.5, "{est:?}");
    }
}
