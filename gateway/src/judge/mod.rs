//! The judge: an LLM grading a sample of answered requests off the request path, so that the
//! router learns from traffic nobody labels by hand.
//!
//! After a request's outcome row is committed with status `ok` (streamed or not),
//! [`offer`] draws it with `[judge] sample_rate` and hands the prompt, the answer and the
//! serving model to a judge task. The hand-over never waits: a bounded number of judged
//! requests may wait for one of `concurrency` judge slots (`queue_capacity`), and when they are
//! all taken the request is dropped and counted
//! (`switchyard_judge_dropped_total{reason="queue_full"}`). The tasks run in the gateway's
//! `TaskTracker`; at shutdown the waiting ones are abandoned (labels are best effort).
//!
//! A judge call goes through the same failover walk, providers and circuit breakers as client
//! traffic ([`crate::upstream::failover`]), with the judge model as its only candidate. Its
//! verdict is parsed defensively ([`verdict`]); a valid score becomes a feedback row with
//! `source = judge` under `[judge] metric`, which a human label for the same request and metric
//! replaces and which never replaces one. Every judged request gets a `judge_calls` row with
//! its result and cost (garbage and errors included: they were paid for), and the metrics
//! `switchyard_judge_*`. A daily budget ([`budget`]) stops paid judging once spent.
//!
//! Requests carrying `x-switchyard-reference-answer` are scored by an exact or numeric check
//! against it instead ([`router_core::reference::check`]): free, so every such request is checked,
//! sampled or not.

pub mod budget;
mod hold;
pub mod verdict;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use router_core::{Feedback, ModelId};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{Judging, Rubric};
use crate::openai::wire::{ChatCompletionRequest, ChatMessage, Role};
use crate::outcome::{JudgeCall, JudgeResult};
use crate::state::AppState;
use crate::tokens;
use crate::upstream::complete::{complete, Completed};
use budget::Budget;
use verdict::Winner;

/// `x-switchyard-reference-answer`: the expected final answer of a request (a number, a
/// letter, a word), checked exactly instead of asking the judge.
pub const HEADER_REFERENCE_ANSWER: &str = "x-switchyard-reference-answer";

/// Longest accepted reference answer, in bytes.
pub const MAX_REFERENCE_BYTES: usize = 1024;

/// Tokens of the judge's instructions around the graded texts (for the cost estimate).
const PROMPT_OVERHEAD_TOKENS: u32 = 200;

/// Bounds of the reference model's output limit in the pairwise rubric: twice the judged
/// answer's length, within these.
const REFERENCE_MIN_TOKENS: u32 = 256;
const REFERENCE_MAX_TOKENS: u32 = 4096;

/// The judge of a running gateway.
#[derive(Debug)]
pub struct Judge {
    config: Judging,
    budget: Budget,
    /// Judged requests waiting or running: `queue_capacity + concurrency` permits.
    admission: Arc<Semaphore>,
    /// Judge calls in flight: `concurrency` permits.
    slots: Semaphore,
    rng: Mutex<StdRng>,
    stop: CancellationToken,
    /// Whether this replica has seeded the shared spend (`[redis]`) from its log.
    seeded: std::sync::atomic::AtomicBool,
}

/// A judged request, handed over after its row is committed.
#[derive(Debug)]
pub struct Job {
    /// The request id (the outcome row's).
    pub request_id: String,
    /// The prompt text as routed (every message's text, in order).
    pub prompt: String,
    /// The answer text.
    pub answer: String,
    /// The model that answered.
    pub model: ModelId,
    /// The caller's reference answer, when it sent one.
    pub reference: Option<String>,
}

impl Judge {
    /// A judge for `config`, resuming today's spend from the log at `db`.
    pub fn new(config: Judging, db: &outcome_log::Location) -> Judge {
        let now = crate::clock::unix_ms();
        let spent = crate::outcome::judge_spend_since(db, budget::day_start_ms(now))
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "Could not read today's judge spend; starting from 0.");
                0.0
            });
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        Judge {
            budget: Budget::new(config.daily_budget_usd, spent, now),
            admission: Arc::new(Semaphore::new(
                config.queue_capacity.saturating_add(config.concurrency),
            )),
            slots: Semaphore::new(config.concurrency),
            rng: Mutex::new(rng),
            stop: CancellationToken::new(),
            seeded: std::sync::atomic::AtomicBool::new(false),
            config,
        }
    }

    /// The validated `[judge]` section.
    pub fn config(&self) -> &Judging {
        &self.config
    }

    /// USD spent today.
    pub fn spent_today(&self) -> f64 {
        self.budget.spent(crate::clock::unix_ms())
    }

    /// Abandons judged requests still waiting and aborts calls in flight (shutdown).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    fn draw(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).gen()
    }
}

