//! The one routing policy: every place that makes or judges a routing decision (the gateway's
//! `auto` route, `/v1/route`, `switchyard route`, off-policy evaluation, `switchyard loop`)
//! calls [`decide`] or [`greedy`] with the same inputs, so that what is evaluated offline is
//! exactly what is served.
//!
//! 1. **Estimates.** Each candidate's quality and output tokens come from the trained
//!    predictor when it knows the model ([`EstimateSource::Trained`]); else from the catalog's
//!    per-task scores weighted by the task classifier's `P(task | prompt)`
//!    ([`EstimateSource::TaskPrior`]); else from the catalog's flat prior
//!    ([`EstimateSource::FlatPrior`]). See [`ModelPrior::estimate`].
//! 2. **Constraints and objective.** [`super::route`] ranks the candidates.
//! 3. **Serving.** The greedy decision is explored with the caller's uniform draw
//!    ([`crate::explore`], exact propensities), or, when the encoder could not score the prompt
//!    in time, the static fallback model goes first ([`Serving::StaticFallback`]).

use super::{route, PolicyError, Prediction};
use crate::{
    explore, Constraints, DecisionReason, EstimateSource, Exploration, LatencyPrior, ModelEstimate,
    ModelId, ModelSpec, Objective, QualityPredictor, RouteDecision, Spread, Task, TaskDistribution,
    TaskScores, TaskTokens,
};

/// What the router believes about a model before it sees a prompt (from the catalog).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelPrior {
    /// Flat quality prior in `[0, 1]`: used for tasks without a score, and when the prompt has
    /// no task distribution.
    pub quality: f64,
    /// Typical completion length, in tokens.
    pub output_tokens: f64,
    /// Per-task P(correct)-like scores from public benchmark results (may be empty).
    pub task_scores: TaskScores,
    /// Per-task completion lengths (reasoning models; may be empty): the output-token
    /// estimate follows the prompt's task like the quality estimate does.
    pub task_tokens: TaskTokens,
    /// Whether the scores were fitted from live probes ([`crate::OnboardedModel::prior`])
    /// rather than taken from the catalog: the estimate's source is then
    /// [`EstimateSource::Onboarded`].
    pub onboarded: bool,
    /// Posterior standard deviation, in quality points, of each task score that was fitted
    /// from probes or labels ([`crate::OnboardedTask::sd`]); empty for catalog scores.
    pub task_sd: TaskScores,
}

impl ModelPrior {
    /// The prior estimate for a prompt with task distribution `tasks`:
    /// `Σ_t P(t | prompt) · score(t)` when the model has task scores and the prompt a
    /// distribution (a task without a score counts as the flat prior), else the flat prior.
    /// Output tokens mix the same way over the per-task counts, when the model has any.
    pub fn estimate(&self, tasks: Option<&TaskDistribution>) -> (ModelEstimate, EstimateSource) {
        let (quality, source) = match tasks {
            Some(tasks) if !self.task_scores.is_empty() => (
                self.task_scores.expected(tasks, self.quality),
                EstimateSource::TaskPrior,
            ),
            _ => (self.quality, EstimateSource::FlatPrior),
        };
        let source = if self.onboarded {
            EstimateSource::Onboarded
        } else {
            source
        };
        let output_tokens = match tasks {
            Some(tasks) if !self.task_tokens.is_empty() => {
                self.task_tokens.expected(tasks, self.output_tokens)
            }
            _ => self.output_tokens,
        };
        let estimate = ModelEstimate {
            quality,
            output_tokens,
        };
        (estimate, source)
    }

