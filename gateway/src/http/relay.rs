//! Relaying a committed stream to the client as server-sent events.
//!
//! The pump runs in the state's `TaskTracker`, not in the response body: when the client goes
//! away the body is dropped, the pump notices (its channel closes), stops the upstream and
//! still writes the outcome row. A failure after the first byte ends the stream with an error
//! event (`data: {"error":{...}}`), never with `[DONE]`, so clients cannot mistake a cut
//! answer for a complete one.
//!
//! Every send to the client is bounded too: a client that keeps its connection open but stops
//! reading ends the stream at its deadline (`[timeouts] total`), at the shutdown's hard stop, or
//! after `[server] idle_timeout` without room (as a client gone), so it can hold neither the
//! upstream connection, nor identical requests waiting for this answer, nor a shutdown.
//!
//! What goes on the wire is the [`Encoder`]'s: OpenAI chunks for `/v1/chat/completions`,
//! Anthropic's event sequence for `/v1/messages` (`crate::http::messages::StreamEncoder`),
//! Responses' typed events for `/v1/responses` (`crate::http::responses::StreamEncoder`).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use router_core::{Attempt, ModelId, OutcomeStatus};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cache::assemble::Assembler;
use crate::cache::{CacheKey, Stored};
use crate::http::stop_cut::StopCutter;
use crate::openai::wire::{ChatCompletionChunk, Usage};
use crate::outcome::record::{Ending, RequestRecord};
use crate::state::AppState;
use crate::tokens;
use crate::upstream::{ChunkStream, ErrorSource, UpstreamError, UpstreamErrorKind};

/// Events buffered between the pump and a slow client.
const CHANNEL_CAPACITY: usize = 32;

/// A stream whose first token arrived: failover is over.
pub struct Committed {
    /// The catalog id serving it.
    pub model: ModelId,
    /// The target serving it, whose breaker a failure after the first byte counts against.
    pub target: crate::upstream::deployments::Target,
    /// The upstream model name.
    pub upstream_name: String,
    /// The chunks read before commit, the first token last (never empty).
    pub lead: Vec<ChatCompletionChunk>,
    /// The rest.
    pub rest: ChunkStream,
    /// Attempts so far (the last one is this stream's).
    pub attempts: Vec<Attempt>,
    /// When this stream's attempt started.
    pub attempt_start: Instant,
    /// Attempt start to first token.
    pub ttft: Duration,
    /// Estimated prompt tokens, used when the upstream reports no usage.
    pub input_tokens_estimate: u32,
    /// Estimated thinking tokens before the first token, added to the relayed text's when the
    /// upstream reports no usage (`chat::thinking_tokens`).
    pub thinking_tokens: u32,
    /// Where to store the answer in the response cache once the stream completed.
    pub cache: Option<CacheKey>,
    /// The request's stop sequences, kept here for models that were not sent them.
    pub stop: Option<crate::http::stop_cut::StopCutter>,
    /// Held until the stream is stored or has failed: identical requests wait for it.
    pub leader: Option<crate::cache::Leader>,
    /// How chunks become bytes on the wire.
    pub encoder: Encoder,
}

/// The client's stream dialect.
pub enum Encoder {
    /// OpenAI chunks and `[DONE]`; `wants_usage`: whether the client asked for a usage chunk.
    OpenAi {
        /// Whether the client asked for a usage chunk.
        wants_usage: bool,
    },
    /// Anthropic Messages events.
    Anthropic(crate::http::messages::StreamEncoder),
    /// OpenAI Responses events.
    Responses(crate::http::responses::StreamEncoder),
}

impl Encoder {
    pub(crate) fn chunk(&mut self, chunk: ChatCompletionChunk) -> Option<Bytes> {
        match self {
            Encoder::OpenAi { wants_usage } => encode(chunk, *wants_usage),
            Encoder::Anthropic(e) => e.chunk(&chunk),
            Encoder::Responses(e) => e.chunk(&chunk),
        }
    }

