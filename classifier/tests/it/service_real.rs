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
    // A prior of 0.5 GFLOP/s says a 135-token prompt (by the service's estimate) takes about
    // 6 s; this machine takes milliseconds. Two such prompts arrive together on an idle
    // encoder with a 2 s deadline: uncalibrated, the first goes through only as a probe of the
    // idle encoder and the second is refused at once; calibrated at start, both are served.
    let slow_prior = classifier::CostPrior {
        overhead: std::time::Duration::from_millis(2),
        gflops: 0.5,
    };
    let first = "route this paragraph please ".repeat(19);
    let second = "and route this one as well ".repeat(19);
    for calibrate in [false, true] {
        let encoder = classifier::Encoder::load(&encoder_dir(), Default::default()).unwrap();
        let config = ServiceConfig {
            prior: slow_prior,
            calibrate,
            cache_entries: 0,
            ..ServiceConfig::default()
        };
        let service = Service::start(Arc::new(encoder), None, config).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let (a, b) = tokio::join!(
            service.score(first.clone(), deadline),
            service.score(second.clone(), deadline)
        );
        let served = usize::from(a.is_ok()) + usize::from(b.is_ok());
        let stats = service.stats();
        if calibrate {
            assert_eq!(served, 2, "calibrated at {} GFLOP/s", stats.fitted_gflops);
            assert_eq!(stats.enqueued, 2);
        } else {
            assert_eq!(served, 1, "uncalibrated at {} GFLOP/s", stats.fitted_gflops);
            assert_eq!(stats.enqueued, 1, "the second was refused at admission");
        }
    }
}
