//! `POST /v1/messages/count_tokens`: Anthropic's token count of a Messages request, which
//! Claude Code calls on start-up and every turn to manage its context window. Without it the
//! route was a 404 and Claude Code fell back to its own estimate on every call.
//!
//! The count is the gateway's own estimate (`tokens::estimate_prompt`: text, tool definitions,
//! images), scaled by the model's `token_ratio` when the catalog knows it: the same figure
//! budgets and routing use, with no upstream call, so a client asking dozens of times at
//! start-up spends nothing and meets no provider limit. `auto` and unknown models get the
//! plain estimate. It is never a made-up 0: Claude Code trusts a 2xx answer and would then
//! never compact a conversation.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::state::AppState;

/// The path this module serves.
pub const PATH: &str = "/v1/messages/count_tokens";

/// The axum handler.
pub async fn handler(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match super::body_bytes(&state, body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match count(&state, &body) {
        Ok(n) => Json(json!({ "input_tokens": n })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The estimated input tokens of the Messages request in `body`.
fn count(state: &AppState, body: &[u8]) -> Result<u64, ApiError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let Some(object) = value.as_object_mut() else {
        return Err(ApiError::InvalidRequest(
            "the body must be a JSON object".to_owned(),
        ));
    };
    // A count request has no output limit, and its thinking settings do not change the count:
    // a placeholder limit lets the Messages parser read the rest.
    object.insert("max_tokens".to_owned(), json!(1));
    object.remove("thinking");
    for field in ["stream", "top_k"] {
        object.remove(field);
    }
    let req = super::messages::parse_value(value)?;
    let estimate = f64::from(crate::tokens::estimate_prompt(&req));
    let tokens = match state.catalog.find(&req.model) {
        Some(entry) => entry.spec.prompt_tokens(estimate),
        None => estimate,
    };
    // Rounded up: a context manager is better served by an over- than an under-count.
    Ok(tokens.ceil().max(1.0) as u64)
}
