//! `switchyard train`: fit a predictor on benchmark outcomes and save it as an artifact. Also
//! holds the data loading and progress bars `switchyard eval` shares.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use classifier::predictors::PredictorKind;
use datasets::OutcomeTable;
use indicatif::{ProgressBar, ProgressStyle};
use router_core::Embedder;
use training::embed_cache::{EmbedCache, DEFAULT_CACHE_DIR};
use training::experiment::{fit_predictor, sample_rows, ExperimentData, PredictorConfigs};
use training::Progress;

use super::EncoderArgs;

/// Dataset names accepted in place of a path, and their folder under the shared datasets root.
const DATASET_NAMES: [(&str, &str); 8] = [
    ("routerbench", "routerbench"),
    ("routellm", "routellm"),
    ("routellm-gsm8k", "routellm/gsm8k"),
    ("routellm-mmlu", "routellm/mmlu"),
    ("llmrouter", "llmrouter"),
    ("routerarena", "routerarena"),
    ("routerdc", "routerdc7"),
    ("routerdc7", "routerdc7"),
];

/// Where the outcome data comes from and how it is embedded (shared with `eval`).
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Outcome data: a file or folder in any supported format, or a dataset name
    /// (routerbench, routellm, routellm-gsm8k, routellm-mmlu, llmrouter, routerarena, routerdc)
    /// looked up in ../shared/datasets. Repeat to merge several.
    #[arg(long = "data", required_unless_present = "from_log")]
    pub data: Vec<String>,
    /// Drop every prompt of this task or task family (repeatable), e.g. `gpqa`.
    #[arg(long = "exclude-task")]
    pub exclude_task: Vec<String>,
    /// Keep at most this many prompts of each --data source, drawn at random with
    /// --sample-seed (for slow machines).
    #[arg(long)]
    pub max_prompts: Option<usize>,
    /// Seed of the --max-prompts sample.
    #[arg(long, default_value_t = 0)]
    pub sample_seed: u64,
    /// Folder of the embedding cache (one file per encoder and token budget).
    #[arg(long, default_value = DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Which predictor to fit.
    #[arg(long, value_parser = parse_kind, default_value = "mf")]
    predictor: PredictorKind,
    /// Artifact folder to write (weights.safetensors + manifest.json).
    #[arg(long)]
    out: PathBuf,
    /// Seed of initialisation and minibatch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fit only on the rows the sources mark as their train split (rows without a split stay).
    #[arg(long)]
    train_split_only: bool,
    /// Learn from the gateway's outcome log (SQLite db or exported JSONL): each request's
    /// feedback score labels the model that served it. With --data, benchmark outcomes are
    /// mixed in.
    #[arg(long)]
    from_log: Option<PathBuf>,
    /// Feedback metric used as the label with --from-log (default: each row's first metric).
    #[arg(long)]
    metric: Option<String>,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    if let Some(log) = &args.from_log {
        let (mut set, fingerprint) =
            super::from_log::training_set(log, args.metric.as_deref(), &args.data.encoder)?;
        if !args.data.data.is_empty() {
            let (table, x, _) = load(&args.data)?;
            let data = ExperimentData::from_table(&table, x, &catalog_prices()?)?;
            let rows: Vec<usize> = (0..data.len()).collect();
            set = training::from_log::merge_training_sets(&data.training_set(&rows), &set)?;
        }
        let source = serde_json::json!({
            "from_log": log.display().to_string(),
            "metric": args.metric,
            "mixed_with": args.data.data,
        });
        return fit_and_save(&args, &set, fingerprint, source);
    }
    let (mut table, x, fingerprint) = load(&args.data)?;
    let mut keep: Vec<usize> = (0..table.rows.len()).collect();
    if args.train_split_only {
        keep.retain(|&i| table.rows[i].split != Some(datasets::Split::Test));
        table
            .rows
            .retain(|r| r.split != Some(datasets::Split::Test));
    }
    let x: Vec<Vec<f32>> = keep.into_iter().map(|i| x[i].clone()).collect();
    let data = ExperimentData::from_table(&table, x, &catalog_prices()?)?;
    let rows: Vec<usize> = (0..data.len()).collect();
    let set = data.training_set(&rows);
    let source = serde_json::json!({
        "source": table.source,
        "arguments": args.data.data,
        "excluded_tasks": args.data.exclude_task,
        "max_prompts": args.data.max_prompts,
        "train_split_only": args.train_split_only,
    });
    fit_and_save(&args, &set, fingerprint, source)
}

/// Fits the chosen predictor on `set` and writes the artifact with its provenance.
fn fit_and_save(
    args: &TrainArgs,
    set: &classifier::predictors::TrainingSet,
    fingerprint: String,
    source: serde_json::Value,
) -> anyhow::Result<()> {
    let bar = bar(0, "fitting");
    let mut on_progress = |p: &Progress| draw(&bar, p);
    let mut artifact = fit_predictor(
        args.predictor,
        set,
        &PredictorConfigs::default(),
        args.seed,
        Some(&mut on_progress),
    )?;
    bar.finish_and_clear();
    let manifest = artifact.manifest_mut();
    manifest.encoder_sha256 = fingerprint;
    if let serde_json::Value::Object(metrics) = &mut manifest.metrics {
        metrics.insert(
            "data".into(),
            serde_json::json!({
                "source": source,
                "prompts": set.len(),
                "labelled_cells": set.quality.iter().flatten().filter(|c| c.is_some()).count(),
                "seed": args.seed,
                "encoder_max_tokens": args.data.encoder.max_tokens,
            }),
        );
    }
    artifact
        .save(&args.out)
        .with_context(|| format!("writing the artifact to {}", args.out.display()))?;
    let m = artifact.manifest();
    eprintln!(
        "wrote {} ({} predictor, {} models, {} prompts, training data sha256 {})",
        args.out.display(),
        m.kind.as_str(),
        m.models.len(),
        set.len(),
        &m.training_data_sha256[..12.min(m.training_data_sha256.len())]
    );
    Ok(())
}