    /// The usage chunk a client that asked for one gets when the upstream sent none (a stream
    /// the gateway ended at a stop sequence): the row's token counts, modelled on `template`.
    /// The other dialects carry the counts in their last events anyway.
    fn missing_usage(&self, tokens: (u32, u32), template: &ChatCompletionChunk) -> Option<Bytes> {
        match self {
            Encoder::OpenAi { wants_usage: true } => {
                let chunk = ChatCompletionChunk {
                    choices: Vec::new(),
                    usage: Some(Usage::new(tokens.0, tokens.1)),
                    ..template.clone()
                };
                encode(chunk, true)
            }
            _ => None,
        }
    }

    /// The events of a complete stream whose row is committed.
    pub(crate) fn done(&mut self, tokens: (u32, u32)) -> Bytes {
        match self {
            Encoder::OpenAi { .. } => Bytes::from_static(b"data: [DONE]\n\n"),
            Encoder::Anthropic(e) => e.done(tokens),
            Encoder::Responses(e) => e.done(tokens),
        }
    }

    fn error(&mut self, err: &UpstreamError) -> Bytes {
        match self {
            Encoder::OpenAi { .. } => error_event(err),
            Encoder::Anthropic(_) => {
                crate::http::messages::error_event("api_error", stream_error_message(err))
            }
            Encoder::Responses(e) => e.error(err.label(), stream_error_message(err)),
        }
    }

    fn log_unavailable(&mut self) -> Bytes {
        match self {
            Encoder::OpenAi { .. } => log_unavailable_event(),
            Encoder::Anthropic(_) => crate::http::messages::error_event(
                "api_error",
                &crate::http::error::ApiError::OutcomeLogUnavailable.to_string(),
            ),
            Encoder::Responses(e) => e.error(
                "outcome_log_unavailable",
                &crate::http::error::ApiError::OutcomeLogUnavailable.to_string(),
            ),
        }
    }
}

/// Starts the pump and returns the SSE response reading from it.
pub fn start(state: AppState, record: RequestRecord, stream: Committed) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CAPACITY);
    let tracker = state.tracker.clone();
    tracker.spawn(pump(state, record, stream, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    sse_response(Body::from_stream(body))
}

/// A 200 server-sent events response with `body`.
pub(crate) fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Token accounting over the chunks seen, and the ids of the tool calls relayed.
#[derive(Default)]
struct Accounting {
    usage: Option<Usage>,
    /// The first choice's text (content, refusal, tool calls): what a judge grades, as for a
    /// non-streamed answer. Choices arrive interleaved, so with `n > 1` one buffer for all
    /// would be a mix of them.
    output_chars: String,
    /// The other choices' text, for the token estimate only.
    other_chars: String,
    call_ids: Vec<String>,
}

impl Accounting {
    fn observe(&mut self, chunk: &ChatCompletionChunk) {
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for c in &chunk.choices {
            let text = if c.index == 0 {
                &mut self.output_chars
            } else {
                &mut self.other_chars
            };
            if let Some(t) = &c.delta.content {
                text.push_str(t);
            }
            if let Some(t) = &c.delta.refusal {
                text.push_str(t);
            }
            for call in c.delta.tool_calls.iter().flatten() {
                if let Some(id) = &call.id {
                    self.call_ids.push(id.clone());
                }
                if let Some(f) = &call.function {
                    text.push_str(f.name.as_deref().unwrap_or_default());
                    text.push_str(f.arguments.as_deref().unwrap_or_default());
                }
            }
        }
    }

    fn tokens(&self, input_estimate: u32, thinking_estimate: u32) -> (u32, u32) {
        match &self.usage {
            Some(u) => (u.prompt_tokens, u.completion_tokens),
            None => (
                input_estimate,
                tokens::estimate(&self.output_chars)
                    .saturating_add(tokens::estimate(&self.other_chars))
                    .saturating_add(thinking_estimate),
            ),
        }
    }
}

/// The SSE bytes for `chunk`, or `None` when the client did not ask for the usage chunk.
fn encode(mut chunk: ChatCompletionChunk, wants_usage: bool) -> Option<Bytes> {
    if !wants_usage {
        if chunk.choices.is_empty() && chunk.usage.is_some() {
            return None;
        }
        chunk.usage = None;
    }
    let json = serde_json::to_string(&chunk).ok()?;
    Some(Bytes::from(format!("data: {json}\n\n")))
}

/// What a client is told about a stream that failed after the first byte.
fn stream_error_message(err: &UpstreamError) -> &'static str {
    if err.kind == UpstreamErrorKind::TooLarge {
        "the upstream stream passed the gateway's size limit (server.upstream_response_limit_bytes)"
    } else {
        "the upstream stream failed before completion"
    }
}

