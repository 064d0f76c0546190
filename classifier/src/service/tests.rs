#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Mutex;
use std::task::Poll;

use router_core::{BoxError, ModelId};

use super::*;

/// An embedder whose forward pass waits until the test opens the gate, and which records the
/// texts of every batch it sees.
struct GatedEmbedder {
    gate: Mutex<crossbeam_channel::Receiver<()>>,
    batches: Mutex<Vec<Vec<String>>>,
}

impl GatedEmbedder {
    fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }
}

impl Embedder for GatedEmbedder {
    fn dim(&self) -> usize {
        2
    }
    fn fingerprint(&self) -> &str {
        "test"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        self.gate.lock().unwrap().recv()?;
        self.batches
            .lock()
            .unwrap()
            .push(texts.iter().map(|t| (*t).to_owned()).collect());
        Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
    }
}

fn gated() -> (Arc<GatedEmbedder>, crossbeam_channel::Sender<()>) {
    let (open, gate) = crossbeam_channel::unbounded();
    (
        Arc::new(GatedEmbedder {
            gate: Mutex::new(gate),
            batches: Mutex::new(vec![]),
        }),
        open,
    )
}

struct LengthPredictor(Vec<ModelId>);

impl QualityPredictor for LengthPredictor {
    fn models(&self) -> &[ModelId] {
        &self.0
    }
    fn predict(&self, embedding: &[f32]) -> Vec<ModelEstimate> {
        vec![ModelEstimate {
            quality: f64::from(embedding[0]) / 10.0,
            output_tokens: 5.0,
        }]
    }
}

/// A deadline no test gets near.
fn later() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

