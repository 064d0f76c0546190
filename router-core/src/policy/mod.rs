//! The routing policy: a pure function from per-model predictions and constraints to a
//! ranked decision.
//!
//! [`decide`] (and [`greedy`]) is the policy every caller uses: it fills in each candidate's
//! estimate (trained, task prior or flat prior), ranks with [`route`], then explores or applies
//! the static fallback. [`route`] is the ranking step alone:
//!
//! 1. Models outside the allow-list or on the exclude list are dropped.
//! 2. Every remaining model gets predicted cost (catalog prices × predicted tokens), latency
//!    (latency prior) and utility, and the list of constraints it breaks.
//! 3. Missing capabilities and a too-small context window are hard: such models are never
//!    chosen. Cost, latency and quality limits are soft.
//! 4. Among feasible models the objective decides. With none feasible the documented fallback
//!    applies: first drop `min_quality` and take the best model within cost and latency
//!    ([`DecisionReason::QualityRelaxed`]); if still none, take the cheapest eligible model
//!    ([`DecisionReason::LimitsRelaxed`]). With no eligible model at all it is an error.
//! 5. The ranking (and so the failover order) follows the same rules: feasible models, then
//!    those only below the quality floor, both by objective, then the other eligible ones by
//!    cost, then the ineligible.
//!
//! Ties break by lower cost, then by model id, so the result is deterministic.

use std::cmp::Ordering;

use crate::{
    Candidate, Constraints, DecisionReason, EstimateSource, LatencyPrior, ModelId, ModelSpec,
    Objective, RouteDecision, Spread, Violation,
};

mod decide;
mod difficulty;
mod tie_break;

pub use decide::{decide, greedy, predictions, DecisionInput, ModelPrior, PolicyModel, Serving};
pub use difficulty::{apply as apply_difficulty, Anchor, DifficultyLink};
pub use tie_break::{MeanEstimate, TieBreak, TieKept};

/// A predictor's estimate for one model on one prompt.
#[derive(Clone, Copy, Debug)]
pub struct Prediction<'a> {
    /// The catalog entry.
    pub spec: &'a ModelSpec,
    /// Predicted quality in `[0, 1]`.
    pub quality: f64,
    /// Predicted output tokens.
    pub output_tokens: f64,
    /// Where the estimate came from.
    pub source: EstimateSource,
    /// Latency prior: the one measured by live onboarding when there is one, else the
    /// catalog's (`spec.latency`).
    pub latency: LatencyPrior,
    /// The measured part of the estimate's uncertainty, where there is one
    /// ([`ModelPrior::spread`]).
    pub spread: Option<Spread>,
}

/// Why no decision could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Every model was filtered out or breaks a hard constraint.
    #[error("no eligible model: {considered} considered, none has the required capabilities and context window among the allowed candidates")]
    NoEligibleModel {
        /// How many models passed the allow/exclude lists.
        considered: usize,
    },
}

/// Routes one request. See the module documentation for the rules.
pub fn route(
    predictions: &[Prediction<'_>],
    input_tokens: u32,
    constraints: &Constraints,
    objective: Objective,
) -> Result<RouteDecision, PolicyError> {
    let mut ranked: Vec<Candidate> = predictions
        .iter()
        .filter(|p| constraints.allows(&p.spec.id))
        .map(|p| evaluate(p, input_tokens, constraints, objective))
        .collect();
    let considered = ranked.len();

    let (chosen, reason) =
        if let Some(m) = best(ranked.iter().filter(|c| c.is_feasible()), by_utility) {
            (m, DecisionReason::BestFeasible)
        } else if let Some(m) = best(
            ranked
                .iter()
                .filter(|c| c.violations.iter().all(|v| *v == Violation::BelowQuality)),
            by_utility,
        ) {
            (m, DecisionReason::QualityRelaxed)
        } else if let Some(m) = best(ranked.iter().filter(|c| c.is_eligible()), by_cost) {
            (m, DecisionReason::LimitsRelaxed)
        } else {
            return Err(PolicyError::NoEligibleModel { considered });
        };

    // Rank in the order the rules above choose, so that failover after the chosen model
    // keeps to them: feasible by objective, then those only below the quality floor by
    // objective, then the other eligible ones by cost (a request capped at a cent whose cheap
    // model fails must not go to the dearest), then the ineligible.
    ranked.sort_by(|a, b| {
        tier(a).cmp(&tier(b)).then_with(|| {
            if tier(a) == 2 {
                by_cost(a, b).then_with(|| a.model.cmp(&b.model))
            } else {
                by_utility(a, b)
            }
        })
    });
    Ok(RouteDecision {
        chosen,
        ranked,
        reason,
        propensity: 1.0,
        tasks: None,
        difficulty: None,
        routing: None,
        tie_break: None,
        input_tokens: Some(input_tokens),
    })
}

fn best<'a>(
    pool: impl Iterator<Item = &'a Candidate>,
    cmp: fn(&Candidate, &Candidate) -> Ordering,
) -> Option<ModelId> {
    pool.min_by(|a, b| cmp(a, b)).map(|c| c.model.clone())
}