    /// The measured part of [`ModelPrior::estimate`]'s uncertainty for the same prompt: the
    /// fitted tasks' posterior spreads mixed like their scores (by `P(t | prompt)`, or equally
    /// over the seven tasks for the flat prior, which is their mean). `None` when no task
    /// score carries a spread (catalog priors, fits written before spreads were kept).
    pub fn spread(&self, tasks: Option<&TaskDistribution>) -> Option<Spread> {
        if self.task_sd.is_empty() {
            return None;
        }
        let weight = |t: Task| match tasks {
            Some(tasks) if !self.task_scores.is_empty() => tasks.get(t),
            _ => 1.0 / Task::ALL.len() as f64,
        };
        let (sd, measured) = Task::ALL
            .into_iter()
            .filter_map(|t| self.task_sd.get(t).map(|sd| (weight(t), sd)))
            .fold((0.0, 0.0), |(sd, w), (pt, s)| (sd + pt * s, w + pt));
        Some(Spread {
            sd,
            measured: measured.clamp(0.0, 1.0),
        })
    }
}

/// One model the policy may choose, with everything known about it for this prompt.
#[derive(Clone, Copy, Debug)]
pub struct PolicyModel<'a> {
    /// Catalog entry: prices, context window, capabilities, latency prior.
    pub spec: &'a ModelSpec,
    /// Latency prior: measured by live onboarding when the artifact carries a fit with one,
    /// else the catalog's `spec.latency`.
    pub latency: LatencyPrior,
    /// Catalog priors.
    pub prior: ModelPrior,
    /// The trained predictor's estimate for this prompt, when it knows the model.
    pub trained: Option<ModelEstimate>,
}

impl<'a> PolicyModel<'a> {
    /// The one way every caller assembles a candidate: the predictor's estimate `trained`
    /// when it knows the model; the prior is the live-probe fit the predictor's artifact
    /// carries for it ([`QualityPredictor::onboarded`]), else the catalog's `catalog`.
    pub fn assemble(
        spec: &'a ModelSpec,
        catalog: ModelPrior,
        predictor: Option<&dyn QualityPredictor>,
        trained: Option<ModelEstimate>,
    ) -> Self {
        let onboarded = predictor.and_then(|p| p.onboarded(&spec.id));
        PolicyModel {
            spec,
            latency: onboarded.and_then(|o| o.latency).unwrap_or(spec.latency),
            prior: onboarded.map_or(catalog, |o| o.prior(&catalog)),
            trained,
        }
    }
}

/// Everything a decision depends on besides how it is served.
#[derive(Clone, Copy, Debug)]
pub struct DecisionInput<'a> {
    /// The candidate pool, in a stable order (ties in the ranking break by cost, then id).
    pub models: &'a [PolicyModel<'a>],
    /// `P(task | prompt)` from the task classifier, when it ran.
    pub tasks: Option<&'a TaskDistribution>,
    /// Estimated prompt tokens, for cost and context checks.
    pub input_tokens: u32,
    /// Limits, capabilities, allow and exclude lists.
    pub constraints: &'a Constraints,
    /// The cost-quality trade-off.
    pub objective: Objective,
    /// The prompt's difficulty shift in logits ([`super::DifficultyLink::shift`]), applied to
    /// every prior estimate (trained estimates already see the prompt).
    pub difficulty: Option<f64>,
    /// The artifact's uncertainty-aware tie-break ([`super::TieBreak`]), when it carries one.
    pub tie_break: Option<&'a super::TieBreak>,
}

/// How a decision is served once the candidates are ranked.
#[derive(Clone, Copy, Debug)]
pub enum Serving<'a> {
    /// Explore beyond the greedy choice with the uniform draw `draw ∈ [0, 1)`
    /// ([`Exploration::Off`]: always the greedy choice, propensity 1).
    Explore {
        /// The exploration rule.
        exploration: &'a Exploration,
        /// The caller's uniform draw (from its seeded generator).
        draw: f64,
    },
    /// The prompt could not be scored in time: `model` goes first when it is eligible, the
    /// reason becomes [`DecisionReason::StaticFallback`], the propensity 1.
    StaticFallback {
        /// The configured fallback model.
        model: &'a ModelId,
    },
}

