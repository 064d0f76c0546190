//! Fitting the task classifier: `P(task | prompt)` from the shared datasets' task labels.
//!
//! 1. [`examples`] maps each row's own label to the taxonomy ([`labels::task_of`]; licence-clean
//!    sources only) and strips RouterArena's instruction templates.
//! 2. [`select`] removes duplicate texts (GSM8K is in two sources) and caps each label and each
//!    task, so that one big source (MMLU's 14k questions) does not drown the rest.
//! 3. [`fit_task_classifier`] splits per task into train / validation / test, fits a
//!    class-weighted softmax regression for each L2 strength of the grid, keeps the one with the
//!    lowest validation NLL, fits its temperature on the validation part, and reports accuracy,
//!    per-task precision and recall, NLL and calibration (ECE) on the untouched test part.
//!
//! The saved classifier is the one fitted on the training part, so the test numbers describe
//! exactly what ships.

pub(crate) mod fit;
pub mod labels;
mod metrics;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};

use classifier::predictors::{TaskClassifier, TaskClassifierFile};
use datasets::OutcomeTable;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use router_core::Task;
use serde::Serialize;

pub use labels::{strip_routerarena_template, task_of, LabelSource};
pub use metrics::{TaskMetrics, TaskRow};

use crate::Error;
use fit::{fit, fit_temperature, nll, FitSettings, Labelled};

/// One prompt with its task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskExample {
    /// The text the encoder sees (templates stripped).
    pub text: String,
    /// The dataset.
    pub source: LabelSource,
    /// The dataset's own label (`mmlu/anatomy`, `human_eval`, `MMLUPro_law`).
    pub label: String,
    /// The taxonomy task.
    pub task: Task,
}

/// The labelled examples of one dataset; rows whose label the mapping does not list are left
/// out.
pub fn examples(table: &OutcomeTable, source: LabelSource) -> Vec<TaskExample> {
    table
        .rows
        .iter()
        .filter_map(|row| {
            let label = row.task.as_deref()?;
            let task = task_of(source, label)?;
            let text = match source {
                LabelSource::RouterArena => strip_routerarena_template(&row.text),
                _ => row.text.trim().to_owned(),
            };
            (!text.is_empty()).then(|| TaskExample {
                text,
                source,
                label: label.to_owned(),
                task,
            })
        })
        .collect()
}

/// How examples are chosen and the classifier fitted.
#[derive(Clone, Debug, Serialize)]
pub struct TaskTrainConfig {
    /// Seeds the caps' sampling and the split.
    pub seed: u64,
    /// Most examples per dataset label (e.g. per MMLU subject).
    pub max_per_label: usize,
    /// Most examples per task, drawn evenly across its labels.
    pub max_per_task: usize,
    /// Share of each task held out to choose L2 and the temperature.
    pub validation: f64,
    /// Share of each task held out to report on.
    pub test: f64,
    /// L2 strengths tried.
    pub l2_grid: Vec<f32>,
    /// Full-batch Adam steps.
    pub epochs: usize,
    /// Adam's initial step size.
    pub learning_rate: f32,
    /// A task with fewer examples than this gets no class.
    pub min_per_task: usize,
}

impl Default for TaskTrainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_per_label: 200,
            max_per_task: 2500,
            validation: 0.15,
            test: 0.15,
            l2_grid: vec![1e-5, 1e-4, 1e-3],
            epochs: 500,
            learning_rate: 0.05,
            min_per_task: 20,
        }
    }
}

