//! A routing adapter: a small trained module between the encoder's last hidden layer and the
//! embedding, fitted to the routing labels while MiniLM's own weights stay frozen.
//!
//! Per token `h` (the last layer's output), a residual bottleneck
//! `z = h + U·gelu(D·h + b) + c`; then attention pooling `e = Σ softmax(q·z)ₜ zₜ` over the
//! text's tokens, scaled to unit length. With `U = 0, c = 0, q = 0` (the initialisation) it is
//! exactly the model's mean-pooled sentence embedding, so training starts from the standard
//! features and only moves where the routing labels pay for it. The adapted vector is appended
//! to the standard embedding as one more block of [`EMBEDDING_DIM`] values (the first block
//! stays the model's own, which the task classifier and decontamination read).
//!
//! Why an adapter after the last layer rather than gradients through the transformer blocks:
//! back-propagating through even the last block costs over 100× the adapter's arithmetic per
//! prompt (its forward pass alone is 1.8 M multiply-adds per token against the adapter's
//! 12,700), which on a 2-core machine turns a fit of minutes into hours per fold.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::kernels::{self, Mat, Out};
use super::EMBEDDING_DIM;
use crate::Error;

/// File an artifact stores its adapter in.
pub const ADAPTER_FILE: &str = "adapter.safetensors";

/// The adapter's weights (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingAdapter {
    /// Bottleneck width `r`.
    pub rank: usize,
    /// `D`: `r × 384`.
    pub down: Vec<f32>,
    /// `b`: `r`.
    pub down_bias: Vec<f32>,
    /// `U`: `384 × r`.
    pub up: Vec<f32>,
    /// `c`: `384`.
    pub up_bias: Vec<f32>,
    /// `q`: `384`.
    pub query: Vec<f32>,
}

impl RoutingAdapter {
    /// The identity adapter of width `rank` with `down` as its bottleneck's input weights:
    /// it maps every text to its mean-pooled embedding.
    pub fn identity(rank: usize, down: Vec<f32>) -> Self {
        let h = EMBEDDING_DIM;
        Self {
            rank,
            down,
            down_bias: vec![0.0; rank],
            up: vec![0.0; h * rank],
            up_bias: vec![0.0; h],
            query: vec![0.0; h],
        }
    }

    /// Checks every tensor's length against the rank.
    pub fn check(&self) -> Result<(), String> {
        let (h, r) = (EMBEDDING_DIM, self.rank);
        let want = [
            ("down", self.down.len(), r * h),
            ("down_bias", self.down_bias.len(), r),
            ("up", self.up.len(), h * r),
            ("up_bias", self.up_bias.len(), h),
            ("query", self.query.len(), h),
        ];
        for (name, got, expected) in want {
            if got != expected {
                return Err(format!(
                    "adapter tensor {name} has {got} values; rank {r} needs {expected}"
                ));
            }
        }
        if r == 0 {
            return Err("adapter rank is 0".into());
        }
        let finite = [
            &self.down,
            &self.down_bias,
            &self.up,
            &self.up_bias,
            &self.query,
        ]
        .iter()
        .all(|t| t.iter().all(|v| v.is_finite()));
        if !finite {
            return Err("adapter weights are not all finite".into());
        }
        Ok(())
    }

    /// The adapted, unit-length embedding of one text from its last-layer token states
    /// (`tokens × 384`, row-major). No tokens: the zero vector.
    pub fn apply(&self, states: &[f32]) -> Result<Vec<f32>, Error> {
        let (h, r) = (EMBEDDING_DIM, self.rank);
        let n = states.len() / h;
        if n == 0 {
            return Ok(vec![0.0; h]);
        }
        let states = &states[..n * h];
        // a = gelu(states · Dᵀ + b)
        let mut a = vec![0f32; n * r];
        kernels::fill_rows(&mut a, &self.down_bias);
        kernels::matmul(
            Out::at(&mut a, 0, r),
            Mat::dense(states, n, h),
            Mat::dense(&self.down, r, h).t(),
            1.0,
            true,
            1,
        )?;
        kernels::gelu(&mut a);
        // z = states + c + a · Uᵀ
        let mut z = states.to_vec();
        for row in z.chunks_exact_mut(h) {
            row.iter_mut().zip(&self.up_bias).for_each(|(v, c)| *v += c);
        }
        kernels::matmul(
            Out::at(&mut z, 0, h),
            Mat::dense(&a, n, r),
            Mat::dense(&self.up, h, r).t(),
            1.0,
            true,
            1,
        )?;
        let scores: Vec<f32> = z
            .chunks_exact(h)
            .map(|row| row.iter().zip(&self.query).map(|(x, q)| x * q).sum())
            .collect();
        let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = scores.iter().map(|s| (s - top).exp()).collect();
        let total: f32 = weights.iter().sum();
        let mut e = vec![0f32; h];
        for (row, w) in z.chunks_exact(h).zip(&weights) {
            let w = w / total;
            e.iter_mut().zip(row).for_each(|(ei, x)| *ei += w * x);
        }
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        e.iter_mut().for_each(|v| *v /= norm);
        Ok(e)
    }

