use std::time::Instant;

use candle_core::{Tensor, Var};
use classifier::predictors::{
    Artifact, DenseLayer, Manifest, MlpPredictor, MlpWeights, PredictorKind, TrainingSet,
};
use serde::{Deserialize, Serialize};

use crate::neural::{init_rng, report_json, train, uniform, values, var, Network, NeuralConfig};
use crate::warm_start::{extend_metrics, wrong_kind, Aligned};
use crate::{Error, FitOptions, ProgressFn};

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

impl Mlp {
    fn new(w: &MlpWeights, models: usize) -> Result<Self, Error> {
        let layer = |l: &DenseLayer| -> Result<(Var, Var), Error> {
            Ok((
                var(&l.weight, &[l.out_dim, l.in_dim])?,
                var(&l.bias, &[l.out_dim])?,
            ))
        };
        Ok(Self {
            layers: w.hidden.iter().map(layer).collect::<Result<_, _>>()?,
            output: layer(&w.output)?,
            models,
        })
    }

    fn weights(&self) -> Result<MlpWeights, Error> {
        let layer = |(w, b): &(Var, Var)| -> Result<DenseLayer, Error> {
            let dims = w.as_tensor().dims2()?;
            Ok(DenseLayer {
                in_dim: dims.1,
                out_dim: dims.0,
                weight: values(w)?,
                bias: values(b)?,
            })
        };
        Ok(MlpWeights {
            hidden: self.layers.iter().map(layer).collect::<Result<_, _>>()?,
            output: layer(&self.output)?,
        })
    }
}

/// Fresh layers of the given hidden widths for `m` models over `d`-dimensional prompts.
fn initial_weights(m: usize, d: usize, hidden: &[usize], seed: u64) -> MlpWeights {
    let mut rng = init_rng(seed);
    let mut layers = Vec::new();
    let mut width = d;
    for (i, &out) in hidden.iter().enumerate() {
        // Unit-length inputs have coordinates near 1/√d, so the first layer starts wider than
        // the usual 1/√fan_in to give pre-activations of order one.
        let bound = if i == 0 {
            1.0
        } else {
            1.0 / (width as f32).sqrt()
        };
        layers.push(DenseLayer {
            in_dim: width,
            out_dim: out,
            weight: uniform(&mut rng, out * width, bound),
            bias: vec![0.0; out],
        });
        width = out;
    }
    // A small output layer starts every head near its prior.
    let output = DenseLayer {
        in_dim: width,
        out_dim: 2 * m,
        weight: uniform(&mut rng, 2 * m * width, 0.1 / (width as f32).sqrt()),
        bias: vec![0.0; 2 * m],
    };
    MlpWeights {
        hidden: layers,
        output,
    }
}

/// The warm start's layers: its hidden layers, and per column the artifact's quality and
/// token output rows for a model it knows (`from[j]`), fresh rows for a new model.
fn warm_weights(start: &MlpPredictor, from: &[Option<usize>], d: usize, seed: u64) -> MlpWeights {
    let s = start.weights();
    let (m, m_start) = (from.len(), start.manifest().models.len());
    let hidden: Vec<usize> = s.hidden.iter().map(|l| l.out_dim).collect();
    let mut w = initial_weights(m, d, &hidden, seed);
    w.hidden.clone_from(&s.hidden);
    let width = w.output.in_dim;
    for (j, a) in from.iter().enumerate() {
        let Some(a) = *a else { continue };
        // Output rows: `m` quality heads, then `m` token heads.
        for (to, src) in [(j, a), (m + j, m_start + a)] {
            w.output.weight[to * width..(to + 1) * width]
                .copy_from_slice(&s.output.weight[src * width..(src + 1) * width]);
            w.output.bias[to] = s.output.bias[src];
        }
    }
    w
}

/// Fits a multi-output MLP: shared ReLU hidden layers, then per model a quality logit and a
/// `ln(1 + tokens)` value, both residuals over the per-model priors. Loss: BCE on labelled
/// quality cells plus weighted MSE on labelled token cells; AdamW; early stopping.
pub fn fit_mlp(
    set: &TrainingSet,
    config: &MlpConfig,
    progress: ProgressFn<'_>,
) -> Result<MlpPredictor, Error> {
    fit_mlp_with(set, config, FitOptions::default(), progress)
}

/// [`fit_mlp`] with cell weights and an optional warm start from an [`Artifact::Mlp`]: the
/// hidden layers and the known models' output rows start from the artifact's, new models'
/// rows from a fresh draw, and training runs `config.neural` as configured (0 epochs allowed).
/// The layer widths are the artifact's; `config.hidden` is ignored.
pub fn fit_mlp_with(
    set: &TrainingSet,
    config: &MlpConfig,
    options: FitOptions<'_>,
    mut progress: ProgressFn<'_>,
) -> Result<MlpPredictor, Error> {
    let start = match options.warm_start {
        None => None,
        Some(Artifact::Mlp(p)) => Some(p),
        Some(other) => return Err(wrong_kind(other, PredictorKind::Mlp)),
    };
    config.neural.check(start.is_some())?;
    let aligned = Aligned::new(set, options.weights, start.map(MlpPredictor::manifest))?;
    let set = aligned.set.as_ref();
    let mut config = config.clone();
    if let Some(start) = start {
        config.hidden = start.weights().hidden.iter().map(|l| l.out_dim).collect();
    }
    if config.hidden.contains(&0) {
        return Err(Error::Config {
            field: "hidden",
            reason: "layer widths must be at least 1".into(),
        });
    }
    let clock = Instant::now();
    let (m, d) = (set.models.len(), set.dim());
    let initial = match start {
        Some(start) => warm_weights(start, &aligned.from, d, config.neural.seed),
        None => initial_weights(m, d, &config.hidden, config.neural.seed),
    };
    let net = Mlp::new(&initial, m)?;
    let priors = aligned.priors(start.map(MlpPredictor::priors));
    let report = train(
        &net,
        set,
        aligned.weights(),
        &priors,
        &config.neural,
        start.is_some(),
        &mut progress,
    )?;
    let mut manifest = Manifest::new(
        PredictorKind::Mlp,
        set.models.clone(),
        d,
        set.sha256(),
        serde_json::to_value(&config).unwrap_or_default(),
    );
    manifest.metrics = report_json(&report, set.len(), clock.elapsed().as_secs_f64());
    extend_metrics(
        &mut manifest.metrics,
        aligned.metrics(start.map(MlpPredictor::manifest)),
    );
    Ok(MlpPredictor::from_weights(
        manifest,
        priors,
        net.weights()?,
    )?)
}
