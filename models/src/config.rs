//! Raw serde shapes of `catalog.toml`, before validation (see [`crate::Catalog`]).

use std::collections::BTreeMap;

use router_core::Capability;
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
    /// Task name to P(correct)-like score in `[0, 1]`; checked against the taxonomy.
    #[serde(default)]
    pub(crate) task_scores: BTreeMap<String, f64>,
    /// Published results the task scores are derived from.
    #[serde(default)]
    pub(crate) benchmark: Vec<BenchmarkConfig>,
}

/// One `[[model.benchmark]]` table: a cited, published result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BenchmarkConfig {
    pub(crate) name: String,
    pub(crate) score: f64,
    pub(crate) source: String,
    pub(crate) as_of: String,
    #[serde(default)]
    pub(crate) note: Option<String>,
}
