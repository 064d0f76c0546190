//! `POST /v1/responses`: OpenAI's Responses API as an ingress.
//!
//! Like `POST /v1/messages` ([`crate::http::messages`]), the request is converted into the
//! internal chat form ([`request::parse`]) and takes exactly the `/v1/chat/completions` path
//! ([`chat::answer`] with [`Dialect::Responses`]): routing (`model: "auto"` or a catalog name),
//! client keys, failover, outcome rows, metrics and the response cache. Only the answer's shape
//! differs: [`answer::response_body`] for a `response` object, [`answer::StreamEncoder`] for
//! the typed event sequence. Errors keep OpenAI's JSON shape.
//!
//! Supported: `input` (a string, or message items with role user/assistant/system/developer
//! and string or `input_text`/`output_text`/`refusal`/`input_image` (by URL) content,
//! `function_call` and `function_call_output` items), `instructions` (a system message),
//! `function` tools, `tool_choice`, `temperature`, `top_p`, `max_output_tokens`, `metadata`
//! (validated, not stored), `user`, `parallel_tool_calls`, `stream`, `text.format`
//! (text/json_object/json_schema), `text.verbosity` and `reasoning.effort` (as `verbosity` and
//! `reasoning_effort`), `prompt_cache_key` and `prompt_cache_retention` (passed on), `store`
//! (accepted, nothing is stored) and Switchyard's `router` options. A model's reasoning text
//! (the chat form's `reasoning_content`) is a `reasoning` output item before the answer: its
//! `summary` when the request sets `reasoning.summary` (echoed, and asking Claude for the
//! thinking text it otherwise omits: `upstream::fit::THINKING_DISPLAY`), else its `content`
//! ([`answer::StreamEncoder`] streams either). Accepted with nothing to produce:
//! `include: ["reasoning.encrypted_content"]` (the item's `encrypted_content` is null) and
//! `reasoning` input items (the gateway keeps reasoning under tool calls itself), as Codex
//! sends them.
//! Refused with a 400 naming the field: `previous_response_id`, `conversation`,
//! `background: true`, other `include` values, `truncation: "auto"`, built-in tools, other
//! item and part types, unknown fields.
//! The other `/v1/responses/*` routes (retrieve, delete, cancel, input items) answer a 404 in
//! OpenAI's shape saying that nothing is stored ([`not_stored`]).

pub mod answer;
pub mod request;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};

use crate::auth::Caller;
use crate::http::chat::{self, Dialect};
use crate::state::AppState;

pub use answer::{response_body, StreamEncoder};
pub use request::parse;

/// The path this module serves.
pub const PATH: &str = "/v1/responses";

/// Every path under [`PATH`]: OpenAI's routes for stored responses (`GET` and `DELETE
/// /v1/responses/{id}`, `POST /v1/responses/{id}/cancel`, `GET
/// /v1/responses/{id}/input_items`, `POST /v1/responses/input_tokens`), answered by
/// [`not_stored`].
pub const STORED_PATHS: &str = "/v1/responses/{*rest}";

/// The answer to every route of [`STORED_PATHS`]: this gateway stores no response (an answer
/// says `store: false`), so none can be retrieved, deleted, cancelled or listed. A 404
/// `not_found` in OpenAI's error shape, as the gateway answers a route that is not there
/// (`ApiError::AdminDisabled`), with a message that says why, which the SDKs show
/// (`NotFoundError`).
pub async fn not_stored() -> Response {
    let message = "this gateway stores no responses (every answer says `store: false`): \
                   /v1/responses/{id} and the routes under it (retrieve, delete, cancel, \
                   input items) are not available; send the whole conversation in `input`";
    let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error",
                                            "param": null, "code": "not_found"}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// The axum handler: reads the body, then runs [`responses`] in the tracker (a client
/// disconnect neither cancels the upstream call nor loses the outcome row).
pub async fn handler(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match super::body_bytes(&state, body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let work = responses(
        state.clone(),
        headers,
        body,
        caller.map(|axum::Extension(c)| c),
    );
    crate::http::tracked(&state, work).await
}

/// Handles one Responses request end to end.
pub async fn responses(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
    caller: Option<Caller>,
) -> Response {
    match parse(&body) {
        Ok(req) => chat::answer(state, headers, req, caller, Dialect::Responses).await,
        Err(e) => chat::reject_malformed(&state, e, Dialect::Responses).await,
    }
}

#[cfg(test)]
mod tests;
