//! `switchyard loop`: the learning loop, round after round, on this machine with real prompts
//! and real recorded answers.
//!
//! An in-process replay provider serves a benchmark's recorded answers; an in-process gateway
//! routes `auto` requests to it with exploration, logging every choice and its propensity to
//! SQLite; each round's answers get their recorded score as feedback; then a router is refitted
//! on the log (minus a held-out share of the round), estimated off-policy on the held-out
//! requests, checked against the replayed truth, and swapped in with the gateway's reload.
//!
//! The loop itself is [`training::learning_loop::run_loop`]; this command parses arguments,
//! starts the replay provider and the gateway, implements the loop's [`Deploy`] seam with the
//! gateway's reload, and prints.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use classifier::predictors::{Artifact, PredictorKind, TaskClassifier};
use evals::ope::GateEstimator;
use gateway::config::{GatewayConfig, Privacy, ProviderConfig};
use gateway::upstream::ProviderKind;
use models::CatalogEntry;
use router_core::{BoxError, Exploration, ModelId, ProviderId, QualityPredictor};
use tokio_util::sync::CancellationToken;
use training::experiment::PredictorConfigs;
use training::learning_loop::{
    run_loop, Deploy, LoopClient, LoopConfig, LoopData, LoopEvent, LoopReport, LoopSettings,
    MemoEmbedder, RefitConfig, TaskPriorInputs,
};
use training::onboarding::fit::FitConfig;
use training::replay::ReplayConfig;

use super::replay::{load_table, replay_index};
use super::train::parse_kind;
use super::EncoderArgs;

/// The metric the loop posts as feedback.
const METRIC: &str = "correct";

#[derive(Debug, clap::Args)]
pub struct LoopArgs {
    /// Outcome data with recorded answers: a file or folder, or a dataset name (routellm-gsm8k,
    /// routerbench, ...) looked up in ../shared/datasets. Repeat to merge.
    #[arg(long = "data", required = true)]
    data: Vec<String>,
    /// Drop every prompt of this task or task family (repeatable), e.g. `gpqa`.
    #[arg(long = "exclude-task")]
    exclude_task: Vec<String>,
    /// Models to route between (comma-separated catalog ids). Default: every model of the data
    /// that the catalog knows.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Send only prompts of the dataset's own test split (RouterBench has one), so that a
    /// --start router trained on its train split (`train --train-split-only`) never saw them.
    #[arg(long)]
    test_split_only: bool,
    /// Rounds of traffic; a refit follows each.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Requests per round (new prompts every round).
    #[arg(long, default_value_t = 100)]
    per_round: usize,
    /// Share of each round's requests kept out of the next refit, to check its off-policy
    /// estimate on.
    #[arg(long, default_value_t = 0.25)]
    holdout: f64,
    /// Share of the other requests that get feedback (their recorded score), as a judge
    /// labelling a sample of traffic would; held-out requests are always labelled.
    #[arg(long, default_value_t = 1.0)]
    label_share: f64,
    /// Exploration: `epsilon_greedy`, `softmax`, `thompson` or `off`.
    #[arg(long, default_value = "epsilon_greedy")]
    exploration: String,
    /// ε of epsilon_greedy.
    #[arg(long, default_value_t = 0.3)]
    epsilon: f64,
    /// Temperature of softmax, in quality points.
    #[arg(long, default_value_t = 0.05)]
    temperature: f64,
    /// Models in the exploration pool (the greedy choice and the next best).
    #[arg(long, default_value_t = 2)]
    top_k: usize,
    /// Thompson sampling: posterior standard deviation of a trained estimate (quality points).
    #[arg(long, default_value_t = router_core::exploration::DEFAULT_TRAINED_SD)]
    trained_sd: f64,
    /// Thompson sampling: posterior standard deviation of a catalog prior (quality points).
    #[arg(long, default_value_t = router_core::exploration::DEFAULT_PRIOR_SD)]
    prior_sd: f64,
    /// Router of round 0: `priors` (cold: the catalog's priors) or an artifact folder.
    #[arg(long, default_value = "priors")]
    start: String,
    /// Predictor refitted after each round: knn, linear, mlp or mf [default: knn, or the
    /// --start artifact's kind with --warm].
    #[arg(long, value_parser = parse_kind)]
    predictor: Option<PredictorKind>,
    /// Every refit continues from the --start artifact (its benchmark knowledge refined by the
    /// log) instead of starting from scratch.
    #[arg(long)]
    warm: bool,
    /// USD the callers would pay for one full quality point (lambda = 1 / w). Default: the
    /// gateway's default trade-off.
    #[arg(long)]
    willingness_to_pay: Option<f64>,
    /// Multiplies the recorded latencies (0: answer at once).
    #[arg(long, default_value_t = 0.0)]
    latency_scale: f64,
    /// Seeds the prompt order, the held-out draw, the exploration draws and the fits.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (log, routers, report). Default: .switchyard/loop/<unix time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Deploy a refit only when its estimated utility (quality − λ·cost) beats what the
    /// serving router realised on the held-out requests, lower interval end above: `off`
    /// (always deploy), `snips`, `dr` or `ips`.
    #[arg(long, default_value = "off")]
    gate: String,
    /// The doubly robust estimator's reward model (its estimate, and a `dr` gate):
    /// `cross-fit` (fitted on the held-out log, each request's prediction from the other
    /// folds) or `candidate` (the refit's own predictions). The report shows DR under both.
    #[arg(long, default_value = "cross-fit", value_parser = super::eval::parse_reward_model)]
    reward_model: training::from_log::RewardModel<'static>,
    /// Print the report as JSON instead of markdown.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    encoder: EncoderArgs,
}

