use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Capability, ModelId};

/// What a caller wants the router to trade off.
///
/// Utility is `quality − λ·cost_usd`, with quality in `[0, 1]` "quality points" and λ
/// (`lambda`) in quality points per USD: λ = 100 means one cent is worth a full quality point
/// (1.0), so one percentage point of quality is worth 0.01 cent. A caller who states a
/// willingness to pay `w` USD for a full quality point maps to `λ = 1 / w`.
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

impl Default for Objective {
    fn default() -> Self {
        // One cent is worth a full quality point: a frugal default for chat traffic, where
        // typical prompts cost between 1e-5 and 1e-2 USD (docs/task-priors.md shows what it
        // does to the choice between current models).
        Objective::Utility { lambda: 100.0 }
    }
}

impl Objective {
    /// Quality points per USD this objective trades: `lambda` for a utility, 0 for
    /// `Cheapest` (which ranks by cost under a quality floor, so utility is quality alone).
    pub fn lambda(&self) -> f64 {
        match self {
            Objective::Utility { lambda } => *lambda,
            Objective::Cheapest => 0.0,
        }
    }

    /// Builds the objective from a willingness to pay in USD per full quality point.
    pub fn from_willingness_to_pay(usd_per_quality_point: f64) -> Option<Self> {
        (usd_per_quality_point.is_finite() && usd_per_quality_point > 0.0).then(|| {
            Objective::Utility {
                lambda: 1.0 / usd_per_quality_point,
            }
        })
    }
}

/// Limits a routed request must respect. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
