//! The `judge_calls` table (the judge's own accounting): owned by the `outcome-log` crate.

pub use outcome_log::judge_calls::{
    judge_spend_since, read_judge_calls, JudgeCall, JudgeCallRow, JudgeResult,
};
