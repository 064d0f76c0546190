use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const CONTEXTS: usize = 8;
const ACTIONS: usize = 4;

/// True success probability of action `a` in context `x`, and its cost.
fn truth(x: usize, a: usize) -> (f64, f64) {
    let p = 0.15 + 0.7 * (((x * 7 + a * 3) % 10) as f64 / 9.0);
    let cost = 0.001 * (a + 1) as f64 * (1.0 + 0.1 * x as f64);
    (p, cost)
}

/// Logging policy: ε-greedy-like, favours action `x % ACTIONS`, every action ≥ 0.1.
fn logging(x: usize) -> Vec<f64> {
    (0..ACTIONS)
        .map(|a| if a == x % ACTIONS { 0.7 } else { 0.1 })
        .collect()
}

/// Target policy: deterministic best action per context, mixed with a little uniform noise.
fn target(x: usize) -> Vec<f64> {
    let best = (0..ACTIONS)
        .max_by(|&a, &b| truth(x, a).0.total_cmp(&truth(x, b).0))
        .unwrap();
    (0..ACTIONS)
        .map(|a| if a == best { 0.85 } else { 0.05 })
        .collect()
}

fn true_values() -> (f64, f64) {
    let (mut r, mut c) = (0.0, 0.0);
    for x in 0..CONTEXTS {
        for (a, p) in target(x).iter().enumerate() {
            r += p * truth(x, a).0 / CONTEXTS as f64;
            c += p * truth(x, a).1 / CONTEXTS as f64;
        }
    }
    (r, c)
}

fn sample(probs: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let u: f64 = rng.gen();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probs.len() - 1
}

/// A log of `n` steps; `model_noise` perturbs the reward model (0: exact).
fn simulate(n: usize, seed: u64, model_noise: f64) -> Vec<LoggedStep> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let x = rng.gen_range(0..CONTEXTS);
            let mu = logging(x);
            let a = sample(&mu, &mut rng);
            let (p, cost) = truth(x, a);
            let reward = if rng.gen::<f64>() < p { 1.0 } else { 0.0 };
            LoggedStep {
                logged_action: a,
                propensity: mu[a],
                reward,
                cost,
                target_probs: target(x),
                reward_model: (0..ACTIONS)
                    .map(|b| truth(x, b).0 + model_noise * (((x + b) % 3) as f64 - 1.0))
                    .collect(),
                cost_model: (0..ACTIONS).map(|b| truth(x, b).1).collect(),
            }
        })
        .collect()
}

fn covers(e: &Estimate, v: f64) -> bool {
    e.ci_low <= v && v <= e.ci_high
}

#[test]
fn estimates_cover_the_truth_in_most_seeds() {
    let (true_r, true_c) = true_values();
    let seeds = 40;
    let mut hits = [0usize; 3];
    let mut cost_hits = 0;
    for seed in 0..seeds {
        let steps = simulate(2000, seed, 0.05);
        let report = evaluate_policy(&steps, &OpeConfig::default()).unwrap();
        for (h, e) in
            hits.iter_mut()
                .zip([report.reward.ips, report.reward.snips, report.reward.dr])
        {
            *h += usize::from(covers(&e, true_r));
        }
        // Costs are deterministic given (context, action) and the cost model is exact: DR's
        // cost error is only the sampling of contexts.
        assert!(
            report.cost.dr.ci_high - report.cost.dr.ci_low
                < report.cost.ips.ci_high - report.cost.ips.ci_low
        );
        cost_hits +=
            usize::from(covers(&report.cost.ips, true_c) && covers(&report.cost.dr, true_c));
    }
    println!("coverage of {seeds} seeds: ips/snips/dr {hits:?}, cost {cost_hits}");
    // 95 % intervals: expect about 38 of 40; allow sampling slack.
    for (name, h) in ["ips", "snips", "dr"].iter().zip(hits) {
        assert!(
            h >= 33,
            "{name} covered the truth in only {h} of {seeds} seeds"
        );
    }
    assert!(
        cost_hits >= 32,
        "ips and dr cost covered {cost_hits} of {seeds}"
    );
}

