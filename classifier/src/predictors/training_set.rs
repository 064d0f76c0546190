use router_core::ModelId;
use sha2::{Digest, Sha256};

use super::PredictorError;

/// A task label's family: the label up to its first `/` (`mmlu/anatomy` → `mmlu`), the unit
/// a person routing by hand would use.
pub fn task_family(task: &str) -> &str {
    task.split_once('/').map_or(task, |(family, _)| family)
}

/// Prompt embeddings with per-model labels; `None` marks a missing cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingSet {
    /// The models, in column order.
    pub models: Vec<ModelId>,
    /// `n × d` unit-length prompt embeddings.
    pub x: Vec<Vec<f32>>,
    /// `n × m` quality in `[0, 1]` (0/1 correctness or a graded score).
    pub quality: Vec<Vec<Option<f32>>>,
    /// `n × m` output tokens (raw counts; predictors fit `ln(1 + tokens)`).
    pub output_tokens: Vec<Vec<Option<f32>>>,
    /// Each prompt's task label from its dataset (`mmlu/anatomy`, `gsm8k`), or empty when the
    /// rows carry none (logged traffic): either empty or one entry per prompt. Only the
    /// task-mixture predictor reads it.
    pub tasks: Vec<Option<String>>,
}

impl TrainingSet {
    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no prompts.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Embedding dimension (0 for an empty set).
    pub fn dim(&self) -> usize {
        self.x.first().map_or(0, Vec::len)
    }

    /// Checks shapes and label ranges: at least one model and no duplicates, every row has `d` finite values and `m` cells, quality
    /// is in `[0, 1]`, tokens are finite and non-negative.
    pub fn validate(&self) -> Result<(), PredictorError> {
        let (d, m) = (self.dim(), self.models.len());
        let bad =
            |field, row, reason: String| PredictorError::TrainingSetShape { field, row, reason };
        if m == 0 {
            return Err(bad(
                "models",
                0,
                "no models; a training set needs at least one".into(),
            ));
        }
        if let Some(dup) = (1..m).find(|&j| self.models[..j].contains(&self.models[j])) {
            return Err(bad(
                "models",
                dup,
                format!("`{}` appears twice", self.models[dup]),
            ));
        }
        if self.quality.len() != self.len() {
            return Err(bad(
                "quality",
                self.quality.len().min(self.len()),
                format!("{} rows for {} embeddings", self.quality.len(), self.len()),
            ));
        }
        if self.output_tokens.len() != self.len() {
            return Err(bad(
                "output_tokens",
                self.output_tokens.len().min(self.len()),
                format!(
                    "{} rows for {} embeddings",
                    self.output_tokens.len(),
                    self.len()
                ),
            ));
        }
        if !self.tasks.is_empty() && self.tasks.len() != self.len() {
            return Err(bad(
                "tasks",
                self.tasks.len().min(self.len()),
                format!(
                    "{} task labels for {} embeddings (give one per prompt, or none)",
                    self.tasks.len(),
                    self.len()
                ),
            ));
        }
        for (i, row) in self.x.iter().enumerate() {
            if row.len() != d || d == 0 {
                return Err(bad(
                    "x",
                    i,
                    format!("{} values, expected {d} (and more than 0)", row.len()),
                ));
            }
            if row.iter().any(|v| !v.is_finite()) {
                return Err(bad("x", i, "non-finite value".into()));
            }
        }
        for (i, row) in self.quality.iter().enumerate() {
            if row.len() != m {
                return Err(bad(
                    "quality",
                    i,
                    format!("{} cells for {m} models", row.len()),
                ));
            }
            if let Some(v) = row.iter().flatten().find(|v| !(0.0..=1.0).contains(*v)) {
                return Err(bad("quality", i, format!("{v} is outside [0, 1]")));
            }
        }
        for (i, row) in self.output_tokens.iter().enumerate() {
            if row.len() != m {
                return Err(bad(
                    "output_tokens",
                    i,
                    format!("{} cells for {m} models", row.len()),
                ));
            }
            if let Some(v) = row.iter().flatten().find(|v| !v.is_finite() || **v < 0.0) {
                return Err(bad(
                    "output_tokens",
                    i,
                    format!("{v} is not a finite non-negative count"),
                ));
            }
        }
        Ok(())
    }

    /// The rows at `indices`, in that order (for train/validation splits). Indices must be
    /// below [`TrainingSet::len`] on a validated set.
    pub fn subset(&self, indices: &[usize]) -> Self {
        Self {
            models: self.models.clone(),
            x: indices.iter().map(|&i| self.x[i].clone()).collect(),
            quality: indices.iter().map(|&i| self.quality[i].clone()).collect(),
            output_tokens: indices
                .iter()
                .map(|&i| self.output_tokens[i].clone())
                .collect(),
            tasks: if self.tasks.is_empty() {
                Vec::new()
            } else {
                indices.iter().map(|&i| self.tasks[i].clone()).collect()
            },
        }
    }

    /// Row `i`'s task family ([`task_family`]).
    pub fn task_family(&self, i: usize) -> Option<&str> {
        self.tasks.get(i)?.as_deref().map(task_family)
    }

    /// Lowercase hex SHA-256 over models, embeddings and labels, recorded in manifests so that
    /// an artifact names exactly the data it was fitted on.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        h.update((self.models.len() as u64).to_le_bytes());
        for m in &self.models {
            h.update((m.as_str().len() as u64).to_le_bytes());
            h.update(m.as_str().as_bytes());
        }
        h.update((self.len() as u64).to_le_bytes());
        for row in &self.x {
            h.update((row.len() as u64).to_le_bytes());
            for v in row {
                h.update(v.to_le_bytes());
            }
        }
        for table in [&self.quality, &self.output_tokens] {
            for row in table {
                h.update((row.len() as u64).to_le_bytes());
                for cell in row {
                    match cell {
                        Some(v) => {
                            h.update([1]);
                            h.update(v.to_le_bytes());
                        }
                        None => h.update([0]),
                    }
                }
            }
        }
        // Task labels are hashed only when present, so that unlabelled sets keep the
        // fingerprints they had before the field existed.
        if !self.tasks.is_empty() {
            h.update(b"tasks");
            for t in &self.tasks {
                match t {
                    Some(t) => {
                        h.update((t.len() as u64 + 1).to_le_bytes());
                        h.update(t.as_bytes());
                    }
                    None => h.update(0u64.to_le_bytes()),
                }
            }
        }
        hex::encode(h.finalize())
    }
}
