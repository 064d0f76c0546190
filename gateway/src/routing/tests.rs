#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use router_core::{BoxError, Embedder, QualityPredictor};

use super::*;

/// A real (if trivial) embedder: every text maps to the same unit vector.
struct ConstEmbedder;

impl Embedder for ConstEmbedder {
    fn dim(&self) -> usize {
        2
    }
    fn fingerprint(&self) -> &str {
        "const"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
    }
}

/// An embedder that blocks until its gate's sender is dropped: the encoder never answers in
/// time, without any timing assumption.
struct GatedEmbedder(Mutex<std::sync::mpsc::Receiver<()>>);

impl Embedder for GatedEmbedder {
    fn dim(&self) -> usize {
        2
    }
    fn fingerprint(&self) -> &str {
        "gated"
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        let _ = self.0.lock().unwrap().recv();
        Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
    }
}

/// Predicts quality 1 for one favourite model, 0 for the rest.
struct Favourite {
    models: Vec<ModelId>,
    favourite: ModelId,
}

impl QualityPredictor for Favourite {
    fn models(&self) -> &[ModelId] {
        &self.models
    }
    fn predict(&self, _embedding: &[f32]) -> Vec<ModelEstimate> {
        self.models
            .iter()
            .map(|m| ModelEstimate {
                quality: if *m == self.favourite { 1.0 } else { 0.0 },
                output_tokens: 100.0,
            })
            .collect()
    }
}

fn ids(names: &[&str]) -> Vec<ModelId> {
    names.iter().map(|n| ModelId::new(*n)).collect()
}

fn input() -> RoutingInput {
    RoutingInput {
        text: "hello".into(),
        input_tokens: 10,
        constraints: Constraints::default(),
        objective: Objective::Utility { lambda: 1.0 },
    }
}

fn router(classifier: Option<classifier::Service>, metrics: Arc<Metrics>) -> Router {
    let catalog = Arc::new(models::Catalog::embedded().unwrap());
    Router::new(
        catalog,
        ids(&["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano"]),
        ModelId::new("gpt-4.1-nano"),
        Duration::from_millis(20),
        classifier,
        metrics,
    )
}

#[tokio::test]
async fn priors_without_classifier() {
    let r = router(None, Arc::new(Metrics::new()));
    let routed = r.route(&input(), &r.candidates(), None).await.unwrap();
    assert_eq!(routed.source, PredictionSource::Priors);
    assert_eq!(routed.decision.ranked.len(), 3);
}

#[tokio::test]
async fn trained_predictor_decides() {
    let predictor: Arc<dyn QualityPredictor> = Arc::new(Favourite {
        models: ids(&["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano"]),
        favourite: ModelId::new("gpt-4o"),
    });
    let service = classifier::Service::start(
        Arc::new(ConstEmbedder),
        Some(predictor),
        classifier::ServiceConfig::default(),
    )
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let mut r = router(Some(service), metrics);
    // The deadline is only a bound here; give the worker thread ample time on a busy machine.
    r.deadline = Duration::from_secs(30);
    let routed = r.route(&input(), &r.candidates(), None).await.unwrap();
    assert_eq!(routed.source, PredictionSource::Trained);
    assert_eq!(routed.decision.chosen.as_str(), "gpt-4o");
}

#[tokio::test]
async fn stalled_encoder_falls_back_and_counts() {
    let (gate, rx) = std::sync::mpsc::channel::<()>();
    let predictor: Arc<dyn QualityPredictor> = Arc::new(Favourite {
        models: ids(&["gpt-4o"]),
        favourite: ModelId::new("gpt-4o"),
    });
    let service = classifier::Service::start(
        Arc::new(GatedEmbedder(Mutex::new(rx))),
        Some(predictor),
        classifier::ServiceConfig::default(),
    )
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let r = router(Some(service), metrics.clone());
    let routed = r.route(&input(), &r.candidates(), None).await.unwrap();
    assert_eq!(
        routed.source,
        PredictionSource::StaticFallback { reason: "deadline" }
    );
    assert_eq!(routed.decision.chosen.as_str(), "gpt-4.1-nano");
    assert_eq!(routed.decision.reason, DecisionReason::StaticFallback);
    assert_eq!(
        metrics.counter_value(
            "switchyard_classifier_fallback_total",
            &[("reason", "deadline")]
        ),
        1.0
    );
    drop(gate);
}

#[tokio::test]
async fn pinned_model_leads_the_failover_order() {
    let r = router(None, Arc::new(Metrics::new()));
    let mut inp = input();
    inp.constraints.exclude = ids(&["gpt-4o"]);
    let routed = r
        .pin(&ModelId::new("gpt-4o"), &inp, &r.candidates())
        .unwrap();
    let order = routed.decision.failover_order();
    assert_eq!(order[0].as_str(), "gpt-4o");
    assert_eq!(order.len(), 3);
}

