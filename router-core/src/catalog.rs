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
    /// Price of an input token read from the provider's prompt cache, as a multiple of the
    /// input price (OpenAI 0.1 to 0.5, Anthropic 0.1, Gemini 0.1 to 0.25). `None`: billed as
    /// ordinary input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Price of an input token written to the provider's prompt cache, as a multiple of the
    /// input price (Anthropic 1.25, for its 5-minute cache). `None`: billed as ordinary input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// Higher prices for long prompts, in increasing `above_input_tokens` order: a call whose
    /// prompt (cached tokens included) is longer than a tier's threshold is billed at that
    /// tier's prices, input and output alike (OpenAI above 272K, Anthropic and Google above
    /// 200K). Empty: one price at every length.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub price_tiers: Vec<PriceTier>,
}

/// Prices that apply to a whole call once its prompt is longer than `above_input_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceTier {
    /// The prompt length (input tokens) above which this tier applies.
    pub above_input_tokens: u32,
    /// USD per one million input tokens in this tier.
    pub input_usd_per_mtok: f64,
    /// USD per one million output tokens in this tier.
    pub output_usd_per_mtok: f64,
}

/// The token counts of one answered call as its upstream reported them, for
/// [`ModelSpec::cost_usd_of`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenCounts {
    /// Every input (prompt) token, cached or not.
    pub input: f64,
    /// Of `input`, the tokens read from the provider's prompt cache.
    pub cache_read: f64,
    /// Of `input`, the tokens written to the provider's prompt cache.
    pub cache_write: f64,
    /// Output (completion) tokens.
    pub output: f64,
}

impl TokenCounts {
    /// `input` and `output` tokens, none of them cached.
    pub fn new(input: f64, output: f64) -> Self {
        TokenCounts {
            input,
            output,
            ..TokenCounts::default()
        }
    }
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
    /// `estimated_prompt_tokens` (scaled by [`ModelSpec::token_ratio`]) and `output_tokens`,
    /// every prompt token at the full input price: whether the provider's prompt cache will
    /// hold the prompt is not known before the call, so routing's cost trade-off, cost limits
    /// and budget holds price none of it cached.
    pub fn predicted_cost_usd(&self, estimated_prompt_tokens: f64, output_tokens: f64) -> f64 {
        self.cost_usd(self.prompt_tokens(estimated_prompt_tokens), output_tokens)
    }

    /// Cost in USD of one call with these token counts, from catalog prices (the long-prompt
    /// tier where the prompt passes one), none of the input cached: for predictions and one
    /// request's counterfactuals. What an answered call cost is [`ModelSpec::cost_usd_of`] its
    /// reported usage; sums over many calls are [`ModelSpec::list_cost_usd`].
    pub fn cost_usd(&self, input_tokens: f64, output_tokens: f64) -> f64 {
        self.cost_usd_of(&TokenCounts::new(input_tokens, output_tokens))
    }

    /// Cost in USD of `input_tokens` and `output_tokens` at the list prices, whatever the
    /// prompt's length: for sums over many calls (a dashboard window), whose single calls'
    /// lengths, and so their [`ModelSpec::price_tiers`], are not known.
    pub fn list_cost_usd(&self, input_tokens: f64, output_tokens: f64) -> f64 {
        (input_tokens.max(0.0) * self.input_usd_per_mtok
            + output_tokens.max(0.0) * self.output_usd_per_mtok)
            / 1_000_000.0
    }

    /// USD per million input and output tokens for a call of `input_tokens` prompt tokens: the
    /// last of [`ModelSpec::price_tiers`] whose threshold the prompt exceeds, else the list
    /// prices.
    pub fn prices_for(&self, input_tokens: f64) -> (f64, f64) {
        self.price_tiers
            .iter()
            .rev()
            .find(|t| input_tokens > f64::from(t.above_input_tokens))
            .map_or((self.input_usd_per_mtok, self.output_usd_per_mtok), |t| {
                (t.input_usd_per_mtok, t.output_usd_per_mtok)
            })
    }

    /// Cost in USD of a call whose upstream reported `tokens`: uncached input at the input
    /// price, prompt-cache reads and writes at it times [`ModelSpec::cache_read`] and
    /// [`ModelSpec::cache_write`] (1 where the catalog gives none), output at the output price,
    /// both prices those of the prompt's length ([`ModelSpec::prices_for`]).
    /// Cached counts are part of `input` and are cut to it: reads first, then writes.
    pub fn cost_usd_of(&self, tokens: &TokenCounts) -> f64 {
        let count = |n: f64| if n.is_finite() { n.max(0.0) } else { 0.0 };
        let rate = |m: Option<f64>| m.filter(|m| m.is_finite() && *m >= 0.0).unwrap_or(1.0);
        let input = tokens.input.max(0.0);
        let read = count(tokens.cache_read).min(input);
        let write = count(tokens.cache_write).min(input - read);
        let uncached = input - read - write;
        let input_units = uncached + read * rate(self.cache_read) + write * rate(self.cache_write);
        let (per_input, per_output) = self.prices_for(input);
        (input_units * per_input + tokens.output.max(0.0) * per_output) / 1_000_000.0
    }