#[test]
fn dr_with_a_good_model_is_tighter_than_ips() {
    let steps = simulate(3000, 7, 0.0);
    let c = OpeConfig::default();
    let ips = ips(&steps, Target::Reward, &c).unwrap();
    let dr = doubly_robust(&steps, Target::Reward, &c).unwrap();
    let width = |e: &Estimate| e.ci_high - e.ci_low;
    println!("ci width: dr {:.4}, ips {:.4}", width(&dr), width(&ips));
    assert!(width(&dr) < 0.7 * width(&ips), "dr {dr:?} vs ips {ips:?}");
}

#[test]
fn on_policy_weights_reduce_to_the_mean() {
    // Target = logging policy: every weight is 1 and IPS is the plain mean.
    let mut steps = simulate(500, 3, 0.0);
    for s in &mut steps {
        s.target_probs = vec![0.0; ACTIONS];
        s.target_probs[s.logged_action] = 1.0;
        s.propensity = 1.0;
    }
    let r = evaluate_policy(&steps, &OpeConfig::default()).unwrap();
    let mean = steps.iter().map(|s| s.reward).sum::<f64>() / steps.len() as f64;
    assert!((r.reward.ips.value - mean).abs() < 1e-12);
    assert!((r.reward.snips.value - mean).abs() < 1e-12);
    assert!((r.reward.dr.value - mean).abs() < 1e-12);
    assert!((r.reward.ips.effective_sample_size - 500.0).abs() < 1e-9);
}

#[test]
fn clipping_caps_weights() {
    let steps = simulate(1000, 5, 0.0);
    let clipped = OpeConfig {
        clip: Some(2.0),
        ..OpeConfig::default()
    };
    let a = ips(&steps, Target::Reward, &OpeConfig::default()).unwrap();
    let b = ips(&steps, Target::Reward, &clipped).unwrap();
    // Weights reach 0.85 / 0.1 = 8.5; clipping at 2 can only lower a non-negative estimate.
    assert!(b.value < a.value);
    assert!(b.effective_sample_size > a.effective_sample_size);
}

#[test]
fn invalid_steps_are_rejected_with_their_position() {
    let mut steps = simulate(10, 1, 0.0);
    steps[4].propensity = 0.0;
    let err = ips(&steps, Target::Reward, &OpeConfig::default()).unwrap_err();
    assert!(err.to_string().contains("propensity"), "{err}");
    assert!(err.to_string().contains("[4]"), "{err}");
    let mut steps = simulate(10, 1, 0.0);
    steps[2].reward_model.pop();
    assert!(ips(&steps, Target::Reward, &OpeConfig::default()).is_ok());
    assert!(doubly_robust(&steps, Target::Reward, &OpeConfig::default()).is_err());
    assert!(ips(&[], Target::Reward, &OpeConfig::default()).is_err());
}

