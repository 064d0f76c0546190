//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while scoring routers or writing their reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An A/B comparison names an arm the log does not hold.
    #[error("no logged request of arm `{arm}`; the log's arms are: {}; pick one with --control", known.join(", "))]
    UnknownArm {
        /// The arm asked for.
        arm: String,
        /// The arms the rows name.
        known: Vec<String>,
    },
    /// The evaluation set has no prompts or no models.
    #[error("evaluation set is empty ({prompts} prompts, {models} models): restrict to prompts labelled for every model, and keep at least one")]
    EmptySet {
        /// Number of prompts found.
        prompts: usize,
        /// Number of models found.
        models: usize,
    },
    /// A matrix has a different number of rows (prompts) than the evaluation set.
    #[error("{source_name}: `{field}` has {found} rows but the evaluation set has {expected} prompts (one row per prompt, same order)")]
    RowCountMismatch {
        /// The evaluation set or router the matrix belongs to.
        source_name: String,
        /// Which matrix (`quality` or `cost`).
        field: &'static str,
        /// Rows found.
        found: usize,
        /// Rows expected.
        expected: usize,
    },
    /// A matrix row has a different number of entries than there are models.
    #[error("{source_name}: `{field}` row {row} has {found} entries but there are {expected} models (one column per model, in `models` order)")]
    ShapeMismatch {
        /// The evaluation set or router the matrix belongs to.
        source_name: String,
        /// Which matrix (`quality` or `cost`).
        field: &'static str,
        /// The row (prompt index).
        row: usize,
        /// Entries found.
        found: usize,
        /// Entries expected.
        expected: usize,
    },
    /// A value is NaN, infinite, or outside its allowed range.
    #[error("{source_name}: `{field}`[{row}][{col}] = {value} is invalid: {why}")]
    InvalidValue {
        /// The evaluation set or router the matrix belongs to.
        source_name: String,
        /// Which matrix (`quality` or `cost`).
        field: &'static str,
        /// Prompt index.
        row: usize,
        /// Model index.
        col: usize,
        /// The offending value.
        value: f64,
        /// What the value must be.
        why: &'static str,
    },
    /// An explicit λ grid contains a negative or NaN value.
    #[error("λ grid entry {index} = {value} is invalid: λ must be ≥ 0 (use f64::INFINITY for pure cost minimisation)")]
    InvalidLambda {
        /// Position in the grid.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Serialising a report to JSON failed.
    #[error("cannot serialise report to JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Drawing the SVG plot failed.
    #[error("cannot draw plot {path}: {message}")]
    Plot {
        /// The SVG file being written.
        path: PathBuf,
        /// The plotting backend's message.
        message: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
