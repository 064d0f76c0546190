//! Switchyard's OpenAI-compatible gateway. A request walks down through four parts:
//!
//! - [`http`]: the axum surface. [`app`] builds the [`axum::Router`] over an [`AppState`];
//!   handlers parse, call the layers below and answer; [`http::error::ApiError`] is the one
//!   error → response mapping.
//! - [`routing`]: choosing a model. [`routing::Router`] feeds encoder-service predictions (or
//!   catalog priors) to `router_core::policy::route`, with the static fallback and
//!   exploration; [`routing::reload`] hot-swaps the predictor artifact (SIGHUP,
//!   `POST /admin/reload`).
//! - [`upstream`]: calling providers. [`upstream::Provider`] adapters (OpenAI, Anthropic,
//!   Gemini), SSE parsing, [`upstream::failover`] over the ranked candidates with circuit
//!   breakers; [`upstream::UpstreamError`] carries source, retryable and bytes_sent.
//! - [`outcome`]: one `router_core::Outcome` row per request ([`outcome::record`]) in the
//!   SQLite [`outcome::OutcomeLog`], exported with [`outcome::export_jsonl`].
//!
//! In front of `/v1/*`, [`auth`] checks client keys, their rate limits and budgets (in
//! process, or shared by every replica through Redis with `[redis]`). Before routing,
//! [`cache`] answers a repeated identical request from memory (`[cache]`). Off the request
//! path, [`judge`] grades a sample of answers with an LLM (or a reference
//! answer) and stores its verdicts as feedback labels. Outside serving, [`probe::Prober`]
//! calls configured models directly (`switchyard onboard --live`).
//!
//! Around them: [`config::Config`] (the validated configuration; [`config::GatewayConfig`] is
//! the raw TOML, `config/example.toml` documents every field), [`state::AppState`],
//! [`server`] ([`spawn`] for tests, [`run`] for `switchyard serve`), [`metrics::Metrics`]
//! (Prometheus text), and [`Error`] for start-up failures.

pub mod auth;
pub mod cache;
pub mod config;
pub mod departure;
pub mod error;
pub mod guardrails;
pub mod http;
pub mod judge;
pub mod metrics;
pub mod openai;
pub mod outcome;
pub mod probe;
pub mod routing;
pub mod secret;
pub mod server;
pub mod state;
pub mod tokens;
pub mod upstream;

mod clock;
mod connections;
#[cfg(test)]
mod proptests;

pub use config::Config;
pub use error::Error;
pub use http::app;
pub use http::error::ApiError;
pub use outcome::{export_jsonl, read_outcomes, OutcomeLog};
pub use server::{load_classifier, run, spawn, spawn_with_clock, RunningGateway};
pub use state::AppState;
