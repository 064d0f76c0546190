//! Gateway configuration: the raw TOML schema ([`GatewayConfig`]) and the validated, resolved
//! [`Config`] that [`Config::load`] builds from it (catalog loaded, API keys read from the
//! environment, live candidates computed, cross-checks done).
//!
//! `config/example.toml` documents every field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use router_core::{Exploration, ModelId, Objective, ProviderId};
use serde::Deserialize;

use crate::error::Error;
use crate::secret::Secret;
use crate::upstream::ProviderKind;

/// The raw config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The file this config was read from (set by [`GatewayConfig::load`] and
    /// [`GatewayConfig::from_toml_str`]); [`Config::resolve`] names it in its errors.
    #[serde(skip)]
    pub origin: Option<PathBuf>,
    /// `[server]`.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[[providers]]`; when empty, providers come from environment variables.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// `[router]`.
    #[serde(default)]
    pub router: RouterConfig,
    /// `[timeouts]`.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// `[retries]`.
    #[serde(default)]
    pub retries: RetriesConfig,
    /// `[circuit_breaker]`.
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerConfig,
    /// `[log]`.
    #[serde(default)]
    pub log: LogConfig,
    /// `[catalog]`.
    #[serde(default)]
    pub catalog: CatalogFileConfig,
    /// `[admin]`.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[judge]`: an LLM grading a sample of answers; absent = off.
    #[serde(default)]
    pub judge: Option<JudgeConfig>,
    /// `[cache]`: the exact-match response cache; off by default.
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[guardrails]`: masking or refusing personal data and secrets; absent = off.
    #[serde(default)]
    pub guardrails: Option<GuardrailsConfig>,
    /// `[[embeddings]]`: models `POST /v1/embeddings` passes through; absent = OpenAI's
    /// embeddings models on the provider named `openai`, when there is one.
    #[serde(default)]
    pub embeddings: Option<Vec<EmbeddingsModelConfig>>,
    /// `[experiment]`: an A/B split of `auto` traffic between router artifacts; absent = off.
    #[serde(default)]
    pub experiment: Option<ExperimentConfig>,
    /// `[[deployments]]`: a catalog model served by several providers or keys.
    #[serde(default)]
    pub deployments: Vec<DeploymentConfig>,
    /// `[balancing]`: how a model's deployments are ordered.
    #[serde(default)]
    pub balancing: BalancingConfig,
    /// `[[rules]]`: pin, allow or deny models by request metadata, before the policy runs.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// `[redis]`: share rate limits and budgets between replicas; absent = in process.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_body_limit_bytes")]
    pub body_limit_bytes: usize,
    /// On shutdown, how long in-flight requests may finish before open streams are ended
    /// with an error event.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Longest time a client may take to send a request's headers; also how long a kept-alive
    /// connection may wait for its next request's headers. Slow or half-sent headers close
    /// the connection.
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Longest time a client may take to send a request's body once its headers arrived
    /// (answered 408).
    #[serde(default = "default_body_read_timeout", with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// A connection with no bytes moving either way for this long is closed (after its
    /// in-flight request, if any, is answered).
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most client connections served at once; further connections wait in the listen
    /// backlog until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Most requests in flight at once on one HTTP/2 connection (its concurrent streams); with
    /// `max_connections` it bounds the requests an HTTP/2 client can start.
    #[serde(default = "default_http2_max_concurrent_streams")]
    pub http2_max_concurrent_streams: u32,
    /// Largest upstream answer relayed, in bytes: a non-streamed body, or a stream's total
    /// events. A bigger non-streamed answer fails over to the next candidate (502
    /// `upstream_too_large` when none is left); a stream past it ends with an error event.
    #[serde(default = "default_upstream_response_limit_bytes")]
    pub upstream_response_limit_bytes: usize,
    /// Serve on a non-loopback address even when no client key exists (anyone who can reach
    /// the port spends the provider keys). Default false: such a gateway refuses to start.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Browser origins allowed to call the gateway (CORS), e.g. `["https://app.example.com"]`.
    /// Default empty: no CORS headers, so browsers block cross-origin reads.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Extra `Host` header values accepted on a loopback bind (besides `localhost`,
    /// `127.0.0.1` and `[::1]`), e.g. the name a local reverse proxy forwards. Other hosts get
    /// 403, which stops DNS-rebinding attacks from web pages.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Threads of the async runtime that serves HTTP (`switchyard serve`). Absent or 0: one on
    /// machines with one or two cores, one per core above. On two cores a second HTTP thread
    /// mostly wakes up to find nothing to steal: measured, one thread costs a quarter less
    /// CPU per request with no loss of throughput (docs/performance.md, "HTTP threads"). At
    /// most [`MAX_WORKER_THREADS`].
    #[serde(default)]
    pub worker_threads: Option<usize>,
    /// A streamed request still waiting for its first token after this long gets its `200`
    /// and SSE comments (`: keep-alive`) at this interval until the answer starts, so that a
    /// proxy's or load balancer's idle timeout (60 s on nginx and AWS ALB) does not cut a
    /// model that thinks for minutes. A failure after that point ends the stream with an
    /// error event instead of an HTTP error status. `0s` turns it off.
    #[serde(default = "default_stream_keepalive", with = "humantime_serde")]
    pub stream_keepalive: Duration,
}

/// The most `[server] worker_threads`: far more than the cores of any machine the gateway runs
/// on (one per core is the most that helps), and far below the counts whose thread stacks
/// cannot be set up (100,000 aborted the process while starting the runtime).
pub const MAX_WORKER_THREADS: usize = 1024;

impl ServerConfig {
    /// The HTTP runtime's thread count on a machine with `cores` cores (see
    /// [`ServerConfig::worker_threads`]).
    pub fn http_threads(&self, cores: usize) -> usize {
        match self.worker_threads {
            Some(n) if n > 0 => n,
            _ if cores <= 2 => 1,
            _ => cores,
        }
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_body_limit_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_body_read_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_max_connections() -> usize {
    4096
}
fn default_http2_max_concurrent_streams() -> u32 {
    100
}
fn default_upstream_response_limit_bytes() -> usize {
    32 * 1024 * 1024
}
fn default_stream_keepalive() -> Duration {
    // Well inside the 60 s idle timeouts of common proxies, and past the first token of every
    // model that does not think first, whose requests therefore keep their HTTP statuses.
    Duration::from_secs(20)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: default_bind(),
            body_limit_bytes: default_body_limit_bytes(),
            shutdown_grace: default_shutdown_grace(),
            header_read_timeout: default_header_read_timeout(),
            body_read_timeout: default_body_read_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: default_max_connections(),
            http2_max_concurrent_streams: default_http2_max_concurrent_streams(),
            upstream_response_limit_bytes: default_upstream_response_limit_bytes(),
            allow_unauthenticated: false,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            worker_threads: None,
            stream_keepalive: default_stream_keepalive(),
        }
    }
}

/// One `[[providers]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The provider id; catalog models whose `provider` equals it are served here.
    pub name: ProviderId,
    /// The API dialect.
    pub kind: ProviderKind,
    /// API base URL, including the version prefix for OpenAI-compatible servers.
    pub base_url: String,
    /// Environment variable holding the API key. Omit for keyless local servers; when set but
    /// the variable is empty or missing, the provider is not live.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Anthropic only: whether the gateway marks prompt-cache breakpoints on requests (the
    /// tools and system prefix, and the conversation so far in multi-turn requests), so that
    /// a repeated prefix is billed at the cache-read price (default: on). OpenAI and Gemini
    /// cache prefixes by themselves; setting this on another kind is an error.
    #[serde(default)]
    pub prompt_cache: Option<bool>,
}

