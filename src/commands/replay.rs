//! `switchyard replay-provider`: an OpenAI-compatible server answering from a benchmark's
//! recorded outcomes (see `training::replay` and docs/learning-loop.md).

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context;
use datasets::OutcomeTable;
use training::replay::{serve, ReplayConfig, ReplayIndex};

use training::experiment::{import_sources, source_specs, ImportSpec};

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Outcome data: a file or folder in any supported format, or a dataset name (routerbench,
    /// llmrouter, ...) looked up in ../shared/datasets. Repeat to merge several.
    #[arg(long = "data", required = true)]
    data: Vec<String>,
    /// Drop every prompt of this task or task family (repeatable), e.g. `gpqa`. A task that
    /// no --data source has is refused (a typo would keep the rows).
    #[arg(long = "exclude-task")]
    exclude_task: Vec<String>,
    /// Listen address (port 0: any free port; the address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Multiplies every replayed latency (0: answer at once; at most 1000).
    #[arg(long, default_value_t = 1.0, value_parser = parse_latency_scale, allow_hyphen_values = true)]
    latency_scale: f64,
    /// Seed of the ±10 % latency jitter.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The most `--latency-scale`: a thousand times the recorded latencies is minutes per answer
/// already; beyond, the waits only end at the replay server's cap.
const MAX_LATENCY_SCALE: f64 = 1000.0;

/// `--latency-scale`: a finite number from 0 to [`MAX_LATENCY_SCALE`] (NaN was taken as 0
/// without a word, `inf` and `1e300` panicked in the request handler).
fn parse_latency_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=MAX_LATENCY_SCALE).contains(&x) => Ok(x),
        _ => Err(format!(
            "`{s}`: expected a finite number from 0 to {MAX_LATENCY_SCALE} (0 answers at once, 1 replays the recorded latencies)"
        )),
    }
}

/// Imports and merges every `--data` argument, dropping the excluded tasks (one that matches
/// nothing is refused, as `train` and `eval` refuse it).
pub fn load_table(data: &[String], exclude_task: &[String]) -> anyhow::Result<OutcomeTable> {
    let spec = ImportSpec {
        sources: source_specs(data)?,
        exclude_tasks: exclude_task.to_vec(),
        ..ImportSpec::default()
    };
    let (table, _) = import_sources(&spec, &mut |line| eprintln!("{line}"))?;
    Ok(table)
}

/// Indexes `table` for replay with the catalog's latency priors, accepting each model's
/// catalog `upstream_name` and aliases too (the gateway sends the upstream name).
pub fn replay_index(table: OutcomeTable, catalog: &models::Catalog) -> ReplayIndex {
    let prior = |model: &str| {
        catalog
            .get(&router_core::ModelId::new(model))
            .ok()
            .map(|e| e.spec.latency)
    };
    let models = table.models.clone();
    let mut index = ReplayIndex::new(table, &prior);
    for model in &models {
        if let Ok(entry) = catalog.get(&router_core::ModelId::new(model)) {
            index.add_alias(&entry.upstream_name, model);
            for alias in &entry.aliases {
                index.add_alias(alias, model);
            }
        }
    }
    index
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let table = load_table(&args.data, &args.exclude_task)?;
    eprintln!(
        "replaying {} prompts × {} models from {}",
        table.len(),
        table.models.len(),
        table.source
    );
    let catalog = models::Catalog::embedded().context("loading the embedded catalog")?;
    let index = replay_index(table, &catalog);
    let config = ReplayConfig {
        latency_scale: args.latency_scale,
        seed: args.seed,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        let addr = listener.local_addr()?;
        // As `serve`'s line: a closed stdout is no reason not to serve (nor to panic).
        let _ = writeln!(
            std::io::stdout(),
            "replay provider listening on http://{addr}"
        )
        .and_then(|()| std::io::stdout().flush());
        serve(listener, index, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")
    })
}
