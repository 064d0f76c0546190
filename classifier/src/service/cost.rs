//! A live estimate of what a forward pass costs, so that batches can be sized to finish inside
//! their deadlines and hopeless requests refused at once.
//!
//! The model is `seconds = overhead + flops × seconds_per_flop`, where `flops` is the
//! transformer's work for a batch padded to its longest text (see [`batch_flops`]). Both
//! parameters come from an exponentially weighted least-squares fit over measured batches: the
//! fixed per-batch overhead (tokenizing, thread wake-ups, small-matrix inefficiency) matters at
//! batch 1, the FLOP rate at batch 32, and a single ratio would get one of the two badly wrong.
//! The fit starts from two pseudo-observations (the configured prior), which decay away as real
//! batches arrive.

use std::time::Duration;

/// Hidden size, feed-forward size and layer count of all-MiniLM-L6-v2: only the shape of the
/// FLOP count matters (the fitted rate absorbs the constant), so another small BERT works too.
const HIDDEN: f64 = 384.0;
const FFN: f64 = 1536.0;
const LAYERS: f64 = 6.0;

/// Forward-pass FLOPs for `batch` texts padded to `tokens`: per layer the four projections
/// (8nh²), the feed-forward block (4nhi) and the two attention products (4n²h).
pub(crate) fn batch_flops(tokens: usize, batch: usize) -> f64 {
    let n = tokens as f64;
    batch as f64
        * LAYERS
        * (8.0 * n * HIDDEN * HIDDEN + 4.0 * n * HIDDEN * FFN + 4.0 * n * n * HIDDEN)
}

/// The starting point of the cost fit, before any batch has been measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostPrior {
    /// Fixed cost of one forward pass, whatever its size.
    pub overhead: Duration,
    /// Sustained forward-pass rate in GFLOP/s once batches are large.
    pub gflops: f64,
}

impl Default for CostPrior {
    /// Optimistic on purpose: a prior that is too slow would refuse requests that could have
    /// been served, and a refused request teaches the fit nothing; one too fast is corrected by
    /// the first measured batch.
    fn default() -> Self {
        Self {
            overhead: Duration::from_millis(2),
            gflops: 60.0,
        }
    }
}

/// The cost line measured on this machine: a short and a long prompt (16 tokens, and the
/// token budget up to 128), each run once to warm up and then twice, the faster of the two
/// counting. The fit's prior stands for what has not been measured yet and weighs on it for
/// dozens of batches; a guessed prior far from the machine (the default assumes 60 GFLOP/s; an
/// AVX-512 host runs a 128-token pass at 150–190) made the service refuse long prompts it could
/// serve for the first seconds after a start (docs/performance.md, "The cost fit measured at
/// start"). The result is never slower than `guess` in either parameter: a prior too fast is
/// corrected by the first batches it lets through, one too slow refuses the prompts that would
/// correct it (a hiccup during the timing, or int8 weights timed on a CPU whose int8 gate then
/// serves f32). `None` when the encoder fails or panics.
pub(crate) fn calibrate(
    pool: &rayon::ThreadPool,
    embedder: &dyn router_core::Embedder,
    max_tokens: usize,
    guess: CostPrior,
) -> Option<CostPrior> {
    let long = max_tokens.clamp(SHORT_TOKENS + 1, 128);
    let time = |tokens: usize| -> Option<f64> {
        // The service estimates four bytes a token plus the two special tokens.
        let text: String = "calibrating the encoder "
            .chars()
            .cycle()
            .take(4 * (tokens - 2))
            .collect();
        let run = || {
            let started = std::time::Instant::now();
            pool.install(|| embedder.embed(&[text.as_str()]))
                .ok()
                .map(|_| started.elapsed().as_secs_f64())
        };
        run()?;
        Some(run()?.min(run()?))
    };
    let timed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Some((time(SHORT_TOKENS)?, time(long)?))
    }));
    let (short, long_s) = timed.ok().flatten()?;
    let (x0, x1) = (batch_flops(SHORT_TOKENS, 1), batch_flops(long, 1));
    // The slope between the two; timing noise can make it tiny (or negative), so it is
    // never taken below half the long prompt's own average rate.
    let per_flop = ((long_s - short) / (x1 - x0)).max(0.5 * long_s / x1);
    let overhead = (short - x0 * per_flop).max(0.0);
    Some(CostPrior {
        overhead: Duration::from_secs_f64(overhead).min(guess.overhead),
        gflops: (1.0 / (per_flop * 1e9)).max(guess.gflops),
    })
}