/// Each candidate's prediction: trained where known, else its prior (see the module docs).
pub fn predictions<'a>(input: &DecisionInput<'a>) -> Vec<Prediction<'a>> {
    input
        .models
        .iter()
        .map(|m| {
            let (estimate, source, spread) = match m.trained {
                Some(t) => (t, EstimateSource::Trained, None),
                None => {
                    let (mut e, source) = m.prior.estimate(input.tasks);
                    let mut spread = m.prior.spread(input.tasks);
                    if let Some(shift) = input.difficulty {
                        let before = e.quality;
                        e.quality = super::difficulty::apply(e.quality, shift);
                        // The shift moves the estimate along the logistic curve; its spread
                        // scales with the curve's slope there (the delta method).
                        if let Some(s) = spread.as_mut() {
                            s.sd *= slope_ratio(before, e.quality);
                        }
                    }
                    (e, source, spread)
                }
            };
            Prediction {
                spec: m.spec,
                quality: estimate.quality,
                output_tokens: estimate.output_tokens,
                source,
                latency: m.latency,
                spread,
            }
        })
        .collect()
}

/// `q'(1 − q') / (q(1 − q))`: how much a logit shift from `q` to `q'` stretches a small spread
/// around `q` (1 where `q` is at 0 or 1, where the ratio is undefined).
fn slope_ratio(q: f64, shifted: f64) -> f64 {
    let slope = |p: f64| p * (1.0 - p);
    if slope(q) > 1e-12 && slope(shifted).is_finite() {
        slope(shifted) / slope(q)
    } else {
        1.0
    }
}

/// The greedy decision (propensity 1): what [`crate::exploration::action_distribution`] turns
/// into the policy's action probabilities for off-policy evaluation.
pub fn greedy(input: &DecisionInput<'_>) -> Result<RouteDecision, PolicyError> {
    let mut decision = route(
        &predictions(input),
        input.input_tokens,
        input.constraints,
        input.objective,
    )?;
    decision.tasks = input.tasks.copied();
    decision.difficulty = input.difficulty;
    if let Some(tie) = input.tie_break {
        tie.apply(
            &mut decision,
            input.models,
            input.input_tokens,
            input.constraints,
            input.objective,
        );
    }
    Ok(decision)
}

/// The decision as served: [`greedy`], then exploration or the static fallback.
pub fn decide(
    input: &DecisionInput<'_>,
    serving: Serving<'_>,
) -> Result<RouteDecision, PolicyError> {
    let decision = greedy(input)?;
    Ok(match serving {
        Serving::Explore { exploration, draw } => match exploration {
            Exploration::Off => decision,
            _ => explore(decision, exploration, draw),
        },
        Serving::StaticFallback { model } => static_fallback(decision, model),
    })
}