/// Polls a future once and drops it: `Some` if it completed on that first poll (without
/// anything else having to happen), `None` if it would have had to wait. Dropping a pending
/// `score` is what a caller that gives up does.
async fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        Poll::Ready(match fut.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Starts a service and makes its only worker busy on a gated prompt; returns the service
/// and the busy prompt's task.
async fn busy_service(
    embedder: Arc<GatedEmbedder>,
    config: ServiceConfig,
) -> (
    Service,
    tokio::task::JoinHandle<Result<Scored, ServiceError>>,
) {
    let service = Service::start(embedder, None, config).unwrap();
    let busy = tokio::spawn({
        let s = service.clone();
        async move { s.score("busy".into(), later()).await }
    });
    while service.stats().dequeued < 1 {
        tokio::task::yield_now().await;
    }
    (service, busy)
}

#[tokio::test]
async fn waiting_prompts_are_batched_together() {
    let (embedder, open) = gated();
    let config = ServiceConfig {
        max_batch: 8,
        ..Default::default()
    };
    let (service, first) = busy_service(embedder.clone(), config).await;
    let rest: Vec<_> = (0..5)
        .map(|i| {
            let s = service.clone();
            tokio::spawn(async move { s.score("x".repeat(i + 1), later()).await })
        })
        .collect();
    while service.queue_len() < 5 {
        tokio::task::yield_now().await;
    }
    open.send(()).unwrap();
    open.send(()).unwrap();
    assert_eq!(first.await.unwrap().unwrap().batch_size, 1);
    for (i, handle) in rest.into_iter().enumerate() {
        let scored = handle.await.unwrap().unwrap();
        assert_eq!(scored.batch_size, 5);
        assert_eq!(scored.embedding, vec![(i + 1) as f32, 1.0]);
        assert!(!scored.cached);
    }
    assert_eq!(embedder.batch_sizes(), vec![1, 5]);
}

#[tokio::test]
async fn a_deadline_that_cannot_be_met_is_refused_at_once_not_waited_out() {
    let (embedder, open) = gated();
    // Every forward pass is believed to take 100 s until one has been measured.
    let config = ServiceConfig {
        prior: CostPrior {
            overhead: Duration::from_secs(100),
            gflops: 1e6,
        },
        ..Default::default()
    };
    let (service, busy) = busy_service(embedder.clone(), config).await;

    // The worker is busy for about 100 s more, and this prompt's own pass takes 100 s: a
    // 150 s deadline cannot be met. The answer comes on the first poll, while the gate is
    // still shut: nothing was waited for.
    let refused =
        poll_once(service.score("late".into(), Instant::now() + Duration::from_secs(150)))
            .await
            .expect("a hopeless prompt is answered without waiting");
    match refused {
        Err(ServiceError::DeadlineUnmeetable { needed, budget }) => {
            assert!(needed > budget, "{needed:?} <= {budget:?}");
        }
        Err(e) => panic!("expected DeadlineUnmeetable, got {e}"),
        Ok(_) => panic!("expected DeadlineUnmeetable, got an embedding"),
    }
    assert_eq!(
        service
            .score("past".into(), Instant::now())
            .await
            .err()
            .map(|e| e.label()),
        Some("deadline_unmeetable")
    );
    // A prompt with enough time is queued instead (it would have to wait: not ready at once).
    assert!(poll_once(service.score("patient".into(), later()))
        .await
        .is_none());

    let stats = service.stats();
    assert_eq!(stats.unmeetable, 2);
    assert_eq!(stats.enqueued, 2, "the busy prompt and the patient one");
    open.send(()).unwrap();
    assert!(busy.await.unwrap().is_ok());
    // The refused prompts never reached the encoder.
    let seen: Vec<String> = embedder.batches.lock().unwrap().concat();
    assert!(!seen.iter().any(|t| t == "late" || t == "past"), "{seen:?}");
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_abandoned_prompts_are_skipped() {
    let (embedder, open) = gated();
    let config = ServiceConfig {
        max_batch: 1,
        queue_capacity: 2,
        ..Default::default()
    };
    let (service, busy) = busy_service(embedder, config).await;
    // Two abandoned prompts fill the queue...
    for i in 0..2 {
        assert!(poll_once(service.score(format!("gone {i}"), later()))
            .await
            .is_none());
    }
    assert_eq!(service.queue_len(), 2);
    // ...so the next one is refused without waiting.
    assert_eq!(
        service.score("late".into(), later()).await.err(),
        Some(ServiceError::QueueFull)
    );
    open.send(()).unwrap();
    assert!(busy.await.unwrap().is_ok());
    while service.stats().skipped < 2 {
        tokio::task::yield_now().await;
    }
    assert_eq!(service.stats().rejected, 1);
    assert_eq!(service.stats().batches, 1);
}

#[tokio::test]
async fn a_cache_hit_returns_the_identical_embedding_without_the_encoder() {
    let (embedder, open) = gated();
    let service = Service::start(embedder.clone(), None, ServiceConfig::default()).unwrap();
    open.send(()).unwrap();
    let first = service
        .score("You are a helpful assistant.".into(), later())
        .await
        .unwrap();
    assert!(!first.cached);
    // The gate is shut again: only the cache can answer, and it does on the first poll.
    let again = poll_once(service.score("You are a helpful assistant.".into(), later()))
        .await
        .expect("a cached text is answered at once")
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.embedding, first.embedding);
    assert_eq!(again.batch_size, 0);
    // Another text misses and goes to the encoder.
    let other = tokio::spawn({
        let s = service.clone();
        async move { s.score("You are a terse assistant.".into(), later()).await }
    });
    open.send(()).unwrap();
    assert!(!other.await.unwrap().unwrap().cached);
    assert_eq!(embedder.batch_sizes(), vec![1, 1]);
    let stats = service.stats();
    assert_eq!((stats.cache_hits, stats.cache_misses), (1, 2));
    assert_eq!(stats.cache_entries, 2);
}

#[tokio::test]
async fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
    let (embedder, open) = gated();
    let config = ServiceConfig {
        cache_entries: 2,
        ..Default::default()
    };
    let service = Service::start(embedder, None, config).unwrap();
    for text in ["a", "b", "a", "c"] {
        open.send(()).unwrap();
        service.score(text.into(), later()).await.unwrap();
    }
    let stats = service.stats();
    assert_eq!(stats.cache_entries, 2);
    // "a" was used after "b", so "b" went when "c" came in.
    assert!(poll_once(service.score("a".into(), later()))
        .await
        .is_some());
    assert!(poll_once(service.score("b".into(), later()))
        .await
        .is_none());
}