/// `knn`, `linear`, `mlp` or `mf`.
pub fn parse_kind(s: &str) -> Result<PredictorKind, String> {
    match s.trim() {
        "knn" => Ok(PredictorKind::Knn),
        "linear" => Ok(PredictorKind::Linear),
        "mlp" => Ok(PredictorKind::Mlp),
        "mf" => Ok(PredictorKind::Mf),
        other => Err(format!(
            "unknown predictor `{other}`: use knn, linear, mlp or mf"
        )),
    }
}

/// A dataset argument as a path: an existing path as given, else a known dataset name under
/// `../shared/datasets` (next to the workspace, or next to the working directory).
pub fn resolve_data(arg: &str) -> anyhow::Result<PathBuf> {
    let given = Path::new(arg);
    if given.exists() {
        return Ok(given.to_owned());
    }
    let names: Vec<&str> = DATASET_NAMES.iter().map(|(n, _)| *n).collect();
    let Some((_, folder)) = DATASET_NAMES.iter().find(|(n, _)| *n == arg) else {
        bail!(
            "data path `{arg}` does not exist: pass an existing file or folder, or one of the dataset names {} (looked up in ../shared/datasets/)",
            names.join(", ")
        );
    };
    let roots = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets"),
        PathBuf::from("../shared/datasets"),
    ];
    for root in &roots {
        let path = root.join(folder);
        if path.exists() {
            return Ok(path);
        }
    }
    bail!(
        "dataset `{arg}` not found at {}: copy the public datasets there (see ../shared/datasets/README.md) or pass the folder's path",
        roots[0].join(folder).display()
    )
}

/// The catalog's USD per 1M (input, output) tokens of a model, where the catalog knows it.
pub fn catalog_prices() -> anyhow::Result<impl Fn(&str) -> Option<(f64, f64)>> {
    let catalog = models::Catalog::embedded().context("loading the embedded catalog")?;
    Ok(move |model: &str| {
        catalog
            .get(&router_core::ModelId::new(model))
            .ok()
            .map(|e| (e.spec.input_usd_per_mtok, e.spec.output_usd_per_mtok))
    })
}

/// Imports, merges and filters the data, fills missing costs from catalog prices, then embeds
/// every prompt through the cache. Returns the table, one embedding per row and the encoder's
/// fingerprint.
pub fn load(args: &DataArgs) -> anyhow::Result<(OutcomeTable, Vec<Vec<f32>>, String)> {
    let mut table = OutcomeTable::default();
    for arg in &args.data {
        let path = resolve_data(arg)?;
        let mut part = datasets::import_auto(&path)
            .with_context(|| format!("importing {}", path.display()))?;
        eprintln!(
            "imported {} prompts × {} models from {}",
            part.len(),
            part.models.len(),
            path.display()
        );
        // Per source, so that a source's sample is the same whatever it is merged with.
        for task in &args.exclude_task {
            let before = part.len();
            part.drop_task(task);
            if part.len() < before {
                eprintln!("excluded {} prompts of task {task}", before - part.len());
            }
        }
        if let Some(max) = args.max_prompts.filter(|&m| m < part.len()) {
            sample_rows(&mut part, max, args.sample_seed);
            eprintln!("sampled {max} prompts (seed {})", args.sample_seed);
        }
        table.merge(part);
    }
    if table.is_empty() {
        bail!("no prompts left after filtering; check --data and --exclude-task");
    }
    let filled = table.fill_estimated_costs(&catalog_prices()?, datasets::DEFAULT_OUTPUT_TOKENS);
    if filled > 0 {
        eprintln!("estimated {filled} missing costs from catalog prices");
    }
    let encoder = args.encoder.load()?;
    let fingerprint = encoder.fingerprint().to_owned();
    let mut cache = EmbedCache::open(
        &args.cache_dir,
        &fingerprint,
        args.encoder.max_tokens,
        encoder.dim(),
    )?;
    let texts: Vec<&str> = table.rows.iter().map(|r| r.text.as_str()).collect();
    let bar = bar(texts.len() as u64, "embedding");
    let mut on_progress = |p: &Progress| draw(&bar, p);
    let x = cache.embed_all(&encoder, &texts, Some(&mut on_progress))?;
    bar.finish_and_clear();
    eprintln!(
        "{} prompts embedded ({} cached vectors in {})",
        x.len(),
        cache.len(),
        cache.path().display()
    );
    Ok((table, x, fingerprint))
}

/// A progress bar on stderr with ETA.
pub fn bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}

/// Moves `bar` to a training or embedding progress report.
pub fn draw(bar: &ProgressBar, p: &Progress) {
    if bar.length() != Some(p.total) {
        bar.set_length(p.total);
        bar.reset_eta();
    }
    bar.set_position(p.done);
    bar.set_message(p.message.clone());
}
