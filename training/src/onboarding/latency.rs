//! A model's latency prior measured on the user's own account: the probes' wall times against
//! their completion lengths, fitted as `latency = ttft + tokens / speed`.
//!
//! The catalog's latency priors are hand-set per model family; the probes measure the same
//! model through the user's provider, network and account tier, at the concurrency onboarding
//! ran with. The fit is Theil–Sen (the median of pairwise slopes, then the median intercept),
//! so a few slow calls (a provider hiccup, a retry) do not drag it the way least squares would.
//! Probe calls are not streamed, so the intercept is the whole fixed cost of a call (time to
//! first token plus the network round trip), which is what a non-streamed request waits for.

use router_core::LatencyPrior;

/// Fewest timed answers for a fit.
pub const MIN_LATENCY_SAMPLES: usize = 10;

/// Fewest distinct completion lengths (and spread between the shortest and the longest) for
/// the speed to be fitted; with less, the catalog's speed is kept and only the fixed cost is
/// measured.
const MIN_DISTINCT_LENGTHS: usize = 4;
const MIN_LENGTH_SPREAD: f64 = 32.0;

/// Speeds outside this range (tokens per second) are not believed: they come from noise in
/// a narrow spread of lengths, not from any provider.
const SPEED_RANGE: (f64, f64) = (1.0, 5_000.0);

/// The fitted prior from `(completion tokens, wall time in ms)` pairs, or `None` with fewer
/// than [`MIN_LATENCY_SAMPLES`] usable pairs. `catalog` supplies the speed when the lengths do
/// not spread enough to measure it (or the fit gives an implausible one).
pub fn fit_latency(samples: &[(u32, f64)], catalog: LatencyPrior) -> Option<LatencyPrior> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(_, ms)| ms.is_finite() && *ms >= 0.0)
        .map(|&(t, ms)| (f64::from(t), ms))
        .collect();
    if points.len() < MIN_LATENCY_SAMPLES {
        return None;
    }
    let speed = fitted_speed(&points).unwrap_or(catalog.tokens_per_s);
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    };
    let fixed: Vec<f64> = points
        .iter()
        .map(|(t, ms)| ms - t / speed * 1000.0)
        .collect();
    let ttft_ms = median(fixed)?.max(0.0);
    Some(LatencyPrior {
        ttft_ms,
        tokens_per_s: speed,
    })
}

/// Tokens per second from the median pairwise slope, when the lengths spread enough and the
/// slope is plausible.
fn fitted_speed(points: &[(f64, f64)]) -> Option<f64> {
    let mut lengths: Vec<f64> = points.iter().map(|p| p.0).collect();
    lengths.sort_by(f64::total_cmp);
    lengths.dedup();
    let spread = lengths.last()? - lengths.first()?;
    if lengths.len() < MIN_DISTINCT_LENGTHS || spread < MIN_LENGTH_SPREAD {
        return None;
    }
    let mut slopes = Vec::with_capacity(points.len() * (points.len() - 1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if a.0 != b.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    let ms_per_token = median(slopes)?;
    if ms_per_token <= 0.0 {
        return None;
    }
    let speed = 1000.0 / ms_per_token;
    (SPEED_RANGE.0..=SPEED_RANGE.1)
        .contains(&speed)
        .then_some(speed)
}

/// The median of the finite values (`evals`' interpolated quantile at ½), `None` when there
/// are none.
fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    xs.sort_by(f64::total_cmp);
    (!xs.is_empty()).then(|| evals::paired::percentile(&xs, 0.5))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CATALOG: LatencyPrior = LatencyPrior {
        ttft_ms: 400.0,
        tokens_per_s: 100.0,
    };

    #[test]
    fn recovers_a_linear_model_through_outliers() {
        // 300 ms fixed, 50 tokens/s (20 ms per token), and three calls that hung for seconds.
        let mut samples: Vec<(u32, f64)> = (0..30)
            .map(|i| {
                let t = 20 + 15 * i;
                (
                    t,
                    300.0 + 20.0 * f64::from(t) + if i % 2 == 0 { 5.0 } else { -5.0 },
                )
            })
            .collect();
        samples.extend([(100, 9_000.0), (200, 12_000.0), (50, 30_000.0)]);
        let fit = fit_latency(&samples, CATALOG).unwrap();
        assert!((fit.tokens_per_s - 50.0).abs() < 2.0, "{fit:?}");
        assert!((fit.ttft_ms - 300.0).abs() < 30.0, "{fit:?}");
    }

    #[test]
    fn narrow_lengths_keep_the_catalog_speed_and_measure_the_fixed_cost() {
        // Every answer is a one-letter choice: the speed cannot be seen.
        let samples: Vec<(u32, f64)> = (0..12).map(|i| (2, 250.0 + f64::from(i))).collect();
        let fit = fit_latency(&samples, CATALOG).unwrap();
        assert_eq!(fit.tokens_per_s, CATALOG.tokens_per_s);
        assert!((fit.ttft_ms - (255.5 - 20.0)).abs() < 1e-9, "{fit:?}");
    }

    #[test]
    fn too_few_or_unusable_samples_give_nothing_and_never_a_negative_time() {
        let few: Vec<(u32, f64)> = (0..5).map(|i| (i * 10, 100.0)).collect();
        assert_eq!(fit_latency(&few, CATALOG), None);
        let bad: Vec<(u32, f64)> = (0..20).map(|i| (i, f64::NAN)).collect();
        assert_eq!(fit_latency(&bad, CATALOG), None);
        // Faster than the catalog's speed explains: the fixed cost is floored at 0.
        let quick: Vec<(u32, f64)> = (0..12).map(|_| (500, 1.0)).collect();
        let fit = fit_latency(&quick, CATALOG).unwrap();
        assert_eq!(fit.ttft_ms, 0.0);
        // Longer answers that came back faster: no believable speed, the catalog's stays.
        let inverted: Vec<(u32, f64)> = (0..12)
            .map(|i| (10 + 40 * i, 5_000.0 - 300.0 * f64::from(i)))
            .collect();
        assert_eq!(
            fit_latency(&inverted, CATALOG).unwrap().tokens_per_s,
            CATALOG.tokens_per_s
        );
    }
}
