//! Logged samples to off-policy evaluation steps for a candidate router.

use classifier::predictors::{TaskClassifier, DEFAULT_OUTPUT_TOKENS};
use evals::ope::LoggedStep;
use models::CatalogEntry;
use router_core::exploration::{action_distribution, Exploration};
use router_core::policy::{apply_difficulty, greedy, DecisionInput, PolicyModel};
use router_core::{Constraints, Embedder, ModelEstimate, ModelId, Objective, QualityPredictor};

use super::cross_fit::{cross_fitted_rewards, CrossFit, FitRow};
use super::samples::{embed_all, BanditSample};
use super::FromLogError;

/// Where the doubly robust estimator's predicted reward per action comes from.
#[derive(Clone, Copy)]
pub enum RewardModel<'a> {
    /// The candidate's own predictions (the mean logged reward for models it does not know).
    /// Optimistic where the candidate's picks lack support in the log: it is rewarded for
    /// agreeing with itself.
    Candidate,
    /// Another predictor, fitted on other data than the log being evaluated.
    Predictor(&'a dyn QualityPredictor),
    /// Fitted on the evaluated log itself, cross-fitted so that no step's prediction has seen
    /// its own outcome, and shrunk toward the router's priors (see [`CrossFit`]).
    CrossFitted(CrossFit),
}

impl std::fmt::Debug for RewardModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RewardModel::CrossFitted(fit) => f.debug_tuple("CrossFitted").field(fit).finish(),
            other => f.write_str(other.name()),
        }
    }
}

impl RewardModel<'_> {
    /// Parses a `--reward-model` value: `candidate`, or `cross-fit` (default settings).
    pub fn parse(s: &str) -> Option<RewardModel<'static>> {
        match s {
            "candidate" => Some(RewardModel::Candidate),
            "cross-fit" | "cross_fit" | "crossfit" => {
                Some(RewardModel::CrossFitted(CrossFit::default()))
            }
            _ => None,
        }
    }

    /// The name `--reward-model` takes and reports print.
    pub fn name(&self) -> &'static str {
        match self {
            RewardModel::Candidate => "candidate",
            RewardModel::Predictor(_) => "predictor",
            RewardModel::CrossFitted(_) => "cross-fit",
        }
    }
}

/// The candidate router to evaluate and how it routes.
#[derive(Clone, Copy)]
pub struct OpeSetup<'a> {
    /// The action space, in index order: one action per catalog model, with its priors.
    pub catalog: &'a [CatalogEntry],
    /// The candidate's predictor. Catalog models it does not know are routed on their priors,
    /// exactly as the gateway would serve them.
    pub candidate: &'a dyn QualityPredictor,
    /// The task classifier the candidate is deployed with (the gateway's bundled one): its
    /// `P(task | prompt)` feeds the task priors of models the candidate does not know. `None`:
    /// flat priors, as a gateway without one.
    pub tasks: Option<&'a TaskClassifier>,
    /// The reward model for the doubly robust estimator. Predicted costs come from the
    /// [`RewardModel::Predictor`]'s output tokens when one is given, else the candidate's.
    pub reward_model: RewardModel<'a>,
    /// Constraints for rows that logged none (written before the gateway logged them); a row's
    /// own constraints (the caller's, narrowed to the gateway's pool) take precedence, so the
    /// candidate is judged on the choices the callers actually allowed.
    pub constraints: &'a Constraints,
    /// The objective for rows that logged none; a row's own objective takes precedence.
    pub objective: Objective,
    /// The candidate's exploration (`Off`: a deterministic router, one-hot target).
    pub exploration: &'a Exploration,
    /// The catalog the gateway serves with: where the candidate carries a difficulty link, its
    /// models found here are the anchors of each prompt's difficulty shift, as in the gateway.
    /// `None`: no shift.
    pub anchor_catalog: Option<&'a models::Catalog>,
}

/// Samples left out by [`ope_steps`], by reason (first reason that applies, in field order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpeSkipped {
    /// The router did not pick the model (the client named it, or a rule pinned it), or
    /// failover served another model than the router's choice: not a draw from the logging
    /// policy.
    pub not_router_choice: usize,
    /// The served model is not in the catalog.
    pub unknown_model: usize,
    /// No cost logged and no token counts to price it from.
    pub no_cost: usize,
    /// The candidate found no eligible model under the constraints.
    pub no_route: usize,
}

impl std::fmt::Display for OpeSkipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "left out: {} not the router's own choice (a named model, a rule's pin, or a failover), {} served by a model the catalog lacks, {} without a cost or token counts, {} the candidate could not route",
            self.not_router_choice, self.unknown_model, self.no_cost, self.no_route
        )
    }
}

