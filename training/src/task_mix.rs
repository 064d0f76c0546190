//! Fitting a [`TaskMixPredictor`]: a softmax regression of the rows' task families on their
//! embeddings (temperature fitted on held-out rows), and each family's per-model means.

use std::collections::BTreeMap;

use classifier::predictors::{
    to_log_tokens, Manifest, ModelPriors, PredictorKind, TaskMixPredictor, TaskMixWeights,
    TrainingSet,
};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::task_classifier::fit::{argmax, fit, fit_temperature, FitSettings, Labelled};
use crate::Error;

/// Settings of the task-mixture fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskMixConfig {
    /// A task family with fewer labelled rows than this has no class of its own; its rows and
    /// the unlabelled ones form one `other` class.
    pub min_rows: usize,
    /// Share of rows held out to fit the softmax temperature.
    pub validation: f64,
    /// L2 penalty on the softmax weights.
    pub l2: f32,
    /// Full-batch Adam steps.
    pub epochs: usize,
    /// Adam's initial step size.
    pub learning_rate: f32,
    /// Pseudo-rows of the model's overall mean added to every task's mean, so that a task
    /// with few labels for a model stays near that model's mean.
    pub shrinkage: f32,
    /// Most rows (a random sample) the softmax is fitted on.
    pub max_classifier_rows: usize,
}

impl Default for TaskMixConfig {
    fn default() -> Self {
        Self {
            min_rows: 10,
            validation: 0.15,
            l2: 1e-4,
            epochs: 300,
            learning_rate: 0.05,
            shrinkage: 2.0,
            max_classifier_rows: 20_000,
        }
    }
}

/// The class label of rows whose family is missing or too rare.
const OTHER: &str = "other";

