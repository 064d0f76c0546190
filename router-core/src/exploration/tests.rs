use proptest::prelude::*;

use super::*;
use crate::policy::{route, Prediction};
use crate::{Constraints, EstimateSource, LatencyPrior, ModelSpec, Objective, ProviderId, Spread};

fn spec(id: &str, price_out: f64) -> ModelSpec {
    ModelSpec {
        id: ModelId::new(id),
        provider: ProviderId::new("p"),
        input_usd_per_mtok: price_out / 4.0,
        output_usd_per_mtok: price_out,
        context_window: 8192,
        capabilities: Default::default(),
        latency: LatencyPrior {
            ttft_ms: 200.0,
            tokens_per_s: 50.0,
        },
        token_ratio: 1.0,
        cache_read: None,
        cache_write: None,
        price_tiers: Vec::new(),
    }
}

fn specs(n: usize) -> Vec<ModelSpec> {
    (0..n)
        .map(|i| spec(&format!("m{i}"), 0.5 * (i + 1) as f64))
        .collect()
}

fn decide(specs: &[ModelSpec], q: &[f64], constraints: &Constraints) -> RouteDecision {
    let sources = vec![EstimateSource::Trained; q.len()];
    decide_from(specs, q, &sources, constraints)
}

fn decide_from(
    specs: &[ModelSpec],
    q: &[f64],
    sources: &[EstimateSource],
    constraints: &Constraints,
) -> RouteDecision {
    let p: Vec<Prediction<'_>> = specs
        .iter()
        .zip(q)
        .zip(sources)
        .map(|((spec, &quality), &source)| Prediction {
            spec,
            quality,
            output_tokens: 200.0,
            source,
            latency: spec.latency,
            spread: None,
        })
        .collect();
    route(&p, 500, constraints, Objective::Utility { lambda: 10.0 }).unwrap()
}

fn arb_exploration() -> impl Strategy<Value = Exploration> {
    prop_oneof![
        Just(Exploration::Off),
        (0.0..=1.0f64, 0usize..8)
            .prop_map(|(epsilon, top_k)| Exploration::EpsilonGreedy { epsilon, top_k }),
        (0.001..1.0f64, 0usize..8)
            .prop_map(|(temperature, top_k)| Exploration::Softmax { temperature, top_k }),
        (0.001..0.3f64, 0.001..0.3f64, 0usize..8).prop_map(|(trained_sd, prior_sd, top_k)| {
            Exploration::Thompson {
                trained_sd,
                prior_sd,
                top_k,
            }
        }),
    ]
}

#[test]
fn epsilon_greedy_propensities_match_the_formula() {
    let s = specs(4);
    let greedy = decide(&s, &[0.9, 0.8, 0.7, 0.6], &Constraints::default());
    let e = Exploration::EpsilonGreedy {
        epsilon: 0.2,
        top_k: 3,
    };
    let dist = action_distribution(&greedy, &e);
    assert_eq!(dist.len(), 3);
    assert_eq!(dist[0].0, greedy.chosen);
    assert!((dist[0].1 - (0.8 + 0.2 / 3.0)).abs() < 1e-12);
    for (_, p) in &dist[1..] {
        assert!((p - 0.2 / 3.0).abs() < 1e-12);
    }
    // The fourth model is outside the pool.
    let outside = greedy
        .ranked
        .iter()
        .find(|c| dist.iter().all(|(m, _)| *m != c.model))
        .unwrap();
    assert_eq!(propensity_of(&greedy, &e, &outside.model), 0.0);

    // A draw in the exploring region that lands on a non-greedy model.
    let explored = explore(greedy.clone(), &e, 0.99);
    assert_ne!(explored.chosen, greedy.chosen);
    assert_eq!(explored.reason, DecisionReason::Exploration);
    assert!((explored.propensity - 0.2 / 3.0).abs() < 1e-12);
    assert_eq!(explored.ranked, greedy.ranked);
    // A draw in the greedy region.
    let kept = explore(greedy.clone(), &e, 0.1);
    assert_eq!(kept.chosen, greedy.chosen);
    assert_eq!(kept.reason, DecisionReason::BestFeasible);
    assert!((kept.propensity - (0.8 + 0.2 / 3.0)).abs() < 1e-12);
}

#[test]
fn exploration_never_breaks_limits_or_overrides_a_relaxed_choice() {
    let s = specs(4);
    // Only m0 meets the quality floor: the pool is m0 alone.
    let one_feasible = Constraints {
        min_quality: Some(0.85),
        ..Constraints::default()
    };
    let greedy = decide(&s, &[0.9, 0.8, 0.7, 0.6], &one_feasible);
    let e = Exploration::EpsilonGreedy {
        epsilon: 1.0,
        top_k: 4,
    };
    let d = explore(greedy.clone(), &e, 0.99);
    assert_eq!(d, greedy);
    // Nobody meets the floor: the policy relaxed it, and exploration leaves that alone.
    let none_feasible = Constraints {
        min_quality: Some(0.95),
        ..Constraints::default()
    };
    let relaxed = decide(&s, &[0.9, 0.8, 0.7, 0.6], &none_feasible);
    assert_eq!(relaxed.reason, DecisionReason::QualityRelaxed);
    assert_eq!(explore(relaxed.clone(), &e, 0.99), relaxed);
}

