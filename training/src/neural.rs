//! The training loop shared by the MLP and matrix factorisation: masked loss, AdamW,
//! shuffled minibatches, early stopping on a validation slice.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use classifier::predictors::{to_log_tokens, ModelPriors, TrainingSet};
use rand::distributions::{Distribution, Uniform};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::metrics::split_indices;
use crate::progress::report;
use crate::{CellWeights, Error, Progress, ProgressFn};

/// Optimiser and early-stopping settings shared by [`crate::MlpConfig`] and
/// [`crate::MfConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeuralConfig {
    /// AdamW learning rate. Default 1e-3.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay. Default 1e-4.
    pub weight_decay: f64,
    /// Rows per minibatch. Default 256.
    pub batch_size: usize,
    /// Epochs at most. Default 100. 0 is allowed only for a warm start, which then returns
    /// the starting weights (with any new models' columns freshly initialised).
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation loss; the best epoch's weights
    /// are kept. Default 8.
    pub patience: usize,
    /// Share of rows held out for early stopping (0 disables it: all epochs run). Default 0.1.
    pub validation_fraction: f64,
    /// Weight of the token MSE against the quality BCE in the loss. Default 0.5: log-token
    /// errors are routinely larger than log-losses, and quality matters more for routing.
    pub token_loss_weight: f64,
    /// Seeds initialisation, the validation split and minibatch order. Default 0.
    pub seed: u64,
}

impl Default for NeuralConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            batch_size: 256,
            max_epochs: 100,
            patience: 8,
            validation_fraction: 0.1,
            token_loss_weight: 0.5,
            seed: 0,
        }
    }
}

impl NeuralConfig {
    pub(crate) fn check(&self, warm_start: bool) -> Result<(), Error> {
        let bad = |field, reason: &str| {
            Err(Error::Config {
                field,
                reason: reason.into(),
            })
        };
        if self.learning_rate.is_nan() || self.learning_rate <= 0.0 {
            return bad("learning_rate", "must be positive");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if self.max_epochs == 0 && !warm_start {
            return bad(
                "max_epochs",
                "must be at least 1 (0 only with a warm start)",
            );
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return bad("validation_fraction", "must be in [0, 1)");
        }
        Ok(())
    }
}

/// A network predicting, per row, residuals over the priors: `(quality logits, ln(1 + tokens))`,
/// each `rows × models`.
pub(crate) trait Network {
    fn vars(&self) -> Vec<Var>;
    fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)>;
}

/// What the loop reports back for the manifest.
pub(crate) struct FitReport {
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_val_loss: Option<f64>,
    pub last_train_loss: f64,
}

/// Labels as dense tensors with masks that hold each labelled cell's weight (1 for the plain
/// masked loss) and 0 for unlabelled cells.
struct Tables {
    x: Tensor,
    q: Tensor,
    qm: Tensor,
    t: Tensor,
    tm: Tensor,
}

impl Tables {
    fn new(
        set: &TrainingSet,
        weights: Option<&CellWeights>,
        rows: &[usize],
    ) -> candle_core::Result<Self> {
        let (n, d, m) = (rows.len(), set.dim(), set.models.len());
        let x: Vec<f32> = rows
            .iter()
            .flat_map(|&i| set.x[i].iter().copied())
            .collect();
        let cells = |table: &[Vec<Option<f32>>], map: fn(f32) -> f32| {
            let values: Vec<f32> = rows
                .iter()
                .flat_map(|&i| table[i].iter().map(|c| c.map_or(0.0, map)))
                .collect();
            let mask: Vec<f32> = rows
                .iter()
                .flat_map(|&i| {
                    table[i].iter().enumerate().map(move |(j, c)| match c {
                        None => 0.0,
                        Some(_) => weights.map_or(1.0, |w| w.get(i, j)),
                    })
                })
                .collect();
            (values, mask)
        };
        let (q, qm) = cells(&set.quality, |v| v);
        let (t, tm) = cells(&set.output_tokens, to_log_tokens);
        let dev = &Device::Cpu;
        Ok(Self {
            x: Tensor::from_vec(x, (n, d), dev)?,
            q: Tensor::from_vec(q, (n, m), dev)?,
            qm: Tensor::from_vec(qm, (n, m), dev)?,
            t: Tensor::from_vec(t, (n, m), dev)?,
            tm: Tensor::from_vec(tm, (n, m), dev)?,
        })
    }

