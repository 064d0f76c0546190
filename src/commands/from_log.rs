//! `train --from-log` and `eval --from-log`: learning from, and judging routers on, the
//! gateway's own logged traffic (bandit feedback: one model's outcome per prompt).

use std::path::Path;

use anyhow::Context;
use classifier::predictors::{Artifact, TrainingSet};
use router_core::{Constraints, Exploration, Objective};
use training::from_log::{self, OpeSetup, RewardModel, SampleConfig};
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

/// What `eval --from-log --router` was asked.
#[derive(Clone, Copy)]
pub struct OpeArgs<'a> {
    /// The candidate router artifact.
    pub router: &'a Path,
    /// Only the rows of this A/B arm.
    pub arm: Option<&'a str>,
    /// The reward metric.
    pub metric: Option<&'a str>,
    /// Importance weight clip.
    pub clip: Option<f64>,
    /// The deployment gate's estimator.
    pub gate: Option<evals::ope::GateEstimator>,
    /// The doubly robust estimator's reward model.
    pub reward_model: RewardModel<'static>,
    /// The exploration the gateway serves with (`--exploration`), which a reload keeps: the
    /// candidate is estimated with it. `None`: not given (off, unless the log explored).
    pub exploration: Option<Exploration>,
    /// JSON instead of a table.
    pub json: bool,
}

/// The exploration flags of `loop` and `eval --from-log`, as the gateway's `[router]
/// exploration` takes them.
#[derive(Clone, Copy, Debug)]
pub struct ExplorationFlags<'a> {
    /// `epsilon_greedy`, `softmax`, `thompson` or `off`.
    pub kind: &'a str,
    /// ε of `epsilon_greedy`.
    pub epsilon: f64,
    /// Temperature of `softmax`.
    pub temperature: f64,
    /// Pool size of every kind but `off`.
    pub top_k: usize,
    /// Thompson sampling's spread of a trained estimate.
    pub trained_sd: f64,
    /// Thompson sampling's spread of a catalog prior.
    pub prior_sd: f64,
}

impl ExplorationFlags<'_> {
    /// The exploration, with the ranges the gateway's config accepts, named by flag.
    pub fn parse(&self) -> anyhow::Result<Exploration> {
        let top_k = || {
            anyhow::ensure!(
                self.top_k >= 1,
                "--top-k must be at least 1 (the greedy model counts as one)"
            );
            Ok(self.top_k)
        };
        let positive = |flag: &str, x: f64| {
            anyhow::ensure!(
                x.is_finite() && x > 0.0,
                "{flag} {x}: expected a positive number of quality points"
            );
            Ok(x)
        };
        Ok(match self.kind {
            "off" => Exploration::Off,
            "epsilon_greedy" | "epsilon-greedy" => {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&self.epsilon),
                    "--epsilon {} is not in [0, 1]",
                    self.epsilon
                );
                Exploration::EpsilonGreedy {
                    epsilon: self.epsilon,
                    top_k: top_k()?,
                }
            }
            "softmax" => Exploration::Softmax {
                temperature: positive("--temperature", self.temperature)?,
                top_k: top_k()?,
            },
            "thompson" => Exploration::Thompson {
                trained_sd: positive("--trained-sd", self.trained_sd)?,
                prior_sd: positive("--prior-sd", self.prior_sd)?,
                top_k: top_k()?,
            },
            other => anyhow::bail!(
                "--exploration {other}: expected epsilon_greedy, softmax, thompson or off"
            ),
        })
    }
}

/// The candidate and the encoder it routes with, as `serve` loads them: the token budget and
/// extra layers of its manifest, its routing adapter and prompt statistics, whatever
/// `--max-tokens` says (as `score` does, the flag yields to the artifact, and says so). An
/// embedding of other settings routes differently (a cut prompt reads differently), or has
/// another length, which the predictors answer with their priors: the estimate would be of
/// a router nobody deploys.
fn candidate_and_encoder(
    router: &Path,
    encoder: &EncoderArgs,
) -> anyhow::Result<(Artifact, classifier::Encoder)> {
    let candidate = Artifact::load(router)
        .with_context(|| format!("loading the candidate router {}", router.display()))?;
    let manifest = candidate.manifest();
    let wanted = manifest.encoder_config(router)?;
    if encoder.config(classifier::ExtraLayers::NONE) != wanted {
        eprintln!(
            "encoding as {} was trained: {} tokens{} (not --max-tokens {})",
            router.display(),
            wanted.max_tokens,
            match wanted.extra_layers.label() {
                l if l.is_empty() => String::new(),
                l => format!(", extra layers {l}"),
            },
            encoder.max_tokens
        );
    }
    let mut loaded = encoder.load_with(wanted)?;
    if let Some(adapter) = manifest.load_adapter(router)? {
        loaded = loaded.with_adapter(adapter);
    }
    if manifest.prompt_features() {
        loaded = loaded.with_prompt_features();
    }
    manifest
        .check_encoder(router_core::Embedder::fingerprint(&loaded))
        .with_context(|| format!("the candidate router {}", router.display()))?;
    let dim = router_core::Embedder::dim(&loaded);
    anyhow::ensure!(
        manifest.embedding_dim == dim,
        "the candidate router {} reads {}-dimensional embeddings, its encoder settings give {dim}; the folder mixes two trainings: copy the artifact whole or retrain it",
        router.display(),
        manifest.embedding_dim
    );
    Ok((candidate, loaded))
}

