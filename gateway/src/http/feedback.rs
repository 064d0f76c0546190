//! `POST /v1/feedback`: a label for a past request.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use router_core::Feedback;
use serde::Deserialize;
use serde_json::json;

use super::body_bytes;
use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::outcome::FeedbackVerdict;
use crate::state::AppState;

/// A score given as a number in `[0, 1]` or a boolean.
#[derive(Deserialize)]
#[serde(untagged)]
enum Score {
    Number(f64),
    Bool(bool),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackBody {
    request_id: String,
    metric: String,
    score: Score,
}

/// Longest accepted `request_id` (the gateway's ids are 36 bytes).
const MAX_REQUEST_ID_BYTES: usize = 128;
/// Longest accepted `metric` name.
const MAX_METRIC_BYTES: usize = 64;

pub(super) async fn feedback(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // A client key labels only its own requests; the admin key (no `Caller`) and a gateway
    // without keys label any.
    let owner = caller.map(|Extension(c)| c.record().id.clone());
    let result = store(&state, owner, body).await;
    if let Err(e) = &result {
        if e.status().is_client_error() {
            state.metrics.rejected("feedback", e.code());
        }
    }
    result
}

/// Validates and stores one label. Unknown request ids (and, for a client key, requests made
/// under another key) are a 404; a second label for the same
/// request and metric is a 409 and the first one stays (labels train the router, so a
/// later, conflicting one must not silently replace or outvote it). The one exception is a
/// label from the gateway's judge, which a posted label replaces (human labels win).
async fn store(
    state: &AppState,
    owner: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = body_bytes(state, body)?;
    let label = parse(&body)?;
    let verdict = state
        .log
        .feedback_as(label.request_id.clone(), owner, label.feedback.clone())
        .await;
    if let (FeedbackVerdict::Stored | FeedbackVerdict::ReplacedJudge { .. }, Some(cache)) =
        (&verdict, &state.cache)
    {
        // A bad label takes the answer out of the cache, whether it was on the request that
        // made it or on a replay of it ([`crate::cache::ResponseCache::evict_answer_of`]).
        if cache
            .evict_answer_of(&label.request_id, label.feedback.score)
            .await
        {
            state.metrics.response_cache_evicted("label");
        }
    }
    match verdict {
        FeedbackVerdict::Stored => Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"})))),
        // A human label replaces the judge's: the answer says so, so that a client can tell.
        FeedbackVerdict::ReplacedJudge { score } => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"status": "accepted", "replaced": {"source": "judge", "score": score}})),
        )),
        FeedbackVerdict::UnknownRequest => Err(ApiError::FeedbackUnknownRequest(label.request_id)),
        FeedbackVerdict::AlreadyLabelled { score } => Err(ApiError::FeedbackConflict {
            request_id: label.request_id,
            metric: label.feedback.metric,
            score,
        }),
        FeedbackVerdict::Unavailable => Err(ApiError::OutcomeLogUnavailable),
    }
}

/// A validated label.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Label {
    pub(crate) request_id: String,
    pub(crate) feedback: Feedback,
}

/// Parses and checks a feedback body; every refusal is a 400.
pub(crate) fn parse(body: &[u8]) -> Result<Label, ApiError> {
    let fb: FeedbackBody =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let score = match fb.score {
        Score::Bool(b) => f64::from(u8::from(b)),
        Score::Number(x) if (0.0..=1.0).contains(&x) => x,
        Score::Number(_) => {
            return Err(ApiError::InvalidRequest(
                "score must be in [0, 1] or a boolean".to_owned(),
            ))
        }
    };
    if fb.request_id.trim().is_empty() || fb.metric.trim().is_empty() {
        return Err(ApiError::InvalidRequest(
            "request_id and metric must not be empty".to_owned(),
        ));
    }
    // PostgreSQL refuses NUL in text (the writer would fail and the client get a 503), and no
    // request id or metric name holds control characters.
    if fb
        .request_id
        .chars()
        .chain(fb.metric.chars())
        .any(char::is_control)
    {
        return Err(ApiError::InvalidRequest(
            "request_id and metric must not contain control characters".to_owned(),
        ));
    }
    if fb.request_id.len() > MAX_REQUEST_ID_BYTES || fb.metric.len() > MAX_METRIC_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "request_id is at most {MAX_REQUEST_ID_BYTES} bytes and metric at most {MAX_METRIC_BYTES}"
        )));
    }
    Ok(Label {
        request_id: fb.request_id,
        feedback: Feedback::human(fb.metric, score),
    })
}