fn tier(c: &Candidate) -> u8 {
    if c.is_feasible() {
        0
    } else if c.is_eligible() && c.violations.iter().all(|v| *v == Violation::BelowQuality) {
        1
    } else if c.is_eligible() {
        2
    } else {
        3
    }
}

/// Higher utility first, then lower cost, then model id.
fn by_utility(a: &Candidate, b: &Candidate) -> Ordering {
    b.utility
        .total_cmp(&a.utility)
        .then_with(|| a.cost_usd.total_cmp(&b.cost_usd))
        .then_with(|| a.model.cmp(&b.model))
}

/// Lower cost first, then higher quality, then model id.
fn by_cost(a: &Candidate, b: &Candidate) -> Ordering {
    a.cost_usd
        .total_cmp(&b.cost_usd)
        .then_with(|| b.quality.total_cmp(&a.quality))
        .then_with(|| a.model.cmp(&b.model))
}

fn evaluate(
    p: &Prediction<'_>,
    input_tokens: u32,
    constraints: &Constraints,
    objective: Objective,
) -> Candidate {
    let quality = sanitize(p.quality).clamp(0.0, 1.0);
    let output_tokens = answer_tokens(p.output_tokens, p.spec, constraints);
    let cost_usd = request_cost_usd(p.spec, input_tokens, output_tokens, constraints);
    // The answers are written side by side: latency is one answer's.
    let latency_ms = p.latency.latency_ms(output_tokens);
    let utility = match objective {
        Objective::Utility { lambda } => quality - sanitize(lambda).max(0.0) * cost_usd,
        Objective::Cheapest => -cost_usd,
    };

    let mut violations = Vec::new();
    if !p.spec.supports(&constraints.required_capabilities) {
        violations.push(Violation::MissingCapability);
    }
    if p.spec.prompt_tokens(f64::from(input_tokens)) > f64::from(p.spec.context_window) {
        violations.push(Violation::ContextTooSmall);
    }
    if constraints.max_cost_usd.is_some_and(|max| cost_usd > max) {
        violations.push(Violation::OverBudget);
    }
    if constraints.min_quality.is_some_and(|min| quality < min) {
        violations.push(Violation::BelowQuality);
    }
    if constraints
        .max_latency_ms
        .is_some_and(|max| latency_ms > max)
    {
        violations.push(Violation::TooSlow);
    }
    Candidate {
        model: p.spec.id.clone(),
        quality,
        output_tokens,
        cost_usd,
        latency_ms,
        utility,
        violations,
        source: Some(p.source),
        spread: p.spread,
    }
}

/// Predictors may emit NaN on degenerate input; treat it as zero rather than poison the sort.
fn sanitize(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// The most output tokens one answer is believed to need when the model's context window
/// cannot say (a window of 0, which the catalog refuses).
const MAX_OUTPUT_TOKENS: f64 = 1_000_000.0;

/// One answer's predicted output tokens as the policy prices and times them: never more than
/// the model could write (its context window) nor than the request allows (`output_limit`),
/// never negative. An overflowing prediction (+inf, e.g. `exp_m1` of a large log-count in
/// f32) is the cap, not 0: a model predicted to write without end must not look free and
/// instant. NaN (no information) stays 0, as before.
pub fn answer_tokens(predicted: f64, spec: &ModelSpec, constraints: &Constraints) -> f64 {
    let window = if spec.context_window > 0 {
        f64::from(spec.context_window)
    } else {
        MAX_OUTPUT_TOKENS
    };
    let cap = constraints
        .output_limit
        .map_or(window, |limit| window.min(f64::from(limit)));
    if predicted.is_nan() {
        0.0
    } else {
        predicted.clamp(0.0, cap)
    }
}

/// The request's predicted cost: the prompt once, and `output_tokens` (one answer's,
/// [`answer_tokens`]) for each of the `choices` answers, all billed.
pub fn request_cost_usd(
    spec: &ModelSpec,
    input_tokens: u32,
    output_tokens: f64,
    constraints: &Constraints,
) -> f64 {
    // `n: 0` is refused before routing; count it as one answer rather than price it free.
    let choices = f64::from(constraints.choices.max(1));
    spec.predicted_cost_usd(f64::from(input_tokens), output_tokens * choices)
}

#[cfg(test)]
mod tests;