#[tokio::test]
async fn prompts_of_similar_length_are_batched_together() {
    let (embedder, open) = gated();
    let (service, busy) = busy_service(embedder.clone(), ServiceConfig::default()).await;
    let short = |i: usize| format!("short {i}");
    let long = |i: usize| format!("long {i} {}", "lorem ipsum dolor sit amet ".repeat(12));
    // Interleaved arrivals: short, long, short, long, ...
    let mut handles = Vec::new();
    for i in 0..4 {
        for text in [short(i), long(i)] {
            let s = service.clone();
            handles.push(tokio::spawn(async move { s.score(text, later()).await }));
        }
    }
    while service.queue_len() < 8 {
        tokio::task::yield_now().await;
    }
    let by_length = service.queue_by_length();
    assert_eq!(by_length.iter().sum::<usize>(), 8);
    assert_eq!(
        by_length.iter().filter(|&&n| n == 4).count(),
        2,
        "{by_length:?}"
    );
    for _ in 0..3 {
        open.send(()).unwrap();
    }
    assert!(busy.await.unwrap().is_ok());
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap().batch_size, 4);
    }
    let batches = embedder.batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 3, "{batches:?}");
    for batch in &batches[1..] {
        let shorts = batch.iter().filter(|t| t.starts_with("short")).count();
        assert!(
            shorts == 0 || shorts == batch.len(),
            "mixed batch {batch:?}"
        );
    }
}

#[tokio::test]
async fn the_predictor_runs_on_the_worker_and_can_be_swapped() {
    let (embedder, open) = gated();
    let service = Service::start(embedder, None, ServiceConfig::default()).unwrap();
    open.send(()).unwrap();
    assert!(service
        .score("abc".into(), later())
        .await
        .unwrap()
        .estimates
        .is_none());

    service.set_predictor(Some(Arc::new(LengthPredictor(vec![ModelId::new("m")]))));
    open.send(()).unwrap();
    let scored = service.score("abcd".into(), later()).await.unwrap();
    let (predictor, estimates) = scored.estimates.unwrap();
    assert_eq!(predictor.models(), &[ModelId::new("m")]);
    assert!((estimates[0].quality - 0.4).abs() < 1e-9);
    // A cache hit runs the heads too, with the predictor in place now.
    service.set_predictor(Some(Arc::new(LengthPredictor(vec![ModelId::new("n")]))));
    let cached = service.score("abcd".into(), later()).await.unwrap();
    assert!(cached.cached);
    assert_eq!(cached.estimates.unwrap().0.models(), &[ModelId::new("n")]);
}

#[tokio::test]
async fn an_arm_scores_with_its_own_predictor_on_the_worker_and_from_the_cache() {
    let (embedder, open) = gated();
    let service = Service::start(embedder, None, ServiceConfig::default()).unwrap();
    service.set_predictor(Some(Arc::new(LengthPredictor(vec![ModelId::new(
        "serving",
    )]))));
    let arm: Arc<dyn QualityPredictor> = Arc::new(LengthPredictor(vec![ModelId::new("arm")]));
    let fixed = PredictorChoice::Fixed(Some(Arc::clone(&arm)));
    open.send(()).unwrap();
    let scored = service
        .score_with("abcd".into(), later(), fixed.clone())
        .await
        .unwrap();
    assert!(!scored.cached);
    assert_eq!(scored.estimates.unwrap().0.models(), &[ModelId::new("arm")]);
    // The same text from the cache: the embedding is shared, the head is still the arm's.
    let cached = service
        .score_with("abcd".into(), later(), fixed)
        .await
        .unwrap();
    assert!(cached.cached);
    assert_eq!(cached.estimates.unwrap().0.models(), &[ModelId::new("arm")]);
    // A priors-only arm gets no estimates; the serving predictor is untouched by either.
    let priors = service
        .score_with("abcd".into(), later(), PredictorChoice::Fixed(None))
        .await
        .unwrap();
    assert!(priors.estimates.is_none());
    let serving = service.score("abcd".into(), later()).await.unwrap();
    assert_eq!(
        serving.estimates.unwrap().0.models(),
        &[ModelId::new("serving")]
    );
}

