use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Capability, ModelId};

/// What a caller wants the router to trade off.
///
/// Utility is `quality − λ·cost_usd`, with quality in `[0, 1]` "quality points" (expected
/// success) and λ (`lambda`) in quality points per USD. A caller who states a willingness to
/// pay `w` USD for a full quality point (the value of a successful answer) maps to
/// `λ = 1 / w`; the default is [`DEFAULT_WILLINGNESS_TO_PAY_USD`] (λ = 5: one cent is worth
/// five percentage points).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Objective {
    /// Maximise `quality − lambda·cost_usd` over the feasible models.
    Utility {
        /// Quality points per USD.
        lambda: f64,
    },
    /// Pick the cheapest feasible model (use with `min_quality`); ties go to higher quality.
    Cheapest,
}

/// The default willingness to pay, in USD per full quality point: 0.20 USD, so λ = 5 and one
/// cent buys five percentage points of expected success.
///
/// Why (docs/task-priors.md, "The default trade-off", has the numbers): a strong model costs
/// about a cent more than a light one per typical request (1,000 prompt and 400 completion
/// tokens: gpt-4o-mini 0.0004 USD, claude-haiku-4.5 0.003, claude-sonnet-4.5 0.009, gpt-5
/// 0.003 to 0.02 depending on its reasoning). The priors that predict a gain are accurate to
/// about five points (leave-one-out error of the catalog's task scores: 0.044 to 0.046), so at
/// this default the router pays that cent for a gain it can resolve and always for the 10 to 30
/// point gains of hard prompts; a team that buys Sonnet over Haiku for every request today
/// reveals a similar or higher price. The old default, λ = 100, priced a full quality point at
/// one cent and made every strong model unreachable.
pub const DEFAULT_WILLINGNESS_TO_PAY_USD: f64 = 0.20;

impl Default for Objective {
    fn default() -> Self {
        Objective::Utility {
            lambda: 1.0 / DEFAULT_WILLINGNESS_TO_PAY_USD,
        }
    }
}

impl Objective {
    /// The default objective's λ, for docs and reports.
    pub const DEFAULT_LAMBDA: f64 = 1.0 / DEFAULT_WILLINGNESS_TO_PAY_USD;

    /// Quality points per USD this objective trades: `lambda` for a utility, 0 for
    /// `Cheapest` (which ranks by cost under a quality floor, so utility is quality alone).
    pub fn lambda(&self) -> f64 {
        match self {
            Objective::Utility { lambda } => *lambda,
            Objective::Cheapest => 0.0,
        }
    }

    /// Builds the objective from a willingness to pay in USD per full quality point; `None`
    /// unless it is positive and finite with a finite λ (a subnormal like `5e-324` would make
    /// λ infinite).
    pub fn from_willingness_to_pay(usd_per_quality_point: f64) -> Option<Self> {
        let lambda = 1.0 / usd_per_quality_point;
        (usd_per_quality_point.is_finite() && usd_per_quality_point > 0.0 && lambda.is_finite())
            .then_some(Objective::Utility { lambda })
    }

    /// The objective a request's knobs ask for: its willingness to pay when it states one;
    /// else, with only a `min_quality`, the cheapest model predicted to reach it (the documented
    /// meaning of the floor alone); else `default` (the configured trade-off). `None` when the
    /// willingness to pay is not a positive number ([`Objective::from_willingness_to_pay`]).
    ///
    /// The gateway (chat and `/v1/route`) and `switchyard route` all call this, so that the
    /// same knobs cannot route differently online and offline.
    pub fn requested(
        willingness_to_pay: Option<f64>,
        min_quality: Option<f64>,
        default: Objective,
    ) -> Option<Self> {
        match (willingness_to_pay, min_quality) {
            (Some(w), _) => Objective::from_willingness_to_pay(w),
            (None, Some(_)) => Some(Objective::Cheapest),
            (None, None) => Some(default),
        }
    }
}

