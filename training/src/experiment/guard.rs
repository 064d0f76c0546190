//! The guard `switchyard train` applies before shipping a learned router: nested validation on
//! the training rows decides whether a learned predictor beats the λ-optimal fixed policy, and
//! which one; where none does, the artifact routes as that fixed policy.
//!
//! The training rows are cut into `folds`; each fold's complete rows are scored by predictors
//! fitted on the other folds (out-of-fold), so every complete training row is a validation
//! prompt exactly once. Every candidate, the fixed policy (training means) and the per-task
//! rule are then scored on those prompts with one paired bootstrap. Each candidate's bootstrap
//! p-value is the share of replicates whose cross-fitted AIQ gain over the fixed policy is at
//! or below [`GuardConfig::min_gain`]; Holm's step-down procedure over all candidates decides
//! which qualify at a family-wise 5 %, and the qualifying candidate with the highest AIQ is
//! chosen. The correction is needed because the guard ships a learned router when *any*
//! candidate passes: with six candidates each tested at 5 %, embeddings that carry no signal
//! shipped one in 7.5–15 % of runs (`guard_calibration`).

use classifier::predictors::{
    Artifact, LinearPredictor, LinearWeights, Manifest, ModelPriors, PredictorKind, TrainingSet,
};
use evals::{evaluate, EvalConfig, PairedDiff, RouterScores};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use router_core::RoutingMode;
use serde::{Deserialize, Serialize};

use super::{
    fit_predictor, fixed_policy_scores, per_task_scores, router_scores, CostModel, ExperimentData,
    PredictorConfigs, FIXED_POLICY_LABEL, PER_TASK_LABEL,
};
use crate::progress::relay_prefixed;
use crate::{Error, Progress, ProgressFn};

/// Settings of the guard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardConfig {
    /// Candidate predictors.
    pub candidates: Vec<PredictorKind>,
    /// Validation folds of the training rows (at least 2).
    pub folds: usize,
    /// Evaluation settings (λ grid, bootstrap).
    pub eval: EvalConfig,
    /// Cut the folds by task family (each family wholly in one fold) instead of at random, so
    /// that validation asks whether a predictor helps on tasks it was not fitted on: the
    /// question for traffic unlike the training data. Needs ≥ 2 families, else random folds.
    #[serde(default)]
    pub by_task: bool,
    /// Fit a routing adapter on each validation fold's training rows and give the candidates
    /// `[embedding | adapted]` (as `train --adapter` ships them); `data` then carries plain
    /// embeddings and token states. Fitting it inside the folds keeps validation prompts out of
    /// the adapter's fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<crate::adapter::AdapterConfig>,
    /// The smallest validation gain over the fixed policy worth shipping a learned router for,
    /// in AIQ: a candidate qualifies only when its gain exceeds it at a family-wise 5 % over
    /// all candidates (Holm's procedure on the bootstrap p-values). A learned router that is significantly but only trivially better on
    /// validation carries the risk of traffic unlike the training data for nothing (a
    /// held-out task lost 0.047 AIQ to the fixed policy after a validation gain whose lower
    /// bound was +0.0002; docs/routing-quality.md). Absent from reports written before the
    /// margin existed, which read back as 0: what those guards applied.
    #[serde(default)]
    pub min_gain: f64,
    /// Leave out of each validation fold the prompts whose cosine similarity to one of the
    /// fold's fitting rows is at least this, as the experiment does for its test set: a
    /// repeated prompt would otherwise be validated against its own copy, and a predictor that
    /// memorises (kNN) would show a gain no new prompt gets. Absent from reports written
    /// before it existed, which read back as `None`: what those guards applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decontaminate: Option<f64>,
}

/// [`GuardConfig::min_gain`]'s default: 0.001 AIQ, a tenth of a quality point averaged over
/// the cost range, below what any user would notice.
pub const DEFAULT_MIN_GAIN: f64 = 0.001;

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            candidates: vec![
                PredictorKind::Knn,
                PredictorKind::Linear,
                PredictorKind::Mlp,
                PredictorKind::Mf,
                PredictorKind::Irt,
                PredictorKind::Stacked,
            ],
            folds: 3,
            eval: EvalConfig::default(),
            by_task: false,
            adapter: None,
            min_gain: DEFAULT_MIN_GAIN,
            decontaminate: Some(super::DEFAULT_DECONTAMINATION),
        }
    }
}

