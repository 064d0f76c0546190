//! End-to-end checks of `evals` on seeded synthetic sets: the metrics' known values for random,
//! oracle and perfect routers, report rendering, the SVG plot and seed aggregation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use evals::{evaluate, EvalConfig, EvalSet, LambdaGrid, Report, RouterScores, SeedSummary};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use router_core::ModelId;

/// A synthetic benchmark: prompt difficulty `d ~ U(0,1)`, model `m` answers correctly when
/// `skill_m + N(0, 0.15) > d`; cost = price × a per-prompt length factor. Returns the set and
/// each cell's true success probability (what a perfect predictor would say).
fn synthetic(seed: u64, n: usize, skills: &[f64], prices: &[f64]) -> (EvalSet, Vec<Vec<f64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut quality, mut cost, mut prob) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let d: f64 = rng.gen();
        let len = 0.5 + rng.gen::<f64>();
        let mut q = Vec::new();
        let mut p = Vec::new();
        for &s in skills {
            // Logistic stands in for the Gaussian CDF; both are fine for a synthetic set.
            let prob_ok = 1.0 / (1.0 + (-(s - d) / 0.09).exp());
            p.push(prob_ok);
            q.push(if rng.gen::<f64>() < prob_ok { 1.0 } else { 0.0 });
        }
        quality.push(q);
        prob.push(p);
        cost.push(prices.iter().map(|c| c * len).collect());
    }
    let models = (0..skills.len())
        .map(|i| ModelId::new(format!("model-{i}")))
        .collect();
    (EvalSet::new(models, quality, cost).unwrap(), prob)
}

/// A router predicting the true success probability plus noise, and each model's list price.
fn noisy_router(
    name: &str,
    set: &EvalSet,
    prob: &[Vec<f64>],
    noise: f64,
    seed: u64,
) -> RouterScores {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let means = set.model_means();
    RouterScores {
        name: name.to_owned(),
        quality: prob
            .iter()
            .map(|r| {
                r.iter()
                    .map(|p| p + noise * (rng.gen::<f64>() - 0.5))
                    .collect()
            })
            .collect(),
        cost: (0..set.n_prompts())
            .map(|_| means.iter().map(|m| m.cost).collect())
            .collect(),
        tie: None,
    }
}

fn two_model_set(seed: u64, n: usize) -> (EvalSet, Vec<Vec<f64>>) {
    synthetic(seed, n, &[0.45, 0.75], &[0.0002, 0.01])
}

#[test]
fn random_router_apgr_is_one_half() {
    let (set, _) = two_model_set(7, 10_000);
    for seed in 0..3 {
        let report = evaluate(
            &set,
            &[RouterScores::random(&set, seed)],
            &EvalConfig::default(),
        )
        .unwrap();
        let m = report.routers[0].routellm.as_ref().unwrap();
        assert!((m.apgr - 0.5).abs() < 0.03, "seed {seed}: APGR {}", m.apgr);
        assert_eq!(m.strong, ModelId::new("model-1"));
        // The curve runs from all-weak (PGR 0) to all-strong (PGR 1).
        assert_eq!(m.curve.first().unwrap().pgr, 0.0);
        assert!((m.curve.last().unwrap().pgr - 1.0).abs() < 1e-12);
    }
}

#[test]
fn oracle_apgr_is_far_above_random_and_good_router_in_between() {
    let (set, prob) = two_model_set(11, 4_000);
    let good = noisy_router("good", &set, &prob, 0.2, 1);
    let report = evaluate(&set, &[good], &EvalConfig::default()).unwrap();
    let oracle = report.oracle.routellm.as_ref().unwrap().apgr;
    let good = report.routers[0].routellm.as_ref().unwrap();
    let zero = report.zero_router.routellm.as_ref().unwrap();
    assert_eq!(zero.apgr, 0.5);
    assert!(oracle > 0.85, "oracle APGR {oracle}");
    assert!(
        good.apgr > 0.6 && good.apgr < oracle,
        "good APGR {}",
        good.apgr
    );
    let (c50, c80) = (good.cpt50_pct.unwrap(), good.cpt80_pct.unwrap());
    assert!(c50 < 50.0 && c50 < c80 && c80 < 80.0, "CPT {c50} {c80}");
}

#[test]
fn perfect_router_apgr_is_about_one() {
    // The strong model beats the weak one on exactly 1 % of prompts and ties elsewhere:
    // a perfect router recovers the whole gap with 1 % strong calls.
    let n = 2_000;
    let mut quality = vec![vec![0.5, 0.5]; n];
    for row in quality.iter_mut().step_by(100) {
        *row = vec![0.0, 1.0];
    }
    let set = EvalSet::new(
        vec![ModelId::new("weak"), ModelId::new("strong")],
        quality,
        vec![vec![1.0, 10.0]; n],
    )
    .unwrap();
    let report = evaluate(&set, &[], &EvalConfig::default()).unwrap();
    let m = report.oracle.routellm.as_ref().unwrap();
    // PGR rises linearly to 1 at 1 %, then stays: APGR = 1 − 0.01/2.
    assert!((m.apgr - 0.995).abs() < 1e-12, "APGR {}", m.apgr);
    assert!((m.cpt80_pct.unwrap() - 0.8).abs() < 1e-9);
}

