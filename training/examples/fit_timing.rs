//! Times every fitting function on a planted set.
//!
//! `cargo run --release -p training --example fit_timing -- [rows] [dim] [models]`
//! (defaults 10000 384 11, the size the README's timings are quoted for).

use std::time::Instant;

use training::synthetic::{planted, PlantedConfig};
use training::{evaluate, fit_knn, fit_linear, fit_mf, fit_mlp, split_holdout};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let cfg = PlantedConfig {
        rows: arg(1, 10_000),
        dim: arg(2, 384),
        models: arg(3, 11),
        latent: 16,
        missing: 0.3,
        ..PlantedConfig::default()
    };
    let data = planted(&cfg);
    let (train, test) = split_holdout(&data.set, 0.1, 0);
    println!(
        "{} train rows, {} test rows, dim {}, {} models",
        train.len(),
        test.len(),
        cfg.dim,
        cfg.models
    );

    let t = Instant::now();
    let knn = fit_knn(&train, &Default::default(), None)?;
    let fit = t.elapsed();
    let t = Instant::now();
    let s = evaluate(&knn, &test);
    println!(
        "knn    fit {fit:>10.2?}  eval {:>8.2?}  quality mse {:.4}  log-token mse {:.4}",
        t.elapsed(),
        s.quality_mse,
        s.log_tokens_mse
    );

    let t = Instant::now();
    let linear = fit_linear(&train, &Default::default(), None)?;
    println!(
        "linear fit {:>10.2?}  quality mse {:.4}  log-token mse {:.4}",
        t.elapsed(),
        evaluate(&linear, &test).quality_mse,
        evaluate(&linear, &test).log_tokens_mse
    );

    let t = Instant::now();
    let mlp = fit_mlp(&train, &Default::default(), None)?;
    println!(
        "mlp    fit {:>10.2?}  quality mse {:.4}  log-token mse {:.4}  {}",
        t.elapsed(),
        evaluate(&mlp, &test).quality_mse,
        evaluate(&mlp, &test).log_tokens_mse,
        mlp.manifest().metrics
    );

    let t = Instant::now();
    let mf = fit_mf(&train, &Default::default(), None)?;
    println!(
        "mf     fit {:>10.2?}  quality mse {:.4}  log-token mse {:.4}  {}",
        t.elapsed(),
        evaluate(&mf, &test).quality_mse,
        evaluate(&mf, &test).log_tokens_mse,
        mf.manifest().metrics
    );
    Ok(())
}
