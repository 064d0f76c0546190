use serde::{Deserialize, Serialize};

use crate::ModelId;

/// Why a candidate is not (fully) acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Violation {
    /// Lacks a required capability (hard).
    MissingCapability,
    /// The prompt does not fit its context window (hard).
    ContextTooSmall,
    /// Predicted cost is over `max_cost_usd` (soft).
    OverBudget,
    /// Predicted quality is under `min_quality` (soft).
    BelowQuality,
    /// Predicted latency is over `max_latency_ms` (soft).
    TooSlow,
}

impl Violation {
    /// Hard violations make a model unusable; soft ones may be relaxed by the fallback.
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            Violation::MissingCapability | Violation::ContextTooSmall
        )
    }
}

/// One model as the policy saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The model.
    pub model: ModelId,
    /// Predicted quality in `[0, 1]`.
    pub quality: f64,
    /// Predicted output tokens.
    pub output_tokens: f64,
    /// Predicted cost in USD.
    pub cost_usd: f64,
    /// Predicted latency in milliseconds.
    pub latency_ms: f64,
    /// `quality − λ·cost_usd` (for the `Cheapest` objective, `−cost_usd`).
    pub utility: f64,
    /// Constraints this candidate breaks; empty when feasible.
    pub violations: Vec<Violation>,
}

impl Candidate {
    /// No violation at all.
    pub fn is_feasible(&self) -> bool {
        self.violations.is_empty()
    }

    /// No hard violation: the model may serve the request, possibly by relaxing soft limits.
    pub fn is_eligible(&self) -> bool {
        !self.violations.iter().any(|v| v.is_hard())
    }
}

/// How the chosen model was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DecisionReason {
    /// The best feasible model under the objective.
    BestFeasible,
    /// No model met `min_quality` within the cost and latency limits: the best model within
    /// those limits was chosen instead.
    QualityRelaxed,
    /// No model met the cost or latency limits: the cheapest eligible model was chosen.
    LimitsRelaxed,
    /// The router could not run in time (queue full, deadline) and the configured fallback
    /// model was used.
    StaticFallback,
    /// An exploration step picked a model other than the greedy choice.
    Exploration,
}

/// The router's answer: the chosen model and every candidate, ranked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// The model to call first.
    pub chosen: ModelId,
    /// All considered candidates, best first; failover walks the eligible ones in this order.
    pub ranked: Vec<Candidate>,
    /// Why `chosen` was chosen.
    pub reason: DecisionReason,
    /// Probability with which `chosen` was picked (1 for a deterministic policy).
    pub propensity: f64,
}

impl RouteDecision {
    /// The eligible models in failover order, starting with `chosen`.
    pub fn failover_order(&self) -> Vec<ModelId> {
        let mut order = vec![self.chosen.clone()];
        order.extend(
            self.ranked
                .iter()
                .filter(|c| c.is_eligible() && c.model != self.chosen)
                .map(|c| c.model.clone()),
        );
        order
    }

    /// The candidate entry of the chosen model.
    pub fn chosen_candidate(&self) -> Option<&Candidate> {
        self.ranked.iter().find(|c| c.model == self.chosen)
    }
}
