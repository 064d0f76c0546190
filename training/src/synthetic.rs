//! Seeded synthetic training sets with a planted structure, for tests, examples and timing.
//!
//! Prompts are unit vectors `x = normalise(Z c + noise)` around a `latent`-dimensional
//! subspace `Z`; model `j` answers correctly with probability `σ(scale · ⟨u_j, c⟩/√latent + b_j)`
//! and writes `ln(1 + tokens) = 4 + 0.3 j + ⟨w_j, c⟩/√latent + noise` tokens. A good predictor
//! recovers `u_j` and `w_j` from the embeddings; the per-model mean cannot.

use classifier::predictors::TrainingSet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use router_core::ModelId;

/// Shape of a planted set.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedConfig {
    /// Prompts.
    pub rows: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Models.
    pub models: usize,
    /// Dimension of the planted latent space.
    pub latent: usize,
    /// Logit scale of the planted quality signal (larger: easier).
    pub scale: f32,
    /// Probability that any one label cell is missing.
    pub missing: f64,
    /// Draw 0/1 quality labels (true) or give the probabilities themselves (false).
    pub binary: bool,
    /// RNG seed.
    pub seed: u64,
}

impl Default for PlantedConfig {
    fn default() -> Self {
        Self {
            rows: 1000,
            dim: 32,
            models: 4,
            latent: 4,
            scale: 3.0,
            missing: 0.0,
            binary: true,
            seed: 0,
        }
    }
}

/// A planted set and the true quality probabilities behind its labels.
#[derive(Clone, Debug)]
pub struct Planted {
    /// The labels as a predictor sees them.
    pub set: TrainingSet,
    /// `rows × models` true probabilities.
    pub truth: Vec<Vec<f32>>,
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller: the workspace carries no rand_distr.
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Draws a planted set.
pub fn planted(cfg: &PlantedConfig) -> Planted {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let basis: Vec<f32> = (0..cfg.dim * cfg.latent)
        .map(|_| normal(&mut rng))
        .collect();
    let u: Vec<Vec<f32>> = (0..cfg.models)
        .map(|_| (0..cfg.latent).map(|_| normal(&mut rng)).collect())
        .collect();
    let w: Vec<Vec<f32>> = (0..cfg.models)
        .map(|_| (0..cfg.latent).map(|_| normal(&mut rng)).collect())
        .collect();
    let b: Vec<f32> = (0..cfg.models).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let norm = (cfg.latent as f32).sqrt();
    let mut planted = Planted {
        set: TrainingSet {
            models: (0..cfg.models)
                .map(|j| ModelId::new(format!("model-{j}")))
                .collect(),
            ..TrainingSet::default()
        },
        truth: Vec::with_capacity(cfg.rows),
    };
    for _ in 0..cfg.rows {
        let c: Vec<f32> = (0..cfg.latent).map(|_| normal(&mut rng)).collect();
        let mut x: Vec<f32> = (0..cfg.dim)
            .map(|r| {
                let signal: f32 = (0..cfg.latent)
                    .map(|l| basis[r * cfg.latent + l] * c[l])
                    .sum();
                signal + 0.3 * normal(&mut rng)
            })
            .collect();
        let len = x
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(f32::EPSILON);
        x.iter_mut().for_each(|v| *v /= len);
        let (mut q_row, mut t_row, mut truth) = (Vec::new(), Vec::new(), Vec::new());
        for j in 0..cfg.models {
            let dot = |v: &[f32]| v.iter().zip(&c).map(|(a, b)| a * b).sum::<f32>() / norm;
            let p = 1.0 / (1.0 + (-(cfg.scale * dot(&u[j]) + b[j])).exp());
            let label = if cfg.binary {
                f32::from(u8::from(rng.gen::<f32>() < p))
            } else {
                p
            };
            let log_tokens = 4.0 + 0.3 * j as f32 + dot(&w[j]) + 0.1 * normal(&mut rng);
            let keep_q = rng.gen::<f64>() >= cfg.missing;
            let keep_t = rng.gen::<f64>() >= cfg.missing;
            q_row.push(keep_q.then_some(label));
            t_row.push(keep_t.then_some(log_tokens.exp_m1().max(0.0)));
            truth.push(p);
        }
        planted.set.x.push(x);
        planted.set.quality.push(q_row);
        planted.set.output_tokens.push(t_row);
        planted.truth.push(truth);
    }
    planted
}