/// One candidate's out-of-fold validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateValidation {
    /// The predictor.
    pub kind: PredictorKind,
    /// Its validation AIQ.
    pub aiq: f64,
    /// Against the λ-optimal fixed policy.
    pub vs_fixed_policy: Option<PairedDiff>,
    /// Against the per-task rule.
    pub vs_per_task: Option<PairedDiff>,
    /// Against the fixed policy with cross-fitted AIQ on both sides (the hull's vertices chosen
    /// on the other half of the validation prompts, `evals::metrics::cross_fit`): what the
    /// guard decides on. The plain AIQ's hull selects its vertices on the prompts it scores,
    /// so estimates that know nothing about the prompt gain on a few hundred of them: on pure
    /// noise the plain bound passed 10–20 % of candidates, against a nominal 5 %. Absent in
    /// reports written before it (those guards decided on `vs_fixed_policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_fixed_policy_cross_fit: Option<PairedDiff>,
    /// The bootstrap p-value of "its cross-fitted gain over the fixed policy exceeds the
    /// margin": (1 + replicates at or below [`GuardConfig::min_gain`]) / (1 + replicates).
    /// Holm's procedure over all candidates compares it with 5 % / (candidates not yet
    /// qualified). Absent in reports written before it (those guards compared each
    /// candidate's one-sided 95 % bound with the margin, without a correction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
}

/// The family-wise error rate at which the guard ships a learned router that does not beat
/// the fixed policy by its margin.
pub const FAMILY_WISE_ALPHA: f64 = 0.05;

/// What the guard measured and decided (stored in the artifact's `metrics.guard`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardReport {
    /// Validation folds.
    pub folds: usize,
    /// Validation prompts (complete training rows, each scored once out-of-fold).
    pub validation_prompts: usize,
    /// Complete training rows left out of validation as near-duplicates of their fold's
    /// fitting rows ([`GuardConfig::decontaminate`]).
    #[serde(default)]
    pub decontaminated_dropped: usize,
    /// The fixed policy's validation AIQ.
    pub fixed_policy_aiq: f64,
    /// The per-task rule's.
    pub per_task_aiq: f64,
    /// The zero router's.
    pub zero_router_aiq: f64,
    /// Every candidate.
    pub candidates: Vec<CandidateValidation>,
    /// The chosen predictor; `None` = route as the fixed policy.
    pub chosen: Option<PredictorKind>,
    /// How the artifact routes.
    pub routing: RoutingMode,
    /// One sentence saying why.
    pub reason: String,
}

