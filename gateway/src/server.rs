//! Starting and stopping the gateway: [`spawn`] (tests and embedding), [`run`] (the CLI's
//! `switchyard serve`), and [`load_classifier`] for the encoder service.
//!
//! Shutdown order: the token fires, axum stops accepting and drains in-flight connections,
//! the request tracker is closed and awaited (streams and detached request work finish and
//! write their outcomes), then the outcome log commits and its writer stops.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Auth, AuthClock, SharedCounters};
use crate::config::Config;
use crate::error::Error;
use crate::http::app;
use crate::metrics::Metrics;
use crate::outcome::OutcomeLog;
use crate::state::AppState;

/// A gateway serving on a socket.
#[derive(Debug)]
pub struct RunningGateway {
    local_addr: SocketAddr,
    token: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    state: AppState,
}

impl RunningGateway {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state (metrics, outcome log, router).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The outcome log; `flush().await` makes rows of finished requests readable.
    pub fn outcome_log(&self) -> &OutcomeLog {
        &self.state.log
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.state.metrics
    }

    /// The token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Waits until every request task started so far (streams included) has finished and
    /// written its outcome, without stopping the server.
    pub async fn wait_idle(&self) {
        let tracker = &self.state.tracker;
        tracker.close();
        tracker.wait().await;
        tracker.reopen();
    }

