use super::EncoderArgs;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Encoder forward-pass time: batch-1 latency by sequence length and batched throughput, with
    /// GFLOP/s next to this machine's f32 matmul rate measured in the same run.
    Encoder {
        /// Sequence lengths timed at batch 1 (exact lengths, special tokens included).
        #[arg(long, value_delimiter = ',', default_values_t = [16, 64, 128, 256])]
        tokens: Vec<usize>,
        /// Sequence lengths timed at `--batch` prompts per pass.
        #[arg(long, value_delimiter = ',', default_values_t = [64, 128])]
        batched_tokens: Vec<usize>,
        /// Prompts per pass for the throughput rows.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Timed runs per cell (fastest and median are reported).
        #[arg(long, default_value_t = 10)]
        repeats: usize,
        /// Threads for the encoder and the matmul (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Also time candle's op-by-op BertModel (the previous implementation) on the same inputs.
        #[arg(long)]
        reference: bool,
        /// Also time the encoder with int8 weights (`[encoder] weights = "int8"`).
        #[arg(long)]
        int8: bool,
        /// Print JSON instead of a markdown table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        encoder: EncoderArgs,
    },
    /// Routed throughput through the real gateway and encoder against the testkit fake:
    /// requests/s, p50/p99, fallback share and CPU per request, closed and open loop.
    Routed(super::bench_routed::RoutedArgs),
    /// Response cache latency through the real gateway against the testkit fake: an upstream
    /// miss, an exact hit and a semantic hit, p50/p90/p99.
    Cache(super::bench_cache::CacheBenchArgs),
    /// Outcome log commit wait per answer, SQLite against PostgreSQL, open loop.
    Log(super::bench_log::LogBenchArgs),
    /// The int8 encoder gate on a benchmark sample: cosine to f32 and the routing decisions of
    /// both, with the configured routing (what `[router] encoder_weights = "int8"` checks at
    /// start on its bundled sample).
    Int8(super::bench_int8::Int8Args),
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        What::Routed(args) => super::bench_routed::run(args)?,
        What::Cache(args) => super::bench_cache::run(args)?,
        What::Log(args) => super::bench_log::run(args)?,
        What::Int8(args) => super::bench_int8::run(args)?,
        What::Encoder {
            tokens,
            batched_tokens,
            batch,
            repeats,
            threads,
            reference,
            int8,
            json,
            encoder,
        } => {
            let longest = tokens
                .iter()
                .chain(&batched_tokens)
                .copied()
                .max()
                .unwrap_or(0);
            if longest > 512 || tokens.iter().chain(&batched_tokens).any(|&n| n < 2) {
                anyhow::bail!(
                    "--tokens and --batched-tokens must lie between 2 and 512 (the model's positions)"
                );
            }
            if batch == 0 || repeats == 0 {
                anyhow::bail!("--batch and --repeats must be at least 1");
            }
            let threads = threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| anyhow::anyhow!("--threads {threads}: {e}"))?;
            let mut encoder_args = encoder;
            // Benchmarks feed exact lengths; allow the model's full window.
            encoder_args.max_tokens = encoder_args.max_tokens.max(longest);
            let packed = encoder_args.load()?.with_threads(threads);
            let quantised = if int8 {
                Some(
                    encoder_args
                        .load()?
                        .with_threads(threads)
                        .with_int8_weights(),
                )
            } else {
                None
            };
            let candle = if reference {
                Some(classifier::reference::CandleEncoder::load(
                    &encoder_args.encoder_dir,
                )?)
            } else {
                None
            };
            let plan = classifier::bench::BenchPlan {
                latency_tokens: tokens,
                batched_tokens,
                batch,
                repeats,
            };
            let packed_fn = |ids: &[Vec<u32>]| packed.forward(ids);
            let candle_fn = |ids: &[Vec<u32>]| match &candle {
                Some(c) => c.forward(ids),
                None => Ok(Vec::new()),
            };
            let int8_fn = |ids: &[Vec<u32>]| match &quantised {
                Some(q) => q.forward(ids),
                None => Ok(Vec::new()),
            };
            let mut engines: Vec<(classifier::bench::Engine, classifier::bench::Forward<'_>)> =
                vec![(classifier::bench::Engine::Packed, &packed_fn)];
            if quantised.is_some() {
                engines.push((classifier::bench::Engine::Int8, &int8_fn));
            }
            if candle.is_some() {
                engines.push((classifier::bench::Engine::Candle, &candle_fn));
            }
            let report = pool.install(|| classifier::bench::run(&engines, &plan, threads))?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                out!("{}", report.to_markdown())?;
            }
        }
    }
    Ok(())
}
