//! The loop's gateway: its config (every provider of the action models pointing at the replay
//! server), the [`Deploy`] seam implemented with the gateway's own reload, and the catalog
//! entries of the models it routes between.

use std::path::Path;

use gateway::config::{GatewayConfig, Privacy, ProviderConfig};
use gateway::upstream::ProviderKind;
use models::CatalogEntry;
use router_core::{BoxError, Exploration, ModelId, ProviderId};
use training::learning_loop::Deploy;

use super::LoopArgs;

/// Deploys refits with the in-process gateway's own reload (the checks and metrics of
/// `POST /admin/reload`), and flushes its outcome log.
pub(super) struct GatewayDeploy<'a> {
    pub(super) gateway: &'a gateway::RunningGateway,
}

impl Deploy for GatewayDeploy<'_> {
    async fn flush(&self) -> Result<(), BoxError> {
        self.gateway.outcome_log().flush().await;
        Ok(())
    }

    async fn deploy(&self, artifact: &Path) -> Result<(), BoxError> {
        gateway::routing::reload::reload_artifact(self.gateway.state(), Some(artifact)).await?;
        Ok(())
    }
}

/// The catalog entries of the models to route between.
pub(super) fn action_entries(
    requested: &[String],
    columns: &[String],
    catalog: &models::Catalog,
) -> anyhow::Result<Vec<CatalogEntry>> {
    if !requested.is_empty() {
        return requested
            .iter()
            .map(|m| {
                anyhow::ensure!(
                    columns.contains(m),
                    "--models {m}: not a model of the data; its models are {columns:?}"
                );
                Ok(catalog.get(&ModelId::new(m.as_str()))?.clone())
            })
            .collect();
    }
    let mut entries = Vec::new();
    for m in columns {
        match catalog.get(&ModelId::new(m.as_str())) {
            Ok(e) => entries.push(e.clone()),
            Err(_) => eprintln!("loop: {m} is not in the catalog; left out"),
        }
    }
    Ok(entries)
}

/// The loop's gateway: every provider of the action models points at the replay server.
pub(super) fn gateway_config(
    args: &LoopArgs,
    entries: &[CatalogEntry],
    replay_url: &str,
    db: &Path,
    exploration: &Exploration,
) -> GatewayConfig {
    let specs: Vec<&router_core::ModelSpec> = entries.iter().map(|e| &e.spec).collect();
    let mut providers: Vec<&ProviderId> = specs.iter().map(|s| &s.provider).collect();
    providers.sort_unstable();
    providers.dedup();
    let mut raw = GatewayConfig {
        providers: providers
            .into_iter()
            .map(|name| ProviderConfig {
                name: name.clone(),
                kind: ProviderKind::Openai,
                base_url: format!("{replay_url}/v1"),
                api_key_env: None,
                prompt_cache: None,
            })
            .collect(),
        ..GatewayConfig::default()
    };
    raw.router.candidates = Some(specs.iter().map(|s| s.id.clone()).collect());
    if let Some(cheapest) = specs.iter().min_by(|a, b| {
        (a.input_usd_per_mtok + a.output_usd_per_mtok)
            .total_cmp(&(b.input_usd_per_mtok + b.output_usd_per_mtok))
    }) {
        raw.router.fallback_model = cheapest.id.clone();
    }
    raw.router.routing_deadline = std::time::Duration::from_secs(10);
    // The candidates are the data's models, all served by the replay provider: nothing to
    // discover (its list would agree; checking it would only cost a request at start).
    raw.router.discover_models = false;
    raw.router.exploration = *exploration;
    raw.router.exploration_seed = Some(args.seed);
    raw.router.willingness_to_pay = args.willingness_to_pay;
    raw.log.sqlite = db.to_owned();
    raw.log.privacy = Privacy::Full;
    raw
}