    /// Whether the model has every capability in `required`.
    pub fn supports(&self, required: &BTreeSet<Capability>) -> bool {
        required.is_subset(&self.capabilities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cache_read: Option<f64>, cache_write: Option<f64>) -> ModelSpec {
        ModelSpec {
            id: ModelId::new("m"),
            provider: ProviderId::new("p"),
            input_usd_per_mtok: 2.0,
            output_usd_per_mtok: 10.0,
            context_window: 1_000_000,
            capabilities: BTreeSet::new(),
            latency: LatencyPrior {
                ttft_ms: 100.0,
                tokens_per_s: 50.0,
            },
            token_ratio: 1.0,
            cache_read,
            cache_write,
            price_tiers: Vec::new(),
        }
    }

    #[test]
    fn cached_input_is_priced_at_its_multipliers() {
        let anthropic = spec(Some(0.1), Some(1.25));
        let openai = spec(Some(0.5), None);
        let unpriced = spec(None, None);
        let free = spec(Some(0.0), Some(0.0));
        let t = |input: f64, cache_read: f64, cache_write: f64, output: f64| TokenCounts {
            input,
            cache_read,
            cache_write,
            output,
        };
        // (model, tokens, USD): $2/M input, $10/M output.
        let cases = [
            // Nothing cached: list prices, as `cost_usd`.
            (&anthropic, t(1e6, 0.0, 0.0, 1e5), 2.0 + 1.0),
            (&unpriced, t(1e6, 0.0, 0.0, 1e5), 3.0),
            // 900k of 1M read from the cache: 100k at $2/M, 900k at $0.2/M.
            (&anthropic, t(1e6, 9e5, 0.0, 0.0), 0.2 + 0.18),
            (&openai, t(1e6, 9e5, 0.0, 0.0), 0.2 + 0.9),
            // Without multipliers cached tokens cost what they did: full input price.
            (&unpriced, t(1e6, 9e5, 1e5, 0.0), 2.0),
            // 400k written at 1.25×, 500k read at 0.1×, 100k fresh.
            (&anthropic, t(1e6, 5e5, 4e5, 1e5), 0.2 + 0.1 + 1.0 + 1.0),
            // No write price: writes are ordinary input.
            (&openai, t(1e6, 0.0, 4e5, 0.0), 2.0),
            (&free, t(1e6, 5e5, 5e5, 0.0), 0.0),
            // Counts beyond the input are cut to it: reads first, then writes.
            (&anthropic, t(1e6, 2e6, 1e6, 0.0), 0.2),
            (&anthropic, t(1e6, 6e5, 1e6, 0.0), 0.12 + 1.0),
            // Negative or non-finite counts count as none.
            (&anthropic, t(-5.0, 0.0, 0.0, -1.0), 0.0),
            (&anthropic, t(1e6, f64::NAN, f64::INFINITY, 0.0), 2.0),
        ];
        for (i, (spec, tokens, usd)) in cases.into_iter().enumerate() {
            let got = spec.cost_usd_of(&tokens);
            assert!((got - usd).abs() < 1e-9, "case {i}: {got} != {usd}");
        }
        assert_eq!(
            anthropic.cost_usd(1e6, 1e5),
            anthropic.cost_usd_of(&TokenCounts::new(1e6, 1e5))
        );
        // Bad multipliers (a spec built in code, unchecked) price as ordinary input.
        let bad = spec(Some(f64::NAN), Some(-1.0));
        assert!((bad.cost_usd_of(&t(1e6, 5e5, 5e5, 0.0)) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_long_prompt_is_billed_at_its_tier_input_and_output_alike() {
        let mut m = spec(Some(0.1), None);
        m.price_tiers = vec![
            PriceTier {
                above_input_tokens: 200_000,
                input_usd_per_mtok: 4.0,
                output_usd_per_mtok: 15.0,
            },
            PriceTier {
                above_input_tokens: 500_000,
                input_usd_per_mtok: 6.0,
                output_usd_per_mtok: 20.0,
            },
        ];
        // (input, cached reads, output) -> USD; list prices $2 / $10.
        for (input, read, output, usd) in [
            // At the threshold itself: list prices.
            (200_000.0, 0.0, 1e5, 0.4 + 1.0),
            // One token above: the whole call at the tier's prices.
            (200_001.0, 0.0, 1e5, 200_001.0 * 4e-6 + 1.5),
            // Cached tokens count toward the length and are read at the tier's input price.
            (300_000.0, 250_000.0, 0.0, (50_000.0 + 25_000.0) * 4e-6),
            (600_000.0, 0.0, 1e4, 3.6 + 0.2),
        ] {
            let tokens = TokenCounts {
                input,
                cache_read: read,
                output,
                ..TokenCounts::default()
            };
            let got = m.cost_usd_of(&tokens);
            assert!((got - usd).abs() < 1e-9, "{input}: {got} != {usd}");
        }
        // Predictions go through the same prices: 250k estimated prompt tokens.
        assert!((m.predicted_cost_usd(250_000.0, 0.0) - 1.0).abs() < 1e-9);
        // Sums over many calls stay at list prices.
        assert!((m.list_cost_usd(600_000.0, 1e4) - 1.3).abs() < 1e-9);
        assert_eq!(m.prices_for(10.0), (2.0, 10.0));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["price_tiers"][1]["above_input_tokens"], 500_000);
        assert_eq!(serde_json::from_value::<ModelSpec>(json).unwrap(), m);
    }

    #[test]
    fn cache_multipliers_are_optional_in_serde() {
        let plain = serde_json::to_value(spec(None, None)).unwrap();
        assert!(plain.get("cache_read").is_none() && plain.get("cache_write").is_none());
        assert!(plain.get("price_tiers").is_none(), "{plain}");
        let back: ModelSpec = serde_json::from_value(plain).unwrap();
        assert_eq!(back, spec(None, None));
        let priced = serde_json::to_value(spec(Some(0.1), Some(1.25))).unwrap();
        assert_eq!(priced["cache_read"], 0.1);
        assert_eq!(priced["cache_write"], 1.25);
    }
}
