use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use router_core::{Constraints, ModelId, Objective};

use super::serve::{load_classifier, load_config_and_artifact, Overrides};
use super::EncoderArgs;

#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    /// The prompt to route.
    text: String,
    /// Gateway config (for candidates, catalog and router defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Router artifact (default: the configured one, else the bundled one).
    #[arg(long, conflicts_with = "priors_only")]
    artifact: Option<PathBuf>,
    /// Route on flat catalog priors only: no encoder, no artifact, no task classifier.
    #[arg(long)]
    priors_only: bool,
    /// Most the request may cost, USD.
    #[arg(long, value_parser = parse_max_cost, allow_hyphen_values = true)]
    max_cost_usd: Option<f64>,
    /// Least predicted quality in [0, 1]; alone, picks the cheapest model predicted to reach it.
    #[arg(long, value_parser = parse_min_quality, allow_hyphen_values = true)]
    min_quality: Option<f64>,
    /// Most predicted latency, milliseconds.
    #[arg(long, value_parser = parse_max_latency, allow_hyphen_values = true)]
    max_latency_ms: Option<f64>,
    /// USD you would pay for one full quality point (λ = 1 / this).
    #[arg(long)]
    willingness_to_pay: Option<f64>,
    /// Only consider these models (comma-separated catalog ids).
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<String>,
    #[command(flatten)]
    encoder: EncoderArgs,
}

// The same ranges the gateway answers 400 outside of (`router.*` in a request), so that the
// offline decision is one the gateway could make.

/// A finite number in `[lo, hi]`, or a message saying the range and unit.
fn in_range(s: &str, lo: f64, hi: f64, unit: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
        _ => Err(format!(
            "`{s}`: expected a number between {lo} and {hi}{unit}"
        )),
    }
}

fn parse_max_cost(s: &str) -> Result<f64, String> {
    in_range(s, 0.0, gateway::http::validate::MAX_COST_USD, " USD")
}

fn parse_min_quality(s: &str) -> Result<f64, String> {
    in_range(s, 0.0, 1.0, "")
}

fn parse_max_latency(s: &str) -> Result<f64, String> {
    in_range(s, 0.0, gateway::http::validate::MAX_LATENCY_MS, " ms")
}

pub fn run(args: RouteArgs) -> anyhow::Result<()> {
    let (config, artifact) = load_config_and_artifact(
        args.config.as_deref(),
        Overrides {
            bind: None,
            artifact: args.artifact,
            priors_only: args.priors_only,
        },
    )?;
    let classifier = if args.priors_only {
        None
    } else {
        load_classifier(&config, &args.encoder).map_err(|e| match &artifact {
            Some(setting) => setting.explain(e),
            None => e,
        })?
    };
    let predictor_models: Vec<ModelId> = classifier
        .as_ref()
        .and_then(|c| c.predictor())
        .map(|p| p.models().to_vec())
        .unwrap_or_default();
    // Offline, every model is a candidate unless the flag or the config narrows it.
    let pool: Vec<ModelId> = if args.candidates.is_empty() {
        config.offline_pool(&predictor_models)
    } else {
        args.candidates
            .iter()
            .map(|m| ModelId::new(m.as_str()))
            .collect()
    };
    for model in &pool {
        config.catalog.get(model).with_context(|| {
            format!(
                "--candidates `{model}`: not a catalog model id or alias (the catalog is models/catalog.toml, overlaid by the config's `[catalog] path`)"
            )
        })?;
    }
    // The gateway's rule (`routing_input`), so that the offline decision is the served one.
    let objective =
        Objective::requested(args.willingness_to_pay, args.min_quality, config.objective)
            .context("--willingness-to-pay must be a positive number of USD")?;
    let input = gateway::routing::RoutingInput {
        input_tokens: gateway::tokens::estimate(&args.text),
        text: args.text,
        constraints: Constraints {
            max_cost_usd: args.max_cost_usd,
            min_quality: args.min_quality,
            max_latency_ms: args.max_latency_ms,
            ..Default::default()
        },
        objective,
    };
    let router = gateway::routing::Router::new(
        Arc::new(config.catalog.clone()),
        pool.clone(),
        config.router.fallback_model.clone(),
        // Offline there is no request to protect: give the encoder all the time it needs.
        Duration::from_secs(30),
        classifier,
        Arc::new(gateway::metrics::Metrics::new()),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let routed = runtime.block_on(router.route(&input, &pool, None))?;
    // Each ranked candidate carries its own `source` (trained, task_prior or flat_prior);
    // `tasks` is the task classifier's P(task | prompt) behind the task priors.
    let out = serde_json::json!({
        "chosen": routed.decision.chosen,
        "reason": routed.decision.reason,
        "source": routed.source.as_str(),
        "tasks": routed.decision.tasks,
        "difficulty": routed.decision.difficulty,
        "routing": routed.decision.routing,
        "tie_break": routed.decision.tie_break,
        "route_ms": routed.elapsed.as_secs_f64() * 1000.0,
        "input_tokens": input.input_tokens,
        "ranked": routed.decision.ranked,
    });
    outln!("{}", serde_json::to_string_pretty(&out)?)?;
    Ok(())
}