/// Limits a routed request must respect. Every field is optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Most the request may cost, in USD (predicted).
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// Least predicted quality, in `[0, 1]`.
    #[serde(default)]
    pub min_quality: Option<f64>,
    /// Most predicted end-to-end latency, in milliseconds.
    #[serde(default)]
    pub max_latency_ms: Option<f64>,
    /// Capabilities the model must have (hard constraint, never relaxed).
    #[serde(default)]
    pub required_capabilities: BTreeSet<Capability>,
    /// If set, only these models are considered.
    #[serde(default)]
    pub candidates: Option<Vec<ModelId>>,
    /// Models never considered.
    #[serde(default)]
    pub exclude: Vec<ModelId>,
    /// The request's output token limit (`max_completion_tokens` or `max_tokens`): no answer
    /// is longer, so predicted output is capped at it for cost and latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_limit: Option<u32>,
    /// How many answers the request asks for (`n`): each is written and billed, so the
    /// predicted output cost counts this many times (the prompt once). Default 1.
    // Left out of a logged row at 1 so that rows of requests without `n` read as before.
    #[serde(default = "one_choice", skip_serializing_if = "is_one_choice")]
    pub choices: u32,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            max_cost_usd: None,
            min_quality: None,
            max_latency_ms: None,
            required_capabilities: BTreeSet::new(),
            candidates: None,
            exclude: Vec::new(),
            output_limit: None,
            choices: 1,
        }
    }
}

fn one_choice() -> u32 {
    1
}

// serde's `skip_serializing_if` passes a reference.
fn is_one_choice(choices: &u32) -> bool {
    *choices == 1
}

impl Constraints {
    /// Whether `model` passes the allow-list and the exclude list.
    pub fn allows(&self, model: &ModelId) -> bool {
        let listed = self.candidates.as_ref().is_none_or(|c| c.contains(model));
        listed && !self.exclude.contains(model)
    }
}

/// A request to route: the text to embed plus what the caller wants.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    /// The prompt text the encoder sees (for chat, the conversation flattened).
    pub text: String,
    /// Estimated prompt tokens, used for cost and context checks.
    pub input_tokens: u32,
    /// Hard and soft limits.
    #[serde(default)]
    pub constraints: Constraints,
    /// The trade-off.
    #[serde(default)]
    pub objective: Objective,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_trade_off_is_twenty_cents_per_quality_point() {
        assert_eq!(Objective::default(), Objective::Utility { lambda: 5.0 });
        assert_eq!(Objective::default().lambda(), Objective::DEFAULT_LAMBDA);
        assert_eq!(
            Objective::from_willingness_to_pay(DEFAULT_WILLINGNESS_TO_PAY_USD),
            Some(Objective::default())
        );
        // One cent buys five percentage points of expected success at the default.
        assert!((Objective::default().lambda() * 0.01 - 0.05).abs() < 1e-12);
        assert_eq!(Objective::from_willingness_to_pay(0.0), None);
        assert_eq!(Objective::from_willingness_to_pay(f64::NAN), None);
        // Issue 11: λ never overflows to infinity.
        assert_eq!(Objective::from_willingness_to_pay(5e-324), None);
    }

    #[test]
    fn a_quality_floor_alone_asks_for_the_cheapest_model() {
        let default = Objective::default();
        assert_eq!(
            Objective::requested(None, Some(0.5), default),
            Some(Objective::Cheapest)
        );
        assert_eq!(Objective::requested(None, None, default), Some(default));
        // A stated willingness to pay wins over the floor.
        assert_eq!(
            Objective::requested(Some(0.5), Some(0.5), default),
            Some(Objective::Utility { lambda: 2.0 })
        );
        assert_eq!(Objective::requested(Some(0.0), None, default), None);
    }

    #[test]
    fn a_row_without_output_limit_or_choices_reads_as_one_unlimited_answer() {
        let c: Constraints = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, Constraints::default());
        assert_eq!(c.choices, 1);
        // And the defaults are left out of what is logged.
        let json = serde_json::to_string(&Constraints::default()).unwrap_or_default();
        assert!(
            !json.contains("choices") && !json.contains("output_limit"),
            "{json}"
        );
        let c = Constraints {
            output_limit: Some(16),
            choices: 5,
            ..Default::default()
        };
        let back: Constraints =
            serde_json::from_str(&serde_json::to_string(&c).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, c);
    }
}
