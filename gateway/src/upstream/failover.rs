//! Failover: walk the decision's ranked candidates until one answers.
//!
//! Connect errors, timeouts (time to first token and per attempt), 429 and 5xx move to the next
//! candidate; a request the upstream refuses as malformed (other 4xx) stops at once. A 429 from
//! the last remaining candidate is retried once after its `Retry-After` when that fits in the
//! request deadline and `retries.max_attempts` leaves an attempt for it. Every wait is bounded
//! by the request deadline and the number of attempts by `retries.max_attempts`. A target whose
//! circuit breaker is open is skipped; it does not replace the error of a candidate tried before.
//!
//! A model with several deployments (`crate::upstream::deployments`) is several targets, in
//! their balanced order, all tried before the next model.
//!
//! Streams are committed only once their first token arrived (text, a tool call, a refusal or
//! a finish: [`ChatCompletionChunk::carries_answer`]): the chunks up to it are read here,
//! before any byte reaches the client, so a stream that fails early (while its model thinks,
//! after the upstream accepted it) fails over like any call. After that the relay owns the
//! stream and failover is over. Models that think before answering get `timeouts.reasoning`
//! for that first token (or a whole non-streamed answer) instead of `ttft` / `attempt`; others
//! get `ttft` for their first chunk and, while they stream reasoning deltas, up to
//! `reasoning` for their first token ([`FirstToken`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use router_core::{Attempt, ModelId, ProviderId};
use tokio::time::Instant;

use crate::config::{RetriesConfig, TimeoutsConfig};
use crate::metrics::Metrics;
use crate::openai::wire::{ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse};
use crate::upstream::circuit_breaker::CircuitBreaker;
use crate::upstream::deployments::{Deployments, Target};
use crate::upstream::{ChunkStream, ErrorSource, Provider, UpstreamError, UpstreamErrorKind};

/// The attempt label of a model skipped while it cools down after a 429.
pub const COOLING_DOWN: &str = "cooling_down";

/// One configured, live provider with its breaker.
pub struct Upstream {
    /// The provider id.
    pub id: ProviderId,
    /// The adapter.
    pub provider: Box<dyn Provider>,
    /// Its circuit breaker.
    pub breaker: CircuitBreaker,
    /// Its models that answered 429, skipped until their wait is over.
    pub cooldowns: crate::upstream::cooldown::Cooldowns,
    /// Whether it serves OpenAI's Responses API: OpenAI's own provider or Azure OpenAI, not
    /// other servers speaking the OpenAI dialect (OpenRouter, vLLM, proxies).
    pub responses_api: bool,
}

/// Live providers by id.
#[derive(Default)]
pub struct Upstreams {
    by_id: HashMap<ProviderId, Arc<Upstream>>,
    /// What models attached to their tool calls, held for every provider of the gateway.
    pub memos: crate::upstream::providers::call_memo::Memos,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_id.keys()).finish()
    }
}

impl Upstreams {
    /// Adds a provider.
    pub fn insert(&mut self, upstream: Upstream) {
        self.by_id.insert(upstream.id.clone(), Arc::new(upstream));
    }

    /// The provider with this id.
    pub fn get(&self, id: &ProviderId) -> Option<&Arc<Upstream>> {
        self.by_id.get(id)
    }
}

/// Non-streamed or streamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// One JSON answer.
    Complete,
    /// Server-sent events.
    Stream,
}

/// How one attempt calls its upstream.
#[derive(Clone, Copy, Debug)]
struct Api {
    /// Non-streamed or streamed.
    call: CallKind,
    /// Through OpenAI's Responses API (the model's catalog entry says `responses_api`).
    responses: bool,
    /// The model thinks before its first token (`fit::thinks_first`): `timeouts.reasoning`.
    thinks: bool,
}

/// A successful attempt's answer.
pub enum Answer {
    /// The completion.
    Complete(ChatCompletionResponse),
    /// The chunks up to the first that carries part of the answer (already received) and
    /// the rest of the stream.
    Stream {
        /// The chunks received before commit: any role-only chunks the upstream sent while
        /// the model thought, then the first carrying the answer (always last, never empty).
        lead: Vec<ChatCompletionChunk>,
        /// Everything after it.
        rest: ChunkStream,
    },
}

