//! `[[deployments]]` and `[balancing]`: one catalog model served by several providers or keys
//! (see `crate::upstream::deployments`).
//!
//! A model with no `[[deployments]]` entry keeps its one catalog provider. A model with entries
//! is served by exactly those: the catalog provider is not added implicitly, so an operator can
//! move a model to another vendor; list it as a deployment to keep it.

use std::collections::BTreeMap;

use router_core::{ModelId, ProviderId};
use serde::Deserialize;

use super::{invalid, ResolvedProvider};
use crate::error::Error;

/// One raw `[[deployments]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// The catalog model (id or alias) this deployment serves.
    pub model: ModelId,
    /// The `[[providers]]` entry that serves it: another vendor, or the same vendor under
    /// another name with its own `api_key_env`.
    pub provider: ProviderId,
    /// The model name sent to that provider (an Azure deployment name, an OpenRouter slug);
    /// default: the catalog's upstream name.
    #[serde(default)]
    pub upstream_name: Option<String>,
    /// Share of traffic under `weighted` balancing (≥ 1); default 1. Signed so that a negative
    /// value gets this field's error rather than a parse error.
    #[serde(default = "default_weight")]
    pub weight: i64,
}

fn default_weight() -> i64 {
    1
}

/// How the deployments of one model are ordered for a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balancing {
    /// A random order, each deployment first with probability weight / total weight.
    #[default]
    Weighted,
    /// Lowest measured latency (EWMA of the time to first token) first; unmeasured
    /// deployments first of all, and with probability `latency_exploration` the weighted
    /// order, so that a deployment that was slow is measured again.
    Latency,
}

/// The raw `[balancing]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancingConfig {
    /// The strategy of every model with deployments: `weighted` (default) or `latency`.
    #[serde(default)]
    pub strategy: Balancing,
    /// Per-model strategies, overriding `strategy`: `{ "gpt-4o" = "latency" }`.
    #[serde(default)]
    pub models: BTreeMap<ModelId, Balancing>,
    /// Under `latency`, the share of requests ordered by weight instead (in [0, 1]; default
    /// 0.05).
    #[serde(default = "default_latency_exploration")]
    pub latency_exploration: f64,
    /// Seed of the balancing draws (reproducible runs); default: from the OS.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_latency_exploration() -> f64 {
    0.05
}

impl Default for BalancingConfig {
    fn default() -> Self {
        BalancingConfig {
            strategy: Balancing::default(),
            models: BTreeMap::new(),
            latency_exploration: default_latency_exploration(),
            seed: None,
        }
    }
}

/// One validated deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentSpec {
    /// The provider serving it.
    pub provider: ProviderId,
    /// The name sent upstream.
    pub upstream_name: String,
    /// Its weight (≥ 1).
    pub weight: u32,
}

/// The validated deployments of every model that has any, with their balancing.
#[derive(Clone, Debug, Default)]
pub struct DeploymentPlan {
    /// Deployments by canonical model id, in file order.
    pub by_model: BTreeMap<ModelId, Vec<DeploymentSpec>>,
    /// The strategy of models without an override.
    pub strategy: Balancing,
    /// Overrides by canonical model id.
    pub strategies: BTreeMap<ModelId, Balancing>,
    /// Share of `latency` orderings drawn by weight instead.
    pub latency_exploration: f64,
    /// Seed of the draws.
    pub seed: Option<u64>,
}

impl DeploymentPlan {
    /// The providers that may serve `model`: its deployments', or `catalog_provider` when it
    /// has none.
    pub fn providers_of<'a>(
        &'a self,
        model: &ModelId,
        catalog_provider: &'a ProviderId,
    ) -> Vec<&'a ProviderId> {
        match self.by_model.get(model) {
            Some(deps) => deps.iter().map(|d| &d.provider).collect(),
            None => vec![catalog_provider],
        }
    }

    /// The strategy ordering `model`'s deployments.
    pub fn strategy_of(&self, model: &ModelId) -> Balancing {
        self.strategies.get(model).copied().unwrap_or(self.strategy)
    }
}