#[tokio::test]
async fn the_task_classifier_runs_as_a_head_on_the_worker() {
    let (embedder, open) = gated();
    let service = Service::start(embedder, None, ServiceConfig::default()).unwrap();
    open.send(()).unwrap();
    assert!(service
        .score("abc".into(), later())
        .await
        .unwrap()
        .tasks
        .is_none());

    // Embeddings are [len, 1]: long texts lean to the first class.
    let file = crate::predictors::TaskClassifierFile::fitted(
        "test".into(),
        128,
        vec![router_core::Task::Coding, router_core::Task::Writing],
        vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        vec![0.0, 0.0],
        1.0,
        serde_json::json!({}),
        serde_json::json!({}),
    );
    let c = TaskClassifier::from_file(file, std::path::Path::new("t.json")).unwrap();
    service.set_task_classifier(Some(Arc::new(c)));
    open.send(()).unwrap();
    let tasks = service
        .score("a long text".into(), later())
        .await
        .unwrap()
        .tasks
        .unwrap();
    assert_eq!(tasks.top(), router_core::Task::Coding);
    assert_eq!(tasks.get(router_core::Task::Math), 0.0);
}

#[test]
fn the_encoder_threads_run_above_the_http_threads_or_the_http_threads_step_down() {
    let (embedder, _open) = gated();
    let config = ServiceConfig {
        encoder_threads: 2,
        ..Default::default()
    };
    let base = priority::current_thread_nice();
    let service = Service::start(embedder.clone(), None, config).unwrap();
    let pool: Vec<i32> = service.inner.pools[0].broadcast(|_| priority::current_thread_nice());
    assert_eq!(pool.len(), 2);
    // What an HTTP thread does at start, on a throwaway thread.
    let hook = service.yield_to_encoder();
    let http = std::thread::spawn(move || {
        hook();
        priority::current_thread_nice()
    })
    .join()
    .unwrap();
    let gap = DEFAULT_PRIORITY_GAP;
    match service.priority() {
        EncoderPriority::Raised => {
            assert!(
                pool.iter().all(|&n| n == priority::shifted(base, gap)),
                "{pool:?}"
            );
            assert_eq!(http, base);
        }
        EncoderPriority::NotPermitted => {
            assert!(pool.iter().all(|&n| n == base), "{pool:?}");
            assert_eq!(http, priority::shifted(base, -gap));
        }
        EncoderPriority::Unchanged => assert_ne!(std::env::consts::OS, "linux"),
    }

    // A gap of 0 leaves every thread where it was.
    let flat = ServiceConfig {
        encoder_threads: 1,
        priority_gap: 0,
        ..Default::default()
    };
    let service = Service::start(embedder, None, flat).unwrap();
    assert_eq!(service.priority(), EncoderPriority::Unchanged);
    let pool: Vec<i32> = service.inner.pools[0].broadcast(|_| priority::current_thread_nice());
    assert_eq!(pool, vec![base]);
}

#[test]
fn small_machines_give_the_encoder_every_core_and_larger_ones_keep_a_quarter() {
    let pool: Vec<usize> = [1, 2, 3, 4, 8, 16]
        .into_iter()
        .map(super::encoder_threads_for)
        .collect();
    assert_eq!(pool, vec![1, 2, 3, 3, 6, 12]);
}

/// Panics on the text "boom"; records the size of the pool each pass ran on.
struct PanickyEmbedder {
    pool_sizes: Mutex<Vec<usize>>,
}

impl Embedder for PanickyEmbedder {
    fn dim(&self) -> usize {
        2
    }
    fn fingerprint(&self) -> &str {
        "test"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        self.pool_sizes
            .lock()
            .unwrap()
            .push(rayon::current_num_threads());
        assert!(!texts.contains(&"boom"), "the encoder broke");
        Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
    }
}