/// The terminal error event.
fn error_event(err: &UpstreamError) -> Bytes {
    let message = stream_error_message(err);
    let body = serde_json::json!({
        "error": {
            "message": message,
            "type": "upstream_error",
            "param": null,
            "code": err.label(),
        }
    });
    Bytes::from(format!("data: {body}\n\n"))
}

enum End {
    Done,
    Failed(UpstreamError),
    ClientGone,
}

/// Where each chunk goes once masked: the accounting, the copy put back together for the
/// cache, and the client.
struct Outlet {
    acc: Accounting,
    assembler: Option<Assembler>,
    encoder: Encoder,
    tx: mpsc::Sender<Bytes>,
    /// Bytes sent so far, against `limit`.
    relayed: usize,
    limit: usize,
    /// When bytes last went to the client, for [`Outlet::keep_alive`].
    last_sent: Instant,
    /// `[server] stream_keepalive`: the longest the client goes without a byte while the
    /// upstream is alive (zero: never a comment).
    keepalive: Duration,
    /// The stream's end of budget (`[timeouts] total` from its attempt's start).
    deadline: Instant,
    /// `[server] idle_timeout`: the longest one send may wait for the client to make room.
    stall: Duration,
    /// The shutdown's end of grace (`AppState::hard_stop`).
    hard_stop: CancellationToken,
    /// Set when a send gave up on a client that made no room: the last event is then not
    /// waited for either.
    blocked: bool,
}

impl Outlet {
    /// Sends `chunks` in order; the stream's end when the client left or the size limit
    /// passed.
    async fn send(&mut self, chunks: Vec<ChatCompletionChunk>) -> Option<End> {
        for chunk in chunks {
            self.acc.observe(&chunk);
            if let Some(a) = &mut self.assembler {
                a.observe(&chunk);
            }
            if let Some(bytes) = self.encoder.chunk(chunk) {
                self.relayed += bytes.len();
                // The cap bounds the gateway's memory (the accounting keeps the text) and
                // what a runaway upstream can push through it.
                if self.relayed > self.limit {
                    return Some(End::Failed(UpstreamError::too_large(self.limit)));
                }
                if let Some(end) = self.deliver(bytes).await {
                    return Some(end);
                }
            }
        }
        None
    }

    /// Hands `bytes` to the client's body; the stream's end when it could not. A client that
    /// keeps its connection open but stops reading fills the channel, and an unbounded send
    /// would then hold the pump (the upstream connection, the coalescing leader that identical
    /// requests wait behind, and a graceful shutdown waiting for the body) forever. So the wait
    /// ends at the hard stop (as a shutdown, like the upstream read's), at the stream's
    /// deadline (as a timeout, the client's fault rather than the upstream's, so no breaker
    /// counts it), or after `stall` without room (as a client gone: the connection's idle
    /// timeout says how long a client may leave the socket silent).
    async fn deliver(&mut self, bytes: Bytes) -> Option<End> {
        let stalled_at = Instant::now() + self.stall;
        let result = tokio::select! {
            // Room in the channel wins over a deadline that passed meanwhile.
            biased;
            sent = self.tx.send(bytes) => sent.map_err(|_| End::ClientGone),
            _ = self.hard_stop.cancelled() => Err(End::Failed(UpstreamError::shutting_down())),
            _ = tokio::time::sleep_until(self.deadline.min(stalled_at)) => {
                Err(if Instant::now() >= self.deadline {
                    let mut err = UpstreamError::timeout(false);
                    err.source = ErrorSource::Downstream;
                    End::Failed(err)
                } else {
                    End::ClientGone
                })
            }
        };
        match result {
            Ok(()) => {
                self.last_sent = Instant::now();
                None
            }
            Err(end) => {
                self.blocked = true;
                Some(end)
            }
        }
    }

