//! `switchyard train`'s work as a library: mix logged traffic with benchmark rows, fit the
//! planned artifact (a predictor, the fixed policy the guard chose, or task priors), and stamp
//! it with its provenance. The CLI parses and checks the flags, draws progress and prints; the
//! steps in between live here (the benchmark branch in [`benchmarks`]) so that they can be
//! called and tested without it.

pub mod benchmarks;

use std::path::PathBuf;
use std::sync::Arc;

use classifier::predictors::{
    Artifact, EncoderSettings, PredictorKind, TaskClassifier, TrainingSet,
};
use router_core::RoutingMode;

use crate::experiment::{fixed_policy_artifact, PredictorConfigs};
use crate::learning_loop::{task_priors_artifact, task_priors_on, TaskPriorInputs};
use crate::onboarding::fit::FitConfig;
use crate::{fit_predictor_with, CellWeights, Error, FitOptions, ProgressFn};

/// What a fit starts from, besides its data: the predictor kind, per-cell weights and an
/// optional warm-start artifact with the path it was read from.
pub struct TrainPlan {
    /// The predictor to fit (the guard may still replace it).
    pub kind: PredictorKind,
    /// Per-cell loss weights (inverse propensities of logged choices), if any.
    pub weights: Option<CellWeights>,
    /// The artifact to continue from, and where it was read.
    pub warm_start: Option<(PathBuf, Artifact)>,
}

/// Logged rows (`log`, with their inverse-propensity weights when IPS weighting is on) mixed
/// with benchmark rows (`bench`). Benchmark rows are full-information labels, not logged
/// choices, so each of their cells weighs 1.
pub fn mix_benchmark_rows(
    bench: &TrainingSet,
    log: &TrainingSet,
    log_weights: Option<CellWeights>,
) -> Result<(TrainingSet, Option<CellWeights>), Error> {
    let merged = crate::from_log::merge_training_sets(bench, log)?;
    let weights = log_weights.map(|w| {
        let mut all = CellWeights::ones(bench.len(), merged.models.len());
        all.append(w.remap(&log.models, &merged.models));
        all
    });
    Ok((merged, weights))
}

/// Fits `plan` on `set`. With `routing == FixedPolicy` (the guard found no learned predictor
/// better than the λ-optimal fixed choice) the artifact is that fixed policy, whatever the
/// planned kind. `fingerprint` is the encoder's, which task priors check the bundled task
/// classifier against.
pub fn fit_artifact(
    plan: &TrainPlan,
    set: &TrainingSet,
    configs: &PredictorConfigs,
    seed: u64,
    routing: RoutingMode,
    fingerprint: &str,
    progress: ProgressFn<'_>,
) -> Result<Artifact, Error> {
    if routing == RoutingMode::FixedPolicy {
        return fixed_policy_artifact(set);
    }
    if plan.kind == PredictorKind::TaskPriors {
        return task_priors_fit(set, fingerprint, plan.warm_start.as_ref().map(|(_, a)| a));
    }
    let options = FitOptions {
        weights: plan.weights.as_ref(),
        warm_start: plan.warm_start.as_ref().map(|(_, a)| a),
    };
    let fitted = fit_predictor_with(plan.kind, set, configs, seed, options, progress);
    match (&plan.warm_start, fitted) {
        (Some((path, _)), Err(e)) => Err(Error::WarmStart {
            reason: format!("fitting from {}: {e}", path.display()),
        }),
        (_, fitted) => fitted,
    }
}

/// Task priors: each logged model's catalog prior moved per task by its labels (the bundled
/// task classifier spreads each prompt over the tasks; models the catalog does not know are
/// left out). With a warm start, that artifact is kept and only the models it does not know
/// are fitted, each label read against the prompt's difficulty by the artifact's link
/// ([`task_priors_on`]).
fn task_priors_fit(
    set: &TrainingSet,
    fingerprint: &str,
    warm_start: Option<&Artifact>,
) -> Result<Artifact, Error> {
    let tasks =
        TaskClassifier::bundled_for(fingerprint, classifier::EMBEDDING_DIM).map_err(|e| {
            Error::Config {
                field: "predictor",
                reason: format!("task-priors needs the bundled task classifier: {e}"),
            }
        })?;
    let catalog = models::Catalog::embedded().map_err(|e| Error::Config {
        field: "predictor",
        reason: format!("task-priors needs the embedded catalog: {e}"),
    })?;
    let priors = set
        .models
        .iter()
        .filter_map(|m| catalog.find(m.as_str()).map(|e| (m.clone(), e.prior())))
        .collect();
    let anchors = warm_start
        .iter()
        .flat_map(|a| a.manifest().models.iter())
        .filter_map(|m| catalog.find(m.as_str()).map(|e| (m.clone(), e.prior())))
        .collect();
    let inputs = TaskPriorInputs {
        tasks: Arc::new(tasks),
        priors,
        fit: FitConfig::default(),
        anchors,
    };
    match warm_start {
        Some(start) => task_priors_on(start, set, &inputs, &set.sha256()),
        None => task_priors_artifact(set, &inputs, &set.sha256()),
    }
}

