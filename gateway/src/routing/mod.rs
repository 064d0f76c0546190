//! Choosing a model: the encoder service's predictions (or catalog priors) fed to
//! [`router_core::policy::route`], with the static fallback when the encoder cannot answer
//! within the routing deadline.
//!
//! The encoder is reached only through [`classifier::Service`], whose workers run off the async
//! runtime; a handler never embeds text itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use router_core::{
    explore, policy, Constraints, DecisionReason, Exploration, ModelEstimate, ModelId, Objective,
    PolicyError, Prediction, RouteDecision,
};

use crate::metrics::Metrics;

/// Where the predictions behind a decision came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PredictionSource {
    /// A trained predictor scored the prompt.
    Trained,
    /// Catalog priors (no predictor loaded, or a named model was requested).
    Priors,
    /// The encoder did not answer in time; the static fallback was used.
    StaticFallback {
        /// `deadline`, `queue_full`, `worker_gone` or `embed_error`.
        reason: &'static str,
    },
}

impl PredictionSource {
    /// The name shown by `/v1/route`.
    pub fn as_str(self) -> &'static str {
        match self {
            PredictionSource::Trained => "trained",
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
    fallback: ModelId,
    deadline: Duration,
    classifier: Option<classifier::Service>,
    metrics: Arc<Metrics>,
    exploration: Exploration,
    /// One generator for every request: draws are cheap and the lock is held for one `gen`,
    /// and a seeded run is reproducible request by request.
    rng: Mutex<StdRng>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("candidates", &self.candidates)
            .field("fallback", &self.fallback)
            .field("deadline", &self.deadline)
            .field("classifier", &self.classifier.is_some())
            .field("exploration", &self.exploration)
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
            fallback,
            deadline,
            classifier,
            metrics,
            exploration: Exploration::Off,
            rng: Mutex::new(StdRng::from_entropy()),
        }
    }

    /// Explores `auto` decisions with `exploration`, drawing from a generator seeded with
    /// `seed` (from the OS when `None`).
    pub fn with_exploration(mut self, exploration: Exploration, seed: Option<u64>) -> Self {
        self.exploration = exploration;
        if let Some(seed) = seed {
            self.rng = Mutex::new(StdRng::seed_from_u64(seed));
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

    /// The models `auto` may choose.
    pub fn candidates(&self) -> &[ModelId] {
        &self.candidates
    }

    /// Whether a trained predictor is loaded.
    pub fn has_predictor(&self) -> bool {
        self.classifier
            .as_ref()
            .is_some_and(|c| c.predictor().is_some())
    }

    /// Routes over `pool` (the live candidates, or another set for offline decisions).
    pub async fn route(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
    ) -> Result<Routed, PolicyError> {
        let start = Instant::now();
        let (estimates, source) = self.estimates(&input.text).await;
        let mut decision = self.decide(input, pool, &estimates)?;
        if let PredictionSource::StaticFallback { .. } = source {
            self.apply_fallback(&mut decision);
        } else if self.exploration != Exploration::Off {
            decision = explore(decision, &self.exploration, self.draw());
        }
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
        let mut decision = self.decide(&input, &pool, &HashMap::new())?;
        decision.chosen = model.clone();
        decision.reason = DecisionReason::BestFeasible;
        decision.propensity = 1.0;
        Ok(Routed {
            decision,
            source: PredictionSource::Priors,
            elapsed: start.elapsed(),
        })
    }

    /// A uniform draw in `[0, 1)`.
    fn draw(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .gen::<f64>()
    }

    /// Trained estimates by model, or empty (priors) with the reason.
    async fn estimates(&self, text: &str) -> (HashMap<ModelId, ModelEstimate>, PredictionSource) {
        let Some(service) = &self.classifier else {
            return (HashMap::new(), PredictionSource::Priors);
        };
        if service.predictor().is_none() {
            // Embedding without a predictor would be wasted encoder time.
            return (HashMap::new(), PredictionSource::Priors);
        }
        let scored = tokio::time::timeout(self.deadline, service.score(text.to_owned())).await;
        let reason = match scored {
            Ok(Ok(scored)) => {
                self.metrics.encoder_queue_wait(scored.queue_wait);
                let Some((predictor, estimates)) = scored.estimates else {
                    return (HashMap::new(), PredictionSource::Priors);
                };
                let map = predictor.models().iter().cloned().zip(estimates).collect();
                return (map, PredictionSource::Trained);
            }
            Ok(Err(e)) => e.label(),
            Err(_) => "deadline",
        };
        self.metrics.classifier_fallback(reason);
        tracing::debug!(reason, "Router fell back to the static model.");
        (HashMap::new(), PredictionSource::StaticFallback { reason })
    }

    fn decide(
        &self,
        input: &RoutingInput,
        pool: &[ModelId],
        estimates: &HashMap<ModelId, ModelEstimate>,
    ) -> Result<RouteDecision, PolicyError> {
        let entries: Vec<&models::CatalogEntry> = pool
            .iter()
            .filter_map(|id| self.catalog.get(id).ok())
            .collect();
        let predictions: Vec<Prediction<'_>> = entries
            .iter()
            .map(|e| {
                let est = estimates.get(&e.spec.id);
                Prediction {
                    spec: &e.spec,
                    quality: est.map_or(e.quality_prior, |x| x.quality),
                    output_tokens: est.map_or(e.output_tokens_prior, |x| x.output_tokens),
                }
            })
            .collect();
        policy::route(
            &predictions,
            input.input_tokens,
            &input.constraints,
            input.objective,
        )
    }

    /// Puts the configured fallback model first when it is an eligible candidate.
    fn apply_fallback(&self, decision: &mut RouteDecision) {
        let eligible = decision
            .ranked
            .iter()
            .any(|c| c.model == self.fallback && c.is_eligible());
        if eligible {
            decision.chosen = self.fallback.clone();
        }
        decision.reason = DecisionReason::StaticFallback;
        decision.propensity = 1.0;
    }
}

pub mod reload;

#[cfg(test)]
mod tests;