    /// The stream's last event, best effort: the client may be gone or not reading, and the
    /// deadline or the hard stop may have passed already, so the wait is bounded by `stall`
    /// and the hard stop only (an event that finds room is still sent after either), and
    /// there is none when a send already gave up on this client. Whether it was sent.
    async fn deliver_last(&mut self, bytes: Bytes) -> bool {
        if self.blocked {
            return self.tx.try_send(bytes).is_ok();
        }
        let stalled_at = Instant::now() + self.stall;
        tokio::select! {
            biased;
            sent = self.tx.send(bytes) => sent.is_ok(),
            _ = self.hard_stop.cancelled() => false,
            _ = tokio::time::sleep_until(stalled_at) => false,
        }
    }
}

impl Outlet {
    /// Passes the upstream's sign of life on to the client as an SSE comment once it has
    /// waited `keepalive` for a byte: a model thinking between two tokens (Claude's
    /// interleaved thinking) would otherwise leave the connection idle long enough for a proxy
    /// to close it. The stream's end when the client left.
    async fn keep_alive(&mut self) -> Option<End> {
        if self.keepalive.is_zero() || self.last_sent.elapsed() < self.keepalive {
            return None;
        }
        self.deliver(Bytes::from_static(b": keep-alive\n\n")).await
    }
}

/// `chunk` as the client may see it: cut at a stop sequence (or held back while one may be
/// starting), then masked when a masker runs (none, one chunk or two).
fn masked(
    masker: &mut Option<crate::guardrails::stream::StreamMasker>,
    stop: &mut Option<StopCutter>,
    chunk: ChatCompletionChunk,
) -> Vec<ChatCompletionChunk> {
    let chunk = match stop {
        Some(s) => match s.chunk(chunk) {
            Some(c) => c,
            None => return Vec::new(),
        },
        None => chunk,
    };
    match masker {
        Some(m) => m.chunk(chunk),
        None => vec![chunk],
    }
}

