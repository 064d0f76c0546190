use std::sync::Arc;

use classifier::{Service, ServiceConfig};

use crate::parity::encoder_dir;

#[tokio::test]
async fn the_service_scores_real_prompts_concurrently() {
    let encoder = classifier::Encoder::load(&encoder_dir(), Default::default()).unwrap();
    let reference = encoder.encode(&["route me", "and me too"]).unwrap();
    let service = Service::start(Arc::new(encoder), None, ServiceConfig::default()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    let (a, b) = tokio::join!(
        service.score("route me".into(), deadline),
        service.score("and me too".into(), deadline)
    );
    for (got, want) in [a.unwrap().embedding, b.unwrap().embedding]
        .iter()
        .zip(&reference)
    {
        let diff = got
            .iter()
            .zip(want)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{diff}");
    }
    assert_eq!(service.stats().enqueued, 2);
}
