use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::{Capability, EstimateSource, LatencyPrior, ProviderId};

fn spec(id: &str, price_in: f64, price_out: f64, caps: &[Capability]) -> ModelSpec {
    ModelSpec {
        id: ModelId::new(id),
        provider: ProviderId::new("p"),
        input_usd_per_mtok: price_in,
        output_usd_per_mtok: price_out,
        context_window: 8192,
        capabilities: caps.iter().copied().collect(),
        latency: LatencyPrior {
            ttft_ms: 200.0,
            tokens_per_s: 50.0,
        },
        token_ratio: 1.0,
    }
}

fn three() -> Vec<ModelSpec> {
    vec![
        spec("cheap", 0.1, 0.2, &[]),
        spec("mid", 1.0, 2.0, &[Capability::Tools]),
        spec(
            "strong",
            10.0,
            30.0,
            &[Capability::Tools, Capability::Vision],
        ),
    ]
}

fn preds<'a>(specs: &'a [ModelSpec], q: &[f64]) -> Vec<Prediction<'a>> {
    specs
        .iter()
        .zip(q)
        .map(|(spec, &quality)| Prediction {
            spec,
            quality,
            output_tokens: 100.0,
            source: EstimateSource::Trained,
            latency: spec.latency,
            spread: None,
        })
        .collect()
}

#[test]
fn high_lambda_prefers_cheap_and_low_lambda_prefers_strong() {
    let specs = three();
    let p = preds(&specs, &[0.5, 0.7, 0.9]);
    let c = Constraints::default();
    let frugal = route(&p, 1000, &c, Objective::Utility { lambda: 1e5 }).unwrap();
    assert_eq!(frugal.chosen.as_str(), "cheap");
    let lavish = route(&p, 1000, &c, Objective::Utility { lambda: 0.0 }).unwrap();
    assert_eq!(lavish.chosen.as_str(), "strong");
    assert_eq!(lavish.reason, DecisionReason::BestFeasible);
    assert_eq!(lavish.ranked.len(), 3);
}

#[test]
fn cheapest_meeting_min_quality() {
    let specs = three();
    let p = preds(&specs, &[0.5, 0.75, 0.9]);
    let c = Constraints {
        min_quality: Some(0.7),
        ..Default::default()
    };
    let d = route(&p, 1000, &c, Objective::Cheapest).unwrap();
    assert_eq!(d.chosen.as_str(), "mid");
}

#[test]
fn quality_relaxed_then_limits_relaxed() {
    let specs = three();
    let p = preds(&specs, &[0.5, 0.6, 0.7]);
    let c = Constraints {
        min_quality: Some(0.99),
        ..Default::default()
    };
    let d = route(&p, 1000, &c, Objective::Utility { lambda: 0.0 }).unwrap();
    assert_eq!(d.reason, DecisionReason::QualityRelaxed);
    assert_eq!(d.chosen.as_str(), "strong");

    let c = Constraints {
        max_cost_usd: Some(0.0),
        ..Default::default()
    };
    let d = route(&p, 1000, &c, Objective::Utility { lambda: 0.0 }).unwrap();
    assert_eq!(d.reason, DecisionReason::LimitsRelaxed);
    assert_eq!(d.chosen.as_str(), "cheap");
    // Failover keeps to the rule that chose: the next cheapest, not the best.
    let order = d.failover_order();
    let order: Vec<&str> = order.iter().map(|m| m.as_str()).collect();
    assert_eq!(order, ["cheap", "mid", "strong"]);
}

#[test]
fn no_eligible_model_is_an_error() {
    let specs = three();
    let p = preds(&specs, &[0.5, 0.6, 0.7]);
    let c = Constraints {
        exclude: vec![ModelId::new("strong")],
        required_capabilities: [Capability::Vision].into(),
        ..Default::default()
    };
    assert_eq!(
        route(&p, 10, &c, Objective::default()),
        Err(PolicyError::NoEligibleModel { considered: 2 })
    );
}

#[test]
fn nan_predictions_do_not_poison_the_ranking() {
    let specs = three();
    let p = preds(&specs, &[f64::NAN, 0.6, f64::INFINITY]);
    let d = route(
        &p,
        10,
        &Constraints::default(),
        Objective::Utility { lambda: 0.0 },
    )
    .unwrap();
    assert!(d
        .ranked
        .iter()
        .all(|c| c.quality.is_finite() && c.utility.is_finite()));
}

fn arb_caps() -> impl Strategy<Value = BTreeSet<Capability>> {
    proptest::sample::subsequence(Capability::ALL.to_vec(), 0..=3)
        .prop_map(|v| v.into_iter().collect())
}

fn arb_specs() -> impl Strategy<Value = Vec<ModelSpec>> {
    proptest::collection::vec(
        (
            0.0..50.0f64,
            0.0..100.0f64,
            arb_caps(),
            100u32..200_000,
            10.0..2000.0f64,
            1.0..300.0f64,
        ),
        1..8,
    )
    .prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (pi, po, caps, ctx, ttft, tps))| ModelSpec {
                id: ModelId::new(format!("m{i}")),
                provider: ProviderId::new("p"),
                input_usd_per_mtok: pi,
                output_usd_per_mtok: po,
                context_window: ctx,
                capabilities: caps,
                latency: LatencyPrior {
                    ttft_ms: ttft,
                    tokens_per_s: tps,
                },
                token_ratio: 1.0,
            })
            .collect()
    })
}

