//! The encoder service: a bounded, deadline-aware queue in front of dedicated worker threads
//! that batch prompts of similar length, run one forward pass per batch and every predictor
//! head on the pooled batch.
//!
//! Async callers never block: [`Service::score`] looks the text up in the embedding cache,
//! then either queues it or refuses it at once. A prompt is refused with
//! [`ServiceError::DeadlineUnmeetable`] when the live cost estimate says the work already
//! queued ahead of it cannot finish before its deadline, so the gateway takes its static
//! fallback immediately instead of waiting the deadline out. Workers size each batch so it
//! ends before its most urgent member's deadline, and answer prompts that have become hopeless
//! while queued right away.
//!
//! Workers are plain named threads, never the runtime's blocking pool, whose unbounded growth
//! could neither batch nor push back. Their forward passes run on the service's own compute
//! threads (`encoder_threads`, split into one pool per worker: a worker waiting inside its
//! pass on a shared pool would run another worker's whole pass nested on its stack, and its
//! callers would wait for both), and workers and pools run above the process's scheduling
//! priority (see [`priority`]): past saturation the HTTP side keeps answering refused requests,
//! and at equal priority that work starved the encoder it was refused by.

mod cache;
mod cost;
pub mod priority;
mod queue;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use router_core::{Embedder, ModelEstimate, QualityPredictor, TaskDistribution};
use tokio::sync::oneshot;

pub use cost::CostPrior;
pub use priority::EncoderPriority;

use crate::predictors::TaskClassifier;
use cache::EmbeddingCache;
use cost::CostModel;
use queue::{Job, Queue};

/// Worker pool shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceConfig {
    /// Encoder worker threads. Each forms and runs whole batches; the matrix products of every
    /// batch are spread over the compute pool (`encoder_threads`), so on a small machine one
    /// worker already keeps its cores busy (see [`ServiceConfig::for_machine`]).
    pub workers: usize,
    /// Threads of the encoder's compute pools (0: one per core), split evenly into one pool
    /// per worker (at least one thread each). Cores left out stay free for the HTTP side,
    /// which keeps answering the requests the encoder refuses.
    pub encoder_threads: usize,
    /// Nice levels the workers and the compute pool run above the process (0: same level).
    /// Where raising is not permitted, see [`Service::yield_to_encoder`].
    pub priority_gap: i32,
    /// Most prompts per forward pass.
    pub max_batch: usize,
    /// Queue capacity; beyond it requests are refused at once.
    pub queue_capacity: usize,
    /// Embeddings kept in the LRU cache (0 turns the cache off).
    pub cache_entries: usize,
    /// The encoder's token budget: longer texts are cut to it, so they cost no more.
    pub max_tokens: usize,
    /// The cost estimate before any batch has been measured.
    pub prior: CostPrior,
    /// Whether [`Service::start`] times a short and a long prompt on the encoder first and
    /// starts the cost estimate from them, never slower than [`ServiceConfig::prior`] (on in
    /// [`ServiceConfig::for_machine`]).
    pub calibrate: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            encoder_threads: 0,
            priority_gap: DEFAULT_PRIORITY_GAP,
            max_batch: 32,
            queue_capacity: 256,
            cache_entries: 10_000,
            max_tokens: 256,
            prior: CostPrior::default(),
            calibrate: false,
        }
    }
}

/// Default [`ServiceConfig::priority_gap`]: about a 3:1 CPU share for an encoder thread over
/// an HTTP thread when both want the same core. Measured on 2 busy cores (`switchyard bench
/// routed`): 10 levels (9:1) routed a little more under a closed-loop flood but starved the
/// HTTP side enough that the backstop timer fired late (routing p99 60–170 ms against a 50 ms
/// deadline) and fallback answers' p99 reached 150–700 ms; 5 kept routing p99 inside the
/// deadline and routed more in open loop.
pub const DEFAULT_PRIORITY_GAP: i32 = 5;

