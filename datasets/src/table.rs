//! The canonical outcome table: prompts × models, one optional [`Cell`] per pair.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// A benchmark's own train/test assignment of a prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Meant for fitting.
    Train,
    /// Held out for evaluation.
    Test,
}

/// The recorded outcome of one model on one prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// Quality in `[0, 1]` (1 = correct).
    pub score: f64,
    /// Cost in USD of this call, when recorded or estimated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Whether `cost_usd` was estimated from prices and token estimates rather than recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
    /// Prompt tokens, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    /// Completion tokens, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
    /// End-to-end latency in milliseconds, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The model's answer, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

impl Cell {
    /// A cell holding only a score.
    pub fn from_score(score: f64) -> Cell {
        Cell {
            score,
            cost_usd: None,
            cost_estimated: false,
            input_tokens: None,
            output_tokens: None,
            latency_ms: None,
            response: None,
        }
    }
}

/// One prompt and every model's outcome on it.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptRow {
    /// Identifier, unique within the table's source (for example `mbpp.dev.12`).
    pub id: String,
    /// The prompt text as a model would see it.
    pub text: String,
    /// The task or benchmark, such as `mmlu/anatomy` or `gsm8k` (family before any `/`).
    pub task: Option<String>,
    /// The benchmark's own split, when it has one.
    pub split: Option<Split>,
    /// One entry per [`OutcomeTable::models`], `None` where the model was not run.
    pub cells: Vec<Option<Cell>>,
}

impl PromptRow {
    /// The task family: the task up to its first `/` (`mmlu/anatomy` → `mmlu`).
    pub fn task_family(&self) -> Option<&str> {
        self.task
            .as_deref()
            .map(|t| t.split_once('/').map_or(t, |(family, _)| family))
    }

    /// Whether the row's task or task family is `name`, in any case (`Math` and `math` are
    /// one task: labels merged from several sources or written by hand differ in case).
    pub fn in_task(&self, name: &str) -> bool {
        let is = |t: Option<&str>| t.is_some_and(|t| t.eq_ignore_ascii_case(name));
        is(self.task.as_deref()) || is(self.task_family())
    }
}

/// Per-model aggregate over a table (see [`OutcomeTable::model_means`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSummary {
    /// The model.
    pub model: String,
    /// Prompts with a cell for this model.
    pub prompts: usize,
    /// Mean score over those prompts (0 when there are none).
    pub mean_score: f64,
    /// Mean cost over the cells that have one, `None` when none has.
    pub mean_cost_usd: Option<f64>,
}

/// Prompts × models: the common shape every importer produces.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OutcomeTable {
    /// Where the data came from, such as `routerbench` (merged tables join with `+`).
    pub source: String,
    /// Column names: the models, in the dataset's own naming (equal to catalog ids).
    pub models: Vec<String>,
    /// The prompts; each row's `cells` is aligned with `models`.
    pub rows: Vec<PromptRow>,
}

impl OutcomeTable {
    /// An empty table.
    pub fn new(source: impl Into<String>, models: Vec<String>) -> OutcomeTable {
        OutcomeTable {
            source: source.into(),
            models,
            rows: Vec::new(),
        }
    }

    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no prompts.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Column index of `model`.
    pub fn model_index(&self, model: &str) -> Option<usize> {
        self.models.iter().position(|m| m == model)
    }

    /// Distinct tasks in first-seen order (rows without a task are skipped).
    pub fn tasks(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for task in self.rows.iter().filter_map(|r| r.task.as_deref()) {
            if seen.insert(task) {
                out.push(task.to_owned());
            }
        }
        out
    }

    /// Keeps only rows whose task or task family is in `tasks`.
    pub fn filter_tasks(&mut self, tasks: &[&str]) {
        self.rows.retain(|r| tasks.iter().any(|t| r.in_task(t)));
    }

    /// Drops rows whose task or task family is `task` (for example `gpqa`, whose questions
    /// must never be published).
    pub fn drop_task(&mut self, task: &str) {
        self.rows.retain(|r| !r.in_task(task));
    }

    /// Keeps only rows of the given split.
    pub fn retain_split(&mut self, split: Split) {
        self.rows.retain(|r| r.split == Some(split));
    }

    /// Keeps only the columns of models for which `keep` is true, in their current order.
    pub fn retain_models(&mut self, keep: impl Fn(&str) -> bool) {
        let mask: Vec<bool> = self.models.iter().map(|m| keep(m)).collect();
        let mut it = mask.iter();
        self.models.retain(|_| *it.next().unwrap_or(&false));
        for row in &mut self.rows {
            let mut it = mask.iter();
            row.cells.retain(|_| *it.next().unwrap_or(&false));
        }
    }