async fn pump(state: AppState, mut record: RequestRecord, s: Committed, tx: mpsc::Sender<Bytes>) {
    let Committed {
        model,
        target,
        upstream_name,
        lead,
        mut rest,
        mut attempts,
        attempt_start,
        ttft,
        input_tokens_estimate,
        thinking_tokens,
        cache,
        mut stop,
        // Held until the answer is stored (or the stream failed), then dropped below.
        leader,
        encoder,
    } = s;
    let deadline = attempt_start + state.config.timeouts.total;
    let idle = state.config.timeouts.idle;
    let mut out = Outlet {
        acc: Accounting::default(),
        // Only a stream that will be stored is put back together.
        assembler: cache.map(|_| Assembler::default()),
        encoder,
        tx,
        relayed: 0,
        limit: state.config.server.upstream_response_limit_bytes,
        last_sent: Instant::now(),
        keepalive: state.config.server.stream_keepalive,
        deadline,
        stall: state.config.server.idle_timeout,
        hard_stop: state.hard_stop.clone(),
        blocked: false,
    };
    let upstream_model = lead
        .iter()
        .find(|c| !c.model.is_empty())
        .map(|c| c.model.clone());
    // Masked before anything reads the text: the client, the accounting and the cache.
    let mut masker = crate::guardrails::stream_masker(&state, &record);
    let template = lead
        .last()
        .map(|c| ChatCompletionChunk {
            choices: Vec::new(),
            usage: None,
            ..c.clone()
        })
        .unwrap_or_else(ChatCompletionChunk::keepalive);
    let mut end = None;
    for chunk in lead {
        if end.is_none() {
            end = out.send(masked(&mut masker, &mut stop, chunk)).await;
        }
    }
    while end.is_none() && !stop.as_ref().is_some_and(StopCutter::all_cut) {
        let next = tokio::select! {
            _ = out.tx.closed() => { end = Some(End::ClientGone); break; }
            _ = state.hard_stop.cancelled() => {
                end = Some(End::Failed(UpstreamError::shutting_down()));
                break;
            }
            // Whichever comes first: the stream's total budget or the idle gap. Keep-alives
            // (pings, comments, thinking) end a gap; the client gets at most an SSE comment.
            next = tokio::time::timeout_at(
                deadline.min(tokio::time::Instant::now() + idle),
                rest.next(),
            ) => next,
        };
        match next {
            Err(_) => end = Some(End::Failed(UpstreamError::timeout(false))),
            // `[DONE]` is sent only after the row is committed, below.
            Ok(None) => {
                // Text the stop cutter, then the masker, still hold for a choice the upstream
                // never finished.
                let mut held: Vec<ChatCompletionChunk> = stop
                    .as_mut()
                    .and_then(|s| s.flush(&template))
                    .into_iter()
                    .flat_map(|c| masked(&mut masker, &mut None, c))
                    .collect();
                held.extend(
                    masker
                        .as_mut()
                        .map(|m| m.flush(&template))
                        .unwrap_or_default(),
                );
                end = Some(out.send(held).await.unwrap_or(End::Done));
            }
            Ok(Some(Err(e))) => end = Some(End::Failed(e)),
            Ok(Some(Ok(chunk))) if chunk.is_keepalive() => end = out.keep_alive().await,
            Ok(Some(Ok(chunk))) => end = out.send(masked(&mut masker, &mut stop, chunk)).await,
        }
    }
    // Dropping the upstream stream now closes its connection before the bookkeeping.
    drop(rest);
    let mut failure = None;
    let status = match end {
        Some(End::Failed(mut err)) => {
            err.bytes_sent = true;
            state.metrics.upstream_error(model.as_str(), err.label());
            if err.source == ErrorSource::Upstream && err.kind != UpstreamErrorKind::TooLarge {
                report_failure(&state, &target);
            }
            if let Some(last) = attempts.last_mut() {
                last.error = Some(err.label().to_owned());
            }
            tracing::warn!(model_id = %model, error = err.label(), "Stream failed after the first byte.");
            failure = Some(err);
            OutcomeStatus::StreamInterrupted
        }
        Some(End::ClientGone) => OutcomeStatus::ClientDisconnected,
        Some(End::Done) | None => OutcomeStatus::Ok,
    };
    let elapsed = attempt_start.elapsed();
    if let Some(last) = attempts.last_mut() {
        last.duration_ms = elapsed.as_secs_f64() * 1000.0;
    }
    if status == OutcomeStatus::Ok {
        state
            .metrics
            .upstream_latency(model.as_str(), elapsed, Some(ttft));
        let client_key = record.key.as_ref().map(crate::auth::KeyUse::key_id);
        let calls = out.acc.call_ids.iter().map(String::as_str);
        // Before `[DONE]`: the client's next turn may reach another replica at once.
        crate::routing::shared_calls::relayed(&state, client_key, calls, &model).await;
    }
    if let Some(m) = &masker {
        crate::guardrails::note_answer_masked(&state, &mut record, m.counts());
    }
    let tokens = out.acc.tokens(input_tokens_estimate, thinking_tokens);
    let upstream_model = upstream_model.or(Some(upstream_name));
    let request_id = record.request_id.clone();
    let ending = Ending {
        model: Some(model.clone()),
        upstream_model: upstream_model.clone(),
        attempts,
        ttft_ms: Some(ttft.as_secs_f64() * 1000.0),
        tokens: Some(tokens),
        details: out
            .acc
            .usage
            .as_ref()
            .map(Usage::details)
            .unwrap_or_default(),
        // The first choice's relayed text (tool-call arguments included), kept only when a
        // judge may grade it.
        answer_text: state
            .judge
            .is_some()
            .then(|| std::mem::take(&mut out.acc.output_chars)),
        cache_hit: None,
    };
    // The row is committed before the last event, so a client that saw `[DONE]` has its row
    // even if the gateway is killed right after.
    let finished = record.finish(&state, status, ending).await;
    // Stored only when the stream ended normally (not cut, not left by its client) and its
    // row is committed, like a non-streamed answer.
    if let (OutcomeStatus::Ok, true, Some(cache), Some(key), Some(assembler)) = (
        status,
        finished.logged,
        &state.cache,
        cache,
        out.assembler.take(),
    ) {
        if let Some(completion) = assembler.finish(tokens) {
            cache.insert(
                key,
                Stored {
                    completion,
                    model,
                    upstream_model,
                    tokens,
                    cost_usd: finished.cost_usd.unwrap_or(0.0),
                    source_request_id: request_id,
                },
            );
        }
    }
    // Identical requests waiting for this one find the answer stored (or go upstream
    // themselves) now, not after the last event reached a slow client.
    drop(leader);
    // Best effort from here on: the client may already be gone.
    match failure {
        Some(err) => {
            let event = out.encoder.error(&err);
            out.deliver_last(event).await;
        }
        None if status == OutcomeStatus::Ok => {
            let mut delivered = true;
            if finished.logged && out.acc.usage.is_none() {
                if let Some(usage) = out.encoder.missing_usage(tokens, &template) {
                    delivered = out.deliver_last(usage).await;
                }
            }
            let last = if finished.logged {
                out.encoder.done(tokens)
            } else {
                out.encoder.log_unavailable()
            };
            // Never `[DONE]` after a usage chunk that did not go: the client would take the
            // stream as complete without it.
            if delivered {
                out.deliver_last(last).await;
            }
        }
        None => {}
    }
}