/// `[router]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Directory of a trained predictor artifact; without one, catalog priors are used.
    #[serde(default)]
    pub artifact: Option<PathBuf>,
    /// Default USD per full quality point (λ = 1 / w). Exclusive with `lambda`.
    #[serde(default)]
    pub willingness_to_pay: Option<f64>,
    /// Default λ in quality points per USD. Exclusive with `willingness_to_pay`.
    #[serde(default)]
    pub lambda: Option<f64>,
    /// Longest wait for the encoder before the static fallback is used.
    #[serde(default = "default_routing_deadline", with = "humantime_serde")]
    pub routing_deadline: Duration,
    /// The model used when the router cannot run in time.
    #[serde(default = "default_fallback_model")]
    pub fallback_model: ModelId,
    /// Models `auto` may choose; default: every catalog model with a live provider.
    #[serde(default)]
    pub candidates: Option<Vec<ModelId>>,
    /// Randomised choice among the best few models for `auto` requests, with the exact
    /// propensity logged (default: off).
    #[serde(default)]
    pub exploration: Exploration,
    /// Seed of the exploration draws, for reproducible demos; default: from the OS.
    #[serde(default)]
    pub exploration_seed: Option<u64>,
    /// The encoder's weights: `f32` (default) or `int8` (faster on CPUs with AVX-512 VNNI,
    /// accepted only through the gate at start).
    #[serde(default)]
    pub encoder_weights: EncoderWeights,
    /// Read each live provider's model list at start-up and leave out of `auto` the
    /// candidates it no longer offers (default: on).
    #[serde(default = "default_discover_models")]
    pub discover_models: bool,
    /// Longest wait for one provider's model list.
    #[serde(default = "default_discovery_timeout", with = "humantime_serde")]
    pub discovery_timeout: Duration,
    /// How often the model lists are read again while serving, so that a model withdrawn
    /// (or restored, or given a shutdown date) after start-up is seen; `0s`: only at start.
    #[serde(default = "default_discovery_interval", with = "humantime_serde")]
    pub discovery_interval: Duration,
    /// An `auto` request whose conversation ends in results of tool calls a model made
    /// through this gateway goes to that model (default: on).
    #[serde(default = "default_tool_loop_affinity")]
    pub tool_loop_affinity: bool,
}

fn default_tool_loop_affinity() -> bool {
    true
}
fn default_discover_models() -> bool {
    true
}
fn default_discovery_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_discovery_interval() -> Duration {
    Duration::from_secs(3600)
}

/// `[router] encoder_weights`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderWeights {
    /// The model's own f32 weights.
    #[default]
    F32,
    /// int8 copies of the attention-output and first feed-forward layers, served when the gate (`classifier::int8_gate`)
    /// passes on the bundled sample; f32 otherwise.
    Int8,
}

fn default_routing_deadline() -> Duration {
    Duration::from_millis(50)
}
/// OpenAI's cheapest current model that answers without reasoning by default (effort `none`),
/// so a request the encoder could not score is not also slow. It was gpt-4o-mini, which OpenAI
/// shuts down on 2027-01-14.
fn default_fallback_model() -> ModelId {
    ModelId::new("gpt-5.4-nano")
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            artifact: None,
            willingness_to_pay: None,
            lambda: None,
            routing_deadline: default_routing_deadline(),
            fallback_model: default_fallback_model(),
            candidates: None,
            exploration: Exploration::Off,
            exploration_seed: None,
            encoder_weights: EncoderWeights::F32,
            discover_models: default_discover_models(),
            discovery_timeout: default_discovery_timeout(),
            discovery_interval: default_discovery_interval(),
            tool_loop_affinity: default_tool_loop_affinity(),
        }
    }
}

