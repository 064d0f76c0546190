//! Choosing a model: the encoder service's predictions and task distribution fed to
//! [`router_core::policy::decide`] (the one policy off-policy evaluation and `switchyard loop`
//! judge), with the static fallback when the encoder cannot answer within the routing deadline.
//! Models the trained predictor does not know get the catalog's task-aware priors.
//!
//! The encoder is reached only through [`classifier::Service`], whose workers run off the async
//! runtime; a handler never embeds text itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use classifier::PredictorChoice;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use router_core::policy::{self, DecisionInput, PolicyModel, Serving};
use router_core::{
    ArmAssignment, Constraints, DecisionReason, EstimateMix, Exploration, ModelEstimate, ModelId,
    Objective, PolicyError, QualityPredictor, RouteDecision, TaskDistribution,
};

use crate::metrics::Metrics;
pub use availability::Availability;
pub use experiment::{LoadedArm, Split, Unit};

/// Where the predictions behind a decision came from (each candidate says its own in
/// [`router_core::Candidate::source`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PredictionSource {
    /// A trained predictor scored the prompt for every candidate.
    Trained,
    /// A trained predictor scored some candidates; the others are on catalog priors.
    Mixed,
    /// Catalog priors only (task-aware where the task classifier ran): no predictor loaded,
    /// none of the candidates known to it, or a named model was requested.
    Priors,
    /// The encoder did not answer in time; the static fallback was used.
    StaticFallback {
        /// `deadline` (the backstop timeout fired), `deadline_unmeetable` or `saturated`
        /// (refused at once),
        /// `queue_full`, `worker_gone` or `embed_error`.
        reason: &'static str,
    },
}

impl PredictionSource {
    /// The name shown by `/v1/route`.
    pub fn as_str(self) -> &'static str {
        match self {
            PredictionSource::Trained => "trained",
            PredictionSource::Mixed => "mixed",
            PredictionSource::Priors => "priors",
            PredictionSource::StaticFallback { .. } => "static_fallback",
        }
    }
}

/// What the router needs to know about one request.
#[derive(Clone, Debug)]
pub struct RoutingInput {
    /// The text the encoder sees.
    pub text: String,
    /// Estimated prompt tokens.
    pub input_tokens: u32,
    /// Limits, capabilities, allow and exclude lists.
    pub constraints: Constraints,
    /// The trade-off.
    pub objective: Objective,
}

/// A decision and how it was reached.
#[derive(Clone, Debug)]
pub struct Routed {
    /// The decision.
    pub decision: RouteDecision,
    /// Where predictions came from.
    pub source: PredictionSource,
    /// Time spent routing.
    pub elapsed: Duration,
}

/// The model choice machinery of a running gateway.
pub struct Router {
    catalog: Arc<models::Catalog>,
    candidates: Vec<ModelId>,
    /// What the providers' model lists last said: candidates they no longer offer, and those
    /// whose shutdown they announced (each leaves `auto` at its time, without a restart).
    availability: RwLock<Availability>,
    fallback: ModelId,
    deadline: Duration,
    classifier: Option<classifier::Service>,
    metrics: Arc<Metrics>,
    exploration: Exploration,
    /// One generator for every request: draws are cheap and the lock is held for one `gen`,
    /// and a seeded run is reproducible request by request.
    rng: Mutex<StdRng>,
    /// `/v1/route`'s own generator: a preview must not take draws from the serving stream, or
    /// a seeded run's chat decisions would shift whenever someone asks what `auto` would do.
    preview_rng: Mutex<StdRng>,
    /// The A/B split of `auto` requests between router artifacts, when `[experiment]` is set.
    split: Option<Split>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("candidates", &self.candidates)
            .field("fallback", &self.fallback)
            .field("deadline", &self.deadline)
            .field("classifier", &self.classifier.is_some())
            .field("exploration", &self.exploration)
            .field("split", &self.split)
            .finish()
    }
}