    /// Stops accepting, drains, waits for request tasks, flushes the outcome log.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.token.cancel();
        self.wait().await
    }

    /// Waits for the shutdown token (cancelled elsewhere), then shuts down in order. Requests
    /// still running after `server.shutdown_grace` have their streams ended with an error
    /// event so that shutdown cannot hang on a stalled upstream.
    pub async fn wait(self) -> Result<(), Error> {
        let mut server = self.server;
        self.token.cancelled().await;
        let grace = self.state.config.server.shutdown_grace;
        let served = match tokio::time::timeout(grace, &mut server).await {
            Ok(served) => served,
            Err(_) => {
                tracing::warn!(?grace, "Shutdown grace period over; ending open streams.");
                self.state.hard_stop.cancel();
                server.await
            }
        };
        // Judged requests still waiting are abandoned: labels are best effort, and shutdown
        // must not wait for a queue of LLM calls.
        if let Some(judge) = &self.state.judge {
            judge.stop();
        }
        self.state.tracker.close();
        self.state.tracker.wait().await;
        if let Some(shared) = self.state.auth.shared() {
            shared.abandon_deferred();
        }
        self.state.log.close().await;
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Serve { source }),
            Err(e) => Err(Error::Serve {
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

/// Starts the gateway on `listener` (bind `127.0.0.1:0` in tests). `classifier` is the encoder
/// service; `None` routes on catalog priors.
pub async fn spawn(
    config: Config,
    listener: TcpListener,
    classifier: Option<classifier::Service>,
) -> Result<RunningGateway, Error> {
    spawn_with_clock(config, listener, classifier, AuthClock::system()).await
}

/// Logs what the providers' model lists said about the candidates.
fn report_discovery(found: &crate::upstream::discovery::Discovery) {
    for w in &found.withdrawn {
        tracing::warn!(model = %w.model, reason = %w.reason, "Left out of auto: its provider no longer offers it.");
    }
    for (model, provider, date) in &found.shutting_down {
        tracing::warn!(model = %model, provider = %provider, shutdown = %date, "The provider announces this candidate's shutdown.");
    }
    for (provider, error) in &found.unlisted {
        tracing::info!(provider = %provider, error = %error, "Could not read the provider's model list; its models stay candidates.");
    }
}

/// [`spawn`] with the clock of client-key rate windows and budget periods (tests pass
/// [`AuthClock::manual`] and move it forward instead of sleeping).
pub async fn spawn_with_clock(
    config: Config,
    listener: TcpListener,
    classifier: Option<classifier::Service>,
    clock: AuthClock,
) -> Result<RunningGateway, Error> {
    let local_addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.server.bind,
        source,
    })?;
    let metrics = Arc::new(Metrics::new());
    // Before the outcome log opens, so that a refused Redis stops the start with nothing to
    // close.
    let shared = match &config.redis {
        Some(redis) => Some(Arc::new(
            SharedCounters::connect(redis, clock.clone(), Arc::clone(&metrics))
                .await
                .map_err(|source| Error::RedisUnavailable { source })?,
        )),
        None => None,
    };
    let log = OutcomeLog::open(&config.log, Arc::clone(&metrics))?;
    let auth = Auth::open_with(config.log.location(), clock, shared, Arc::clone(&metrics))?;
    auth.seed_shared().await;
    if !local_addr.ip().is_loopback() && !auth.configured() {
        if !config.server.allow_unauthenticated {
            log.close().await;
            return Err(Error::Unauthenticated { addr: local_addr });
        }
        tracing::warn!(
            addr = %local_addr,
            "Serving without client keys on a non-loopback address (allow_unauthenticated = true): anyone who can reach it spends the provider keys."
        );
    }
    let mut config = config;
    let upstreams = crate::state::build_upstreams(&config)?;
    if let Some(timeout) = config.router.discover_models {
        let now_ms = crate::clock::unix_ms();
        let found =
            crate::upstream::discovery::discover(&config, &upstreams, timeout, now_ms).await;
        report_discovery(&found);
        let fallback = &config.router.fallback_model;
        if found.withdrawn.iter().any(|w| &w.model == fallback) {
            tracing::warn!(model = %fallback, "The static fallback model is not offered by its provider: requests the encoder cannot score in time will fail over from it. Set [router] fallback_model to a model that is.");
        }
        config.router.availability = found.availability(&Default::default());
    }
    let state = AppState::with_upstreams(config, upstreams, classifier, log, metrics, auth)?;
    let live = state.router.candidates();
    let candidates: Vec<&str> = live.iter().map(|m| m.as_str()).collect();
    if state.config.cache.semantic && state.router.classifier().is_none() {
        tracing::warn!(
            "[cache] semantic = true, but no encoder runs (no router artifact and no encoder weights): only exact repeats are answered from the cache."
        );
    }
    // One line per configured provider whose key variable is unset or empty (a typo in the
    // variable or in the environment file would otherwise drop its models without a word).
    for provider in state.config.providers_without_key() {
        tracing::warn!("{provider}");
    }
    if candidates.is_empty() {
        tracing::warn!(
            "No live candidate model: set a provider API key (OPENAI_API_KEY, ...) or configure [[providers]]."
        );
    }
    tracing::info!(
        addr = %local_addr,
        candidates = ?candidates,
        predictor = state.router.has_predictor(),
        exploration = ?state.router.exploration(),
        admin = state.config.admin_token.is_some() || state.config.admin_key_sha256.is_some(),
        client_keys = state.auth.keys().len(),
        judge = ?state.config.judge.as_ref().map(|j| j.model.as_str()),
        outcome_log = %state.log.location(),
        "Gateway listening."
    );
    if let (Some(var), None, None) = (
        &state.config.admin_token_env,
        &state.config.admin_token,
        &state.config.admin_key_sha256,
    ) {
        tracing::warn!(
            var = %var,
            "[admin] token_env names an unset or empty variable; admin endpoints are disabled."
        );
    }
    let token = CancellationToken::new();
    if let (Some(timeout), Some(every)) = (
        state.config.router.discover_models,
        state.config.router.rediscover_every,
    ) {
        crate::upstream::rediscovery::spawn(&state, every, timeout, token.clone());
    }
    crate::cache::follow_evictions(&state, token.clone());
    let router = app(state.clone());
    let limits = crate::connections::Limits {
        header_read_timeout: state.config.server.header_read_timeout,
        idle_timeout: state.config.server.idle_timeout,
        max_connections: state.config.server.max_connections,
        http2_max_concurrent_streams: state.config.server.http2_max_concurrent_streams,
    };
    // The server task lives in its own tracker: the request tracker must be awaited only after
    // the server has drained.
    let server = TaskTracker::new().spawn(crate::connections::serve(
        listener,
        router,
        limits,
        token.clone(),
        state.hard_stop.clone(),
    ));
    Ok(RunningGateway {
        local_addr,
        token,
        server,
        state,
    })
}

/// Binds `config.server.bind` and serves until `shutdown` is cancelled, then shuts down in
/// order (drain, request tasks, outcome log).
pub async fn run(
    config: Config,
    classifier: Option<classifier::Service>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let addr = config.server.bind;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let running = spawn(config, listener, classifier).await?;
    let token = running.shutdown_token();
    let forward = shutdown.clone();
    tokio::select! {
        _ = forward.cancelled() => token.cancel(),
        _ = token.cancelled() => {}
    }
    running.wait().await
}