/// `[timeouts]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Whole request: routing, every attempt and retry wait, until the answer (or a stream's
    /// first token) is ready.
    #[serde(default = "default_request", with = "humantime_serde")]
    pub request: Duration,
    /// One non-streamed attempt.
    #[serde(default = "default_attempt", with = "humantime_serde")]
    pub attempt: Duration,
    /// A streamed attempt until its first token (text, tool call, refusal or finish).
    #[serde(default = "default_ttft", with = "humantime_serde")]
    pub ttft: Duration,
    /// An attempt at a model that thinks before it answers (`upstream::fit::thinks_first`),
    /// until its answer (non-streamed) or first token (streamed), in place of `attempt` and
    /// `ttft` where longer: such models stay silent for minutes on hard prompts (OpenAI's
    /// Chat Completions sends nothing while they reason), and a healthy answer cut at 30 s
    /// is paid for and lost. Like every attempt, bounded by the request's deadline.
    #[serde(default = "default_reasoning", with = "humantime_serde")]
    pub reasoning: Duration,
    /// A stream from its start to its last chunk.
    #[serde(default = "default_total", with = "humantime_serde")]
    pub total: Duration,
    /// A committed stream's longest upstream silence: no byte at all (pings, SSE comments and
    /// thinking deltas count as activity); a stalled upstream ends the stream with an error
    /// event after this instead of holding the client until `total`.
    #[serde(default = "default_idle", with = "humantime_serde")]
    pub idle: Duration,
}

fn default_request() -> Duration {
    Duration::from_secs(300)
}
fn default_attempt() -> Duration {
    Duration::from_secs(120)
}
fn default_ttft() -> Duration {
    Duration::from_secs(30)
}
fn default_reasoning() -> Duration {
    // Four minutes: reasoning models' first token has been measured at 60-120 s on long
    // prompts, and a minute of the request's 300 s stays for a failover.
    Duration::from_secs(240)
}
fn default_total() -> Duration {
    Duration::from_secs(600)
}
fn default_idle() -> Duration {
    Duration::from_secs(60)
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            request: default_request(),
            attempt: default_attempt(),
            ttft: default_ttft(),
            reasoning: default_reasoning(),
            total: default_total(),
            idle: default_idle(),
        }
    }
}

/// `[retries]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetriesConfig {
    /// Most upstream attempts per request, failovers included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// On a 429 from the last remaining candidate, wait its `Retry-After` (if it fits in the
    /// request deadline) and try it once more.
    #[serde(default = "default_true")]
    pub honour_retry_after: bool,
    /// After a 429, the model (on that provider) is skipped for its `Retry-After` (1 s when
    /// it names none), at most this long; `0s` turns it off (`upstream::cooldown`).
    #[serde(default = "default_rate_limit_cooldown", with = "humantime_serde")]
    pub rate_limit_cooldown: Duration,
}

fn default_max_attempts() -> u32 {
    3
}
fn default_rate_limit_cooldown() -> Duration {
    Duration::from_secs(60)
}
fn default_true() -> bool {
    true
}

impl Default for RetriesConfig {
    fn default() -> Self {
        RetriesConfig {
            max_attempts: default_max_attempts(),
            honour_retry_after: true,
            rate_limit_cooldown: default_rate_limit_cooldown(),
        }
    }
}

/// `[circuit_breaker]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Consecutive upstream failures that open a provider's breaker.
    #[serde(default = "default_failures_to_open")]
    pub failures_to_open: u32,
    /// How long an open breaker refuses calls before letting probes through.
    #[serde(default = "default_open_for", with = "humantime_serde")]
    pub open_for: Duration,
    /// Concurrent probe calls allowed while half-open.
    #[serde(default = "default_half_open_probes")]
    pub half_open_probes: u32,
}

fn default_failures_to_open() -> u32 {
    5
}
fn default_open_for() -> Duration {
    Duration::from_secs(30)
}
fn default_half_open_probes() -> u32 {
    1
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failures_to_open: default_failures_to_open(),
            open_for: default_open_for(),
            half_open_probes: default_half_open_probes(),
        }
    }
}

/// What of the prompt the outcome log keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    /// The full prompt text (needed to retrain from logs).
    Full,
    /// A SHA-256 of the prompt.
    #[default]
    Hashed,
    /// Nothing.
    None,
}

/// `[log]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The SQLite outcome database (created if missing). Also holds the client keys. A
    /// relative path resolves against the working directory (as every relative path here),
    /// for `serve` and for the CLI commands that take `--config` alike.
    #[serde(default = "default_sqlite")]
    pub sqlite: PathBuf,
    /// Log to this PostgreSQL database instead of the SQLite file
    /// (`postgres://user:password@host:5432/db`), so that several gateways share one log;
    /// tables are created and migrated at start-up. Printed with the password masked.
    #[serde(default)]
    pub postgres: Option<outcome_log::PgUrl>,
    /// Read the PostgreSQL URL from this environment variable instead (keeps the password
    /// out of the file).
    #[serde(default)]
    pub postgres_env: Option<String>,
    /// What of the prompt is kept.
    #[serde(default)]
    pub privacy: Privacy,
    /// Rows buffered between requests and the writer thread; beyond it a row cannot be
    /// logged and `on_unavailable` decides.
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
    /// Most rows in one group commit. The writer commits as soon as it is free, with every
    /// row queued by then, so an answer waits for at most about one commit.
    #[serde(default = "default_flush_rows")]
    pub flush_rows: usize,
    /// Unused since rows are group-committed before the answer (kept so that older files
    /// still load).
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Sync the WAL to disk on every commit (SQLite `synchronous = FULL`): rows then survive
    /// power loss, not only the process being killed. Costs a disk sync per group.
    #[serde(default)]
    pub fsync: bool,
    /// Longest an answer waits for its row's commit before `on_unavailable` decides.
    #[serde(default = "default_commit_timeout", with = "humantime_serde")]
    pub commit_timeout: Duration,
    /// What to do when a row cannot be committed (channel full, disk error, timeout).
    #[serde(default)]
    pub on_unavailable: LogUnavailable,
    /// Keep this many days of outcomes: older rows, their labels and judge calls are deleted
    /// at start-up and then once a day, in small batches beside the writer (as
    /// `switchyard log prune`). At least 1; pruned rows' spend still counts in budgets.
    /// Absent: keep everything.
    #[serde(default)]
    pub retention_days: Option<u64>,
    /// Cap on the log's size in bytes (a SQLite file's pages in use; on PostgreSQL the
    /// estimated live data of its tables): when it is exceeded, the oldest outcomes are
    /// deleted until the log is at 90 % of it, checked every minute. Their spend stays counted
    /// (budgets, `switchyard spend`). Freed space is reused, so the files stop growing but do
    /// not shrink. At least 16 MiB. Absent: no cap.
    #[serde(default)]
    pub retention_max_bytes: Option<u64>,
    /// With `retention_days` or `retention_max_bytes`, append every deleted row here first
    /// (JSON lines, as `switchyard log export` writes them).
    #[serde(default)]
    pub retention_archive: Option<PathBuf>,
}