impl Router {
    /// A router over `candidates` (catalog ids).
    pub fn new(
        catalog: Arc<models::Catalog>,
        candidates: Vec<ModelId>,
        fallback: ModelId,
        deadline: Duration,
        classifier: Option<classifier::Service>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Router {
            catalog,
            candidates,
            availability: RwLock::new(Availability::default()),
            fallback,
            deadline,
            classifier,
            metrics,
            exploration: Exploration::Off,
            rng: Mutex::new(StdRng::from_entropy()),
            preview_rng: Mutex::new(StdRng::from_entropy()),
            split: None,
        }
    }

    /// Starts from `availability`: what the providers' model lists said at start-up
    /// ([`crate::upstream::discovery`]).
    pub fn with_availability(self, availability: Availability) -> Self {
        self.set_availability(availability);
        self
    }

    /// Replaces what the providers' lists said (the periodic re-read); returns the previous.
    pub fn set_availability(&self, availability: Availability) -> Availability {
        let mut held = self
            .availability
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *held, availability)
    }

    /// What the providers' lists last said.
    pub fn availability(&self) -> Availability {
        self.availability
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Splits `auto` requests between the arms of `split`.
    pub fn with_experiment(mut self, split: Option<Split>) -> Self {
        self.split = split;
        self
    }

    /// The arm an `auto` request of `unit` routes with, and the assignment its row records;
    /// `None` without an experiment.
    pub fn assign(&self, unit: Unit<'_>) -> Option<(&LoadedArm, ArmAssignment)> {
        Some(self.split.as_ref()?.assign(unit))
    }

    /// Explores `auto` decisions with `exploration`, drawing from a generator seeded with
    /// `seed` (from the OS when `None`).
    pub fn with_exploration(mut self, exploration: Exploration, seed: Option<u64>) -> Self {
        self.exploration = exploration;
        if let Some(seed) = seed {
            self.rng = Mutex::new(StdRng::seed_from_u64(seed));
            self.preview_rng = Mutex::new(StdRng::seed_from_u64(seed ^ PREVIEW_STREAM));
        }
        self
    }

    /// The exploration setting.
    pub fn exploration(&self) -> &Exploration {
        &self.exploration
    }

    /// The encoder service, when one is running (its predictor can be swapped).
    pub fn classifier(&self) -> Option<&classifier::Service> {
        self.classifier.as_ref()
    }

    /// The models `auto` may choose now: the candidates, less those their providers no longer
    /// offer or whose announced shutdown has come (borrowed, without a copy, while none is).
    pub fn candidates(&self) -> Cow<'_, [ModelId]> {
        let availability = self
            .availability
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if availability.is_complete() {
            return Cow::Borrowed(&self.candidates);
        }
        self.offered(&availability, crate::clock::unix_ms())
    }

    /// [`Router::candidates`] at `now_ms`.
    pub fn candidates_at(&self, now_ms: u64) -> Cow<'_, [ModelId]> {
        let availability = self
            .availability
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        self.offered(&availability, now_ms)
    }

    fn offered(&self, availability: &Availability, now_ms: u64) -> Cow<'_, [ModelId]> {
        if !availability.excludes_any(now_ms) {
            return Cow::Borrowed(&self.candidates);
        }
        Cow::Owned(
            self.candidates
                .iter()
                .filter(|m| availability.offers(m, now_ms))
                .cloned()
                .collect(),
        )
    }

    /// The predictor loaded now, if any.
    fn predictor(&self) -> Option<Arc<dyn QualityPredictor>> {
        self.classifier.as_ref().and_then(|c| c.predictor())
    }

    /// The serving predictor's [`QualityPredictor::generation`] (`None` without one).
    pub fn predictor_generation(&self) -> Option<String> {
        self.predictor()?.generation().map(str::to_owned)
    }

    /// Whether a trained predictor is loaded.
    pub fn has_predictor(&self) -> bool {
        self.classifier
            .as_ref()
            .is_some_and(|c| c.predictor().is_some())
    }

    /// Routes over `pool` (the live candidates, or another set for offline decisions) with
    /// `arm`'s predictor (`None`: the serving one).
    pub async fn route(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        arm: Option<&LoadedArm>,
    ) -> Result<Routed, PolicyError> {
        self.score_and_decide(input, pool, arm, &self.rng).await
    }

    /// [`Router::route`] for `/v1/route`: the same decision, explored with draws from a
    /// generator of its own, so that previews leave the serving decisions' stream alone.
    pub async fn preview(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        arm: Option<&LoadedArm>,
    ) -> Result<Routed, PolicyError> {
        self.score_and_decide(input, pool, arm, &self.preview_rng)
            .await
    }

    /// Scores the prompt within the routing deadline, then decides drawing from `rng`.
    async fn score_and_decide(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        arm: Option<&LoadedArm>,
        rng: &Mutex<StdRng>,
    ) -> Result<Routed, PolicyError> {
        let start = Instant::now();
        let scored = self.score(&input.text, start, false, arm).await;
        self.decide_with(input, pool, scored, start, rng)
    }

    /// What the encoder says about `text` within the routing deadline counted from `start`:
    /// the estimates [`Router::route_scored`] decides on and the prompt's embedding. With
    /// `embed_anyway` the prompt is embedded even when no predictor would read the embedding
    /// (the semantic cache needs it). `arm` picks the predictor (`None`: the serving one).
    pub async fn score(
        &self,
        text: &str,
        start: Instant,
        embed_anyway: bool,
        arm: Option<&LoadedArm>,
    ) -> PromptScores {
        let choice = arm.map(|a| a.choice.clone()).unwrap_or_default();
        self.estimates(text, start + self.deadline, embed_anyway, choice)
            .await
    }

    /// Decides over `pool` with the prompt's `scored` estimates; `start` is when routing began
    /// (the decision's elapsed time counts from it).
    pub fn route_scored(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        scored: PromptScores,
        start: Instant,
    ) -> Result<Routed, PolicyError> {
        self.decide_with(input, pool, scored, start, &self.rng)
    }

    /// [`Router::route_scored`] drawing from `rng`.
    fn decide_with(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        scored: PromptScores,
        start: Instant,
        rng: &Mutex<StdRng>,
    ) -> Result<Routed, PolicyError> {
        let serving = match scored.fallback {
            Some(_) => Serving::StaticFallback {
                model: &self.fallback,
            },
            // Draw only when exploring, so that a seeded generator's stream is the same
            // whether or not decisions in between explore.
            None => Serving::Explore {
                exploration: &self.exploration,
                draw: if self.exploration == Exploration::Off {
                    0.0
                } else {
                    draw(rng)
                },
            },
        };
        // The predictor that scored the prompt; on a fallback the one the arm would have used
        // (its onboarded fits still apply).
        let predictor = scored.predictor.clone().or_else(|| match &scored.choice {
            PredictorChoice::Serving => self.predictor(),
            PredictorChoice::Fixed(p) => p.clone(),
        });
        let prompt = PromptView {
            trained: &scored.trained,
            tasks: scored.tasks.as_ref(),
            difficulty: scored.difficulty,
            predictor: predictor.as_deref(),
        };
        let mut decision = self.decide(input, pool, &prompt, serving)?;
        decision.routing = predictor.as_ref().map(|p| p.routing());
        let source = match scored.fallback {
            Some(reason) => PredictionSource::StaticFallback { reason },
            None => match decision.estimate_mix() {
                EstimateMix::Trained => PredictionSource::Trained,
                EstimateMix::Mixed => PredictionSource::Mixed,
                _ => PredictionSource::Priors,
            },
        };
        let elapsed = start.elapsed();
        self.metrics.routing_time(elapsed);
        Ok(Routed {
            decision,
            source,
            elapsed,
        })
    }

    /// A decision for a request naming `model`: the named model first, then the prior ranking
    /// of the other candidates as failover order.
    pub fn pin(
        &self,
        model: &ModelId,
        input: &RoutingInput,
        pool: &[ModelId],
    ) -> Result<Routed, PolicyError> {
        let start = Instant::now();
        let mut pool: Vec<ModelId> = pool.to_vec();
        if !pool.contains(model) {
            pool.push(model.clone());
        }
        let mut constraints = input.constraints.clone();
        // The client asked for this model by name: allow-lists must not hide it.
        if let Some(c) = constraints.candidates.as_mut() {
            if !c.contains(model) {
                c.push(model.clone());
            }
        }
        constraints.exclude.retain(|m| m != model);
        let input = RoutingInput {
            constraints,
            ..input.clone()
        };
        let greedy = Serving::Explore {
            exploration: &Exploration::Off,
            draw: 0.0,
        };
        let trained = HashMap::new();
        let predictor = self.predictor();
        let prompt = PromptView {
            trained: &trained,
            tasks: None,
            difficulty: None,
            predictor: predictor.as_deref(),
        };
        let mut decision = self.decide(&input, &pool, &prompt, greedy)?;
        decision.chosen = model.clone();
        decision.reason = DecisionReason::BestFeasible;
        decision.propensity = 1.0;
        Ok(Routed {
            decision,
            source: PredictionSource::Priors,
            elapsed: start.elapsed(),
        })
    }

    /// Trained estimates by model (empty when no predictor ran), the task distribution (when
    /// a task classifier ran), and the fallback reason when the encoder did not answer.
    ///
    /// The service gets the request's routing deadline: when the work queued ahead means the
    /// prompt cannot be embedded by then, it says so at once (`deadline_unmeetable`) and the
    /// request takes the static fallback without waiting. The timeout around the call is only
    /// a backstop for a batch that overruns its predicted time.
    async fn estimates(
        &self,
        text: &str,
        deadline: Instant,
        embed_anyway: bool,
        choice: PredictorChoice,
    ) -> PromptScores {
        let none = PromptScores {
            trained: HashMap::new(),
            tasks: None,
            difficulty: None,
            predictor: None,
            fallback: None,
            embedding: None,
            choice: choice.clone(),
        };
        let Some(service) = &self.classifier else {
            return none;
        };
        let has_predictor = match &choice {
            PredictorChoice::Serving => service.predictor().is_some(),
            PredictorChoice::Fixed(p) => p.is_some(),
        };
        if !embed_anyway && !has_predictor && service.task_classifier().is_none() {
            // Embedding with nothing to read the embedding would be wasted encoder time.
            return none;
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        let scored = tokio::time::timeout(
            budget,
            service.score_with(text.to_owned(), deadline, choice.clone()),
        )
        .await;
        let reason = match scored {
            Ok(Ok(scored)) => {
                self.metrics.encoder_cache(scored.cached);
                if !scored.cached {
                    self.metrics.encoder_queue_wait(scored.queue_wait);
                }
                return self.prompt_scores(scored, choice);
            }
            Ok(Err(e)) => e.label(),
            Err(_) => "deadline",
        };
        self.metrics.classifier_fallback(reason);
        tracing::debug!(reason, "Router fell back to the static model.");
        PromptScores {
            fallback: Some(reason),
            ..none
        }
    }

    /// The policy's view of what the service said: trained estimates by model, the task
    /// distribution and the difficulty shift.
    fn prompt_scores(&self, scored: classifier::Scored, choice: PredictorChoice) -> PromptScores {
        let mut difficulty = None;
        let mut scored_by = None;
        let trained = match scored.estimates {
            Some((predictor, estimates)) => {
                scored_by = Some(Arc::clone(&predictor));
                let trained: HashMap<ModelId, ModelEstimate> =
                    predictor.models().iter().cloned().zip(estimates).collect();
                if let (Some(link), Some(tasks)) =
                    (predictor.difficulty_link(), scored.tasks.as_ref())
                {
                    let qualities = trained.iter().map(|(id, e)| (id, e.quality));
                    difficulty = self.catalog.difficulty_shift(link, qualities, tasks);
                }
                trained
            }
            None => HashMap::new(),
        };
        let mut embedding = scored.embedding;
        embedding.truncate(classifier::EMBEDDING_DIM);
        PromptScores {
            trained,
            tasks: scored.tasks,
            difficulty,
            predictor: scored_by,
            fallback: None,
            embedding: Some(embedding),
            choice,
        }
    }

    /// Routes over `pool` on an embedding made elsewhere, with the serving predictor and no
    /// deadline (the int8 gate compares the decisions of two embeddings of one prompt).
    /// `None` without an encoder service.
    pub fn route_embedding(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        embedding: Vec<f32>,
    ) -> Option<Result<Routed, PolicyError>> {
        let service = self.classifier.as_ref()?;
        let start = Instant::now();
        let scored =
            self.prompt_scores(service.score_embedding(embedding), PredictorChoice::Serving);
        Some(self.route_scored(input, pool, scored, start))
    }

    /// The one policy ([`policy::decide`]) over the catalog entries of `pool`.
    fn decide(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        prompt: &PromptView<'_>,
        serving: Serving<'_>,
    ) -> Result<RouteDecision, PolicyError> {
        let PromptView {
            trained,
            tasks,
            difficulty,
            predictor,
        } = *prompt;
        let entries: Vec<&models::CatalogEntry> = pool
            .iter()
            .filter_map(|id| self.catalog.get(id).ok())
            .collect();
        let models: Vec<PolicyModel<'_>> = entries
            .iter()
            .map(|e| {
                PolicyModel::assemble(
                    &e.spec,
                    e.prior(),
                    predictor,
                    trained.get(&e.spec.id).copied(),
                )
            })
            .collect();
        let decision_input = DecisionInput {
            models: &models,
            tasks,
            input_tokens: input.input_tokens,
            constraints: &input.constraints,
            objective: input.objective,
            difficulty,
            // Only where the artifact scored this prompt: a pinned request or a static
            // fallback has no estimates of its own to be unsure about.
            tie_break: predictor
                .filter(|_| !trained.is_empty())
                .and_then(|p| p.tie_break()),
        };
        policy::decide(&decision_input, serving)
    }
}