/// Logged steps ready for [`evals::ope`], with their actions and request ids.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeLog {
    /// Model of each action index (the catalog order).
    pub actions: Vec<ModelId>,
    /// One step per usable sample.
    pub steps: Vec<LoggedStep>,
    /// The request id of each step.
    pub request_ids: Vec<String>,
    /// The λ (quality points per USD; 0 for `cheapest`) of the objective each step was
    /// re-routed under: the one its row logged, else [`OpeSetup::objective`].
    pub lambdas: Vec<f64>,
    /// What was left out.
    pub skipped: OpeSkipped,
}

impl OpeLog {
    /// The steps in utility, `quality − λ·cost`, each at its own [`OpeLog::lambdas`] (the
    /// reward model too: `ŷ − λ·ĉ`). The candidate re-routes every row under the trade-off
    /// the row was served with, so its utility must be scored in that trade-off as well: a
    /// gate at one λ over rows routed at another judges an objective neither router
    /// optimised. Estimators and the gate apply unchanged, utility being linear in both.
    pub fn utility_steps(&self) -> Vec<LoggedStep> {
        self.steps
            .iter()
            .zip(&self.lambdas)
            .map(|(s, &lambda)| s.in_utility(lambda))
            .collect()
    }
}

/// Builds off-policy evaluation steps: for each logged sample that the router chose itself,
/// embeds the prompt, re-runs the serving policy ([`greedy`]: the candidate's predictions,
/// catalog priors for the models it does not know) and turns the greedy decision into the
/// candidate's action distribution with [`action_distribution`] (one-hot without exploration).
/// Predicted rewards per action come from `reward_model`; predicted costs are catalog prices ×
/// the output tokens of the [`RewardModel::Predictor`] (else the candidate's). Actions a
/// predictor does not know get the mean logged reward and the catalog price of
/// [`DEFAULT_OUTPUT_TOKENS`].
pub fn ope_steps(
    samples: &[BanditSample],
    embedder: &dyn Embedder,
    setup: &OpeSetup<'_>,
) -> Result<OpeLog, FromLogError> {
    let actions: Vec<ModelId> = setup.catalog.iter().map(|e| e.spec.id.clone()).collect();
    let mut skipped = OpeSkipped::default();
    let mut kept: Vec<(&BanditSample, usize, f64)> = Vec::new();
    for s in samples {
        if !s.is_on_router_choice() {
            skipped.not_router_choice += 1;
            continue;
        }
        let Some(action) = actions.iter().position(|m| *m == s.model) else {
            skipped.unknown_model += 1;
            continue;
        };
        let spec = &setup.catalog[action].spec;
        let cost = s.cost_usd.or_else(|| {
            s.output_tokens
                .map(|out| spec.cost_usd(input_tokens(s), f64::from(out)))
        });
        let Some(cost) = cost.filter(|c| c.is_finite()) else {
            skipped.no_cost += 1;
            continue;
        };
        kept.push((s, action, cost));
    }
    let texts: Vec<&str> = kept.iter().map(|(s, _, _)| s.text.as_str()).collect();
    let embeddings = embed_all(embedder, &texts)?;
    let mean_reward = if kept.is_empty() {
        0.0
    } else {
        kept.iter().map(|(s, _, _)| s.reward).sum::<f64>() / kept.len() as f64
    };
    let reward_model = match setup.reward_model {
        RewardModel::Predictor(p) => p,
        RewardModel::Candidate | RewardModel::CrossFitted(_) => setup.candidate,
    };
    // For the cross-fitted reward model: each step's embedding and the router's prior quality
    // of every action on its prompt.
    let mut fit_inputs: Vec<(usize, Vec<f64>)> = Vec::new();

    let mut log = OpeLog {
        actions,
        steps: Vec::with_capacity(kept.len()),
        request_ids: Vec::with_capacity(kept.len()),
        lambdas: Vec::with_capacity(kept.len()),
        skipped,
    };
    for (k, ((s, action, cost), e)) in kept.into_iter().zip(&embeddings).enumerate() {
        let input = input_tokens(s);
        let candidate = per_action(setup.catalog, setup.candidate, e);
        let models: Vec<PolicyModel<'_>> = setup
            .catalog
            .iter()
            .zip(&candidate)
            .map(|(entry, trained)| {
                PolicyModel::assemble(&entry.spec, entry.prior(), Some(setup.candidate), *trained)
            })
            .collect();
        // The task classifier reads the encoder's own values, as the gateway's classifier
        // service gives it them: pooled extra layers, a routing adapter and prompt statistics
        // are appended after them, and would otherwise make every prompt fail the
        // classifier's dimension check and route on flat priors.
        let tasks = setup.tasks.and_then(|c| {
            let dim = c.file().embedding_dim.min(e.len());
            c.try_predict(&e[..dim]).ok()
        });
        let difficulty = match (
            setup.anchor_catalog,
            setup.candidate.difficulty_link(),
            &tasks,
        ) {
            (Some(catalog), Some(link), Some(tasks)) => {
                let estimates = setup.candidate.predict(e);
                let trained = setup
                    .candidate
                    .models()
                    .iter()
                    .zip(&estimates)
                    .map(|(m, est)| (m, est.quality));
                catalog.difficulty_shift(link, trained, tasks)
            }
            _ => None,
        };
        // The candidates are priced as the router priced them when it chose (its estimate),
        // not with the upstream's count, which no router knows before the call.
        let input_u32 = s
            .routed_input_tokens
            .or(s.input_tokens)
            .unwrap_or(input as u32);
        let constraints = s.constraints.as_ref().unwrap_or(setup.constraints);
        let objective = s.objective.unwrap_or(setup.objective);
        let decision_input = DecisionInput {
            models: &models,
            tasks: tasks.as_ref(),
            input_tokens: input_u32,
            constraints,
            objective,
            difficulty,
            tie_break: setup.candidate.tie_break(),
        };
        let Ok(greedy) = greedy(&decision_input) else {
            log.skipped.no_route += 1;
            continue;
        };
        let mut target_probs = vec![0.0; log.actions.len()];
        for (model, p) in action_distribution(&greedy, setup.exploration) {
            if let Some(i) = log.actions.iter().position(|m| *m == model) {
                target_probs[i] += p;
            }
        }
        let modelled = per_action(setup.catalog, reward_model, e);
        let reward_model: Vec<f64> = modelled
            .iter()
            .map(|est| est.map_or(mean_reward, |est| est.quality.clamp(0.0, 1.0)))
            .collect();
        // Every action priced from the gateway's estimate of the prompt (each model's own
        // count through its token ratio), as the router prices them: the logged count is the
        // serving model's tokenizer's. The policy's own pricing: output capped at the request's
        // limit and the model's window, every one of its `n` answers billed, as the logged
        // cost of the served action was.
        let cost_model: Vec<f64> = setup
            .catalog
            .iter()
            .zip(&modelled)
            .map(|(entry, est)| {
                let out = est.map_or(f64::from(DEFAULT_OUTPUT_TOKENS), |est| est.output_tokens);
                let out = router_core::policy::answer_tokens(out, &entry.spec, constraints);
                router_core::policy::request_cost_usd(&entry.spec, input_u32, out, constraints)
            })
            .collect();
        if matches!(setup.reward_model, RewardModel::CrossFitted(_)) {
            let priors = setup
                .catalog
                .iter()
                .map(|entry| {
                    let q = entry.prior().estimate(tasks.as_ref()).0.quality;
                    difficulty.map_or(q, |shift| apply_difficulty(q, shift))
                })
                .collect();
            fit_inputs.push((k, priors));
        }
        log.steps.push(LoggedStep {
            logged_action: action,
            propensity: s.propensity,
            reward: s.reward,
            cost,
            target_probs,
            reward_model,
            cost_model,
        });
        log.request_ids.push(s.request_id.clone());
        log.lambdas.push(objective.lambda());
    }
    if let RewardModel::CrossFitted(fit) = setup.reward_model {
        let rows: Vec<FitRow<'_>> = fit_inputs
            .iter()
            .zip(&log.steps)
            .map(|((k, priors), step)| FitRow {
                embedding: &embeddings[*k],
                action: step.logged_action,
                reward: step.reward,
                priors,
            })
            .collect();
        let fitted = cross_fitted_rewards(&rows, &fit);
        for (step, rewards) in log.steps.iter_mut().zip(fitted) {
            step.reward_model = rewards;
        }
    }
    Ok(log)
}

/// Logged prompt tokens, else a rough four-characters-per-token estimate.
fn input_tokens(s: &BanditSample) -> f64 {
    s.input_tokens
        .map_or_else(|| (s.text.chars().count() as f64 / 4.0).ceil(), f64::from)
}

/// The predictor's estimate for each catalog model, `None` for models it does not know.
fn per_action(
    catalog: &[CatalogEntry],
    predictor: &dyn QualityPredictor,
    embedding: &[f32],
) -> Vec<Option<ModelEstimate>> {
    let estimates = predictor.predict(embedding);
    catalog
        .iter()
        .map(|entry| {
            predictor
                .models()
                .iter()
                .position(|m| *m == entry.spec.id)
                .and_then(|i| estimates.get(i).copied())
        })
        .collect()
}