/// The smallest `[log] retention_max_bytes`: below it a busy gateway would prune on every
/// check.
pub const MIN_RETENTION_BYTES: u64 = 16 * 1024 * 1024;

/// What to do with a request whose outcome row cannot be committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogUnavailable {
    /// Answer anyway; the row is dropped, counted in
    /// `switchyard_outcome_log_dropped_total` and warned about.
    #[default]
    FailOpen,
    /// Refuse: a non-streamed answer becomes a 503 `outcome_log_unavailable`, a stream ends
    /// with an error event instead of `[DONE]`.
    FailClosed,
}

impl LogConfig {
    /// Where outcomes go: the PostgreSQL database when one is configured, else the file.
    pub fn location(&self) -> outcome_log::Location {
        match &self.postgres {
            Some(url) => outcome_log::Location::Postgres(url.clone()),
            None => outcome_log::Location::Sqlite(self.sqlite.clone()),
        }
    }
}

fn default_sqlite() -> PathBuf {
    PathBuf::from(".switchyard/outcomes.sqlite")
}
fn default_channel_capacity() -> usize {
    4096
}
fn default_flush_rows() -> usize {
    64
}
fn default_flush_interval() -> Duration {
    Duration::from_millis(500)
}
fn default_commit_timeout() -> Duration {
    Duration::from_secs(2)
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            sqlite: default_sqlite(),
            postgres: None,
            postgres_env: None,
            privacy: Privacy::default(),
            channel_capacity: default_channel_capacity(),
            flush_rows: default_flush_rows(),
            flush_interval: default_flush_interval(),
            fsync: false,
            commit_timeout: default_commit_timeout(),
            on_unavailable: LogUnavailable::default(),
            retention_days: None,
            retention_max_bytes: None,
            retention_archive: None,
        }
    }
}

/// `[catalog]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFileConfig {
    /// A user catalog overlaid on the embedded one (same schema as `models/catalog.toml`).
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// A provider with its key resolved.
#[derive(Clone, Debug)]
pub struct ResolvedProvider {
    /// The provider id.
    pub name: ProviderId,
    /// The dialect.
    pub kind: ProviderKind,
    /// API base URL.
    pub base_url: String,
    /// The key, when one is configured and set.
    pub api_key: Option<Secret<String>>,
    /// The environment variable the key is read from (`None`: a keyless server).
    pub api_key_env: Option<String>,
    /// Whether the provider can be called (a required key is present).
    pub live: bool,
    /// Whether the gateway marks prompt-cache breakpoints (Anthropic; default on there).
    pub prompt_cache: bool,
}

/// A configured provider left out because its API key variable is unset or empty
/// ([`Config::providers_without_key`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderWithoutKey<'a> {
    /// Its index in `[[providers]]`.
    pub index: usize,
    /// Its name.
    pub name: &'a ProviderId,
    /// The variable its `api_key_env` names.
    pub var: &'a str,
    /// The catalog models no live provider serves because of it, in catalog order.
    pub models: Vec<ModelId>,
}

impl std::fmt::Display for ProviderWithoutKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "providers[{}] ({}): ${} is not set or empty, so the provider is not used; ",
            self.index, self.name, self.var
        )?;
        const SHOWN: usize = 10;
        match self.models.len() {
            0 => f.write_str("its catalog models are served by other providers")?,
            n => {
                let names: Vec<&str> = self
                    .models
                    .iter()
                    .take(SHOWN)
                    .map(ModelId::as_str)
                    .collect();
                write!(
                    f,
                    "left out of `auto` and refused when requested: {}",
                    names.join(", ")
                )?;
                if n > SHOWN {
                    write!(f, " and {} more", n - SHOWN)?;
                }
            }
        }
        write!(
            f,
            ". Set {} in the gateway's environment (systemd: EnvironmentFile=), or fix providers[{}].api_key_env",
            self.var, self.index
        )
    }
}

/// `[router]` after validation: model names resolved to catalog ids, the objective folded
/// into [`Config::objective`].
#[derive(Clone, Debug)]
pub struct Routing {
    /// Directory of a trained predictor artifact; `None`: catalog priors.
    pub artifact: Option<PathBuf>,
    /// Longest wait for the encoder before the static fallback is used.
    pub routing_deadline: Duration,
    /// The catalog id used when the router cannot run in time.
    pub fallback_model: ModelId,
    /// The configured allow-list of `auto` (catalog ids); `None`: every catalog model.
    pub candidates: Option<Vec<ModelId>>,
    /// Exploration of `auto` decisions.
    pub exploration: Exploration,
    /// Seed of the exploration draws.
    pub exploration_seed: Option<u64>,
    /// The encoder weights asked for.
    pub encoder_weights: EncoderWeights,
    /// Whether start-up checks the candidates against the providers' model lists
    /// ([`crate::upstream::discovery`]), and how long it waits for each list.
    pub discover_models: Option<Duration>,
    /// How often the lists are read again while serving; `None`: only at start (or never,
    /// without `discover_models`).
    pub rediscover_every: Option<Duration>,
    /// Filled at start-up by that check: candidates their providers no longer offer, and
    /// those whose shutdown was announced.
    pub availability: crate::routing::Availability,
    /// Whether tool loops stay on the model that made their calls
    /// ([`crate::routing::tool_loops`]).
    pub tool_loop_affinity: bool,
}