impl LoopArgs {
    fn exploration(&self) -> anyhow::Result<Exploration> {
        let e = match self.exploration.as_str() {
            "off" => Exploration::Off,
            "epsilon_greedy" | "epsilon-greedy" => Exploration::EpsilonGreedy {
                epsilon: self.epsilon,
                top_k: self.top_k,
            },
            "softmax" => Exploration::Softmax {
                temperature: self.temperature,
                top_k: self.top_k,
            },
            "thompson" => Exploration::Thompson {
                trained_sd: self.trained_sd,
                prior_sd: self.prior_sd,
                top_k: self.top_k,
            },
            other => {
                anyhow::bail!(
                    "--exploration {other}: expected epsilon_greedy, softmax, thompson or off"
                )
            }
        };
        Ok(e)
    }
}

pub fn run(args: LoopArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(args.per_round >= 1, "--per-round must be at least 1");
    anyhow::ensure!(
        (0.0..1.0).contains(&args.holdout),
        "--holdout must be in [0, 1), got {}",
        args.holdout
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.label_share),
        "--label-share must be in [0, 1], got {}",
        args.label_share
    );
    let exploration = args.exploration()?;
    let gate = match args.gate.as_str() {
        "off" => None,
        other => Some(
            GateEstimator::parse(other)
                .ok_or_else(|| anyhow::anyhow!("--gate {other}: expected off, snips, dr or ips"))?,
        ),
    };
    let catalog = models::Catalog::embedded().context("loading the embedded catalog")?;
    let table = load_table(&args.data, &args.exclude_task)?;
    let entries = action_entries(&args.models, &table.models, &catalog)?;
    let data = LoopData::new(replay_index(table.clone(), &catalog), entries)?;
    let rows = data.prompts(
        args.seed,
        args.rounds * args.per_round,
        args.test_split_only,
    );
    anyhow::ensure!(
        rows.len() >= args.rounds * args.per_round,
        "{} has {} prompts{} with an outcome for every model; {} rounds × {} need {}: lower \
         --rounds or --per-round",
        table.source,
        rows.len(),
        if args.test_split_only {
            " in its test split"
        } else {
            ""
        },
        args.rounds,
        args.per_round,
        args.rounds * args.per_round
    );
    let out = args.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!(".switchyard/loop/{secs}"))
    });
    let db = out.join("outcomes.sqlite");
    anyhow::ensure!(
        !db.exists(),
        "{} already holds a loop's log; pass a new --out folder",
        out.display()
    );
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let (start_artifact, start_name) = start_router(&args.start)?;
    // The loop encodes as the --start artifact's training did (as `serve` would), so that its
    // refits can replace it.
    let encoder_config = match &start_artifact {
        Some(a) => a
            .manifest()
            .encoder_config(Path::new(&args.start))
            .with_context(|| format!("--start {}", args.start))?,
        None => args.encoder.config(classifier::ExtraLayers::NONE),
    };
    let adapter = match &start_artifact {
        Some(a) => a
            .manifest()
            .load_adapter(Path::new(&args.start))
            .with_context(|| format!("--start {}", args.start))?,
        None => None,
    };
    let mut encoder = args.encoder.load_with(encoder_config)?;
    if let Some(adapter) = &adapter {
        encoder = encoder.with_adapter(adapter.clone());
    }
    let encoder = Arc::new(encoder);
    if let Some(a) = &start_artifact {
        // The same checks a hot reload makes: encoder, embedding size, token budget, catalog
        // models.
        gateway::routing::reload::check_manifest(
            a.manifest(),
            Path::new(&args.start),
            &gateway::routing::reload::RunningEncoder::of_encoder(&encoder),
            &catalog,
        )
        .with_context(|| format!("--start {}", args.start))?;
    }
    let kind = match (&start_artifact, args.predictor, args.warm) {
        (None, _, true) => anyhow::bail!("--warm continues from the --start artifact; pass --start DIR"),
        (Some(a), Some(k), true) if a.manifest().kind != k => anyhow::bail!(
            "--warm: the --start artifact is a {} predictor but --predictor is {}; drop --predictor",
            a.manifest().kind.as_str(),
            k.as_str()
        ),
        (Some(a), None, true) => a.manifest().kind,
        (_, k, _) => k.unwrap_or(PredictorKind::Knn),
    };
    let start_predictor: Option<Arc<dyn QualityPredictor>> = start_artifact
        .clone()
        .map(|a| Arc::new(a) as Arc<dyn QualityPredictor>);
    let warm_start = if args.warm { start_artifact } else { None };
    let service = classifier::Service::start(
        encoder.clone(),
        start_predictor,
        classifier::ServiceConfig {
            max_tokens: encoder_config.max_tokens,
            ..classifier::ServiceConfig::default()
        },
    )?;
    // Served and evaluated with the same task classifier, as `switchyard serve` would. It
    // reads the first 384 values, the standard embedding, whatever extra layers or adapter
    // follow them: hence the plain weights' fingerprint.
    let task_classifier = TaskClassifier::bundled_for(
        classifier::weights::MODEL_SHA256,
        classifier::EMBEDDING_DIM,
    )
    .map(Arc::new)
    .map_err(
        |e| tracing::warn!(error = %e, "No task classifier: unknown models route on flat priors."),
    )
    .ok();
    service.set_task_classifier(task_classifier.clone());
    let task_priors = match (kind, &task_classifier) {
        (PredictorKind::TaskPriors, Some(tasks)) => Some(TaskPriorInputs {
            tasks: Arc::clone(tasks),
            priors: data
                .entries
                .iter()
                .map(|e| (e.spec.id.clone(), e.prior()))
                .collect(),
            fit: FitConfig::default(),
        }),
        (PredictorKind::TaskPriors, None) => anyhow::bail!(
            "--predictor task-priors needs the bundled task classifier, which does not match this encoder"
        ),
        _ => None,
    };
    let mut settings = LoopSettings {
        data: table.source.clone(),
        models: data.models.iter().map(ToString::to_string).collect(),
        per_round: args.per_round,
        holdout: args.holdout,
        label_share: args.label_share,
        exploration: describe(&exploration),
        predictor: format!(
            "{}{}",
            kind.as_str(),
            if args.warm {
                " (warm from the start artifact)"
            } else {
                ""
            }
        ),
        start: start_name.clone(),
        seed: args.seed,
        gate: args.gate.clone(),
        reward_model: args.reward_model.name().to_owned(),
        lambda: 0.0,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("switchyard-loop")
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let stop = CancellationToken::new();
        let replay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let replay_url = format!("http://{}", replay_listener.local_addr()?);
        let replay_config = ReplayConfig {
            latency_scale: args.latency_scale.max(0.0),
            seed: args.seed,
        };
        let replay = tokio::spawn(training::replay::serve(
            replay_listener,
            replay_index(table, &catalog),
            replay_config,
            stop.clone().cancelled_owned(),
        ));
        let config = gateway_config(&args, &data.entries, &replay_url, &db, &exploration);
        let config = gateway::Config::resolve(config, &|name| std::env::var(name).ok())?;
        let objective = config.objective;
        settings.lambda = objective.lambda();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let running = gateway::spawn(config, listener, Some(service)).await?;
        let client = LoopClient::new(format!("http://{}", running.local_addr()));
        eprintln!(
            "loop: replay provider {replay_url}, gateway {}, output {}",
            client.base_url(),
            out.display()
        );
        let memo = MemoEmbedder::new(encoder.as_ref());
        let loop_config = LoopConfig {
            rows: &rows,
            rounds: args.rounds,
            per_round: args.per_round,
            holdout: args.holdout,
            label_share: args.label_share,
            seed: args.seed,
            db: &db,
            out: &out,
            metric: METRIC,
            refit: RefitConfig {
                kind,
                configs: PredictorConfigs::default(),
                seed: args.seed,
                encoder: Some(classifier::predictors::EncoderSettings {
                    adapter: adapter.as_ref().map(classifier::RoutingAdapter::digest),
                    ..classifier::predictors::EncoderSettings::of(&encoder_config)
                }),
                adapter: adapter.clone(),
                task_priors: task_priors.clone(),
            },
            warm_start: warm_start.as_ref(),
            objective,
            exploration: &exploration,
            tasks: task_classifier.as_deref(),
            gate,
            reward_model: args.reward_model,
            start_name,
        };
        let deploy = GatewayDeploy { gateway: &running };
        let report = run_loop(
            &data,
            &loop_config,
            settings,
            &client,
            &deploy,
            &memo,
            print_event,
        )
        .await?;
        running.shutdown().await?;
        stop.cancel();
        let _ = replay.await;
        anyhow::Ok(report)
    })?;

    write_report(&report, &out)?;
    if args.json {
        println!("{}", report.to_json()?);
    } else {
        println!("{}", report.to_markdown());
    }
    Ok(())
}

