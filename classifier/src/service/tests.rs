#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use router_core::{BoxError, ModelId};

use super::*;

/// An embedder whose forward pass waits until the test opens the gate, and which records the
/// size of every batch it sees.
struct GatedEmbedder {
    gate: Mutex<crossbeam_channel::Receiver<()>>,
    batches: Mutex<Vec<usize>>,
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
        self.batches.lock().unwrap().push(texts.len());
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

#[tokio::test]
async fn waiting_prompts_are_batched_together() {
    let (embedder, open) = gated();
    let config = ServiceConfig {
        max_batch: 8,
        max_wait: Duration::from_millis(50),
        ..Default::default()
    };
    let service = Service::start(embedder.clone(), None, config).unwrap();
    // The first prompt occupies the worker; the next five queue up behind it.
    let first = tokio::spawn({
        let s = service.clone();
        async move { s.score("a".into()).await }
    });
    while service.stats().dequeued < 1 {
        tokio::task::yield_now().await;
    }
    let rest: Vec<_> = (0..5)
        .map(|i| {
            let s = service.clone();
            tokio::spawn(async move { s.score("x".repeat(i)).await })
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
        assert_eq!(scored.embedding, vec![i as f32, 1.0]);
    }
    assert_eq!(*embedder.batches.lock().unwrap(), vec![1, 5]);
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_abandoned_prompts_are_skipped() {
    let (embedder, open) = gated();
    let config = ServiceConfig {
        max_batch: 1,
        queue_capacity: 2,
        max_wait: Duration::ZERO,
        ..Default::default()
    };
    let service = Service::start(embedder, None, config).unwrap();
    let busy = tokio::spawn({
        let s = service.clone();
        async move { s.score("busy".into()).await }
    });
    while service.stats().dequeued < 1 {
        tokio::task::yield_now().await;
    }
    // Two abandoned prompts fill the queue...
    for _ in 0..2 {
        let s = service.clone();
        let fut = Box::pin(async move { s.score("gone".into()).await });
        let _ = futures_poll_once(fut).await;
    }
    assert_eq!(service.queue_len(), 2);
    // ...so the next one is refused without waiting.
    assert_eq!(
        service.score("late".into()).await.err(),
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

/// Polls a future once (enqueuing the job) and then drops it, as a timed-out caller would.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

use std::task::Poll;

#[tokio::test]
async fn the_predictor_runs_on_the_worker_and_can_be_swapped() {
    let (embedder, open) = gated();
    let service = Service::start(embedder, None, ServiceConfig::default()).unwrap();
    open.send(()).unwrap();
    assert!(service
        .score("abc".into())
        .await
        .unwrap()
        .estimates
        .is_none());

    service.set_predictor(Some(Arc::new(LengthPredictor(vec![ModelId::new("m")]))));
    open.send(()).unwrap();
    let scored = service.score("abcd".into()).await.unwrap();
    let (predictor, estimates) = scored.estimates.unwrap();
    assert_eq!(predictor.models(), &[ModelId::new("m")]);
    assert!((estimates[0].quality - 0.4).abs() < 1e-9);
}

#[tokio::test]
async fn the_task_classifier_runs_as_a_head_on_the_worker() {
    let (embedder, open) = gated();
    let service = Service::start(embedder, None, ServiceConfig::default()).unwrap();
    open.send(()).unwrap();
    assert!(service.score("abc".into()).await.unwrap().tasks.is_none());

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
        .score("a long text".into())
        .await
        .unwrap()
        .tasks
        .unwrap();
    assert_eq!(tasks.top(), router_core::Task::Coding);
    assert_eq!(tasks.get(router_core::Task::Math), 0.0);
}
