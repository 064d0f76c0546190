/// Everything that can go wrong fitting a predictor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The training set is inconsistent, or assembling the predictor failed.
    #[error(transparent)]
    Predictor(#[from] classifier::predictors::PredictorError),
    /// The training set has no rows.
    #[error("training set is empty; import a dataset or lower the filters")]
    EmptyTrainingSet,
    /// A configuration value is out of range.
    #[error("config field `{field}`: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A warm start cannot continue from the given predictor (another kind, another embedding
    /// dimension, or a fitter that cannot start from weights).
    #[error("warm start: {reason}")]
    WarmStart {
        /// What does not match, naming both sides, and what to do instead.
        reason: String,
    },
    /// Per-cell loss weights do not fit the training set, or the fitter cannot use them.
    #[error("cell weights: {reason}")]
    CellWeights {
        /// What is wrong (row and model where one cell is at fault) and the fix.
        reason: String,
    },
    /// A tensor operation failed while training.
    #[error("training tensors: {0}")]
    Candle(#[from] candle_core::Error),
    /// Reading or writing a file (embedding cache, reports) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An embedding cache file is unusable (another encoder, a bad header or vector length).
    #[error("embedding cache {path}: {reason}")]
    EmbedCache {
        /// The cache file (or folder).
        path: std::path::PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The encoder failed on a batch of prompts.
    #[error("embedding prompts: {source}")]
    Embed {
        /// The encoder's error.
        source: router_core::BoxError,
    },
    /// A data source cannot be found: the message names it and where it was looked for.
    #[error("{reason}")]
    Data {
        /// What is missing and how to fix it.
        reason: String,
    },
    /// The data cannot support the requested experiment (no own split, empty test set, ...).
    #[error("experiment: {reason}")]
    Experiment {
        /// What is missing and how to fix it.
        reason: String,
    },
    /// The learning loop could not talk to its gateway or deploy a refit.
    #[error("learning loop: {reason}")]
    Loop {
        /// What failed, naming the request or the artifact.
        reason: String,
    },
    /// The task-labelled data cannot train a task classifier.
    #[error("task classifier data: {reason}")]
    TaskData {
        /// What is missing and how to fix it.
        reason: String,
    },
    /// Scoring the routers failed.
    #[error("evaluation: {0}")]
    Eval(#[from] evals::Error),
    /// A probe set file is unusable: a line that does not parse, a duplicate id, an empty prompt,
    /// a reference that can never score 1, or no probes at all.
    #[error("probe set {file}{}: {reason}", .line.map(|l| format!(", line {l}")).unwrap_or_default())]
    ProbeSet {
        /// The file (or the bundled set).
        file: String,
        /// The 1-based line at fault, when one is.
        line: Option<usize>,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// Reading the outcome log or building samples from it failed.
    #[error(transparent)]
    FromLog(#[from] crate::from_log::FromLogError),
    /// Live onboarding cannot go on (a spend cap reached, an answers file from another probe
    /// set, a model with no usable answers).
    #[error("onboarding: {reason}")]
    Onboarding {
        /// What happened and what to do.
        reason: String,
    },
}