/// Deploys refits with the in-process gateway's own reload (the checks and metrics of
/// `POST /admin/reload`), and flushes its outcome log.
struct GatewayDeploy<'a> {
    gateway: &'a gateway::RunningGateway,
}

impl Deploy for GatewayDeploy<'_> {
    async fn flush(&self) -> Result<(), BoxError> {
        self.gateway.outcome_log().flush().await;
        Ok(())
    }

    async fn deploy(&self, artifact: &Path) -> Result<(), BoxError> {
        gateway::routing::reload::reload_artifact(self.gateway.state(), Some(artifact)).await?;
        Ok(())
    }
}

fn print_event(event: LoopEvent<'_>) {
    match event {
        LoopEvent::Served(s) => eprintln!(
            "round {}: {}: quality {:.3}, oracle {:.3}, regret {:.3}, cost {:.6} USD/request",
            s.round, s.router, s.quality, s.oracle, s.regret, s.cost
        ),
        LoopEvent::HeldBack {
            round,
            artifact,
            serving,
        } => eprintln!(
            "round {round}: the gate held back {}; {serving} keeps serving",
            artifact.display()
        ),
        LoopEvent::Deployed { .. } => {}
        other => tracing::debug!(?other, "Loop event."),
    }
}

/// The catalog entries of the models to route between.
fn action_entries(
    requested: &[String],
    columns: &[String],
    catalog: &models::Catalog,
) -> anyhow::Result<Vec<CatalogEntry>> {
    if !requested.is_empty() {
        return requested
            .iter()
            .map(|m| {
                anyhow::ensure!(
                    columns.contains(m),
                    "--models {m}: not a model of the data; its models are {columns:?}"
                );
                Ok(catalog.get(&ModelId::new(m.as_str()))?.clone())
            })
            .collect();
    }
    let mut entries = Vec::new();
    for m in columns {
        match catalog.get(&ModelId::new(m.as_str())) {
            Ok(e) => entries.push(e.clone()),
            Err(_) => eprintln!("loop: {m} is not in the catalog; left out"),
        }
    }
    Ok(entries)
}

