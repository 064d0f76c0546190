//! [`AppState`]: everything the handlers share.

use std::sync::Arc;
use std::time::Duration;

use router_core::{ModelId, Objective};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Auth, AuthClock};
use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::outcome::OutcomeLog;
use crate::routing::{Router, Split};
use crate::upstream::build_provider;
use crate::upstream::circuit_breaker::CircuitBreaker;
use crate::upstream::deployments::Deployments;
use crate::upstream::failover::{Failover, Upstream, Upstreams};

/// Shared state of a running gateway; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// The fields behind [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// The validated configuration.
    pub config: Config,
    /// The catalog.
    pub catalog: Arc<models::Catalog>,
    /// The router.
    pub router: Router,
    /// Live providers.
    pub upstreams: Upstreams,
    /// Models served by several providers or keys, with their breakers and latencies.
    pub deployments: Deployments,
    /// The outcome log.
    pub log: OutcomeLog,
    /// Client keys, rate limits and budgets.
    pub auth: Auth,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Request work that must outlive a client disconnect.
    pub tracker: TaskTracker,
    /// Fired when the shutdown grace period is over: open streams end with an error event.
    pub hard_stop: CancellationToken,
    /// Candidates for offline decisions (`/v1/route` with no live provider).
    pub offline_pool: Vec<ModelId>,
    /// The artifact directory the predictor was last loaded from (`[router] artifact`, then
    /// each successful reload). The lock also serialises reloads.
    pub active_artifact: tokio::sync::Mutex<Option<std::path::PathBuf>>,
    /// The judge (`[judge]`), when configured.
    pub judge: Option<crate::judge::Judge>,
    /// The response cache (`[cache]`), when enabled.
    pub cache: Option<crate::cache::ResponseCache>,
    /// Which model made each tool call relayed ([`crate::routing::tool_loops`]).
    pub tool_loops: crate::routing::tool_loops::ToolLoops,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A handle on the state that does not keep it alive: a background loop holding one ends
/// with the gateway, even one dropped without a shutdown.
pub(crate) struct WeakState(std::sync::Weak<Inner>);

impl AppState {
    pub(crate) fn downgrade(&self) -> WeakState {
        WeakState(Arc::downgrade(&self.0))
    }
}

impl WeakState {
    /// The state, while the gateway still holds it.
    pub(crate) fn upgrade(&self) -> Option<AppState> {
        self.0.upgrade().map(AppState)
    }
}

/// How long to wait for a TCP connection to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP client, and an adapter with its circuit breaker for every live provider of
/// `config` (a provider whose adapter cannot be built is skipped with a warning).
pub(crate) fn build_upstreams(config: &Config) -> Result<Upstreams, Error> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        // A provider's 3xx is an error naming the new address, never followed: on a hop to
        // another host reqwest keeps `x-api-key` / `x-goog-api-key` and, for 307/308, re-sends
        // the prompt (`UpstreamError::redirect`).
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|source| Error::HttpClient { source })?;
    let mut upstreams = Upstreams::default();
    for p in config.providers.iter().filter(|p| p.live) {
        match build_provider(
            p.kind,
            client.clone(),
            p.base_url.clone(),
            p.api_key.clone(),
            config.server.upstream_response_limit_bytes,
            &upstreams.memos,
            p.prompt_cache,
        ) {
            Ok(provider) => upstreams.insert(Upstream {
                id: p.name.clone(),
                responses_api: serves_responses_api(p.name.as_str(), &p.base_url),
                provider,
                breaker: CircuitBreaker::new(config.circuit_breaker),
                cooldowns: crate::upstream::cooldown::Cooldowns::default(),
            }),
            Err(e) => {
                tracing::warn!(provider = %p.name, error = %e, "Provider skipped.");
            }
        }
    }
    Ok(upstreams)
}

/// Whether a provider serves OpenAI's Responses API: the provider named `openai`, or one at
/// OpenAI's or Azure OpenAI's address. Other OpenAI-dialect servers (OpenRouter, vLLM,
/// company proxies under another name) get Chat Completions.
fn serves_responses_api(name: &str, base_url: &str) -> bool {
    let host = base_url
        .split("://")
        .nth(1)
        .unwrap_or(base_url)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    name == "openai" || host == "api.openai.com" || host.ends_with(".openai.azure.com")
}