impl ServiceConfig {
    /// The default shape for this machine: one worker per four cores, and a compute pool of
    /// every core but one per four on four cores or more, every core below that.
    /// Extra workers only pay once a single batch cannot fill the pool (small batches of short
    /// prompts on many-core machines); on two cores a second worker interleaves two batches on
    /// the same cores and makes both slower. Below four cores a reserved core would take a
    /// third or half of the encoder away while the HTTP side mostly idles; it still gets its
    /// share of a contended core through the nice levels of [`ServiceConfig::priority_gap`]
    /// (on 2 cores, measured in docs/performance.md: 250 requests/s routed with 0.0–0.1 %
    /// fallbacks instead of 177–187 with 25–29 %).
    pub fn for_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            workers: (cores / 4).max(1),
            encoder_threads: encoder_threads_for(cores),
            calibrate: true,
            ..Self::default()
        }
    }
}

/// One compute pool per worker, `threads` (0: one per core) shared out evenly, at least one
/// each; worker `i`'s pool names its threads `switchyard-encoder-pool-i-j`.
fn pools(threads: usize, workers: usize) -> Result<Vec<rayon::ThreadPool>, ServiceError> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        n => n,
    };
    (0..workers)
        .map(|i| {
            let share = (threads / workers + usize::from(i < threads % workers)).max(1);
            rayon::ThreadPoolBuilder::new()
                .num_threads(share)
                .thread_name(move |j| format!("switchyard-encoder-pool-{i}-{j}"))
                .build()
                .map_err(|e| ServiceError::Embed(format!("cannot start the encoder pool: {e}")))
        })
        .collect()
}

/// The cost prior timed on `pool` ([`cost::calibrate`]), or the configured one where the
/// encoder could not be timed.
fn calibrated(
    pool: &rayon::ThreadPool,
    embedder: &dyn Embedder,
    config: &ServiceConfig,
) -> CostPrior {
    match cost::calibrate(pool, embedder, config.max_tokens, config.prior) {
        Some(measured) => {
            tracing::debug!(
                gflops = measured.gflops,
                overhead_ms = measured.overhead.as_secs_f64() * 1e3,
                "Encoder cost calibrated."
            );
            measured
        }
        None => {
            tracing::warn!(
                "Could not time the encoder at start; its cost estimate starts from the \
                 default and learns from the first batches."
            );
            config.prior
        }
    }
}

/// The compute threads [`ServiceConfig::for_machine`] gives `cores` cores.
fn encoder_threads_for(cores: usize) -> usize {
    if cores < 4 {
        cores.max(1)
    } else {
        cores - cores.div_ceil(4)
    }
}

/// Why a prompt was not scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The queue is at capacity.
    #[error("encoder queue is full")]
    QueueFull,
    /// The work queued ahead cannot finish before the deadline: refused without waiting.
    #[error("encoder cannot answer in time (needs about {needed:?}, {budget:?} left)")]
    DeadlineUnmeetable {
        /// Predicted time until this prompt would be embedded.
        needed: Duration,
        /// Time left before its deadline.
        budget: Duration,
    },
    /// The encoder is saturated: this prompt would wait behind a batch that its members'
    /// deadlines cut short, so it is refused at once rather than queued to shrink the batches
    /// after it (and most likely be shed after waiting).
    #[error("encoder saturated: refused at once to keep its batches full")]
    Saturated,
    /// The workers have stopped.
    #[error("encoder workers are gone")]
    WorkerGone,
    /// The encoder failed on this batch.
    #[error("encoder failed: {0}")]
    Embed(String),
}

impl ServiceError {
    /// Low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ServiceError::QueueFull => "queue_full",
            ServiceError::DeadlineUnmeetable { .. } => "deadline_unmeetable",
            ServiceError::Saturated => "saturated",
            ServiceError::WorkerGone => "worker_gone",
            ServiceError::Embed(_) => "embed_error",
        }
    }
}

/// Which predictor scores a prompt.
#[derive(Clone, Default)]
pub enum PredictorChoice {
    /// The one serving now ([`Service::set_predictor`]; follows hot reloads).
    #[default]
    Serving,
    /// This one (`None`: no predictor, the prompt routes on priors).
    Fixed(Option<Arc<dyn QualityPredictor>>),
}

impl std::fmt::Debug for PredictorChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PredictorChoice::Serving => f.write_str("Serving"),
            PredictorChoice::Fixed(None) => f.write_str("Fixed(None)"),
            PredictorChoice::Fixed(Some(p)) => write!(f, "Fixed({:?})", p.models()),
        }
    }
}

