//! The learning loop on replayed traffic: the pieces `switchyard loop` strings together.
//!
//! A round sends prompts of a benchmark through a live gateway whose provider is the replay
//! server ([`crate::replay`]), posts each answer's recorded score as feedback, then refits a
//! router on the log and estimates it off-policy before it is deployed for the next round.
//! Because the benchmark recorded *every* model's answer, each estimate can be checked against
//! the truth: the candidate's exact value on the same prompts.
//!
//! - [`LoopData`]: the action models, their catalog specs and the replay index; picks the
//!   loop's prompts ([`LoopData::prompts`]) and scores what the gateway served
//!   ([`LoopData::round_stats`]): realised quality, the oracle's, the best single model's,
//!   cost, and model shares.
//! - [`refit`]: fits a predictor on the logged bandit feedback, leaving out held-out requests.
//! - [`check_estimate`]: IPS, SNIPS and doubly robust estimates of a candidate on held-out
//!   logged requests, next to their replayed truth.
//! - [`LoopReport`]: the rounds as a markdown table, JSON and an SVG plot.
//! - [`run_loop`]: the whole loop, round after round, against a serving gateway reached through
//!   its HTTP API ([`LoopClient`]) and a [`Deploy`] seam the binary implements with the
//!   gateway's reload.

mod check;
mod embed_memo;
mod refit;
mod report;
mod run;
mod stats;
mod task_priors;
mod traffic;

#[cfg(test)]
mod tests;

pub use check::{check_estimate, Checked, EstimateCheck};
pub use embed_memo::MemoEmbedder;
pub use refit::{refit, RefitConfig, Refitted};
pub use report::{LoopReport, LoopSettings};
pub use run::{run_loop, Deploy, LoopConfig, LoopEvent};
pub use stats::{LoopData, RoundStats, Served};
pub use task_priors::{task_priors_artifact, task_priors_on, TaskPriorInputs};
pub use traffic::LoopClient;
