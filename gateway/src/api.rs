//! The HTTP surface: [`app`] builds the axum router; handlers stay thin and call domain
//! functions.
//!
//! - `POST /v1/chat/completions`: [`crate::chat::chat_completion`]
//! - `GET /v1/models`: `auto` plus the live candidates
//! - `POST /v1/route`: the decision only, no upstream call
//! - `POST /v1/feedback`: a label for a past request
//! - `GET /metrics`, `GET /health`
//! - `POST /admin/reload`: [`crate::admin`] (bearer token; 404 unless `[admin]` is enabled)

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use router_core::Feedback;
use serde::Deserialize;
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::chat::{self, AUTO};
use crate::error::{ApiError, ErrorDetail};
use crate::openai::wire::{ChatCompletionRequest, ChatMessage, Role};
use crate::request_options::{merged_options, routing_input};
use crate::state::AppState;

/// The gateway's router over `state`.
pub fn app(state: AppState) -> Router {
    let limit = state.config.raw.server.body_limit_bytes;
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/v1/route", post(route_only))
        .route("/v1/feedback", post(feedback))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/admin/reload", post(crate::admin::reload))
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::Internal("handler panicked".to_owned()).into_response()
                }))
                .layer(TraceLayer::new_for_http())
                .layer(axum::middleware::map_response(log_server_errors))
                .layer(DefaultBodyLimit::max(limit)),
        )
        .with_state(state)
}

/// The one place 5xx details are logged (bodies stay generic).
async fn log_server_errors(response: Response) -> Response {
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        tracing::warn!(status = response.status().as_u16(), detail = %detail, "Request failed.");
    }
    response
}

fn body_bytes(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge {
                limit: state.config.raw.server.body_limit_bytes,
            }
        } else {
            ApiError::InvalidRequest(rejection.body_text())
        }
    })
}

async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_bytes(&state, body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // The work runs in the tracker so that a client disconnect (which drops this future)
    // neither cancels the upstream call half-way nor loses the outcome row.
    let task = state
        .tracker
        .spawn(chat::chat_completion(state.clone(), headers, body));
    match task.await {
        Ok(response) => response,
        Err(e) => ApiError::Internal(format!("request task failed: {e}")).into_response(),
    }
}

async fn list_models(State(state): State<AppState>) -> Json<serde_json::Value> {
    let mut data =
        vec![json!({"id": AUTO, "object": "model", "created": 0, "owned_by": "switchyard"})];
    for id in state.router.candidates() {
        let owner = state
            .catalog
            .get(id)
            .map(|e| e.spec.provider.to_string())
            .unwrap_or_default();
        data.push(json!({"id": id, "object": "model", "created": 0, "owned_by": owner}));
    }
    Json(json!({"object": "list", "data": data}))
}

/// `/v1/route` accepts a chat request (model optional) or `{"prompt": "..."}`.
fn route_request(value: serde_json::Value) -> Result<ChatCompletionRequest, ApiError> {
    let mut value = value;
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::InvalidJson("expected a JSON object".to_owned()));
    };
    if let Some(prompt) = obj.remove("prompt") {
        let Some(text) = prompt.as_str() else {
            return Err(ApiError::InvalidJson(
                "`prompt` must be a string".to_owned(),
            ));
        };
        let msg = serde_json::to_value(ChatMessage::text(Role::User, text))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        obj.insert("messages".to_owned(), json!([msg]));
    }
    obj.entry("model").or_insert_with(|| json!(AUTO));
    serde_json::from_value(value).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

async fn route_only(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = body_bytes(&state, body)?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let req = route_request(value)?;
    if req.messages.is_empty() {
        return Err(ApiError::InvalidRequest(
            "give `prompt` or non-empty `messages`".to_owned(),
        ));
    }
    let options = merged_options(req.router.as_ref(), &headers)?;
    let input = routing_input(
        &state.catalog,
        &req.messages,
        &req,
        options,
        state.objective(),
    )?;
    // Without any live provider the decision is still useful (offline evaluation): route over
    // the configured candidate set instead.
    let live = state.router.candidates();
    let offline = live.is_empty();
    let pool = if offline {
        &state.offline_pool[..]
    } else {
        live
    };
    let routed = if req.model == AUTO {
        state.router.route(&input, pool).await
    } else {
        let model = crate::request_options::resolve_model(&state.catalog, &req.model)?;
        state.router.pin(&model, &input, pool)
    }
    .map_err(|e| ApiError::NoLiveCandidate(e.to_string()))?;
    let d = &routed.decision;
    let candidates: Vec<serde_json::Value> = d
        .ranked
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("eligible".to_owned(), json!(c.is_eligible()));
                o.insert("feasible".to_owned(), json!(c.is_feasible()));
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "chosen": d.chosen,
        "reason": d.reason,
        "propensity": d.propensity,
        "source": routed.source.as_str(),
        "tasks": d.tasks,
        "route_ms": routed.elapsed.as_secs_f64() * 1000.0,
        "input_tokens": input.input_tokens,
        "offline": offline,
        "failover_order": d.failover_order(),
        "candidates": candidates,
    })))
}

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

async fn feedback(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = body_bytes(&state, body)?;
    let fb: FeedbackBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
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
    let accepted = state.log.feedback(
        fb.request_id,
        Feedback {
            metric: fb.metric,
            score,
        },
    );
    if !accepted {
        return Err(ApiError::Internal("outcome log is full".to_owned()));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))))
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "candidates": state.router.candidates().len(),
        "predictor": state.router.has_predictor(),
    }))
}