    /// Keeps only rows where every model has a cell.
    pub fn retain_complete_rows(&mut self) {
        self.rows.retain(|r| r.cells.iter().all(Option::is_some));
    }

    /// Appends `other`: models become the union (this table's first), rows are
    /// concatenated and re-aligned, missing cells are `None`.
    pub fn merge(&mut self, other: OutcomeTable) {
        let mut index: HashMap<String, usize> = self
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), i))
            .collect();
        let mut map = Vec::with_capacity(other.models.len());
        for m in other.models {
            let next = self.models.len();
            let i = *index.entry(m.clone()).or_insert(next);
            if i == next {
                self.models.push(m);
            }
            map.push(i);
        }
        let width = self.models.len();
        for row in &mut self.rows {
            row.cells.resize(width, None);
        }
        for mut row in other.rows {
            let mut cells = vec![None; width];
            for (j, cell) in row.cells.drain(..).enumerate() {
                if let Some(&i) = map.get(j) {
                    cells[i] = cell;
                }
            }
            row.cells = cells;
            self.rows.push(row);
        }
        if self.source.is_empty() {
            self.source = other.source;
        } else if !other.source.is_empty() && other.source != self.source {
            self.source = format!("{}+{}", self.source, other.source);
        }
    }

    /// Count, mean score and mean cost per model, in column order.
    pub fn model_means(&self) -> Vec<ModelSummary> {
        self.models
            .iter()
            .enumerate()
            .map(|(j, model)| {
                let (mut n, mut score, mut n_cost, mut cost) = (0usize, 0.0, 0usize, 0.0);
                for cell in self.rows.iter().filter_map(|r| r.cells.get(j)?.as_ref()) {
                    n += 1;
                    score += cell.score;
                    if let Some(c) = cell.cost_usd {
                        n_cost += 1;
                        cost += c;
                    }
                }
                ModelSummary {
                    model: model.clone(),
                    prompts: n,
                    mean_score: if n > 0 { score / n as f64 } else { 0.0 },
                    mean_cost_usd: (n_cost > 0).then(|| cost / n_cost as f64),
                }
            })
            .collect()
    }

    /// Mean over rows of the best score any model reached (the oracle router's quality).
    pub fn oracle_mean(&self) -> f64 {
        if self.rows.is_empty() {
            return 0.0;
        }
        let total: f64 = self
            .rows
            .iter()
            .map(|r| {
                r.cells
                    .iter()
                    .flatten()
                    .map(|c| c.score)
                    .fold(0.0, f64::max)
            })
            .sum();
        total / self.rows.len() as f64
    }
}

/// Builds a table row by row while discovering model columns.
pub(crate) struct TableBuilder {
    table: OutcomeTable,
    index: HashMap<String, usize>,
    ids: HashMap<String, usize>,
}

impl TableBuilder {
    pub(crate) fn new(source: &str) -> TableBuilder {
        TableBuilder {
            table: OutcomeTable::new(source, Vec::new()),
            index: HashMap::new(),
            ids: HashMap::new(),
        }
    }

    /// The column of `model`, adding it if new.
    pub(crate) fn model(&mut self, model: &str) -> usize {
        if let Some(&i) = self.index.get(model) {
            return i;
        }
        let i = self.table.models.len();
        self.table.models.push(model.to_owned());
        self.index.insert(model.to_owned(), i);
        i
    }

    /// Makes `id` unique within the table: repeats get `#2`, `#3`, … appended.
    pub(crate) fn unique_id(&mut self, id: String) -> String {
        let n = self.ids.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            id
        } else {
            format!("{id}#{n}")
        }
    }

    /// Adds a row; `cells` pairs are (column from [`TableBuilder::model`], cell).
    pub(crate) fn push(
        &mut self,
        id: String,
        text: String,
        task: Option<String>,
        split: Option<Split>,
        cells: Vec<(usize, Cell)>,
    ) {
        let mut aligned = vec![None; self.table.models.len()];
        for (j, cell) in cells {
            if j < aligned.len() {
                aligned[j] = Some(cell);
            }
        }
        self.table.rows.push(PromptRow {
            id,
            text,
            task,
            split,
            cells: aligned,
        });
    }

    pub(crate) fn finish(mut self) -> OutcomeTable {
        let width = self.table.models.len();
        for row in &mut self.table.rows {
            row.cells.resize(width, None);
        }
        self.table
    }
}