/// The candidate that answered.
pub struct Served {
    /// The target (model, provider, deployment) that answered; a stream's later failure
    /// counts against its breaker.
    pub target: Target,
    /// Its catalog id.
    pub model: ModelId,
    /// The name sent upstream.
    pub upstream_name: String,
    /// The answer.
    pub answer: Answer,
    /// When the successful attempt started.
    pub attempt_start: Instant,
    /// From attempt start to the full answer (non-stream) or the first token (stream).
    pub ttft: Duration,
    /// The request had `stop` and this attempt's model was not sent it (a reasoning model that
    /// refuses it, or the Responses API): the gateway cuts the answer itself.
    pub stop_dropped: bool,
    /// The model thinks before its first token (`fit::thinks_first`).
    pub thinks: bool,
}

/// The outcome of a walk: every attempt, and the answer or the error for the client.
pub struct Walk {
    /// Attempts in order (skipped providers included, with `circuit_open`).
    pub attempts: Vec<Attempt>,
    /// The answer, or why there is none.
    pub result: Result<Served, WalkError>,
}

/// Why a walk ended without an answer; `crate::http::error` maps it to the client's status.
#[derive(Debug)]
pub enum WalkError {
    /// No attempt was made.
    NoAttempt {
        /// Whether no candidate had a live provider at all (else the deadline or attempt limit
        /// was spent before the first try).
        no_targets: bool,
    },
    /// The last attempt failed with `error` on `provider`.
    Failed {
        /// The last failure.
        error: UpstreamError,
        /// The provider it came from.
        provider: ProviderId,
    },
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Try the next candidate.
    Next,
    /// Wait, then try the same candidate again.
    RetryAfter(Duration),
    /// Give up with this error.
    Stop,
}

/// Decides the step after `err`. Pure, so that the rules are unit-tested on their own.
pub fn next_step(
    err: &UpstreamError,
    has_next_candidate: bool,
    retried_this_model: bool,
    remaining: Duration,
    honour_retry_after: bool,
    attempts_left: bool,
) -> Step {
    if err.bytes_sent || !err.retryable {
        return Step::Stop;
    }
    if has_next_candidate {
        return Step::Next;
    }
    match (err.kind, err.retry_after) {
        (UpstreamErrorKind::RateLimited, Some(wait))
            // Without an attempt left the wait could only end in the same 429.
            if honour_retry_after && attempts_left && !retried_this_model && wait < remaining =>
        {
            Step::RetryAfter(wait)
        }
        _ => Step::Stop,
    }
}

/// Everything a walk reads.
pub struct Failover<'a> {
    /// The catalog, for upstream names and providers.
    pub catalog: &'a models::Catalog,
    /// Live providers.
    pub upstreams: &'a Upstreams,
    /// Models served by several providers or keys.
    pub deployments: &'a Deployments,
    /// Metrics.
    pub metrics: &'a Metrics,
    /// Attempt limits.
    pub retries: RetriesConfig,
    /// Budgets.
    pub timeouts: TimeoutsConfig,
    /// Fired at the end of the shutdown grace period: attempts stop at once.
    pub hard_stop: &'a tokio_util::sync::CancellationToken,
}

impl<'a> Failover<'a> {
    /// The walker over `upstreams` with `config`'s retries and timeouts.
    pub fn new(
        config: &crate::Config,
        catalog: &'a models::Catalog,
        upstreams: &'a Upstreams,
        deployments: &'a Deployments,
        metrics: &'a Metrics,
        hard_stop: &'a tokio_util::sync::CancellationToken,
    ) -> Self {
        Failover {
            catalog,
            upstreams,
            deployments,
            metrics,
            retries: config.retries,
            timeouts: config.timeouts,
            hard_stop,
        }
    }