fn static_fallback(mut decision: RouteDecision, model: &ModelId) -> RouteDecision {
    let eligible = decision
        .ranked
        .iter()
        .any(|c| c.model == *model && c.is_eligible());
    if eligible {
        decision.chosen = model.clone();
    }
    decision.reason = DecisionReason::StaticFallback;
    decision.propensity = 1.0;
    decision
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::exploration::action_distribution;
    use crate::{EstimateMix, LatencyPrior, ProviderId, Task};

    fn spec(id: &str, price_out: f64) -> ModelSpec {
        ModelSpec {
            id: ModelId::new(id),
            provider: ProviderId::new("p"),
            input_usd_per_mtok: price_out / 4.0,
            output_usd_per_mtok: price_out,
            context_window: 8192,
            capabilities: Default::default(),
            latency: LatencyPrior {
                ttft_ms: 200.0,
                tokens_per_s: 50.0,
            },
            token_ratio: 1.0,
            cache_read: None,
            cache_write: None,
            price_tiers: Vec::new(),
        }
    }

    fn prior(flat: f64, scores: &[(Task, f64)]) -> ModelPrior {
        let mut task_scores = TaskScores::default();
        for &(t, s) in scores {
            task_scores.set(t, s).unwrap();
        }
        ModelPrior {
            quality: flat,
            output_tokens: 100.0,
            task_scores,
            task_tokens: TaskTokens::default(),
            onboarded: false,
            task_sd: TaskScores::default(),
        }
    }

    /// A light model good at classification, a strong one good at maths, and one the
    /// predictor knows.
    fn pool(specs: &[ModelSpec]) -> Vec<PolicyModel<'_>> {
        vec![
            PolicyModel {
                spec: &specs[0],
                latency: specs[0].latency,
                prior: prior(
                    0.7,
                    &[(Task::Classification, 0.95), (Task::AdvancedMath, 0.2)],
                ),
                trained: None,
            },
            PolicyModel {
                spec: &specs[1],
                latency: specs[1].latency,
                prior: prior(
                    0.9,
                    &[(Task::Classification, 0.96), (Task::AdvancedMath, 0.9)],
                ),
                trained: None,
            },
            PolicyModel {
                spec: &specs[2],
                latency: specs[2].latency,
                prior: prior(0.5, &[]),
                trained: Some(ModelEstimate {
                    quality: 0.3,
                    output_tokens: 50.0,
                }),
            },
        ]
    }

    fn specs() -> Vec<ModelSpec> {
        vec![spec("light", 0.6), spec("strong", 10.0), spec("known", 1.0)]
    }

    fn input<'a>(
        models: &'a [PolicyModel<'a>],
        tasks: Option<&'a TaskDistribution>,
        constraints: &'a Constraints,
    ) -> DecisionInput<'a> {
        DecisionInput {
            models,
            tasks,
            input_tokens: 100,
            constraints,
            objective: Objective::Utility { lambda: 20.0 },
            difficulty: None,
            tie_break: None,
        }
    }

    #[test]
    fn each_candidate_says_where_its_estimate_came_from() {
        let s = specs();
        let models = pool(&s);
        let c = Constraints::default();
        let maths = TaskDistribution::certain(Task::AdvancedMath);
        let d = greedy(&input(&models, Some(&maths), &c)).unwrap();
        let source = |id: &str| {
            d.ranked
                .iter()
                .find(|c| c.model.as_str() == id)
                .unwrap()
                .source
        };
        assert_eq!(source("light"), Some(EstimateSource::TaskPrior));
        assert_eq!(source("known"), Some(EstimateSource::Trained));
        assert_eq!(d.estimate_mix(), EstimateMix::Mixed);
        assert_eq!(d.tasks, Some(maths));
        // Without a task distribution every prior is flat.
        let d = greedy(&input(&models, None, &c)).unwrap();
        assert!(d
            .ranked
            .iter()
            .filter(|c| c.model.as_str() != "known")
            .all(|c| c.source == Some(EstimateSource::FlatPrior)));
    }

    /// A predictor that knows no model but carries an onboarded fit of `light`.
    struct OnboardedOnly(crate::OnboardedModel);

    impl QualityPredictor for OnboardedOnly {
        fn models(&self) -> &[ModelId] {
            &[]
        }
        fn predict(&self, _: &[f32]) -> Vec<ModelEstimate> {
            Vec::new()
        }
        fn onboarded(&self, model: &ModelId) -> Option<&crate::OnboardedModel> {
            (self.0.model == *model).then_some(&self.0)
        }
    }

    /// The light model fitted from 30 competition-maths probes to `estimate` (with posterior
    /// spread `sd`).
    fn light_onboarded(estimate: f64, sd: Option<f64>) -> crate::OnboardedModel {
        crate::OnboardedModel {
            model: ModelId::new("light"),
            onboarded_at: "2026-12-03T00:00:00Z".into(),
            probe_set_sha256: "ab".into(),
            requests: 30,
            errors: 0,
            cost_usd: 0.0,
            tasks: vec![crate::OnboardedTask {
                task: Task::AdvancedMath,
                probes: 30,
                mean_score: estimate,
                prior: 0.2,
                estimate,
                sd,
                output_tokens: None,
            }],
            latency: None,
        }
    }

    #[test]
    fn an_onboarded_fit_replaces_the_catalog_prior_and_says_so() {
        let s = specs();
        // The probes showed the light model solves competition maths after all, and its
        // calls were timed on the user's account: faster than the catalog says.
        let mut fit = light_onboarded(0.95, None);
        fit.latency = Some(LatencyPrior {
            ttft_ms: 50.0,
            tokens_per_s: 500.0,
        });
        let predictor = OnboardedOnly(fit);
        let catalog = pool(&s);
        let models: Vec<PolicyModel<'_>> = catalog
            .iter()
            .map(|m| PolicyModel::assemble(m.spec, m.prior, Some(&predictor), m.trained))
            .collect();
        let c = Constraints::default();
        let maths = TaskDistribution::certain(Task::AdvancedMath);
        let before = greedy(&input(&catalog, Some(&maths), &c)).unwrap();
        assert_eq!(before.chosen.as_str(), "strong");
        let after = greedy(&input(&models, Some(&maths), &c)).unwrap();
        assert_eq!(after.chosen.as_str(), "light");
        let light = after.chosen_candidate().unwrap();
        assert_eq!(light.source, Some(EstimateSource::Onboarded));
        assert_eq!(
            light.latency_ms,
            50.0 + light.output_tokens / 500.0 * 1000.0
        );
        // The models it does not onboard keep their catalog prior and latency.
        assert_eq!(models[1].prior, catalog[1].prior);
        assert_eq!(models[1].latency, s[1].latency);
        assert_eq!(models[2].trained, catalog[2].trained);
        assert_eq!(after.estimate_mix(), EstimateMix::Mixed);
    }

    /// A fitted task's posterior spread follows the prompt like its score: weighted by
    /// P(task), with the unprobed share reported apart, stretched or squeezed with the
    /// difficulty shift, and absent for catalog priors.
    #[test]
    fn an_onboarded_estimate_carries_its_posterior_spread() {
        let s = specs();
        let predictor = OnboardedOnly(light_onboarded(0.5, Some(0.08)));
        let models: Vec<PolicyModel<'_>> = pool(&s)
            .iter()
            .map(|m| PolicyModel::assemble(m.spec, m.prior, Some(&predictor), m.trained))
            .collect();
        let mut weights = [0.0; crate::TASK_COUNT];
        weights[Task::AdvancedMath.index()] = 0.75;
        weights[Task::Classification.index()] = 0.25;
        let tasks = TaskDistribution::from_weights(weights);
        let c = Constraints::default();
        let spread_of = |d: &RouteDecision, id: &str| {
            d.ranked
                .iter()
                .find(|c| c.model.as_str() == id)
                .unwrap()
                .spread
        };
        let d = greedy(&input(&models, Some(&tasks), &c)).unwrap();
        let spread = spread_of(&d, "light").unwrap();
        assert!((spread.sd - 0.75 * 0.08).abs() < 1e-12, "{spread:?}");
        assert!((spread.measured - 0.75).abs() < 1e-12, "{spread:?}");
        assert_eq!(spread_of(&d, "strong"), None);
        assert_eq!(spread_of(&d, "known"), None);
        // Without a task distribution the flat prior is the mean over the seven tasks.
        let flat = greedy(&input(&models, None, &c)).unwrap();
        let spread = spread_of(&flat, "light").unwrap();
        assert!(
            (spread.sd - 0.08 / 7.0).abs() < 1e-12 && (spread.measured - 1.0 / 7.0).abs() < 1e-12
        );
        // A difficulty shift moves the estimate along the logistic curve: its spread scales
        // with the slope there.
        let mut shifted = input(&models, Some(&tasks), &c);
        shifted.difficulty = Some(2.0);
        let d2 = greedy(&shifted).unwrap();
        let q = |d: &RouteDecision| {
            d.ranked
                .iter()
                .find(|c| c.model.as_str() == "light")
                .unwrap()
                .quality
        };
        let ratio = q(&d2) * (1.0 - q(&d2)) / (q(&d) * (1.0 - q(&d)));
        assert!(ratio < 1.0);
        let sd2 = spread_of(&d2, "light").unwrap().sd;
        assert!((sd2 - 0.75 * 0.08 * ratio).abs() < 1e-12, "{sd2}");
    }

    #[test]
    fn task_priors_make_the_choice_depend_on_the_prompt() {
        let s = specs();
        let models = pool(&s);
        let c = Constraints::default();
        let label = TaskDistribution::certain(Task::Classification);
        let maths = TaskDistribution::certain(Task::AdvancedMath);
        assert_eq!(
            greedy(&input(&models, Some(&label), &c))
                .unwrap()
                .chosen
                .as_str(),
            "light"
        );
        assert_eq!(
            greedy(&input(&models, Some(&maths), &c))
                .unwrap()
                .chosen
                .as_str(),
            "strong"
        );
    }

    #[test]
    fn output_tokens_follow_the_task_when_counts_exist() {
        let mut p = prior(0.9, &[(Task::AdvancedMath, 0.9)]);
        p.task_tokens.set(Task::AdvancedMath, 2000.0).unwrap();
        p.task_tokens.set(Task::Classification, 150.0).unwrap();
        let maths = TaskDistribution::certain(Task::AdvancedMath);
        let label = TaskDistribution::certain(Task::Classification);
        let writing = TaskDistribution::certain(Task::Writing);
        assert_eq!(p.estimate(Some(&maths)).0.output_tokens, 2000.0);
        assert_eq!(p.estimate(Some(&label)).0.output_tokens, 150.0);
        // No count for the task, or no task distribution: the flat count.
        assert_eq!(p.estimate(Some(&writing)).0.output_tokens, 100.0);
        assert_eq!(p.estimate(None).0.output_tokens, 100.0);
    }

    #[test]
    fn all_prior_decisions_never_say_trained() {
        let s = specs();
        let models: Vec<PolicyModel<'_>> = pool(&s)
            .into_iter()
            .map(|m| PolicyModel { trained: None, ..m })
            .collect();
        let c = Constraints::default();
        let d = greedy(&input(&models, None, &c)).unwrap();
        assert_eq!(d.estimate_mix(), EstimateMix::Priors);
    }

    #[test]
    fn static_fallback_puts_the_fallback_first_with_propensity_one() {
        let s = specs();
        let models = pool(&s);
        let c = Constraints::default();
        let fallback = ModelId::new("known");
        let d = decide(
            &input(&models, None, &c),
            Serving::StaticFallback { model: &fallback },
        )
        .unwrap();
        assert_eq!(d.chosen, fallback);
        assert_eq!(d.reason, DecisionReason::StaticFallback);
        assert_eq!(d.propensity, 1.0);
        // A fallback outside the pool leaves the greedy choice.
        let absent = ModelId::new("absent");
        let d = decide(
            &input(&models, None, &c),
            Serving::StaticFallback { model: &absent },
        )
        .unwrap();
        assert_eq!(d.chosen, greedy(&input(&models, None, &c)).unwrap().chosen);
    }

    proptest! {
        /// What off-policy evaluation computes from the greedy decision (the action
        /// distribution) is exactly how `decide` serves: the served model's propensity is its
        /// probability there, and every draw lands on a model of positive probability.
        #[test]
        fn served_propensity_is_the_evaluated_probability(
            q in proptest::collection::vec(0.0..1.0f64, 3),
            w in proptest::collection::vec(0.0..1.0f64, crate::TASK_COUNT),
            epsilon in 0.0..=1.0f64,
            top_k in 0usize..4,
            draw in 0.0..1.0f64,
        ) {
            let s = specs();
            let mut models = pool(&s);
            for (m, q) in models.iter_mut().zip(&q) {
                m.prior.quality = *q;
            }
            let mut weights = [0.0; crate::TASK_COUNT];
            weights.copy_from_slice(&w);
            let tasks = TaskDistribution::from_weights(weights);
            let c = Constraints::default();
            let inp = input(&models, Some(&tasks), &c);
            let exploration = Exploration::EpsilonGreedy { epsilon, top_k };
            let served = decide(&inp, Serving::Explore { exploration: &exploration, draw }).unwrap();
            let dist = action_distribution(&greedy(&inp).unwrap(), &exploration);
            let p = dist.iter().find(|(m, _)| *m == served.chosen).map(|(_, p)| *p);
            prop_assert_eq!(p, Some(served.propensity));
            prop_assert!(served.propensity > 0.0);
        }
    }
}
