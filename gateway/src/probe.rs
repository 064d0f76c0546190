//! Calling configured models directly, outside request serving: `switchyard onboard --live`
//! sends its probes, and has them judged, through [`Prober`]. It is built from the same
//! configuration as `switchyard serve` (providers, keys, catalog, retries, timeouts,
//! `[judge]`), but opens no outcome log and binds no port.

use std::sync::Arc;
use std::time::Duration;

use router_core::ModelId;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Judging};
use crate::error::Error;
use crate::judge::verdict;
use crate::metrics::Metrics;
use crate::openai::wire::{ChatCompletionRequest, ChatMessage, Role};
use crate::state::build_upstreams;
use crate::upstream::complete::{complete, Completed};
use crate::upstream::deployments::Deployments;
use crate::upstream::failover::{Failover, Upstreams};

/// The test question [`Prober::check_judge`] asks the judge to score, with a right and a wrong
/// answer.
pub const JUDGE_CHECK_PROMPT: &str = "What is 2 + 3? Reply with the number only.";
/// The right answer to [`JUDGE_CHECK_PROMPT`].
pub const JUDGE_CHECK_RIGHT: &str = "5";
/// A wrong answer to [`JUDGE_CHECK_PROMPT`].
pub const JUDGE_CHECK_WRONG: &str = "7";

/// What [`Prober::check_judge`] saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JudgeCheck {
    /// The judge's score of the right answer.
    pub right: f64,
    /// Its score of the wrong answer.
    pub wrong: f64,
    /// What the two calls cost, in USD.
    pub cost_usd: f64,
}

/// The providers of one configuration, for direct calls.
pub struct Prober {
    config: Config,
    catalog: Arc<models::Catalog>,
    upstreams: Upstreams,
    deployments: Deployments,
    metrics: Metrics,
    hard_stop: CancellationToken,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober").finish_non_exhaustive()
    }
}

impl Prober {
    /// Builds the live providers of `config`.
    pub fn new(config: Config) -> Result<Prober, Error> {
        let upstreams = build_upstreams(&config)?;
        let deployments = Deployments::new(&config.deployments, config.circuit_breaker);
        Ok(Prober {
            deployments,
            catalog: Arc::new(config.catalog.clone()),
            upstreams,
            metrics: Metrics::new(),
            hard_stop: CancellationToken::new(),
            config,
        })
    }

    /// The catalog of the configuration.
    pub fn catalog(&self) -> &models::Catalog {
        &self.catalog
    }

    /// Whether `model` is in the catalog and its provider is live (configured with a key).
    pub fn is_live(&self, model: &ModelId) -> bool {
        self.deployments
            .serves(model, &self.catalog, &self.upstreams)
    }

    /// The `[judge]` section, when configured.
    pub fn judging(&self) -> Option<&Judging> {
        self.config.judge.as_ref()
    }

    fn failover(&self) -> Failover<'_> {
        Failover::new(
            &self.config,
            &self.catalog,
            &self.upstreams,
            &self.deployments,
            &self.metrics,
            &self.hard_stop,
        )
    }

    /// Sends `prompt` as one user message to `model`, at most `max_tokens` of answer, and
    /// waits at most `timeout`.
    pub async fn ask(
        &self,
        model: &ModelId,
        prompt: &str,
        max_tokens: Option<u32>,
        timeout: Duration,
    ) -> Result<Completed, String> {
        let req = ChatCompletionRequest {
            messages: vec![ChatMessage::text(Role::User, prompt.to_owned())],
            // OpenAI's reasoning models refuse the older `max_tokens`; the Anthropic and
            // Gemini adapters read either.
            max_completion_tokens: max_tokens,
            ..ChatCompletionRequest::default()
        };
        complete(&self.failover(), model, req, timeout).await
    }

    /// Scores `answer` to `prompt` with the configured judge on its absolute rubric
    /// (checking it against `guide` when given): the score in `[0, 1]` (`None` when the
    /// judge answered without a readable score, which still cost what the call says).
    pub async fn judge(
        &self,
        prompt: &str,
        answer: &str,
        guide: Option<&str>,
    ) -> Result<(Option<f64>, Completed), String> {
        let Some(j) = self.judging() else {
            return Err("no [judge] is configured".into());
        };
        let req = match guide {
            Some(guide) => verdict::guided_request(prompt, answer, guide, j.max_tokens),
            None => verdict::absolute_request(prompt, answer, j.max_tokens),
        };
        let called = complete(&self.failover(), &j.model, req, j.timeout).await?;
        Ok((verdict::parse_score(&called.text), called))
    }

    /// Two test calls to the judge before it is trusted with real answers: it must score a
    /// right and a wrong answer to [`JUDGE_CHECK_PROMPT`] readably, the right one higher. A
    /// judge that fails, replies without a score, or gives every answer the same score
    /// (a model that ignores the answer, a rubric it does not follow) is an error that says
    /// which.
    pub async fn check_judge(&self) -> Result<JudgeCheck, String> {
        let mut cost_usd = 0.0;
        let mut scores = [0.0; 2];
        for (slot, answer) in scores
            .iter_mut()
            .zip([JUDGE_CHECK_RIGHT, JUDGE_CHECK_WRONG])
        {
            let (score, called) = self.judge(JUDGE_CHECK_PROMPT, answer, None).await?;
            cost_usd += called.cost_usd;
            *slot = score.ok_or_else(|| {
                let start: String = called.text.chars().take(120).collect();
                format!("it answered without a readable score (it began: {start:?})")
            })?;
        }
        let [right, wrong] = scores;
        if right <= wrong {
            return Err(format!(
                "it scored a wrong answer {wrong:.2} and the right one {right:.2}: it does not tell them apart"
            ));
        }
        Ok(JudgeCheck {
            right,
            wrong,
            cost_usd,
        })
    }
}
