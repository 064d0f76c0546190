//! The encoder worker: a bounded queue in front of dedicated threads that micro-batch prompts,
//! run one forward pass per batch and every predictor head on the pooled batch.
//!
//! Async callers only ever `try_send`: a full queue is an immediate [`ServiceError::QueueFull`],
//! which the gateway turns into its static fallback route. Workers are plain named threads,
//! never the runtime's blocking pool, whose unbounded growth could neither batch nor push back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use router_core::{Embedder, ModelEstimate, QualityPredictor, TaskDistribution};
use tokio::sync::oneshot;

use crate::predictors::TaskClassifier;

/// Worker pool shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Encoder threads (each runs whole batches; candle parallelises inside a batch).
    pub workers: usize,
    /// Most prompts per forward pass.
    pub max_batch: usize,
    /// How long the first prompt of a batch waits for company.
    pub max_wait: Duration,
    /// Queue capacity; beyond it requests are refused at once.
    pub queue_capacity: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            max_batch: 32,
            max_wait: Duration::from_millis(2),
            queue_capacity: 128,
        }
    }
}

/// Why a prompt was not scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The queue is at capacity.
    #[error("encoder queue is full")]
    QueueFull,
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
            ServiceError::WorkerGone => "worker_gone",
            ServiceError::Embed(_) => "embed_error",
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
    /// Time spent in the queue before the batch started.
    pub queue_wait: Duration,
    /// Time of the batch's forward pass (shared by the batch).
    pub forward: Duration,
    /// Prompts in that batch.
    pub batch_size: usize,
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Prompts accepted into the queue.
    pub enqueued: u64,
    /// Prompts taken off the queue.
    pub dequeued: u64,
    /// Prompts refused because the queue was full.
    pub rejected: u64,
    /// Prompts skipped because their caller had gone (deadline passed).
    pub skipped: u64,
    /// Forward passes run.
    pub batches: u64,
    /// Sum of queue waits, microseconds.
    pub queue_wait_us: u64,
    /// Sum of forward-pass times, microseconds.
    pub forward_us: u64,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    dequeued: AtomicU64,
    rejected: AtomicU64,
    skipped: AtomicU64,
    batches: AtomicU64,
    queue_wait_us: AtomicU64,
    forward_us: AtomicU64,
}

type SharedPredictor = Arc<RwLock<Option<Arc<dyn QualityPredictor>>>>;
type SharedTaskClassifier = Arc<RwLock<Option<Arc<TaskClassifier>>>>;

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Scored, ServiceError>>,
    enqueued: Instant,
    span: tracing::Span,
}

/// Handle to the encoder workers; clone freely. The workers stop when the last handle drops.
#[derive(Clone)]
pub struct Service {
    tx: Sender<Job>,
    predictor: SharedPredictor,
    tasks: SharedTaskClassifier,
    counters: Arc<Counters>,
}

