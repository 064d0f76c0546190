//! `switchyard train-tasks`: fit the task classifier behind the task-aware priors.

use std::path::PathBuf;

use anyhow::{bail, Context};
use router_core::Embedder;
use training::embed_cache::{EmbedCache, DEFAULT_CACHE_DIR};
use training::task_classifier::{
    examples, fit_task_classifier, select, EncoderInfo, LabelSource, TaskTrainConfig,
};
use training::Progress;

use super::progress::{bar, draw};
use super::EncoderArgs;
use training::experiment::resolve_data;

/// The licence-clean sources, as dataset names for `--data`.
const DEFAULT_DATA: [&str; 4] = [
    "routellm-gsm8k",
    "routellm-mmlu",
    "llmrouter",
    "routerarena",
];

#[derive(Debug, clap::Args)]
pub struct TrainTasksArgs {
    /// Task-labelled data: routellm (or routellm-gsm8k, routellm-mmlu), llmrouter, routerarena,
    /// or their folders. Repeat to merge. RouterBench and RouterDC are refused (no licence:
    /// evaluation only). [default: all four licence-clean sets]
    #[arg(long = "data")]
    data: Vec<String>,
    /// Where to write the classifier (JSON). The bundled one is
    /// classifier/assets/task-classifier.json.
    #[arg(long, default_value = ".switchyard/task-classifier.json")]
    out: PathBuf,
    /// Most prompts per dataset label (e.g. per MMLU subject).
    #[arg(long, default_value_t = 200)]
    max_per_label: usize,
    /// Most prompts per task, drawn evenly across its labels.
    #[arg(long, default_value_t = 2500)]
    max_per_task: usize,
    /// Seeds the sampling and the train / validation / test split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Full-batch optimiser steps per fit.
    #[arg(long, default_value_t = 500)]
    epochs: usize,
    /// Folder of the embedding cache (one file per encoder and token budget).
    #[arg(long, default_value = DEFAULT_CACHE_DIR)]
    cache_dir: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    encoder: EncoderArgs,
}

pub fn run(args: TrainTasksArgs) -> anyhow::Result<()> {
    let data: Vec<String> = if args.data.is_empty() {
        DEFAULT_DATA.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.data.clone()
    };
    let mut all = Vec::new();
    for arg in &data {
        let path = resolve_data(arg)?;
        let table = datasets::import_auto(&path)
            .with_context(|| format!("importing {}", path.display()))?;
        let Some(source) = LabelSource::from_table_source(&table.source) else {
            bail!(
                "--data {arg}: `{}` cannot train the task classifier; use routellm, llmrouter or \
                 routerarena (RouterBench and RouterDC declare no licence and stay evaluation-only)",
                table.source
            );
        };
        let part = examples(&table, source);
        eprintln!(
            "{arg}: {} of {} prompts carry a mapped task label",
            part.len(),
            table.len()
        );
        all.extend(part);
    }
    let config = TaskTrainConfig {
        seed: args.seed,
        max_per_label: args.max_per_label,
        max_per_task: args.max_per_task,
        epochs: args.epochs,
        ..TaskTrainConfig::default()
    };
    let chosen = select(&all, &config);
    eprintln!("{} prompts after de-duplication and caps", chosen.len());

    let encoder = args.encoder.load()?;
    let fingerprint = encoder.fingerprint().to_owned();
    let mut cache = EmbedCache::open(
        &args.cache_dir,
        &fingerprint,
        args.encoder.max_tokens,
        encoder.dim(),
    )?;
    let texts: Vec<&str> = chosen.iter().map(|e| e.text.as_str()).collect();
    let progress = bar(texts.len() as u64, "embedding");
    let mut on_progress = |p: &Progress| draw(&progress, p);
    let x = cache.embed_all(&encoder, &texts, Some(&mut on_progress))?;
    progress.finish_and_clear();

    let info = EncoderInfo {
        fingerprint,
        max_tokens: args.encoder.max_tokens,
    };
    let fitted = fit_task_classifier(&chosen, &x, &info, &config)?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fitted
        .classifier
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let r = &fitted.report;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(r)?)?;
    } else {
        outln!(
            "Task classifier: L2 {}, temperature {:.3}; held-out test split:\n\n{}",
            r.l2,
            r.temperature,
            r.test.to_markdown()
        )?;
    }
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