    /// Tries `order` in turn until one answers, the attempts run out or `deadline` passes.
    pub async fn run(
        &self,
        req: &ChatCompletionRequest,
        order: &[ModelId],
        call: CallKind,
        deadline: Instant,
    ) -> Walk {
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut last: Option<(UpstreamError, ProviderId)> = None;
        let mut tries: u32 = 0;
        let mut i = 0;
        let mut retried_this_model = false;
        let targets = self
            .deployments
            .targets(order, self.catalog, self.upstreams);

        while i < targets.len() && tries < self.retries.max_attempts {
            let target = &targets[i];
            let (model, upstream_name, up) =
                (&target.model, &target.upstream_name, &target.upstream);
            let breaker = target.breaker();
            let start = Instant::now();
            if start >= deadline {
                last = Some((UpstreamError::timeout(false), up.id.clone()));
                break;
            }
            // Nobody is waiting for another candidate's answer (the outcome row says the
            // client left, `departure`); the first attempt still runs, as the request was paid
            // for in rate limits and the row needs an outcome.
            if tries > 0 && crate::departure::departed() {
                break;
            }
            // A model cooling down after a 429, or a target whose breaker is open, is skipped
            // without a call. A skip is no failure of its own: the client must get the real
            // error of a candidate tried before (its status, Retry-After, auth hint), if there
            // was one; with none, what the skip says (a 429 with the time left, a 503).
            // The retry after a `Retry-After` wait is what the cool-down waited for: it goes
            // ahead even where another request's later 429 moved the cool-down's end.
            let cooling = if retried_this_model {
                None
            } else {
                up.cooldowns.remaining(upstream_name, start.into_std())
            };
            let permit = match cooling {
                Some(_) => None,
                None => breaker.try_acquire(start.into_std()),
            };
            let Some(permit) = permit else {
                let (label, skip) = match cooling {
                    Some(left) => (COOLING_DOWN, UpstreamError::cooling_down(left)),
                    None => (
                        UpstreamErrorKind::CircuitOpen.label(),
                        UpstreamError::circuit_open(),
                    ),
                };
                attempts.push(Attempt {
                    model: model.clone(),
                    status_code: None,
                    error: Some(label.to_owned()),
                    duration_ms: 0.0,
                    provider: Some(up.id.clone()),
                    upstream_name: Some(upstream_name.clone()),
                });
                self.metrics
                    .deployment_attempt(model.as_str(), up.id.as_str(), label);
                if last.is_none() {
                    last = Some((skip, up.id.clone()));
                }
                i += 1;
                continue;
            };
            tries += 1;
            let entry = self.catalog.find(model.as_str());
            let fitted = super::fit::request_for(req, entry, up.provider.kind());
            let fitted = super::fit::with_allowed_tools_fitted(
                fitted,
                entry,
                up.provider.kind(),
                up.responses_api,
            );
            let responses = super::fit::via_responses(entry, up.provider.kind(), up.responses_api);
            let thinks = super::fit::thinks_first(entry, &fitted);
            let stop_dropped = req.stop.is_some() && (fitted.stop.is_none() || responses);
            if matches!(fitted, std::borrow::Cow::Owned(_)) {
                self.metrics.request_fitted(model.as_str());
            }
            let attempt = self.attempt(
                up.provider.as_ref(),
                &fitted,
                upstream_name,
                Api {
                    call,
                    responses,
                    thinks,
                },
                start,
                deadline,
            );
            let result = tokio::select! {
                r = attempt => r,
                _ = self.hard_stop.cancelled() => Err(UpstreamError::shutting_down()),
            };
            let elapsed = start.elapsed();
            match result {
                Ok(answer) => {
                    breaker.on_success(permit);
                    if let Some(d) = &target.deployment {
                        d.observe(elapsed);
                    }
                    self.metrics
                        .deployment_attempt(model.as_str(), up.id.as_str(), "ok");
                    attempts.push(Attempt {
                        model: model.clone(),
                        status_code: Some(200),
                        error: None,
                        duration_ms: elapsed.as_secs_f64() * 1000.0,
                        provider: Some(up.id.clone()),
                        upstream_name: Some(upstream_name.clone()),
                    });
                    return Walk {
                        attempts,
                        result: Ok(Served {
                            target: target.clone(),
                            model: model.clone(),
                            upstream_name: upstream_name.clone(),
                            answer,
                            attempt_start: start,
                            ttft: elapsed,
                            stop_dropped,
                            thinks,
                        }),
                    };
                }
                Err(err) => {
                    let now = Instant::now();
                    // A 429 is the model's (and key's) limit, not the provider failing: it
                    // cools the model down instead of counting against the breaker.
                    let limited = err.kind == UpstreamErrorKind::RateLimited;
                    if limited {
                        up.cooldowns.start(
                            upstream_name,
                            now.into_std(),
                            err.retry_after,
                            self.retries.rate_limit_cooldown,
                        );
                    }
                    if err.source == ErrorSource::Upstream && !limited {
                        if breaker.on_failure(permit, now.into_std()) {
                            self.metrics.circuit_opened(up.id.as_str());
                            tracing::warn!(provider = %up.id, upstream_model = %upstream_name, "Circuit breaker opened.");
                        }
                    } else {
                        breaker.on_neutral(permit);
                    }
                    // A timeout is a lower bound of the latency: count it, or a deployment
                    // that stopped answering would keep its fast average.
                    if let (Some(d), true) = (
                        &target.deployment,
                        matches!(
                            err.kind,
                            UpstreamErrorKind::Timeout | UpstreamErrorKind::TtftTimeout
                        ),
                    ) {
                        d.observe(elapsed);
                    }
                    self.metrics.upstream_error(model.as_str(), err.label());
                    self.metrics
                        .deployment_attempt(model.as_str(), up.id.as_str(), err.label());
                    tracing::info!(
                        model_id = %model,
                        provider = %up.id,
                        error = err.label(),
                        status = ?err.status,
                        "Upstream attempt failed."
                    );
                    attempts.push(Attempt {
                        model: model.clone(),
                        status_code: err.status,
                        error: Some(err.label().to_owned()),
                        duration_ms: elapsed.as_secs_f64() * 1000.0,
                        provider: Some(up.id.clone()),
                        upstream_name: Some(upstream_name.clone()),
                    });
                    // A retry after `Retry-After` needs time for at least its first token
                    // (or, not streamed, its answer) after the wait: with less, the client is
                    // better served by the 429 and its `Retry-After` now than by a timeout later.
                    let retry_needs = match call {
                        CallKind::Stream => self.timeouts.ttft,
                        CallKind::Complete => self.timeouts.ttft.min(self.timeouts.attempt),
                    };
                    let step = next_step(
                        &err,
                        i + 1 < targets.len(),
                        retried_this_model,
                        deadline
                            .saturating_duration_since(now)
                            .saturating_sub(retry_needs),
                        self.retries.honour_retry_after,
                        tries < self.retries.max_attempts,
                    );
                    last = Some((err, up.id.clone()));
                    match step {
                        Step::Stop => break,
                        Step::Next => {
                            self.metrics.failover(model.as_str());
                            retried_this_model = false;
                            i += 1;
                        }
                        Step::RetryAfter(wait) => {
                            // On shutdown the client gets the 429 now rather than after the
                            // wait: the retry would not be attempted anyway.
                            tokio::select! {
                                () = tokio::time::sleep(wait) => {}
                                () = self.hard_stop.cancelled() => break,
                                () = crate::departure::leaves() => break,
                            }
                            retried_this_model = true;
                        }
                    }
                }
            }
        }
        Walk {
            attempts,
            result: Err(match last {
                Some((error, provider)) => WalkError::Failed { error, provider },
                None => WalkError::NoAttempt {
                    no_targets: order.is_empty() || targets.is_empty(),
                },
            }),
        }
    }