fn arb_constraints() -> impl Strategy<Value = Constraints> {
    (
        proptest::option::of(0.0..0.05f64),
        proptest::option::of(0.0..1.0f64),
        proptest::option::of(100.0..20_000.0f64),
        arb_caps(),
    )
        .prop_map(
            |(max_cost_usd, min_quality, max_latency_ms, required_capabilities)| Constraints {
                max_cost_usd,
                min_quality,
                max_latency_ms,
                required_capabilities,
                ..Default::default()
            },
        )
}

proptest! {
    #[test]
    fn invariants(
        specs in arb_specs(),
        qualities in proptest::collection::vec(0.0..1.0f64, 8),
        tokens in proptest::collection::vec(0.0..4000.0f64, 8),
        input_tokens in 0u32..300_000,
        constraints in arb_constraints(),
        lambda in 0.0..10_000.0f64,
        cheapest in any::<bool>(),
    ) {
        let p: Vec<Prediction<'_>> = specs.iter().enumerate()
            .map(|(i, spec)| Prediction { spec, quality: qualities[i], output_tokens: tokens[i], source: EstimateSource::Trained, latency: spec.latency, spread: None })
            .collect();
        let objective = if cheapest { Objective::Cheapest } else { Objective::Utility { lambda } };
        match route(&p, input_tokens, &constraints, objective) {
            Err(PolicyError::NoEligibleModel { .. }) => {
                // Only possible when no model meets the hard constraints.
                prop_assert!(specs.iter().all(|s| !s.supports(&constraints.required_capabilities) || input_tokens > s.context_window));
            }
            Ok(d) => {
                let chosen = d.chosen_candidate().cloned();
                prop_assert!(chosen.is_some());
                let chosen = chosen.unwrap_or_else(|| unreachable!());
                let spec = specs.iter().find(|s| s.id == d.chosen).unwrap_or_else(|| unreachable!());
                // Hard constraints are never relaxed.
                prop_assert!(spec.supports(&constraints.required_capabilities));
                prop_assert!(input_tokens <= spec.context_window);
                // A feasible choice whenever one exists, and it respects the budget.
                let any_feasible = d.ranked.iter().any(|c| c.is_feasible());
                prop_assert_eq!(any_feasible, d.reason == DecisionReason::BestFeasible);
                if d.reason == DecisionReason::BestFeasible {
                    prop_assert!(constraints.max_cost_usd.is_none_or(|m| chosen.cost_usd <= m));
                    prop_assert!(constraints.min_quality.is_none_or(|m| chosen.quality >= m));
                    // Optimality: no feasible candidate has a strictly higher utility.
                    for c in d.ranked.iter().filter(|c| c.is_feasible()) {
                        prop_assert!(c.utility <= chosen.utility);
                    }
                }
                // The ranking starts with the chosen model when it is feasible, and the
                // failover order only holds eligible models.
                if d.reason == DecisionReason::BestFeasible {
                    prop_assert_eq!(&d.ranked[0].model, &d.chosen);
                }
                for m in d.failover_order() {
                    let c = d.ranked.iter().find(|c| c.model == m).unwrap_or_else(|| unreachable!());
                    prop_assert!(c.is_eligible());
                }
                prop_assert!(d.propensity == 1.0);
            }
        }
    }

    #[test]
    fn tighter_budget_never_raises_cost(
        specs in arb_specs(),
        qualities in proptest::collection::vec(0.0..1.0f64, 8),
        budget in 0.0..0.05f64,
        lambda in 0.0..1000.0f64,
    ) {
        let p: Vec<Prediction<'_>> = specs.iter().enumerate()
            .map(|(i, spec)| Prediction { spec, quality: qualities[i], output_tokens: 200.0, source: EstimateSource::Trained, latency: spec.latency, spread: None })
            .collect();
        let free = route(&p, 500, &Constraints::default(), Objective::Utility { lambda });
        let capped = route(&p, 500, &Constraints { max_cost_usd: Some(budget), ..Default::default() }, Objective::Utility { lambda });
        if let (Ok(free), Ok(capped)) = (free, capped) {
            let cf = free.chosen_candidate().map(|c| c.cost_usd).unwrap_or_default();
            let cc = capped.chosen_candidate().map(|c| c.cost_usd).unwrap_or_default();
            prop_assert!(cc <= cf || cc <= budget);
        }
    }
}

#[test]
fn a_token_ratio_prices_and_fits_the_prompt_in_the_models_own_tokens() {
    let mut wordy = spec("wordy", 1.0, 2.0, &[]);
    wordy.token_ratio = 1.3;
    let specs = vec![spec("plain", 1.0, 2.0, &[]), wordy];
    let p = preds(&specs, &[0.8, 0.8]);
    let c = Constraints::default();
    let d = route(&p, 1000, &c, Objective::Utility { lambda: 5.0 }).unwrap();
    let cost = |m: &str| {
        d.ranked
            .iter()
            .find(|x| x.model.as_str() == m)
            .unwrap()
            .cost_usd
    };
    // 1,300 prompt tokens at $1/M where the other counts 1,000; the same 100 output tokens.
    assert!((cost("wordy") - cost("plain") - 300.0e-6).abs() < 1e-12);
    assert_eq!(d.chosen.as_str(), "plain");
    // 7,000 estimated tokens are 9,100 of its own: over its 8,192-token window.
    let d = route(&p, 7000, &c, Objective::Utility { lambda: 0.0 }).unwrap();
    let wordy = d
        .ranked
        .iter()
        .find(|x| x.model.as_str() == "wordy")
        .unwrap();
    assert!(wordy.violations.contains(&Violation::ContextTooSmall));
}