/// Loads the encoder from `encoder_dir` and the predictor artifact named by
/// `[router] artifact`, and starts the encoder service. Returns `None` (routing on priors)
/// when the encoder directory does not exist, or when no artifact is configured and the admin
/// endpoints are off. Without an artifact but with an admin token, the service starts without
/// a predictor: requests route on priors (nothing is encoded) until `POST /admin/reload`
/// installs one, so a cold-started gateway can learn without a restart. Blocking: call it
/// before serving, off the async runtime (or from `spawn_blocking` once at start-up).
///
/// The encoder runs with the artifact's settings ([`classifier::predictors::Manifest::encoder_config`]:
/// its token budget and pooled layers), so that prompts are embedded as its training prompts
/// were; `unconfigured` applies only when no artifact is configured. A later reload must
/// match them (see [`crate::routing::reload::check_manifest`]).
pub fn load_classifier(
    config: &Config,
    encoder_dir: &Path,
    service: classifier::ServiceConfig,
    unconfigured: classifier::EncoderConfig,
) -> Result<Option<classifier::Service>, Error> {
    let Some((encoder, service)) =
        load_encoder_service(config, encoder_dir, service, unconfigured)?
    else {
        return Ok(None);
    };
    settle_int8(config, &encoder, &service);
    Ok(Some(service))
}

/// [`load_classifier`] without the int8 gate, returning the encoder too (with int8 weights
/// when `[router] encoder_weights` asks for them): `switchyard bench int8` runs the gate on a
/// benchmark sample instead of the bundled one.
pub fn load_encoder_service(
    config: &Config,
    encoder_dir: &Path,
    service: classifier::ServiceConfig,
    unconfigured: classifier::EncoderConfig,
) -> Result<Option<(Arc<classifier::Encoder>, classifier::Service)>, Error> {
    let mut encoder_config = unconfigured;
    let mut adapter = None;
    let mut prompt_features = false;
    let artifact: Option<Arc<classifier::predictors::Artifact>> = match &config.router.artifact {
        None => None,
        Some(dir) => {
            let load_error = |source| Error::ArtifactLoad {
                path: dir.clone(),
                source: Box::new(source),
            };
            let artifact = classifier::predictors::Artifact::load(dir).map_err(load_error)?;
            encoder_config = artifact
                .manifest()
                .encoder_config(dir)
                .map_err(load_error)?;
            adapter = artifact.manifest().load_adapter(dir).map_err(load_error)?;
            prompt_features = artifact.manifest().prompt_features();
            Some(Arc::new(artifact))
        }
    };
    if artifact.is_none() {
        // The encoder still runs: the task classifier reads its embedding for task-aware
        // priors, and an admin reload can install a predictor later.
        tracing::info!(
            "No predictor artifact configured; routing on task-aware catalog priors{}.",
            if config.admin_token.is_some() {
                " until one is loaded through POST /admin/reload or SIGHUP"
            } else {
                ""
            }
        );
    }
    if !encoder_dir.exists() {
        tracing::warn!(
            dir = %encoder_dir.display(),
            "Encoder weights not found (run `switchyard model fetch`); routing on catalog priors."
        );
        return Ok(None);
    }
    let mut encoder = classifier::Encoder::load(encoder_dir, encoder_config).map_err(|source| {
        Error::EncoderLoad {
            path: encoder_dir.to_owned(),
            source: Box::new(source),
        }
    })?;
    if let Some(adapter) = adapter {
        tracing::info!(
            rank = adapter.rank,
            "Routing adapter from the router artifact appended to every embedding."
        );
        encoder = encoder.with_adapter(adapter);
    }
    if prompt_features {
        tracing::info!(
            "Prompt statistics appended to every embedding, as the router artifact was trained."
        );
        encoder = encoder.with_prompt_features();
    }
    let int8 = config.router.encoder_weights == crate::config::EncoderWeights::Int8;
    if int8 {
        encoder = encoder.with_int8_weights();
    }
    if let (Some(dir), Some(artifact)) = (&config.router.artifact, &artifact) {
        // Same checks as a hot reload, but only a warning here so that existing deployments
        // keep starting; the fix is in the message. Except embeddings of another length: such
        // a predictor never gives an estimate, and every request would quietly route on its
        // training means as if it had.
        let running = crate::routing::reload::RunningEncoder::of_encoder(&encoder);
        match crate::routing::reload::check_manifest(
            artifact.manifest(),
            dir,
            &running,
            &config.catalog,
        ) {
            Ok(()) => {}
            Err(e @ crate::routing::reload::ReloadError::DimensionMismatch { .. }) => {
                return Err(Error::ArtifactUnusable {
                    source: Box::new(e),
                });
            }
            Err(e) => tracing::warn!(error = %e, "Router artifact would be refused on reload."),
        }
    }
    let predictor = artifact.map(|a| a as Arc<dyn router_core::QualityPredictor>);
    tracing::info!(
        max_tokens = encoder_config.max_tokens,
        extra_layers = %encoder_config.extra_layers.label(),
        "Encoder settings (from the router artifact when one is configured)."
    );
    // The first forward pass allocates and faults in the weights; paying it here keeps the
    // first routed request inside the routing deadline instead of on the static fallback.
    if let Err(e) = encoder.encode(&["warm-up"]) {
        tracing::warn!(error = %e, "Encoder warm-up failed");
    }
    // The service predicts cost from estimated token counts, capped like the encoder caps them.
    let service = classifier::ServiceConfig {
        max_tokens: encoder.config().max_tokens,
        ..service
    };
    let encoder = Arc::new(encoder);
    let embedder: Arc<dyn router_core::Embedder> = Arc::clone(&encoder) as _;
    let service = classifier::Service::start(embedder, predictor, service).map_err(|e| {
        Error::ClassifierStart {
            message: e.to_string(),
        }
    })?;
    service.set_task_classifier(bundled_task_classifier());
    Ok(Some((encoder, service)))
}