/// A scored prompt.
#[derive(Clone)]
pub struct Scored {
    /// The prompt's embedding.
    pub embedding: Vec<f32>,
    /// The predictor that ran and its estimates in `predictor.models()` order.
    pub estimates: Option<(Arc<dyn QualityPredictor>, Vec<ModelEstimate>)>,
    /// `P(task | prompt)`, when a task classifier is set.
    pub tasks: Option<TaskDistribution>,
    /// Time spent in the queue before the batch started (zero on a cache hit).
    pub queue_wait: Duration,
    /// Time of the batch's forward pass, shared by the batch (zero on a cache hit).
    pub forward: Duration,
    /// Prompts in that batch (zero on a cache hit).
    pub batch_size: usize,
    /// Whether the embedding came from the cache.
    pub cached: bool,
}

/// Counters since start, and the live cost estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServiceStats {
    /// Prompts accepted into the queue.
    pub enqueued: u64,
    /// Prompts taken off the queue into a batch.
    pub dequeued: u64,
    /// Prompts refused because the queue was full.
    pub rejected: u64,
    /// Prompts refused because they could not be embedded before their deadline, at admission
    /// or later in the queue.
    pub unmeetable: u64,
    /// Prompts refused at admission because the encoder was saturated
    /// ([`ServiceError::Saturated`]).
    pub saturated: u64,
    /// Prompts skipped because their caller had gone.
    pub skipped: u64,
    /// Forward passes run.
    pub batches: u64,
    /// Sum of queue waits, microseconds.
    pub queue_wait_us: u64,
    /// Sum of forward-pass times, microseconds.
    pub forward_us: u64,
    /// Batches whose encoder pass panicked, plus prompts whose prediction heads panicked
    /// (those prompts were answered with an error).
    pub panicked: u64,
    /// Embedding cache hits.
    pub cache_hits: u64,
    /// Embedding cache misses.
    pub cache_misses: u64,
    /// Embeddings in the cache now.
    pub cache_entries: u64,
    /// Fitted fixed cost of a forward pass.
    pub fitted_overhead: Duration,
    /// Fitted forward-pass rate, GFLOP/s.
    pub fitted_gflops: f64,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    dequeued: AtomicU64,
    rejected: AtomicU64,
    unmeetable: AtomicU64,
    saturated: AtomicU64,
    skipped: AtomicU64,
    batches: AtomicU64,
    queue_wait_us: AtomicU64,
    forward_us: AtomicU64,
    panicked: AtomicU64,
}

type SharedPredictor = RwLock<Option<Arc<dyn QualityPredictor>>>;
type SharedTaskClassifier = RwLock<Option<Arc<TaskClassifier>>>;

/// The queue and the cost estimate, under one lock: admission reads both.
struct State {
    queue: Queue,
    model: CostModel,
}

/// What the handles and the workers share.
struct Inner {
    state: Mutex<State>,
    /// Signalled when a prompt is queued or the service closes.
    ready: Condvar,
    predictor: SharedPredictor,
    tasks: SharedTaskClassifier,
    counters: Counters,
    cache: Option<EmbeddingCache>,
    config: ServiceConfig,
    /// The embedder's fingerprint and embedding length, for checks against artifacts.
    encoder: (String, usize),
    /// Where the forward passes run: worker `i` runs on `pools[i]`.
    pools: Vec<rayon::ThreadPool>,
    /// Whether the workers and the pool got their priority.
    priority: EncoderPriority,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn predictor(&self) -> Option<Arc<dyn QualityPredictor>> {
        self.predictor
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn task_classifier(&self) -> Option<Arc<TaskClassifier>> {
        self.tasks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// [`Inner::heads`], with a panic in a head (a predictor or classifier bug, a malformed
    /// artifact) answered as this prompt's error and counted in `panicked`: it would otherwise
    /// unwind the worker thread, or the caller's task on a cache hit.
    fn try_heads(
        &self,
        embedding: Vec<f32>,
        choice: &PredictorChoice,
    ) -> Result<Scored, ServiceError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.heads(embedding, choice)
        }))
        .map_err(|_| {
            self.counters.panicked.fetch_add(1, Ordering::Relaxed);
            tracing::error!("A prediction head panicked; the prompt takes the static fallback");
            ServiceError::Embed(
                "the predictor failed on this prompt (it panicked; see the log)".to_owned(),
            )
        })
    }

    /// Runs every head on an embedding, with the predictor `choice` names.
    fn heads(&self, embedding: Vec<f32>, choice: &PredictorChoice) -> Scored {
        let predictor = match choice {
            PredictorChoice::Serving => self.predictor(),
            PredictorChoice::Fixed(p) => p.clone(),
        };
        let estimates = predictor.map(|p| {
            let estimates = p.predict(&embedding);
            (p, estimates)
        });
        // A dimension mismatch is refused when the classifier is set; should one slip
        // through, the prompt routes on flat priors rather than fail.
        // The task classifier reads the model's own 384 values; an encoder that pools extra
        // layers appends its blocks after them.
        let tasks = self.task_classifier().and_then(|c| {
            let dim = c.file().embedding_dim.min(embedding.len());
            c.try_predict(&embedding[..dim]).ok()
        });
        Scored {
            embedding,
            estimates,
            tasks,
            queue_wait: Duration::ZERO,
            forward: Duration::ZERO,
            batch_size: 0,
            cached: false,
        }
    }
}