    // At debug level: no event inside an attempt logs at info or above, so at the default
    // filter an info span only cost every request a span and its formatted fields.
    #[tracing::instrument(level = "debug", skip_all, fields(upstream_model = upstream_name, kind = provider.kind().as_str()))]
    async fn attempt(
        &self,
        provider: &dyn Provider,
        req: &ChatCompletionRequest,
        upstream_name: &str,
        api: Api,
        start: Instant,
        deadline: Instant,
    ) -> Result<Answer, UpstreamError> {
        let t = &self.timeouts;
        match api.call {
            CallKind::Complete => {
                // A model that thinks first may take `reasoning` where others get `attempt`.
                let limit = if api.thinks {
                    t.attempt.max(t.reasoning)
                } else {
                    t.attempt
                };
                let call = if api.responses {
                    provider.complete_responses(req, upstream_name)
                } else {
                    provider.complete(req, upstream_name)
                };
                let own = start + limit;
                match tokio::time::timeout_at(deadline.min(own), call).await {
                    Ok(r) => r.map(Answer::Complete),
                    Err(_) if cut_short(start, limit.min(t.request), deadline) => {
                        Err(UpstreamError::timeout(false).past_deadline())
                    }
                    Err(_) => Err(UpstreamError::timeout(false)),
                }
            }
            CallKind::Stream => {
                let limits = FirstToken::new(t, api.thinks, start, deadline);
                let opened = if api.responses {
                    provider.stream_responses(req, upstream_name)
                } else {
                    provider.stream(req, upstream_name)
                };
                match tokio::time::timeout_at(limits.first_item, opened).await {
                    Ok(rest) => first_token(rest?, &limits).await,
                    Err(_) => Err(limits.timed_out(limits.first_item)),
                }
            }
        }
    }
}