#[test]
fn softmax_prefers_higher_utility() {
    let s = specs(3);
    let greedy = decide(&s, &[0.9, 0.5, 0.1], &Constraints::default());
    let e = Exploration::Softmax {
        temperature: 0.1,
        top_k: 3,
    };
    let dist = action_distribution(&greedy, &e);
    assert_eq!(dist.len(), 3);
    assert!(dist[0].1 > dist[1].1 && dist[1].1 > dist[2].1);
}

#[test]
fn thompson_tries_a_model_known_only_from_priors_more_than_a_learned_one() {
    let s = specs(2);
    let e = Exploration::Thompson {
        trained_sd: 0.05,
        prior_sd: 0.15,
        top_k: 2,
    };
    let q = [0.8, 0.72];
    let learned = decide_from(
        &s,
        &q,
        &[EstimateSource::Trained, EstimateSource::Trained],
        &Constraints::default(),
    );
    let new_model = decide_from(
        &s,
        &q,
        &[EstimateSource::Trained, EstimateSource::TaskPrior],
        &Constraints::default(),
    );
    assert_eq!(learned.chosen, new_model.chosen);
    let p_learned = propensity_of(&learned, &e, &s[1].id);
    let p_new = propensity_of(&new_model, &e, &s[1].id);
    // Two normal posteriors: the runner-up wins with Φ(−gap / √(σ₁² + σ₂²)).
    let gap = learned.ranked[0].utility - learned.ranked[1].utility;
    let phi = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    assert!((p_learned - phi(-gap / (0.05f64.hypot(0.05)))).abs() < 1e-6);
    assert!((p_new - phi(-gap / (0.05f64.hypot(0.15)))).abs() < 1e-6);
    assert!(p_new > 2.0 * p_learned, "{p_new} vs {p_learned}");
    // And the draw follows those probabilities.
    let explored = explore(new_model.clone(), &e, 0.999);
    assert_eq!(explored.chosen, s[1].id);
    assert_eq!(explored.reason, DecisionReason::Exploration);
    assert!((explored.propensity - p_new).abs() < 1e-12);
}

#[test]
fn thompson_explores_an_onboarded_model_by_its_measured_spread() {
    let s = specs(2);
    let e = Exploration::Thompson {
        trained_sd: 0.02,
        prior_sd: 0.05,
        top_k: 2,
    };
    let mut d = decide_from(
        &s,
        &[0.8, 0.72],
        &[EstimateSource::Trained, EstimateSource::Onboarded],
        &Constraints::default(),
    );
    let gap = d.ranked[0].utility - d.ranked[1].utility;
    let phi = |z: f64| 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    let runner_up = |d: &RouteDecision| propensity_of(d, &e, &s[1].id);
    // Without a spread (a fit written before spreads were kept) it counts as trained.
    assert!((runner_up(&d) - phi(-gap / 0.02f64.hypot(0.02))).abs() < 1e-6);
    // Probes measured 80 % of the estimate with a spread of 0.06; the catalog's share takes
    // the prior's 0.05: 0.06 + 0.2 × 0.05 = 0.07.
    d.ranked[1].spread = Some(Spread {
        sd: 0.06,
        measured: 0.8,
    });
    assert!((runner_up(&d) - phi(-gap / 0.02f64.hypot(0.07))).abs() < 1e-6);
    // More probes, a narrower posterior: tried less.
    let wide = runner_up(&d);
    d.ranked[1].spread = Some(Spread {
        sd: 0.01,
        measured: 1.0,
    });
    assert!(runner_up(&d) < wide / 3.0, "{} vs {wide}", runner_up(&d));
}