/// Closes the queue when the last [`Service`] handle goes, which ends the workers.
struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let drained = {
            let mut state = self.0.lock();
            state.queue.closed = true;
            state.queue.drain()
        };
        self.0.ready.notify_all();
        for job in drained {
            let _ = job.reply.send(Err(ServiceError::WorkerGone));
        }
    }
}

/// Handle to the encoder workers; clone freely. The workers stop when the last handle drops.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
    _close: Arc<CloseOnDrop>,
}

impl Service {
    /// Starts `config.workers` threads sharing `embedder`, and the compute pool they run it on.
    pub fn start(
        embedder: Arc<dyn Embedder>,
        predictor: Option<Arc<dyn QualityPredictor>>,
        config: ServiceConfig,
    ) -> Result<Self, ServiceError> {
        let workers = config.workers.max(1);
        let pools = pools(config.encoder_threads, workers)?;
        // Every pool thread now, so that the outcome is known before the first request.
        let gap = config.priority_gap;
        // Every pool is shifted before any outcome is read (`all` would stop at the first
        // refusal and leave the later pools unshifted).
        let shifted: Vec<bool> = pools
            .iter()
            .flat_map(|pool| pool.broadcast(|_| priority::shift_current_thread(gap)))
            .collect();
        let raised = shifted.iter().all(|ok| *ok);
        // A refusal is all or nothing: every thread of the process has the same rights.
        let priority = if gap == 0 || !cfg!(target_os = "linux") {
            EncoderPriority::Unchanged
        } else if raised {
            EncoderPriority::Raised
        } else {
            EncoderPriority::NotPermitted
        };
        match priority {
            EncoderPriority::Raised => tracing::debug!(gap, "Encoder threads raised."),
            EncoderPriority::NotPermitted => tracing::info!(
                gap,
                "Encoder threads could not be raised above the HTTP threads (needs CAP_SYS_NICE \
                 or an RLIMIT_NICE allowance, e.g. systemd LimitNICE=-{gap} or docker \
                 --cap-add SYS_NICE); the HTTP threads step down instead."
            ),
            EncoderPriority::Unchanged => {}
        }
        let prior = if config.calibrate {
            calibrated(&pools[0], embedder.as_ref(), &config)
        } else {
            config.prior
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                queue: Queue::new(config.queue_capacity, config.max_batch, workers),
                model: CostModel::new(prior),
            }),
            ready: Condvar::new(),
            predictor: RwLock::new(predictor),
            tasks: RwLock::new(None),
            counters: Counters::default(),
            cache: (config.cache_entries > 0).then(|| EmbeddingCache::new(config.cache_entries)),
            encoder: (embedder.fingerprint().to_owned(), embedder.dim()),
            config,
            pools,
            priority,
        });
        let service = Self {
            _close: Arc::new(CloseOnDrop(Arc::clone(&inner))),
            inner,
        };
        for i in 0..workers {
            let worker = worker::Worker {
                index: i,
                inner: Arc::clone(&service.inner),
                embedder: Arc::clone(&embedder),
            };
            std::thread::Builder::new()
                .name(format!("switchyard-encoder-{i}"))
                .spawn(move || worker.run())
                .map_err(|e| ServiceError::Embed(format!("cannot start encoder thread: {e}")))?;
        }
        Ok(service)
    }

    /// Whether the encoder threads run above the process's priority.
    pub fn priority(&self) -> EncoderPriority {
        self.inner.priority
    }

    /// A hook for every thread of the async runtime that serves requests (tokio's
    /// `on_thread_start`): when the encoder threads could not be raised
    /// [`ServiceConfig::priority_gap`] nice levels (no `CAP_SYS_NICE`), it steps the calling
    /// thread down by as much instead, so that the encoder still comes first; otherwise it
    /// does nothing. It holds no handle to the service, so it does not keep the workers alive.
    pub fn yield_to_encoder(&self) -> impl Fn() + Send + Sync + 'static {
        let step_down = (self.inner.priority == EncoderPriority::NotPermitted)
            .then_some(self.inner.config.priority_gap);
        move || {
            if let Some(gap) = step_down {
                let _ = priority::shift_current_thread(-gap);
            }
        }
    }

    /// Sets (or clears) the task classifier run on every embedded prompt; the caller checks
    /// that it was fitted with this service's encoder ([`TaskClassifier::check_encoder`]).
    pub fn set_task_classifier(&self, classifier: Option<Arc<TaskClassifier>>) {
        *self
            .inner
            .tasks
            .write()
            .unwrap_or_else(PoisonError::into_inner) = classifier;
    }

    /// The task classifier in use.
    pub fn task_classifier(&self) -> Option<Arc<TaskClassifier>> {
        self.inner.task_classifier()
    }

    /// Replaces the predictor; batches already running finish with the old one.
    pub fn set_predictor(&self, predictor: Option<Arc<dyn QualityPredictor>>) {
        *self
            .inner
            .predictor
            .write()
            .unwrap_or_else(PoisonError::into_inner) = predictor;
    }

    /// The predictor in use.
    pub fn predictor(&self) -> Option<Arc<dyn QualityPredictor>> {
        self.inner.predictor()
    }

    /// The fingerprint of the encoder this service runs ([`Embedder::fingerprint`]).
    pub fn encoder_fingerprint(&self) -> &str {
        &self.inner.encoder.0
    }

    /// The length of the embeddings this service's encoder produces.
    pub fn embedding_dim(&self) -> usize {
        self.inner.encoder.1
    }

    /// The encoder's token budget per prompt ([`ServiceConfig::max_tokens`]).
    pub fn max_tokens(&self) -> usize {
        self.inner.config.max_tokens
    }

    /// Estimated encoder tokens of `text`, special tokens included: about four bytes per
    /// WordPiece token in English, capped at the token budget. Only used to bucket and to
    /// predict cost (the fitted rate absorbs a constant bias); tokenizing here would put that
    /// work on the caller's async thread.
    pub fn estimate_tokens(&self, text: &str) -> usize {
        (2 + text.len().div_ceil(4)).min(self.inner.config.max_tokens.max(2))
    }

    /// Scores one prompt, answering by `deadline` or refusing at once. Never blocks: a cache
    /// hit answers immediately; otherwise the prompt is queued only if the live cost estimate
    /// says it can be embedded before `deadline`, else [`ServiceError::DeadlineUnmeetable`]
    /// (or [`ServiceError::QueueFull`]) comes back without waiting. Dropping the future makes
    /// the worker skip the prompt.
    pub async fn score(&self, text: String, deadline: Instant) -> Result<Scored, ServiceError> {
        self.score_with(text, deadline, PredictorChoice::Serving)
            .await
    }

    /// [`Service::score`] with the predictor `choice` names instead of the serving one (an
    /// A/B arm's artifact): the prompt shares the queue, batches and embedding cache with every
    /// other prompt, only the head differs.
    pub async fn score_with(
        &self,
        text: String,
        deadline: Instant,
        choice: PredictorChoice,
    ) -> Result<Scored, ServiceError> {
        let rx = match self.submit(text, deadline, choice) {
            Ok(Submitted::Done(scored)) => return Ok(*scored),
            Ok(Submitted::Queued(rx)) => rx,
            Err(e) => return Err(e),
        };
        rx.await.map_err(|_| ServiceError::WorkerGone)?
    }

    /// Scores one prompt from synchronous code (CLI, benchmarks), blocking the calling thread
    /// until it is embedded (no deadline).
    pub fn score_blocking(&self, text: String) -> Result<Scored, ServiceError> {
        // Far enough to never refuse, near enough not to overflow `Instant`.
        let deadline = Instant::now() + Duration::from_secs(24 * 3600);
        match self.submit(text, deadline, PredictorChoice::Serving)? {
            Submitted::Done(scored) => Ok(*scored),
            Submitted::Queued(rx) => rx.blocking_recv().map_err(|_| ServiceError::WorkerGone)?,
        }
    }

    /// What the serving heads (predictor and task classifier) say about an embedding made
    /// elsewhere: the int8 gate routes f32 and int8 embeddings of the same prompt this way.
    pub fn score_embedding(&self, embedding: Vec<f32>) -> Scored {
        self.inner.heads(embedding, &PredictorChoice::Serving)
    }

    fn submit(
        &self,
        text: String,
        deadline: Instant,
        choice: PredictorChoice,
    ) -> Result<Submitted, ServiceError> {
        let inner = &self.inner;
        let key = inner.cache.as_ref().map(|c| c.key(&text));
        if let (Some(cache), Some(key)) = (&inner.cache, key) {
            if let Some(embedding) = cache.get(key) {
                let mut scored = inner.try_heads(embedding, &choice)?;
                scored.cached = true;
                return Ok(Submitted::Done(Box::new(scored)));
            }
        }
        let (reply, rx) = oneshot::channel();
        let now = Instant::now();
        let job = Job {
            tokens: self.estimate_tokens(&text),
            text,
            key,
            reply,
            enqueued: now,
            deadline,
            span: tracing::Span::current(),
            probe: false,
            choice,
        };
        let admitted = {
            let mut state = inner.lock();
            let State { queue, model } = &mut *state;
            queue.admit(job, now, model)
        };
        match admitted {
            Ok(()) => {
                inner.counters.enqueued.fetch_add(1, Ordering::Relaxed);
                inner.ready.notify_one();
                Ok(Submitted::Queued(rx))
            }
            Err(e) => {
                let counter = match e {
                    ServiceError::QueueFull => &inner.counters.rejected,
                    ServiceError::DeadlineUnmeetable { .. } => &inner.counters.unmeetable,
                    ServiceError::Saturated => &inner.counters.saturated,
                    _ => return Err(e),
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Prompts waiting in the queue now.
    pub fn queue_len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// Prompts waiting now in each length bucket (≤16, ≤32, ≤64, ≤128, ≤256, more tokens).
    pub fn queue_by_length(&self) -> Vec<usize> {
        self.inner.lock().queue.bucket_lens()
    }

    /// Counters since start and the live cost estimate.
    pub fn stats(&self) -> ServiceStats {
        let c = &self.inner.counters;
        let (fitted_overhead, fitted_gflops) = {
            let state = self.inner.lock();
            (state.model.overhead(), state.model.gflops())
        };
        let (cache_hits, cache_misses) = self.inner.cache.as_ref().map_or((0, 0), |c| c.counts());
        ServiceStats {
            enqueued: c.enqueued.load(Ordering::Relaxed),
            dequeued: c.dequeued.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            unmeetable: c.unmeetable.load(Ordering::Relaxed),
            saturated: c.saturated.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            queue_wait_us: c.queue_wait_us.load(Ordering::Relaxed),
            forward_us: c.forward_us.load(Ordering::Relaxed),
            panicked: c.panicked.load(Ordering::Relaxed),
            cache_hits,
            cache_misses,
            cache_entries: self.inner.cache.as_ref().map_or(0, |c| c.len() as u64),
            fitted_overhead,
            fitted_gflops,
        }
    }
}

/// What [`Service::submit`] did with a prompt.
enum Submitted {
    /// Answered from the cache.
    Done(Box<Scored>),
    /// Queued; the answer comes on this channel.
    Queued(oneshot::Receiver<Result<Scored, ServiceError>>),
}

#[cfg(test)]
mod tests;
