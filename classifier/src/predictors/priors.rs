use router_core::ModelEstimate;

use super::TrainingSet;

/// Output tokens assumed for every model when the training set has no token label at all.
pub const DEFAULT_OUTPUT_TOKENS: f32 = 256.0;

/// Quality assumed when the training set has no quality label at all.
const DEFAULT_QUALITY: f32 = 0.5;

/// Maps an output-token count to the space predictors fit it in: `ln(1 + tokens)`.
///
/// Token counts are heavy-tailed (a few answers are 50× longer than the median), so squared
/// error on raw counts would be dominated by outliers; `1 +` keeps zero-token answers finite.
pub fn to_log_tokens(tokens: f32) -> f32 {
    tokens.max(0.0).ln_1p()
}

/// Inverse of [`to_log_tokens`], clamped at zero.
pub fn from_log_tokens(log_tokens: f32) -> f32 {
    log_tokens.exp_m1().max(0.0)
}

/// Per-model means, the fallback of every predictor and the baseline they must beat.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPriors {
    /// Mean labelled quality per model; the mean over all models where a model has none.
    pub quality: Vec<f32>,
    /// Mean labelled `ln(1 + tokens)` per model; the mean over all models where it has none.
    pub log_tokens: Vec<f32>,
    /// Whether the model had at least one quality label (if not, predictors return the prior).
    pub quality_labelled: Vec<bool>,
    /// Whether the model had at least one token label (if not, predictors return the prior).
    pub tokens_labelled: Vec<bool>,
}

impl ModelPriors {
    /// Computes the per-model means of a training set.
    pub fn from_training_set(set: &TrainingSet) -> Self {
        let m = set.models.len();
        let quality = column_means(&set.quality, m, |v| v);
        let tokens = column_means(&set.output_tokens, m, to_log_tokens);
        let fill = |means: Vec<Option<f32>>, default: f32| -> (Vec<f32>, Vec<bool>) {
            let known: Vec<f32> = means.iter().flatten().copied().collect();
            let global = if known.is_empty() {
                default
            } else {
                known.iter().sum::<f32>() / known.len() as f32
            };
            let labelled = means.iter().map(Option::is_some).collect();
            (
                means.into_iter().map(|v| v.unwrap_or(global)).collect(),
                labelled,
            )
        };
        let (quality, quality_labelled) = fill(quality, DEFAULT_QUALITY);
        let (log_tokens, tokens_labelled) = fill(tokens, to_log_tokens(DEFAULT_OUTPUT_TOKENS));
        Self {
            quality,
            log_tokens,
            quality_labelled,
            tokens_labelled,
        }
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.quality.len()
    }

    /// Whether there are no models.
    pub fn is_empty(&self) -> bool {
        self.quality.is_empty()
    }

    /// The prior estimates, one per model: the per-model-mean baseline.
    pub fn estimates(&self) -> Vec<ModelEstimate> {
        (0..self.len()).map(|j| self.estimate(j)).collect()
    }

    /// The prior estimate of model `j`.
    pub(crate) fn estimate(&self, j: usize) -> ModelEstimate {
        ModelEstimate {
            quality: f64::from(self.quality[j]),
            output_tokens: f64::from(from_log_tokens(self.log_tokens[j])),
        }
    }

    /// Combines a model's raw predictions with the fallback rule: a model with no label of a
    /// kind gets its prior for that kind.
    pub(crate) fn finish(&self, j: usize, quality: f32, log_tokens: f32) -> ModelEstimate {
        let quality = if self.quality_labelled[j] {
            quality.clamp(0.0, 1.0)
        } else {
            self.quality[j]
        };
        let log_tokens = if self.tokens_labelled[j] {
            log_tokens
        } else {
            self.log_tokens[j]
        };
        ModelEstimate {
            quality: f64::from(quality),
            output_tokens: f64::from(from_log_tokens(log_tokens)),
        }
    }

    /// The prior quality as a logit, the offset neural predictors learn a residual over.
    pub(crate) fn quality_logit(&self, j: usize) -> f32 {
        let q = self.quality[j].clamp(1e-3, 1.0 - 1e-3);
        (q / (1.0 - q)).ln()
    }
}

fn column_means(rows: &[Vec<Option<f32>>], m: usize, map: impl Fn(f32) -> f32) -> Vec<Option<f32>> {
    let mut sum = vec![0.0f64; m];
    let mut count = vec![0usize; m];
    for row in rows {
        for (j, cell) in row.iter().enumerate().take(m) {
            if let Some(v) = cell {
                sum[j] += f64::from(map(*v));
                count[j] += 1;
            }
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &c)| (c > 0).then(|| (s / c as f64) as f32))
        .collect()
}

/// Logistic function.
pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Dot product, written so that the compiler vectorises it (four independent accumulators).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `W · x + b` for a row-major `W` of shape `out × x.len()`.
pub(crate) fn affine(w: &[f32], b: &[f32], x: &[f32]) -> Vec<f32> {
    let d = x.len();
    b.iter()
        .enumerate()
        .map(|(o, bias)| bias + dot(&w[o * d..(o + 1) * d], x))
        .collect()
}
