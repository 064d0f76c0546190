//! Switchyard's OpenAI-compatible gateway.
//!
//! - [`app`] builds the axum [`axum::Router`] over an [`AppState`]; [`spawn`] serves it on a
//!   listener and returns a [`RunningGateway`] (tests); [`run`] is `switchyard serve`.
//! - [`config::Config`]: the validated configuration ([`config::GatewayConfig`] is the raw
//!   TOML); `config/example.toml` documents every field.
//! - [`providers::Provider`]: the upstream adapter trait, with the OpenAI-compatible adapter
//!   in [`providers::openai`]; [`providers::UpstreamError`] carries source, retryable and
//!   bytes_sent for [`failover`].
//! - [`routing::Router`]: encoder-service predictions (or catalog priors) through
//!   `router_core::policy::route`, with the static fallback.
//! - [`circuit_breaker::CircuitBreaker`], [`outcome_log::OutcomeLog`] (SQLite, one
//!   `router_core::Outcome` per request, [`outcome_log::export_jsonl`]),
//!   [`metrics::Metrics`] (Prometheus text).
//! - [`reload::reload_artifact`]: hot swap of the predictor artifact (SIGHUP in
//!   `switchyard serve`, `POST /admin/reload` in [`admin`]); `[router] exploration` makes
//!   `auto` decisions explore with logged propensities ([`routing::Router::with_exploration`]).
//! - [`Error`] for start-up failures, [`error::ApiError`] for HTTP answers.

pub mod admin;
pub mod api;
pub mod chat;
pub mod circuit_breaker;
mod clock;
pub mod config;
pub mod error;
pub mod failover;
pub mod metrics;
pub mod openai;
pub mod outcome_log;
pub mod providers;
pub mod record;
pub mod relay;
pub mod reload;
pub mod request_options;
pub mod routing;
pub mod secret;
pub mod server;
pub mod sse;
pub mod state;
pub mod tokens;

pub use api::app;
pub use config::Config;
pub use error::{ApiError, Error};
pub use outcome_log::{export_jsonl, read_outcomes, OutcomeLog};
pub use server::{load_classifier, run, spawn, RunningGateway};
pub use state::AppState;