#[test]
fn oracle_aiq_bounds_every_router_and_good_beats_zero_router() {
    let (set, prob) = synthetic(
        3,
        3_000,
        &[0.3, 0.5, 0.65, 0.8],
        &[0.0001, 0.0006, 0.003, 0.015],
    );
    let routers = vec![
        noisy_router("good", &set, &prob, 0.1, 1),
        noisy_router("noisy", &set, &prob, 1.0, 2),
        RouterScores::random(&set, 3),
    ];
    let report = evaluate(&set, &routers, &EvalConfig::default()).unwrap();
    for r in &report.routers {
        assert!(
            report.oracle.aiq >= r.aiq,
            "{}: {} > oracle {}",
            r.name,
            r.aiq,
            report.oracle.aiq
        );
        // Random routing at a router's own call shares never beats the zero router.
        assert!(r.random_matched_aiq <= report.zero_router.aiq + 1e-12);
    }
    assert!(report.oracle.aiq >= report.zero_router.aiq);
    let good = &report.routers[0];
    assert!(
        good.aiq > report.zero_router.aiq,
        "good {} zero {}",
        good.aiq,
        report.zero_router.aiq
    );
    // The oracle's λ = 0 point is the per-prompt best.
    let o0 = &report.oracle.sweep[0];
    assert_eq!(o0.lambda, Some(0.0));
    assert_eq!(
        (o0.cost, o0.quality),
        (report.oracle_point.cost, report.oracle_point.quality)
    );
    // No APGR for four models.
    assert!(good.routellm.is_none());
    // Shares sum to one.
    for s in &good.sweep {
        assert!((s.shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
}

#[test]
fn zero_router_aiq_is_its_hull_area_by_hand() {
    // Means: a (1, 0.25), b (2, 0.75), c (3, 0.5) → hull a–b, flat after b.
    let set = EvalSet::new(
        vec![ModelId::new("a"), ModelId::new("b"), ModelId::new("c")],
        vec![vec![0.5, 1.0, 0.0], vec![0.0, 0.5, 1.0]],
        vec![vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 3.0]],
    )
    .unwrap();
    let report = evaluate(&set, &[], &EvalConfig::default()).unwrap();
    // ∫_1^3 = (0.25 + 0.75)/2 · 1 + 0.75 · 1 = 1.25, over a range of 2.
    assert_eq!(report.zero_router.aiq, 0.625);
    assert_eq!(report.best_single, ModelId::new("b"));
    // It matches b only by sending b every prompt: that is not reaching it.
    assert_eq!(report.zero_router.fixed_points.cost_to_reach_best_usd, None);
}

#[test]
fn report_renders_markdown_json_and_svg() {
    let (set, prob) = two_model_set(5, 500);
    let routers = [noisy_router("mlp | v1", &set, &prob, 0.3, 9)];
    let config = EvalConfig {
        lambdas: LambdaGrid::Auto { points: 40 },
        ..EvalConfig::default()
    };
    let report = evaluate(&set, &routers, &config).unwrap();
    assert_eq!(report.routers[0].sweep.len(), 42);

    let md = report.to_markdown();
    assert!(md.contains("| router | AIQ |"));
    assert!(md.contains("mlp \\| v1"));
    assert!(md.contains("oracle (upper bound)"));
    assert!(md.contains("zero router"));

    let json = report.to_json().unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.routers[0].aiq, report.routers[0].aiq);
    // λ = ∞ is written as null.
    assert!(report.routers[0].sweep.last().unwrap().lambda.is_none());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plot.svg");
    report.plot_svg(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg") && svg.len() > 2_000);
    assert!(svg.contains("oracle (upper bound)"));
}

#[test]
fn seed_summary_aggregates_runs() {
    let reports: Vec<Report> = (0..3)
        .map(|seed| {
            let (set, prob) = two_model_set(100 + seed, 400);
            let r = noisy_router("good", &set, &prob, 0.2, seed);
            evaluate(&set, &[r], &EvalConfig::default()).unwrap()
        })
        .collect();
    let summary = SeedSummary::from_reports(&reports);
    assert_eq!(summary.runs, 3);
    let names: Vec<&str> = summary.routers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["good", "zero router", "oracle (upper bound)"]);
    let good = &summary.routers[0];
    let aiqs: Vec<f64> = reports.iter().map(|r| r.routers[0].aiq).collect();
    let mean = aiqs.iter().sum::<f64>() / 3.0;
    assert!((good.aiq.unwrap().mean - mean).abs() < 1e-12);
    assert_eq!(good.aiq.unwrap().n, 3);
    assert_eq!(summary.routers[1].apgr.unwrap().mean, 0.5);
    assert!(summary.to_markdown().contains("| good |"));
    // Paired differences with the zero router, one per run.
    let delta = good.delta_vs_zero.unwrap();
    assert_eq!(delta.n, 3);
    let by_hand: Vec<f64> = reports
        .iter()
        .map(|r| r.routers[0].aiq - r.zero_router.aiq)
        .collect();
    assert!((delta.mean - by_hand.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    for r in &reports {
        let d = &r.paired_vs_zero[0];
        assert!(d.low <= d.delta + 1e-9 && d.delta <= d.high + 1e-9, "{d:?}");
        assert_eq!(d.resamples, 1000);
    }
    assert!(good.ece.is_some() && summary.routers[1].ece.is_none());
}

#[test]
fn mismatched_router_is_rejected() {
    let (set, _) = two_model_set(1, 10);
    let bad = RouterScores {
        name: "bad".into(),
        quality: vec![vec![0.5, 0.5]; 9],
        cost: vec![vec![1.0, 1.0]; 10],
        tie: None,
    };
    let err = evaluate(&set, &[bad], &EvalConfig::default()).unwrap_err();
    assert!(err.to_string().contains("bad"), "{err}");
}
