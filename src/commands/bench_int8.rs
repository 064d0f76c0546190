//! `switchyard bench int8`: the int8 gate on a benchmark sample, with this gateway's routing
//! (the serve-time gate runs the same measurement on the bundled 105 prompts).

use std::path::PathBuf;

use anyhow::Context;
use training::experiment::{import_sources, ImportSpec};

use super::serve::{load_config, Overrides};
use super::EncoderArgs;
use training::experiment::source_specs;

#[derive(Debug, clap::Args)]
pub struct Int8Args {
    /// Prompts to compare: a dataset name or path (as `train --data`); repeat to merge.
    /// Default: the bundled gate sample.
    #[arg(long = "data")]
    data: Vec<String>,
    /// Keep at most this many prompts of each --data source (random, --sample-seed).
    #[arg(long, default_value_t = 2000)]
    max_prompts: usize,
    /// Seed of that draw.
    #[arg(long, default_value_t = 0)]
    sample_seed: u64,
    /// Gateway config (candidates, catalog, default trade-off).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Router artifact (default: the configured one, else the bundled one).
    #[arg(long)]
    artifact: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    encoder: EncoderArgs,
}

pub fn run(args: Int8Args) -> anyhow::Result<()> {
    let mut config = load_config(
        args.config.as_deref(),
        Overrides {
            bind: None,
            artifact: args.artifact,
            priors_only: false,
        },
    )?;
    config.router.encoder_weights = gateway::config::EncoderWeights::Int8;
    let texts: Vec<String> = if args.data.is_empty() {
        classifier::int8_gate::bundled_sample()
    } else {
        let spec = ImportSpec {
            sources: source_specs(&args.data)?,
            exclude_tasks: Vec::new(),
            max_prompts: Some(args.max_prompts),
            sample_seed: args.sample_seed,
            same_models: Vec::new(),
        };
        let (table, _) = import_sources(&spec, &mut |line| eprintln!("{line}"))?;
        table.rows.into_iter().map(|r| r.text).collect()
    };
    args.encoder.ensure_weights()?;
    let (encoder, service) = gateway::server::load_encoder_service(
        &config,
        &args.encoder.encoder_dir,
        classifier::ServiceConfig::for_machine(),
        args.encoder.config(classifier::ExtraLayers::NONE),
    )?
    .context("the encoder weights are missing (run `switchyard model fetch`)")?;
    eprintln!(
        "comparing f32 and int8 on {} prompts ({} tokens each at most; int8 kernel: {})",
        texts.len(),
        encoder.config().max_tokens,
        if classifier::Encoder::int8_accelerated() {
            "AVX-512 VNNI"
        } else {
            "portable loop (no AVX-512 VNNI on this CPU)"
        }
    );
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let gate = gateway::routing::int8_gate::measure(&config, &encoder, &service, &refs)?;
    if args.json {
        let mut value = serde_json::to_value(&gate)?;
        value["refusal"] = serde_json::json!(gate.refusal());
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    outln!(
        "prompts {}: cosine to f32 mean {:.6}, lowest {:.6} (gate ≥ {}); same decision {}/{} ({:.2} %, gate ≥ {:.0} %)",
        gate.prompts,
        gate.mean_cosine,
        gate.min_cosine,
        classifier::int8_gate::MIN_COSINE,
        gate.same_decision,
        gate.decided,
        100.0 * gate.agreement(),
        100.0 * classifier::int8_gate::MIN_AGREEMENT
    )?;
    outln!(
        "encoding time over the sample: f32 {:.2} s, int8 {:.2} s ({:.2}×)",
        gate.f32_seconds,
        gate.int8_seconds,
        gate.f32_seconds / gate.int8_seconds.max(1e-9)
    )?;
    for (a, b, words) in &gate.changed {
        outln!("  changed: {a} → {b}: {words} …")?;
    }
    match gate.refusal() {
        None => outln!("passed: int8 would serve")?,
        Some(reason) => outln!("refused: {reason}")?,
    }
    Ok(())
}
