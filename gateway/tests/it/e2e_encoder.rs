//! End-to-end with the real encoder: all-MiniLM-L6-v2 embeds each `auto` prompt inside the
//! gateway's encoder service and a predictor scores the candidates from that embedding.
//!
//! The predictor is a small real one written here (quality rises with the prompt's cosine to a
//! reference maths prompt for `gpt-4o`, flat for `gpt-4o-mini`), so the routing visibly
//! depends on the embedding. Skipped, with a note, when the weights have not been fetched
//! (`switchyard model fetch`; `scripts/test.sh` fetches them first).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use router_core::{Embedder, ModelEstimate, ModelId, QualityPredictor};
use serde_json::{json, Value};

use crate::e2e_harness::{all_providers, chat_body, config, header, Harness};

const MATHS: &str = "Prove that the square root of two is irrational.";
const GREETING: &str = "Hi! How are you today?";

struct CosinePredictor {
    models: Vec<ModelId>,
    reference: Vec<f32>,
}

impl QualityPredictor for CosinePredictor {
    fn models(&self) -> &[ModelId] {
        &self.models
    }

    fn predict(&self, embedding: &[f32]) -> Vec<ModelEstimate> {
        // Both vectors are L2-normalised: the dot product is the cosine.
        let cos: f32 = embedding
            .iter()
            .zip(&self.reference)
            .map(|(a, b)| a * b)
            .sum();
        vec![
            ModelEstimate {
                quality: 0.6,
                output_tokens: 100.0,
            },
            ModelEstimate {
                quality: (0.5 + 0.5 * f64::from(cos)).clamp(0.0, 1.0),
                output_tokens: 100.0,
            },
        ]
    }
}

/// The fetched weights' folder, or `None` (with a note) when they are not there.
fn encoder_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.switchyard/encoder/all-MiniLM-L6-v2");
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    eprintln!(
        "skipped: no encoder weights in {} (run `switchyard model fetch`)",
        dir.display()
    );
    None
}

/// `auto` requests that took the static fallback because the encoder did not answer.
fn classifier_fallbacks(h: &Harness) -> f64 {
    h.gw.metrics()
        .render()
        .lines()
        .filter(|l| l.starts_with("switchyard_classifier_fallback_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn auto_routes_on_the_real_encoder_and_predictor() {
    let Some(dir) = encoder_dir() else {
        return;
    };
    let encoder = Arc::new(classifier::Encoder::load(&dir, Default::default()).unwrap());
    let reference = encoder.embed(&[MATHS]).unwrap().remove(0);
    let predictor = CosinePredictor {
        models: vec![ModelId::new("gpt-4o-mini"), ModelId::new("gpt-4o")],
        reference,
    };
    let service = classifier::Service::start(
        encoder,
        Some(Arc::new(predictor)),
        classifier::ServiceConfig::default(),
    )
    .unwrap();

    let fake = testkit::FakeProvider::start().await;
    let log_dir = tempfile::tempdir().unwrap();
    let cfg = config(
        log_dir.path(),
        all_providers(&fake),
        &["gpt-4o-mini", "gpt-4o"],
        |c| {
            // A debug-build encoder on a busy machine can be slow; the test is about the
            // decision, not the deadline.
            c.router.routing_deadline = Duration::from_secs(60);
            c.router.lambda = Some(100.0);
        },
    );
    let h = Harness::start(fake, cfg, Some(service), log_dir).await;

    let v: Value = h.get("/health").await.json().await.unwrap();
    assert_eq!(v["predictor"], true);

    let routed: Value = h
        .post_json("/v1/route", &json!({"prompt": MATHS}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(routed["source"], "trained", "{routed}");
    assert_eq!(routed["chosen"], "gpt-4o", "{routed}");
    assert_eq!(h.fake.requests().len(), 0);

    let maths = h.chat(&chat_body("auto", false, MATHS)).await;
    assert_eq!(maths.status(), 200);
    assert_eq!(header(&maths, "x-switchyard-model"), "gpt-4o");
    let _ = maths.bytes().await.unwrap();
    let greeting = h.chat(&chat_body("auto", false, GREETING)).await;
    assert_eq!(greeting.status(), 200);
    assert_eq!(header(&greeting, "x-switchyard-model"), "gpt-4o-mini");
    let _ = greeting.bytes().await.unwrap();

    let rows = h.rows().await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let decision = row.decision.as_ref().unwrap();
        assert_eq!(Some(&decision.chosen), row.model.as_ref());
        assert!(row.cost_usd.unwrap() > 0.0);
    }
    assert_eq!(
        classifier_fallbacks(&h),
        0.0,
        "the encoder answered every prompt"
    );
    h.stop().await;
}

/// `encoder_weights = "int8"` end to end: the gateway loads the int8 copies, settles what
/// serves through the gate (or, without AVX-512 VNNI, straight to f32), and `auto` still
/// routes on the encoder. Whatever serves embeds within the gate's cosine of f32.
#[tokio::test]
async fn int8_encoder_weights_are_gated_and_auto_still_routes() {
    let Some(dir) = encoder_dir() else {
        return;
    };
    let fake = testkit::FakeProvider::start().await;
    let log_dir = tempfile::tempdir().unwrap();
    let cfg = config(
        log_dir.path(),
        all_providers(&fake),
        &["gpt-4o-mini", "gpt-4o"],
        |c| {
            c.router.routing_deadline = Duration::from_secs(60);
            c.router.encoder_weights = gateway::config::EncoderWeights::Int8;
        },
    );
    let (encoder, service) = gateway::server::load_encoder_service(
        &cfg,
        &dir,
        classifier::ServiceConfig::default(),
        classifier::EncoderConfig::default(),
    )
    .unwrap()
    .unwrap();
    assert!(encoder.int8(), "int8 copies loaded as configured");
    let served = gateway::server::settle_int8(&cfg, &encoder, &service);
    assert_eq!(served, encoder.int8());
    if !classifier::Encoder::int8_accelerated() {
        assert!(!served, "no VNNI: f32 serves without a gate run");
    }
    let f32 = encoder.encode_f32(&[MATHS]).unwrap().remove(0);
    let int8 = encoder.encode_int8(&[MATHS]).unwrap().remove(0);
    let cos: f32 = f32.iter().zip(&int8).map(|(a, b)| a * b).sum();
    assert!(cos >= 0.999, "int8 embeds the maths prompt at cosine {cos}");

    let h = Harness::start(fake, cfg, Some(service), log_dir).await;
    let routed: Value = h
        .post_json("/v1/route", &json!({"prompt": MATHS}))
        .await
        .json()
        .await
        .unwrap();
    assert!(routed["chosen"].is_string(), "{routed}");
    let resp = h.chat(&chat_body("auto", false, GREETING)).await;
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.unwrap();
    let row = h.only_row().await;
    assert!(row.decision.is_some(), "auto was routed, not pinned");
    assert_eq!(
        classifier_fallbacks(&h),
        0.0,
        "the encoder answered both prompts"
    );
    h.stop().await;
}
