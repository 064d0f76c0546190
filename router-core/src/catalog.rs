use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{ModelId, ProviderId};

/// Something a model can do that a request may require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Capability {
    /// Accepts image inputs.
    Vision,
    /// Accepts tool (function) definitions and emits tool calls.
    Tools,
    /// Can be forced to emit JSON, of any shape (`response_format: json_object`) or of a given
    /// JSON Schema (`json_schema`). Implies [`Capability::StructuredOutputs`].
    JsonMode,
    /// Can be held to a given JSON Schema (`response_format: json_schema`) but has no
    /// schema-free JSON mode, as Claude (`output_config.format`).
    StructuredOutputs,
}

impl Capability {
    /// Every capability, for listings and property tests.
    pub const ALL: [Capability; 4] = [
        Capability::Vision,
        Capability::Tools,
        Capability::JsonMode,
        Capability::StructuredOutputs,
    ];

    /// The snake_case name used in config files and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Vision => "vision",
            Capability::Tools => "tools",
            Capability::JsonMode => "json_mode",
            Capability::StructuredOutputs => "structured_outputs",
        }
    }

    /// A model's declared capabilities with what they imply: a JSON mode that takes a schema
    /// serves `json_schema` requests too.
    pub fn with_implied(mut declared: BTreeSet<Capability>) -> BTreeSet<Capability> {
        if declared.contains(&Capability::JsonMode) {
            declared.insert(Capability::StructuredOutputs);
        }
        declared
    }
}

/// A request shape that some models' APIs refuse with an error (a 400 the client would get,
/// though it never chose the model), so `auto` leaves those models out of such requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestShape {
    /// The conversation ends with an assistant message for the model to continue (prefill).
    AssistantPrefill,
    /// `tool_choice` forces a tool call (`required`, or one named function).
    ForcedToolChoice,
    /// `n` above 1: several answers to one request.
    MultipleChoices,
    /// A `json_schema` response format: its API has JSON mode but refuses a schema
    /// (DeepSeek's "This response_format type is unavailable now"; OpenAI's models before
    /// gpt-4o-2024-08-06) or cannot be held to one by its adapter.
    JsonSchema,
}

impl RequestShape {
    /// The snake_case name used in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestShape::AssistantPrefill => "assistant_prefill",
            RequestShape::ForcedToolChoice => "forced_tool_choice",
            RequestShape::MultipleChoices => "multiple_choices",
            RequestShape::JsonSchema => "json_schema",
        }
    }
}

/// Prior belief about a model's speed, used until logged latencies say otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyPrior {
    /// Expected time to first token, in milliseconds.
    pub ttft_ms: f64,
    /// Expected decoding speed, in output tokens per second.
    pub tokens_per_s: f64,
}

impl LatencyPrior {
    /// Expected end-to-end latency for a completion of `output_tokens` tokens.
    pub fn latency_ms(&self, output_tokens: f64) -> f64 {
        let speed = if self.tokens_per_s > 0.0 {
            self.tokens_per_s
        } else {
            1.0
        };
        self.ttft_ms + output_tokens.max(0.0) / speed * 1000.0
    }
}

/// One model of the catalog: who serves it, what it costs, how big and fast it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The catalog name.
    pub id: ModelId,
    /// The provider that serves it by default.
    pub provider: ProviderId,
    /// USD per one million input (prompt) tokens.
    pub input_usd_per_mtok: f64,
    /// USD per one million output (completion) tokens.
    pub output_usd_per_mtok: f64,
    /// Maximum input plus output tokens.
    pub context_window: u32,
    /// What the model supports beyond plain text chat.
    #[serde(default)]
    pub capabilities: BTreeSet<Capability>,
    /// Latency prior.
    pub latency: LatencyPrior,
    /// Tokens the model's tokenizer counts for text the gateway estimates at one token (four
    /// characters): 1 for most models; Anthropic's Claude 5.x tokenizer counts about 1.3 times
    /// what Claude 4.6's did. Scales predicted prompt tokens (cost, context), never reported
    /// usage.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub token_ratio: f64,
}

fn one() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

impl ModelSpec {
    /// Prompt tokens this model counts for a prompt the gateway estimates at `estimate`.
    pub fn prompt_tokens(&self, estimate: f64) -> f64 {
        let ratio = if self.token_ratio.is_finite() && self.token_ratio > 0.0 {
            self.token_ratio
        } else {
            1.0
        };
        estimate.max(0.0) * ratio
    }

    /// Predicted cost in USD of a call whose prompt the gateway estimates at
    /// `estimated_prompt_tokens` (scaled by [`ModelSpec::token_ratio`]) and `output_tokens`.
    pub fn predicted_cost_usd(&self, estimated_prompt_tokens: f64, output_tokens: f64) -> f64 {
        self.cost_usd(self.prompt_tokens(estimated_prompt_tokens), output_tokens)
    }

    /// Cost in USD of a call with these token counts, from catalog prices.
    pub fn cost_usd(&self, input_tokens: f64, output_tokens: f64) -> f64 {
        (input_tokens.max(0.0) * self.input_usd_per_mtok
            + output_tokens.max(0.0) * self.output_usd_per_mtok)
            / 1_000_000.0
    }

    /// Whether the model has every capability in `required`.
    pub fn supports(&self, required: &BTreeSet<Capability>) -> bool {
        required.is_subset(&self.capabilities)
    }
}