/// Validates `[[deployments]]` and `[balancing]` against the catalog and the providers.
pub fn resolve(
    raw: Vec<DeploymentConfig>,
    balancing: BalancingConfig,
    catalog: &models::Catalog,
    providers: &[ResolvedProvider],
) -> Result<DeploymentPlan, Error> {
    let mut by_model: BTreeMap<ModelId, Vec<DeploymentSpec>> = BTreeMap::new();
    for (i, d) in raw.into_iter().enumerate() {
        let field = |name: &str| format!("deployments[{i}].{name}");
        let entry = catalog.get(&d.model).map_err(|e| {
            invalid(
                &field("model"),
                format!("{e}; a deployment serves a catalog model (add it to [catalog] path)"),
            )
        })?;
        if !providers.iter().any(|p| p.name == d.provider) {
            let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
            return Err(invalid(
                &field("provider"),
                format!(
                    "no [[providers]] entry is named `{}` (configured: {})",
                    d.provider,
                    known.join(", ")
                ),
            ));
        }
        let weight = u32::try_from(d.weight)
            .ok()
            .filter(|w| *w >= 1)
            .ok_or_else(|| {
                invalid(
                    &field("weight"),
                    format!(
                        "must be a whole number from 1 to {}; got {} (remove the entry to send it no traffic)",
                        u32::MAX,
                        d.weight
                    ),
                )
            })?;
        let upstream_name = d
            .upstream_name
            .unwrap_or_else(|| entry.upstream_name.clone());
        if upstream_name.trim().is_empty() {
            return Err(invalid(&field("upstream_name"), "must not be empty"));
        }
        let spec = DeploymentSpec {
            provider: d.provider,
            upstream_name,
            weight,
        };
        let deps = by_model.entry(entry.spec.id.clone()).or_default();
        if deps
            .iter()
            .any(|o| o.provider == spec.provider && o.upstream_name == spec.upstream_name)
        {
            return Err(invalid(
                &field("provider"),
                format!(
                    "model `{}` already has a deployment on provider `{}` with upstream_name `{}`; merge the two (raise weight) or give one another upstream_name",
                    entry.spec.id, spec.provider, spec.upstream_name
                ),
            ));
        }
        deps.push(spec);
    }
    if !(0.0..=1.0).contains(&balancing.latency_exploration) {
        return Err(invalid(
            "balancing.latency_exploration",
            format!(
                "must be a share in [0, 1]; got {}",
                balancing.latency_exploration
            ),
        ));
    }
    let mut strategies = BTreeMap::new();
    for (model, strategy) in balancing.models {
        let field = format!("balancing.models.\"{model}\"");
        let id = catalog
            .get(&model)
            .map_err(|e| invalid(&field, e.to_string()))?
            .spec
            .id
            .clone();
        if !by_model.contains_key(&id) {
            return Err(invalid(
                &field,
                format!("model `{id}` has no [[deployments]] entry to balance"),
            ));
        }
        strategies.insert(id, strategy);
    }
    Ok(DeploymentPlan {
        by_model,
        strategy: balancing.strategy,
        strategies,
        latency_exploration: balancing.latency_exploration,
        seed: balancing.seed,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::Path;

    use super::*;
    use crate::config::{Config, GatewayConfig};

    const PROVIDERS: &str = "[[providers]]\nname = \"openai\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"K1\"\n\
         [[providers]]\nname = \"azure\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"K2\"\n";

    fn resolve(extra: &str, keys: &[&str]) -> Result<Config, Error> {
        let src = format!("{PROVIDERS}{extra}");
        let raw = GatewayConfig::from_toml_str(&src, Path::new("test.toml"))?;
        Config::resolve(raw, &|k| keys.contains(&k).then(|| "sk".to_owned()))
    }

    fn field_of(err: Error) -> String {
        match err {
            Error::ConfigInvalid { field, .. } | Error::ConfigParse { field, .. } => field,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn example_deployments_load() {
        let src = include_str!("../../config/example.toml");
        let raw = GatewayConfig::from_toml_str(src, Path::new("example.toml")).unwrap();
        let cfg = Config::resolve(raw, &|_| None).unwrap();
        let deps = &cfg.deployments.by_model[&ModelId::new("gpt-4o")];
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[0].weight, 3);
        assert_eq!(deps[1].provider.as_str(), "openai-backup");
        assert_eq!(
            deps[1].upstream_name, "gpt-4o",
            "defaults to the catalog's name"
        );
        assert_eq!(cfg.rules.iter().count(), 2);
    }

    #[test]
    fn a_model_is_live_through_any_of_its_deployments() {
        let extra = "[[deployments]]\nmodel = \"gpt-4o\"\nprovider = \"azure\"\nupstream_name = \"gpt-4o-prod\"\n";
        // Only the azure key is set: gpt-4o is served there, other OpenAI models are not.
        let cfg = resolve(extra, &["K2"]).unwrap();
        assert_eq!(cfg.candidates, vec![ModelId::new("gpt-4o")]);
        assert_eq!(
            cfg.live_provider_of(&ModelId::new("gpt-4o"))
                .unwrap()
                .name
                .as_str(),
            "azure"
        );
        // The catalog provider alone does not serve a model that has deployments.
        let cfg = resolve(extra, &["K1"]).unwrap();
        assert!(!cfg.candidates.contains(&ModelId::new("gpt-4o")));
        assert_eq!(
            cfg.first_provider_of(&ModelId::new("gpt-4o"))
                .unwrap()
                .as_str(),
            "azure"
        );
    }

    #[test]
    fn bad_deployments_name_their_field() {
        let dep = |body: &str| format!("[[deployments]]\n{body}\n");
        for (extra, field) in [
            (
                dep("model = \"no-such-model\"\nprovider = \"openai\""),
                "deployments[0].model",
            ),
            (
                dep("model = \"gpt-4o\"\nprovider = \"nope\""),
                "deployments[0].provider",
            ),
            (
                dep("model = \"gpt-4o\"\nprovider = \"openai\"\nweight = 0"),
                "deployments[0].weight",
            ),
            (
                dep("model = \"gpt-4o\"\nprovider = \"openai\"\nweight = -2"),
                "deployments[0].weight",
            ),
            (
                dep("model = \"gpt-4o\"\nprovider = \"openai\"\nupstream_name = \" \""),
                "deployments[0].upstream_name",
            ),
            (
                dep("model = \"gpt-4o\"\nprovider = \"openai\"\nwieght = 2"),
                "deployments[0]",
            ),
            (
                format!(
                    "{}{}",
                    dep("model = \"gpt-4o\"\nprovider = \"openai\""),
                    dep("model = \"gpt-4o\"\nprovider = \"openai\"\nupstream_name = \"gpt-4o\"")
                ),
                "deployments[1].provider",
            ),
            (
                "[balancing]\nmodels = { \"gpt-4o\" = \"latency\" }\n".to_owned(),
                "balancing.models",
            ),
            (
                "[balancing]\nlatency_exploration = 1.5\n".to_owned(),
                "balancing.latency_exploration",
            ),
            (
                "[balancing]\nstrategy = \"fastest\"\n".to_owned(),
                "balancing.strategy",
            ),
        ] {
            let err = resolve(&extra, &["K1", "K2"]).unwrap_err();
            let msg = err.to_string();
            let f = field_of(err);
            assert!(f.starts_with(field), "{extra}: {f}: {msg}");
        }
    }
}