    fn rows(&self, idx: &[u32]) -> candle_core::Result<Self> {
        let idx = Tensor::from_slice(idx, idx.len(), &Device::Cpu)?;
        Ok(Self {
            x: self.x.index_select(&idx, 0)?,
            q: self.q.index_select(&idx, 0)?,
            qm: self.qm.index_select(&idx, 0)?,
            t: self.t.index_select(&idx, 0)?,
            tm: self.tm.index_select(&idx, 0)?,
        })
    }
}

/// Masked loss: BCE-with-logits on labelled quality cells plus `w ×` MSE on labelled
/// log-token cells, each a weighted mean over its labelled cells (the cell weights are in the
/// masks), so that a weight of 2 counts like a duplicated row.
fn masked_loss(
    net: &impl Network,
    b: &Tables,
    prior_logit: &Tensor,
    prior_tokens: &Tensor,
    token_weight: f64,
) -> candle_core::Result<Tensor> {
    let (zq, zt) = net.forward(&b.x)?;
    let z = zq.broadcast_add(prior_logit)?;
    // softplus(z) − y·z, written stably as relu(z) + ln(1 + e^{−|z|}) − y·z.
    let bce = ((z.relu()? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)? - (&b.q * &z)?)?;
    let q_loss = ((bce * &b.qm)?.sum_all()? / (b.qm.sum_all()? + 1e-6)?)?;
    let err = (zt.broadcast_add(prior_tokens)? - &b.t)?;
    let t_loss = ((err.sqr()? * &b.tm)?.sum_all()? / (b.tm.sum_all()? + 1e-6)?)?;
    q_loss + (t_loss * token_weight)?
}