/// Decides what an encoder loaded by [`load_encoder_service`] serves with and returns whether
/// it is int8: where int8 was asked for, the gate runs on the bundled sample with this
/// gateway's routing, and the encoder goes back to f32 when int8 does not pass, cannot be
/// checked, or cannot be fast on this CPU.
pub fn settle_int8(
    config: &Config,
    encoder: &classifier::Encoder,
    service: &classifier::Service,
) -> bool {
    if !encoder.int8() {
        return false;
    }
    if !classifier::Encoder::int8_accelerated() {
        // The portable loop computes the same integers about 5× slower than f32 (measured on
        // an AVX2-only EPYC): no accuracy check can make that worth serving, so skip the gate
        // and its startup time.
        encoder.serve_int8(false);
        tracing::warn!(
            "encoder_weights = \"int8\" needs AVX-512 VNNI, which this CPU lacks (int8 would be \
             slower than f32 here); serving f32. `switchyard bench int8` still measures int8's \
             accuracy on this CPU."
        );
        return false;
    }
    let sample = classifier::int8_gate::bundled_sample();
    let texts: Vec<&str> = sample.iter().map(String::as_str).collect();
    match crate::routing::int8_gate::measure(config, encoder, service, &texts) {
        Ok(gate) => match gate.refusal() {
            None => tracing::info!(
                prompts = gate.prompts,
                min_cosine = gate.min_cosine,
                same_decision = gate.same_decision,
                f32_s = gate.f32_seconds,
                int8_s = gate.int8_seconds,
                "int8 encoder weights passed the gate; serving int8."
            ),
            Some(reason) => {
                encoder.serve_int8(false);
                tracing::warn!(
                    prompts = gate.prompts,
                    min_cosine = gate.min_cosine,
                    same_decision = gate.same_decision,
                    "int8 encoder weights refused by the gate ({reason}); serving f32."
                );
            }
        },
        Err(e) => {
            encoder.serve_int8(false);
            tracing::warn!(error = %e, "int8 gate could not run; serving f32.");
        }
    }
    encoder.int8()
}

/// The bundled task classifier (task-aware priors for models no predictor knows), when it
/// matches the encoder; otherwise candidates without a trained estimate use flat priors.
fn bundled_task_classifier() -> Option<Arc<classifier::predictors::TaskClassifier>> {
    let checked = classifier::predictors::TaskClassifier::bundled_for(
        classifier::weights::MODEL_SHA256,
        classifier::EMBEDDING_DIM,
    );
    match checked {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            tracing::warn!(error = %e, "Bundled task classifier unusable; unknown models route on flat priors.");
            None
        }
    }
}
