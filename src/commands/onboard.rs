//! `switchyard onboard`: with `--live`, the shipped probe set sent to the user's own models
//! and fitted into a router artifact ([`super::onboard_live`]); without, the offline
//! experiment: how well MF knows a new model from K probe prompts, against MF trained with it
//! on the full data (see `training::onboarding`).

use anyhow::Context;
use training::experiment::ExperimentData;
use training::onboarding::{self, OnboardingConfig};

use super::data_args::{load, DataArgs};
use super::onboard_live::LiveArgs;

#[derive(Debug, clap::Args)]
pub struct OnboardArgs {
    /// Onboard models on your own providers: send them the probe set, score the answers and
    /// write their per-task estimates into a router artifact (see --models, --out).
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    live_args: LiveArgs,
    #[command(flatten)]
    data: DataArgs,
    /// The model to onboard (a model column of the data); offline experiment only.
    #[arg(long, required_unless_present = "live", conflicts_with = "live")]
    model: Option<String>,
    /// Probe prompt counts to try, comma-separated, each at least 1. A count above the new
    /// model's labelled training prompts (the probe pool) runs as the whole pool, with a
    /// warning.
    #[arg(long, value_delimiter = ',', default_value = "50,100,200", value_parser = parse_probe_count, allow_hyphen_values = true)]
    probes: Vec<usize>,
    /// Seed of the split, the probe draw and MF's initialisation (with --live: of the probe
    /// selection).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Share of prompts held out (above 0 and below 1).
    #[arg(long, default_value_t = 0.2, value_parser = super::eval::parse_test_fraction, allow_hyphen_values = true)]
    test_fraction: f64,
    /// L2 pull of the new model's vector towards the average model, in units of one probe's
    /// log-loss (classifier's NEW_MODEL_L2 by default).
    #[arg(long, default_value_t = classifier::predictors::NEW_MODEL_L2)]
    l2: f32,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

pub fn run(args: OnboardArgs) -> anyhow::Result<()> {
    if args.live {
        return super::onboard_live::run(args.live_args, args.seed, args.json);
    }
    let model = args
        .model
        .clone()
        .context("--model is required without --live")?;
    let (table, x, _) = load(&args.data)?;
    let data = ExperimentData::from_table(&table, x, &args.data.prices()?)?;
    let config = OnboardingConfig {
        probe_sizes: args.probes.clone(),
        seed: args.seed,
        test_fraction: args.test_fraction,
        l2: args.l2,
        ..OnboardingConfig::default()
    };
    eprintln!("fitting MF twice (without and with {model})");
    let report = onboarding::run(&data, &model, &config)?;
    let pool = report.labelled_train_rows;
    let over: Vec<String> = args
        .probes
        .iter()
        .filter(|&&k| k > pool)
        .map(usize::to_string)
        .collect();
    if !over.is_empty() {
        eprintln!(
            "warning: --probes {} is more than the probe pool: the {pool} training prompts \
             labelled for {model}; it ran as K={pool} (use more data, or a smaller --probes)",
            over.join(",")
        );
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).context("serialising the report")?
        )?;
    } else {
        outln!("{}", report.to_markdown())?;
    }
    Ok(())
}

/// `--probes`: a count of probe prompts, at least 1 (0 used to run silently as 1).
fn parse_probe_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(k) if k >= 1 => Ok(k),
        _ => Err(format!(
            "`{s}`: a probe count is a whole number of at least 1 (e.g. 50)"
        )),
    }
}
