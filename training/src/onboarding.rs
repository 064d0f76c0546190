//! New-model onboarding.
//!
//! Live (`switchyard onboard --live`): [`probes`] is the shipped probe set with reference
//! answers, [`live`] sends it to the user's own models and scores the answers, [`fit`] turns
//! them into per-task estimates, [`latency`] times into a latency prior, and [`write`] puts those into a router artifact.
//!
//! Offline (this module): how well does a matrix-factorisation router know a model it was not
//! trained on, after only `K` probe prompts of it have been labelled?
//!
//! [`run`] splits the data once (seeded, [`random_split`]), fits MF on the training rows of
//! every model except the new one, then adds the new model from `K` labelled training prompts
//! with [`MfPredictor::fit_new_model_with`] (projection and other models frozen). Each
//! onboarded predictor is compared on the held-out prompts with MF fitted on the training rows
//! of *all* models ("full"): the new model's quality MSE, AUC and accuracy, and the AIQ of
//! routing over every model. [`OnboardingReport::to_markdown`] prints the table.

pub mod fit;
pub mod latency;
pub mod live;
pub mod probes;
pub mod write;

use std::fmt::Write as _;

use classifier::predictors::{Artifact, MfPredictor, NEW_MODEL_L2};
use evals::{evaluate, EvalConfig};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use router_core::ModelId;
use serde::{Deserialize, Serialize};

use crate::experiment::{random_split, router_scores, CostModel, ExperimentData};
use crate::{fit_mf, Error, MfConfig};

/// What to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnboardingConfig {
    /// Probe counts to try (each capped at the new model's labelled training prompts).
    pub probe_sizes: Vec<usize>,
    /// Seed of the split, the probe draw and MF's initialisation.
    pub seed: u64,
    /// Share of prompts held out. Default 0.2.
    pub test_fraction: f64,
    /// MF settings (its seed is replaced by `seed`).
    pub mf: MfConfig,
    /// L2 pull of the new model's vector towards the average model.
    pub l2: f32,
}

impl Default for OnboardingConfig {
    fn default() -> Self {
        Self {
            probe_sizes: vec![50, 100, 200],
            seed: 0,
            test_fraction: 0.2,
            mf: MfConfig::default(),
            l2: NEW_MODEL_L2,
        }
    }
}

/// One predictor's held-out numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// `K=50`, or `full` for MF trained with the new model on every training row.
    pub label: String,
    /// Labelled prompts of the new model the predictor saw.
    pub probes: usize,
    /// New model: mean squared error of predicted quality on the held-out prompts.
    pub quality_mse: f64,
    /// New model: MSE of predicting the probes' mean quality everywhere (no embedding).
    pub probe_mean_mse: f64,
    /// New model: ROC AUC of predicted quality against labels ≥ 0.5 (`None` with one class).
    pub auc: Option<f64>,
    /// New model: share of held-out prompts where `predicted ≥ 0.5` equals `label ≥ 0.5`.
    pub accuracy: f64,
    /// AIQ of routing over every model with this predictor.
    pub aiq: f64,
}

/// Everything [`run`] measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnboardingReport {
    /// The data's source.
    pub source: String,
    /// The onboarded model.
    pub model: ModelId,
    /// Every model, the new one last.
    pub models: Vec<ModelId>,
    /// Training prompts (all models but the new one are fitted on these).
    pub train_rows: usize,
    /// Held-out prompts scored.
    pub test_rows: usize,
    /// Training prompts where the new model has a label (the probe pool).
    pub labelled_train_rows: usize,
    /// The seed.
    pub seed: u64,
    /// AIQ of RouterBench's zero router and of the oracle on the held-out prompts.
    pub zero_router_aiq: f64,
    /// See `zero_router_aiq`.
    pub oracle_aiq: f64,
    /// One entry per probe count, then `full`.
    pub results: Vec<ProbeResult>,
}

