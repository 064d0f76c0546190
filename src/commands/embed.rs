use std::io::Write;
use std::time::Instant;

use super::EncoderArgs;

#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// Texts to embed; each prints as one JSON array line.
    #[arg(required = true)]
    texts: Vec<String>,
    #[command(flatten)]
    encoder: EncoderArgs,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let load = Instant::now();
    let encoder = args.encoder.load()?;
    let loaded = load.elapsed();
    let start = Instant::now();
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let vectors = encoder.encode(&texts)?;
    let took = start.elapsed();
    let mut out = super::output::Stdout::lock();
    for v in &vectors {
        serde_json::to_writer(&mut out, v)?;
        writeln!(out)?;
    }
    eprintln!(
        "embedded {} text(s) in {:.1} ms (model load {:.0} ms)",
        vectors.len(),
        took.as_secs_f64() * 1000.0,
        loaded.as_secs_f64() * 1000.0
    );
    Ok(())
}
