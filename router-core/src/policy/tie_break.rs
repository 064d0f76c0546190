//! The uncertainty-aware tie-break: when the estimates are unsure, the λ-optimal single model
//! wins ties.
//!
//! A trained artifact may carry each of its models' training means (the fixed policy's
//! estimates) and a margin. At the request's λ the fixed choice `f` is the feasible model with
//! the best utility under those means: where the fixed policy would send every prompt. The
//! greedy choice `b` (best utility under this prompt's estimates) replaces it only when it is
//! better *by more than the margin* under this prompt's estimates; a smaller gain is within
//! what the estimates can resolve, and the prompt stays with `f`. Margin 0 is the plain
//! policy; a very large one is the fixed policy.
//!
//! `switchyard eval --tie-margins` measures it (docs/routing-quality.md, "Uncertainty-aware
//! tie-break"): it gives up a little where the estimates are good (random splits of the
//! training distribution) and gains where traffic drifts from what they were fitted on.

use serde::{Deserialize, Serialize};

use super::PolicyModel;
use crate::{Constraints, DecisionReason, ModelId, Objective, RouteDecision};

/// A model's training means: what the fixed policy estimates for every prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanEstimate {
    /// The model.
    pub model: ModelId,
    /// Mean labelled quality on the training prompts.
    pub quality: f64,
    /// Typical output tokens on the training prompts.
    pub output_tokens: f64,
}

/// The tie-break an artifact carries (`manifest.tie_break`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TieBreak {
    /// Utility (quality points) the prompt's estimates must gain over the fixed choice to
    /// leave it; ≥ 0.
    pub margin: f64,
    /// The training means of the artifact's models.
    pub means: Vec<MeanEstimate>,
}

/// What the tie-break did to a decision (`decision.tie_break`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TieKept {
    /// The fixed choice that kept the prompt.
    pub fixed: ModelId,
    /// The model the estimates preferred.
    pub preferred: ModelId,
    /// How much better (utility) the estimates found the preferred model: at most the margin.
    pub gain: f64,
    /// The margin applied.
    pub margin: f64,
}

impl TieBreak {
    /// The training means of `model`, when the artifact has them.
    pub fn mean(&self, model: &ModelId) -> Option<&MeanEstimate> {
        self.means.iter().find(|m| m.model == *model)
    }

