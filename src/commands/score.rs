//! `switchyard score`: every prompt of a benchmark set scored by a router artifact and the task
//! classifier, one JSON line per prompt next to the recorded outcomes, for analysis outside the
//! project (calibration plots, difficulty studies, comparing artifacts).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use classifier::predictors::{Artifact, TaskClassifier};
use router_core::{QualityPredictor, Task};
use serde_json::{json, Map, Value};

use super::data_args::{load, DataArgs};

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Router artifact whose estimates are written. [default: the bundled one]
    #[arg(long)]
    artifact: Option<PathBuf>,
    /// Output file (JSON lines); `-` for standard output.
    #[arg(long, default_value = "-")]
    out: PathBuf,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let dir = match &args.artifact {
        Some(dir) => dir.clone(),
        None => super::bundled_artifact::resolve()?,
    };
    let artifact =
        Artifact::load(&dir).with_context(|| format!("loading the artifact {}", dir.display()))?;
    // Scored as the gateway serves it: with the encoder settings it was trained with.
    let wanted = artifact.manifest().encoder_config(&dir)?;
    let mut data = args.data;
    if data.encoder.config(data.extra_layers) != wanted {
        eprintln!(
            "encoding as {} was trained: {} tokens{}",
            dir.display(),
            wanted.max_tokens,
            match wanted.extra_layers.label() {
                l if l.is_empty() => String::new(),
                l => format!(", extra layers {l}"),
            }
        );
        data.encoder.max_tokens = wanted.max_tokens;
        data.extra_layers = wanted.extra_layers;
    }
    data.adapter = artifact.manifest().load_adapter(&dir)?;
    data.prompt_features = artifact.manifest().prompt_features();
    let (table, x, _) = load(&data)?;
    // The task classifier reads the standard embedding: the first 384 values, whatever
    // extra layers follow them.
    let tasks =
        TaskClassifier::bundled_for(classifier::weights::MODEL_SHA256, classifier::EMBEDDING_DIM)
            .context("loading the bundled task classifier")?;
    let models: Vec<String> = artifact
        .models()
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect();
    let shared = table.models.iter().filter(|m| models.contains(m)).count();
    if shared == 0 {
        anyhow::bail!(
            "the artifact {} shares no model with the data, so no `predicted` could be checked \
             against a `truth`: the artifact's models are {}; the data's are {}. Pass the \
             artifact trained on this data (--artifact), or --data with its models (use \
             --same-model ALIAS=NAME where the data names a model differently)",
            dir.display(),
            models.join(", "),
            table.models.join(", ")
        );
    }
    eprintln!(
        "the artifact knows {shared} of the data's {} models",
        table.models.len()
    );
    let mut out: Box<dyn Write> = if args.out.as_os_str() == "-" {
        Box::new(super::output::Stdout::lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&args.out)
                .with_context(|| format!("creating {}", args.out.display()))?,
        ))
    };
    let mut task_failures = 0usize;
    for (row, e) in table.rows.iter().zip(&x) {
        let estimates = artifact.try_predict(e)?;
        let mut predicted = Map::new();
        for (m, est) in models.iter().zip(&estimates) {
            predicted.insert(m.clone(), json!(est.quality));
        }
        let mut p_task = Map::new();
        match tasks.try_predict(&e[..classifier::EMBEDDING_DIM.min(e.len())]) {
            Ok(dist) => {
                for t in Task::ALL {
                    p_task.insert(t.as_str().to_owned(), json!(dist.get(t)));
                }
            }
            Err(err) => {
                task_failures += 1;
                if task_failures == 1 {
                    eprintln!(
                        "warning: the task classifier failed on prompt {}: {err}; its `tasks` \
                         are left empty",
                        row.id
                    );
                }
            }
        }
        let mut truth = Map::new();
        for (m, cell) in table.models.iter().zip(&row.cells) {
            if let Some(c) = cell {
                truth.insert(m.clone(), json!({"score": c.score, "cost_usd": c.cost_usd}));
            }
        }
        let line = json!({
            "id": row.id,
            "task": row.task,
            "split": row.split.map(|s| format!("{s:?}").to_lowercase()),
            "tasks": Value::Object(p_task),
            "predicted": Value::Object(predicted),
            "truth": Value::Object(truth),
        });
        writeln!(out, "{line}").context("writing the scores")?;
    }
    out.flush().context("writing the scores")?;
    if task_failures > 1 {
        eprintln!(
            "warning: the task classifier failed on {task_failures} of {} prompts; their \
             `tasks` are empty",
            table.rows.len()
        );
    }
    Ok(())
}