#[test]
fn gate_passes_a_clearly_better_router_and_stops_a_worse_one() {
    let steps = simulate(3000, 11, 0.05);
    for estimator in [GateEstimator::Ips, GateEstimator::Snips, GateEstimator::Dr] {
        let g = gate(
            &steps,
            0.0,
            estimator,
            GateLimits::default(),
            &OpeConfig::default(),
        )
        .unwrap();
        assert!(g.pass, "{estimator:?}: {g:?}");
        assert!(g.candidate.ci_low > g.logged.value);
    }
    // The same log judged for the worst action per context: every estimator refuses it.
    let worst: Vec<LoggedStep> = steps
        .iter()
        .map(|s| {
            let x = (0..CONTEXTS)
                .find(|&x| target(x) == s.target_probs)
                .unwrap();
            let bad = (0..ACTIONS)
                .min_by(|&a, &b| truth(x, a).0.total_cmp(&truth(x, b).0))
                .unwrap();
            let mut probs = vec![0.0; ACTIONS];
            probs[bad] = 1.0;
            LoggedStep {
                target_probs: probs,
                ..s.clone()
            }
        })
        .collect();
    for estimator in [GateEstimator::Ips, GateEstimator::Snips, GateEstimator::Dr] {
        let g = gate(
            &worst,
            0.0,
            estimator,
            GateLimits::default(),
            &OpeConfig::default(),
        )
        .unwrap();
        assert!(!g.pass, "{estimator:?}: {g:?}");
    }
    // Utility is quality − λ·cost per step; the logged side is its plain mean.
    let lambda = 50.0;
    let g = gate(
        &steps,
        lambda,
        GateEstimator::Snips,
        GateLimits::default(),
        &OpeConfig::default(),
    )
    .unwrap();
    let mean = steps
        .iter()
        .map(|s| s.reward - lambda * s.cost)
        .sum::<f64>()
        / 3000.0;
    assert!((g.logged.value - mean).abs() < 1e-12);
    assert_eq!(g.lambda, lambda);
    assert_eq!(GateEstimator::parse("dr"), Some(GateEstimator::Dr));
    // Too few effective samples: even the best router is not passed.
    let few = &steps[..40];
    let g = gate(
        few,
        0.0,
        GateEstimator::Snips,
        GateLimits::default(),
        &OpeConfig::default(),
    )
    .unwrap();
    assert!(
        g.candidate.effective_sample_size < DEFAULT_MIN_EFFECTIVE_N,
        "{g:?}"
    );
    assert!(!g.pass);
    assert_eq!(GateEstimator::parse("best"), None);
}

/// A logging policy that never takes the last action (top-k exploration leaves it at 0), and a
/// candidate that sends half the contexts there: no estimator sees those decisions, SNIPS
/// scores the covered half as if it were the whole, and the gate refuses on support.
#[test]
fn gate_refuses_a_candidate_the_log_does_not_cover() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let covered = ACTIONS - 1;
    let best_covered = |x: usize| {
        (0..covered)
            .max_by(|&a, &b| truth(x, a).0.total_cmp(&truth(x, b).0))
            .unwrap()
    };
    let steps: Vec<LoggedStep> = (0..4000)
        .map(|_| {
            let x = rng.gen_range(0..CONTEXTS);
            let mu: Vec<f64> = (0..ACTIONS)
                .map(|a| {
                    if a < covered {
                        1.0 / covered as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let a = sample(&mu, &mut rng);
            let (p, cost) = truth(x, a);
            let mut probs = vec![0.0; ACTIONS];
            probs[if x % 2 == 0 { covered } else { best_covered(x) }] = 1.0;
            LoggedStep {
                logged_action: a,
                propensity: mu[a],
                reward: if rng.gen::<f64>() < p { 1.0 } else { 0.0 },
                cost,
                target_probs: probs,
                reward_model: Vec::new(),
                cost_model: Vec::new(),
            }
        })
        .collect();
    let g = gate(
        &steps,
        0.0,
        GateEstimator::Snips,
        GateLimits::default(),
        &OpeConfig::default(),
    )
    .unwrap();
    assert!((g.support - 0.5).abs() < 0.05, "{g:?}");
    assert!(!g.pass, "{g:?}");
    let why = g.refusal().unwrap();
    assert!(why.contains("covers"), "{why}");
    // Without the support limit the same candidate would have passed on SNIPS alone: the
    // estimate is the covered half's mean, far above what the logged policy realised.
    let blind = gate(
        &steps,
        0.0,
        GateEstimator::Snips,
        GateLimits {
            min_support: 0.0,
            ..GateLimits::default()
        },
        &OpeConfig::default(),
    )
    .unwrap();
    assert!(blind.pass, "{blind:?}");
    // A covered candidate is measured at support ≈ 1 and its verdict has no refusal.
    let full = simulate(3000, 11, 0.05);
    let g = gate(
        &full,
        0.0,
        GateEstimator::Snips,
        GateLimits::default(),
        &OpeConfig::default(),
    )
    .unwrap();
    assert!((g.support - 1.0).abs() < 0.1, "{g:?}");
    assert!(g.pass && g.refusal().is_none(), "{g:?}");
}
