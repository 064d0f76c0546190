//! A replay provider: an OpenAI-compatible server that answers from a benchmark's recorded
//! outcomes, so the whole learning loop (route → call → log → feedback → refit) can run
//! offline against real model behaviour.
//!
//! - [`ReplayIndex`]: an [`OutcomeTable`] indexed by prompt text and prompt SHA-256, and the
//!   [`Recorded`] answer of one (model, prompt): response, usage, latency, score.
//! - [`recorded_score`]: the benchmark score of `model` on `prompt`, for posting feedback.
//! - [`ReplayConfig`]: latency scale and jitter seed.
//! - [`router`] / [`serve`]: the axum server (`POST /v1/chat/completions`, `GET /v1/models`,
//!   `GET`/`POST /replay/score`).
//!
//! Prompt matching: the last `user` message's text, trimmed, must equal a dataset prompt
//! (trimmed); failing that, every message's text joined with `"\n"` is tried. Message content
//! may be a string or an array of `{"type": "text", "text": ...}` parts.

mod server;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use datasets::{estimate_tokens, Cell, OutcomeTable, DEFAULT_OUTPUT_TOKENS};
use router_core::LatencyPrior;
use sha2::{Digest, Sha256};

pub use server::{router, serve};

/// Latency prior for models the catalog does not know: slow on purpose, so that a replay never
/// makes an unknown model look faster than it plausibly is.
pub const DEFAULT_LATENCY_PRIOR: LatencyPrior = LatencyPrior {
    ttft_ms: 1000.0,
    tokens_per_s: 30.0,
};

/// How the replay server times its answers.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayConfig {
    /// Multiplies every latency; 0 answers at once (tests), 1 is real time.
    pub latency_scale: f64,
    /// Seeds the ±10 % latency jitter (deterministic per seed, model and prompt).
    pub seed: u64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            latency_scale: 1.0,
            seed: 0,
        }
    }
}

/// What a model recorded on one prompt, as the replay server answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The dataset's prompt id.
    pub prompt_id: String,
    /// The prompt's task, if any.
    pub task: Option<String>,
    /// The recorded answer (empty when the dataset kept none).
    pub response: String,
    /// Recorded prompt tokens, else characters / 4.
    pub prompt_tokens: u32,
    /// Recorded completion tokens, else characters / 4 of the response (300 without one).
    pub completion_tokens: u32,
    /// Recorded end-to-end latency, else the model's prior (before scaling and jitter).
    pub latency_ms: f64,
    /// Time to first token: the prior's, capped at `latency_ms`.
    pub ttft_ms: f64,
    /// The benchmark score in `[0, 1]`.
    pub score: f64,
}

/// Why a lookup found nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// The model is not a column of the table.
    UnknownModel,
    /// No dataset prompt matches.
    UnknownPrompt,
    /// The prompt is known but the model has no cell on it.
    NotRecorded,
}

/// An outcome table indexed for replay.
#[derive(Debug)]
pub struct ReplayIndex {
    table: OutcomeTable,
    by_text: HashMap<String, usize>,
    by_sha256: HashMap<String, usize>,
    aliases: HashMap<String, usize>,
    priors: Vec<LatencyPrior>,
}

impl ReplayIndex {
    /// Indexes `table`; `prior(model)` gives a model's latency prior where known (the catalog's),
    /// else [`DEFAULT_LATENCY_PRIOR`] applies. Duplicate prompt texts resolve to the first row.
    pub fn new(table: OutcomeTable, prior: &dyn Fn(&str) -> Option<LatencyPrior>) -> Self {
        let mut by_text = HashMap::new();
        let mut by_sha256 = HashMap::new();
        for (i, row) in table.rows.iter().enumerate() {
            let text = row.text.trim();
            by_sha256.entry(prompt_sha256(text)).or_insert(i);
            by_text.entry(text.to_owned()).or_insert(i);
        }
        let priors = table
            .models
            .iter()
            .map(|m| prior(m).unwrap_or(DEFAULT_LATENCY_PRIOR))
            .collect();
        Self {
            table,
            by_text,
            by_sha256,
            aliases: HashMap::new(),
            priors,
        }
    }

    /// Also accepts `alias` for the table's `model` (a gateway sends the catalog's
    /// `upstream_name`, which often differs from the catalog id). False when `model` is not a
    /// column; an alias never shadows a column name.
    pub fn add_alias(&mut self, alias: &str, model: &str) -> bool {
        match self.table.model_index(model) {
            Some(j) => {
                if self.table.model_index(alias).is_none() {
                    self.aliases.insert(alias.to_owned(), j);
                }
                true
            }
            None => false,
        }
    }

