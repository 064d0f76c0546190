use std::time::Instant;

use candle_core::{Tensor, Var};
use classifier::predictors::{
    DenseLayer, Manifest, MlpPredictor, MlpWeights, ModelPriors, PredictorKind, TrainingSet,
};
use serde::{Deserialize, Serialize};

use crate::neural::{
    init_rng, report_json, train, uniform_var, values, zeros_var, Network, NeuralConfig,
};
use crate::{Error, ProgressFn};

/// MLP settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Hidden layer widths, each followed by a ReLU. Default `[256]`: one hidden layer is
    /// enough on top of a sentence encoder, and keeps 10k-prompt fits within a minute.
    pub hidden: Vec<usize>,
    /// Optimiser and early stopping (defaults as in [`NeuralConfig`]).
    pub neural: NeuralConfig,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![256],
            neural: NeuralConfig::default(),
        }
    }
}

struct Mlp {
    layers: Vec<(Var, Var)>,
    output: (Var, Var),
    models: usize,
}

impl Network for Mlp {
    fn vars(&self) -> Vec<Var> {
        self.layers
            .iter()
            .chain([&self.output])
            .flat_map(|(w, b)| [w.clone(), b.clone()])
            .collect()
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let mut h = x.clone();
        for (w, b) in &self.layers {
            h = h
                .matmul(&w.as_tensor().t()?)?
                .broadcast_add(b.as_tensor())?
                .relu()?;
        }
        let (w, b) = &self.output;
        let out = h
            .matmul(&w.as_tensor().t()?)?
            .broadcast_add(b.as_tensor())?;
        Ok((
            out.narrow(1, 0, self.models)?,
            out.narrow(1, self.models, self.models)?,
        ))
    }
}

/// Fits a multi-output MLP: shared ReLU hidden layers, then per model a quality logit and a
/// `ln(1 + tokens)` value, both residuals over the per-model priors. Loss: BCE on labelled
/// quality cells plus weighted MSE on labelled token cells; AdamW; early stopping.
pub fn fit_mlp(
    set: &TrainingSet,
    config: &MlpConfig,
    mut progress: ProgressFn<'_>,
) -> Result<MlpPredictor, Error> {
    if set.is_empty() {
        return Err(Error::EmptyTrainingSet);
    }
    set.validate()?;
    if config.hidden.contains(&0) {
        return Err(Error::Config {
            field: "hidden",
            reason: "layer widths must be at least 1".into(),
        });
    }
    let start = Instant::now();
    let (m, d) = (set.models.len(), set.dim());
    let mut rng = init_rng(config.neural.seed);
    let mut layers = Vec::new();
    let mut width = d;
    for (i, &out) in config.hidden.iter().enumerate() {
        // Unit-length inputs have coordinates near 1/√d, so the first layer starts wider than
        // the usual 1/√fan_in to give pre-activations of order one.
        let bound = if i == 0 {
            1.0
        } else {
            1.0 / (width as f32).sqrt()
        };
        layers.push((uniform_var(&mut rng, out, width, bound)?, zeros_var(out)?));
        width = out;
    }
    // A small output layer starts every head near its prior.
    let output = (
        uniform_var(&mut rng, 2 * m, width, 0.1 / (width as f32).sqrt())?,
        zeros_var(2 * m)?,
    );
    let net = Mlp {
        layers,
        output,
        models: m,
    };
    let priors = ModelPriors::from_training_set(set);
    let report = train(&net, set, &priors, &config.neural, &mut progress)?;

    let layer = |(w, b): &(Var, Var)| -> Result<DenseLayer, Error> {
        let dims = w.as_tensor().dims2()?;
        Ok(DenseLayer {
            in_dim: dims.1,
            out_dim: dims.0,
            weight: values(w)?,
            bias: values(b)?,
        })
    };
    let weights = MlpWeights {
        hidden: net.layers.iter().map(layer).collect::<Result<_, _>>()?,
        output: layer(&net.output)?,
    };
    let mut manifest = Manifest::new(
        PredictorKind::Mlp,
        set.models.clone(),
        d,
        set.sha256(),
        serde_json::to_value(config).unwrap_or_default(),
    );
    manifest.metrics = report_json(&report, set.len(), start.elapsed().as_secs_f64());
    Ok(MlpPredictor::from_weights(manifest, priors, weights)?)
}
