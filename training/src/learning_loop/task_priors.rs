//! `task_priors` refits: per-task estimates of each routed model fitted from the log's labels,
//! shrunk toward the catalog's scores. Alone ([`task_priors_artifact`]) they replace a cold
//! router; on top of a start artifact ([`task_priors_on`]) they keep its trained estimates and
//! its prompt-difficulty link, and refit only the priors of the models it does not know.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use classifier::predictors::{
    Artifact, Manifest, PredictorKind, TaskClassifier, TaskPriorsPredictor, TrainingSet,
};
use router_core::policy::DifficultyLink;
use router_core::{ModelId, ModelPrior, OnboardedModel, TaskDistribution};

use crate::onboarding::fit::{fit_tasks, FitConfig, ScoredProbe};
use crate::Error;

/// What a `task_priors` refit needs besides the log: the task classifier that spreads each
/// logged prompt over the tasks, and the catalog's prior of every routed model (what its
/// estimates shrink toward).
#[derive(Clone, Debug)]
pub struct TaskPriorInputs {
    /// `P(task | prompt)` over the loop's embeddings.
    pub tasks: Arc<TaskClassifier>,
    /// Each routed model's catalog prior.
    pub priors: HashMap<ModelId, ModelPrior>,
    /// How strongly the priors hold.
    pub fit: FitConfig,
    /// The catalog priors of the start artifact's own models, for [`task_priors_on`]: the
    /// anchors of its difficulty link, as the gateway finds them in the catalog (empty
    /// without a start artifact).
    pub anchors: HashMap<ModelId, ModelPrior>,
}

/// A `task_priors` artifact: for every model with labels in `set`, its per-task estimates
/// fitted from them ([`fit_tasks`]), each labelled prompt counting toward every task by its
/// `P(task | prompt)`, shrunk toward the model's catalog prior. Models without labels, or
/// without a prior, keep routing on the catalog.
pub fn task_priors_artifact(
    set: &TrainingSet,
    inputs: &TaskPriorInputs,
    data_sha256: &str,
) -> Result<Artifact, Error> {
    let dim = set.x.first().map_or(0, Vec::len);
    let distributions = distributions(set, &inputs.tasks)?;
    let difficulty = vec![0.0; set.len()];
    let onboarded = fit_models(
        set,
        inputs,
        &distributions,
        &difficulty,
        &HashSet::new(),
        data_sha256,
    );
    let mut manifest = Manifest::new(
        PredictorKind::TaskPriors,
        Vec::new(),
        dim,
        data_sha256.to_owned(),
        serde_json::json!({ "prior_sd": inputs.fit.prior_sd }),
    );
    manifest.onboarded = onboarded;
    Ok(TaskPriorsPredictor::new(manifest).into())
}

/// `start` with the priors of the models it does not know refitted from `set`'s labels: its
/// weights, trained estimates and difficulty link stay, and each unknown model's per-task
/// scores are fitted as in [`task_priors_artifact`], except that every labelled prompt
/// carries the difficulty `start`'s link sees in it. The gateway moves these scores by the
/// same shift when it serves them, so what is fitted is the model's ability on a typical
/// prompt of the task, not the mean over whatever prompts the log happened to hold.
///
/// Why: a start artifact trained on benchmarks already ranks prompts within a task for the
/// models it knows, and a few hundred labels cannot fit per-prompt weights for models it does
/// not; they can fit a level per model and task. Fits replace earlier ones for the same model;
/// the artifact's other onboarded fits stay.
pub fn task_priors_on(
    start: &Artifact,
    set: &TrainingSet,
    inputs: &TaskPriorInputs,
    data_sha256: &str,
) -> Result<Artifact, Error> {
    let distributions = distributions(set, &inputs.tasks)?;
    let known: HashSet<ModelId> = start.manifest().models.iter().cloned().collect();
    let difficulty = match &start.manifest().difficulty {
        Some(link) => set
            .x
            .iter()
            .zip(&distributions)
            .map(|(x, tasks)| prompt_difficulty(start, link, &inputs.anchors, x, tasks))
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![0.0; set.len()],
    };
    let fitted = fit_models(
        set,
        inputs,
        &distributions,
        &difficulty,
        &known,
        data_sha256,
    );
    let mut artifact = start.clone();
    let manifest = artifact.manifest_mut();
    manifest
        .onboarded
        .retain(|o| fitted.iter().all(|f| f.model != o.model));
    manifest.onboarded.extend(fitted);
    if let serde_json::Value::Object(h) = &mut manifest.hyperparameters {
        h.insert(
            "task_priors_refit".into(),
            serde_json::json!({ "prior_sd": inputs.fit.prior_sd }),
        );
    }
    Ok(artifact)
}