/// The exploration to estimate the candidate with: the flag's, else off when the logging
/// router did not explore. The gateway keeps its exploration across a reload, so a deployed
/// candidate explores as the logging router did, and the logged mean it is compared with
/// paid for that exploration: a candidate estimated greedy against it is credited with the
/// cost of exploring, and a gate passes the very router that wrote the log. Estimating the
/// target policy with the same exploration compares like with like (the off-policy value of
/// a stochastic policy weighs each logged action by the probability it gives that action;
/// `loop` does the same). The rows do not record the gateway's exploration settings, only
/// each choice's propensity, so a log that explored needs them named.
fn target_exploration(
    given: Option<Exploration>,
    samples: &[from_log::BanditSample],
    log: &Path,
    gate: bool,
) -> anyhow::Result<Exploration> {
    let decided = samples.iter().filter(|s| s.is_on_router_choice());
    let (mut routed, mut explored) = (0usize, 0usize);
    for s in decided {
        routed += 1;
        explored += usize::from(s.propensity < 1.0);
    }
    match given {
        Some(Exploration::Off) if explored > 0 && gate => {
            eprintln!(
                "note: the candidate is estimated greedy (--exploration off), but the logging router explored on {explored} of {routed} requests: the gate credits the candidate with what that exploration cost"
            );
            Ok(Exploration::Off)
        }
        Some(e) => Ok(e),
        None if explored == 0 => Ok(Exploration::Off),
        None => anyhow::bail!(
            "{}: the logging router explored ({explored} of the {routed} requests it decided have a propensity below 1), and a reload keeps the gateway's exploration: pass its `[router] exploration` (--exploration epsilon_greedy|softmax|thompson with --epsilon, --temperature, --trained-sd, --prior-sd and --top-k as configured) to estimate the candidate as it would be deployed, or --exploration off to estimate it greedy",
            log.display()
        ),
    }
}

/// The λ of the steps' objectives, for the gate's line: one value, or the range.
fn describe_lambdas(lambdas: &[f64]) -> String {
    let lo = lambdas.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = lambdas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo == hi {
        format!("λ = {lo}")
    } else {
        format!("λ = {lo}–{hi} as each request logged")
    }
}

