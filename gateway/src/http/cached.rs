//! The chat path's use of the response cache (`crate::cache`): the lookup before routing, the
//! answer from a stored entry (JSON or SSE, in the client's dialect), and storing a fresh
//! non-streamed answer (streams are stored by `relay` once they complete).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use router_core::{CacheHit, OutcomeStatus};

use crate::cache::{replay, CacheKey, Coalesce, Entry, Leader, Plan, Served, Stored, HEADER_CACHE};
use crate::http::chat::{set_header, Dialect, HEADER_COST_USD, HEADER_MODEL};
use crate::http::error::ApiError;
use crate::http::relay;
use crate::openai::wire::{ChatCompletionRequest, ChatCompletionResponse};
use crate::outcome::record::{Ending, RequestRecord};
use crate::state::AppState;

/// Looks the plan's key up and counts the result; `Served` is `None` when the cache is off.
pub(crate) async fn lookup(state: &AppState, plan: &Plan) -> (Option<Served>, Option<Arc<Entry>>) {
    let Some(cache) = &state.cache else {
        return (None, None);
    };
    let found = match (plan.read, plan.key) {
        (true, Some(key)) => cache.lookup(&key).await,
        _ => {
            state.metrics.response_cache(Served::Bypass.as_str(), 0.0);
            return (Some(Served::Bypass), None);
        }
    };
    match found {
        // A hit is counted when it is answered, with what it saved.
        Some(entry) => (Some(Served::Hit), Some(entry)),
        // Counted by `count_miss` once no other way (coalescing, semantic) answered either.
        None => (Some(Served::Miss), None),
    }
}

/// Counts a request that goes upstream after missing the cache.
pub(crate) fn count_miss(state: &AppState, served: Option<Served>) {
    if served == Some(Served::Miss) {
        state.metrics.response_cache(Served::Miss.as_str(), 0.0);
    }
}

/// After an exact miss: the first of identical requests in flight leads (the returned guard
/// is held until its answer is stored or has failed); a later one waits for the leader, at
/// most until [`wait_limit`] (well before the request's `deadline`), and returns the answer it
/// stored, if any (else it goes upstream itself, and does not lead: a failure is not retried
/// in lockstep).
///
/// The entry comes with how it was served: `Coalesced` after a wait, or `Hit` when the answer
/// was stored between the caller's lookup and this join (its leader had just left).
pub(crate) async fn coalesce(
    state: &AppState,
    plan: &Plan,
    deadline: tokio::time::Instant,
) -> (Option<Leader>, Option<(Arc<Entry>, Served)>) {
    let (Some(cache), Some(key), true) = (&state.cache, plan.store_key(), plan.read) else {
        return (None, None);
    };
    match cache.join(key) {
        Coalesce::Lead(leader) => (Some(leader), None),
        Coalesce::Stored(entry) => (None, Some((entry, Served::Hit))),
        Coalesce::Follow(mut done) => {
            state.metrics.response_cache_wait();
            let until = wait_limit(
                tokio::time::Instant::now(),
                deadline,
                state.config.timeouts.attempt,
            );
            // `changed` fails when the leader's guard is dropped: that is the signal.
            let _ = tokio::time::timeout_at(until, done.changed()).await;
            (None, cache.get(&key).map(|e| (e, Served::Coalesced)))
        }
    }
}

/// How long a follower that arrived at `now` waits for its leader: until `deadline` less a
/// reserve for its own upstream call, `attempt` (one attempt's budget) or half of what is
/// left, whichever is smaller.
///
/// Waiting until `deadline` itself would leave nothing: a streaming leader holds its guard
/// for its whole stream (`[timeouts] total`, longer than `request` by default), and a follower
/// whose wait ran out at its deadline got a 504 without a single attempt. One `attempt` is
/// what a call needs (a stream's first token, bounded by `ttft`, comes sooner); the half
/// keeps some waiting when `request` is shorter than `attempt`, so coalescing still happens.
fn wait_limit(
    now: tokio::time::Instant,
    deadline: tokio::time::Instant,
    attempt: std::time::Duration,
) -> tokio::time::Instant {
    let left = deadline.saturating_duration_since(now);
    let reserve = attempt.min(left / 2);
    now + (left - reserve)
}

/// The semantic lookup after an exact miss: the stored answer of the closest rewording of a
/// request with this `scope`, last user `text` and routing `embedding` (`None` when the
/// encoder did not answer in time), with its cosine.
pub(crate) fn semantic_lookup(
    state: &AppState,
    plan: &Plan,
    scope: &(CacheKey, String),
    embedding: Option<&[f32]>,
) -> Option<(Arc<Entry>, f32)> {
    let cache = state.cache.as_ref()?;
    match embedding {
        Some(embedding) if plan.read => cache.semantic_get(&scope.0, &scope.1, embedding),
        _ => None,
    }
}

/// Indexes a request that is being answered for later rewordings of it, when the plan stores
/// answers (its answer must still reach the exact cache before a rewording can hit it).
pub(crate) fn semantic_index(
    state: &AppState,
    plan: &Plan,
    scope: &(CacheKey, String),
    embedding: Option<&[f32]>,
) {
    if let (Some(cache), Some(key), Some(embedding)) = (&state.cache, plan.store_key(), embedding) {
        if plan.semantic {
            cache.semantic_insert(&scope.0, &scope.1, embedding.to_vec(), key);
        }
    }
}

