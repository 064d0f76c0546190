//! Subcommands and their arguments.

mod bench;
mod embed;
mod model;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Most tokens per prompt the encoder reads (longer prompts keep head and tail).
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
}

impl EncoderArgs {
    pub fn load(&self) -> anyhow::Result<classifier::Encoder> {
        let config = classifier::EncoderConfig {
            max_tokens: self.max_tokens,
            ..Default::default()
        };
        Ok(classifier::Encoder::load(&self.encoder_dir, config)?)
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
}

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Model(args) => model::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Bench(args) => bench::run(args),
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
