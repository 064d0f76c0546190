//! Raw serde shapes of `catalog.toml`, before validation (see [`crate::Catalog`]).

use std::collections::BTreeMap;

use router_core::{Capability, RequestShape};
use serde::Deserialize;

/// The whole file: a list of `[[model]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogConfig {
    /// The `[[model]]` tables in file order.
    #[serde(default)]
    pub(crate) model: Vec<ModelConfig>,
}

/// One `[[model]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelConfig {
    pub(crate) id: String,
    pub(crate) provider: String,
    /// Defaults to `id`.
    #[serde(default)]
    pub(crate) upstream_name: Option<String>,
    pub(crate) input_usd_per_mtok: f64,
    pub(crate) output_usd_per_mtok: f64,
    pub(crate) context_window: u32,
    #[serde(default)]
    pub(crate) capabilities: Vec<Capability>,
    pub(crate) ttft_ms: f64,
    pub(crate) tokens_per_s: f64,
    pub(crate) quality_prior: f64,
    pub(crate) output_tokens_prior: f64,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    /// A reasoning model whose API refuses non-default sampling parameters (and, on
    /// OpenAI's, `max_tokens`).
    #[serde(default)]
    pub(crate) reasoning: bool,
    /// The `reasoning_effort` values the model takes: sent as the nearest of them (OpenAI's
    /// field, Claude's `output_config.effort`, Gemini's `thinkingConfig`). Empty: for OpenAI
    /// and OpenAI-compatible models not known, sent as given; Claude and Gemini models get no
    /// effort.
    #[serde(default)]
    pub(crate) efforts: Vec<crate::Effort>,
    /// The effort the model runs at when none is sent.
    #[serde(default)]
    pub(crate) default_effort: Option<crate::Effort>,
    /// Tokens the model counts per token of the gateway's four-characters estimate.
    #[serde(default)]
    pub(crate) token_ratio: Option<f64>,
    /// Price of a prompt-cache read, as a multiple of the input price.
    #[serde(default)]
    pub(crate) cache_read: Option<f64>,
    /// Price of a prompt-cache write, as a multiple of the input price.
    #[serde(default)]
    pub(crate) cache_write: Option<f64>,
    /// Higher prices for long prompts (`router_core::PriceTier`), in increasing threshold
    /// order.
    #[serde(default)]
    pub(crate) price_tiers: Vec<PriceTierConfig>,
    /// Called through OpenAI's Responses API instead of Chat Completions.
    #[serde(default)]
    pub(crate) responses_api: bool,
    /// Request shapes the model's API refuses with an error.
    #[serde(default)]
    pub(crate) refuses: Vec<RequestShape>,
    /// Task name to P(correct)-like score in `[0, 1]`, each backed by a cited result of that
    /// task; checked against the taxonomy.
    #[serde(default)]
    pub(crate) task_scores: BTreeMap<String, f64>,
    /// Task scores for tasks without a cited result of the model, derived from its ability
    /// and the task's difficulty (`derivation` says how).
    #[serde(default)]
    pub(crate) derived_task_scores: BTreeMap<String, f64>,
    /// How `derived_task_scores` were derived (required when there are any).
    #[serde(default)]
    pub(crate) derivation: Option<String>,
    /// Published results the task scores are derived from.
    #[serde(default)]
    pub(crate) benchmark: Vec<BenchmarkConfig>,
    /// Measured completion tokens per task (reasoning models).
    #[serde(default)]
    pub(crate) task_tokens: Vec<TaskTokensConfig>,
}

/// One `price_tiers` entry: the prices of a call whose prompt is longer than
/// `above_input_tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceTierConfig {
    pub(crate) above_input_tokens: u32,
    pub(crate) input_usd_per_mtok: f64,
    pub(crate) output_usd_per_mtok: f64,
}

/// One `[[model.task_tokens]]` table: a cited measurement of completion length on one task.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskTokensConfig {
    pub(crate) task: String,
    pub(crate) tokens: f64,
    pub(crate) source: String,
    pub(crate) as_of: String,
    #[serde(default)]
    pub(crate) note: Option<String>,
}

/// One `[[model.benchmark]]` table: a cited, published result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BenchmarkConfig {
    pub(crate) name: String,
    pub(crate) score: f64,
    pub(crate) source: String,
    pub(crate) as_of: String,
    /// How the model was called; `default` when omitted.
    #[serde(default)]
    pub(crate) setting: Option<String>,
    #[serde(default)]
    pub(crate) note: Option<String>,
}
