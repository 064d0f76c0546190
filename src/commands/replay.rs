//! `switchyard replay-provider`: an OpenAI-compatible server answering from a benchmark's
//! recorded outcomes (see `training::replay` and docs/learning-loop.md).

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context;
use datasets::OutcomeTable;
use training::replay::{serve, ReplayConfig, ReplayIndex};

use training::experiment::resolve_data;

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
    /// Multiplies every replayed latency (0: answer at once).
    #[arg(long, default_value_t = 1.0)]
    latency_scale: f64,
    /// Seed of the ±10 % latency jitter.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Imports and merges every `--data` argument, dropping the excluded tasks.
pub fn load_table(data: &[String], exclude_task: &[String]) -> anyhow::Result<OutcomeTable> {
    let mut table = OutcomeTable::default();
    // An excluded task that matches nothing is most likely a typo (`gqpa`), which would keep
    // rows that must not be replayed: refused, naming the task families there are.
    let mut matched = vec![false; exclude_task.len()];
    let mut families: Vec<String> = Vec::new();
    for arg in data {
        let path = resolve_data(arg)?;
        let mut part = datasets::import_auto(&path)
            .with_context(|| format!("importing {}", path.display()))?;
        for family in part.rows.iter().filter_map(|r| r.task_family()) {
            if !families.iter().any(|f| f == family) {
                families.push(family.to_owned());
            }
        }
        for (task, hit) in exclude_task.iter().zip(&mut matched) {
            let before = part.len();
            part.drop_task(task);
            *hit |= part.len() < before;
        }
        table.merge(part);
    }
    if let Some((task, _)) = exclude_task.iter().zip(&matched).find(|(_, hit)| !**hit) {
        anyhow::bail!(
            "--exclude-task {task} matched no prompt in any --data source (a typo?); the task \
             families are: {}",
            if families.is_empty() {
                "none: the data has no task labels".to_owned()
            } else {
                families.join(", ")
            }
        );
    }
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
        latency_scale: args.latency_scale.max(0.0),
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
        println!("replay provider listening on http://{addr}");
        std::io::stdout().flush()?;
        serve(listener, index, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")
    })
}