/// The short prompt [`calibrate`] times, in tokens.
const SHORT_TOKENS: usize = 16;

/// Exponentially weighted least squares of batch time on batch FLOPs.
#[derive(Clone, Debug)]
pub(crate) struct CostModel {
    decay: f64,
    w: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
    /// Current fit: seconds per batch, seconds per FLOP.
    overhead_s: f64,
    per_flop_s: f64,
    /// Running estimate of the 90th percentile of measured ÷ predicted batch time.
    overrun: f64,
}

/// The least and most a prediction is stretched before it is compared with a deadline (see
/// [`CostModel::safety`]).
pub(crate) const SAFETY_MIN: f64 = 1.15;
const SAFETY_MAX: f64 = 1.6;
/// Quantile of the overrun ratio the safety factor tracks, and its step per batch (relative).
const OVERRUN_QUANTILE: f64 = 0.9;
const OVERRUN_STEP: f64 = 0.05;

/// Weight of each real batch relative to the decayed past: about the last 20 batches count.
const DECAY: f64 = 0.95;

impl CostModel {
    pub(crate) fn new(prior: CostPrior) -> Self {
        let mut model = CostModel {
            decay: DECAY,
            w: 0.0,
            sx: 0.0,
            sy: 0.0,
            sxx: 0.0,
            sxy: 0.0,
            overhead_s: prior.overhead.as_secs_f64(),
            per_flop_s: 1.0 / (prior.gflops.max(1e-3) * 1e9),
            overrun: SAFETY_MIN,
        };
        // Two pseudo-observations on the prior line, at batch 1 and batch 32 of 32 tokens, so
        // the fit is well-posed from the start and real batches pull it away quickly.
        for x in [batch_flops(32, 1), batch_flops(32, 32)] {
            let y = model.overhead_s + x * model.per_flop_s;
            model.add(x, y, 0.5);
        }
        model.refit();
        model
    }

    fn add(&mut self, x: f64, y: f64, weight: f64) {
        self.w = self.w * self.decay + weight;
        self.sx = self.sx * self.decay + weight * x;
        self.sy = self.sy * self.decay + weight * y;
        self.sxx = self.sxx * self.decay + weight * x * x;
        self.sxy = self.sxy * self.decay + weight * x * y;
    }

    /// Records one measured batch.
    pub(crate) fn observe(&mut self, flops: f64, took: Duration) {
        let y = took.as_secs_f64();
        if !(flops.is_finite() && flops > 0.0 && y.is_finite()) {
            return;
        }
        // How far this batch overran what the fit said before seeing it; a stochastic
        // quantile step moves the estimate up by 0.9 or down by 0.1 of a step, so it settles
        // where 10 % of batches overrun it.
        let predicted = self.predict(flops).as_secs_f64();
        if predicted > 0.0 {
            let ratio = y / predicted;
            let step = OVERRUN_STEP * self.overrun;
            self.overrun += if ratio > self.overrun {
                step * OVERRUN_QUANTILE
            } else {
                -step * (1.0 - OVERRUN_QUANTILE)
            };
            self.overrun = self.overrun.clamp(1.0, SAFETY_MAX);
        }
        self.add(flops, y, 1.0);
        self.refit();
    }

    fn refit(&mut self) {
        let mean_x = self.sx / self.w;
        let mean_y = self.sy / self.w;
        let var_x = self.sxx / self.w - mean_x * mean_x;
        let cov = self.sxy / self.w - mean_x * mean_y;
        // Enough spread in batch sizes to separate overhead from rate, and a sane answer:
        // otherwise keep the overhead and rescale the rate so the line goes through the mean.
        if var_x > 1e-4 * mean_x * mean_x && cov > 0.0 {
            let slope = cov / var_x;
            let intercept = mean_y - slope * mean_x;
            if intercept >= 0.0 {
                self.per_flop_s = slope;
                self.overhead_s = intercept;
                return;
            }
            // A negative intercept means the data are proportional to FLOPs: no overhead.
            self.overhead_s = 0.0;
            self.per_flop_s = self.sxy / self.sxx;
            return;
        }
        if mean_x > 0.0 {
            self.per_flop_s = ((mean_y - self.overhead_s) / mean_x).max(mean_y / mean_x * 0.1);
        }
    }