#[test]
fn a_choice_the_tie_break_kept_stays_the_likeliest_pick() {
    let s = specs(2);
    // The estimates prefer m1 by 0.03, less than the margin 0.05, so the tie-break kept m0.
    let mut d = decide(&s, &[0.80, 0.83], &Constraints::default());
    let preferred = d.chosen.clone();
    let fixed = d
        .ranked
        .iter()
        .find(|c| c.model != preferred)
        .unwrap()
        .model
        .clone();
    let gain = d.ranked[0].utility - d.ranked[1].utility;
    assert!(gain > 0.0 && gain < 0.05, "{gain}");
    d.chosen = fixed.clone();
    d.ranked.swap(0, 1);
    d.tie_break = Some(crate::policy::TieKept {
        fixed: fixed.clone(),
        preferred,
        gain,
        margin: 0.05,
    });
    for e in [
        Exploration::Softmax {
            temperature: 0.02,
            top_k: 2,
        },
        Exploration::Thompson {
            trained_sd: 0.02,
            prior_sd: 0.05,
            top_k: 2,
        },
    ] {
        let dist = action_distribution(&d, &e);
        let p_fixed = dist.iter().find(|(m, _)| *m == fixed).unwrap().1;
        assert!(p_fixed > 0.5, "{e:?}: {dist:?}");
        // Without the tie-break the same estimates favour the preferred model.
        let mut bare = d.clone();
        bare.tie_break = None;
        let p_bare = propensity_of(&bare, &e, &fixed);
        assert!(p_bare < 0.5, "{e:?}: {p_bare}");
    }
}

#[test]
fn serde_is_tagged_snake_case() {
    let t: Exploration = serde_json::from_str(r#"{"kind":"thompson","top_k":3}"#).unwrap();
    assert_eq!(
        t,
        Exploration::Thompson {
            trained_sd: DEFAULT_TRAINED_SD,
            prior_sd: DEFAULT_PRIOR_SD,
            top_k: 3
        }
    );
    let e: Exploration =
        serde_json::from_str(r#"{"kind":"epsilon_greedy","epsilon":0.1,"top_k":3}"#).unwrap();
    assert_eq!(
        e,
        Exploration::EpsilonGreedy {
            epsilon: 0.1,
            top_k: 3
        }
    );
    let off: Exploration = serde_json::from_str(r#"{"kind":"off"}"#).unwrap();
    assert_eq!(off, Exploration::Off);
    assert!(serde_json::from_str::<Exploration>(
        r#"{"kind":"epsilon_greedy","epsilon":0.1,"top_k":3,"k":2}"#
    )
    .is_err());
}

proptest! {
    #[test]
    fn propensities_sum_to_one_and_match_explore(
        qualities in proptest::collection::vec(0.0..1.0f64, 6),
        min_quality in proptest::option::of(0.0..0.9f64),
        exploration in arb_exploration(),
        u in 0.0..1.0f64,
    ) {
        let s = specs(6);
        let constraints = Constraints { min_quality, ..Constraints::default() };
        let greedy = decide(&s, &qualities, &constraints);
        let dist = action_distribution(&greedy, &exploration);
        let total: f64 = dist.iter().map(|(_, p)| p).sum();
        prop_assert!((total - 1.0).abs() < 1e-9);
        prop_assert!(dist.iter().all(|(_, p)| *p >= 0.0));
        prop_assert_eq!(&dist[0].0, &greedy.chosen);

        let d = explore(greedy.clone(), &exploration, u);
        let chosen = d.chosen_candidate().unwrap();
        prop_assert!(chosen.is_eligible());
        if greedy.chosen_candidate().unwrap().is_feasible() {
            prop_assert!(chosen.is_feasible());
        }
        prop_assert!(d.propensity > 0.0);
        prop_assert!((d.propensity - propensity_of(&greedy, &exploration, &d.chosen)).abs() < 1e-12);
        prop_assert_eq!(d.reason == DecisionReason::Exploration, d.chosen != greedy.chosen);
    }

    #[test]
    fn off_keeps_the_decision(
        qualities in proptest::collection::vec(0.0..1.0f64, 6),
        u in 0.0..1.0f64,
    ) {
        let s = specs(6);
        let greedy = decide(&s, &qualities, &Constraints::default());
        let d = explore(greedy.clone(), &Exploration::Off, u);
        prop_assert_eq!(d.propensity, 1.0);
        prop_assert_eq!(d, greedy.clone());
        prop_assert_eq!(propensity_of(&greedy, &Exploration::Off, &greedy.chosen), 1.0);
    }

    #[test]
    fn empirical_frequencies_match_propensities(
        qualities in proptest::collection::vec(0.0..1.0f64, 5),
        exploration in arb_exploration(),
    ) {
        // A fine grid of draws is an exact quadrature of the inverse CDF.
        let s = specs(5);
        let greedy = decide(&s, &qualities, &Constraints::default());
        let dist = action_distribution(&greedy, &exploration);
        let n = 2_000;
        let mut hits = vec![0usize; dist.len()];
        for i in 0..n {
            let chosen = explore(greedy.clone(), &exploration, (i as f64 + 0.5) / n as f64).chosen;
            let at = dist.iter().position(|(m, _)| *m == chosen);
            prop_assert!(at.is_some(), "{chosen} is outside the distribution");
            hits[at.unwrap_or(0)] += 1;
        }
        for ((_, p), hit) in dist.iter().zip(hits) {
            prop_assert!((hit as f64 / n as f64 - p).abs() <= 2.0 / n as f64 + 1e-12);
        }
    }
}