/// How long a streamed attempt may take to its first token.
#[derive(Debug)]
struct FirstToken {
    /// The first token, or the first reasoning delta, is due by then.
    first_item: Instant,
    /// The first token is due by then, however alive the stream.
    cap: Instant,
    /// Once reasoning deltas come, the longest gap between them; `None` for a
    /// model that thinks first (the Responses API accepts at once and then may send nothing
    /// for minutes while the model reasons).
    idle: Option<Duration>,
    /// The request's deadline left the attempt well short of its own limit for its first item
    /// ([`cut_short`]).
    first_item_cut: bool,
    /// The same for `cap`.
    cap_cut: bool,
}

/// Whether the request's `deadline` leaves an attempt started at `start` well short (under
/// 90 %) of its own `limit` (at most the whole request's): a late candidate's share of the
/// request, not a sign that its upstream is slow. An attempt that had (nearly) its whole
/// limit and used it counts, so a provider that hangs still opens its breaker.
fn cut_short(start: Instant, limit: Duration, deadline: Instant) -> bool {
    deadline + limit / 10 < start + limit
}

impl FirstToken {
    /// A model that thinks first gets `reasoning` (where longer than `ttft`) for its first
    /// token. Another gets `ttft` for its first token, or, while it streams reasoning deltas
    /// (a reasoning model the catalog does not know, behind OpenRouter or vLLM), up to
    /// `reasoning`, as long as no `idle` passes without one. Pings and comments do not count:
    /// a stalled upstream that keeps its connection alive still fails over after `ttft`.
    fn new(t: &TimeoutsConfig, thinks: bool, start: Instant, deadline: Instant) -> Self {
        // Limits longer than the whole request (a 4-minute `reasoning` under a 2-minute
        // `request`) are the request's: only an attempt that started late is cut short.
        let cap_limit = t.ttft.max(t.reasoning);
        let cap = deadline.min(start + cap_limit);
        let cap_cut = cut_short(start, cap_limit.min(t.request), deadline);
        if thinks {
            FirstToken {
                first_item: cap,
                cap,
                idle: None,
                first_item_cut: cap_cut,
                cap_cut,
            }
        } else {
            let first_limit = t.ttft.min(t.attempt);
            FirstToken {
                first_item: deadline.min(start + first_limit),
                cap,
                idle: Some(t.idle),
                first_item_cut: cut_short(start, first_limit.min(t.request), deadline),
                cap_cut,
            }
        }
    }

    /// The error of a wait for the first token that ended at `until`: breaker-neutral
    /// ([`UpstreamError::past_deadline`]) when the request's deadline had cut that wait short.
    fn timed_out(&self, until: Instant) -> UpstreamError {
        let err = UpstreamError::timeout(true);
        let cut = (until == self.first_item && self.first_item_cut)
            || (until == self.cap && self.cap_cut);
        if cut {
            err.past_deadline()
        } else {
            err
        }
    }
}

/// Most chunks held before a stream's first token (role chunks, one per choice).
const MAX_LEAD: usize = 128;

/// Most bytes of `reasoning_content` held before a stream's first token. DeepSeek reasons
/// first and its client must send that reasoning back with the tool calls that follow, so it
/// is held (merged, per choice) to go out with the first token; a thinking budget of 64K
/// tokens is well under this. Past it the rest is dropped rather than held without bound.
const MAX_HELD_REASONING_BYTES: usize = 4 * 1024 * 1024;

/// The `reasoning_content` deltas of a stream before its first token, merged into one chunk.
#[derive(Default)]
struct HeldReasoning {
    chunk: Option<ChatCompletionChunk>,
    bytes: usize,
}