/// The round-0 router: none (catalog priors) or a saved artifact.
fn start_router(start: &str) -> anyhow::Result<(Option<Artifact>, String)> {
    if start == "priors" {
        return Ok((None, "catalog priors".to_owned()));
    }
    let artifact = Artifact::load(Path::new(start))
        .with_context(|| format!("--start {start}: loading the router artifact"))?;
    Ok((Some(artifact), format!("artifact {start}")))
}

/// The loop's gateway: every provider of the action models points at the replay server.
fn gateway_config(
    args: &LoopArgs,
    entries: &[CatalogEntry],
    replay_url: &str,
    db: &Path,
    exploration: &Exploration,
) -> GatewayConfig {
    let specs: Vec<&router_core::ModelSpec> = entries.iter().map(|e| &e.spec).collect();
    let mut providers: Vec<&ProviderId> = specs.iter().map(|s| &s.provider).collect();
    providers.sort_unstable();
    providers.dedup();
    let mut raw = GatewayConfig {
        providers: providers
            .into_iter()
            .map(|name| ProviderConfig {
                name: name.clone(),
                kind: ProviderKind::Openai,
                base_url: format!("{replay_url}/v1"),
                api_key_env: None,
            })
            .collect(),
        ..GatewayConfig::default()
    };
    raw.router.candidates = Some(specs.iter().map(|s| s.id.clone()).collect());
    if let Some(cheapest) = specs.iter().min_by(|a, b| {
        (a.input_usd_per_mtok + a.output_usd_per_mtok)
            .total_cmp(&(b.input_usd_per_mtok + b.output_usd_per_mtok))
    }) {
        raw.router.fallback_model = cheapest.id.clone();
    }
    raw.router.routing_deadline = std::time::Duration::from_secs(10);
    raw.router.exploration = *exploration;
    raw.router.exploration_seed = Some(args.seed);
    raw.router.willingness_to_pay = args.willingness_to_pay;
    raw.log.sqlite = db.to_owned();
    raw.log.privacy = Privacy::Full;
    raw
}

/// Human description of the exploration for the report.
fn describe(e: &Exploration) -> String {
    match e {
        Exploration::Off => "off".to_owned(),
        Exploration::EpsilonGreedy { epsilon, top_k } => {
            format!("ε-greedy (ε = {epsilon}, top {top_k})")
        }
        Exploration::Softmax { temperature, top_k } => {
            format!("softmax (T = {temperature}, top {top_k})")
        }
        Exploration::Thompson {
            trained_sd,
            prior_sd,
            top_k,
        } => format!("Thompson (σ trained {trained_sd}, prior {prior_sd}, top {top_k})"),
        other => format!("{other:?}"),
    }
}

fn write_report(report: &LoopReport, out: &Path) -> anyhow::Result<()> {
    let md = out.join("report.md");
    std::fs::write(&md, report.to_markdown())
        .with_context(|| format!("writing {}", md.display()))?;
    let json = out.join("report.json");
    std::fs::write(&json, report.to_json()?)
        .with_context(|| format!("writing {}", json.display()))?;
    report.plot_svg(&out.join("rounds.svg"))?;
    eprintln!(
        "loop: wrote {}, {} and {}",
        md.display(),
        json.display(),
        out.join("rounds.svg").display()
    );
    Ok(())
}