fn distributions(
    set: &TrainingSet,
    tasks: &TaskClassifier,
) -> Result<Vec<TaskDistribution>, Error> {
    Ok(set
        .x
        .iter()
        .map(|x| tasks.try_predict(x))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The prompt's difficulty in the fit's sign (positive: harder), from `start`'s link: the
/// opposite of the shift the gateway adds to a prior's logit (0 where the link has no anchor).
fn prompt_difficulty(
    start: &Artifact,
    link: &DifficultyLink,
    anchor_priors: &HashMap<ModelId, ModelPrior>,
    x: &[f32],
    tasks: &TaskDistribution,
) -> Result<f64, Error> {
    let estimates = start.try_predict(x)?;
    let trained = start
        .manifest()
        .models
        .iter()
        .zip(estimates.iter().map(|e| e.quality));
    Ok(link
        .shift_from(trained, |m| anchor_priors.get(m).copied(), tasks)
        .map_or(0.0, |s| -s))
}

/// Per-task fits of every model in `set` with labels and a prior, except those in `skip`.
fn fit_models(
    set: &TrainingSet,
    inputs: &TaskPriorInputs,
    distributions: &[TaskDistribution],
    difficulty: &[f64],
    skip: &HashSet<ModelId>,
    data_sha256: &str,
) -> Vec<OnboardedModel> {
    let now = classifier::predictors::now_rfc3339();
    let mut onboarded = Vec::new();
    for (col, model) in set.models.iter().enumerate() {
        if skip.contains(model) {
            continue;
        }
        let Some(prior) = inputs.priors.get(model) else {
            continue;
        };
        let mut probes = Vec::new();
        let mut labelled = 0u32;
        for (row, dist) in distributions.iter().enumerate() {
            let Some(score) = set.quality[row][col] else {
                continue;
            };
            labelled += 1;
            let tokens = set.output_tokens[row][col].map(|t| t.max(0.0).round() as u32);
            for (task, p) in dist.ranked() {
                if p < 0.01 {
                    break;
                }
                probes.push(ScoredProbe {
                    task,
                    weight: p,
                    score: f64::from(score),
                    difficulty: difficulty[row],
                    output_tokens: tokens,
                });
            }
        }
        let tasks = fit_tasks(prior, &probes, &inputs.fit);
        if tasks.is_empty() {
            continue;
        }
        onboarded.push(OnboardedModel {
            model: model.clone(),
            onboarded_at: now.clone(),
            probe_set_sha256: data_sha256.to_owned(),
            requests: labelled,
            errors: 0,
            cost_usd: 0.0,
            tasks,
            // The training table carries no latencies; the gateway's catalog prior stays.
            latency: None,
        });
    }
    onboarded
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use classifier::predictors::{TaskClassifierFile, TrainingSet};
    use router_core::policy::DifficultyLink;
    use router_core::{QualityPredictor, Task};

    use super::*;
    use crate::experiment::PredictorConfigs;
    use crate::onboarding::fit::maths_prior as prior;

    /// A task classifier over two-dimensional embeddings: one weight row per task (maths,
    /// writing).
    fn classifier(weights: Vec<Vec<f32>>) -> Arc<TaskClassifier> {
        let file = TaskClassifierFile::fitted(
            "t".into(),
            128,
            vec![Task::Math, Task::Writing],
            weights,
            vec![0.0, 0.0],
            1.0,
            serde_json::json!({}),
            serde_json::json!({}),
        );
        Arc::new(TaskClassifier::from_file(file, std::path::Path::new("<test>")).unwrap())
    }

    fn inputs(models: &[ModelId], weights: Vec<Vec<f32>>) -> TaskPriorInputs {
        TaskPriorInputs {
            tasks: classifier(weights),
            priors: models.iter().map(|m| (m.clone(), prior(0.5))).collect(),
            fit: FitConfig::default(),
            anchors: [(ModelId::new("a"), prior(0.5))].into(),
        }
    }

    /// Labels of two models on prompts of two tasks move each model's estimate for that task
    /// from its catalog prior toward what the labels show, by the prompts' task probabilities;
    /// a model without labels and a task without prompts keep the catalog.
    #[test]
    fn a_task_priors_refit_moves_each_task_from_its_prior_by_the_labels() {
        let models = vec![ModelId::new("a"), ModelId::new("b"), ModelId::new("c")];
        // 40 maths prompts: `a` right on all, `b` wrong on all; `c` never served.
        let set = TrainingSet {
            models: models.clone(),
            x: vec![vec![1.0, 0.0]; 40],
            quality: vec![vec![Some(1.0), Some(0.0), None]; 40],
            output_tokens: vec![vec![Some(30.0), Some(300.0), None]; 40],
            tasks: Vec::new(),
        };
        let inputs = inputs(&models, vec![vec![8.0, 0.0], vec![0.0, 8.0]]);
        let artifact = task_priors_artifact(&set, &inputs, "sha").unwrap();
        assert!(artifact.models().is_empty());
        let fit = |m: &str| artifact.onboarded(&ModelId::new(m)).cloned();
        let a = fit("a").unwrap();
        let b = fit("b").unwrap();
        assert!(fit("c").is_none(), "no labels, no fit");
        let math = |o: &OnboardedModel| {
            o.tasks
                .iter()
                .find(|t| t.task == Task::Math)
                .unwrap()
                .clone()
        };
        assert!(math(&a).estimate > 0.9 && math(&b).estimate < 0.1);
        assert_eq!(math(&a).output_tokens.map(f64::round), Some(30.0));
        // The writing share of these prompts is a fraction of one probe: writing keeps the
        // prior.
        assert!(a.tasks.iter().all(|t| t.task != Task::Writing));
        // Saved and loaded back like any artifact, with no weights file.
        let dir = tempfile::tempdir().unwrap();
        artifact.save(dir.path()).unwrap();
        let loaded = Artifact::load(dir.path()).unwrap();
        assert_eq!(loaded.onboarded(&ModelId::new("a")), Some(&a));
    }

    /// A start artifact that knows `a`: right on the 20 prompts along the first axis (easy),
    /// wrong on the 20 along the second (hard), with a difficulty link.
    fn start() -> Artifact {
        let easy = vec![1.0f32, 0.0];
        let hard = vec![0.0f32, 1.0];
        let set = TrainingSet {
            models: vec![ModelId::new("a")],
            x: [vec![easy; 20], vec![hard; 20]].concat(),
            quality: [vec![vec![Some(1.0)]; 20], vec![vec![Some(0.0)]; 20]].concat(),
            output_tokens: vec![vec![None]; 40],
            tasks: Vec::new(),
        };
        let mut artifact = crate::fit_predictor_with(
            PredictorKind::Knn,
            &set,
            &PredictorConfigs::default(),
            0,
            crate::FitOptions::default(),
            None,
        )
        .unwrap();
        artifact.manifest_mut().difficulty = Some(DifficultyLink {
            kappa: 1.0,
            offsets: Default::default(),
        });
        artifact
    }

    /// A layered refit keeps the start's weights and link, fits only the model it does not
    /// know, and reads each label against the prompt's difficulty: `b`, right on half of the
    /// easy prompts and served on nothing else, is a weak model on a typical maths prompt, not
    /// the coin flip the raw mean says.
    #[test]
    fn a_refit_on_a_start_artifact_keeps_it_and_reads_labels_against_difficulty() {
        let start = start();
        let models = vec![ModelId::new("a"), ModelId::new("b")];
        let set = TrainingSet {
            models: models.clone(),
            x: vec![vec![1.0, 0.0]; 40],
            quality: (0..40)
                .map(|i| vec![Some(1.0), Some(if i % 2 == 0 { 1.0 } else { 0.0 })])
                .collect(),
            output_tokens: vec![vec![None, None]; 40],
            tasks: Vec::new(),
        };
        // Every prompt is maths.
        let inputs = inputs(&models, vec![vec![8.0, 8.0], vec![0.0, 0.0]]);
        let layered = task_priors_on(&start, &set, &inputs, "sha").unwrap();
        assert_eq!(layered.models(), start.models());
        for x in [[1.0f32, 0.0], [0.0, 1.0]] {
            assert_eq!(layered.predict(&x), start.predict(&x));
        }
        assert_eq!(layered.difficulty_link(), start.difficulty_link());
        assert!(
            layered.onboarded(&ModelId::new("a")).is_none(),
            "a is trained"
        );
        let math =
            |artifact: &Artifact| artifact.onboarded(&ModelId::new("b")).unwrap().tasks[0].estimate;
        let flat = task_priors_artifact(&set, &inputs, "sha").unwrap();
        assert!((math(&flat) - 0.5).abs() < 0.05, "{}", math(&flat));
        assert!(math(&layered) < 0.2, "{}", math(&layered));

        // Refitting again replaces the fit instead of adding a second one.
        let again = task_priors_on(&layered, &set, &inputs, "sha").unwrap();
        assert_eq!(again.manifest().onboarded.len(), 1);
    }
}
