//! Subcommands and their arguments.

// First: its `outln!` and `out!` macros are used by the modules below.
#[macro_use]
mod output;

mod artifact_setting;
mod bench;
mod bench_cache;
mod bench_int8;
mod bench_log;
mod bench_routed;
mod bundled_artifact;
mod cache;
mod data_args;
mod embed;
mod eval;
mod from_log;
mod keys;
mod learn_loop;
mod log;
mod model;
mod onboard;
mod onboard_answers;
mod onboard_live;
mod progress;
mod replay;
mod route;
mod score;
mod serve;
mod spend;
mod train;
mod train_tasks;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use output::stdout_closed;

/// Switchyard: a self-hosted learned LLM router and OpenAI-compatible gateway.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Where the encoder weights live.
#[derive(Debug, Clone, clap::Args)]
pub struct EncoderArgs {
    /// Folder holding all-MiniLM-L6-v2 (filled by `switchyard model fetch`).
    #[arg(long, default_value = classifier::weights::DEFAULT_ENCODER_DIR)]
    pub encoder_dir: PathBuf,
    /// Most tokens per prompt the encoder reads (longer prompts keep head and tail). `serve`
    /// and `route` with a router artifact take the artifact's own budget instead.
    #[arg(long, default_value_t = 256, value_parser = parse_max_tokens)]
    pub max_tokens: usize,
}

/// `--max-tokens`: checked here so that a bad value is named as the flag before any import
/// or download, not later as a broken `config.json` of the weights.
fn parse_max_tokens(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (2..=512).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}`: expected a whole number from 2 to 512 (the encoder's position limit)"
        )),
    }
}

impl EncoderArgs {
    /// Loads the encoder. With the default folder and no weights yet, fetches them first (the
    /// one network access; a folder given explicitly is never downloaded into).
    pub fn load(&self) -> anyhow::Result<classifier::Encoder> {
        self.load_pooling(classifier::ExtraLayers::NONE)
    }

    /// [`EncoderArgs::load`] with earlier layers pooled into the embedding too.
    pub fn load_pooling(
        &self,
        extra_layers: classifier::ExtraLayers,
    ) -> anyhow::Result<classifier::Encoder> {
        self.load_with(self.config(extra_layers))
    }

    /// Loads the encoder with a configuration given whole (e.g. an artifact's own settings).
    pub fn load_with(
        &self,
        config: classifier::EncoderConfig,
    ) -> anyhow::Result<classifier::Encoder> {
        self.ensure_weights()?;
        Ok(classifier::Encoder::load(&self.encoder_dir, config)?)
    }

    /// The encoder configuration these arguments ask for.
    pub fn config(&self, extra_layers: classifier::ExtraLayers) -> classifier::EncoderConfig {
        classifier::EncoderConfig {
            max_tokens: self.max_tokens,
            extra_layers,
            ..Default::default()
        }
    }

    /// Fetches the weights into the default folder when they are not there yet.
    pub fn ensure_weights(&self) -> anyhow::Result<()> {
        let default_dir =
            self.encoder_dir == std::path::Path::new(classifier::weights::DEFAULT_ENCODER_DIR);
        if default_dir && !self.encoder_dir.join("model.safetensors").exists() {
            tracing::info!(dir = %self.encoder_dir.display(), "Encoder weights not found, fetching them once");
            classifier::weights::fetch(&self.encoder_dir, &classifier::weights::Source::Auto)?;
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the local encoder weights.
    Model(model::ModelArgs),
    /// Print the embedding of each TEXT as a JSON array (one per line).
    Embed(embed::EmbedArgs),
    /// Run a benchmark and print its table.
    Bench(bench::BenchArgs),
    /// Work with the response cache (calibrate the semantic threshold on labelled pairs).
    Cache(cache::CacheArgs),
    /// Fit a quality predictor on benchmark outcomes and save it as a router artifact.
    Train(train::TrainArgs),
    /// Fit the task classifier (P(task | prompt)) behind the task-aware priors.
    TrainTasks(train_tasks::TrainTasksArgs),
    /// Write a router artifact's estimates and P(task) for every prompt of a benchmark set, next
    /// to the recorded outcomes (JSON lines), for analysis.
    Score(score::ScoreArgs),
    /// Fit predictors on a split of benchmark outcomes and score them as routers (AIQ, APGR).
    Eval(Box<eval::EvalArgs>),
    /// Serve the OpenAI-compatible gateway.
    Serve(serve::ServeArgs),
    /// Print the routing decision for a prompt (offline, no upstream call).
    Route(route::RouteArgs),
    /// Work with the outcome log.
    Log(log::LogArgs),
    /// Create, list and revoke client keys (with budgets, rate limits and model lists).
    Keys(keys::KeysArgs),
    /// Requests, tokens and cost per client key (or model, or day) from the outcome log.
    Spend(spend::SpendArgs),
    /// Serve an OpenAI-compatible provider that answers from a benchmark's recorded outcomes.
    ReplayProvider(replay::ReplayArgs),
    /// Measure how well MF knows a new model from a few probe prompts (onboarding).
    Onboard(onboard::OnboardArgs),
    /// Run the learning loop on replayed benchmark traffic: route with exploration, log,
    /// refit, estimate off-policy, check against the replayed truth, reload; per round.
    #[command(name = "loop")]
    Loop(Box<learn_loop::LoopArgs>),
}

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Model(args) => model::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Cache(args) => cache::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Route(args) => route::run(args),
        Command::Log(args) => log::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Spend(args) => spend::run(args),
        Command::ReplayProvider(args) => replay::run(args),
        Command::Onboard(args) => onboard::run(args),
        Command::Loop(args) => learn_loop::run(*args),
        Command::Train(args) => train::run(args),
        Command::TrainTasks(args) => train_tasks::run(args),
        Command::Eval(args) => eval::run(*args),
        Command::Score(args) => score::run(args),
    }
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: journald, log files and `kubectl logs` would otherwise
    // keep the escape codes in every line (`NO_COLOR` turns them off on a terminal too).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
