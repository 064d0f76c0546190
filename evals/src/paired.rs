//! Paired bootstrap over test prompts: how sure is "router A has a higher AIQ than B"?
//!
//! A router's choices at every λ depend only on its predictions, not on which prompts are
//! drawn, so a bootstrap replicate re-weights the prompts (multinomial counts) and re-reads
//! every router's sweep points, the single models' means (hence the cost range and the zero
//! router) from the same weights. Differences between routers are then taken replicate by
//! replicate (paired), which removes the prompt-to-prompt noise both routers share. The
//! interval is the percentile interval of the replicated differences (Efron & Tibshirani 1993,
//! ch. 13); the one-sided lower bound is the 5th percentile.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{
    input::Point,
    metrics::{
        aiq::{aiq, CostRange},
        hull::non_decreasing_hull,
    },
    sweep::{lambda_values, LambdaGrid},
    EvalSet, Result, RouterScores,
};

/// Bootstrap settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of replicates (0 turns the bootstrap off).
    pub resamples: usize,
    /// Seed of the resampling. Fixed by default, so that runs over the same test prompts (a
    /// fixed split at several seeds) draw the same replicates and stay paired across runs.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            resamples: 1000,
            seed: 0x5eed_b007,
        }
    }
}

/// A paired difference `router − baseline` in AIQ with its 95 % bootstrap interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedDiff {
    /// The router.
    pub router: String,
    /// What it is compared with.
    pub baseline: String,
    /// AIQ(router) − AIQ(baseline) on the test prompts as drawn.
    pub delta: f64,
    /// 2.5th percentile of the replicated differences.
    pub low: f64,
    /// 97.5th percentile.
    pub high: f64,
    /// 5th percentile: the one-sided 95 % lower bound.
    pub lower_one_sided: f64,
    /// Number of replicates.
    pub resamples: usize,
}

impl PairedDiff {
    /// `router − baseline` from the point estimates and replicates of both (same length, same
    /// resampling); `None` without replicates.
    pub fn between(router: (&str, f64, &[f64]), baseline: (&str, f64, &[f64])) -> Option<Self> {
        let (name, a, ra) = router;
        let (base, b, rb) = baseline;
        if ra.is_empty() || ra.len() != rb.len() {
            return None;
        }
        let diffs: Vec<f64> = ra.iter().zip(rb).map(|(x, y)| x - y).collect();
        Some(Self::from_replicates(name, base, a - b, diffs))
    }

    /// From a point estimate and its replicated differences.
    pub fn from_replicates(router: &str, baseline: &str, delta: f64, mut diffs: Vec<f64>) -> Self {
        diffs.sort_by(f64::total_cmp);
        Self {
            router: router.to_owned(),
            baseline: baseline.to_owned(),
            delta,
            low: percentile(&diffs, 0.025),
            high: percentile(&diffs, 0.975),
            lower_one_sided: percentile(&diffs, 0.05),
            resamples: diffs.len(),
        }
    }

    /// Whether the whole 95 % interval lies above 0.
    pub fn above_zero(&self) -> bool {
        self.low > 0.0
    }
}

/// The `p`-quantile of sorted values (linear interpolation); NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = p.clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + frac * (sorted[hi] - sorted[lo])
        }
    }
}

/// Per λ of `r`'s sweep, each prompt's realised (cost, quality) of the model it picks.
fn pick_paths(set: &EvalSet, r: &RouterScores, grid: &LambdaGrid) -> Result<Vec<Vec<(f64, f64)>>> {
    r.validate_against(set)?;
    Ok(lambda_values(grid, r)?
        .iter()
        .map(|&l| {
            (0..set.n_prompts())
                .map(|i| {
                    let j = r.pick(i, l);
                    (set.cost[i][j], set.quality[i][j])
                })
                .collect()
        })
        .collect())
}

/// AIQ replicates of every router and of the zero router, from the same resampled prompts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replicates {
    /// One vector per router, in input order.
    pub routers: Vec<Vec<f64>>,
    /// The zero router's.
    pub zero_router: Vec<f64>,
}

/// Draws `config.resamples` multinomial re-weightings of the prompts and returns each router's
/// and the zero router's AIQ under each (the cost range moves with the weights too).
pub fn bootstrap_aiq(
    set: &EvalSet,
    routers: &[RouterScores],
    grid: &LambdaGrid,
    config: &BootstrapConfig,
) -> Result<Replicates> {
    bootstrap_paths(set, &router_paths(set, routers, grid)?, config)
}

/// Per router, per λ of its sweep: each prompt's realised (cost, quality) of its pick.
pub(crate) type RouterPaths = Vec<Vec<Vec<(f64, f64)>>>;

/// [`RouterPaths`] of every router, each validated against `set`.
pub(crate) fn router_paths(
    set: &EvalSet,
    routers: &[RouterScores],
    grid: &LambdaGrid,
) -> Result<RouterPaths> {
    routers.iter().map(|r| pick_paths(set, r, grid)).collect()
}

/// A multinomial re-draw of `counts.len()` prompts: how many copies of each a replicate has.
fn redraw(rng: &mut ChaCha8Rng, counts: &mut [u32]) {
    let n = counts.len();
    counts.iter_mut().for_each(|c| *c = 0);
    for _ in 0..n {
        counts[rng.gen_range(0..n)] += 1;
    }
}

