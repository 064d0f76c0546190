//! Switchyard's shared vocabulary, free of I/O and async runtimes.
//!
//! - [`ModelId`], [`ProviderId`]: newtypes for the identifiers every crate passes around.
//! - [`ModelSpec`], [`Capability`], [`LatencyPrior`]: the catalog schema.
//! - [`RouteRequest`], [`Constraints`], [`Objective`]: what a caller asks of the router.
//! - [`RouteDecision`], [`Candidate`], [`DecisionReason`]: what the router answers.
//! - [`policy::decide`]: the routing policy, a pure function of estimates (trained, task prior
//!   or flat prior; [`EstimateSource`]), constraints, objective and exploration draw; every
//!   caller (gateway, `/v1/route`, off-policy evaluation, `switchyard loop`) uses it.
//! - [`Task`], [`TaskDistribution`], [`TaskScores`], [`TaskTokens`]: the task taxonomy behind
//!   task-aware priors.
//! - [`exploration`]: [`Exploration`] and [`explore`], randomised choices with exact propensities.
//! - [`Outcome`]: the versioned record of one served request, written by the gateway and read
//!   by training.
//! - [`Embedder`], [`QualityPredictor`]: the seams between the encoder, the predictors and the
//!   policy.
//! - [`reference`]: scoring an answer against a known reference answer, shared by the gateway's
//!   judge and the training crate's probes.

mod catalog;
mod decision;
pub mod exploration;
mod ids;
mod onboarded;
mod outcome;
pub mod policy;
pub mod reference;
mod request;
pub mod task;
mod traits;

pub use catalog::{Capability, LatencyPrior, ModelSpec, PriceTier, RequestShape, TokenCounts};
pub use decision::{
    Candidate, DecisionReason, EstimateMix, EstimateSource, RouteDecision, RoutingMode, Spread,
    Violation,
};
pub use exploration::{explore, Exploration};
pub use ids::{ModelId, ProviderId};
pub use onboarded::{InvalidOnboarded, OnboardedModel, OnboardedTask};
pub use outcome::{
    ArmAssignment, Attempt, CacheHit, Feedback, FeedbackSource, GuardrailReport, Outcome,
    OutcomeStatus, PromptRecord, OUTCOME_SCHEMA_VERSION,
};
pub use policy::{
    decide, route, DecisionInput, ModelPrior, PolicyError, PolicyModel, Prediction, Serving,
};
pub use request::{Constraints, Objective, RouteRequest, DEFAULT_WILLINGNESS_TO_PAY_USD};
pub use task::{Task, TaskDistribution, TaskScores, TaskTokens, TASK_COUNT};
pub use traits::{BoxError, Embedder, ModelEstimate, QualityPredictor};
