use std::time::Instant;

use candle_core::{Tensor, Var};
use classifier::predictors::{
    Manifest, MfPredictor, MfWeights, ModelPriors, PredictorKind, TrainingSet,
};
use serde::{Deserialize, Serialize};

use crate::neural::{
    init_rng, report_json, train, uniform_var, values, zeros_var, Network, NeuralConfig,
};
use crate::{Error, ProgressFn};

/// Matrix-factorisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfConfig {
    /// Latent dimension `k` of the prompt projection and model embeddings. Default 64
    /// (RouteLLM uses 128 over 1536-d embeddings; 384-d MiniLM vectors need fewer).
    pub latent_dim: usize,
    /// Optimiser and early stopping. Default as [`NeuralConfig`] but with learning rate 3e-3:
    /// the bilinear model has few parameters per row and converges slowly at 1e-3.
    pub neural: NeuralConfig,
}

impl Default for MfConfig {
    fn default() -> Self {
        Self {
            latent_dim: 64,
            neural: NeuralConfig {
                learning_rate: 3e-3,
                ..NeuralConfig::default()
            },
        }
    }
}

struct Mf {
    projection: Var,
    quality_emb: Var,
    quality_bias: Var,
    tokens_emb: Var,
    tokens_bias: Var,
}

impl Network for Mf {
    fn vars(&self) -> Vec<Var> {
        vec![
            self.projection.clone(),
            self.quality_emb.clone(),
            self.quality_bias.clone(),
            self.tokens_emb.clone(),
            self.tokens_bias.clone(),
        ]
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let h = x.matmul(&self.projection.as_tensor().t()?)?;
        let q = h
            .matmul(&self.quality_emb.as_tensor().t()?)?
            .broadcast_add(self.quality_bias.as_tensor())?;
        let t = h
            .matmul(&self.tokens_emb.as_tensor().t()?)?
            .broadcast_add(self.tokens_bias.as_tensor())?;
        Ok((q, t))
    }
}

/// Fits matrix factorisation: a shared prompt projection `P` (`k × d`) and per model a
/// quality embedding and bias and a token embedding and bias, with the masked loss of
/// [`crate::fit_mlp`]. The result can take new models later through
/// [`MfPredictor::fit_new_model`].
pub fn fit_mf(
    set: &TrainingSet,
    config: &MfConfig,
    mut progress: ProgressFn<'_>,
) -> Result<MfPredictor, Error> {
    if set.is_empty() {
        return Err(Error::EmptyTrainingSet);
    }
    set.validate()?;
    if config.latent_dim == 0 {
        return Err(Error::Config {
            field: "latent_dim",
            reason: "must be at least 1".into(),
        });
    }
    let start = Instant::now();
    let (m, d, k) = (set.models.len(), set.dim(), config.latent_dim);
    let mut rng = init_rng(config.neural.seed);
    // Unit-length inputs: a ±1 projection gives latent coordinates of order one; small model
    // embeddings start every model near its prior.
    let net = Mf {
        projection: uniform_var(&mut rng, k, d, 1.0)?,
        quality_emb: uniform_var(&mut rng, m, k, 0.1 / (k as f32).sqrt())?,
        quality_bias: zeros_var(m)?,
        tokens_emb: uniform_var(&mut rng, m, k, 0.1 / (k as f32).sqrt())?,
        tokens_bias: zeros_var(m)?,
    };
    let priors = ModelPriors::from_training_set(set);
    let report = train(&net, set, &priors, &config.neural, &mut progress)?;
    let weights = MfWeights {
        latent_dim: k,
        projection: values(&net.projection)?,
        quality_emb: values(&net.quality_emb)?,
        quality_bias: values(&net.quality_bias)?,
        tokens_emb: values(&net.tokens_emb)?,
        tokens_bias: values(&net.tokens_bias)?,
    };
    let mut manifest = Manifest::new(
        PredictorKind::Mf,
        set.models.clone(),
        d,
        set.sha256(),
        serde_json::to_value(config).unwrap_or_default(),
    );
    manifest.metrics = report_json(&report, set.len(), start.elapsed().as_secs_f64());
    Ok(MfPredictor::from_weights(manifest, priors, weights)?)
}
