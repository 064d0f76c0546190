//! `[router] encoder_weights = "int8"`: the encoder's int8 weights serve only after the gate
//! ([`classifier::int8_gate`]) passes with this gateway's own routing: its catalog, candidates,
//! default objective, artifact and task classifier.

use std::sync::Arc;
use std::time::Duration;

use classifier::int8_gate::{self, Int8Gate};
use router_core::Constraints;

use super::{Router, RoutingInput};
use crate::metrics::Metrics;
use crate::Config;

/// Embeds `texts` with `encoder`'s f32 and int8 weights and routes both embeddings of each
/// prompt as this gateway would route a chat request with that one message: `service` (which
/// must run on `encoder`), the configured candidates and default objective. Offline (no live
/// provider) the pool is the artifact's models, else the whole catalog, as `switchyard route`
/// does.
pub fn measure(
    config: &Config,
    encoder: &classifier::Encoder,
    service: &classifier::Service,
    texts: &[&str],
) -> Result<Int8Gate, classifier::Error> {
    let trained = service.predictor().map(|p| p.models().to_vec());
    let pool = config.offline_pool(trained.as_deref().unwrap_or_default());
    // Its own metrics: the gate's decisions are not traffic.
    let router = Router::new(
        Arc::new(config.catalog.clone()),
        pool.clone(),
        config.router.fallback_model.clone(),
        Duration::from_secs(30),
        Some(service.clone()),
        Arc::new(Metrics::new()),
    );
    int8_gate::measure(encoder, texts, |text, embedding| {
        // Nothing here embeds the text again: the decision reads the embedding given.
        let input = RoutingInput {
            text: text.to_owned(),
            input_tokens: crate::tokens::estimate(text),
            constraints: Constraints::default(),
            objective: config.objective,
        };
        let routed = router.route_embedding(&input, &pool, embedding.to_vec())?;
        routed.ok().map(|r| r.decision.chosen)
    })
}