    /// Checks what an artifact carries: a finite margin ≥ 0, and for models of `models` only
    /// (once each) a quality in `[0, 1]` and a finite token count ≥ 0. The reason names the
    /// entry and the fix.
    pub fn validate(&self, models: &[ModelId]) -> Result<(), String> {
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(format!(
                "margin {} must be a finite utility gain ≥ 0 (0 turns the tie-break off)",
                self.margin
            ));
        }
        for (i, m) in self.means.iter().enumerate() {
            if !models.contains(&m.model) {
                return Err(format!(
                    "means[{i}]: `{}` is not a model of this artifact; retrain or remove the entry",
                    m.model
                ));
            }
            if self.means[..i].iter().any(|p| p.model == m.model) {
                return Err(format!("means[{i}]: `{}` appears twice", m.model));
            }
            if !((0.0..=1.0).contains(&m.quality)
                && m.output_tokens.is_finite()
                && m.output_tokens >= 0.0)
            {
                return Err(format!(
                    "means[{i}] (`{}`): quality {} must be in [0, 1] and output_tokens {} finite and ≥ 0",
                    m.model, m.quality, m.output_tokens
                ));
            }
        }
        Ok(())
    }

    /// Moves the fixed choice to the front of `decision` when the greedy choice beats it by no
    /// more than the margin. Applies to a best-feasible decision under a finite λ only: a
    /// relaxed decision already departs from the objective, and the cheapest-model objective
    /// has no trade-off to be unsure about.
    pub fn apply(
        &self,
        decision: &mut RouteDecision,
        models: &[PolicyModel<'_>],
        input_tokens: u32,
        constraints: &Constraints,
        objective: Objective,
    ) {
        let Objective::Utility { lambda } = objective else {
            return;
        };
        // A NaN margin (refused when an artifact is loaded) counts as off.
        let on = self.margin > 0.0;
        if decision.reason != DecisionReason::BestFeasible || !lambda.is_finite() || !on {
            return;
        }
        let fixed_utility = |model: &ModelId| -> Option<f64> {
            let mean = self.mean(model)?;
            let spec = models.iter().find(|m| m.spec.id == *model)?.spec;
            // Priced as the ranking prices candidates (output limit, choices), so that the
            // two utilities compared are in the same units.
            let tokens = super::answer_tokens(mean.output_tokens, spec, constraints);
            let cost = super::request_cost_usd(spec, input_tokens, tokens, constraints);
            Some(mean.quality - lambda * cost)
        };
        // The fixed choice among the feasible candidates the means cover; ties go to the one
        // ranked first (cheaper, then by id).
        let mut fixed: Option<(usize, f64)> = None;
        for (i, c) in decision.ranked.iter().enumerate() {
            if !c.is_feasible() {
                continue;
            }
            if let Some(u) = fixed_utility(&c.model) {
                if fixed.is_none_or(|(_, best)| u > best) {
                    fixed = Some((i, u));
                }
            }
        }
        let Some((f, _)) = fixed else {
            return;
        };
        let Some(b) = decision
            .ranked
            .iter()
            .position(|c| c.model == decision.chosen)
        else {
            return;
        };
        if f == b {
            return;
        }
        let gain = decision.ranked[b].utility - decision.ranked[f].utility;
        if gain > self.margin {
            return;
        }
        let kept = decision.ranked.remove(f);
        decision.tie_break = Some(TieKept {
            fixed: kept.model.clone(),
            preferred: decision.chosen.clone(),
            gain,
            margin: self.margin,
        });
        decision.chosen = kept.model.clone();
        // Failover and exploration walk `ranked` from the front: the kept model leads.
        decision.ranked.insert(0, kept);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::policy::{greedy, DecisionInput, ModelPrior};
    use crate::{Constraints, LatencyPrior, ModelEstimate, ModelSpec, ProviderId};

    fn spec(id: &str, usd_per_mtok: f64) -> ModelSpec {
        ModelSpec {
            id: ModelId::new(id),
            provider: ProviderId::new("p"),
            input_usd_per_mtok: usd_per_mtok,
            output_usd_per_mtok: usd_per_mtok,
            context_window: 8192,
            capabilities: Default::default(),
            latency: LatencyPrior {
                ttft_ms: 100.0,
                tokens_per_s: 100.0,
            },
            token_ratio: 1.0,
            cache_read: None,
            cache_write: None,
            price_tiers: Vec::new(),
        }
    }

    /// Two trained models, equal prices: the means prefer `usual`; this prompt's estimates
    /// prefer `other` by `gap`.
    fn decide(gap: f64, tie: Option<&TieBreak>, objective: Objective) -> RouteDecision {
        decide_priced(gap, 1.0, tie, objective)
    }

    /// The same with `usual` at `usual_price` USD per million tokens (`other` at 1).
    fn decide_priced(
        gap: f64,
        usual_price: f64,
        tie: Option<&TieBreak>,
        objective: Objective,
    ) -> RouteDecision {
        let specs = [spec("usual", usual_price), spec("other", 1.0)];
        let prior = ModelPrior {
            quality: 0.5,
            output_tokens: 100.0,
            task_scores: Default::default(),
            task_tokens: Default::default(),
            onboarded: false,
            task_sd: Default::default(),
        };
        let trained = |quality| {
            Some(ModelEstimate {
                quality,
                output_tokens: 100.0,
            })
        };
        let models = [
            PolicyModel {
                spec: &specs[0],
                latency: specs[0].latency,
                prior,
                trained: trained(0.6),
            },
            PolicyModel {
                spec: &specs[1],
                latency: specs[1].latency,
                prior,
                trained: trained(0.6 + gap),
            },
        ];
        let constraints = Constraints::default();
        greedy(&DecisionInput {
            models: &models,
            tasks: None,
            input_tokens: 100,
            constraints: &constraints,
            objective,
            difficulty: None,
            tie_break: tie,
        })
        .unwrap()
    }

    fn tie(margin: f64) -> TieBreak {
        let mean = |model: &str, quality| MeanEstimate {
            model: ModelId::new(model),
            quality,
            output_tokens: 100.0,
        };
        TieBreak {
            margin,
            means: vec![mean("usual", 0.8), mean("other", 0.7)],
        }
    }

    const LAMBDA: Objective = Objective::Utility { lambda: 5.0 };

    #[test]
    fn a_gain_within_the_margin_stays_with_the_fixed_choice_and_says_so() {
        let plain = decide(0.03, None, LAMBDA);
        assert_eq!(plain.chosen.as_str(), "other");
        let kept = decide(0.03, Some(&tie(0.05)), LAMBDA);
        assert_eq!(kept.chosen.as_str(), "usual");
        assert_eq!(
            kept.ranked[0].model.as_str(),
            "usual",
            "failover starts there"
        );
        assert_eq!(kept.failover_order()[1].as_str(), "other");
        let why = kept.tie_break.unwrap();
        assert_eq!(
            (why.fixed.as_str(), why.preferred.as_str()),
            ("usual", "other")
        );
        assert!((why.gain - 0.03).abs() < 1e-12 && why.margin == 0.05);
    }

    #[test]
    fn a_gain_beyond_the_margin_a_zero_margin_or_the_cheapest_objective_leave_it_alone() {
        for d in [
            decide(0.08, Some(&tie(0.05)), LAMBDA),
            decide(0.03, Some(&tie(0.0)), LAMBDA),
            decide(0.03, Some(&tie(0.05)), Objective::Cheapest),
        ] {
            assert_eq!(d.tie_break, None);
            assert_eq!(d.chosen, d.ranked[0].model);
        }
        assert_eq!(
            decide(0.08, Some(&tie(0.05)), LAMBDA).chosen.as_str(),
            "other"
        );
    }

    #[test]
    fn the_fixed_choice_is_the_best_utility_under_the_means_at_this_lambda() {
        // `usual` leads the means by 0.1 but costs 100 times as much: 200 tokens at 100 USD
        // per million is 0.02 USD, 0.08 of utility at λ = 4, so it is still the fixed choice;
        // at λ = 50 the price outweighs the lead and the fixed choice is `other`, which the
        // estimates prefer anyway, so the tie-break has nothing to keep.
        let t = tie(1.0);
        let cheap_lambda =
            decide_priced(-0.05, 100.0, Some(&t), Objective::Utility { lambda: 4.0 });
        assert_eq!(cheap_lambda.chosen.as_str(), "usual");
        assert!(cheap_lambda.tie_break.is_some());
        let dear_lambda =
            decide_priced(-0.05, 100.0, Some(&t), Objective::Utility { lambda: 50.0 });
        assert_eq!(dear_lambda.chosen.as_str(), "other");
        assert_eq!(dear_lambda.tie_break, None);
    }

    #[test]
    fn validate_names_the_entry_and_the_fix() {
        let models = [ModelId::new("usual"), ModelId::new("other")];
        assert!(tie(0.02).validate(&models).is_ok());
        assert!(tie(-0.1).validate(&models).unwrap_err().contains("margin"));
        assert!(tie(f64::NAN).validate(&models).is_err());
        let mut t = tie(0.02);
        t.means[1].model = ModelId::new("stranger");
        assert!(t.validate(&models).unwrap_err().contains("`stranger`"));
        let mut t = tie(0.02);
        t.means[1].model = ModelId::new("usual");
        assert!(t.validate(&models).unwrap_err().contains("twice"));
        let mut t = tie(0.02);
        t.means[0].quality = 1.5;
        assert!(t.validate(&models).unwrap_err().contains("[0, 1]"));
    }
}
