//! The axum app and the state its handlers share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::fixtures::Fixtures;
use crate::script::Script;
use crate::{anthropic, embeddings, gemini, listing, openai, respond, responses};

/// Models a list-models endpoint answers: `(id, shutdown date)`.
pub(crate) type Offered = Vec<(String, Option<String>)>;

/// State shared by every handler.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Scripted scenarios, counts and the request log.
    script: Mutex<Script>,
    /// Parsed stream templates.
    pub(crate) fixtures: Fixtures,
    /// Fires at shutdown; delayed and stalled answers end when it does.
    pub(crate) shutdown: CancellationToken,
    /// What the list-models endpoints answer: `(id, shutdown date)`; `None`: 404.
    offered: Mutex<Option<Offered>>,
    /// Requests to the list-models endpoints so far, answered or not.
    list_reads: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(fixtures: Fixtures, shutdown: CancellationToken) -> Self {
        Shared {
            script: Mutex::new(Script::default()),
            fixtures,
            shutdown,
            offered: Mutex::new(None),
            list_reads: AtomicUsize::new(0),
        }
    }

    /// The listed models, if a test set them.
    pub(crate) fn offered(&self) -> Option<Offered> {
        self.offered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The listed models for a list-models request, counting the request.
    pub(crate) fn read_list(&self) -> Option<Offered> {
        self.list_reads.fetch_add(1, Ordering::Relaxed);
        self.offered()
    }

    /// Requests to the list-models endpoints so far.
    pub(crate) fn list_reads(&self) -> usize {
        self.list_reads.load(Ordering::Relaxed)
    }

    /// Sets the listed models.
    pub(crate) fn set_offered(&self, models: Option<Offered>) {
        *self.offered.lock().unwrap_or_else(PoisonError::into_inner) = models;
    }

    /// The script, even if a panicking test thread poisoned the lock: the data stays usable.
    pub(crate) fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fake's routes.
pub(crate) fn app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(respond::body_named::<openai::OpenAi>),
        )
        .route(
            "/v1/responses",
            post(respond::body_named::<responses::Responses>),
        )
        .route(
            "/v1/messages",
            post(respond::body_named::<anthropic::Anthropic>),
        )
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route(
            "/v1beta/models/{model_action}",
            post(gemini::generate).get(listing::gemini_one),
        )
        .route("/v1/models", get(listing::openai_and_anthropic))
        .route("/v1/models/{name}", get(listing::openai_and_anthropic_one))
        .route("/v1beta/models", get(listing::gemini))
        .with_state(shared)
}
