//! `[judge]`: an LLM grading a sample of answers off the request path (see `crate::judge`).

use std::time::Duration;

use router_core::ModelId;
use serde::Deserialize;

use super::{invalid, ResolvedProvider};
use crate::error::Error;

/// How the judge scores an answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rubric {
    /// A score in `[0, 1]` of the answer to the prompt.
    #[default]
    Absolute,
    /// The answer against `reference_model`'s answer to the same prompt: 1 when the answer
    /// is better, 0.5 for a tie, 0 when worse (the label is a win rate against the reference).
    Pairwise,
}

impl Rubric {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rubric::Absolute => "absolute",
            Rubric::Pairwise => "pairwise",
        }
    }
}

/// The raw `[judge]` section. Present = enabled.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeConfig {
    /// The judge model: any catalog model whose provider is configured and live.
    pub model: ModelId,
    /// Share of answered requests (streamed or not) that get judged, in `[0, 1]`.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: f64,
    /// `absolute` (default) or `pairwise`.
    #[serde(default)]
    pub rubric: Rubric,
    /// With `rubric = "pairwise"`: the model whose answer to the same prompt each judged
    /// answer is compared with (called once per judged request, its cost counted as the
    /// judge's).
    #[serde(default)]
    pub reference_model: Option<ModelId>,
    /// USD the judge may spend per UTC day (judge and reference calls at catalog prices);
    /// once reached, judging stops until the next day. Required: an unbounded grader is a
    /// bill nobody agreed to.
    pub daily_budget_usd: f64,
    /// Judge calls in flight at once (at most 1024).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Judged requests waiting for a free judge slot; when full, new ones are dropped and
    /// counted in `switchyard_judge_dropped_total{reason="queue_full"}` (at most 1,000,000).
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Requests whose prompt plus answer is longer than this many characters are not judged
    /// (counted as `too_long`); default: no limit.
    #[serde(default)]
    pub max_prompt_chars: Option<usize>,
    /// The feedback metric the judge's labels are stored under (default `correct`, the one
    /// `switchyard loop` posts). A human label for the same request and metric wins.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Output token limit of one verdict, sent as `max_completion_tokens` (a reasoning model
    /// spends its reasoning within it: give one about 2048).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Longest one judge (or reference) call may take.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Seed of the sampling draws, for reproducible runs; default: from the OS.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_sample_rate() -> f64 {
    0.1
}
fn default_concurrency() -> usize {
    2
}
fn default_queue_capacity() -> usize {
    256
}
fn default_metric() -> String {
    "correct".to_owned()
}
fn default_max_tokens() -> u32 {
    256
}
fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

/// `[judge]` after validation: model ids resolved to catalog ids with live providers.
#[derive(Clone, Debug)]
pub struct Judging {
    /// The judge model (catalog id).
    pub model: ModelId,
    /// Share of answered requests judged.
    pub sample_rate: f64,
    /// The rubric.
    pub rubric: Rubric,
    /// The reference model of the pairwise rubric (catalog id).
    pub reference_model: Option<ModelId>,
    /// USD per UTC day.
    pub daily_budget_usd: f64,
    /// Judge calls in flight at once (1 to 1024).
    pub concurrency: usize,
    /// Waiting judged requests (1 to 1,000,000).
    pub queue_capacity: usize,
    /// Longest prompt plus answer judged, in characters.
    pub max_prompt_chars: Option<usize>,
    /// The feedback metric of the labels.
    pub metric: String,
    /// Output token limit of one verdict.
    pub max_tokens: u32,
    /// Longest one call may take.
    pub timeout: Duration,
    /// Seed of the sampling draws.
    pub seed: Option<u64>,
}

/// Longest accepted metric name (as `/v1/feedback` accepts).
const MAX_METRIC_BYTES: usize = 64;

/// Most judge calls in flight. Far above what any provider's rate limit allows one grader;
/// the bounds keep the judge's semaphores below `Semaphore::MAX_PERMITS`, past which the
/// gateway would panic at startup rather than refuse the config.
const MAX_CONCURRENCY: usize = 1024;
/// Most judged requests waiting (each holds a prompt and an answer in memory).
const MAX_QUEUE_CAPACITY: usize = 1_000_000;