/// The terminal event of a stream whose row could not be committed under
/// `on_unavailable = "fail_closed"`.
fn log_unavailable_event() -> Bytes {
    let e = crate::http::error::ApiError::OutcomeLogUnavailable;
    Bytes::from(format!("data: {}\n\n", e.body()))
}

/// Counts a mid-stream failure against the serving target's breaker (its deployment's, or
/// its provider's).
fn report_failure(state: &AppState, target: &crate::upstream::deployments::Target) {
    if target.breaker().on_failure(
        crate::upstream::circuit_breaker::Permit::Normal,
        std::time::Instant::now(),
    ) {
        state.metrics.circuit_opened(target.provider().as_str());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::openai::wire::{ChunkChoice, Delta};

    fn chunk(content: Option<&str>, usage: Option<Usage>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: "c".into(),
            object: "chat.completion.chunk".into(),
            created: 1,
            model: "m".into(),
            choices: content
                .map(|t| {
                    vec![ChunkChoice {
                        delta: Delta {
                            content: Some(t.into()),
                            ..Default::default()
                        },
                        ..Default::default()
                    }]
                })
                .unwrap_or_default(),
            usage,
            system_fingerprint: None,
        }
    }

    #[test]
    fn usage_chunk_only_when_asked() {
        let u = Some(Usage::new(3, 4));
        assert!(encode(chunk(None, u.clone()), false).is_none());
        assert!(encode(chunk(None, u.clone()), true).is_some());
        let text =
            String::from_utf8(encode(chunk(Some("hi"), u), false).unwrap().to_vec()).unwrap();
        assert!(text.starts_with("data: {"));
        assert!(!text.contains("usage"));
        assert!(text.ends_with("\n\n"));
    }

    #[test]
    fn accounting_prefers_reported_usage_and_estimates_otherwise() {
        let mut acc = Accounting::default();
        acc.observe(&chunk(Some("abcdefgh"), None));
        assert_eq!(acc.tokens(10, 0), (10, 2));
        // A thinking model's estimated thinking counts only without reported usage.
        assert_eq!(acc.tokens(10, 500), (10, 502));
        acc.observe(&chunk(None, Some(Usage::new(7, 9))));
        assert_eq!(acc.tokens(10, 500), (7, 9));
    }

    /// With `n = 2` the choices' deltas interleave: the judged text is the first choice's
    /// alone (as for a non-streamed answer), and the estimate still counts both.
    #[test]
    fn the_judged_text_is_the_first_choices_and_the_estimate_counts_all() {
        let mut acc = Accounting::default();
        for (index, text) in [(0, "#### "), (1, "#### "), (1, "41"), (0, "42")] {
            let mut c = chunk(Some(text), None);
            c.choices[0].index = index;
            acc.observe(&c);
        }
        assert_eq!(acc.output_chars, "#### 42");
        assert_eq!(
            acc.tokens(10, 0).1,
            tokens::estimate("#### 42") + tokens::estimate("#### 41")
        );
    }
}
