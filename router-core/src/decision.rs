use serde::{Deserialize, Serialize};

use crate::{ModelId, TaskDistribution};

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

/// Where a candidate's quality and output-token estimates came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EstimateSource {
    /// A trained predictor scored this prompt for this model.
    Trained,
    /// The catalog's per-task scores, weighted by the task classifier's `P(task | prompt)`.
    TaskPrior,
    /// The catalog's flat quality prior: the model has no task scores, or the prompt has no
    /// task distribution (no task classifier, encoder fallback, a pinned model).
    FlatPrior,
    /// Per-task estimates fitted from live probes of this model (`switchyard onboard --live`),
    /// weighted by `P(task | prompt)` like a task prior.
    Onboarded,
}

impl EstimateSource {
    /// The snake_case name used in responses and outcome rows.
    pub fn as_str(self) -> &'static str {
        match self {
            EstimateSource::Trained => "trained",
            EstimateSource::TaskPrior => "task_prior",
            EstimateSource::FlatPrior => "flat_prior",
            EstimateSource::Onboarded => "onboarded",
        }
    }
}

/// What the estimates behind a whole decision were, summarised over its candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EstimateMix {
    /// Every candidate was scored by a trained predictor.
    Trained,
    /// Some candidates were scored by a trained predictor, the others by priors.
    Mixed,
    /// No candidate was scored by a trained predictor.
    Priors,
    /// The candidates do not say (rows written before sources were logged).
    Unknown,
}

impl EstimateMix {
    /// The snake_case name used in responses.
    pub fn as_str(self) -> &'static str {
        match self {
            EstimateMix::Trained => "trained",
            EstimateMix::Mixed => "mixed",
            EstimateMix::Priors => "priors",
            EstimateMix::Unknown => "unknown",
        }
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
    /// Where `quality` and `output_tokens` came from; absent in rows written before it was
    /// logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EstimateSource>,
    /// How far the estimate may be off, where it was measured: for a model fitted from live
    /// probes or logged labels, the posterior spread of its fitted task scores. Absent for
    /// trained estimates and catalog priors (exploration uses its configured spreads there)
    /// and in rows written before it was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
}

/// The measured part of a quality estimate's uncertainty ([`Candidate::spread`]).
///
/// An onboarded model's estimate for a prompt mixes its per-task scores by `P(task | prompt)`;
/// the tasks that were probed have a posterior standard deviation, the others keep the
/// catalog's score. `sd` is the probed tasks' share of the estimate's standard deviation
/// (`Σ P(t)·sd(t)` over them, in quality points: the spread if the tasks' errors move
/// together, the cautious reading) and `measured` their total weight `Σ P(t)`, so that the
/// catalog's remaining share can be given the catalog prior's own spread.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Standard deviation contributed by the measured tasks, in quality points.
    pub sd: f64,
    /// The measured tasks' weight in the estimate, in `[0, 1]`.
    pub measured: f64,
}

impl Spread {
    /// The whole estimate's standard deviation when the unmeasured share has `unmeasured_sd`
    /// (non-finite or negative parts count as 0).
    pub fn total(&self, unmeasured_sd: f64) -> f64 {
        let clean = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
        clean(self.sd) + (1.0 - clean(self.measured).min(1.0)) * clean(unmeasured_sd)
    }
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
    /// The request continues a tool loop: its tool results answer calls a model made through
    /// this gateway, and that model answers them (its reasoning, signatures and prompt cache
    /// stay with the conversation). Not the policy's choice.
    ToolLoop,
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
    /// `P(task | prompt)` from the task classifier, when it ran; the task priors used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<TaskDistribution>,
    /// How much harder (negative) or easier (positive) than its task's typical prompt the
    /// trained predictor found this prompt, in logits; applied to every prior estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<f64>,
    /// Whether the loaded artifact routes with its learned predictor or, because validation
    /// showed no gain over it, as the λ-optimal fixed policy; `None` without an artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingMode>,
    /// Set when the artifact's tie-break kept the prompt with the λ-optimal fixed choice
    /// because the estimates preferred another model by no more than its margin
    /// ([`crate::policy::TieBreak`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_break: Option<crate::policy::TieKept>,
    /// The prompt-token estimate the candidates were priced with. Off-policy evaluation must
    /// price them with it again, not with the upstream's reported count, which the router
    /// did not know when it chose; absent in rows written before it was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
}

/// How a trained artifact routes (decided by `switchyard train`'s validation guard).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// Per-prompt estimates from the learned predictor.
    #[default]
    Learned,
    /// Every prompt gets the training set's per-model means: the λ-optimal fixed choice.
    FixedPolicy,
}

impl RouteDecision {
    /// The decision as the row of a request that named its model keeps it: the model, why
    /// and with what probability, but not the other candidates' estimates. Those are catalog
    /// priors the request did not route on (the named model is served whatever they say);
    /// they were most of such a row's bytes, and the row's `attempts` already record the
    /// failover they ordered.
    pub fn without_estimates(mut self) -> Self {
        self.ranked.clear();
        self
    }

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

    /// Whether the candidates' estimates were trained, priors, or both: a decision says
    /// "trained" only when every candidate's estimate was.
    pub fn estimate_mix(&self) -> EstimateMix {
        let mut trained = 0;
        let mut priors = 0;
        for c in &self.ranked {
            match c.source {
                Some(EstimateSource::Trained) => trained += 1,
                // Onboarded estimates are per task, not per prompt: priors, measured.
                Some(
                    EstimateSource::TaskPrior
                    | EstimateSource::FlatPrior
                    | EstimateSource::Onboarded,
                ) => priors += 1,
                None => return EstimateMix::Unknown,
            }
        }
        match (trained, priors) {
            (0, 0) => EstimateMix::Unknown,
            (_, 0) => EstimateMix::Trained,
            (0, _) => EstimateMix::Priors,
            _ => EstimateMix::Mixed,
        }
    }
}
