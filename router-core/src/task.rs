//! The task taxonomy: what kind of work a prompt asks for, and how well each model does each kind.
//!
//! A trained predictor knows only the models it was fitted on. For every other model the router
//! falls back on priors, and the most useful thing a prior can know about a prompt is its task:
//! a sentiment label is easy for every model, an olympiad problem separates them. The task
//! classifier (`classifier::predictors::TaskClassifier`) turns a prompt embedding into a
//! [`TaskDistribution`]; the catalog gives each model [`TaskScores`] from public benchmark
//! results; [`TaskScores::expected`] combines them into
//! `E[quality | prompt] = Σ_t P(t | prompt) · score(model, t)`.
//!
//! The taxonomy is deliberately small and fixed (`docs/task-priors.md` says which benchmark
//! tasks and which public benchmarks map to each): a class must have labelled prompts to train
//! the classifier on and published scores to fill the catalog with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Number of tasks in the taxonomy.
pub const TASK_COUNT: usize = 7;

/// A kind of work a prompt asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Arithmetic, word problems and school mathematics (GSM8K, MGSM, elementary and
    /// high-school algebra).
    Math,
    /// Competition, university and research mathematics (MATH, AIME, abstract algebra,
    /// college mathematics).
    AdvancedMath,
    /// Writing, completing or fixing code (MBPP, HumanEval, LiveCodeBench).
    Coding,
    /// Factual and expert knowledge questions (MMLU, MMLU-Pro, trivia, medicine, law).
    Knowledge,
    /// Logic puzzles, commonsense and causal reasoning (logic grids, CommonsenseQA, formal
    /// logic, Winograd schemas).
    Reasoning,
    /// Labelling, classification, entailment, reading comprehension and extraction from a given
    /// text.
    Classification,
    /// Open-ended generation: composing, rewriting and translating text.
    Writing,
}

impl Task {
    /// Every task, in the order of [`TaskDistribution`] and [`TaskScores`] slots.
    pub const ALL: [Task; TASK_COUNT] = [
        Task::Math,
        Task::AdvancedMath,
        Task::Coding,
        Task::Knowledge,
        Task::Reasoning,
        Task::Classification,
        Task::Writing,
    ];

    /// The snake_case name used in the catalog, artifacts and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Math => "math",
            Task::AdvancedMath => "advanced_math",
            Task::Coding => "coding",
            Task::Knowledge => "knowledge",
            Task::Reasoning => "reasoning",
            Task::Classification => "classification",
            Task::Writing => "writing",
        }
    }

    /// The slot of this task in [`Task::ALL`].
    pub fn index(self) -> usize {
        match self {
            Task::Math => 0,
            Task::AdvancedMath => 1,
            Task::Coding => 2,
            Task::Knowledge => 3,
            Task::Reasoning => 4,
            Task::Classification => 5,
            Task::Writing => 6,
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a task of the taxonomy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown task `{name}`; the tasks are {}", Task::ALL.map(Task::as_str).join(", "))]
pub struct UnknownTask {
    /// The name given.
    pub name: String,
}

impl FromStr for Task {
    type Err = UnknownTask;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTask { name: s.to_owned() })
    }
}

/// `P(task | prompt)` over [`Task::ALL`]: non-negative, summing to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskDistribution([f64; TASK_COUNT]);

impl TaskDistribution {
    /// Normalises non-negative weights in [`Task::ALL`] order into a distribution. Negative and
    /// non-finite weights count as 0; all-zero weights give the uniform distribution, so a
    /// degenerate classifier output never poisons a decision.
    pub fn from_weights(weights: [f64; TASK_COUNT]) -> Self {
        let clean = weights.map(|w| if w.is_finite() && w > 0.0 { w } else { 0.0 });
        let total: f64 = clean.iter().sum();
        if total > 0.0 && total.is_finite() {
            Self(clean.map(|w| w / total))
        } else {
            Self([1.0 / TASK_COUNT as f64; TASK_COUNT])
        }
    }

    /// All mass on one task.
    pub fn certain(task: Task) -> Self {
        let mut p = [0.0; TASK_COUNT];
        p[task.index()] = 1.0;
        Self(p)
    }

    /// `P(task | prompt)`.
    pub fn get(&self, task: Task) -> f64 {
        self.0[task.index()]
    }

    /// The probabilities in [`Task::ALL`] order.
    pub fn as_array(&self) -> &[f64; TASK_COUNT] {
        &self.0
    }

    /// The most likely task (the first in [`Task::ALL`] order on a tie).
    pub fn top(&self) -> Task {
        let mut best = Task::ALL[0];
        for t in Task::ALL {
            if self.get(t) > self.get(best) {
                best = t;
            }
        }
        best
    }

