//! The replay server's HTTP surface (OpenAI wire shapes written with `serde_json::json!`:
//! training must not depend on the gateway's wire types).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};

use super::{scaled_latency_ms, Miss, Recorded, ReplayConfig, ReplayIndex};

/// Most content chunks a streamed answer is cut into.
const STREAM_CHUNKS: usize = 16;

struct Shared {
    index: ReplayIndex,
    config: ReplayConfig,
}

type AppState = Arc<Shared>;

/// The replay server's routes over `index`.
pub fn router(index: ReplayIndex, config: ReplayConfig) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/replay/score", get(score_by_hash).post(score_by_prompt))
        .with_state(Arc::new(Shared { index, config }))
}

/// Serves [`router`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    index: ReplayIndex,
    config: ReplayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(index, config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Every error the replay server answers, mapped to a response in one place ([`IntoResponse`]
/// below) in OpenAI's shape `{"error":{"message","type","param","code"}}`.
#[derive(Debug)]
enum ReplayError {
    /// The body is not JSON.
    InvalidJson(String),
    /// `model` is missing or not a string.
    MissingModel,
    /// `messages` is missing or not an array.
    MissingMessages,
    /// Required query or body parameters are missing; the message says which.
    MissingParameter(&'static str),
    /// The dataset has no answer for this model and prompt.
    Miss {
        /// Why.
        miss: Miss,
        /// The model asked for.
        model: String,
    },
    /// The response could not be built (a bug); the body stays generic.
    Internal,
}

impl IntoResponse for ReplayError {
    fn into_response(self) -> Response {
        let (status, code, param, message) = match self {
            ReplayError::InvalidJson(e) => (
                StatusCode::BAD_REQUEST,
                "invalid_json",
                None,
                format!("request body is not valid JSON: {e}"),
            ),
            ReplayError::MissingModel => (
                StatusCode::BAD_REQUEST,
                "missing_model",
                Some("model"),
                "`model` (a string) is required".to_owned(),
            ),
            ReplayError::MissingMessages => (
                StatusCode::BAD_REQUEST,
                "missing_messages",
                Some("messages"),
                "`messages` (an array) is required".to_owned(),
            ),
            ReplayError::MissingParameter(what) => (
                StatusCode::BAD_REQUEST,
                "missing_parameter",
                None,
                what.to_owned(),
            ),
            ReplayError::Miss { miss, model } => match miss {
                Miss::UnknownModel => (
                    StatusCode::NOT_FOUND,
                    "model_not_found",
                    Some("model"),
                    format!("The model `{model}` is not a model of the replayed dataset; see GET /v1/models."),
                ),
                Miss::UnknownPrompt => (
                    StatusCode::NOT_FOUND,
                    "prompt_not_found",
                    Some("messages"),
                    "No prompt of the replayed dataset matches the last user message or the joined messages.".to_owned(),
                ),
                Miss::NotRecorded => (
                    StatusCode::NOT_FOUND,
                    "outcome_not_recorded",
                    Some("model"),
                    format!("The dataset has no outcome of `{model}` on this prompt."),
                ),
            },
            ReplayError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                None,
                "internal error".to_owned(),
            ),
        };
        let kind = match status {
            StatusCode::NOT_FOUND => "not_found_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        };
        let body =
            json!({ "error": { "message": message, "type": kind, "param": param, "code": code } });
        (status, Json(body)).into_response()
    }
}

fn miss(miss: Miss, model: &str) -> ReplayError {
    ReplayError::Miss {
        miss,
        model: model.to_owned(),
    }
}

/// A message's text: a string, or the `text` of its text parts joined with `"\n"`.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn chat_completions(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ReplayError> {
    let request: Value =
        serde_json::from_slice(&body).map_err(|e| ReplayError::InvalidJson(e.to_string()))?;
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .ok_or(ReplayError::MissingModel)?;
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or(ReplayError::MissingMessages)?;
    let index = &state.index;
    if index.model_column(model).is_none() {
        return Err(miss(Miss::UnknownModel, model));
    }
    let texts: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
            let text = m.get("content").map(content_text).unwrap_or_default();
            (role.to_owned(), text)
        })
        .collect();
    let recorded = index
        .row_for_messages(&texts)
        .ok_or(Miss::UnknownPrompt)
        .and_then(|row| index.recorded(model, row))
        .map_err(|m| miss(m, model))?;
    let total_ms = scaled_latency_ms(
        &state.config,
        model,
        &recorded.prompt_id,
        recorded.latency_ms,
    );
    let id = format!(
        "chatcmpl-replay-{}",
        &super::prompt_sha256(&recorded.prompt_id)[..16]
    );
    let usage = json!({
        "prompt_tokens": recorded.prompt_tokens,
        "completion_tokens": recorded.completion_tokens,
        "total_tokens": recorded.prompt_tokens + recorded.completion_tokens,
    });
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = request
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        return stream(&id, model, &recorded, usage, include_usage, total_ms);
    }
    if total_ms > 0.0 {
        tokio::time::sleep(delay(total_ms)).await;
    }
    Ok(Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": now_secs(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": recorded.response },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage,
    }))
    .into_response())
}