/// The reference answer a request carries, when the judge is on and the header is usable.
/// An unusable one is logged and counted (`judge_dropped{reason="bad_reference"}`): the
/// request then goes to sampled, paid judging, which its sender meant to avoid.
pub fn reference_of(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    state.judge.as_ref()?;
    let value = headers.get(HEADER_REFERENCE_ANSWER)?;
    match reference_text(value.as_bytes()) {
        Ok(reference) => reference,
        Err(why) => {
            state.metrics.judge_dropped("bad_reference");
            tracing::warn!(
                "Ignoring the {HEADER_REFERENCE_ANSWER} header: {why}; the request is judged as if it had none."
            );
            None
        }
    }
}

/// The reference answer in a header's bytes: `None` when blank, an error saying why when
/// unusable.
fn reference_text(bytes: &[u8]) -> Result<Option<String>, String> {
    // Not `HeaderValue::to_str`, which refuses anything but visible ASCII: answers such as
    // `café` or `−3` are sent as UTF-8.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "it is not UTF-8".to_owned())?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_REFERENCE_BYTES {
        return Err(format!(
            "it is longer than {MAX_REFERENCE_BYTES} bytes ({})",
            text.len()
        ));
    }
    Ok(Some(text.to_owned()))
}

/// Hands an answered, logged request to the judge when it is drawn (or carries a reference
/// answer). Never waits.
pub fn offer(state: &AppState, job: Job) {
    let Some(judge) = state.judge.as_ref() else {
        return;
    };
    if job.reference.is_none() {
        if judge.draw() >= judge.config.sample_rate {
            return;
        }
        state.metrics.judge_sampled();
        if let Some(max) = judge.config.max_prompt_chars {
            if job.prompt.chars().count() + job.answer.chars().count() > max {
                state.metrics.judge_dropped("too_long");
                return;
            }
        }
    }
    if job.answer.trim().is_empty() {
        state.metrics.judge_dropped("no_answer");
        return;
    }
    if judge.stop.is_cancelled() {
        state.metrics.judge_dropped("shutdown");
        return;
    }
    let Ok(admitted) = Arc::clone(&judge.admission).try_acquire_owned() else {
        state.metrics.judge_dropped("queue_full");
        tracing::debug!(request_id = %job.request_id, "Judge queue full; request not judged.");
        return;
    };
    let task_state = state.clone();
    let handed_over = Instant::now();
    state.tracker.spawn(async move {
        run(&task_state, job, handed_over).await;
        drop(admitted);
    });
}

/// What judging one request gave.
struct Graded {
    judge_model: Option<ModelId>,
    method: &'static str,
    score: Result<f64, JudgeResult>,
    cost_usd: f64,
    input_tokens: u32,
    output_tokens: u32,
}

impl Graded {
    fn free(judge_model: Option<ModelId>, method: &'static str, score: f64) -> Graded {
        Graded {
            judge_model,
            method,
            score: Ok(score),
            cost_usd: 0.0,
            input_tokens: 0,
            output_tokens: 0,
        }
    }
}