/// Off-policy estimates of `router`'s quality and cost on the logged traffic (IPS, SNIPS,
/// doubly robust, with 95% intervals), next to what the logging policy achieved.
pub fn evaluate(log: &Path, args: &OpeArgs<'_>, encoder: &EncoderArgs) -> anyhow::Result<()> {
    let OpeArgs {
        router,
        arm,
        metric,
        clip,
        gate,
        reward_model,
        exploration,
        json,
    } = *args;
    let mut outcomes = from_log::load_outcomes(log)?;
    if let Some(arm) = arm {
        let before = outcomes.len();
        outcomes.retain(|o| o.arm.as_ref().is_some_and(|a| a.arm == arm));
        anyhow::ensure!(
            !outcomes.is_empty(),
            "{}: no row of arm `{arm}` among {before} rows (`switchyard eval --from-log {} --arms` lists the arms)",
            log.display(),
            log.display()
        );
        eprintln!("{}: {} rows of arm `{arm}`", log.display(), outcomes.len());
    }
    let config = SampleConfig {
        metric: metric.map(str::to_owned),
    };
    let (samples, skipped) = from_log::bandit_samples(&outcomes, &config);
    eprintln!(
        "{}: {} usable samples ({skipped})",
        log.display(),
        samples.len()
    );
    let (candidate, encoder) = candidate_and_encoder(router, encoder)?;
    let catalog = models::Catalog::embedded()?;
    let entries: Vec<models::CatalogEntry> = catalog.entries().cloned().collect();
    let exploration = target_exploration(exploration, &samples, log, gate.is_some())?;
    // Rows written before the gateway logged its constraints re-route over the models the log
    // shows serving plus those the candidate knows: the closest knowable stand-in for the pool
    // the gateway routed over (newer rows carry their own).
    let mut pool: Vec<router_core::ModelId> =
        router_core::QualityPredictor::models(&candidate).to_vec();
    for s in &samples {
        if !pool.contains(&s.model) {
            pool.push(s.model.clone());
        }
    }
    let fallback_constraints = Constraints {
        candidates: Some(pool),
        ..Constraints::default()
    };
    // The gateway's task classifier: it reads the plain encoder's values, whatever extra
    // layers, adapter or prompt statistics the candidate's encoder appends (`ope_steps` gives
    // it those values only).
    let tasks = classifier::predictors::TaskClassifier::bundled_for(
        classifier::weights::MODEL_SHA256,
        classifier::EMBEDDING_DIM,
    )
    .ok();
    let setup = OpeSetup {
        catalog: &entries,
        candidate: &candidate,
        tasks: tasks.as_ref(),
        reward_model,
        constraints: &fallback_constraints,
        objective: Objective::default(),
        exploration: &exploration,
        anchor_catalog: Some(&catalog),
    };
    let ope = from_log::ope_steps(&samples, &encoder, &setup)?;
    // Off-policy estimates stand on the router's own choices only: say how many of the usable
    // samples that leaves, and refuse a log that leaves none with the reasons.
    eprintln!(
        "{}: {} samples evaluated ({})",
        log.display(),
        ope.steps.len(),
        ope.skipped
    );
    anyhow::ensure!(
        !ope.steps.is_empty(),
        "{}: no sample left to evaluate the router on ({}); off-policy evaluation needs `auto` requests the router served with its own choice",
        log.display(),
        ope.skipped
    );
    let config = evals::ope::OpeConfig {
        clip,
        ..Default::default()
    };
    let report = evals::ope::evaluate_policy(&ope.steps, &config)?;
    // Each request's utility at the λ it was routed (and is re-routed) under: the steps
    // carry it already, so the gate's own λ is 0 and leaves them as they are.
    let verdict = match gate {
        None => None,
        Some(estimator) => Some(evals::ope::gate(
            &ope.utility_steps(),
            0.0,
            estimator,
            evals::ope::GateLimits::default(),
            &config,
        )?),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_table(router, ope.steps.len(), &report)?;
        outln!("\nDR's reward model: {}", reward_model.name())?;
        outln!(
            "The candidate is estimated with exploration {}.",
            super::learn_loop::describe_exploration(&exploration)
        )?;
    }
    if let Some(g) = verdict {
        let line = format!(
            "gate ({:?}, {}): candidate utility {:.4} [{:.4}, {:.4}] vs logged {:.4} on {} requests",
            g.estimator, describe_lambdas(&ope.lambdas), g.candidate.value, g.candidate.ci_low, g.candidate.ci_high,
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
fn print_table(router: &Path, n: usize, report: &evals::ope::OpeReport) -> anyhow::Result<()> {
    outln!(
        "Off-policy estimate of {} on {} logged requests\n",
        router.display(),
        n
    )?;
    outln!(
        "| quantity | estimator | value | 95% interval | effective n |\n|---|---|---:|---|---:|"
    )?;
    for (what, est) in [("quality", &report.reward), ("cost (USD)", &report.cost)] {
        for (name, e) in [("IPS", &est.ips), ("SNIPS", &est.snips), ("DR", &est.dr)] {
            outln!(
                "| {what} | {name} | {:.4} | [{:.4}, {:.4}] | {:.0} |",
                e.value,
                e.ci_low,
                e.ci_high,
                e.effective_sample_size
            )?;
        }
    }
    for (what, e) in [
        ("quality", &report.logged_reward),
        ("cost (USD)", &report.logged_cost),
    ] {
        outln!(
            "| {what} | logged policy | {:.4} | [{:.4}, {:.4}] | {} |",
            e.value,
            e.ci_low,
            e.ci_high,
            e.n
        )?;
    }
    Ok(())
}

/// What `eval --from-log --arms` was asked.
pub struct ArmsArgs<'a> {
    /// The experiment (default: the newest).
    pub experiment: Option<&'a str>,
    /// The control arm (default: `control`, else the first by name).
    pub control: Option<&'a str>,
    /// The arm a gate is about.
    pub gate_arm: Option<&'a str>,
    /// The reward metric.
    pub metric: Option<&'a str>,
    /// JSON instead of tables.
    pub json: bool,
}

/// Compares the arms of an A/B experiment on their own logged traffic, and gates one arm
/// against the control when asked.
pub fn compare_arms(log: &Path, args: &ArmsArgs<'_>) -> anyhow::Result<()> {
    let outcomes = from_log::load_outcomes(log)?;
    let config = SampleConfig {
        metric: args.metric.map(str::to_owned),
    };
    let Some(rows) = from_log::arm_rows(&outcomes, args.experiment, &config) else {
        anyhow::bail!(
            "{}: none of its {} rows names an A/B arm; run the gateway with an [experiment] section (docs/gateway.md, \"A/B experiments\")",
            log.display(),
            outcomes.len()
        );
    };
    if rows.observations.is_empty() {
        let mut known: Vec<&str> = outcomes
            .iter()
            .filter_map(|o| o.arm.as_ref().map(|a| a.experiment.as_str()))
            .collect();
        known.sort_unstable();
        known.dedup();
        anyhow::bail!(
            "{}: no row of experiment `{}`; the log's experiments are: {}",
            log.display(),
            rows.experiment,
            known.join(", ")
        );
    }
    eprintln!(
        "{}: experiment `{}`, {} requests ({} outside any experiment, {} of other experiments{})",
        log.display(),
        rows.experiment,
        rows.observations.len(),
        rows.outside,
        rows.other_experiments,
        if rows.bad_labels > 0 {
            format!(
                ", {} labels outside [0, 1] read as unlabelled",
                rows.bad_labels
            )
        } else {
            String::new()
        }
    );
    let control = match args.control {
        Some(c) => c.to_owned(),
        None => {
            let mut names: Vec<&str> = rows.observations.iter().map(|o| o.arm.as_str()).collect();
            names.sort_unstable();
            match names.iter().find(|n| **n == "control") {
                Some(c) => (*c).to_owned(),
                None => names.first().map(|n| (*n).to_owned()).unwrap_or_default(),
            }
        }
    };
    // Utility at the λ the arms were routed under, as logged; the comparison takes one λ, so
    // an experiment whose callers sent different trade-offs has no single utility to rank
    // its arms by.
    let lambda = match rows.lambdas.as_slice() {
        [] => Objective::default().lambda(),
        [one] => *one,
        many => anyhow::bail!(
            "{}: experiment `{}` was routed under several trade-offs (λ = {}: callers sent their own `router.willingness_to_pay`); a comparison in utility scores every request at one λ: compare a slice of the log routed under one",
            log.display(),
            rows.experiment,
            many.iter().map(f64::to_string).collect::<Vec<_>>().join(", ")
        ),
    };
    let report = evals::ab::compare(&rows.observations, &control, lambda)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_arms(&rows.experiment, &report)?;
    }
    let Some(gated) = args.gate_arm else {
        return Ok(());
    };
    anyhow::ensure!(
        gated != report.control,
        "--gate-arm {gated} is the control arm; name the arm to ship"
    );
    let Some(delta) = report.delta(gated) else {
        anyhow::bail!(
            "--gate-arm {gated}: no logged request of that arm; the arms are: {}",
            report
                .arms
                .iter()
                .map(|a| a.arm.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let u = &delta.utility;
    let line = format!(
        "gate (λ = {lambda}): `{gated}` − `{}` utility {:+.4} [{:+.4}, {:+.4}] on {} labelled requests of the smaller arm",
        report.control, u.mean, u.low, u.high, u.n
    );
    if !u.above_zero() {
        anyhow::bail!("{line}: not shown better; keep `{}`", report.control);
    }
    eprintln!("{line}: pass");
    Ok(())
}

/// The arm comparison as markdown tables.
fn print_arms(experiment: &str, report: &evals::ab::AbReport) -> anyhow::Result<()> {
    let ci = |m: &evals::ab::MeanCi, digits: usize| {
        if m.low.is_nan() {
            format!("{:.digits$} (n < 2)", m.mean)
        } else {
            format!(
                "{:.digits$} [{:.digits$}, {:.digits$}]",
                m.mean, m.low, m.high
            )
        }
    };
    outln!("A/B experiment `{experiment}` (λ = {})\n", report.lambda)?;
    outln!(
        "| arm | requests | labelled | quality | cost USD | utility | p50 ms | p95 ms | fallback | errors |\n|---|---:|---:|---|---|---|---:|---:|---:|---:|"
    )?;
    for a in &report.arms {
        outln!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} % | {:.1} % |",
            a.arm,
            a.requests,
            a.labelled,
            ci(&a.quality, 4),
            ci(&a.cost_usd, 6),
            ci(&a.utility, 4),
            a.latency_p50_ms,
            a.latency_p95_ms,
            100.0 * a.fallback_share,
            100.0 * a.error_share
        )?;
    }
    outln!(
        "\nAgainst `{}` (difference of means, Welch 95 % interval)\n",
        report.control
    )?;
    outln!("| arm | Δ quality | Δ cost USD | Δ utility |\n|---|---|---|---|")?;
    for d in &report.deltas {
        outln!(
            "| {} | {} | {} | {} |",
            d.arm,
            ci(&d.quality, 4),
            ci(&d.cost_usd, 6),
            ci(&d.utility, 4)
        )?;
    }
    Ok(())
}
