//! [`evaluate`] scores routers against the baselines and gathers everything in a [`Report`].

use router_core::ModelId;
use serde::{Deserialize, Serialize};

use crate::{
    baselines::{
        oracle_choice, random_matched, single_models, zero_router_hull, SingleModel, ORACLE_LABEL,
        ZERO_ROUTER_LABEL,
    },
    calibration::{Calibration, CALIBRATION_BINS},
    input::Point,
    metrics::{
        aiq::{aiq, CostRange},
        fixed_points::{best_single_index, fixed_points, FixedPoints},
        hull::non_decreasing_hull,
        routellm::{random_routing_metrics, routellm_metrics, RouteLlmMetrics},
    },
    paired::{bootstrap_paths, router_paths, BootstrapConfig, PairedDiff},
    sweep::{lambda_sweep, realise, LambdaGrid, SweepPoint},
    EvalSet, Result, RouterScores,
};

/// Version of the [`Report`] JSON layout; bumped on changes old readers cannot ignore.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// How to evaluate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// The λ values of every router's sweep (the oracle's too).
    pub lambdas: LambdaGrid,
    /// The paired bootstrap over test prompts behind every interval.
    #[serde(default)]
    pub bootstrap: BootstrapConfig,
}

/// Everything measured for one router (or for the oracle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouterResult {
    /// The router's name.
    pub name: String,
    /// RouterBench AIQ over the report's cost range.
    pub aiq: f64,
    /// Cost to reach the best single model, quality at its cost.
    pub fixed_points: FixedPoints,
    /// RouteLLM metrics; present only on two-model sets.
    pub routellm: Option<RouteLlmMetrics>,
    /// The λ-sweep, one point per λ.
    pub sweep: Vec<SweepPoint>,
    /// Non-decreasing convex hull of the sweep's points.
    pub hull: Vec<Point>,
    /// For each sweep point, random routing with the same per-model call shares.
    pub random_matched: Vec<Point>,
    /// AIQ of the hull of `random_matched`.
    pub random_matched_aiq: f64,
    /// Calibration of the predicted quality as P(correct) (`None` for the oracle).
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// AIQ under each bootstrap replicate of the test prompts (not serialised).
    #[serde(skip)]
    pub aiq_replicates: Vec<f64>,
    /// AIQ with the hull's vertices chosen on the other half of the test prompts
    /// ([`crate::metrics::cross_fit`]): no selection optimism (`None` below 4 prompts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aiq_cross_fit: Option<f64>,
    /// `aiq_cross_fit` under each bootstrap replicate (not serialised).
    #[serde(skip)]
    pub aiq_cross_fit_replicates: Vec<f64>,
}

/// RouterBench's zero router: random mixtures of the single models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZeroRouter {
    /// Hull of the single-model points.
    pub hull: Vec<Point>,
    /// Its AIQ (the mean height of that hull over the cost range).
    pub aiq: f64,
    /// Its fixed points.
    pub fixed_points: FixedPoints,
    /// RouteLLM metrics of random routing (APGR 0.5); two-model sets only.
    pub routellm: Option<RouteLlmMetrics>,
    /// AIQ under each bootstrap replicate of the test prompts (not serialised).
    #[serde(skip)]
    pub aiq_replicates: Vec<f64>,
    /// Cross-fitted AIQ, as [`RouterResult::aiq_cross_fit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aiq_cross_fit: Option<f64>,
    /// `aiq_cross_fit` under each bootstrap replicate (not serialised).
    #[serde(skip)]
    pub aiq_cross_fit_replicates: Vec<f64>,
}

/// A full evaluation: routers and baselines on one set. See the crate README for the JSON
/// schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    /// Number of prompts scored.
    pub n_prompts: usize,
    /// The candidate models, in column order (the order of every `shares` vector).
    pub models: Vec<ModelId>,
    /// The range AIQ averages over.
    pub cost_range: CostRange,
    /// Each model used alone.
    pub single_models: Vec<SingleModel>,
    /// The single model with the best mean quality (ties: cheaper).
    pub best_single: ModelId,
    /// The zero router.
    pub zero_router: ZeroRouter,
    /// The oracle's point: per prompt the best realised model, cheapest among ties.
    pub oracle_point: SweepPoint,
    /// The oracle swept over λ on realised quality and cost (its λ = 0 point is `oracle_point`):
    /// the upper bound of every router's curve.
    pub oracle: RouterResult,
    /// The routers, in input order.
    pub routers: Vec<RouterResult>,
    /// Each router's AIQ minus the zero router's, paired over the same bootstrap replicates
    /// of the test prompts, with 95 % intervals (empty when the bootstrap is off).
    #[serde(default)]
    pub paired_vs_zero: Vec<PairedDiff>,
    /// The same with cross-fitted AIQ on both sides ([`crate::metrics::cross_fit`]): what a
    /// router gains once the hull's selection optimism is taken out.
    #[serde(default)]
    pub paired_vs_zero_cross_fit: Vec<PairedDiff>,
}

