//! `[[embeddings]]`: the models `POST /v1/embeddings` passes through (see
//! `crate::http::embeddings`).
//!
//! Embeddings models are priced here, not in the catalog: the catalog holds chat models the
//! router chooses among (quality priors, latency, context window), and an embeddings model is
//! never routed, so it needs only its provider, its upstream name and its input price.

use router_core::{ModelId, ProviderId};
use serde::Deserialize;

use super::{invalid, ResolvedProvider};
use crate::error::Error;
use crate::upstream::ProviderKind;

/// One raw `[[embeddings]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsModelConfig {
    /// The name clients send as `model`.
    pub model: String,
    /// The `[[providers]]` entry serving it; it must speak the OpenAI dialect.
    pub provider: ProviderId,
    /// The upstream's name for the model; default: `model`.
    #[serde(default)]
    pub upstream_name: Option<String>,
    /// USD per one million input tokens.
    pub input_usd_per_mtok: f64,
}

/// An embeddings model after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingsModel {
    /// The name clients send.
    pub model: ModelId,
    /// The provider serving it.
    pub provider: ProviderId,
    /// The name sent upstream.
    pub upstream_name: String,
    /// USD per one million input tokens.
    pub input_usd_per_mtok: f64,
}

impl EmbeddingsModel {
    /// The cost in USD of `input_tokens`.
    pub fn cost_usd(&self, input_tokens: u32) -> f64 {
        f64::from(input_tokens) * self.input_usd_per_mtok / 1_000_000.0
    }
}

/// OpenAI's embeddings models and list prices (USD per million input tokens), offered when the
/// config has no `[[embeddings]]` section and a provider named `openai` is configured.
const OPENAI_DEFAULTS: [(&str, f64); 3] = [
    ("text-embedding-3-small", 0.02),
    ("text-embedding-3-large", 0.13),
    ("text-embedding-ada-002", 0.10),
];

/// Validates the raw entries against the resolved providers. `None` (no section) gives
/// [`OPENAI_DEFAULTS`] on the provider named `openai` when it speaks the OpenAI dialect.
pub fn resolve(
    raw: Option<Vec<EmbeddingsModelConfig>>,
    providers: &[ResolvedProvider],
) -> Result<Vec<EmbeddingsModel>, Error> {
    let Some(raw) = raw else {
        let openai = ProviderId::new("openai");
        let has_openai = providers
            .iter()
            .any(|p| p.name == openai && p.kind == ProviderKind::Openai);
        return Ok(if has_openai {
            OPENAI_DEFAULTS
                .iter()
                .map(|(model, price)| EmbeddingsModel {
                    model: ModelId::new(*model),
                    provider: openai.clone(),
                    upstream_name: (*model).to_owned(),
                    input_usd_per_mtok: *price,
                })
                .collect()
        } else {
            Vec::new()
        });
    };
    let mut out: Vec<EmbeddingsModel> = Vec::with_capacity(raw.len());
    for (i, e) in raw.into_iter().enumerate() {
        let field = |name: &str| format!("embeddings[{i}].{name}");
        // `auto` is what chat clients send to be routed; it can never name an embeddings model.
        if e.model.is_empty() || e.model == "auto" {
            return Err(invalid(
                &field("model"),
                "must name a model (`auto` is not routed for embeddings)",
            ));
        }
        if out.iter().any(|m| m.model.as_str() == e.model) {
            return Err(invalid(
                &field("model"),
                format!("`{}` is configured twice", e.model),
            ));
        }
        match providers.iter().find(|p| p.name == e.provider) {
            None => {
                return Err(invalid(
                    &field("provider"),
                    format!("no [[providers]] entry is named `{}`", e.provider),
                ))
            }
            Some(p) if p.kind != ProviderKind::Openai => {
                return Err(invalid(
                    &field("provider"),
                    format!(
                        "`{}` speaks {}; only openai-kind providers offer /v1/embeddings",
                        e.provider,
                        p.kind.as_str()
                    ),
                ))
            }
            Some(_) => {}
        }
        if !(e.input_usd_per_mtok.is_finite() && e.input_usd_per_mtok >= 0.0) {
            return Err(invalid(
                &field("input_usd_per_mtok"),
                "must be a number >= 0",
            ));
        }
        out.push(EmbeddingsModel {
            upstream_name: e.upstream_name.unwrap_or_else(|| e.model.clone()),
            model: ModelId::new(e.model),
            provider: e.provider,
            input_usd_per_mtok: e.input_usd_per_mtok,
        });
    }
    Ok(out)
}
