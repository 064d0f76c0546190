//! Learning from logged traffic: the gateway's outcome log in, bandit training sets and
//! off-policy evaluation steps out.
//!
//! - [`load_outcomes`]: reads [`Outcome`](router_core::Outcome) records from the gateway's SQLite
//!   database (`.db`, `.sqlite`, `.sqlite3`; opened read-only, feedback joined from its
//!   `feedback` table) or from the JSONL that `switchyard log export` writes (`.jsonl`).
//! - [`bandit_samples`]: keeps the served, labelled requests whose prompt text was logged, as
//!   (prompt, model, reward, propensity) [`BanditSample`]s, and counts what it skipped
//!   ([`Skipped`]).
//! - [`bandit_training_set`]: one row per distinct prompt with only the served models' cells
//!   labelled, every other cell `None`, so the fitters' masked loss learns from bandit
//!   feedback. [`merge_training_sets`] mixes it with a benchmark set.
//! - [`ope_steps`]: re-runs the routing policy with a candidate predictor on every logged
//!   prompt and builds the [`evals::ope::LoggedStep`]s that the IPS, SNIPS and doubly robust
//!   estimators need, with the doubly robust estimator's reward model from the candidate,
//!   another predictor, or cross-fitted on the log itself ([`RewardModel`], [`CrossFit`]).
//!
//! See `docs/learning-loop.md` for the design and its caveats.

mod arms;
mod cross_fit;
mod load;
mod ope_steps;
mod samples;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use arms::{arm_rows, ArmRows};
pub use cross_fit::CrossFit;
pub use load::load_outcomes;
pub use ope_steps::{ope_steps, OpeLog, OpeSetup, OpeSkipped, RewardModel};
pub use samples::{
    bandit_samples, bandit_training_set, decided_by_router, merge_training_sets, reward_label,
    BanditSample, BanditTrainingSet, SampleConfig, Skipped,
};

/// Everything that can go wrong turning an outcome log into training or evaluation data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FromLogError {
    /// The file extension names no known outcome log format.
    #[error("{path}: unknown outcome log format; pass the gateway's SQLite database (.db, .sqlite, .sqlite3) or a `switchyard log export` file (.jsonl)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file does not exist or cannot be read.
    #[error("cannot read outcome log {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite could not open or query the database.
    #[error("outcome log database {path}: {source}; is it the gateway's `log.sqlite` file?")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The PostgreSQL log could not be read (the message masks the password).
    #[error("{0}")]
    Postgres(String),
    /// A JSONL line is not an `Outcome` record.
    #[error(
        "{path}:{line}: not an Outcome record ({source}); re-export with `switchyard log export`"
    )]
    JsonLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A database row's `record` column is not an `Outcome` record.
    #[error("{path}: outcome `{request_id}` has an invalid `record` column ({source})")]
    RecordInvalid {
        /// The database.
        path: PathBuf,
        /// The row's request id.
        request_id: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The embedder failed or returned the wrong number of vectors.
    #[error("embedding logged prompts: {reason}")]
    Embed {
        /// What went wrong.
        reason: String,
    },
    /// No logged sample survived the filters.
    #[error("no usable logged outcomes ({skipped}); log with privacy `full`, post feedback to /v1/feedback, or pick another --metric")]
    NoSamples {
        /// What was skipped and why.
        skipped: String,
    },
    /// Two training sets to merge have different embedding dimensions.
    #[error("cannot merge training sets: embeddings are {left}-dimensional and {right}-dimensional; embed both with the same encoder")]
    DimensionMismatch {
        /// The first set's dimension.
        left: usize,
        /// The second set's dimension.
        right: usize,
    },
    /// The assembled training set is inconsistent.
    #[error(transparent)]
    Predictor(#[from] classifier::predictors::PredictorError),
}