/// A panic inside a pass fails that batch's prompts with an error and leaves the worker
/// serving: before, the worker thread died with it, and with one worker nothing was embedded
/// again until a restart.
#[tokio::test]
async fn a_pass_that_panics_fails_its_batch_and_the_worker_goes_on() {
    let embedder = Arc::new(PanickyEmbedder {
        pool_sizes: Mutex::new(Vec::new()),
    });
    let config = ServiceConfig {
        workers: 1,
        cache_entries: 0,
        ..Default::default()
    };
    let service = Service::start(embedder, None, config).unwrap();
    let failed = service.score("boom".into(), later()).await;
    assert!(
        matches!(failed, Err(ServiceError::Embed(_))),
        "{:?}",
        failed.err()
    );
    assert_eq!(service.stats().panicked, 1);
    for _ in 0..3 {
        let scored = service
            .score("fine".into(), Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(scored.embedding, vec![4.0, 1.0]);
    }
}

/// Each worker runs its passes on a pool of its own, the threads shared out between them, so
/// that no worker's pass runs nested inside another's.
#[tokio::test]
async fn each_worker_has_a_pool_of_its_own() {
    let embedder = Arc::new(PanickyEmbedder {
        pool_sizes: Mutex::new(Vec::new()),
    });
    let config = ServiceConfig {
        workers: 2,
        encoder_threads: 5,
        cache_entries: 0,
        ..Default::default()
    };
    let service = Service::start(embedder.clone(), None, config).unwrap();
    assert_eq!(
        service
            .inner
            .pools
            .iter()
            .map(rayon::ThreadPool::current_num_threads)
            .collect::<Vec<_>>(),
        vec![3, 2]
    );
    for i in 0..8 {
        service.score("x".repeat(i + 1), later()).await.unwrap();
    }
    let sizes = embedder.pool_sizes.lock().unwrap().clone();
    assert!(sizes.iter().all(|n| [2, 3].contains(n)), "{sizes:?}");
    let one = Service::start(
        embedder,
        None,
        ServiceConfig {
            workers: 3,
            encoder_threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(one.inner.pools.iter().all(|p| p.current_num_threads() == 1));
}

/// Panics on the embedding of a six-letter text; scores anything else like [`LengthPredictor`].
struct PanickyPredictor(Vec<ModelId>);

impl QualityPredictor for PanickyPredictor {
    fn models(&self) -> &[ModelId] {
        &self.0
    }
    fn predict(&self, embedding: &[f32]) -> Vec<ModelEstimate> {
        assert!(embedding[0] != 6.0, "the predictor broke");
        LengthPredictor(self.0.clone()).predict(embedding)
    }
}

/// A head that panics fails its prompt and leaves the worker serving, from the queue and from
/// the cache alike: before, the worker thread died with it (its callers unanswered, its slot
/// busy for ever), and on a cache hit the panic unwound the caller's task.
#[tokio::test]
async fn a_head_that_panics_fails_its_prompt_and_the_worker_goes_on() {
    let embedder = Arc::new(PanickyEmbedder {
        pool_sizes: Mutex::new(Vec::new()),
    });
    let predictor: Arc<dyn QualityPredictor> = Arc::new(PanickyPredictor(vec![ModelId::new("m")]));
    let config = ServiceConfig {
        workers: 1,
        cache_entries: 16,
        ..Default::default()
    };
    let service = Service::start(embedder, Some(predictor), config).unwrap();
    let soon = || Instant::now() + Duration::from_secs(5);
    let failed = service.score("kaboom".into(), soon()).await;
    assert!(
        matches!(failed, Err(ServiceError::Embed(_))),
        "{:?}",
        failed.err()
    );
    assert_eq!(service.stats().panicked, 1);
    for _ in 0..3 {
        let scored = service.score("fine".into(), soon()).await.unwrap();
        let (_, estimates) = scored.estimates.unwrap();
        assert_eq!(estimates[0].quality, 0.4);
    }
    // The embedding was cached before the head ran: the retry is a cache hit.
    let again = service.score("kaboom".into(), soon()).await;
    assert!(matches!(again, Err(ServiceError::Embed(_))));
    assert_eq!(service.stats().panicked, 2);
    assert!(service.score("other".into(), soon()).await.is_ok());
}