impl HeldReasoning {
    /// Keeps the reasoning text of `chunk`'s choices (nothing else of it: it carries no answer).
    fn absorb(&mut self, chunk: ChatCompletionChunk) {
        for c in chunk.choices.iter().filter(|c| c.carries_reasoning()) {
            let text = c.delta.reasoning_content.as_deref().unwrap_or_default();
            if self.bytes + text.len() > MAX_HELD_REASONING_BYTES {
                // Full: later, shorter fragments must not leave gaps in what was kept.
                self.bytes = MAX_HELD_REASONING_BYTES;
                continue;
            }
            self.bytes += text.len();
            let held = self.chunk.get_or_insert_with(|| ChatCompletionChunk {
                choices: Vec::new(),
                usage: None,
                ..chunk.clone()
            });
            match held.choices.iter_mut().find(|h| h.index == c.index) {
                Some(h) => h
                    .delta
                    .reasoning_content
                    .get_or_insert_with(String::new)
                    .push_str(text),
                None => held.choices.push(crate::openai::wire::ChunkChoice {
                    index: c.index,
                    delta: crate::openai::wire::Delta {
                        reasoning_content: Some(text.to_owned()),
                        ..Default::default()
                    },
                    ..Default::default()
                }),
            }
        }
    }
}

/// Reads `rest` up to its first chunk carrying part of the answer, within `limits`: nothing
/// has reached the client before it, so a stream that fails while its model thinks (after
/// the upstream accepted it and sent its role chunk) still fails over. Role chunks and
/// `reasoning_content` (merged) are held to go out with it; keep-alives and reasoning deltas
/// the client cannot read are dropped.
async fn first_token(mut rest: ChunkStream, limits: &FirstToken) -> Result<Answer, UpstreamError> {
    let mut lead = Vec::new();
    let mut reasoning = HeldReasoning::default();
    // When the model last showed progress: a reasoning delta.
    let mut progress: Option<Instant> = None;
    // Choices whose role chunk came: Ollama (before mid-2026) repeats the role in every
    // chunk, its reasoning deltas included, so only a choice's first role chunk is the
    // upstream's acceptance; later ones are the model at work.
    let mut roles: Vec<u32> = Vec::new();
    loop {
        let until = match (progress, limits.idle) {
            (None, _) => limits.first_item,
            (Some(at), Some(idle)) => limits.cap.min((at + idle).max(limits.first_item)),
            (Some(_), None) => limits.cap,
        };
        let next = tokio::time::timeout_at(until, rest.next())
            .await
            .map_err(|_| limits.timed_out(until))?;
        match next {
            Some(Ok(chunk)) if chunk.carries_answer() => {
                lead.extend(reasoning.chunk.take());
                lead.push(chunk);
                return Ok(Answer::Stream { lead, rest });
            }
            Some(Ok(chunk)) => {
                // A reasoning delta (a choice without a role, or past its first role chunk)
                // shows the model at work; the first role chunk only that the upstream
                // accepted, a sign of life (an SSE comment, a ping) only that the connection
                // is open.
                let first_role = chunk
                    .choices
                    .iter()
                    .any(|c| c.delta.role.is_some() && !roles.contains(&c.index));
                if !chunk.choices.is_empty() && !first_role {
                    progress = Some(Instant::now());
                }
                if first_role && lead.len() < MAX_LEAD {
                    for c in chunk.choices.iter().filter(|c| c.delta.role.is_some()) {
                        if !roles.contains(&c.index) {
                            roles.push(c.index);
                        }
                    }
                    lead.push(chunk);
                } else if chunk.choices.iter().any(|c| c.carries_reasoning()) {
                    reasoning.absorb(chunk);
                }
            }
            Some(Err(e)) => return Err(e),
            None => {
                return Err(UpstreamError::stream_truncated(
                    "stream ended before its first token",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const LOTS: Duration = Duration::from_secs(60);

    #[test]
    fn server_errors_move_on_and_bad_requests_stop() {
        let e503 = UpstreamError::from_status(503, None, "");
        assert_eq!(next_step(&e503, true, false, LOTS, true, true), Step::Next);
        assert_eq!(next_step(&e503, false, false, LOTS, true, true), Step::Stop);
        let e400 = UpstreamError::from_status(400, None, "");
        assert_eq!(next_step(&e400, true, false, LOTS, true, true), Step::Stop);
        assert_eq!(
            next_step(&UpstreamError::timeout(true), true, false, LOTS, true, true),
            Step::Next
        );
    }

    #[test]
    fn bytes_sent_stops_failover() {
        let mut e = UpstreamError::stream_truncated("cut");
        e.bytes_sent = true;
        assert_eq!(next_step(&e, true, false, LOTS, true, true), Step::Stop);
    }

    #[test]
    fn retry_after_is_honoured_only_on_the_last_candidate_within_the_deadline() {
        let e = UpstreamError::from_status(429, Some(Duration::from_secs(2)), "");
        assert_eq!(next_step(&e, true, false, LOTS, true, true), Step::Next);
        assert_eq!(
            next_step(&e, false, false, LOTS, true, true),
            Step::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(next_step(&e, false, true, LOTS, true, true), Step::Stop);
        assert_eq!(
            next_step(&e, false, false, Duration::from_secs(1), true, true),
            Step::Stop
        );
        assert_eq!(next_step(&e, false, false, LOTS, false, true), Step::Stop);
    }

    /// Ollama's stream (before mid-2026) repeats the role in every chunk: its reasoning deltas
    /// still count as progress, so a model that reasons past `ttft` is not cut off while it
    /// streams them, and one that goes silent is, after `idle`.
    #[tokio::test(start_paused = true)]
    async fn repeated_role_chunks_of_reasoning_count_as_progress() {
        use crate::openai::wire::{ChatCompletionChunk, ChunkChoice, Delta, Role};
        let chunk = |reasoning: Option<&str>, content: Option<&str>| ChatCompletionChunk {
            id: "c".into(),
            object: "chat.completion.chunk".into(),
            created: 0,
            model: "m".into(),
            usage: None,
            system_fingerprint: None,
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    role: Some(Role::Assistant),
                    reasoning_content: reasoning.map(str::to_owned),
                    content: content.map(str::to_owned),
                    ..Default::default()
                },
                ..Default::default()
            }],
        };
        let t = TimeoutsConfig {
            ttft: Duration::from_secs(2),
            idle: Duration::from_secs(3),
            reasoning: Duration::from_secs(60),
            ..TimeoutsConfig::default()
        };
        // A reasoning delta every second for 10 s, then the answer.
        let mut items: Vec<(u64, ChatCompletionChunk)> = vec![(0, chunk(None, Some("")))];
        items.extend((1..=10).map(|s| (s, chunk(Some("thinking"), Some("")))));
        items.push((11, chunk(None, Some("42"))));
        let paced = |items: Vec<(u64, ChatCompletionChunk)>| -> ChunkStream {
            let start = tokio::time::Instant::now();
            Box::pin(
                futures::stream::iter(items).then(move |(at, c)| async move {
                    tokio::time::sleep_until(start + Duration::from_secs(at)).await;
                    Ok(c)
                }),
            )
        };
        let start = Instant::now();
        let limits = FirstToken::new(&t, false, start, start + Duration::from_secs(300));
        match first_token(paced(items), &limits).await {
            Ok(Answer::Stream { lead, .. }) => {
                assert_eq!(lead.len(), 3, "role chunk, held reasoning, first token");
            }
            Ok(_) => panic!("not a stream"),
            Err(e) => panic!("cut off while reasoning: {e}"),
        }
        // Silent after two deltas: cut off `idle` after the last one.
        let items = vec![
            (0, chunk(None, Some(""))),
            (1, chunk(Some("thinking"), None)),
            (2, chunk(Some("thinking"), None)),
            (30, chunk(None, Some("late"))),
        ];
        let start = Instant::now();
        let limits = FirstToken::new(&t, false, start, start + Duration::from_secs(300));
        let err = first_token(paced(items), &limits).await.err().unwrap();
        assert_eq!(err.kind, UpstreamErrorKind::TtftTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[test]
    fn only_an_attempt_that_started_late_is_cut_short_by_the_deadline() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // A second candidate left 60 s of its 240 s.
        assert!(cut_short(t0 + s(240), s(240), t0 + s(300)));
        // The first attempt at a thinking model whose 240 s exceed a 120 s request: its limit
        // is the request's, which it had whole.
        assert!(!cut_short(t0, s(240).min(s(120)), t0 + s(120)));
        assert!(!cut_short(
            t0 + Duration::from_millis(5),
            s(120),
            t0 + s(120)
        ));
        // Left 80 % of it: cut.
        assert!(cut_short(t0 + s(24), s(120), t0 + s(120)));
    }

    #[test]
    fn retry_after_is_not_waited_for_without_an_attempt_left() {
        let e = UpstreamError::from_status(429, Some(Duration::from_secs(2)), "");
        assert_eq!(next_step(&e, false, false, LOTS, true, false), Step::Stop);
        assert_eq!(next_step(&e, true, false, LOTS, true, false), Step::Next);
    }
}
