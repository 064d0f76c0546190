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
        cache_read: None,
        cache_write: None,
        price_tiers: Vec::new(),
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
    proptest::sample::subsequence(Capability::ALL.to_vec(), 0..=Capability::ALL.len())
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
                cache_read: None,
                cache_write: None,
                price_tiers: Vec::new(),
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

/// One model, $1/M prompt and $10/M output tokens, predicted to write `output_tokens`.
fn one_model(spec: &ModelSpec, output_tokens: f64) -> Vec<Prediction<'_>> {
    vec![Prediction {
        spec,
        quality: 0.8,
        output_tokens,
        source: EstimateSource::Trained,
        latency: spec.latency,
        spread: None,
    }]
}

#[test]
fn every_requested_answer_counts_against_the_budget() {
    let specs = [spec("m", 1.0, 10.0, &[])];
    let p = one_model(&specs[0], 100.0);
    let objective = Objective::default();
    // 100 prompt tokens ($0.0001) and 100 output tokens ($0.001) per answer.
    let one = Constraints {
        max_cost_usd: Some(0.002),
        ..Default::default()
    };
    let d = route(&p, 100, &one, objective).unwrap();
    let c = &d.ranked[0];
    assert!(c.is_feasible(), "{c:?}");
    assert!((c.cost_usd - 0.0011).abs() < 1e-12, "{}", c.cost_usd);
    // Five answers: the prompt once, the output five times.
    let five = Constraints { choices: 5, ..one };
    let d = route(&p, 100, &five, objective).unwrap();
    let c = &d.ranked[0];
    assert!((c.cost_usd - 0.0051).abs() < 1e-12, "{}", c.cost_usd);
    assert_eq!(c.violations, [Violation::OverBudget]);
    assert_eq!(d.reason, DecisionReason::LimitsRelaxed);
    // The answers are written side by side: latency and per-answer tokens do not change.
    assert_eq!(c.output_tokens, 100.0);
    assert_eq!(c.latency_ms, specs[0].latency.latency_ms(100.0));
}

#[test]
fn an_output_limit_caps_predicted_cost_and_latency() {
    let specs = [spec("long", 1.0, 10.0, &[]), spec("short", 1.0, 1.0, &[])];
    let mut p = one_model(&specs[0], 1000.0);
    p.extend(one_model(&specs[1], 100.0));
    p[1].quality = 0.5;
    let limits = Constraints {
        max_cost_usd: Some(0.001),
        max_latency_ms: Some(1000.0),
        ..Default::default()
    };
    let objective = Objective::Utility { lambda: 1.0 };
    // 1,000 tokens at $10/M is $0.01 and 20 s at 50 tokens/s: over both limits.
    let d = route(&p, 100, &limits, objective).unwrap();
    let long = d
        .ranked
        .iter()
        .find(|c| c.model.as_str() == "long")
        .unwrap();
    assert_eq!(
        long.violations,
        [Violation::OverBudget, Violation::TooSlow],
        "{long:?}"
    );
    assert_eq!(d.chosen.as_str(), "short");
    // With `max_tokens: 16` it can cost at most $0.00026 and take 520 ms: feasible, and
    // the better model wins.
    let capped = Constraints {
        output_limit: Some(16),
        ..limits
    };
    let d = route(&p, 100, &capped, objective).unwrap();
    let long = d
        .ranked
        .iter()
        .find(|c| c.model.as_str() == "long")
        .unwrap();
    assert!(long.is_feasible(), "{long:?}");
    assert_eq!(long.output_tokens, 16.0);
    assert!((long.cost_usd - 0.00026).abs() < 1e-12, "{}", long.cost_usd);
    assert!(
        (long.latency_ms - 520.0).abs() < 1e-9,
        "{}",
        long.latency_ms
    );
    assert_eq!(d.chosen.as_str(), "long");
    assert_eq!(d.reason, DecisionReason::BestFeasible);
    // A prediction under the limit is left alone.
    let roomy = Constraints {
        output_limit: Some(4096),
        ..Default::default()
    };
    let d = route(&p, 100, &roomy, objective).unwrap();
    let short = d
        .ranked
        .iter()
        .find(|c| c.model.as_str() == "short")
        .unwrap();
    assert_eq!(short.output_tokens, 100.0);
}

#[test]
fn an_infinite_output_prediction_is_the_context_window_not_free() {
    let specs = [spec("m", 1.0, 10.0, &[])];
    let limits = Constraints {
        max_cost_usd: Some(0.001),
        ..Default::default()
    };
    let d = route(
        &one_model(&specs[0], f64::INFINITY),
        100,
        &limits,
        Objective::Cheapest,
    )
    .unwrap();
    let c = &d.ranked[0];
    // The whole 8,192-token window, not 0 tokens and the prompt's $0.0001.
    assert_eq!(c.output_tokens, 8192.0);
    assert!((c.cost_usd - (100.0 + 8192.0 * 10.0) / 1e6).abs() < 1e-12);
    assert_eq!(c.violations, [Violation::OverBudget]);
    assert!(c.latency_ms.is_finite() && c.latency_ms > 100_000.0);
    // A finite prediction past the window is capped the same way; NaN still counts as 0.
    let d = route(
        &one_model(&specs[0], 1e30),
        100,
        &limits,
        Objective::Cheapest,
    )
    .unwrap();
    assert_eq!(d.ranked[0].output_tokens, 8192.0);
    let d = route(
        &one_model(&specs[0], f64::NAN),
        100,
        &limits,
        Objective::Cheapest,
    )
    .unwrap();
    assert_eq!(d.ranked[0].output_tokens, 0.0);
    assert!(d.ranked[0].is_feasible());
}