impl Service {
    /// Starts `config.workers` threads sharing `embedder`.
    pub fn start(
        embedder: Arc<dyn Embedder>,
        predictor: Option<Arc<dyn QualityPredictor>>,
        config: ServiceConfig,
    ) -> Result<Self, ServiceError> {
        let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity.max(1));
        let predictor: SharedPredictor = Arc::new(RwLock::new(predictor));
        let tasks: SharedTaskClassifier = Arc::new(RwLock::new(None));
        let counters = Arc::new(Counters::default());
        for i in 0..config.workers.max(1) {
            let worker = Worker {
                rx: rx.clone(),
                embedder: Arc::clone(&embedder),
                predictor: Arc::clone(&predictor),
                tasks: Arc::clone(&tasks),
                counters: Arc::clone(&counters),
                config,
            };
            std::thread::Builder::new()
                .name(format!("switchyard-encoder-{i}"))
                .spawn(move || worker.run())
                .map_err(|e| ServiceError::Embed(format!("cannot start encoder thread: {e}")))?;
        }
        Ok(Self {
            tx,
            predictor,
            tasks,
            counters,
        })
    }

    /// Sets (or clears) the task classifier run on every embedded prompt; the caller checks
    /// that it was fitted with this service's encoder ([`TaskClassifier::check_encoder`]).
    pub fn set_task_classifier(&self, classifier: Option<Arc<TaskClassifier>>) {
        *self.tasks.write().unwrap_or_else(PoisonError::into_inner) = classifier;
    }

    /// The task classifier in use.
    pub fn task_classifier(&self) -> Option<Arc<TaskClassifier>> {
        self.tasks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the predictor; batches already running finish with the old one.
    pub fn set_predictor(&self, predictor: Option<Arc<dyn QualityPredictor>>) {
        *self
            .predictor
            .write()
            .unwrap_or_else(PoisonError::into_inner) = predictor;
    }

    /// The predictor in use.
    pub fn predictor(&self) -> Option<Arc<dyn QualityPredictor>> {
        self.predictor
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Scores one prompt. Never blocks: a full queue fails at once. Dropping the future before
    /// it completes makes the worker skip the prompt.
    pub async fn score(&self, text: String) -> Result<Scored, ServiceError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            text,
            reply,
            enqueued: Instant::now(),
            span: tracing::Span::current(),
        };
        match self.tx.try_send(job) {
            Ok(()) => {
                self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(ServiceError::QueueFull);
            }
            Err(TrySendError::Disconnected(_)) => return Err(ServiceError::WorkerGone),
        }
        rx.await.map_err(|_| ServiceError::WorkerGone)?
    }

    /// Scores one prompt from synchronous code (CLI, benchmarks), blocking the calling thread.
    pub fn score_blocking(&self, text: String) -> Result<Scored, ServiceError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            text,
            reply,
            enqueued: Instant::now(),
            span: tracing::Span::current(),
        };
        self.tx.send(job).map_err(|_| ServiceError::WorkerGone)?;
        self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        rx.blocking_recv().map_err(|_| ServiceError::WorkerGone)?
    }

    /// Jobs waiting in the queue now.
    pub fn queue_len(&self) -> usize {
        self.tx.len()
    }

    /// Counters since start.
    pub fn stats(&self) -> ServiceStats {
        let c = &self.counters;
        ServiceStats {
            enqueued: c.enqueued.load(Ordering::Relaxed),
            dequeued: c.dequeued.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            queue_wait_us: c.queue_wait_us.load(Ordering::Relaxed),
            forward_us: c.forward_us.load(Ordering::Relaxed),
        }
    }
}

struct Worker {
    rx: Receiver<Job>,
    embedder: Arc<dyn Embedder>,
    predictor: SharedPredictor,
    tasks: SharedTaskClassifier,
    counters: Arc<Counters>,
    config: ServiceConfig,
}

impl Worker {
    fn run(self) {
        // `recv` fails only when every `Service` handle is gone: then the thread ends.
        while let Ok(first) = self.rx.recv() {
            let deadline = Instant::now() + self.config.max_wait;
            let mut batch = vec![first];
            while batch.len() < self.config.max_batch {
                match self.rx.recv_deadline(deadline) {
                    Ok(job) => batch.push(job),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.counters
                .dequeued
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            let before = batch.len();
            batch.retain(|job| !job.reply.is_closed());
            self.counters
                .skipped
                .fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
            if !batch.is_empty() {
                self.run_batch(batch);
            }
        }
    }

    fn run_batch(&self, batch: Vec<Job>) {
        let started = Instant::now();
        let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
        let embedded = self.embedder.embed(&texts);
        let predictor = self
            .predictor
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let tasks = self
            .tasks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let forward = started.elapsed();
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters
            .forward_us
            .fetch_add(forward.as_micros() as u64, Ordering::Relaxed);
        let batch_size = batch.len();
        match embedded {
            Ok(vectors) => {
                for (job, embedding) in batch.into_iter().zip(vectors) {
                    let _entered = job.span.enter();
                    let queue_wait = started.saturating_duration_since(job.enqueued);
                    self.counters
                        .queue_wait_us
                        .fetch_add(queue_wait.as_micros() as u64, Ordering::Relaxed);
                    let estimates = predictor
                        .as_ref()
                        .map(|p| (Arc::clone(p), p.predict(&embedding)));
                    // A dimension mismatch is refused when the classifier is set; should one
                    // slip through, the prompt routes on flat priors rather than fail.
                    let tasks = tasks.as_ref().and_then(|c| c.try_predict(&embedding).ok());
                    let scored = Scored {
                        embedding,
                        estimates,
                        tasks,
                        queue_wait,
                        forward,
                        batch_size,
                    };
                    // The caller may have given up meanwhile; nothing to do then.
                    let _ = job.reply.send(Ok(scored));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, batch_size, "Encoder batch failed");
                for job in batch {
                    let _ = job.reply.send(Err(ServiceError::Embed(e.to_string())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