impl AppState {
    /// Builds the state: HTTP client, provider adapters (live providers only), breakers and
    /// router. `classifier` is the encoder service (with its predictor), when one is loaded.
    /// Client-key limits count in process even with `[redis]`: connecting is async, which
    /// [`crate::spawn`] does.
    pub fn new(
        config: Config,
        classifier: Option<classifier::Service>,
        log: OutcomeLog,
        metrics: Arc<Metrics>,
    ) -> Result<AppState, Error> {
        let auth = Auth::open_with(
            config.log.location(),
            AuthClock::system(),
            None,
            Arc::clone(&metrics),
        )?;
        AppState::with_auth(config, classifier, log, metrics, auth)
    }

    /// [`AppState::new`] with the client keys already opened (e.g. on a manual clock).
    pub fn with_auth(
        config: Config,
        classifier: Option<classifier::Service>,
        log: OutcomeLog,
        metrics: Arc<Metrics>,
        auth: Auth,
    ) -> Result<AppState, Error> {
        let upstreams = build_upstreams(&config)?;
        AppState::with_upstreams(config, upstreams, classifier, log, metrics, auth)
    }

    /// [`AppState::with_auth`] over adapters already built from `config` (start-up reads the
    /// providers' model lists through them first).
    pub(crate) fn with_upstreams(
        config: Config,
        upstreams: Upstreams,
        classifier: Option<classifier::Service>,
        log: OutcomeLog,
        metrics: Arc<Metrics>,
        auth: Auth,
    ) -> Result<AppState, Error> {
        let deployments = Deployments::new(&config.deployments, config.circuit_breaker);
        let catalog = Arc::new(config.catalog.clone());
        let candidates: Vec<ModelId> = config
            .candidates
            .iter()
            .filter(|m| deployments.serves(m, &catalog, &upstreams))
            .cloned()
            .collect();
        let offline_pool = match &config.router.candidates {
            Some(c) => c.clone(),
            None => catalog.entries().map(|e| e.spec.id.clone()).collect(),
        };
        // Arms' artifacts are loaded and checked now: a bad one stops the start, naming it.
        let split = config
            .experiment
            .as_ref()
            .map(|e| Split::load(e, classifier.as_ref(), &catalog))
            .transpose()?;
        let router = Router::new(
            Arc::clone(&catalog),
            candidates,
            config.router.fallback_model.clone(),
            config.router.routing_deadline,
            classifier,
            Arc::clone(&metrics),
        )
        .with_exploration(config.router.exploration, config.router.exploration_seed)
        .with_availability(config.router.availability.clone())
        .with_experiment(split);
        let active_artifact = tokio::sync::Mutex::new(config.router.artifact.clone());
        let judge = config
            .judge
            .clone()
            .map(|j| crate::judge::Judge::new(j, &config.log.location()));
        // Entries age on the keys' clock, so that tests with a manual clock move TTLs too.
        let cache = crate::cache::ResponseCache::new(
            &config.cache,
            auth.clock().clone(),
            auth.shared().cloned(),
        );
        // One tracker for request work and the shared-budget settlements it leaves, so that
        // shutdown and `wait_idle` wait for both.
        let tracker = auth.tracker().clone();
        let tool_loop_affinity = config.router.tool_loop_affinity;
        let tool_loops =
            crate::routing::tool_loops::ToolLoops::new(tool_loop_affinity, auth.shared().is_some());
        Ok(AppState(Arc::new(Inner {
            config,
            catalog,
            router,
            upstreams,
            deployments,
            log,
            auth,
            metrics,
            tracker,
            hard_stop: CancellationToken::new(),
            offline_pool,
            active_artifact,
            judge,
            cache,
            tool_loops,
        })))
    }

    /// The failover walker over this state.
    pub fn failover(&self) -> Failover<'_> {
        Failover::new(
            &self.config,
            &self.catalog,
            &self.upstreams,
            &self.deployments,
            &self.metrics,
            &self.hard_stop,
        )
    }

    /// The default objective.
    pub fn objective(&self) -> Objective {
        self.config.objective
    }
}

#[cfg(test)]
mod responses_api_tests {
    use super::serves_responses_api;

    #[test]
    fn only_openai_and_azure_openai_serve_the_responses_api() {
        assert!(serves_responses_api("openai", "http://127.0.0.1:9/v1"));
        assert!(serves_responses_api("main", "https://api.openai.com/v1"));
        assert!(serves_responses_api(
            "azure",
            "https://acme.openai.azure.com/openai/v1"
        ));
        assert!(!serves_responses_api(
            "openrouter",
            "https://openrouter.ai/api/v1"
        ));
        assert!(!serves_responses_api("proxy", "http://litellm:4000/v1"));
    }
}