    /// Predicted time of one forward pass doing `flops`.
    pub(crate) fn predict(&self, flops: f64) -> Duration {
        Duration::from_secs_f64((self.overhead_s + flops * self.per_flop_s).clamp(0.0, 3600.0))
    }

    /// Predicted time of `batches` forward passes doing `flops` in all.
    pub(crate) fn predict_many(&self, flops: f64, batches: usize) -> Duration {
        Duration::from_secs_f64(
            (self.overhead_s * batches as f64 + flops * self.per_flop_s).clamp(0.0, 3600.0),
        )
    }

    /// What a predicted time is multiplied by before it is compared with a deadline: the fit
    /// is an average, and a batch that overruns makes every member miss. It follows the 90th
    /// percentile of recent measured ÷ predicted times (so on a machine whose other load comes
    /// and goes it widens by itself), never below 1.15 nor above 1.6 (beyond that a noisy
    /// machine would refuse prompts that mostly make it).
    pub(crate) fn safety(&self) -> f64 {
        self.overrun.clamp(SAFETY_MIN, SAFETY_MAX)
    }

    /// The fitted fixed cost per batch.
    pub(crate) fn overhead(&self) -> Duration {
        Duration::from_secs_f64(self.overhead_s.clamp(0.0, 3600.0))
    }

    /// The fitted rate, GFLOP/s.
    pub(crate) fn gflops(&self) -> f64 {
        1.0 / (self.per_flop_s.max(1e-15) * 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_overhead_and_rate_from_measured_batches() {
        let mut model = CostModel::new(CostPrior::default());
        // A machine with 5 ms of overhead per batch and 20 GFLOP/s.
        let truth = |x: f64| Duration::from_secs_f64(0.005 + x / 20e9);
        for _ in 0..100 {
            for (tokens, batch) in [(16, 1), (64, 4), (32, 16), (128, 8)] {
                let x = batch_flops(tokens, batch);
                model.observe(x, truth(x));
            }
        }
        assert!((model.gflops() - 20.0).abs() < 0.5, "{}", model.gflops());
        assert!((model.overhead().as_secs_f64() - 0.005).abs() < 5e-4);
        let x = batch_flops(64, 1);
        let err = model.predict(x).as_secs_f64() / truth(x).as_secs_f64();
        assert!((err - 1.0).abs() < 0.05, "{err}");
    }

    #[test]
    fn one_repeated_batch_shape_still_gives_a_usable_rate() {
        let mut model = CostModel::new(CostPrior::default());
        let x = batch_flops(16, 1);
        for _ in 0..200 {
            model.observe(x, Duration::from_millis(20));
        }
        let predicted = model.predict(x).as_secs_f64();
        assert!((predicted - 0.020).abs() < 0.002, "{predicted}");
    }

    #[test]
    fn the_safety_factor_follows_the_overruns() {
        let mut model = CostModel::new(CostPrior::default());
        assert_eq!(model.safety(), SAFETY_MIN);
        // Steady batches: the fit matches them and the factor stays at its floor.
        let x = batch_flops(16, 1);
        for _ in 0..200 {
            model.observe(x, Duration::from_millis(10));
        }
        assert_eq!(model.safety(), SAFETY_MIN);
        // One batch in four takes twice the usual time (another process takes the cores): the
        // factor rises to cover them, as the fit's average alone would not.
        for i in 0..400 {
            let took = if i % 4 == 0 { 20 } else { 10 };
            model.observe(x, Duration::from_millis(took));
        }
        let mean = model.predict(x).as_secs_f64();
        assert!(
            mean * model.safety() >= 0.019,
            "{mean} × {}",
            model.safety()
        );
        assert!(model.safety() <= SAFETY_MAX);
        // Quiet again: it comes back down.
        for _ in 0..400 {
            model.observe(x, Duration::from_millis(10));
        }
        assert!(model.safety() < 1.2, "{}", model.safety());
    }

    #[test]
    fn nonsense_measurements_are_ignored() {
        let mut model = CostModel::new(CostPrior::default());
        let before = model.predict(1e9);
        model.observe(f64::NAN, Duration::from_millis(1));
        model.observe(0.0, Duration::from_millis(1));
        assert_eq!(model.predict(1e9), before);
    }
}