/// Onboards `new_model` into MF from each of `config.probe_sizes` probe prompts and compares
/// with MF trained on it from the start. See the module documentation.
pub fn run(
    data: &ExperimentData,
    new_model: &str,
    config: &OnboardingConfig,
) -> Result<OnboardingReport, Error> {
    let fail = |reason: String| Error::Experiment { reason };
    let Some(j) = data.models.iter().position(|m| m.as_str() == new_model) else {
        return Err(fail(format!(
            "model `{new_model}` is not in the data; its models are {}",
            data.models
                .iter()
                .map(ModelId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if data.models.len() < 2 || config.probe_sizes.is_empty() {
        return Err(fail(
            "onboarding needs at least two models and one probe size".into(),
        ));
    }
    let data = &move_model_last(data, j);
    let last = data.models.len() - 1;
    let fold = random_split(data, config.test_fraction, config.seed);
    let test: Vec<usize> = fold
        .test
        .iter()
        .copied()
        .filter(|&i| data.quality[i][last].is_some())
        .collect();
    let mut pool: Vec<usize> = fold
        .train
        .iter()
        .copied()
        .filter(|&i| data.quality[i][last].is_some())
        .collect();
    if test.is_empty() || pool.is_empty() {
        return Err(fail(format!(
            "{} complete held-out prompts and {} labelled training prompts of `{new_model}`: use more data",
            test.len(),
            pool.len()
        )));
    }
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));

    let mut mf = config.mf.clone();
    mf.neural.seed = config.seed;
    let full_set = data.training_set(&fold.train);
    let mut base_set = full_set.clone();
    base_set.models.truncate(last);
    base_set.quality.iter_mut().for_each(|r| r.truncate(last));
    base_set
        .output_tokens
        .iter_mut()
        .for_each(|r| r.truncate(last));
    let base = fit_mf(&base_set, &mf, None)?;
    let full = fit_mf(&full_set, &mf, None)?;

    let mut onboarded: Vec<(String, Vec<f32>, MfPredictor)> = Vec::new();
    for &k in &config.probe_sizes {
        let k = k.min(pool.len()).max(1);
        let probes: Vec<(Vec<f32>, f32)> = pool[..k]
            .iter()
            .map(|&i| {
                (
                    data.x[i].clone(),
                    data.quality[i][last].unwrap_or(0.0) as f32,
                )
            })
            .collect();
        let mut p = base.clone();
        p.fit_new_model_with(ModelId::new(new_model), &probes, config.l2)?;
        let labels = probes.iter().map(|p| p.1).collect();
        onboarded.push((format!("K={k}"), labels, p));
    }
    let all_labels = pool
        .iter()
        .map(|&i| data.quality[i][last].unwrap_or(0.0) as f32)
        .collect();
    onboarded.push(("full".into(), all_labels, full));

    let cost_model = CostModel::for_data(data);
    let train_mean = data.mean_costs(&fold.train);
    let complete: Vec<usize> = fold.test.clone();
    let mut routers = Vec::new();
    let mut results = Vec::new();
    for (label, probe_labels, predictor) in onboarded {
        let truth: Vec<f64> = test.iter().filter_map(|&i| data.quality[i][last]).collect();
        let mut predicted = Vec::with_capacity(test.len());
        for &i in &test {
            let est = predictor.try_predict(&data.x[i])?;
            predicted.push(est.get(last).map_or(0.0, |e| e.quality));
        }
        let probe_mean = probe_labels.iter().map(|&v| f64::from(v)).sum::<f64>()
            / probe_labels.len().max(1) as f64;
        let n = truth.len().max(1) as f64;
        results.push(ProbeResult {
            label: label.clone(),
            probes: probe_labels.len(),
            quality_mse: truth
                .iter()
                .zip(&predicted)
                .map(|(t, p)| (t - p).powi(2))
                .sum::<f64>()
                / n,
            probe_mean_mse: truth.iter().map(|t| (t - probe_mean).powi(2)).sum::<f64>() / n,
            auc: auc(&predicted, &truth),
            accuracy: truth
                .iter()
                .zip(&predicted)
                .filter(|(t, p)| (**t >= 0.5) == (**p >= 0.5))
                .count() as f64
                / n,
            aiq: 0.0,
        });
        let artifact = Artifact::from(predictor);
        routers.push(router_scores(
            &label,
            &artifact,
            data,
            &complete,
            cost_model,
            &train_mean,
        )?);
    }
    let report = evaluate(&data.eval_set(&complete)?, &routers, &EvalConfig::default())?;
    for (r, scored) in results.iter_mut().zip(&report.routers) {
        r.aiq = scored.aiq;
    }
    Ok(OnboardingReport {
        source: data.source.clone(),
        model: ModelId::new(new_model),
        models: data.models.clone(),
        train_rows: fold.train.len(),
        test_rows: test.len(),
        labelled_train_rows: pool.len(),
        seed: config.seed,
        zero_router_aiq: report.zero_router.aiq,
        oracle_aiq: report.oracle.aiq,
        results,
    })
}

impl OnboardingReport {
    /// A Markdown summary line and one table row per predictor.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "**{}**: onboarding `{}` into MF over {} models; {} training prompts ({} labelled for the new model), {} held out; seed {}. Routing AIQ over all models: zero router {:.4}, oracle {:.4}.\n\n",
            self.source,
            self.model,
            self.models.len(),
            self.train_rows,
            self.labelled_train_rows,
            self.test_rows,
            self.seed,
            self.zero_router_aiq,
            self.oracle_aiq
        );
        out.push_str("| predictor | probes | new-model MSE | probe-mean MSE | AUC | accuracy | AIQ (all models) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for r in &self.results {
            let _ = writeln!(
                out,
                "| {} | {} | {:.4} | {:.4} | {} | {:.3} | {:.4} |",
                r.label,
                r.probes,
                r.quality_mse,
                r.probe_mean_mse,
                r.auc.map_or("n/a".into(), |a| format!("{a:.3}")),
                r.accuracy,
                r.aiq
            );
        }
        out
    }
}

/// `data` with model column `j` moved to the end, so that an onboarded predictor (which appends
/// the new model) and one fitted on the whole data share a column order.
fn move_model_last(data: &ExperimentData, j: usize) -> ExperimentData {
    fn rotate<T: Clone>(v: &[T], j: usize) -> Vec<T> {
        let mut out: Vec<T> = v.to_vec();
        if j < out.len() {
            let moved = out.remove(j);
            out.push(moved);
        }
        out
    }
    let mut d = data.clone();
    d.models = rotate(&data.models, j);
    d.prices = rotate(&data.prices, j);
    d.quality = data.quality.iter().map(|r| rotate(r, j)).collect();
    d.cost = data.cost.iter().map(|r| rotate(r, j)).collect();
    d.output_tokens = data.output_tokens.iter().map(|r| rotate(r, j)).collect();
    d
}

/// ROC AUC of `scores` for labels `≥ 0.5` (ties count half); `None` when one class is empty.
fn auc(scores: &[f64], labels: &[f64]) -> Option<f64> {
    let pos: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l >= 0.5)
        .map(|(s, _)| *s)
        .collect();
    let neg: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l < 0.5)
        .map(|(s, _)| *s)
        .collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (pos.len() * neg.len()) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{planted, PlantedConfig};

    fn data() -> ExperimentData {
        let p = planted(&PlantedConfig {
            rows: 500,
            dim: 16,
            models: 4,
            latent: 3,
            scale: 4.0,
            seed: 3,
            ..PlantedConfig::default()
        });
        let s = p.set;
        let n = s.x.len();
        ExperimentData {
            source: "planted".into(),
            models: s.models.clone(),
            quality: s
                .quality
                .iter()
                .map(|r| r.iter().map(|q| q.map(f64::from)).collect())
                .collect(),
            cost: (0..n)
                .map(|_| (0..4).map(|j| Some(0.001 * (j as f64 + 1.0))).collect())
                .collect(),
            output_tokens: s.output_tokens.clone(),
            input_tokens: vec![10.0; n],
            tasks: vec![None; n],
            splits: vec![None; n],
            prices: vec![None; 4],
            sources: vec![None; n],
            token_states: Vec::new(),
            x: s.x,
        }
    }

    fn config() -> OnboardingConfig {
        let mut c = OnboardingConfig {
            probe_sizes: vec![5, 50, 1000],
            seed: 1,
            ..OnboardingConfig::default()
        };
        c.mf.latent_dim = 8;
        c.mf.neural.max_epochs = 40;
        c
    }

    #[test]
    fn more_probes_approach_the_full_fit() {
        let d = data();
        let report = run(&d, "model-1", &config()).unwrap();
        let labels: Vec<&str> = report.results.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["K=5", "K=50", "K=400", "full"]);
        assert_eq!(report.models.last().unwrap().as_str(), "model-1");
        assert_eq!(report.test_rows, 100);
        let by = |l: &str| report.results.iter().find(|r| r.label == l).unwrap();
        // The embedding carries the planted signal: with many probes the new model beats the
        // constant, and lands near MF trained with it from the start.
        let many = by("K=400");
        assert!(many.quality_mse < many.probe_mean_mse, "{report:?}");
        assert!(many.quality_mse < by("K=5").quality_mse, "{report:?}");
        assert!(
            many.quality_mse < by("full").quality_mse + 0.05,
            "{report:?}"
        );
        assert!(many.auc.unwrap() > 0.7, "{report:?}");
        for r in &report.results {
            assert!(r.aiq.is_finite() && r.aiq > 0.0);
        }
        let md = report.to_markdown();
        assert!(md.contains("| K=50 | 50 |"), "{md}");
        assert!(run(&d, "model-9", &config()).is_err());
    }

    #[test]
    fn auc_counts_ties_half() {
        assert_eq!(auc(&[0.9, 0.1], &[1.0, 0.0]), Some(1.0));
        assert_eq!(auc(&[0.5, 0.5], &[1.0, 0.0]), Some(0.5));
        assert_eq!(auc(&[0.5], &[1.0]), None);
    }
}
