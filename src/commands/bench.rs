use super::EncoderArgs;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Encoder milliseconds per prompt by sequence length and batch size, with GFLOP/s next to
    /// this machine's f32 matmul rate.
    Encoder {
        /// Sequence lengths to measure.
        #[arg(long, value_delimiter = ',', default_values_t = [16, 64, 128, 256])]
        tokens: Vec<usize>,
        /// Batch sizes to measure.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 32])]
        batch: Vec<usize>,
        /// Timed runs per cell (the median is reported).
        #[arg(long, default_value_t = 7)]
        repeats: usize,
        /// Print JSON instead of a markdown table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        encoder: EncoderArgs,
    },
    /// Routed throughput through the real gateway and encoder against the testkit fake:
    /// requests/s, p50/p99, fallback share and CPU per request, closed and open loop.
    Routed(super::bench_routed::RoutedArgs),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        What::Routed(args) => super::bench_routed::run(args)?,
        What::Encoder {
            tokens,
            batch,
            repeats,
            json,
            encoder,
        } => {
            let mut encoder_args = encoder;
            // Benchmarks feed exact lengths; allow the model's full window.
            encoder_args.max_tokens = encoder_args
                .max_tokens
                .max(tokens.iter().copied().max().unwrap_or(0));
            let encoder = encoder_args.load()?;
            let report = classifier::bench::run(&encoder, &tokens, &batch, repeats)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_markdown());
            }
        }
    }
    Ok(())
}
