//! `switchyard loop`: the learning loop, round after round, on this machine with real prompts
//! and real recorded answers.
//!
//! An in-process replay provider serves a benchmark's recorded answers; an in-process gateway
//! routes `auto` requests to it with exploration, logging every choice and its propensity to
//! SQLite; each round's answers (its held-out share and a sample of the others) get their
//! recorded score as feedback; then a router is refitted on the log (minus every round's
//! held-out share), estimated off-policy on the round's held-out requests, checked against the replayed truth, and swapped in with the gateway's reload.
//!
//! The loop itself is [`training::learning_loop::run_loop`]; this command parses arguments,
//! loads the start router (`start`), starts the replay provider and the gateway and implements
//! the loop's `Deploy` seam with the gateway's reload (`wiring`), and prints (`report`).

use std::path::PathBuf;

use anyhow::Context;
use classifier::predictors::PredictorKind;
use evals::ope::GateEstimator;
use router_core::Exploration;
use tokio_util::sync::CancellationToken;
use training::experiment::PredictorConfigs;
use training::learning_loop::{
    run_loop, LoopClient, LoopConfig, LoopData, LoopReport, LoopSettings, MemoEmbedder, RefitConfig,
};
use training::replay::ReplayConfig;

use super::replay::{load_table, replay_index};
use super::train::parse_kind;
use super::EncoderArgs;

mod report;
mod start;
mod wiring;

pub(super) use report::describe as describe_exploration;
use start::Start;

/// The metric the loop posts as feedback.
const METRIC: &str = "correct";