/// Trains `net` in place; on return its variables hold the best validation epoch's values.
/// `weights` (checked against `set` by the caller) scale each labelled cell's loss. With
/// `warm_start` the starting weights compete as epoch 0, so that continuing a fit never ends
/// worse on the validation slice than where it began.
pub(crate) fn train(
    net: &impl Network,
    set: &TrainingSet,
    weights: Option<&CellWeights>,
    priors: &ModelPriors,
    cfg: &NeuralConfig,
    warm_start: bool,
    progress: &mut ProgressFn<'_>,
) -> Result<FitReport, Error> {
    let m = set.models.len();
    let dev = &Device::Cpu;
    let prior_logit: Vec<f32> = priors
        .quality
        .iter()
        .map(|q| {
            let q = q.clamp(1e-3, 1.0 - 1e-3);
            (q / (1.0 - q)).ln()
        })
        .collect();
    let prior_logit = Tensor::from_vec(prior_logit, (1, m), dev)?;
    let prior_tokens = Tensor::from_slice(&priors.log_tokens, (1, m), dev)?;
    let (train_rows, val_rows) = split_indices(set.len(), cfg.validation_fraction, cfg.seed);
    let train_tables = Tables::new(set, weights, &train_rows)?;
    let val_tables = if val_rows.is_empty() || cfg.validation_fraction == 0.0 {
        None
    } else {
        Some(Tables::new(set, weights, &val_rows)?)
    };
    let vars = net.vars();
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: cfg.learning_rate,
            weight_decay: cfg.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1));
    let mut order: Vec<u32> = (0..train_rows.len() as u32).collect();
    let snapshot = || {
        vars.iter()
            .map(|v| v.as_tensor().copy())
            .collect::<candle_core::Result<Vec<_>>>()
    };
    let val_loss_now = || -> candle_core::Result<Option<f64>> {
        match &val_tables {
            Some(v) => Ok(Some(f64::from(
                masked_loss(net, v, &prior_logit, &prior_tokens, cfg.token_loss_weight)?
                    .to_scalar::<f32>()?,
            ))),
            None => Ok(None),
        }
    };
    let mut best: Option<(f64, usize, Vec<Tensor>)> = None;
    if warm_start && cfg.max_epochs > 0 {
        if let Some(vl) = val_loss_now()? {
            best = Some((vl, 0, snapshot()?));
        }
    }
    let mut report_out = FitReport {
        epochs: 0,
        best_epoch: 0,
        best_val_loss: None,
        last_train_loss: f64::NAN,
    };
    for epoch in 1..=cfg.max_epochs {
        order.shuffle(&mut rng);
        let (mut sum, mut batches) = (0.0f64, 0usize);
        for chunk in order.chunks(cfg.batch_size) {
            let batch = train_tables.rows(chunk)?;
            let loss = masked_loss(
                net,
                &batch,
                &prior_logit,
                &prior_tokens,
                cfg.token_loss_weight,
            )?;
            opt.backward_step(&loss)?;
            sum += f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
            batches += 1;
        }
        let train_loss = sum / batches.max(1) as f64;
        report_out.epochs = epoch;
        report_out.last_train_loss = train_loss;
        let val_loss = val_loss_now()?;
        let mut stop = false;
        if let Some(vl) = val_loss {
            if best.as_ref().is_none_or(|b| vl < b.0 - 1e-6) {
                best = Some((vl, epoch, snapshot()?));
            } else if best.as_ref().is_some_and(|b| epoch - b.1 >= cfg.patience) {
                stop = true;
            }
        }
        report(
            progress,
            Progress {
                done: epoch as u64,
                total: cfg.max_epochs as u64,
                message: match val_loss {
                    Some(vl) => format!("epoch {epoch} train {train_loss:.4} val {vl:.4}"),
                    None => format!("epoch {epoch} train {train_loss:.4}"),
                },
                train_loss: Some(train_loss),
                val_loss,
            },
        );
        if stop {
            break;
        }
    }
    match best {
        Some((vl, epoch, snapshot)) => {
            for (var, value) in vars.iter().zip(&snapshot) {
                var.set(value)?;
            }
            report_out.best_epoch = epoch;
            report_out.best_val_loss = Some(vl);
        }
        None => report_out.best_epoch = report_out.epochs,
    }
    Ok(report_out)
}

/// `len` values drawn uniformly from `[-bound, bound]`.
pub(crate) fn uniform(rng: &mut ChaCha8Rng, len: usize, bound: f32) -> Vec<f32> {
    let dist = Uniform::new_inclusive(-bound, bound);
    (0..len).map(|_| dist.sample(rng)).collect()
}

/// A variable holding `data` in the given shape.
pub(crate) fn var(data: &[f32], shape: &[usize]) -> Result<Var, Error> {
    Ok(Var::from_tensor(&Tensor::from_slice(
        data,
        shape,
        &Device::Cpu,
    )?)?)
}

/// A variable's values, flattened row-major.
pub(crate) fn values(var: &Var) -> Result<Vec<f32>, Error> {
    Ok(var.as_tensor().flatten_all()?.to_vec1::<f32>()?)
}

/// The seeded RNG for initialisation.
pub(crate) fn init_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Manifest metrics common to both networks.
pub(crate) fn report_json(r: &FitReport, rows: usize, seconds: f64) -> serde_json::Value {
    serde_json::json!({
        "rows": rows,
        "epochs": r.epochs,
        "best_epoch": r.best_epoch,
        "best_val_loss": r.best_val_loss,
        "last_train_loss": r.last_train_loss,
        "fit_seconds": seconds,
    })
}