/// [`bootstrap_aiq`] from the routers' paths.
pub(crate) fn bootstrap_paths(
    set: &EvalSet,
    picks: &RouterPaths,
    config: &BootstrapConfig,
) -> Result<Replicates> {
    let n = set.n_prompts();
    let m = set.n_models();
    if config.resamples == 0 || n == 0 {
        return Ok(Replicates::default());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut out = Replicates {
        routers: vec![Vec::with_capacity(config.resamples); picks.len()],
        zero_router: Vec::with_capacity(config.resamples),
    };
    let mut counts = vec![0u32; n];
    for _ in 0..config.resamples {
        redraw(&mut rng, &mut counts);
        let weighted = |values: &dyn Fn(usize) -> (f64, f64)| -> Point {
            let (mut c, mut q) = (0.0, 0.0);
            for (i, &w) in counts.iter().enumerate() {
                if w > 0 {
                    let (ci, qi) = values(i);
                    c += f64::from(w) * ci;
                    q += f64::from(w) * qi;
                }
            }
            Point {
                cost: c / n as f64,
                quality: q / n as f64,
            }
        };
        let means: Vec<Point> = (0..m)
            .map(|j| weighted(&|i| (set.cost[i][j], set.quality[i][j])))
            .collect();
        let range = CostRange::of_models(&means);
        out.zero_router
            .push(aiq(&non_decreasing_hull(&means), range));
        for (k, per_lambda) in picks.iter().enumerate() {
            let points: Vec<Point> = per_lambda.iter().map(|v| weighted(&|i| v[i])).collect();
            out.routers[k].push(aiq(&non_decreasing_hull(&points), range));
        }
    }
    Ok(out)
}

/// Cross-fitted AIQ ([`crate::metrics::cross_fit`]) of the zero router and every router, each
/// with its replicates: the vertices are chosen once on the prompts as drawn, and every
/// replicate re-weights the prompts (the same multinomial draws for every router, so
/// differences stay paired).
pub struct CrossFitted {
    /// The zero router's point estimate and replicates.
    pub zero_router: (Option<f64>, Vec<f64>),
    /// Each router's, in input order.
    pub routers: Vec<(Option<f64>, Vec<f64>)>,
}

/// See [`CrossFitted`]; `None` below 4 prompts.
pub(crate) fn cross_fit_aiq(
    set: &EvalSet,
    routers: &RouterPaths,
    config: &BootstrapConfig,
) -> Result<Option<CrossFitted>> {
    use crate::metrics::cross_fit::{choose, cross_fitted_aiq, halves};
    let n = set.n_prompts();
    let Some(halves) = halves(n) else {
        return Ok(None);
    };
    let models: Vec<Vec<(f64, f64)>> = (0..set.n_models())
        .map(|j| {
            (0..n)
                .map(|i| (set.cost[i][j], set.quality[i][j]))
                .collect()
        })
        .collect();
    let mut paths: Vec<Vec<Vec<(f64, f64)>>> = vec![models.clone()];
    paths.extend(routers.iter().cloned());
    let chosen: Vec<[Vec<usize>; 2]> = paths.iter().map(|p| choose(p, &halves)).collect();
    let mut out: Vec<(Option<f64>, Vec<f64>)> = paths
        .iter()
        .zip(&chosen)
        .map(|(p, c)| (cross_fitted_aiq(p, c, &models, &halves, None), Vec::new()))
        .collect();
    // Its own stream of draws, so that adding this left the plain replicates unchanged.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x00c5_f17e);
    let mut counts = vec![0u32; n];
    for _ in 0..config.resamples {
        redraw(&mut rng, &mut counts);
        for ((p, c), (_, reps)) in paths.iter().zip(&chosen).zip(out.iter_mut()) {
            if let Some(v) = cross_fitted_aiq(p, c, &models, &halves, Some(&counts)) {
                reps.push(v);
            }
        }
    }
    let zero_router = out.remove(0);
    Ok(Some(CrossFitted {
        zero_router,
        routers: out,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use router_core::ModelId;

    #[test]
    fn percentile_interpolates() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.0);
        assert!((percentile(&v, 0.1) - 0.4).abs() < 1e-12);
        assert_eq!(percentile(&v, 1.0), 4.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn oracle_beats_zero_router_with_an_interval_above_zero() {
        // Two models, each right on a different half: the oracle is perfect, either model alone
        // is half right.
        let n = 200;
        let q: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    vec![1.0, 0.0]
                } else {
                    vec![0.0, 1.0]
                }
            })
            .collect();
        let c = vec![vec![1.0, 2.0]; n];
        let set = EvalSet::new(vec![ModelId::new("a"), ModelId::new("b")], q, c).unwrap();
        let oracle = RouterScores::oracle(&set);
        let reps = bootstrap_aiq(
            &set,
            &[oracle],
            &LambdaGrid::default(),
            &BootstrapConfig {
                resamples: 200,
                seed: 1,
            },
        )
        .unwrap();
        assert_eq!(reps.routers[0].len(), 200);
        let d = PairedDiff::between(
            ("oracle", 1.0, &reps.routers[0]),
            ("zero", 0.5, &reps.zero_router),
        )
        .unwrap();
        assert!(d.above_zero(), "{d:?}");
        assert!(d.low <= d.lower_one_sided && d.lower_one_sided <= d.high);
    }

    #[test]
    fn a_router_equal_to_the_baseline_has_a_zero_width_interval() {
        let set = EvalSet::new(
            vec![ModelId::new("a"), ModelId::new("b")],
            vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]],
            vec![vec![1.0, 2.0]; 3],
        )
        .unwrap();
        let r = RouterScores::random(&set, 3);
        let reps = bootstrap_aiq(
            &set,
            &[r.clone(), r],
            &LambdaGrid::default(),
            &BootstrapConfig::default(),
        )
        .unwrap();
        let d = PairedDiff::between(("x", 0.7, &reps.routers[0]), ("y", 0.7, &reps.routers[1]))
            .unwrap();
        assert_eq!((d.delta, d.low, d.high), (0.0, 0.0, 0.0));
        assert!(!d.above_zero());
    }
}
