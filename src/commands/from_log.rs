//! `train --from-log` and `eval --from-log`: learning from, and judging routers on, the
//! gateway's own logged traffic (bandit feedback: one model's outcome per prompt).

use std::path::Path;

use anyhow::Context;
use classifier::predictors::TrainingSet;
use router_core::{Constraints, Objective};
use training::from_log::{self, OpeSetup, SampleConfig};
use training::CellWeights;

use super::EncoderArgs;

/// The masked training set of a log: one labelled cell per prompt (the served model's
/// feedback score), every other cell missing, so the masked loss learns only what was seen.
/// Also returns each cell's inverse-propensity weight (clipped at `ips_clip`; 0 on unlabelled
/// cells), for `train --weighting ips`, and the encoder's fingerprint.
pub fn training_set(
    log: &Path,
    metric: Option<&str>,
    ips_clip: Option<f64>,
    encoder: &EncoderArgs,
) -> anyhow::Result<(TrainingSet, CellWeights, String)> {
    let outcomes = from_log::load_outcomes(log)?;
    let config = SampleConfig {
        metric: metric.map(str::to_owned),
    };
    let (samples, skipped) = from_log::bandit_samples(&outcomes, &config);
    eprintln!(
        "{}: {} outcomes, {} usable samples ({skipped})",
        log.display(),
        outcomes.len(),
        samples.len()
    );
    let encoder = encoder.load()?;
    let fingerprint = router_core::Embedder::fingerprint(&encoder).to_owned();
    let bandit = from_log::bandit_training_set(&samples, &encoder, None, ips_clip)
        .with_context(|| format!("building a training set from {}", log.display()))?;
    if bandit.unknown_model > 0 {
        eprintln!(
            "{} samples named a model outside the set and were left out",
            bandit.unknown_model
        );
    }
    let weights = CellWeights::from_cells(&bandit.ips_weights);
    Ok((bandit.set, weights, fingerprint))
}

/// Off-policy estimates of `router`'s quality and cost on the logged traffic (IPS, SNIPS,
/// doubly robust, with 95% intervals), next to what the logging policy achieved.
pub fn evaluate(
    log: &Path,
    router: &Path,
    metric: Option<&str>,
    clip: Option<f64>,
    gate: Option<evals::ope::GateEstimator>,
    json: bool,
    encoder: &EncoderArgs,
) -> anyhow::Result<()> {
    let outcomes = from_log::load_outcomes(log)?;
    let config = SampleConfig {
        metric: metric.map(str::to_owned),
    };
    let (samples, skipped) = from_log::bandit_samples(&outcomes, &config);
    eprintln!(
        "{}: {} usable samples ({skipped})",
        log.display(),
        samples.len()
    );
    let candidate = classifier::predictors::load_artifact(router)
        .with_context(|| format!("loading the candidate router {}", router.display()))?;
    let catalog = models::Catalog::embedded()?;
    let entries: Vec<models::CatalogEntry> = catalog.entries().cloned().collect();
    let encoder = encoder.load()?;
    let exploration = router_core::Exploration::Off;
    // Rows written before the gateway logged its constraints re-route over the models the log
    // shows serving plus those the candidate knows: the closest knowable stand-in for the pool
    // the gateway routed over (newer rows carry their own).
    let mut pool: Vec<router_core::ModelId> = candidate.models().to_vec();
    for s in &samples {
        if !pool.contains(&s.model) {
            pool.push(s.model.clone());
        }
    }
    let fallback_constraints = Constraints {
        candidates: Some(pool),
        ..Constraints::default()
    };
    let tasks = classifier::predictors::TaskClassifier::bundled_for(
        router_core::Embedder::fingerprint(&encoder),
        router_core::Embedder::dim(&encoder),
    )
    .ok();
    let setup = OpeSetup {
        catalog: &entries,
        candidate: candidate.as_ref(),
        tasks: tasks.as_ref(),
        reward_model: None,
        constraints: &fallback_constraints,
        objective: Objective::default(),
        exploration: &exploration,
        anchor_catalog: Some(&catalog),
    };
    let ope = from_log::ope_steps(&samples, &encoder, &setup)?;
    let config = evals::ope::OpeConfig {
        clip,
        ..Default::default()
    };
    let report = evals::ope::evaluate_policy(&ope.steps, &config)?;
    let verdict = match gate {
        None => None,
        Some(estimator) => Some(evals::ope::gate(
            &ope.steps,
            Objective::default().lambda(),
            estimator,
            evals::ope::GateLimits::default(),
            &config,
        )?),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(router, ope.steps.len(), &report);
    }
    if let Some(g) = verdict {
        let line = format!(
            "gate ({:?}, λ = {}): candidate utility {:.4} [{:.4}, {:.4}] vs logged {:.4} on {} requests",
            g.estimator, g.lambda, g.candidate.value, g.candidate.ci_low, g.candidate.ci_high,
            g.logged.value, g.candidate.n
        );
        if let Some(why) = g.refusal() {
            anyhow::bail!("{line}: not shown better ({why}); keep the current router");
        }
        eprintln!("{line}: pass");
    }
    Ok(())
}

/// The estimates as a markdown table.
fn print_table(router: &Path, n: usize, report: &evals::ope::OpeReport) {
    println!(
        "Off-policy estimate of {} on {} logged requests\n",
        router.display(),
        n
    );
    println!(
        "| quantity | estimator | value | 95% interval | effective n |\n|---|---|---:|---|---:|"
    );
    for (what, est) in [("quality", &report.reward), ("cost (USD)", &report.cost)] {
        for (name, e) in [("IPS", &est.ips), ("SNIPS", &est.snips), ("DR", &est.dr)] {
            println!(
                "| {what} | {name} | {:.4} | [{:.4}, {:.4}] | {:.0} |",
                e.value, e.ci_low, e.ci_high, e.effective_sample_size
            );
        }
    }
    for (what, e) in [
        ("quality", &report.logged_reward),
        ("cost (USD)", &report.logged_cost),
    ] {
        println!(
            "| {what} | logged policy | {:.4} | [{:.4}, {:.4}] | {} |",
            e.value, e.ci_low, e.ci_high, e.n
        );
    }
}