#[tokio::test]
async fn an_encoder_that_cannot_answer_in_time_is_skipped_at_once() {
    // Issue 10: under load the encoder used to be waited on for the whole deadline. A service
    // that predicts it cannot make the deadline now says so, and the router falls back
    // without waiting: the reason is `deadline_unmeetable`, not the backstop's `deadline`.
    let (_gate, rx) = std::sync::mpsc::channel::<()>();
    let predictor: Arc<dyn QualityPredictor> = Arc::new(Favourite {
        models: ids(&["gpt-4o"]),
        favourite: ModelId::new("gpt-4o"),
    });
    let config = classifier::ServiceConfig {
        // Every forward pass is believed to take 100 s: no 20 ms deadline can be met.
        prior: classifier::CostPrior {
            overhead: Duration::from_secs(100),
            gflops: 1e6,
        },
        ..Default::default()
    };
    let service = classifier::Service::start(
        Arc::new(GatedEmbedder(Mutex::new(rx))),
        Some(predictor),
        config,
    )
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let r = router(Some(service.clone()), metrics.clone());
    // The first prompt on an idle encoder is admitted as a probe (so the cost fit can recover
    // from a bad estimate); it occupies the stalled worker and falls back at the deadline.
    let probe = r.route(&input(), &r.candidates(), None).await.unwrap();
    assert_eq!(
        probe.source,
        PredictionSource::StaticFallback { reason: "deadline" }
    );
    let routed = r.route(&input(), &r.candidates(), None).await.unwrap();
    assert_eq!(
        routed.source,
        PredictionSource::StaticFallback {
            reason: "deadline_unmeetable"
        }
    );
    assert_eq!(routed.decision.chosen.as_str(), "gpt-4.1-nano");
    assert_eq!(
        metrics.counter_value(
            "switchyard_classifier_fallback_total",
            &[("reason", "deadline_unmeetable")]
        ),
        1.0
    );
    // Only the probe was queued for the encoder.
    assert_eq!(service.stats().enqueued, 1);
}

#[tokio::test]
async fn a_repeated_prompt_is_served_from_the_embedding_cache() {
    let predictor: Arc<dyn QualityPredictor> = Arc::new(Favourite {
        models: ids(&["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano"]),
        favourite: ModelId::new("gpt-4o"),
    });
    let service = classifier::Service::start(
        Arc::new(ConstEmbedder),
        Some(predictor),
        classifier::ServiceConfig::default(),
    )
    .unwrap();
    let metrics = Arc::new(Metrics::new());
    let mut r = router(Some(service), metrics.clone());
    r.deadline = Duration::from_secs(30);
    for _ in 0..3 {
        let routed = r.route(&input(), &r.candidates(), None).await.unwrap();
        assert_eq!(routed.decision.chosen.as_str(), "gpt-4o");
    }
    let count =
        |result| metrics.counter_value("switchyard_encoder_cache_total", &[("result", result)]);
    assert_eq!((count("hit"), count("miss")), (2.0, 1.0));
    assert!(metrics
        .render()
        .contains("switchyard_encoder_cache_total{result=\"hit\"} 2"));
}

/// A candidate whose provider announced its shutdown leaves `auto` at that moment, without a
/// restart; the others stay, and before it every candidate is served without a copy.
#[test]
fn an_announced_shutdown_takes_the_model_out_of_auto_at_its_time() {
    let r = router(None, Arc::new(Metrics::new())).with_availability(super::Availability {
        withdrawn: Vec::new(),
        retire_at: vec![(ModelId::new("gpt-4o"), 1_000)],
    });
    let before = r.candidates_at(999);
    assert!(matches!(before, std::borrow::Cow::Borrowed(_)));
    assert_eq!(&*before, ids(&["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano"]));
    assert_eq!(
        &*r.candidates_at(1_000),
        ids(&["gpt-4o-mini", "gpt-4.1-nano"])
    );
    assert!(!r.candidates_at(5_000).contains(&ModelId::new("gpt-4o")));
}

/// With a seed, the same sequence of requests gets the same choices, whatever `/v1/route`
/// previews in between: the previews draw from a generator of their own.
#[tokio::test]
async fn previews_leave_the_seeded_serving_stream_alone() {
    let explore = Exploration::EpsilonGreedy {
        epsilon: 0.9,
        top_k: 3,
    };
    let chosen = |with_previews: bool| async move {
        let r = router(None, Arc::new(Metrics::new())).with_exploration(explore, Some(7));
        let mut served = Vec::new();
        for _ in 0..40 {
            if with_previews {
                r.preview(&input(), &r.candidates(), None).await.unwrap();
            }
            let routed = r.route(&input(), &r.candidates(), None).await.unwrap();
            served.push(routed.decision.chosen);
        }
        served
    };
    let alone = chosen(false).await;
    assert_eq!(alone, chosen(true).await);
    // The draws did explore: more than one model was served.
    assert!(alone.iter().any(|m| *m != alone[0]), "{alone:?}");
}