/// Runs the nested validation on `data` (all rows are training rows) and decides.
pub fn validate(
    data: &ExperimentData,
    config: &GuardConfig,
    configs: &PredictorConfigs,
    seed: u64,
    mut progress: ProgressFn<'_>,
) -> Result<GuardReport, Error> {
    let k = config.folds.max(2);
    if config.candidates.is_empty() {
        return Err(Error::Experiment {
            reason: "the guard needs at least one candidate predictor".into(),
        });
    }
    let (fold_of, k) = assign_folds(data, k, config.by_task, seed);
    let cost_model = CostModel::for_data(data);
    let n_models = data.models.len();
    let blank = |name: &str| RouterScores {
        name: name.to_owned(),
        quality: Vec::new(),
        cost: Vec::new(),
        tie: None,
    };
    let mut scores: Vec<RouterScores> = config
        .candidates
        .iter()
        .map(|c| blank(c.as_str()))
        .collect();
    let mut fixed = blank(FIXED_POLICY_LABEL);
    let mut per_task = blank(PER_TASK_LABEL);
    let mut validation: Vec<usize> = Vec::new();
    let mut decontaminated_dropped = 0;
    for f in 0..k {
        let train: Vec<usize> = (0..data.len()).filter(|&i| fold_of[i] != f).collect();
        let val: Vec<usize> = (0..data.len())
            .filter(|&i| fold_of[i] == f && data.is_complete(i))
            .collect();
        let val = match config.decontaminate {
            Some(t) if !train.is_empty() => {
                let (kept, dropped) = super::decontaminate(&data.x, &train, &val, t);
                decontaminated_dropped += dropped;
                kept
            }
            _ => val,
        };
        if val.is_empty() || train.is_empty() {
            continue;
        }
        let adapted;
        let fold_data = match &config.adapter {
            Some(adapter_config) => {
                let prefix = format!("validation fold {}/{k} adapter:", f + 1);
                let mut relay = |p: &Progress| relay_prefixed(&mut progress, &prefix, p);
                // Unchanged data when the fold's adapter is not kept.
                adapted = crate::adapter::adapt(
                    data,
                    &train,
                    adapter_config,
                    seed,
                    &mut Some(&mut relay),
                )?
                .0;
                &adapted
            }
            None => data,
        };
        let set = fold_data.training_set(&train);
        let train_mean = data.mean_costs(&train);
        for (c, &kind) in config.candidates.iter().enumerate() {
            let prefix = format!("validation fold {}/{k} {}:", f + 1, kind.as_str());
            let mut relay = |p: &Progress| relay_prefixed(&mut progress, &prefix, p);
            let predictor = fit_predictor(kind, &set, configs, seed, Some(&mut relay))?;
            let s = router_scores(
                kind.as_str(),
                &predictor,
                fold_data,
                &val,
                cost_model,
                &train_mean,
            )?;
            scores[c].quality.extend(s.quality);
            scores[c].cost.extend(s.cost);
        }
        let fp = fixed_policy_scores(data, &train, &val);
        fixed.quality.extend(fp.quality);
        fixed.cost.extend(fp.cost);
        let pt = per_task_scores(data, &train, &val);
        per_task.quality.extend(pt.quality);
        per_task.cost.extend(pt.cost);
        validation.extend(val);
    }
    if validation.len() < 2 || n_models < 2 {
        return Err(Error::Experiment {
            reason: format!(
                "the guard needs at least 2 complete training prompts (every model scored and costed) and 2 models; found {} and {n_models}. Add benchmark rows with every model, or pass --no-guard",
                validation.len()
            ),
        });
    }
    let eval_set = data.eval_set(&validation)?;
    scores.push(fixed);
    scores.push(per_task);
    let report = evaluate(&eval_set, &scores, &config.eval)?;
    let n = config.candidates.len();
    let (fixed_r, per_task_r) = (&report.routers[n], &report.routers[n + 1]);
    let candidates: Vec<CandidateValidation> = config
        .candidates
        .iter()
        .zip(&report.routers)
        .map(|(&kind, r)| CandidateValidation {
            kind,
            vs_fixed_policy_cross_fit: r.aiq_cross_fit.zip(fixed_r.aiq_cross_fit).and_then(
                |(a, b)| {
                    PairedDiff::between(
                        (&r.name, a, &r.aiq_cross_fit_replicates),
                        (&fixed_r.name, b, &fixed_r.aiq_cross_fit_replicates),
                    )
                },
            ),
            p_value: p_value(
                &r.aiq_cross_fit_replicates,
                &fixed_r.aiq_cross_fit_replicates,
                config.min_gain,
            ),
            aiq: r.aiq,
            vs_fixed_policy: PairedDiff::between(
                (&r.name, r.aiq, &r.aiq_replicates),
                (&fixed_r.name, fixed_r.aiq, &fixed_r.aiq_replicates),
            ),
            vs_per_task: PairedDiff::between(
                (&r.name, r.aiq, &r.aiq_replicates),
                (&per_task_r.name, per_task_r.aiq, &per_task_r.aiq_replicates),
            ),
        })
        .collect();
    let p_values: Vec<Option<f64>> = candidates.iter().map(|c| c.p_value).collect();
    let qualified = holm(&p_values, FAMILY_WISE_ALPHA);
    let chosen = candidates
        .iter()
        .zip(&qualified)
        .filter(|(_, &q)| q)
        .max_by(|a, b| a.0.aiq.total_cmp(&b.0.aiq))
        .map(|(c, _)| c);
    let m = candidates.len();
    let reason = match chosen {
        Some(c) => {
            let d = c.vs_fixed_policy_cross_fit.as_ref();
            format!(
                "{} beats the fixed policy on validation by {:+.4} cross-fitted AIQ (95 % interval {:+.4} to {:+.4}; bootstrap p = {:.4} for a gain of at most {:+.4}, significant at a family-wise 5 % over {m} candidates, Holm)",
                c.kind.as_str(),
                d.map_or(f64::NAN, |d| d.delta),
                d.map_or(f64::NAN, |d| d.low),
                d.map_or(f64::NAN, |d| d.high),
                c.p_value.unwrap_or(f64::NAN),
                config.min_gain
            )
        }
        None => format!(
            "no candidate beats the λ-optimal fixed policy on validation (cross-fitted AIQ) by more than {:+.4} at a family-wise 5 % over {m} candidates (Holm); routing as the fixed policy",
            config.min_gain
        ),
    };
    let chosen = chosen.map(|c| c.kind);
    Ok(GuardReport {
        folds: k,
        validation_prompts: validation.len(),
        decontaminated_dropped,
        fixed_policy_aiq: fixed_r.aiq,
        per_task_aiq: per_task_r.aiq,
        zero_router_aiq: report.zero_router.aiq,
        candidates,
        routing: if chosen.is_some() {
            RoutingMode::Learned
        } else {
            RoutingMode::FixedPolicy
        },
        chosen,
        reason,
    })
}