/// Drops duplicate texts (first kept), then caps each label and each task, reproducibly.
pub fn select(examples: &[TaskExample], config: &TaskTrainConfig) -> Vec<TaskExample> {
    let mut seen = HashSet::new();
    let mut by_label: BTreeMap<(Task, LabelSource, &str), Vec<&TaskExample>> = BTreeMap::new();
    for e in examples {
        if seen.insert(e.text.as_str()) {
            by_label
                .entry((e.task, e.source, e.label.as_str()))
                .or_default()
                .push(e);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut by_task: BTreeMap<Task, Vec<Vec<&TaskExample>>> = BTreeMap::new();
    for ((task, _, _), mut rows) in by_label {
        rows.shuffle(&mut rng);
        rows.truncate(config.max_per_label);
        by_task.entry(task).or_default().push(rows);
    }
    let mut out = Vec::new();
    for (_, mut labels) in by_task {
        // Round-robin over the task's labels: the cap takes from each in turn.
        let mut taken = 0;
        let mut depth = 0;
        while taken < config.max_per_task && labels.iter().any(|l| depth < l.len()) {
            for l in labels.iter_mut() {
                if taken < config.max_per_task && depth < l.len() {
                    out.push(l[depth].clone());
                    taken += 1;
                }
            }
            depth += 1;
        }
    }
    out
}

/// The encoder the embeddings came from.
#[derive(Clone, Debug)]
pub struct EncoderInfo {
    /// Its fingerprint ([`router_core::Embedder::fingerprint`]).
    pub fingerprint: String,
    /// Token budget of the training embeddings.
    pub max_tokens: usize,
}

/// What the fit chose and measured.
#[derive(Clone, Debug, Serialize)]
pub struct TaskFitReport {
    /// Examples per task in train / validation / test.
    pub counts: BTreeMap<Task, [usize; 3]>,
    /// Examples per dataset label, over all three parts.
    pub labels: BTreeMap<String, usize>,
    /// Validation NLL at temperature 1 per L2 strength tried.
    pub validation_nll: Vec<(f32, f64)>,
    /// The L2 strength kept.
    pub l2: f32,
    /// The fitted temperature.
    pub temperature: f32,
    /// Test metrics at temperature 1.
    pub test_uncalibrated: TaskMetrics,
    /// Test metrics of the shipped classifier (fitted temperature).
    pub test: TaskMetrics,
}

/// The fitted classifier and its report.
pub struct FittedTasks {
    /// Ready to save.
    pub classifier: TaskClassifier,
    /// How it was chosen and how well it does on held-out prompts.
    pub report: TaskFitReport,
}

/// Fits the task classifier on `examples` with one embedding per example (see the module docs).
pub fn fit_task_classifier(
    examples: &[TaskExample],
    embeddings: &[Vec<f32>],
    encoder: &EncoderInfo,
    config: &TaskTrainConfig,
) -> Result<FittedTasks, Error> {
    let bad = |reason: String| Error::TaskData { reason };
    if examples.len() != embeddings.len() {
        return Err(bad(format!(
            "{} examples but {} embeddings",
            examples.len(),
            embeddings.len()
        )));
    }
    let d = embeddings.first().map_or(0, Vec::len);
    if d == 0 || embeddings.iter().any(|e| e.len() != d) {
        return Err(bad("embeddings are empty or of mixed length".into()));
    }
    if !(config.validation > 0.0 && config.test > 0.0 && config.validation + config.test < 0.9) {
        return Err(Error::Config {
            field: "validation/test",
            reason: "both must be > 0 and leave at least 10 % for training".into(),
        });
    }
    let mut per_task: BTreeMap<Task, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        per_task.entry(e.task).or_default().push(i);
    }
    let tasks: Vec<Task> = per_task
        .iter()
        .filter(|(_, rows)| rows.len() >= config.min_per_task)
        .map(|(t, _)| *t)
        .collect();
    if tasks.len() < 2 {
        return Err(bad(format!(
            "needs at least two tasks with {} examples or more; got {:?}",
            config.min_per_task,
            per_task
                .iter()
                .map(|(t, r)| (t.as_str(), r.len()))
                .collect::<Vec<_>>()
        )));
    }
    // Stratified split: each task's rows shuffled, test and validation cut from the front.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x7a5c);
    let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    let mut counts = BTreeMap::new();
    for t in &tasks {
        let mut rows = per_task[t].clone();
        rows.shuffle(&mut rng);
        let n_test = ((rows.len() as f64 * config.test).round() as usize).max(1);
        let n_val = ((rows.len() as f64 * config.validation).round() as usize).max(1);
        test.extend_from_slice(&rows[..n_test]);
        val.extend_from_slice(&rows[n_test..n_test + n_val]);
        train.extend_from_slice(&rows[n_test + n_val..]);
        counts.insert(*t, [rows.len() - n_test - n_val, n_val, n_test]);
    }
    let class_of = |i: usize| tasks.iter().position(|t| *t == examples[i].task);
    // Balanced class weights: every task counts as much as any other in the loss.
    let k = tasks.len();
    let weight: Vec<f32> = tasks
        .iter()
        .map(|t| train.len() as f32 / (k as f32 * counts[t][0].max(1) as f32))
        .collect();
    let labelled = |rows: &[usize]| -> Vec<Labelled<'_>> {
        rows.iter()
            .filter_map(|&i| {
                class_of(i).map(|c| Labelled {
                    x: &embeddings[i],
                    class: c,
                    weight: weight[c],
                })
            })
            .collect()
    };
    let train_set = labelled(&train);
    let classes =
        |rows: &[usize]| -> Vec<usize> { rows.iter().filter_map(|&i| class_of(i)).collect() };
    let (val_classes, test_classes) = (classes(&val), classes(&test));

    let mut best: Option<(f32, f64, fit::Linear)> = None;
    let mut validation_nll = Vec::new();
    for &l2 in &config.l2_grid {
        let settings = FitSettings {
            l2,
            epochs: config.epochs,
            learning_rate: config.learning_rate,
        };
        let model = fit(&train_set, k, d, settings);
        let logits: Vec<Vec<f32>> = val.iter().map(|&i| model.logits(&embeddings[i])).collect();
        let v = nll(&logits, &val_classes, 1.0);
        validation_nll.push((l2, v));
        if best.as_ref().is_none_or(|(_, b, _)| v < *b) {
            best = Some((l2, v, model));
        }
    }
    let Some((l2, _, model)) = best else {
        return Err(Error::Config {
            field: "l2_grid",
            reason: "is empty".into(),
        });
    };
    let val_logits: Vec<Vec<f32>> = val.iter().map(|&i| model.logits(&embeddings[i])).collect();
    let temperature = fit_temperature(&val_logits, &val_classes);
    let test_logits: Vec<Vec<f32>> = test.iter().map(|&i| model.logits(&embeddings[i])).collect();
    let test_uncalibrated = TaskMetrics::compute(&tasks, &test_logits, &test_classes, 1.0);
    let test_metrics = TaskMetrics::compute(&tasks, &test_logits, &test_classes, temperature);

    let mut label_counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in examples.iter().filter(|e| tasks.contains(&e.task)) {
        *label_counts
            .entry(format!("{}:{}", e.source.as_str(), e.label))
            .or_default() += 1;
    }
    let report = TaskFitReport {
        counts,
        labels: label_counts,
        validation_nll,
        l2,
        temperature,
        test_uncalibrated,
        test: test_metrics,
    };
    let file = TaskClassifierFile::fitted(
        encoder.fingerprint.clone(),
        encoder.max_tokens,
        tasks.clone(),
        model.w.chunks(d).map(<[f32]>::to_vec).collect(),
        model.b.clone(),
        temperature,
        serde_json::json!({
            "config": config,
            "counts": report.counts,
            "labels": report.labels,
            "l2": l2,
        }),
        serde_json::json!({
            "test": report.test,
            "test_uncalibrated": report.test_uncalibrated,
            "validation_nll": report.validation_nll,
        }),
    );
    let classifier = TaskClassifier::from_file(file, std::path::Path::new("<fitted>"))?;
    Ok(FittedTasks { classifier, report })
}