    /// The column of `model`, by column name or alias.
    pub fn model_column(&self, model: &str) -> Option<usize> {
        self.table
            .model_index(model)
            .or_else(|| self.aliases.get(model).copied())
    }

    /// Every name a request may give as `model`: the table's columns, then the aliases (sorted),
    /// so that a gateway checking its candidates against `GET /v1/models` finds the upstream
    /// names it sends.
    pub fn model_names(&self) -> Vec<String> {
        let mut aliases: Vec<&String> = self.aliases.keys().collect();
        aliases.sort();
        self.table.models.iter().chain(aliases).cloned().collect()
    }

    /// The table.
    pub fn table(&self) -> &OutcomeTable {
        &self.table
    }

    /// The row whose trimmed text equals `text` trimmed.
    pub fn row_by_text(&self, text: &str) -> Option<usize> {
        self.by_text.get(text.trim()).copied()
    }

    /// The row whose trimmed text has this SHA-256 (lowercase hex).
    pub fn row_by_sha256(&self, sha256_hex: &str) -> Option<usize> {
        self.by_sha256
            .get(&sha256_hex.to_ascii_lowercase())
            .copied()
    }

    /// The row matching a chat request's message texts `(role, text)`: the last user message,
    /// else all messages joined with `"\n"`.
    pub fn row_for_messages(&self, messages: &[(String, String)]) -> Option<usize> {
        let last_user = messages.iter().rev().find(|(role, _)| role == "user");
        if let Some(row) = last_user.and_then(|(_, text)| self.row_by_text(text)) {
            return Some(row);
        }
        let joined: Vec<&str> = messages.iter().map(|(_, t)| t.as_str()).collect();
        self.row_by_text(&joined.join("\n"))
    }

    /// What `model` (a column name or alias) recorded on `row`.
    pub fn recorded(&self, model: &str, row: usize) -> Result<Recorded, Miss> {
        let j = self.model_column(model).ok_or(Miss::UnknownModel)?;
        let prompt = self.table.rows.get(row).ok_or(Miss::UnknownPrompt)?;
        let cell: &Cell = prompt
            .cells
            .get(j)
            .and_then(Option::as_ref)
            .ok_or(Miss::NotRecorded)?;
        let response = cell.response.clone().unwrap_or_default();
        let completion_tokens = match (cell.output_tokens, cell.response.as_deref()) {
            (Some(t), _) => t,
            (None, Some(r)) => estimate_tokens(r) as u32,
            (None, None) => DEFAULT_OUTPUT_TOKENS as u32,
        };
        let prior = self.priors.get(j).copied().unwrap_or(DEFAULT_LATENCY_PRIOR);
        let latency_ms = cell
            .latency_ms
            .filter(|l| l.is_finite() && *l >= 0.0)
            .unwrap_or_else(|| prior.latency_ms(f64::from(completion_tokens)));
        Ok(Recorded {
            prompt_id: prompt.id.clone(),
            task: prompt.task.clone(),
            response,
            prompt_tokens: cell
                .input_tokens
                .unwrap_or_else(|| estimate_tokens(&prompt.text) as u32),
            completion_tokens,
            latency_ms,
            ttft_ms: prior.ttft_ms.min(latency_ms),
            score: cell.score,
        })
    }
}

/// The recorded score of `model` on the prompt whose trimmed text equals `prompt` trimmed.
pub fn recorded_score(table: &OutcomeTable, model: &str, prompt: &str) -> Option<f64> {
    let j = table.model_index(model)?;
    let prompt = prompt.trim();
    table
        .rows
        .iter()
        .find(|r| r.text.trim() == prompt)
        .and_then(|r| r.cells.get(j)?.as_ref())
        .map(|c| c.score)
}

/// Lowercase hex SHA-256 of `text` trimmed (the key of `GET /replay/score`).
pub fn prompt_sha256(text: &str) -> String {
    Sha256::digest(text.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `latency_ms` scaled by `config.latency_scale` with a deterministic ±10 % jitter drawn from
/// the seed, model and prompt.
pub fn scaled_latency_ms(config: &ReplayConfig, model: &str, prompt_id: &str, ms: f64) -> f64 {
    if config.latency_scale.is_nan() || config.latency_scale <= 0.0 || !ms.is_finite() {
        return 0.0;
    }
    let digest = Sha256::digest(format!("{}\0{model}\0{prompt_id}", config.seed).as_bytes());
    let u = f64::from(u32::from_le_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ])) / f64::from(u32::MAX);
    ms.max(0.0) * config.latency_scale * (0.9 + 0.2 * u)
}