/// The bootstrap p-value of "router − baseline > margin": the share of paired replicates at or
/// below the margin, counting the observed sample as one more (so never 0); `None` without
/// replicates.
pub(super) fn p_value(router: &[f64], baseline: &[f64], margin: f64) -> Option<f64> {
    if router.is_empty() || router.len() != baseline.len() {
        return None;
    }
    let at_most = router
        .iter()
        .zip(baseline)
        .filter(|(a, b)| *a - *b <= margin)
        .count();
    Some((1 + at_most) as f64 / (1 + router.len()) as f64)
}

/// Holm's step-down procedure: which hypotheses are rejected at family-wise level `alpha`.
/// The k-th smallest p-value (from 0) is compared with `alpha / (m − k)`, stopping at the
/// first that fails; a missing p-value is never rejected but counts in `m`.
pub(super) fn holm(p_values: &[Option<f64>], alpha: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<(usize, f64)> = p_values
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut rejected = vec![false; m];
    for (k, &(i, p)) in order.iter().enumerate() {
        if p > alpha / (m - k) as f64 {
            break;
        }
        rejected[i] = true;
    }
    rejected
}

/// Each row's validation fold and the number of folds: at random, or (with `by_task` and at
/// least two task families) whole families dealt round-robin into at most `k` folds in a
/// seeded order.
fn assign_folds(data: &ExperimentData, k: usize, by_task: bool, seed: u64) -> (Vec<usize>, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9a4d);
    if by_task {
        let mut families: Vec<Option<&str>> =
            (0..data.len()).map(|i| data.task_family(i)).collect();
        families.sort_unstable();
        families.dedup();
        if families.len() >= 2 {
            families.shuffle(&mut rng);
            let k = k.min(families.len());
            let fold_of = (0..data.len())
                .map(|i| {
                    let f = data.task_family(i);
                    families.iter().position(|g| *g == f).unwrap_or(0) % k
                })
                .collect();
            return (fold_of, k);
        }
    }
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng);
    let mut fold_of = vec![0usize; data.len()];
    for (pos, &i) in order.iter().enumerate() {
        fold_of[i] = pos % k;
    }
    (fold_of, k)
}

/// The fixed policy as an artifact: a linear predictor with zero coefficients whose
/// intercepts are the training means, so every prompt gets the same estimates (the gateway's
/// cost still counts each prompt's own input tokens). Its manifest says `fixed_policy`.
pub fn fixed_policy_artifact(set: &TrainingSet) -> Result<Artifact, Error> {
    let priors = ModelPriors::from_training_set(set);
    let (m, d) = (set.models.len(), set.dim());
    let weights = LinearWeights {
        quality_w: vec![0.0; m * d],
        quality_b: priors.quality.clone(),
        tokens_w: vec![0.0; m * d],
        tokens_b: priors.log_tokens.clone(),
    };
    let mut manifest = Manifest::new(
        PredictorKind::Linear,
        set.models.clone(),
        d,
        set.sha256(),
        serde_json::json!({ "fixed_policy": true }),
    );
    manifest.routing = RoutingMode::FixedPolicy;
    Ok(LinearPredictor::from_weights(manifest, priors, weights)?.into())
}