    /// Writes the adapter as named tensors.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let (h, r) = (EMBEDDING_DIM, self.rank);
        let dev = &Device::Cpu;
        let tensor = |data: &[f32], shape: &[usize]| Tensor::from_slice(data, shape, dev);
        let tensors: HashMap<String, Tensor> = [
            ("adapter.down", tensor(&self.down, &[r, h])?),
            ("adapter.down_bias", tensor(&self.down_bias, &[r])?),
            ("adapter.up", tensor(&self.up, &[h, r])?),
            ("adapter.up_bias", tensor(&self.up_bias, &[h])?),
            ("adapter.query", tensor(&self.query, &[h])?),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        candle_core::safetensors::save(&tensors, path)?;
        Ok(())
    }

    /// Reads an adapter written by [`RoutingAdapter::save`].
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bad = |message: String| Error::Adapter {
            path: path.to_owned(),
            message,
        };
        if !path.is_file() {
            return Err(bad("the file is missing".into()));
        }
        let tensors =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
        let get = |name: &str| -> Result<Vec<f32>, Error> {
            let t = tensors
                .get(name)
                .ok_or_else(|| bad(format!("tensor {name} is missing")))?;
            t.flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| bad(format!("tensor {name}: {e}")))
        };
        let down_bias = get("adapter.down_bias")?;
        let adapter = Self {
            rank: down_bias.len(),
            down: get("adapter.down")?,
            down_bias,
            up: get("adapter.up")?,
            up_bias: get("adapter.up_bias")?,
            query: get("adapter.query")?,
        };
        adapter.check().map_err(bad)?;
        Ok(adapter)
    }

    /// SHA-256 of the adapter's values (what distinguishes its embeddings in caches and
    /// manifests).
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update((self.rank as u64).to_le_bytes());
        for t in [
            &self.down,
            &self.down_bias,
            &self.up,
            &self.up_bias,
            &self.query,
        ] {
            for v in t {
                hash.update(v.to_le_bytes());
            }
        }
        hex::encode(hash.finalize())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn states(n: usize, seed: f32) -> Vec<f32> {
        (0..n * EMBEDDING_DIM)
            .map(|i| ((i as f32 * 0.37 + seed).sin()) * 1.5)
            .collect()
    }

    #[test]
    fn the_identity_adapter_is_mean_pooling() {
        let s = states(5, 0.3);
        let adapter = RoutingAdapter::identity(8, vec![0.01; 8 * EMBEDDING_DIM]);
        let got = adapter.apply(&s).unwrap();
        let mut mean = vec![0f32; EMBEDDING_DIM];
        for row in s.chunks_exact(EMBEDDING_DIM) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v / 5.0);
        }
        let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
        for (g, m) in got.iter().zip(&mean) {
            assert!((g - m / norm).abs() < 1e-5);
        }
        assert_eq!(adapter.apply(&[]).unwrap(), vec![0.0; EMBEDDING_DIM]);
    }

    #[test]
    fn a_query_moves_the_pooling_towards_matching_tokens() {
        let s = states(4, 1.0);
        let mut adapter = RoutingAdapter::identity(2, vec![0.0; 2 * EMBEDDING_DIM]);
        // The query is token 2's own direction, strongly: pooling ≈ token 2 alone.
        adapter.query = s[2 * EMBEDDING_DIM..3 * EMBEDDING_DIM]
            .iter()
            .map(|v| v * 50.0)
            .collect();
        let got = adapter.apply(&s).unwrap();
        let t2 = &s[2 * EMBEDDING_DIM..3 * EMBEDDING_DIM];
        let norm = t2.iter().map(|v| v * v).sum::<f32>().sqrt();
        let cos: f32 = got.iter().zip(t2).map(|(a, b)| a * b / norm).sum();
        assert!(cos > 0.999, "cosine {cos}");
    }

    #[test]
    fn save_and_load_round_trip_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ADAPTER_FILE);
        let mut adapter = RoutingAdapter::identity(3, vec![0.5; 3 * EMBEDDING_DIM]);
        adapter.up[7] = 0.25;
        adapter.query[1] = -2.0;
        adapter.save(&path).unwrap();
        let back = RoutingAdapter::load(&path).unwrap();
        assert_eq!(back, adapter);
        assert_eq!(back.digest(), adapter.digest());
        let missing = RoutingAdapter::load(&dir.path().join("nope.safetensors")).unwrap_err();
        assert!(
            missing.to_string().contains("nope.safetensors"),
            "{missing}"
        );
        adapter.query[0] = f32::NAN;
        assert!(adapter.check().unwrap_err().contains("finite"));
    }
}
