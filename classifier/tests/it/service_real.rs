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

#[tokio::test]
async fn a_calibrated_service_serves_long_prompts_its_prior_would_refuse() {
    // A prior of 0.5 GFLOP/s says a 128-token prompt takes about 6 s; this machine takes
    // milliseconds. Calibrated at start, the service knows it from the first request on and
    // serves both without probing.
    let slow_prior = classifier::CostPrior {
        overhead: std::time::Duration::from_millis(2),
        gflops: 0.5,
    };
    let long = "route this paragraph please ".repeat(19); // about 128 tokens by the estimate
    for calibrate in [false, true] {
        let encoder = classifier::Encoder::load(&encoder_dir(), Default::default()).unwrap();
        let config = ServiceConfig {
            prior: slow_prior,
            calibrate,
            ..ServiceConfig::default()
        };
        let service = Service::start(Arc::new(encoder), None, config).unwrap();
        let mut served = 0;
        for _ in 0..2 {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            served += usize::from(service.score(long.clone(), deadline).await.is_ok());
        }
        let fitted = service.stats().fitted_gflops;
        if calibrate {
            assert_eq!(served, 2, "calibrated at {fitted} GFLOP/s");
            assert!(fitted > 2.0, "{fitted}");
        } else {
            // Uncalibrated, the prior still holds the fit after two passes (each let through
            // only as a probe of the idle encoder, one per quarter second at most).
            assert!(fitted < 1.0, "{fitted}");
        }
    }
}
