//! Validation of a model's task priors: `task_scores` (cited), `derived_task_scores` (with
//! their `derivation`), the cited `[[model.benchmark]]` results and the cited
//! `[[model.task_tokens]]` measurements.
//!
//! The rule the catalog enforces: a number the router acts on is either backed by a published
//! result measured the way the gateway calls the model (a cited score), or says it was derived
//! and from what. A result measured with another setting (extended thinking, a raised reasoning
//! effort) may be cited for the record but never backs a score.

use router_core::{Task, TaskScores, TaskTokens};

use crate::benchmarks::{self, BenchmarkResult, BENCHMARKS, DEFAULT_SETTING};
use crate::config::ModelConfig;
use crate::error::Error;

/// One cited measurement of a model's completion length on one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TokensResult {
    /// The task.
    pub task: Task,
    /// Mean completion tokens (reasoning included).
    pub tokens: f64,
    /// Where it was published (an `https://` URL).
    pub source: String,
    /// When it was published or read, `YYYY-MM-DD`.
    pub as_of: String,
    /// What was measured, and how.
    pub note: Option<String>,
}

/// The validated task priors of one model.
pub(crate) struct TaskEvidence {
    pub(crate) task_scores: TaskScores,
    pub(crate) derived_tasks: Vec<Task>,
    pub(crate) derivation: Option<String>,
    pub(crate) benchmarks: Vec<BenchmarkResult>,
    pub(crate) task_tokens: TaskTokens,
    pub(crate) token_measurements: Vec<TokensResult>,
}

fn check_citation(
    source: &str,
    as_of: &str,
    field: &dyn Fn(&str) -> String,
    bad: &dyn Fn(&str, String) -> Error,
) -> Result<(), Error> {
    if !source.starts_with("https://") || source.len() <= "https://".len() {
        return Err(bad(
            &field("source"),
            format!("must be the https:// URL the result was published at, got `{source}`"),
        ));
    }
    if !benchmarks::is_iso_date(as_of) {
        return Err(bad(
            &field("as_of"),
            format!("must be a date YYYY-MM-DD, got `{as_of}`"),
        ));
    }
    Ok(())
}

fn parse_task(name: &str, field: &str, bad: &dyn Fn(&str, String) -> Error) -> Result<Task, Error> {
    name.parse().map_err(|e| bad(field, format!("{e}")))
}

/// Checks the task-prior fields of one raw entry. Errors name the field path.
pub(crate) fn task_evidence(
    m: &ModelConfig,
    bad: &dyn Fn(&str, String) -> Error,
) -> Result<TaskEvidence, Error> {
    let mut results = Vec::with_capacity(m.benchmark.len());
    for (k, r) in m.benchmark.iter().enumerate() {
        let field = |f: &str| format!("benchmark[{k}].{f}");
        let Some(benchmark) = benchmarks::benchmark(&r.name) else {
            return Err(bad(
                &field("name"),
                format!(
                    "unknown benchmark `{}`; known: {}",
                    r.name,
                    BENCHMARKS
                        .iter()
                        .map(|b| b.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if !(0.0..=1.0).contains(&r.score) {
            return Err(bad(
                &field("score"),
                format!(
                    "must be a fraction in [0, 1] (divide a percentage by 100), got {}",
                    r.score
                ),
            ));
        }
        check_citation(&r.source, &r.as_of, &field, bad)?;
        let setting = r
            .setting
            .clone()
            .unwrap_or_else(|| DEFAULT_SETTING.to_owned());
        if setting.trim().is_empty() {
            return Err(bad(
                &field("setting"),
                format!("must name how the model was called (omit it for `{DEFAULT_SETTING}`)"),
            ));
        }
        results.push(BenchmarkResult {
            benchmark,
            score: r.score,
            source: r.source.clone(),
            as_of: r.as_of.clone(),
            setting,
            note: r.note.clone(),
        });
    }

    let mut scores = TaskScores::default();
    for (name, &score) in &m.task_scores {
        let field = format!("task_scores.{name}");
        let task = parse_task(name, &field, bad)?;
        scores
            .set(task, score)
            .map_err(|e| bad(&field, format!("{e}")))?;
        let backed = results
            .iter()
            .any(|r| r.benchmark.task == task && r.is_default_setting());
        if !backed {
            let cite: Vec<&str> = BENCHMARKS
                .iter()
                .filter(|b| b.task == task)
                .map(|b| b.id)
                .collect();
            return Err(bad(
                &field,
                format!(
                    "no cited result backs it: add a [[model.benchmark]] of a {task} benchmark ({}) measured with the default setting, or move the score to derived_task_scores with a derivation",
                    cite.join(", ")
                ),
            ));
        }
    }

    let mut derived_tasks = Vec::new();
    for (name, &score) in &m.derived_task_scores {
        let field = format!("derived_task_scores.{name}");
        let task = parse_task(name, &field, bad)?;
        if scores.get(task).is_some() {
            return Err(bad(
                &field,
                format!(
                    "task `{task}` is also in task_scores; a score is cited or derived, not both"
                ),
            ));
        }
        scores
            .set(task, score)
            .map_err(|e| bad(&field, format!("{e}")))?;
        derived_tasks.push(task);
    }
    let derivation = m.derivation.clone().filter(|d| !d.trim().is_empty());
    if !derived_tasks.is_empty() && derivation.is_none() {
        return Err(bad(
            "derivation",
            "derived_task_scores need a derivation saying how they were derived and from what"
                .into(),
        ));
    }

    let mut task_tokens = TaskTokens::default();
    let mut measurements = Vec::with_capacity(m.task_tokens.len());
    for (k, t) in m.task_tokens.iter().enumerate() {
        let field = |f: &str| format!("task_tokens[{k}].{f}");
        let task = parse_task(&t.task, &field("task"), bad)?;
        if task_tokens.get(task).is_some() {
            return Err(bad(&field("task"), format!("task `{task}` measured twice")));
        }
        task_tokens
            .set(task, t.tokens)
            .map_err(|e| bad(&field("tokens"), format!("{e}")))?;
        check_citation(&t.source, &t.as_of, &field, bad)?;
        measurements.push(TokensResult {
            task,
            tokens: t.tokens,
            source: t.source.clone(),
            as_of: t.as_of.clone(),
            note: t.note.clone(),
        });
    }

    Ok(TaskEvidence {
        task_scores: scores,
        derived_tasks,
        derivation,
        benchmarks: results,
        task_tokens,
        token_measurements: measurements,
    })
}
