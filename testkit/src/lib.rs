//! A real HTTP fake of LLM providers for Switchyard's tests, on loopback port 0.
//!
//! [`FakeProvider`] serves five wire formats on one listener:
//! - OpenAI `POST /v1/chat/completions` (JSON, or SSE ending in `data: [DONE]`, with a usage
//!   chunk when `stream_options.include_usage` is true);
//! - OpenAI `POST /v1/responses` (JSON, or the `response.created` … `response.completed`
//!   events; unknown parameters and chat-shaped fields are refused as OpenAI refuses them);
//! - Anthropic `POST /v1/messages` (JSON, or the `message_start` … `message_stop` event
//!   sequence; requires `x-api-key`, `anthropic-version` and `max_tokens`);
//! - Gemini `POST /v1beta/models/{model}:generateContent` and
//!   `:streamGenerateContent?alt=sse` (key in `x-goog-api-key` or `?key=`);
//! - OpenAI `POST /v1/embeddings`: deterministic unit vectors per input text, word-count usage.
//!
//! What it answers is scripted per model as a queue of typed [`Scenario`]s (success, delay,
//! error status with `Retry-After`, stalled, malformed or dropped streams, 401). It counts
//! calls per model and per [`ScenarioKind`] and logs every [`RecordedRequest`] with
//! credentials redacted. Successful streams are rendered from `.jsonl` fixtures in
//! `testkit/fixtures/`.
//!
//! ```no_run
//! # async fn demo() {
//! use testkit::{FakeProvider, Scenario};
//! let fake = FakeProvider::start().await;
//! fake.script("m1", [Scenario::status(500), Scenario::reply("hello")]);
//! // point a client at fake.base_url() ...
//! assert_eq!(fake.calls("m1"), 0);
//! fake.shutdown().await;
//! # }
//! ```

mod anthropic;
mod embeddings;
mod error;
mod fixtures;
mod gemini;
mod listing;
mod openai;
pub mod postgres;
mod record;
pub mod redis;
mod respond;
mod responses;
mod scenario;
mod script;
mod server;
mod sse;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use anthropic::cache_mark_paths;
pub use error::Error;
pub use record::{RecordedRequest, Wire, REDACTED};
pub use scenario::{Release, Scenario, ScenarioKind, Usage};

use crate::fixtures::Fixtures;
use crate::server::Shared;

/// A running fake provider. Dropping it stops the server; [`FakeProvider::shutdown`] also
/// waits for it to finish.
#[derive(Debug)]
pub struct FakeProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl FakeProvider {
    /// Starts the fake on `127.0.0.1:0`.
    ///
    /// # Panics
    ///
    /// If loopback port 0 cannot be bound, which means the test machine is broken; use
    /// [`FakeProvider::try_start`] to handle that instead.
    #[expect(
        clippy::expect_used,
        reason = "test-only helper: failing to bind loopback port 0 should fail the test loudly"
    )]
    pub async fn start() -> FakeProvider {
        Self::try_start()
            .await
            .expect("testkit: bind the fake provider to 127.0.0.1:0")
    }

    /// Starts the fake on `127.0.0.1:0`, reporting bind failures.
    pub async fn try_start() -> Result<FakeProvider, Error> {
        Self::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts the fake on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<FakeProvider, Error> {
        let fixtures = Fixtures::load()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared::new(fixtures, shutdown.clone()));
        let app = server::app(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        });
        Ok(FakeProvider {
            addr: local,
            shared,
            server: Some(server),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`: the base URL of the Anthropic and Gemini APIs, whose paths
    /// start with `/v1/messages` and `/v1beta/models/`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:{port}/v1`: the base URL as OpenAI clients expect it.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }

    /// Appends scenarios to `model`'s queue: each request for `model` plays the next one, and
    /// once the queue is empty the model answers its standing scenario (see
    /// [`FakeProvider::always`]) or [`Scenario::echo`].
    pub fn script(&self, model: &str, scenarios: impl IntoIterator<Item = Scenario>) {
        self.shared.script().push(model, scenarios);
    }

    /// Makes `model` answer `scenario` whenever its queue is empty, such as a model that is
    /// always down.
    pub fn always(&self, model: &str, scenario: Scenario) {
        self.shared.script().set_standing(model, scenario);
    }

    /// Requests received that named `model` (in the body, or the path for Gemini), including
    /// those rejected for missing credentials or fields.
    pub fn calls(&self, model: &str) -> usize {
        self.shared.script().calls(model)
    }

    /// Scenarios of `kind` played so far, over all models.
    pub fn calls_with(&self, kind: ScenarioKind) -> usize {
        self.shared.script().calls_with(kind)
    }

    /// Makes the list-models endpoints (`GET /v1/models`, `GET /v1beta/models`) answer these
    /// models, each with an optional shutdown date (`YYYY-MM-DD`, as OpenAI lists it); `None`
    /// (the default) answers 404, as a server without the endpoint does.
    pub fn offer_models(&self, models: Option<&[(&str, Option<&str>)]>) {
        self.shared.set_offered(models.map(|m| {
            m.iter()
                .map(|(id, date)| ((*id).to_owned(), date.map(str::to_owned)))
                .collect()
        }));
    }

    /// Requests to the list-models endpoints so far (answered or not).
    pub fn list_reads(&self) -> usize {
        self.shared.list_reads()
    }

    /// Scenarios still queued for `model`.
    pub fn pending(&self, model: &str) -> usize {
        self.shared.script().pending(model)
    }

    /// Every request received so far, in arrival order, with credentials redacted.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.script().requests().to_vec()
    }

    /// Stops accepting connections, ends stalled and delayed answers, and waits for the
    /// server task to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(server) = self.server.take() {
            // The server's own result does not matter to a test that is tearing down.
            let _ = server.await;
        }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}
