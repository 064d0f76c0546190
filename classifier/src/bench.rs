//! The encoder benchmark behind `switchyard bench encoder`: batch-1 latency at exact sequence
//! lengths and batched throughput, with the achieved GFLOP/s next to this machine's own f32
//! matmul rate measured in the same run, so the numbers say how far from the hardware bound the
//! encoder runs. Optionally times candle's op-by-op `BertModel` ([`crate::reference`]) on the
//! same inputs, so each step's gain is measured against the old path in one run.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};

use crate::{Error, EMBEDDING_DIM};

/// A forward pass under test: token ids in, one embedding per text out.
pub type Forward<'a> = &'a (dyn Fn(&[Vec<u32>]) -> Result<Vec<Vec<f32>>, Error> + Sync);

/// Which implementation a row measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// This crate's packed forward pass ([`crate::Encoder`]).
    Packed,
    /// The same pass with int8 weights ([`crate::Encoder::with_int8_weights`]).
    Int8,
    /// candle's `BertModel` on a padded batch ([`crate::reference::CandleEncoder`]).
    Candle,
}

/// One measured configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchRow {
    /// What ran.
    pub engine: Engine,
    /// Tokens per prompt, special tokens included.
    pub tokens: usize,
    /// Prompts per forward pass.
    pub batch: usize,
    /// Fastest forward pass, milliseconds (the figure least disturbed by a shared machine).
    pub min_ms: f64,
    /// Median forward pass, milliseconds.
    pub median_ms: f64,
    /// Prompts per second at the fastest pass.
    pub prompts_per_s: f64,
    /// Achieved GFLOP/s at the fastest pass.
    pub gflops: f64,
    /// `gflops` as a share of the matmul rate measured in the same run.
    pub of_matmul: f64,
}

/// The whole run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// f32 matmul rate of this machine (1024³, fastest of [`MATMUL_REPEATS`]), GFLOP/s.
    pub matmul_gflops: f64,
    /// Threads the encoder and the matmul were allowed.
    pub threads: usize,
    /// Timed runs per cell.
    pub repeats: usize,
    /// Output features per packed weight panel on this CPU (64 with AVX-512, 16 with AVX2),
    /// so a recorded figure says which kernel layout it measured.
    pub panel_width: usize,
    /// One row per (engine, tokens, batch).
    pub rows: Vec<BenchRow>,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchPlan {
    /// Lengths timed at batch 1.
    pub latency_tokens: Vec<usize>,
    /// Lengths timed at `batch`.
    pub batched_tokens: Vec<usize>,
    /// Prompts per pass for the throughput rows.
    pub batch: usize,
    /// Timed runs per cell (after one warm-up).
    pub repeats: usize,
}

impl Default for BenchPlan {
    fn default() -> Self {
        Self {
            latency_tokens: vec![16, 64, 128, 256],
            batched_tokens: vec![64, 128],
            batch: 32,
            repeats: 10,
        }
    }
}

/// Forward-pass FLOPs of all-MiniLM-L6-v2 for `batch` prompts of `n` tokens: per layer, the
/// four attention projections (8nh²), the feed-forward block (4nhi) and the two attention
/// products (4n²h); embeddings and pooling are negligible.
pub fn forward_flops(n: usize, batch: usize) -> f64 {
    let (layers, h, i) = (6.0, EMBEDDING_DIM as f64, 1536.0);
    let n = n as f64;
    batch as f64 * layers * (8.0 * n * h * h + 4.0 * n * h * i + 4.0 * n * n * h)
}

/// Timed 1024³ products behind the matmul rate of [`run`]: a fixed count rather than the
/// plan's `repeats`, so that a long run (`--repeats 400` under `perf`) spends its time in the
/// forward passes it is about, not in 400 reference products (about 30 ms each here).
pub const MATMUL_REPEATS: usize = 10;

