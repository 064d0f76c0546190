//! The HTTP surface: [`app`] builds the axum router; handlers stay thin and call the routing,
//! upstream and outcome layers below. Every error answered to a client is an
//! [`error::ApiError`], mapped to a response in one place.
//!
//! - `POST /v1/chat/completions`: [`chat::chat_completion`], streams relayed by [`relay`]
//! - `POST /v1/messages`: Anthropic Messages ingress ([`messages`]), the same path as chat
//!   completions in Anthropic's shapes (errors too)
//! - `POST /v1/responses`: OpenAI Responses ingress ([`responses`]), the same path as chat
//!   completions in Responses' shapes
//! - `POST /v1/embeddings`: passed through to a configured embeddings model's provider, not
//!   routed ([`embeddings`])
//! - `GET /v1/models`: `auto` plus the live candidates ([`ops`])
//! - `POST /v1/route`: the decision only, no upstream call ([`route`])
//! - `POST /v1/feedback`: a label for a past request ([`feedback`]); a client key labels only
//!   its own requests, the admin key any
//! - `GET /metrics`, `GET /health` ([`ops`])
//! - `POST /admin/reload`: [`admin`] (admin key; 404 unless `[admin]` is enabled)
//! - `GET|POST /admin/keys`, `DELETE /admin/keys/{id}`: client keys ([`keys`])
//! - `GET /dashboard` (and its script, style and `/dashboard/data`): the web view of the
//!   outcome log ([`dashboard`]; its data needs the admin key)
//!
//! `/v1/*` sits behind [`crate::auth::require_key`] (`/v1/feedback` behind
//! [`crate::auth::require_key_or_admin`]); everything behind the [`exposure`] rules
//! (JSON POST bodies, loopback `Host` names, CORS only when configured).

pub mod admin;
mod cached;
pub mod chat;
pub mod count_tokens;
mod dashboard;
pub mod embeddings;
pub mod error;
pub mod exposure;
pub mod feedback;
mod keepalive;
pub mod keys;
pub mod messages;
pub mod ops;
pub mod relay;
pub mod request_options;
pub mod responses;
pub mod route;
pub mod stop_cut;
pub mod validate;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::http::error::{ApiError, ErrorDetail};
use crate::state::AppState;

/// The gateway's router over `state`.
pub fn app(state: AppState) -> Router {
    let limit = state.config.server.body_limit_bytes;
    // The body is read inside each route's key check (`route_layer`s run last-added first),
    // so a request without a valid key, or over its requests-per-minute, is refused before a
    // byte of its body is buffered: otherwise clients without a key could make the gateway
    // hold `body_limit_bytes` per connection for `body_read_timeout`.
    let read_body = || axum::middleware::from_fn_with_state(state.clone(), read_body_in_time);
    // Client keys guard every `/v1/*` route (a no-op while no key exists).
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route(messages::PATH, post(messages::handler))
        .route(count_tokens::PATH, post(count_tokens::handler))
        .route(responses::PATH, post(responses::handler))
        .route(
            responses::STORED_PATHS,
            axum::routing::any(responses::not_stored),
        )
        .route(embeddings::PATH, post(embeddings::handler))
        .route("/v1/models", get(ops::list_models))
        .route("/v1/route", post(route::route_only))
        .route_layer(read_body())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_key,
        ));
    // Labels: a client key labels its own requests, the admin key any.
    let labels = Router::new()
        .route("/v1/feedback", post(feedback::feedback))
        .route_layer(read_body())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require_key_or_admin,
        ));
    // The admin routes check the admin key in their handlers, after the (small) body.
    let rest = Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/health", get(ops::health))
        .route("/admin/reload", post(admin::reload))
        .route("/admin/keys", get(keys::list).post(keys::create))
        .route("/admin/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/dashboard/app.css", get(dashboard::style))
        .route("/dashboard/data", get(dashboard::data))
        .route_layer(read_body());
    let mut router = Router::new()
        .merge(v1)
        .merge(labels)
        .merge(rest)
        .layer(axum::middleware::from_fn(exposure::require_json))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            exposure::check_host,
        ));
    if let Some(cors) = exposure::cors(&state.config.server) {
        router = router.layer(cors);
    }
    router
        .layer(
            ServiceBuilder::new()
                // Outermost: every error on `/v1/messages` in Anthropic's shape.
                .layer(axum::middleware::from_fn(messages::anthropic_errors))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::Internal("handler panicked".to_owned()).into_response()
                }))
                .layer(TraceLayer::new_for_http())
                .layer(axum::middleware::map_response(log_server_errors))
                .layer(DefaultBodyLimit::max(limit)),
        )
        .with_state(state)
}

/// Reads the whole request body before the handler runs, within `server.body_read_timeout`
/// (408 after it) and `server.body_limit_bytes` (413), so that a client trickling its body
/// cannot hold a request open.
async fn read_body_in_time(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let server = &state.config.server;
    let (parts, body) = request.into_parts();
    let limit = server.body_limit_bytes;
    // A declared length past the limit is refused before anything is read.
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return refuse(&state, ApiError::BodyTooLarge { limit });
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            let chunk = chunk.map_err(|e| {
                ApiError::InvalidRequest(format!("could not read the request body: {e}"))
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::BodyTooLarge { limit });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    let bytes = match tokio::time::timeout(server.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return refuse(&state, e),
        Err(_) => return refuse(&state, ApiError::BodyTimeout(server.body_read_timeout)),
    };
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

fn refuse(state: &AppState, error: ApiError) -> Response {
    state.metrics.rejected("any", error.code());
    let mut response = error.into_response();
    // The rest of the body is not read: the connection cannot be reused.
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// The one place 5xx details are logged (bodies stay generic).
async fn log_server_errors(response: Response) -> Response {
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        tracing::warn!(status = response.status().as_u16(), detail = %detail, "Request failed.");
    }
    response
}

/// The body, or the client error for a too-large or unreadable one.
fn body_bytes(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge {
                limit: state.config.server.body_limit_bytes,
            }
        } else {
            ApiError::InvalidRequest(rejection.body_text())
        }
    })
}

async fn chat_completions(
    State(state): State<AppState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_bytes(&state, body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let work = chat::chat_completion(
        state.clone(),
        headers,
        body,
        caller.map(|axum::Extension(c)| c),
    );
    tracked(&state, work).await
}

/// Runs a request's `work` in the tracker, so that a client disconnect (which drops the
/// handler's future) neither cancels the upstream call half-way nor loses the outcome row,
/// and shutdown waits for it. A disconnect before the response starts is signalled to the
/// work ([`crate::departure`]): it tries no further candidate and says so in the row.
pub(crate) async fn tracked(
    state: &AppState,
    work: impl std::future::Future<Output = Response> + Send + 'static,
) -> Response {
    let token = tokio_util::sync::CancellationToken::new();
    let guard = token.clone().drop_guard();
    let result = state
        .tracker
        .spawn(crate::departure::watch(token, work))
        .await;
    guard.disarm();
    match result {
        Ok(response) => response,
        Err(e) => ApiError::Internal(format!("request task failed: {e}")).into_response(),
    }
}