/// The longest replayed wait: far beyond any recorded latency, and a wait a client can still
/// see end.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// `ms` milliseconds as a wait, saturating: an infinite or huge product of a latency and a
/// large `latency_scale` waits [`MAX_DELAY`] (`Duration::from_secs_f64` panicked on it, in the
/// request handler, and the client got an empty reply); NaN or a negative value waits nothing.
pub fn delay(ms: f64) -> Duration {
    if ms.is_nan() || ms <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(ms / 1000.0)
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY)
}

/// The recorded response as server-sent events: a role chunk after the time to first token,
/// content chunks spread over the rest of the latency, a finish chunk, the usage chunk when
/// asked for, then `[DONE]`.
fn stream(
    id: &str,
    model: &str,
    recorded: &Recorded,
    usage: Value,
    include_usage: bool,
    total_ms: f64,
) -> Result<Response, ReplayError> {
    let created = now_secs();
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        })
    };
    let chars: Vec<char> = recorded.response.chars().collect();
    let per_chunk = chars.len().div_ceil(STREAM_CHUNKS).max(1);
    let pieces: Vec<String> = chars
        .chunks(per_chunk)
        .map(|c| c.iter().collect())
        .collect();
    let ttft = if recorded.latency_ms > 0.0 {
        total_ms * recorded.ttft_ms / recorded.latency_ms
    } else {
        0.0
    };
    let step = (total_ms - ttft).max(0.0) / pieces.len().max(1) as f64;
    let mut events: Vec<(f64, Value)> = vec![(
        ttft,
        chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
    )];
    for piece in pieces {
        events.push((step, chunk(json!({ "content": piece }), Value::Null)));
    }
    events.push((0.0, chunk(json!({}), json!("stop"))));
    if include_usage {
        events.push((
            0.0,
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [], "usage": usage,
            }),
        ));
    }
    let mut frames: Vec<(f64, String)> = events
        .into_iter()
        .map(|(delay, v)| (delay, format!("data: {v}\n\n")))
        .collect();
    frames.push((0.0, "data: [DONE]\n\n".to_owned()));
    let body = futures::stream::iter(frames).then(|(delay_ms, frame)| async move {
        if delay_ms > 0.0 {
            tokio::time::sleep(delay(delay_ms)).await;
        }
        Ok::<String, Infallible>(frame)
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .map_err(|_| ReplayError::Internal)
}

async fn list_models(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .index
        .model_names()
        .iter()
        .map(|m| json!({ "id": m, "object": "model", "created": 0, "owned_by": "replay" }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

fn score_response(
    state: &Shared,
    model: &str,
    row: Option<usize>,
) -> Result<Json<Value>, ReplayError> {
    if state.index.model_column(model).is_none() {
        return Err(miss(Miss::UnknownModel, model));
    }
    let r = row
        .ok_or(Miss::UnknownPrompt)
        .and_then(|r| state.index.recorded(model, r))
        .map_err(|m| miss(m, model))?;
    Ok(Json(json!({
        "model": model, "prompt_id": r.prompt_id, "task": r.task, "score": r.score,
    })))
}

async fn score_by_hash(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ReplayError> {
    let (Some(model), Some(hash)) = (query.get("model"), query.get("prompt_sha256")) else {
        return Err(ReplayError::MissingParameter(
            "query parameters `model` and `prompt_sha256` are required",
        ));
    };
    score_response(&state, model, state.index.row_by_sha256(hash))
}

async fn score_by_prompt(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ReplayError> {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (Some(model), Some(prompt)) = (
        request.get("model").and_then(Value::as_str),
        request.get("prompt").and_then(Value::as_str),
    ) else {
        return Err(ReplayError::MissingParameter(
            "a JSON body {\"model\": ..., \"prompt\": ...} is required",
        ));
    };
    score_response(&state, model, state.index.row_by_text(prompt))
}