#[derive(Debug, clap::Args)]
pub struct LoopArgs {
    /// Outcome data with recorded answers: a file or folder, or a dataset name (routellm-gsm8k,
    /// routerbench, ...) looked up in ../shared/datasets. Repeat to merge.
    #[arg(long = "data", required = true)]
    data: Vec<String>,
    /// Drop every prompt of this task or task family (repeatable), e.g. `gpqa`. A task that
    /// no --data source has is refused (a typo would keep the rows).
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
    /// Share of each round's requests held out, to check the next refit's off-policy
    /// estimate on; no refit ever trains on them.
    #[arg(long, default_value_t = 0.25)]
    holdout: f64,
    /// Share of the requests that are not held out that get feedback (their recorded
    /// score), as a judge labelling a sample of traffic would: the labels the refits learn
    /// from. Held-out requests are always labelled, for the check, and never trained on.
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
    /// log) instead of starting from scratch. With `--predictor task-priors` the artifact is
    /// kept as it is and only the priors of the models it does not know are refitted.
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
        super::from_log::ExplorationFlags {
            kind: &self.exploration,
            epsilon: self.epsilon,
            temperature: self.temperature,
            top_k: self.top_k,
            trained_sd: self.trained_sd,
            prior_sd: self.prior_sd,
        }
        .parse()
    }

    /// The `--gate` estimator; `None` for `off`.
    fn gate(&self) -> anyhow::Result<Option<GateEstimator>> {
        match self.gate.as_str() {
            "off" => Ok(None),
            other => GateEstimator::parse(other)
                .map(Some)
                .ok_or_else(|| anyhow::anyhow!("--gate {other}: expected off, snips, dr or ips")),
        }
    }

    /// Refuses settings no loop can run with, naming the flag.
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.rounds >= 1, "--rounds must be at least 1");
        anyhow::ensure!(self.per_round >= 1, "--per-round must be at least 1");
        anyhow::ensure!(
            (0.0..1.0).contains(&self.holdout),
            "--holdout must be in [0, 1), got {}",
            self.holdout
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.label_share),
            "--label-share must be in [0, 1], got {}",
            self.label_share
        );
        // The refit trains on labelled requests that are not held out, drawn among those
        // (`LoopData::label_mask`). With these rounded counts no round could ever have one,
        // and the loop would only find out after sending a whole round of traffic.
        let held = (self.per_round as f64 * self.holdout).round() as usize;
        anyhow::ensure!(
            held < self.per_round,
            "--holdout {} holds out every request of --per-round {}, leaving none to refit on; lower --holdout or raise --per-round",
            self.holdout,
            self.per_round
        );
        anyhow::ensure!(
            LoopData::trainable_labels(self.per_round, self.holdout, self.label_share) >= 1,
            "--label-share {} labels none of the {} requests of --per-round {} that --holdout {} leaves to train on, so no refit would have anything to learn from; raise --label-share (e.g. 0.25) or --per-round, or lower --holdout",
            self.label_share,
            self.per_round - held,
            self.per_round,
            self.holdout
        );
        Ok(())
    }

    /// The output folder (created) and the loop's log in it, which must not exist yet.
    fn output(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let out = self.out.clone().unwrap_or_else(|| {
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
        Ok((out, db))
    }

    /// The report's record of how the loop ran (λ is filled in once the gateway resolved it).
    fn settings(
        &self,
        data: &LoopData,
        source: &str,
        start: &Start,
        exploration: &Exploration,
    ) -> LoopSettings {
        LoopSettings {
            data: source.to_owned(),
            models: data.models.iter().map(ToString::to_string).collect(),
            per_round: self.per_round,
            holdout: self.holdout,
            label_share: self.label_share,
            exploration: report::describe(exploration),
            predictor: format!(
                "{}{}",
                start.kind.as_str(),
                if self.warm {
                    " (warm from the start artifact)"
                } else {
                    ""
                }
            ),
            start: start.name.clone(),
            seed: self.seed,
            gate: self.gate.clone(),
            reward_model: self.reward_model.name().to_owned(),
            lambda: 0.0,
        }
    }
}

/// `check` guarantees every round labels a request outside its held-out share, so a refit
/// with nothing to train on means those requests all failed: say which flags decide how
/// many there are, instead of the library's advice for benchmark imports.
fn name_empty_refit(e: training::Error) -> anyhow::Error {
    match e {
        training::Error::EmptyTrainingSet => anyhow::anyhow!(
            "a round's refit has no answered, labelled request outside the held-out shares \
             (every labelled request to train on failed); raise --label-share or \
             --per-round, or lower --holdout"
        ),
        e => e.into(),
    }
}

pub fn run(args: LoopArgs) -> anyhow::Result<()> {
    args.check()?;
    let exploration = args.exploration()?;
    let gate = args.gate()?;
    let catalog = models::Catalog::embedded().context("loading the embedded catalog")?;
    let table = load_table(&args.data, &args.exclude_task)?;
    let entries = wiring::action_entries(&args.models, &table.models, &catalog)?;
    let data = LoopData::new(replay_index(table.clone(), &catalog), entries)?;
    let needed = args.rounds * args.per_round;
    let rows = data.prompts(args.seed, needed, args.test_split_only);
    anyhow::ensure!(
        rows.len() >= needed,
        "{} has {} prompts{} with an outcome for every model; {} rounds × {} need {needed}: lower \
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
    );
    let (out, db) = args.output()?;
    let start = Start::load(&args, &catalog)?;
    let service = start.service()?;
    let task_priors = start.task_priors(&data, &catalog)?;
    let mut settings = args.settings(&data, &table.source, &start, &exploration);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("switchyard-loop")
        .build()
        .context("starting the async runtime")?;
    let report: LoopReport = runtime.block_on(async {
        let stop = CancellationToken::new();
        let replay_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let replay_url = format!("http://{}", replay_listener.local_addr()?);
        let replay = tokio::spawn(training::replay::serve(
            replay_listener,
            replay_index(table, &catalog),
            ReplayConfig {
                latency_scale: args.latency_scale.max(0.0),
                seed: args.seed,
            },
            stop.clone().cancelled_owned(),
        ));
        let config = wiring::gateway_config(&args, &data.entries, &replay_url, &db, &exploration);
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
        let memo = MemoEmbedder::new(start.encoder.as_ref());
        let warm_start = if args.warm {
            start.artifact.as_ref()
        } else {
            None
        };
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
                kind: start.kind,
                configs: PredictorConfigs::default(),
                seed: args.seed,
                encoder: Some(start.encoder_settings()),
                adapter: start.adapter.clone(),
                task_priors,
            },
            warm_start,
            objective,
            exploration: &exploration,
            tasks: start.tasks.as_deref(),
            gate,
            reward_model: args.reward_model,
            start_name: start.name.clone(),
        };
        let deploy = wiring::GatewayDeploy { gateway: &running };
        let report = run_loop(
            &data,
            &loop_config,
            settings,
            &client,
            &deploy,
            &memo,
            report::print_event,
        )
        .await
        .map_err(name_empty_refit)?;
        running.shutdown().await?;
        stop.cancel();
        let _ = replay.await;
        anyhow::Ok(report)
    })?;

    report::write_report(&report, &out)?;
    if args.json {
        outln!("{}", report.to_json()?)?;
    } else {
        outln!("{}", report.to_markdown())?;
    }
    Ok(())
}