    /// `(task, probability)` pairs, most likely first.
    pub fn ranked(&self) -> Vec<(Task, f64)> {
        let mut v: Vec<(Task, f64)> = Task::ALL.into_iter().map(|t| (t, self.get(t))).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

impl Serialize for TaskDistribution {
    /// As a map from task name to probability, the shape `/v1/route` shows.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(TASK_COUNT))?;
        for t in Task::ALL {
            map.serialize_entry(t.as_str(), &self.get(t))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TaskDistribution {
    /// From the map [`Serialize`] writes. Names this version does not know (a row written by a
    /// newer taxonomy) are ignored and the rest renormalised, so old readers keep working.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, f64>::deserialize(d)?;
        let mut weights = [0.0; TASK_COUNT];
        for (name, p) in map {
            if let Ok(t) = name.parse::<Task>() {
                weights[t.index()] = p;
            }
        }
        Ok(Self::from_weights(weights))
    }
}

/// One model's P(correct)-like score per task, each in `[0, 1]`; a task may be missing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskScores([Option<f64>; TASK_COUNT]);

/// A task score outside `[0, 1]` (or not a number).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("score {score} for task `{task}` is outside [0, 1]")]
pub struct ScoreOutOfRange {
    /// The task.
    pub task: Task,
    /// The rejected score.
    pub score: f64,
}

impl TaskScores {
    /// Sets the score of `task`, rejecting values outside `[0, 1]` and NaN.
    pub fn set(&mut self, task: Task, score: f64) -> Result<(), ScoreOutOfRange> {
        if !(0.0..=1.0).contains(&score) {
            return Err(ScoreOutOfRange { task, score });
        }
        self.0[task.index()] = Some(score);
        Ok(())
    }

    /// The score of `task`, when known.
    pub fn get(&self, task: Task) -> Option<f64> {
        self.0[task.index()]
    }

    /// Whether no task has a score.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// The tasks with a score, in [`Task::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Task, f64)> + '_ {
        Task::ALL
            .into_iter()
            .filter_map(|t| self.get(t).map(|s| (t, s)))
    }

    /// `Σ_t P(t | prompt) · score(t)`, a task without a score counting as `fallback` (the
    /// model's flat prior).
    pub fn expected(&self, tasks: &TaskDistribution, fallback: f64) -> f64 {
        Task::ALL
            .into_iter()
            .map(|t| tasks.get(t) * self.get(t).unwrap_or(fallback))
            .sum()
    }
}

/// One model's typical completion length per task, in tokens (reasoning tokens included); a
/// task may be missing. Reasoning models spend thousands of tokens on a competition problem
/// and a few dozen on a label, so a per-task figure keeps the predicted cost honest.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskTokens([Option<f64>; TASK_COUNT]);

/// A token count that is negative or not a finite number.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("{tokens} output tokens for task `{task}` is not a finite number >= 0")]
pub struct InvalidTokens {
    /// The task.
    pub task: Task,
    /// The rejected count.
    pub tokens: f64,
}

impl TaskTokens {
    /// Sets the count of `task`, rejecting negative and non-finite values.
    pub fn set(&mut self, task: Task, tokens: f64) -> Result<(), InvalidTokens> {
        if !(tokens.is_finite() && tokens >= 0.0) {
            return Err(InvalidTokens { task, tokens });
        }
        self.0[task.index()] = Some(tokens);
        Ok(())
    }

    /// The count of `task`, when known.
    pub fn get(&self, task: Task) -> Option<f64> {
        self.0[task.index()]
    }

    /// Whether no task has a count.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// `Σ_t P(t | prompt) · tokens(t)`, a task without a count counting as `fallback` (the
    /// model's flat output-token prior). Cost is linear in tokens, so this is the expected
    /// cost's token count.
    pub fn expected(&self, tasks: &TaskDistribution, fallback: f64) -> f64 {
        Task::ALL
            .into_iter()
            .map(|t| tasks.get(t) * self.get(t).unwrap_or(fallback))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_all() {
        for (i, t) in Task::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(t.as_str().parse::<Task>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        let err = "poetry".parse::<Task>().unwrap_err();
        assert!(err.to_string().contains("unknown task `poetry`"), "{err}");
        assert!(err.to_string().contains("advanced_math"), "{err}");
    }

    #[test]
    fn distribution_normalises_and_survives_garbage() {
        let d = TaskDistribution::from_weights([2.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(d.get(Task::Math), 0.5);
        assert_eq!(d.get(Task::Coding), 0.5);
        assert_eq!(d.top(), Task::Math);
        let junk = TaskDistribution::from_weights([f64::NAN, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let sum: f64 = junk.as_array().iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
        assert_eq!(junk.get(Task::Writing), 1.0 / TASK_COUNT as f64);
    }

    #[test]
    fn expected_score_mixes_tasks_and_falls_back_per_task() {
        let mut s = TaskScores::default();
        s.set(Task::Math, 0.9).unwrap();
        s.set(Task::Writing, 0.5).unwrap();
        let d = TaskDistribution::from_weights([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert!((s.expected(&d, 0.0) - 0.7).abs() < 1e-12);
        let coding = TaskDistribution::certain(Task::Coding);
        assert_eq!(s.expected(&coding, 0.42), 0.42);
        assert!(s.set(Task::Math, 1.2).is_err());
        assert!(s.set(Task::Math, f64::NAN).is_err());
        assert_eq!(s.iter().count(), 2);
    }

    #[test]
    fn expected_tokens_mix_tasks_and_fall_back_to_the_flat_count() {
        let mut t = TaskTokens::default();
        t.set(Task::AdvancedMath, 2000.0).unwrap();
        t.set(Task::Classification, 100.0).unwrap();
        let d = TaskDistribution::from_weights([0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        assert!((t.expected(&d, 500.0) - 1050.0).abs() < 1e-9);
        assert_eq!(
            t.expected(&TaskDistribution::certain(Task::Writing), 500.0),
            500.0
        );
        assert!(t.set(Task::Math, -1.0).is_err());
        assert!(t.set(Task::Math, f64::INFINITY).is_err());
        assert!(!t.is_empty());
        assert!(TaskTokens::default().is_empty());
    }

    #[test]
    fn distribution_serialises_as_a_map() {
        let d = TaskDistribution::certain(Task::Coding);
        let v = serde_json::to_value(d).unwrap();
        assert_eq!(v["coding"], 1.0);
        assert_eq!(v["math"], 0.0);
        let back: TaskDistribution = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
        let newer: TaskDistribution =
            serde_json::from_str(r#"{"coding": 0.5, "poetry": 0.5}"#).unwrap();
        assert_eq!(newer.get(Task::Coding), 1.0);
    }
}
