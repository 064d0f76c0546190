//! The encoder benchmark behind `switchyard bench encoder`: milliseconds per prompt at several
//! sequence lengths and batch sizes, with the achieved GFLOP/s next to this machine's own f32
//! matmul rate measured in the same run, so the numbers say how far from the hardware bound
//! the encoder runs.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};

use crate::{Encoder, Error, EMBEDDING_DIM};

/// One measured configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchRow {
    /// Tokens per prompt, special tokens included.
    pub tokens: usize,
    /// Prompts per forward pass.
    pub batch: usize,
    /// Median milliseconds per prompt.
    pub ms_per_prompt: f64,
    /// Achieved GFLOP/s at the median.
    pub gflops: f64,
}

/// The whole run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// f32 matmul rate of this machine (1024³, candle, median of runs), GFLOP/s.
    pub matmul_gflops: f64,
    /// One row per (tokens, batch).
    pub rows: Vec<BenchRow>,
}

/// Forward-pass FLOPs of all-MiniLM-L6-v2 for `batch` prompts of `n` tokens: per layer, the
/// four attention projections (8nh²), the feed-forward block (4nhi) and the two attention
/// products (4n²h); embeddings and pooling are negligible.
pub fn forward_flops(n: usize, batch: usize) -> f64 {
    let (layers, h, i) = (6.0, EMBEDDING_DIM as f64, 1536.0);
    let n = n as f64;
    batch as f64 * layers * (8.0 * n * h * h + 4.0 * n * h * i + 4.0 * n * n * h)
}

/// Measures the f32 matmul rate on 1024×1024 matrices.
pub fn matmul_gflops(repeats: usize) -> Result<f64, Error> {
    let n = 1024;
    let a = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)?;
    let _ = a.matmul(&b)?; // warm-up
    let median = median_of(repeats, || a.matmul(&b).map(|_| ()))?;
    Ok(2.0 * (n * n * n) as f64 / median.as_secs_f64() / 1e9)
}

/// Runs the benchmark grid. `repeats` forward passes are timed per cell (after one warm-up).
pub fn run(
    encoder: &Encoder,
    tokens: &[usize],
    batches: &[usize],
    repeats: usize,
) -> Result<BenchReport, Error> {
    let matmul = matmul_gflops(repeats.max(3))?;
    let mut rows = Vec::new();
    for &n in tokens {
        for &batch in batches {
            let ids = synthetic_ids(n, batch);
            let _ = encoder.forward(&ids)?;
            let median = median_of(repeats, || encoder.forward(&ids).map(|_| ()))?;
            let secs = median.as_secs_f64();
            rows.push(BenchRow {
                tokens: n,
                batch,
                ms_per_prompt: secs * 1000.0 / batch as f64,
                gflops: forward_flops(n, batch) / secs / 1e9,
            });
        }
    }
    Ok(BenchReport {
        matmul_gflops: matmul,
        rows,
    })
}

/// `[CLS]`, `n − 2` ordinary word pieces, `[SEP]` — the exact length, no padding.
fn synthetic_ids(n: usize, batch: usize) -> Vec<Vec<u32>> {
    let n = n.max(2);
    (0..batch)
        .map(|b| {
            let mut row = vec![101u32];
            row.extend((0..n - 2).map(|i| 2000 + ((i * 7 + b * 13) % 20000) as u32));
            row.push(102);
            row
        })
        .collect()
}

fn median_of<E>(repeats: usize, mut f: impl FnMut() -> Result<(), E>) -> Result<Duration, E> {
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

impl BenchReport {
    /// The markdown table recorded in `docs/performance.md`.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "f32 matmul (1024³): {:.0} GFLOP/s\n\n| tokens | batch | ms / prompt | GFLOP/s | % of matmul |\n|---:|---:|---:|---:|---:|\n",
            self.matmul_gflops
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.2} | {:.1} | {:.0}% |\n",
                r.tokens,
                r.batch,
                r.ms_per_prompt,
                r.gflops,
                100.0 * r.gflops / self.matmul_gflops
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_a_64_token_prompt_are_about_1_4_gflop() {
        let f = forward_flops(64, 1) / 1e9;
        assert!((1.3..1.5).contains(&f), "{f}");
        assert_eq!(forward_flops(64, 32), 32.0 * forward_flops(64, 1));
        assert_eq!(synthetic_ids(16, 2)[1].len(), 16);
    }
}