/// Scores `routers` on `set`, with every baseline.
pub fn evaluate(set: &EvalSet, routers: &[RouterScores], config: &EvalConfig) -> Result<Report> {
    set.validate()?;
    for r in routers {
        r.validate_against(set)?;
    }
    let means = set.model_means();
    let range = CostRange::of_models(&means);
    let best = best_single_index(&means);
    let best_ref = (&set.models[best], means[best]);

    let score = |scores: &RouterScores| -> Result<RouterResult> {
        let sweep = lambda_sweep(set, scores, &config.lambdas)?;
        let points: Vec<Point> = sweep.iter().map(SweepPoint::point).collect();
        let hull = non_decreasing_hull(&points);
        let random = random_matched(&means, &sweep);
        // A point that sends every prompt to the best single model does not "reach" it.
        let all_best: Vec<Point> = sweep
            .iter()
            .filter(|p| p.shares.get(best).is_some_and(|&s| s >= 1.0 - 1e-9))
            .map(SweepPoint::point)
            .collect();
        Ok(RouterResult {
            name: scores.name.clone(),
            aiq: aiq(&hull, range),
            fixed_points: fixed_points(&hull, best_ref, &all_best),
            calibration: Calibration::of(set, scores, CALIBRATION_BINS),
            aiq_replicates: Vec::new(),
            aiq_cross_fit: None,
            aiq_cross_fit_replicates: Vec::new(),
            routellm: routellm_metrics(set, scores),
            random_matched_aiq: aiq(&non_decreasing_hull(&random), range),
            random_matched: random,
            hull,
            sweep,
        })
    };

    let zero_hull = zero_router_hull(&means);
    // Each router's picks per λ, once for both bootstraps.
    let paths = router_paths(set, routers, &config.lambdas)?;
    let replicates = bootstrap_paths(set, &paths, &config.bootstrap)?;
    let zero_router = ZeroRouter {
        aiq: aiq(&zero_hull, range),
        fixed_points: fixed_points(&zero_hull, best_ref, &[means[best]]),
        routellm: random_routing_metrics(set),
        hull: zero_hull,
        aiq_replicates: replicates.zero_router,
        aiq_cross_fit: None,
        aiq_cross_fit_replicates: Vec::new(),
    };
    let mut oracle = score(&RouterScores::oracle(set))?;
    oracle.name = ORACLE_LABEL.to_owned();
    oracle.calibration = None;
    let mut scored: Vec<RouterResult> = routers.iter().map(score).collect::<Result<_>>()?;
    for (r, reps) in scored.iter_mut().zip(replicates.routers) {
        r.aiq_replicates = reps;
    }
    let mut zero_router = zero_router;
    if let Some(cf) = crate::paired::cross_fit_aiq(set, &paths, &config.bootstrap)? {
        (
            zero_router.aiq_cross_fit,
            zero_router.aiq_cross_fit_replicates,
        ) = cf.zero_router;
        for (r, (aiq, reps)) in scored.iter_mut().zip(cf.routers) {
            (r.aiq_cross_fit, r.aiq_cross_fit_replicates) = (aiq, reps);
        }
    }
    let paired_vs_zero_cross_fit = scored
        .iter()
        .filter_map(|r| {
            PairedDiff::between(
                (&r.name, r.aiq_cross_fit?, &r.aiq_cross_fit_replicates),
                (
                    ZERO_ROUTER_LABEL,
                    zero_router.aiq_cross_fit?,
                    &zero_router.aiq_cross_fit_replicates,
                ),
            )
        })
        .collect();
    let paired_vs_zero = scored
        .iter()
        .filter_map(|r| {
            PairedDiff::between(
                (&r.name, r.aiq, &r.aiq_replicates),
                (
                    ZERO_ROUTER_LABEL,
                    zero_router.aiq,
                    &zero_router.aiq_replicates,
                ),
            )
        })
        .collect();
    Ok(Report {
        schema_version: REPORT_SCHEMA_VERSION,
        n_prompts: set.n_prompts(),
        models: set.models.clone(),
        cost_range: range,
        single_models: single_models(set),
        best_single: set.models[best].clone(),
        zero_router,
        oracle_point: realise(set, &oracle_choice(set), Some(0.0)),
        oracle,
        routers: scored,
        paired_vs_zero,
        paired_vs_zero_cross_fit,
    })
}

impl Report {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}