/// Where an artifact came from, written into its manifest.
pub struct Provenance {
    /// The encoder's fingerprint (adapted, when a routing adapter is shipped).
    pub encoder_sha256: String,
    /// The encoder settings the gateway must embed with.
    pub encoder: EncoderSettings,
    /// Named records for the manifest's metrics (`data`, `guard`, `adapter`, …).
    pub records: Vec<(&'static str, serde_json::Value)>,
    /// The uncertainty-aware tie-break margin; 0 leaves it off.
    pub tie_margin: f64,
}

/// Fits `plan` on `set` as [`fit_artifact`] does and stamps the result with `provenance` and a
/// `data` record (`source`, rows, labelled cells, seed, warm start). A warm start must come from
/// the same encoder as `provenance`.
#[allow(clippy::too_many_arguments)]
pub fn fit_stamped(
    plan: &TrainPlan,
    set: &TrainingSet,
    configs: &PredictorConfigs,
    seed: u64,
    routing: RoutingMode,
    mut provenance: Provenance,
    source: serde_json::Value,
    progress: ProgressFn<'_>,
) -> Result<Artifact, Error> {
    if let Some((path, start)) = &plan.warm_start {
        start
            .manifest()
            .check_encoder(&provenance.encoder_sha256)
            .map_err(|e| Error::WarmStart {
                reason: format!(
                    "--warm-start {}: trained with another encoder ({e}); pass the \
                     --encoder-dir it was trained with, or start from scratch",
                    path.display()
                ),
            })?;
    }
    let mut artifact = fit_artifact(
        plan,
        set,
        configs,
        seed,
        routing,
        &provenance.encoder_sha256,
        progress,
    )?;
    let data = serde_json::json!({
        "source": source,
        "prompts": set.len(),
        "labelled_cells": set.quality.iter().flatten().filter(|c| c.is_some()).count(),
        "seed": seed,
        "encoder_max_tokens": provenance.encoder.max_tokens,
        "warm_start": plan.warm_start.as_ref().map(|(p, _)| p.display().to_string()),
    });
    provenance.records.insert(0, ("data", data));
    stamp(&mut artifact, set, provenance);
    Ok(artifact)
}

/// Stamps `artifact` with `provenance` and, for a learned router with a margin, adds the
/// tie-break toward the training set's λ-optimal fixed choice.
pub fn stamp(artifact: &mut Artifact, set: &TrainingSet, provenance: Provenance) {
    crate::artifact_files::stamp(
        artifact,
        provenance.encoder_sha256,
        Some(provenance.encoder),
        provenance.records,
    );
    if provenance.tie_margin > 0.0 && artifact.manifest().routing == RoutingMode::Learned {
        artifact.manifest_mut().tie_break =
            Some(crate::artifact_files::tie_break(set, provenance.tie_margin));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{planted, PlantedConfig};

    fn planted_set(rows: usize, seed: u64) -> TrainingSet {
        planted(&PlantedConfig {
            rows,
            dim: 8,
            models: 3,
            seed,
            ..PlantedConfig::default()
        })
        .set
    }

    fn settings() -> EncoderSettings {
        EncoderSettings {
            max_tokens: 128,
            extra_layers: Vec::new(),
            adapter: None,
            prompt_features: false,
        }
    }

    fn plan(kind: PredictorKind) -> TrainPlan {
        TrainPlan {
            kind,
            weights: None,
            warm_start: None,
        }
    }

    /// A linear fit of `set`, or the fixed policy, as `routing` says.
    fn fit_linear(set: &TrainingSet, routing: RoutingMode) -> Artifact {
        let configs = PredictorConfigs::default();
        let plan = plan(PredictorKind::Linear);
        fit_artifact(&plan, set, &configs, 0, routing, "enc", None).unwrap()
    }

    #[test]
    fn the_guards_fixed_policy_replaces_the_planned_kind() {
        let set = planted_set(60, 0);
        let a = fit_linear(&set, RoutingMode::FixedPolicy);
        assert_eq!(a.manifest().routing, RoutingMode::FixedPolicy);
        let b = fit_linear(&set, RoutingMode::Learned);
        assert_eq!(b.manifest().routing, RoutingMode::Learned);
        assert_eq!(b.manifest().kind, PredictorKind::Linear);
    }

    #[test]
    fn a_tie_break_is_added_only_to_a_learned_router_with_a_margin() {
        let set = planted_set(60, 0);
        let provenance = |margin| Provenance {
            encoder_sha256: "enc".into(),
            encoder: settings(),
            records: vec![("data", serde_json::json!({ "prompts": set.len() }))],
            tie_margin: margin,
        };
        for (routing, margin, expect) in [
            (RoutingMode::Learned, 0.01, true),
            (RoutingMode::Learned, 0.0, false),
            (RoutingMode::FixedPolicy, 0.01, false),
        ] {
            let mut a = fit_linear(&set, routing);
            stamp(&mut a, &set, provenance(margin));
            assert_eq!(a.manifest().encoder_sha256, "enc");
            assert_eq!(
                a.manifest().tie_break.is_some(),
                expect,
                "{routing:?} {margin}"
            );
            assert_eq!(a.manifest().metrics["data"]["prompts"], set.len());
        }
    }

    #[test]
    fn benchmark_rows_weigh_one_and_logged_cells_keep_their_weights() {
        let bench = planted_set(10, 0);
        let log = planted_set(4, 1);
        let w = CellWeights::ones(log.len(), log.models.len());
        let (merged, weights) = mix_benchmark_rows(&bench, &log, Some(w)).unwrap();
        assert_eq!(merged.len(), 14);
        assert_eq!(weights.unwrap().rows().len(), 14);
        let (_, none) = mix_benchmark_rows(&bench, &log, None).unwrap();
        assert!(none.is_none());
    }
}