/// Marks a response with how the cache served it (nothing when the cache is off).
pub(crate) fn mark(headers: &mut HeaderMap, served: Option<Served>) {
    if let Some(served) = served {
        set_header(headers, HEADER_CACHE, served.as_str());
    }
}

/// Answers from a stored entry: the outcome row first (cost 0, the saved cost in
/// `cache_hit`; committed before the answer, as for any request), then the answer as JSON or,
/// for a streamed request, as a complete SSE body in the client's dialect. `served` says how
/// it was found (`Hit`, `SemanticHit` with the cosine in `similarity`, or `Coalesced`).
pub(crate) async fn answer_hit(
    state: &AppState,
    record: &RequestRecord,
    entry: &Entry,
    req: &ChatCompletionRequest,
    dialect: Dialect,
    served: Served,
    similarity: Option<f32>,
) -> Response {
    let stored = &entry.answer;
    state
        .metrics
        .response_cache(served.as_str(), stored.cost_usd);
    // Masked again under this request's policy when answers are masked at all: the key holds
    // the config's fingerprint, so this only matters for an entry read under another policy,
    // and it keeps "cached replays are masked" true whatever the store did.
    let mut record = record.clone();
    let masked;
    let completion = if masks_answers(state) {
        let mut copy = stored.completion.clone();
        crate::guardrails::screen_answer(state, &mut copy, &mut record);
        masked = copy;
        &masked
    } else {
        &stored.completion
    };
    let ending = Ending {
        model: Some(stored.model.clone()),
        upstream_model: stored.upstream_model.clone(),
        cache_hit: Some(CacheHit {
            source_request_id: stored.source_request_id.clone(),
            saved_usd: stored.cost_usd,
            similarity: similarity.map(f64::from),
            coalesced: served == Served::Coalesced,
        }),
        ..Ending::default()
    };
    let request_id = record.request_id.clone();
    let finished = record.finish(state, OutcomeStatus::Ok, ending).await;
    if !finished.logged {
        return ApiError::OutcomeLogUnavailable.into_response();
    }
    if let Some(cache) = &state.cache {
        // A bad label on this replay takes the answer out, as one on its source request does.
        cache.served(&request_id, entry);
    }
    let mut response = if req.is_stream() {
        replayed_stream(completion, stored.tokens, req, dialect)
    } else {
        match dialect {
            Dialect::OpenAi => Json(completion).into_response(),
            Dialect::Anthropic => Json(crate::http::messages::message_body(
                completion,
                stored.tokens,
            ))
            .into_response(),
            Dialect::Responses => Json(crate::http::responses::response_body(
                completion,
                stored.tokens,
                req,
            ))
            .into_response(),
        }
    };
    let headers = response.headers_mut();
    set_header(headers, HEADER_MODEL, stored.model.as_str());
    set_header(headers, HEADER_COST_USD, &format!("{:.8}", 0.0));
    mark(headers, Some(served));
    response
}

/// Whether any guardrail policy (the default or a profile's) masks answers.
fn masks_answers(state: &AppState) -> bool {
    let g = &state.config.guardrails;
    g.default
        .iter()
        .chain(g.profiles.values().flatten())
        .any(|p| p.responses)
}

/// The whole stream of a stored answer, through the same encoders as a live stream.
fn replayed_stream(
    completion: &ChatCompletionResponse,
    tokens: (u32, u32),
    req: &ChatCompletionRequest,
    dialect: Dialect,
) -> Response {
    let mut encoder = match dialect {
        Dialect::OpenAi => relay::Encoder::OpenAi {
            wants_usage: req.wants_stream_usage(),
        },
        Dialect::Anthropic => {
            relay::Encoder::Anthropic(crate::http::messages::StreamEncoder::new(tokens.0))
        }
        Dialect::Responses => {
            relay::Encoder::Responses(crate::http::responses::StreamEncoder::new(req))
        }
    };
    let mut body = Vec::new();
    for chunk in replay::chunks(completion, tokens) {
        if let Some(bytes) = encoder.chunk(chunk) {
            body.extend_from_slice(&bytes);
        }
    }
    body.extend_from_slice(&encoder.done(tokens));
    relay::sse_response(Body::from(Bytes::from(body)))
}

/// Stores a fresh answer whose row is committed, when the plan says so; `answer` is built
/// only then (it copies the completion).
pub(crate) fn store(state: &AppState, plan: &Plan, answer: impl FnOnce() -> Stored) {
    if let (Some(cache), Some(key)) = (&state.cache, plan.store_key()) {
        cache.insert(key, answer());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::wait_limit;

    #[test]
    fn a_follower_keeps_an_attempt_or_half_its_budget_for_its_own_call() {
        let now = tokio::time::Instant::now();
        let s = Duration::from_secs;
        // The defaults: 300 s left, 120 s kept for the follower's own attempt.
        assert_eq!(wait_limit(now, now + s(300), s(120)), now + s(180));
        // A request deadline shorter than two attempts: half of it is still waited.
        assert_eq!(wait_limit(now, now + s(30), s(120)), now + s(15));
        // A deadline already passed: no wait.
        assert_eq!(wait_limit(now + s(5), now, s(120)), now + s(5));
    }
}