/// Checks `[judge]` against the catalog and the providers.
pub(super) fn resolve(
    raw: JudgeConfig,
    catalog: &models::Catalog,
    providers: &[ResolvedProvider],
) -> Result<Judging, Error> {
    let live_model = |field: &str, id: &ModelId| -> Result<ModelId, Error> {
        let entry = catalog
            .get(id)
            .map_err(|e| invalid(field, format!("{e}; name a catalog model")))?;
        match providers.iter().find(|p| p.name == entry.spec.provider) {
            Some(p) if p.live => Ok(entry.spec.id.clone()),
            Some(_) => Err(invalid(
                field,
                format!(
                    "the provider `{}` of `{}` has no API key set; set it or choose a model of a live provider",
                    entry.spec.provider, entry.spec.id
                ),
            )),
            None => Err(invalid(
                field,
                format!(
                    "`{}` is served by provider `{}`, which is not configured; add it to [[providers]] or choose another model",
                    entry.spec.id, entry.spec.provider
                ),
            )),
        }
    };
    let model = live_model("judge.model", &raw.model)?;
    if !(0.0..=1.0).contains(&raw.sample_rate) {
        return Err(invalid(
            "judge.sample_rate",
            "must be a share in [0, 1], e.g. 0.1 to judge one answer in ten",
        ));
    }
    if !(raw.daily_budget_usd.is_finite() && raw.daily_budget_usd >= 0.0) {
        return Err(invalid(
            "judge.daily_budget_usd",
            "must be a number of USD >= 0",
        ));
    }
    if !(1..=MAX_CONCURRENCY).contains(&raw.concurrency) {
        return Err(invalid(
            "judge.concurrency",
            format!("must be between 1 and {MAX_CONCURRENCY}"),
        ));
    }
    if !(1..=MAX_QUEUE_CAPACITY).contains(&raw.queue_capacity) {
        return Err(invalid(
            "judge.queue_capacity",
            format!("must be between 1 and {MAX_QUEUE_CAPACITY}"),
        ));
    }
    if raw.max_prompt_chars == Some(0) {
        return Err(invalid(
            "judge.max_prompt_chars",
            "must be at least 1 (leave it out for no limit)",
        ));
    }
    if raw.max_tokens == 0 {
        return Err(invalid("judge.max_tokens", "must be at least 1"));
    }
    if raw.timeout.is_zero() {
        return Err(invalid("judge.timeout", "must be greater than zero"));
    }
    if raw.metric.trim().is_empty() || raw.metric.len() > MAX_METRIC_BYTES {
        return Err(invalid(
            "judge.metric",
            format!("must be a non-empty name of at most {MAX_METRIC_BYTES} bytes"),
        ));
    }
    let reference_model = match (raw.rubric, &raw.reference_model) {
        (Rubric::Pairwise, None) => {
            return Err(invalid(
                "judge.reference_model",
                "rubric = \"pairwise\" needs a reference_model to compare answers with",
            ))
        }
        (Rubric::Absolute, Some(_)) => {
            return Err(invalid(
                "judge.reference_model",
                "is used only with rubric = \"pairwise\"; remove it or set the rubric",
            ))
        }
        (Rubric::Pairwise, Some(r)) => Some(live_model("judge.reference_model", r)?),
        (Rubric::Absolute, None) => None,
    };
    Ok(Judging {
        model,
        sample_rate: raw.sample_rate,
        rubric: raw.rubric,
        reference_model,
        daily_budget_usd: raw.daily_budget_usd,
        concurrency: raw.concurrency,
        queue_capacity: raw.queue_capacity,
        max_prompt_chars: raw.max_prompt_chars,
        metric: raw.metric,
        max_tokens: raw.max_tokens,
        timeout: raw.timeout,
        seed: raw.seed,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::config::{Config, GatewayConfig};
    use crate::error::Error;

    fn resolve(extra: &str) -> Result<super::Judging, Error> {
        let src = format!("[judge]\nmodel = \"gpt-4o\"\ndaily_budget_usd = 1\n{extra}");
        let raw = GatewayConfig::from_toml_str(&src, std::path::Path::new("test.toml"))?;
        let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
        Ok(Config::resolve(raw, &env)?.judge.unwrap())
    }

    #[test]
    fn queue_and_concurrency_are_bounded() {
        let j = resolve("concurrency = 1024\nqueue_capacity = 1000000\n").unwrap();
        assert_eq!((j.concurrency, j.queue_capacity), (1024, 1_000_000));
        for (extra, field, limit) in [
            (
                "queue_capacity = 3000000000000000000\n",
                "judge.queue_capacity",
                "1000000",
            ),
            (
                "queue_capacity = 1000001\n",
                "judge.queue_capacity",
                "1000000",
            ),
            ("concurrency = 1025\n", "judge.concurrency", "1024"),
            (
                "concurrency = 3000000000000000000\n",
                "judge.concurrency",
                "1024",
            ),
        ] {
            match resolve(extra).unwrap_err() {
                Error::ConfigInvalid {
                    field: f, message, ..
                } => {
                    assert_eq!(f, field, "{extra}");
                    assert!(message.contains(limit), "{extra}: {message}");
                }
                other => panic!("{extra}: unexpected {other}"),
            }
        }
    }
}