/// The validated configuration the gateway runs with. Built only by [`Config::resolve`]: command
/// line overrides go into the [`GatewayConfig`] before it, so every value here was checked.
///
/// Sections whose raw form needs no translation (`[server]`, `[timeouts]`, `[retries]`,
/// `[circuit_breaker]`, `[log]`) keep their serde type: after the checks in `resolve` the same
/// struct is the validated value, and a second copy of each would only add conversions.
#[derive(Clone, Debug)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[router]`, validated.
    pub router: Routing,
    /// `[timeouts]`: every budget non-zero, attempt and ttft within the request deadline.
    pub timeouts: TimeoutsConfig,
    /// `[retries]`.
    pub retries: RetriesConfig,
    /// `[circuit_breaker]`.
    pub circuit_breaker: CircuitBreakerConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// The catalog (embedded, overlaid with `[catalog] path`).
    pub catalog: models::Catalog,
    /// Every configured provider.
    pub providers: Vec<ResolvedProvider>,
    /// Models `auto` may choose whose provider is live, in catalog order.
    pub candidates: Vec<ModelId>,
    /// The default objective.
    pub objective: Objective,
    /// The admin bearer token (`[admin] token_env`); `None` disables the admin endpoints.
    pub admin_token: Option<Secret<String>>,
    /// The variable `[admin] token_env` names, for the start-up warning when it is unset.
    pub admin_token_env: Option<String>,
    /// The SHA-256 of the admin key (`[admin] key_sha256`), an alternative to `token_env`
    /// that keeps the key itself out of the config and the environment.
    pub admin_key_sha256: Option<[u8; 32]>,
    /// `[judge]`, validated; `None`: no judge.
    pub judge: Option<Judging>,
    /// `[cache]`, validated.
    pub cache: Cache,
    /// `[guardrails]` and its per-key profiles, validated.
    pub guardrails: Guardrails,
    /// Models `POST /v1/embeddings` passes through, with their prices.
    pub embeddings: Vec<EmbeddingsModel>,
    /// `[experiment]`, validated; `None`: off.
    pub experiment: Option<Experiment>,
    /// `[[deployments]]` and `[balancing]`, validated.
    pub deployments: DeploymentPlan,
    /// `[[rules]]`, validated.
    pub rules: crate::routing::rules::Rules,
    /// `[redis]`, validated; `None`: limits and budgets are counted in process.
    pub redis: Option<Redis>,
    /// Whether the providers came from the config file's `[[providers]]` (false: the
    /// environment defaults of [`env_default_providers`]), for the hint of
    /// [`Config::provider_setup_hint`].
    pub providers_from_file: bool,
}

impl GatewayConfig {
    /// Reads `path` (or the defaults when `None`) without validating it: apply command-line
    /// overrides to the result, then [`Config::resolve`] it.
    pub fn load(path: Option<&Path>) -> Result<GatewayConfig, Error> {
        let Some(path) = path else {
            return Ok(GatewayConfig::default());
        };
        let src = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        GatewayConfig::from_toml_str(&src, path)
    }

    /// Parses TOML; `origin` names the source in errors, which carry the field path.
    pub fn from_toml_str(src: &str, origin: &Path) -> Result<GatewayConfig, Error> {
        let de = toml::Deserializer::new(src);
        let mut raw: GatewayConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
            Error::ConfigParse {
                path: origin.to_owned(),
                field,
                message: match line {
                    Some(l) => format!("line {l}: {}", inner.message()),
                    None => inner.message().to_owned(),
                },
            }
        })?;
        raw.origin = Some(origin.to_owned());
        Ok(raw)
    }
}

/// The providers used when the config names none: one per vendor, live when its key is set.
/// `SWITCHYARD_OPENAI_BASE_URL` points the `openai` provider at any OpenAI-compatible server,
/// with `SWITCHYARD_OPENAI_API_KEY` as its optional key.
pub fn env_default_providers(env: &dyn Fn(&str) -> Option<String>) -> Vec<ProviderConfig> {
    let p = |name: &str, kind, base: &str, key: &str| ProviderConfig {
        name: ProviderId::new(name),
        kind,
        base_url: base.to_owned(),
        api_key_env: Some(key.to_owned()),
        prompt_cache: None,
    };
    let openai = match env("SWITCHYARD_OPENAI_BASE_URL").filter(|u| !u.is_empty()) {
        Some(base_url) => ProviderConfig {
            name: ProviderId::new("openai"),
            kind: ProviderKind::Openai,
            base_url,
            api_key_env: env("SWITCHYARD_OPENAI_API_KEY")
                .filter(|k| !k.is_empty())
                .map(|_| "SWITCHYARD_OPENAI_API_KEY".to_owned()),
            prompt_cache: None,
        },
        None => p(
            "openai",
            ProviderKind::Openai,
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
        ),
    };
    vec![
        openai,
        p(
            "anthropic",
            ProviderKind::Anthropic,
            "https://api.anthropic.com",
            "ANTHROPIC_API_KEY",
        ),
        p(
            "google",
            ProviderKind::Gemini,
            "https://generativelanguage.googleapis.com",
            "GEMINI_API_KEY",
        ),
        p(
            "deepseek",
            ProviderKind::Openai,
            "https://api.deepseek.com/v1",
            "DEEPSEEK_API_KEY",
        ),
        p(
            "mistral",
            ProviderKind::Openai,
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
        ),
        p(
            "groq",
            ProviderKind::Openai,
            "https://api.groq.com/openai/v1",
            "GROQ_API_KEY",
        ),
        p(
            "together",
            ProviderKind::Openai,
            "https://api.together.xyz/v1",
            "TOGETHER_API_KEY",
        ),
        p(
            "openrouter",
            ProviderKind::Openai,
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
        ),
    ]
}