/// Fits the task mixture on `set`; `seed` draws the temperature's held-out rows. A set
/// without task labels (or with a single family) gives one class: the per-model means.
pub fn fit_task_mix(
    set: &TrainingSet,
    config: &TaskMixConfig,
    seed: u64,
) -> Result<TaskMixPredictor, Error> {
    set.validate()?;
    if !(config.validation > 0.0 && config.validation < 0.5) {
        return Err(Error::Config {
            field: "task_mix.validation",
            reason: format!("{} must be in (0, 0.5)", config.validation),
        });
    }
    let (n, m, d) = (set.len(), set.models.len(), set.dim());
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..n {
        if let Some(f) = set.task_family(i) {
            *counts.entry(f).or_default() += 1;
        }
    }
    let mut classes: Vec<String> = counts
        .iter()
        .filter(|(_, &c)| c >= config.min_rows)
        .map(|(f, _)| (*f).to_owned())
        .collect();
    let class_of: Vec<Option<usize>> = (0..n)
        .map(|i| {
            set.task_family(i)
                .and_then(|f| classes.iter().position(|c| c == f))
        })
        .collect();
    if class_of.iter().any(Option::is_none) {
        classes.push(OTHER.to_owned());
    }
    let k = classes.len().max(1);
    let class_index: Vec<usize> = class_of.iter().map(|c| c.unwrap_or(k - 1)).collect();

    let (class_w, class_b, temperature, held_out, accuracy) = if k == 1 {
        (vec![0.0; d], vec![0.0], 1.0, 0, None)
    } else {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x7a5c_0001));
        let n_val = ((n as f64 * config.validation).round() as usize).min(n - 1);
        let (val, train) = order.split_at(n_val);
        // The softmax is full-batch: cap its rows so that a large labelled set costs seconds,
        // not minutes (the per-task means below still use every row).
        let train = &train[..train.len().min(config.max_classifier_rows.max(1))];
        let data: Vec<Labelled<'_>> = train
            .iter()
            .map(|&i| Labelled {
                x: &set.x[i],
                class: class_index[i],
                weight: 1.0,
            })
            .collect();
        let settings = FitSettings {
            l2: config.l2,
            epochs: config.epochs,
            learning_rate: config.learning_rate,
        };
        let model = fit(&data, k, d, settings);
        let logits: Vec<Vec<f32>> = val.iter().map(|&i| model.logits(&set.x[i])).collect();
        let truth: Vec<usize> = val.iter().map(|&i| class_index[i]).collect();
        let (temperature, accuracy) = if val.is_empty() {
            (1.0, None)
        } else {
            let hits = logits
                .iter()
                .zip(&truth)
                .filter(|(z, &c)| argmax(z).0 == c)
                .count();
            (
                fit_temperature(&logits, &truth),
                Some(hits as f64 / val.len() as f64),
            )
        };
        (model.w, model.b, temperature, val.len(), accuracy)
    };

    let priors = ModelPriors::from_training_set(set);
    let s = f64::from(config.shrinkage.max(0.0));
    let mut sums = vec![[0.0f64; 4]; k * m]; // quality sum, count, log-token sum, count
    for ((&c, quality), tokens) in class_index.iter().zip(&set.quality).zip(&set.output_tokens) {
        for j in 0..m {
            let cell = &mut sums[c * m + j];
            if let Some(q) = quality[j] {
                cell[0] += f64::from(q);
                cell[1] += 1.0;
            }
            if let Some(t) = tokens[j] {
                cell[2] += f64::from(to_log_tokens(t));
                cell[3] += 1.0;
            }
        }
    }
    let shrunk = |sum: f64, count: f64, prior: f32| -> f32 {
        ((sum + s * f64::from(prior)) / (count + s).max(f64::MIN_POSITIVE)) as f32
    };
    let mut quality = vec![0.0f32; k * m];
    let mut log_tokens = vec![0.0f32; k * m];
    for c in 0..k {
        for j in 0..m {
            let [qs, qn, ts, tn] = sums[c * m + j];
            quality[c * m + j] = if qn > 0.0 {
                shrunk(qs, qn, priors.quality[j]).clamp(0.0, 1.0)
            } else {
                priors.quality[j]
            };
            log_tokens[c * m + j] = if tn > 0.0 {
                shrunk(ts, tn, priors.log_tokens[j])
            } else {
                priors.log_tokens[j]
            };
        }
    }

    let mut manifest = Manifest::new(
        PredictorKind::TaskMix,
        set.models.clone(),
        d,
        set.sha256(),
        serde_json::json!({ "task_mix": config, "classes": classes }),
    );
    manifest.metrics = serde_json::json!({
        "rows": n,
        "temperature_rows": held_out,
        "held_out_accuracy": accuracy,
        "rows_per_class": (0..k)
            .map(|c| class_index.iter().filter(|&&x| x == c).count())
            .collect::<Vec<_>>(),
    });
    Ok(TaskMixPredictor::from_weights(
        manifest,
        priors,
        TaskMixWeights {
            classes: k,
            class_w,
            class_b,
            temperature,
            quality,
            log_tokens,
        },
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use classifier::predictors::Artifact;
    use router_core::ModelId;

    /// Two tasks on two directions of a 3-d embedding; model 0 is right on task `a`, model 1
    /// on task `b/x` and `b/y` (one family).
    fn two_tasks(n: usize, labelled: bool) -> TrainingSet {
        let mut set = TrainingSet {
            models: vec![ModelId::new("m0"), ModelId::new("m1")],
            ..TrainingSet::default()
        };
        for i in 0..n {
            let a = i % 2 == 0;
            let wobble = (i as f32 * 0.37).sin() * 0.2;
            let x = if a {
                [1.0, wobble, 0.1]
            } else {
                [wobble, 1.0, 0.1]
            };
            let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
            set.x.push(x.iter().map(|v| v / norm).collect());
            set.quality.push(if a {
                vec![Some(1.0), Some(0.0)]
            } else {
                vec![Some(0.0), Some(1.0)]
            });
            set.output_tokens
                .push(vec![Some(if a { 10.0 } else { 100.0 }), None]);
            if labelled {
                set.tasks.push(Some(
                    if a {
                        "a"
                    } else if i % 4 == 1 {
                        "b/x"
                    } else {
                        "b/y"
                    }
                    .to_owned(),
                ));
            }
        }
        set
    }

    #[test]
    fn the_mixture_recovers_each_tasks_best_model_and_round_trips() {
        let set = two_tasks(200, true);
        let p = fit_task_mix(&set, &TaskMixConfig::default(), 3).unwrap();
        assert_eq!(p.weights().classes, 2, "b/x and b/y are one family");
        let on_a = p.try_predict(&set.x[0]).unwrap();
        let on_b = p.try_predict(&set.x[1]).unwrap();
        assert!(on_a[0].quality > 0.9 && on_a[1].quality < 0.1, "{on_a:?}");
        assert!(on_b[1].quality > 0.9 && on_b[0].quality < 0.1, "{on_b:?}");
        assert!(on_a[0].output_tokens < on_b[0].output_tokens);

        let dir = tempfile::tempdir().unwrap();
        Artifact::from(p.clone()).save(dir.path()).unwrap();
        let loaded = Artifact::load(dir.path()).unwrap();
        assert_eq!(loaded.manifest().kind, PredictorKind::TaskMix);
        for x in &set.x[..6] {
            let (a, b) = (p.try_predict(x).unwrap(), loaded.try_predict(x).unwrap());
            for (a, b) in a.iter().zip(&b) {
                assert!((a.quality - b.quality).abs() < 1e-6);
            }
        }
        assert!(p.try_predict(&[1.0, 0.0]).is_err(), "wrong dimension");

        // A softmax fitted on a sample of 20 rows still tells the two tasks apart.
        let sampled = TaskMixConfig {
            max_classifier_rows: 20,
            ..TaskMixConfig::default()
        };
        let p = fit_task_mix(&set, &sampled, 3).unwrap();
        let on_a = p.try_predict(&set.x[0]).unwrap();
        assert!(on_a[0].quality > on_a[1].quality + 0.5, "{on_a:?}");
    }

    #[test]
    fn without_task_labels_it_is_the_model_means() {
        let set = two_tasks(40, false);
        let p = fit_task_mix(&set, &TaskMixConfig::default(), 0).unwrap();
        assert_eq!(p.weights().classes, 1);
        for x in &set.x[..4] {
            for e in p.try_predict(x).unwrap() {
                assert!((e.quality - 0.5).abs() < 1e-6, "{e:?}");
            }
        }
        let mut bad = two_tasks(10, true);
        bad.tasks.pop();
        let err = fit_task_mix(&bad, &TaskMixConfig::default(), 0).unwrap_err();
        assert!(err.to_string().contains("tasks"), "{err}");
    }
}