/// What the policy needs to know about the prompt.
#[derive(Clone, Copy)]
struct PromptView<'a> {
    trained: &'a HashMap<ModelId, ModelEstimate>,
    tasks: Option<&'a TaskDistribution>,
    difficulty: Option<f64>,
    /// The artifact whose onboarded fits replace catalog priors.
    predictor: Option<&'a dyn QualityPredictor>,
}

/// What the encoder service said about one prompt ([`Router::score`]).
pub struct PromptScores {
    trained: HashMap<ModelId, ModelEstimate>,
    tasks: Option<TaskDistribution>,
    /// The prompt's difficulty shift, when the predictor carries a link and the task
    /// classifier ran.
    difficulty: Option<f64>,
    /// The predictor that scored the prompt, when one did.
    predictor: Option<Arc<dyn QualityPredictor>>,
    /// Why the encoder did not answer (`deadline`, `queue_full`, ...), if it did not.
    fallback: Option<&'static str>,
    /// The model's own unit-length sentence embedding of the prompt (its first
    /// [`classifier::EMBEDDING_DIM`] values; extra pooled layers and adapters left out), when
    /// the encoder ran.
    embedding: Option<Vec<f32>>,
    /// The predictor asked for (an A/B arm's, or the serving one).
    choice: PredictorChoice,
}

impl PromptScores {
    /// The prompt's sentence embedding, when the encoder answered in time.
    pub fn embedding(&self) -> Option<&[f32]> {
        self.embedding.as_deref()
    }
}

mod availability;
pub mod experiment;
pub mod int8_gate;
pub mod reload;
pub mod rules;
pub mod shared_calls;
pub mod tool_loops;

/// Mixed into the exploration seed for `/v1/route`'s generator: a seeded gateway previews
/// reproducibly too, on a stream apart from the serving one.
const PREVIEW_STREAM: u64 = 0x7072_6576_6965_7721;

/// A uniform draw in `[0, 1)` from `rng` (the lock is held for one `gen`).
fn draw(rng: &Mutex<StdRng>) -> f64 {
    rng.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .gen::<f64>()
}

#[cfg(test)]
mod tests;