/// The longest `router.routing_deadline`: the encoder's wait sits on every `auto` request, so
/// anything near this is for tests and benchmarks that must never fall back.
const MAX_ROUTING_DEADLINE: Duration = Duration::from_secs(600);

/// The longest any other timeout may be: far beyond any use, and far below the values
/// (hundreds of billions of years) at which adding it to the current instant panics.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

fn check_not_absurd(field: &str, d: Duration) -> Result<(), Error> {
    if d > MAX_TIMEOUT {
        return Err(invalid(field, "must be at most 7 days"));
    }
    Ok(())
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::ConfigInvalid {
        path: None,
        field: field.to_owned(),
        message: message.into(),
    }
}

impl Config {
    /// Reads `path` (or uses defaults when `None`), resolves keys from the process
    /// environment and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, Error> {
        Config::resolve_from_env(GatewayConfig::load(path)?)
    }

    /// Validates `raw`, reading keys from the process environment.
    pub fn resolve_from_env(raw: GatewayConfig) -> Result<Config, Error> {
        Config::resolve(raw, &|name| std::env::var(name).ok())
    }

    /// Validates `raw`, reading keys through `env`. A failed cross-check names the file
    /// `raw` was read from ([`GatewayConfig::origin`]).
    pub fn resolve(
        mut raw: GatewayConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        let origin = raw.origin.take();
        Config::resolve_checked(raw, env).map_err(|e| e.in_config_file(origin.as_deref()))
    }

    fn resolve_checked(
        mut raw: GatewayConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        let t = raw.timeouts;
        for (field, d) in [
            ("timeouts.request", t.request),
            ("timeouts.attempt", t.attempt),
            ("timeouts.ttft", t.ttft),
            ("timeouts.reasoning", t.reasoning),
            ("timeouts.total", t.total),
            ("timeouts.idle", t.idle),
        ] {
            if d.is_zero() {
                return Err(invalid(field, "must be greater than zero"));
            }
            check_not_absurd(field, d)?;
        }
        let deadline = raw.router.routing_deadline;
        if deadline.is_zero() || deadline > MAX_ROUTING_DEADLINE {
            // Zero would send every `auto` request to the static fallback without a word.
            return Err(invalid(
                "router.routing_deadline",
                format!(
                    "must be greater than zero and at most {MAX_ROUTING_DEADLINE:?} (the default is 50ms): the encoder's wait before the static fallback"
                ),
            ));
        }
        if t.attempt > t.request {
            return Err(invalid(
                "timeouts.attempt",
                format!(
                    "attempt timeout {:?} exceeds the request deadline {:?}; lower it or raise timeouts.request",
                    t.attempt, t.request
                ),
            ));
        }
        if t.ttft > t.request {
            return Err(invalid(
                "timeouts.ttft",
                format!(
                    "ttft {:?} exceeds the request deadline {:?}",
                    t.ttft, t.request
                ),
            ));
        }
        // Only a value set in the file is checked: the default (4 min) under a shorter request
        // deadline is simply bounded by it, as every attempt is.
        if t.reasoning > t.request && t.reasoning != default_reasoning() {
            return Err(invalid(
                "timeouts.reasoning",
                format!(
                    "reasoning timeout {:?} exceeds the request deadline {:?}, which would cut a thinking model first; lower it or raise timeouts.request",
                    t.reasoning, t.request
                ),
            ));
        }
        let keepalive = raw.server.stream_keepalive;
        if !keepalive.is_zero() && keepalive < Duration::from_millis(100) {
            return Err(invalid(
                "server.stream_keepalive",
                format!("{keepalive:?} would flood clients with comments; use at least 100ms, or 0s to turn it off"),
            ));
        }
        if raw.retries.max_attempts == 0 {
            return Err(invalid("retries.max_attempts", "must be at least 1"));
        }
        if raw.circuit_breaker.failures_to_open == 0 || raw.circuit_breaker.half_open_probes == 0 {
            return Err(invalid(
                "circuit_breaker",
                "failures_to_open and half_open_probes must be at least 1",
            ));
        }
        if raw.log.channel_capacity == 0 || raw.log.flush_rows == 0 {
            return Err(invalid(
                "log",
                "channel_capacity and flush_rows must be at least 1",
            ));
        }
        if let Some(days) = raw.log.retention_days {
            if days < outcome_log::MIN_RETENTION_DAYS {
                return Err(invalid(
                    "log.retention_days",
                    format!(
                        "must be at least {} (0 would delete every row as it is written)",
                        outcome_log::MIN_RETENTION_DAYS
                    ),
                ));
            }
        }
        if let Some(name) = raw.log.postgres_env.as_deref() {
            if raw.log.postgres.is_some() {
                return Err(invalid(
                    "log.postgres_env",
                    "set log.postgres or log.postgres_env, not both",
                ));
            }
            match env(name) {
                Some(url) if outcome_log::PgUrl::is_url(url.trim()) => {
                    raw.log.postgres = Some(outcome_log::PgUrl::new(url.trim()));
                }
                Some(url) if !url.trim().is_empty() => {
                    return Err(invalid(
                        "log.postgres_env",
                        format!("${name} is not a postgres://user:password@host:port/database URL"),
                    ))
                }
                _ => {
                    return Err(invalid(
                        "log.postgres_env",
                        format!("names ${name}, which is not set or empty; export it or remove log.postgres_env"),
                    ))
                }
            }
        }
        if let Some(bytes) = raw.log.retention_max_bytes {
            if bytes < MIN_RETENTION_BYTES {
                return Err(invalid(
                    "log.retention_max_bytes",
                    format!("must be at least {MIN_RETENTION_BYTES} (16 MiB); got {bytes}"),
                ));
            }
        }
        if raw.log.retention_archive.is_some()
            && raw.log.retention_days.is_none()
            && raw.log.retention_max_bytes.is_none()
        {
            return Err(invalid(
                "log.retention_archive",
                "needs log.retention_days (how many days to keep) or log.retention_max_bytes",
            ));
        }
        if raw.server.body_limit_bytes == 0 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1"));
        }
        let srv = &raw.server;
        for (field, d) in [
            ("server.header_read_timeout", srv.header_read_timeout),
            ("server.body_read_timeout", srv.body_read_timeout),
            ("server.idle_timeout", srv.idle_timeout),
            ("log.commit_timeout", raw.log.commit_timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(field, "must be greater than zero"));
            }
            check_not_absurd(field, d)?;
        }
        check_not_absurd("server.shutdown_grace", raw.server.shutdown_grace)?;
        check_not_absurd("server.stream_keepalive", raw.server.stream_keepalive)?;
        if srv.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if let Some(n) = srv.worker_threads.filter(|&n| n > MAX_WORKER_THREADS) {
            return Err(invalid(
                "server.worker_threads",
                format!(
                    "{n} is more than {MAX_WORKER_THREADS}: each thread needs its own stack, and one per core is the most that helps; leave it out (or 0) for one per core"
                ),
            ));
        }
        if srv.http2_max_concurrent_streams == 0 {
            return Err(invalid(
                "server.http2_max_concurrent_streams",
                "must be at least 1 (the default is 100)",
            ));
        }
        if srv.upstream_response_limit_bytes < 1024 {
            return Err(invalid(
                "server.upstream_response_limit_bytes",
                "must be at least 1024 bytes (the default is 33554432, 32 MiB)",
            ));
        }
        checks::exploration(&raw.router.exploration)?;
        let admin_token = checks::admin_token(&raw.admin, env)?;
        let admin_key_sha256 = checks::admin_key_sha256(&raw.admin)?;
        checks::exposure(&raw.server)?;
        let objective = match (raw.router.willingness_to_pay, raw.router.lambda) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "router.lambda",
                    "set either router.lambda or router.willingness_to_pay, not both",
                ))
            }
            (Some(w), None) => Objective::from_willingness_to_pay(w).ok_or_else(|| {
                invalid(
                    "router.willingness_to_pay",
                    "must be a positive number of USD",
                )
            })?,
            (None, Some(l)) if l.is_finite() && l >= 0.0 => Objective::Utility { lambda: l },
            (None, Some(_)) => return Err(invalid("router.lambda", "must be a number >= 0")),
            (None, None) => Objective::default(),
        };

        let catalog = models::Catalog::load_with_defaults(raw.catalog.path.as_deref())
            .map_err(|e| invalid("catalog.path", e.to_string()))?;
        let in_catalog = |field: &str, id: &ModelId| {
            catalog
                .get(id)
                .map(|e| e.spec.id.clone())
                .map_err(|e| invalid(field, e.to_string()))
        };
        let fallback_model = in_catalog("router.fallback_model", &raw.router.fallback_model)?;
        let allowed = match &raw.router.candidates {
            Some(cands) if cands.is_empty() => {
                return Err(invalid(
                    "router.candidates",
                    "is empty, so `auto` could choose no model; list the models `auto` may \
                     choose, or omit the key to allow every catalog model with a live provider",
                ));
            }
            Some(cands) => {
                let mut canon = Vec::with_capacity(cands.len());
                for (i, id) in cands.iter().enumerate() {
                    canon.push(in_catalog(&format!("router.candidates[{i}]"), id)?);
                }
                Some(canon)
            }
            None => None,
        };

        let providers_from_file = !raw.providers.is_empty();
        if !providers_from_file {
            raw.providers = env_default_providers(env);
        }
        let mut providers: Vec<ResolvedProvider> = Vec::new();
        for (i, p) in raw.providers.iter().enumerate() {
            if providers.iter().any(|q| q.name == p.name) {
                return Err(invalid(
                    &format!("providers[{i}].name"),
                    format!("provider `{}` is configured twice", p.name),
                ));
            }
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return Err(invalid(
                    &format!("providers[{i}].base_url"),
                    format!("`{}` must start with http:// or https://", p.base_url),
                ));
            }
            if let Err(e) = reqwest::Url::parse(&p.base_url) {
                return Err(invalid(
                    &format!("providers[{i}].base_url"),
                    format!("`{}` is not a URL ({e})", p.base_url),
                ));
            }
            if p.prompt_cache.is_some() && p.kind != ProviderKind::Anthropic {
                return Err(invalid(
                    &format!("providers[{i}].prompt_cache"),
                    format!(
                        "applies to kind = \"anthropic\" only: `{}` caches prompt prefixes by itself; remove the line",
                        p.name
                    ),
                ));
            }
            let api_key = p
                .api_key_env
                .as_deref()
                .and_then(env)
                .filter(|k| !k.is_empty())
                .map(Secret::new);
            let live = p.api_key_env.is_none() || api_key.is_some();
            providers.push(ResolvedProvider {
                name: p.name.clone(),
                kind: p.kind,
                base_url: p.base_url.clone(),
                api_key,
                api_key_env: p.api_key_env.clone(),
                live,
                prompt_cache: p.prompt_cache.unwrap_or(p.kind == ProviderKind::Anthropic),
            });
        }

        let deployments = deployments::resolve(
            std::mem::take(&mut raw.deployments),
            std::mem::take(&mut raw.balancing),
            &catalog,
            &providers,
        )?;
        let rules = rules::resolve(std::mem::take(&mut raw.rules), &catalog)?;
        // A model is a candidate when any provider that may serve it is live.
        let candidates = catalog
            .entries()
            .filter(|e| allowed.as_ref().is_none_or(|a| a.contains(&e.spec.id)))
            .filter(|e| {
                deployments
                    .providers_of(&e.spec.id, &e.spec.provider)
                    .into_iter()
                    .any(|name| providers.iter().any(|p| p.live && &p.name == name))
            })
            .map(|e| e.spec.id.clone())
            .collect();
        let cache = cache::resolve(raw.cache)?;
        let redis = redis::resolve(raw.redis.take(), &raw.timeouts)?;
        if cache.shared && redis.is_none() {
            return Err(invalid(
                "cache.shared",
                "keeps answers in Redis: add a [redis] section with its url, or remove cache.shared",
            ));
        }
        let guardrails = guardrails::resolve(raw.guardrails.take())?;
        let embeddings = embeddings::resolve(raw.embeddings.take(), &providers)?;
        let experiment = experiment::resolve(raw.experiment.take())?;
        let judge = match raw.judge.take() {
            Some(j) => Some(judge::resolve(j, &catalog, &providers)?),
            None => None,
        };
        let GatewayConfig {
            server,
            router,
            timeouts,
            retries,
            circuit_breaker,
            log,
            admin,
            ..
        } = raw;
        Ok(Config {
            server,
            router: Routing {
                artifact: router.artifact,
                routing_deadline: router.routing_deadline,
                fallback_model,
                candidates: allowed,
                exploration: router.exploration,
                exploration_seed: router.exploration_seed,
                encoder_weights: router.encoder_weights,
                discover_models: router.discover_models.then_some(router.discovery_timeout),
                rediscover_every: (router.discover_models && !router.discovery_interval.is_zero())
                    .then_some(router.discovery_interval),
                availability: Default::default(),
                tool_loop_affinity: router.tool_loop_affinity,
            },
            timeouts,
            retries,
            circuit_breaker,
            log,
            catalog,
            providers,
            candidates,
            objective,
            admin_token,
            admin_token_env: admin.token_env,
            admin_key_sha256,
            judge,
            cache,
            guardrails,
            embeddings,
            experiment,
            deployments,
            rules,
            redis,
            providers_from_file,
        })
    }

    /// A live provider serving `model` (its first live deployment's, or its catalog
    /// provider's), when there is one.
    pub fn live_provider_of(&self, model: &ModelId) -> Option<&ResolvedProvider> {
        let entry = self.catalog.get(model).ok()?;
        self.deployments
            .providers_of(model, &entry.spec.provider)
            .into_iter()
            .find_map(|name| self.providers.iter().find(|p| p.live && &p.name == name))
    }

    /// The `[[providers]]` entries of the config file that are not live because the variable
    /// their `api_key_env` names is unset or empty (a typo in it, or in systemd's
    /// `EnvironmentFile`), each with the catalog models that it leaves without any live
    /// provider: out of `auto`, and refused when a request names them. What start-up warns
    /// about, one line per provider. The environment's default providers are not listed: with
    /// no `[[providers]]`, a vendor whose key is not set is simply not used.
    pub fn providers_without_key(&self) -> Vec<ProviderWithoutKey<'_>> {
        if !self.providers_from_file {
            return Vec::new();
        }
        self.providers
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.live)
            .filter_map(|(index, p)| {
                let var = p.api_key_env.as_deref()?;
                let models = self
                    .catalog
                    .entries()
                    .filter(|e| {
                        let serving = self.deployments.providers_of(&e.spec.id, &e.spec.provider);
                        serving.contains(&&p.name)
                            && !serving.iter().any(|name| {
                                self.providers.iter().any(|q| q.live && &q.name == *name)
                            })
                    })
                    .map(|e| e.spec.id.clone())
                    .collect();
                Some(ProviderWithoutKey {
                    index,
                    name: &p.name,
                    var,
                    models,
                })
            })
            .collect()
    }

    /// The provider to name when `model` has no live one: its first deployment's, or its
    /// catalog provider.
    pub fn first_provider_of(&self, model: &ModelId) -> Option<ProviderId> {
        let entry = self.catalog.get(model).ok()?;
        self.deployments
            .providers_of(model, &entry.spec.provider)
            .first()
            .map(|p| (*p).clone())
    }

    /// What would make `provider` callable, for the error a client gets when it names a
    /// model of a provider that is not live: the API key variable to set, or the
    /// `[[providers]]` entry to add.
    pub fn provider_setup_hint(&self, provider: &ProviderId) -> String {
        match self.providers.iter().find(|p| &p.name == provider) {
            Some(ResolvedProvider {
                api_key_env: Some(var),
                ..
            }) => format!("set the environment variable {var} to its API key"),
            // Configured, keyless and still not live cannot happen; say what is known.
            Some(_) => format!("check the [[providers]] entry named `{provider}`"),
            None if self.providers_from_file => format!(
                "add a [[providers]] entry with name = \"{provider}\" (kind, base_url, api_key_env) to the config file"
            ),
            None => format!(
                "configure it with a [[providers]] entry with name = \"{provider}\" in the config file (the environment defaults do not include it)"
            ),
        }
    }
}

mod cache;
mod checks;
mod deployments;
mod embeddings;
mod experiment;
mod guardrails;
mod judge;
mod pool;
mod redis;
mod rules;
pub use cache::{Cache, CacheConfig, MAX_TTL};
pub use checks::AdminConfig;
pub use deployments::{
    Balancing, BalancingConfig, DeploymentConfig, DeploymentPlan, DeploymentSpec,
};
pub use embeddings::{EmbeddingsModel, EmbeddingsModelConfig};
pub use experiment::{Arm, ArmConfig, ArmRouter, Experiment, ExperimentConfig, Sticky};
pub use guardrails::{
    is_profile_name, resolve as resolve_guardrails, Guardrails, GuardrailsConfig,
};
pub use judge::{JudgeConfig, Judging, Rubric};
pub use redis::{OnUnavailable, Redis, RedisConfig};
pub use rules::{HeaderMatchConfig, MatchConfig, RuleConfig, WhenConfig};

#[cfg(test)]
mod tests;