async fn run(state: &AppState, job: Job, handed_over: Instant) {
    let Some(judge) = state.judge.as_ref() else {
        return;
    };
    let c = &judge.config;
    let graded = if let Some(reference) = &job.reference {
        Graded::free(
            None,
            "reference",
            router_core::reference::check(&job.answer, reference),
        )
    } else if c.rubric == Rubric::Pairwise && c.reference_model.as_ref() == Some(&job.model) {
        // The reference model against itself: a tie by definition, and nothing to pay.
        Graded::free(Some(c.model.clone()), "pairwise", 0.5)
    } else {
        let _slot = tokio::select! {
            _ = judge.stop.cancelled() => {
                state.metrics.judge_dropped("shutdown");
                return;
            }
            slot = judge.slots.acquire() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        // A slot freed by shutdown's own cancellation: nothing was sent, nothing to count.
        if judge.stop.is_cancelled() {
            state.metrics.judge_dropped("shutdown");
            return;
        }
        let estimate = estimate_usd(state, c, &job);
        let Some(hold) = hold::reserve(state, judge, estimate).await else {
            state.metrics.judge_dropped("budget");
            return;
        };
        if judge.stop.is_cancelled() {
            hold.settle(judge, 0.0);
            state.metrics.judge_dropped("shutdown");
            return;
        }
        let graded = tokio::select! {
            _ = judge.stop.cancelled() => None,
            g = grade(state, c, &job, judge) => Some(g),
        };
        let Some(graded) = graded else {
            // Cut by shutdown mid-call: what was sent may be billed and nothing says how
            // much, so the reservation counts, and is logged, so that the day's spend read
            // back after a restart is not too low.
            hold.settle(judge, estimate);
            state.metrics.judge_dropped("shutdown");
            let call = JudgeCall {
                request_id: job.request_id,
                timestamp_ms: crate::clock::unix_ms(),
                judge_model: Some(c.model.clone()),
                method: c.rubric.as_str(),
                result: JudgeResult::Error,
                score: None,
                cost_usd: estimate,
                input_tokens: 0,
                output_tokens: 0,
                latency_ms: handed_over.elapsed().as_secs_f64() * 1000.0,
            };
            state.log.judged(call, None).await;
            return;
        };
        hold.settle(judge, graded.cost_usd);
        graded
    };
    let label = graded
        .score
        .as_ref()
        .ok()
        .map(|s| Feedback::judge(c.metric.clone(), *s));
    let request_id = job.request_id;
    let call = JudgeCall {
        request_id: request_id.clone(),
        timestamp_ms: crate::clock::unix_ms(),
        judge_model: graded.judge_model,
        method: graded.method,
        result: match graded.score {
            Ok(_) => JudgeResult::Stored,
            Err(r) => r,
        },
        score: graded.score.ok(),
        cost_usd: graded.cost_usd,
        input_tokens: graded.input_tokens,
        output_tokens: graded.output_tokens,
        latency_ms: handed_over.elapsed().as_secs_f64() * 1000.0,
    };
    let score = label.as_ref().map(|l| l.score);
    let result = state.log.judged(call, label).await;
    if let (JudgeResult::Stored, Some(score), Some(cache)) = (result, score, &state.cache) {
        // A cached copy of an answer the judge scores badly is not replayed.
        if cache.evict_answer_of(&request_id, score).await {
            state.metrics.response_cache_evicted("label");
        }
    }
    state
        .metrics
        .judge_verdict(graded.method, result.as_str(), handed_over.elapsed());
}

/// The reference model's output limit for a judged answer.
fn reference_limit(answer: &str) -> u32 {
    tokens::estimate(answer)
        .saturating_mul(2)
        .clamp(REFERENCE_MIN_TOKENS, REFERENCE_MAX_TOKENS)
}

/// The most judging `job` should cost (verdict at its full output limit).
fn estimate_usd(state: &AppState, c: &Judging, job: &Job) -> f64 {
    let price = |m: &ModelId, input: u32, output: u32| {
        state.catalog.get(m).map_or(0.0, |e| {
            // The model's own token count (Claude 5.x counts ~30 % more than the estimate).
            e.spec
                .predicted_cost_usd(f64::from(input), f64::from(output))
        })
    };
    let texts = tokens::estimate(&job.prompt)
        .saturating_add(tokens::estimate(&job.answer))
        .saturating_add(PROMPT_OVERHEAD_TOKENS);
    match (&c.rubric, &c.reference_model) {
        (Rubric::Pairwise, Some(r)) => {
            let limit = reference_limit(&job.answer);
            price(r, tokens::estimate(&job.prompt), limit)
                + price(&c.model, texts.saturating_add(limit), c.max_tokens)
        }
        _ => price(&c.model, texts, c.max_tokens),
    }
}

/// Calls `model` with `req` through the failover walk (the model as its only candidate),
/// counting the cost as judge spend.
async fn call(
    state: &AppState,
    model: &ModelId,
    req: ChatCompletionRequest,
    timeout: Duration,
) -> Option<Completed> {
    let called = complete(&state.failover(), model, req, timeout)
        .await
        .ok()?;
    state.metrics.judge_cost(model.as_str(), called.cost_usd);
    Some(called)
}

fn add(graded: &mut Graded, called: &Completed) {
    graded.cost_usd += called.cost_usd;
    graded.input_tokens = graded.input_tokens.saturating_add(called.input_tokens);
    graded.output_tokens = graded.output_tokens.saturating_add(called.output_tokens);
}

/// Asks the judge (and, pairwise, the reference model first).
async fn grade(state: &AppState, c: &Judging, job: &Job, judge: &Judge) -> Graded {
    let mut graded = Graded {
        judge_model: Some(c.model.clone()),
        method: c.rubric.as_str(),
        score: Err(JudgeResult::Error),
        cost_usd: 0.0,
        input_tokens: 0,
        output_tokens: 0,
    };
    match (&c.rubric, &c.reference_model) {
        (Rubric::Pairwise, Some(reference_model)) => {
            let ask = ChatCompletionRequest {
                messages: vec![ChatMessage::text(Role::User, job.prompt.clone())],
                max_completion_tokens: Some(reference_limit(&job.answer)),
                ..ChatCompletionRequest::default()
            };
            let Some(reference) = call(state, reference_model, ask, c.timeout).await else {
                return graded;
            };
            add(&mut graded, &reference);
            // Nothing to compare with (typically a reasoning model that spent its whole
            // `reference_limit` reasoning): a verdict against an empty answer would be a
            // paid, meaningless win for the judged one.
            if reference.text.trim().is_empty() {
                tracing::warn!(
                    request_id = %job.request_id,
                    reference_model = %reference_model,
                    output_tokens = reference.output_tokens,
                    "The reference model gave an empty answer; the request is not judged."
                );
                return graded;
            }
            // A coin decides which side the judged answer is on, so that a judge's
            // preference for the first (or second) answer averages out.
            let judged_first = judge.draw() < 0.5;
            let (a, b) = if judged_first {
                (job.answer.as_str(), reference.text.as_str())
            } else {
                (reference.text.as_str(), job.answer.as_str())
            };
            let req = verdict::pairwise_request(&job.prompt, a, b, c.max_tokens);
            let Some(verdict) = call(state, &c.model, req, c.timeout).await else {
                return graded;
            };
            add(&mut graded, &verdict);
            graded.score = match verdict::parse_winner(&verdict.text) {
                Some(Winner::Tie) => Ok(0.5),
                Some(Winner::A) => Ok(if judged_first { 1.0 } else { 0.0 }),
                Some(Winner::B) => Ok(if judged_first { 0.0 } else { 1.0 }),
                None => Err(JudgeResult::Garbage),
            };
        }
        _ => {
            let req = verdict::absolute_request(&job.prompt, &job.answer, c.max_tokens);
            let Some(verdict) = call(state, &c.model, req, c.timeout).await else {
                return graded;
            };
            add(&mut graded, &verdict);
            graded.score = verdict::parse_score(&verdict.text).ok_or(JudgeResult::Garbage);
        }
    }
    graded
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reference_headers_are_read_as_utf8() {
        for text in ["42", "café", "\u{2212}3", "\u{221a}2", "  B  "] {
            assert_eq!(
                reference_text(text.as_bytes()).unwrap().as_deref(),
                Some(text.trim())
            );
        }
        assert_eq!(reference_text(b"  ").unwrap(), None);
        assert_eq!(reference_text(b"").unwrap(), None);
        let err = reference_text(b"caf\xe9").unwrap_err();
        assert!(err.contains("UTF-8"), "{err}");
        let long = "9".repeat(MAX_REFERENCE_BYTES + 1);
        let err = reference_text(long.as_bytes()).unwrap_err();
        assert!(err.contains("1024"), "{err}");
        let longest = "é".repeat(MAX_REFERENCE_BYTES / 2);
        assert_eq!(
            reference_text(longest.as_bytes()).unwrap().as_deref(),
            Some(longest.as_str())
        );
    }
}