/// Measures the f32 matmul rate on 1024×1024 matrices (candle's CPU matmul, which calls the same
/// `gemm` kernels as the encoder, on the calling thread's rayon pool).
pub fn matmul_gflops(repeats: usize) -> Result<f64, Error> {
    let n = 1024;
    let a = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), &Device::Cpu)?;
    let _ = a.matmul(&b)?; // warm-up
    let (fastest, _) = time(repeats, || a.matmul(&b).map(|_| ()))?;
    Ok(2.0 * (n * n * n) as f64 / fastest.as_secs_f64() / 1e9)
}

/// Runs the plan with `forward` for each engine given (the packed encoder first, then, when
/// supplied, the candle reference). `threads` is only recorded; the caller runs this inside a
/// rayon pool of that size.
pub fn run(
    engines: &[(Engine, Forward<'_>)],
    plan: &BenchPlan,
    threads: usize,
) -> Result<BenchReport, Error> {
    let matmul = matmul_gflops(MATMUL_REPEATS)?;
    let cells = plan
        .latency_tokens
        .iter()
        .map(|&n| (n, 1))
        .chain(plan.batched_tokens.iter().map(|&n| (n, plan.batch)));
    let mut rows = Vec::new();
    for (n, batch) in cells {
        let ids = synthetic_ids(n, batch);
        for (engine, forward) in engines {
            let _ = forward(&ids)?;
            let (fastest, median) = time(plan.repeats, || forward(&ids).map(|_| ()))?;
            let secs = fastest.as_secs_f64();
            let gflops = forward_flops(n, batch) / secs / 1e9;
            rows.push(BenchRow {
                engine: *engine,
                tokens: n,
                batch,
                min_ms: secs * 1000.0,
                median_ms: median.as_secs_f64() * 1000.0,
                prompts_per_s: batch as f64 / secs,
                gflops,
                of_matmul: gflops / matmul,
            });
        }
    }
    Ok(BenchReport {
        matmul_gflops: matmul,
        threads,
        repeats: plan.repeats,
        panel_width: crate::encoder::panel_width(),
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

/// Fastest and median of `repeats` timed calls.
fn time<E>(
    repeats: usize,
    mut f: impl FnMut() -> Result<(), E>,
) -> Result<(Duration, Duration), E> {
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[0], times[times.len() / 2]))
}

impl BenchReport {
    /// The markdown table recorded in `docs/performance.md`.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "f32 matmul (1024³, fastest of {}): {:.0} GFLOP/s · {} threads · weight panels {} wide · passes: fastest and median of {} runs\n\n\
             | engine | tokens | batch | ms / pass (min) | ms / pass (median) | prompts/s | GFLOP/s | % of matmul |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
            MATMUL_REPEATS, self.matmul_gflops, self.threads, self.panel_width, self.repeats
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0}% |\n",
                match r.engine {
                    Engine::Packed => "packed",
                    Engine::Int8 => "packed int8",
                    Engine::Candle => "candle",
                },
                r.tokens,
                r.batch,
                r.min_ms,
                r.median_ms,
                r.prompts_per_s,
                r.gflops,
                100.0 * r.of_matmul
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

    #[test]
    fn a_run_measures_every_cell_of_the_plan() {
        // A stand-in forward pass: the report's bookkeeping, not the model, is under test here.
        let fake = |ids: &[Vec<u32>]| -> Result<Vec<Vec<f32>>, Error> {
            Ok(ids.iter().map(|r| vec![r.len() as f32]).collect())
        };
        let plan = BenchPlan {
            latency_tokens: vec![16, 32],
            batched_tokens: vec![16],
            batch: 4,
            repeats: 2,
        };
        let report = run(&[(Engine::Packed, &fake)], &plan, 1).unwrap();
        let cells: Vec<(usize, usize)> = report.rows.iter().map(|r| (r.tokens, r.batch)).collect();
        assert_eq!(cells, vec![(16, 1), (32, 1), (16, 4)]);
        assert!(report.matmul_gflops > 0.0);
        let md = report.to_markdown();
        assert_eq!(md.lines().filter(|l| l.starts_with("| packed")).count(), 3);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rows"][2]["batch"], 4);
    }
}
