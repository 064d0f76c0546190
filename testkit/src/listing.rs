//! The "list models" endpoints: OpenAI's and Anthropic's `GET /v1/models` (one answer shaped
//! for both) and Gemini's `GET /v1beta/models`. Until a test sets a list
//! ([`crate::FakeProvider::offer_models`]) they answer 404, as a server without the endpoint
//! would.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::Shared;

/// `GET /v1/models`: OpenAI's list (`object`, `data[].id`, `data[].shutdown_date`), which also
/// reads as Anthropic's (`data[].id`, `has_more`).
pub(crate) async fn openai_and_anthropic(State(shared): State<Arc<Shared>>) -> Response {
    let Some(models) = shared.read_list() else {
        return not_found();
    };
    let data: Vec<_> = models
        .iter()
        .map(|(id, shutdown)| {
            json!({"id": id, "object": "model", "type": "model", "owned_by": "testkit",
                   "shutdown_date": shutdown})
        })
        .collect();
    let last = models.last().map(|(id, _)| id.clone());
    Json(json!({"object": "list", "data": data, "has_more": false, "last_id": last}))
        .into_response()
}

/// `GET /v1beta/models`: Gemini's list (`models[].name` with its `models/` prefix).
pub(crate) async fn gemini(State(shared): State<Arc<Shared>>) -> Response {
    let Some(models) = shared.read_list() else {
        return not_found();
    };
    let models: Vec<_> = models
        .iter()
        .map(|(id, _)| json!({"name": format!("models/{id}")}))
        .collect();
    Json(json!({"models": models})).into_response()
}

/// `GET /v1/models/{name}`: one model, by its id or by an alias of it (a name that an offered
/// id extends with `-…`, as Anthropic resolves `claude-haiku-4-5` to a dated id); 404 when
/// no offered model matches.
pub(crate) async fn openai_and_anthropic_one(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    match resolve(&shared, &name) {
        Some((id, shutdown)) => Json(json!({"id": id, "object": "model", "type": "model",
                                            "owned_by": "testkit", "shutdown_date": shutdown}))
        .into_response(),
        None => not_found(),
    }
}

/// `GET /v1beta/models/{name}`: Gemini's one model.
pub(crate) async fn gemini_one(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Response {
    match resolve(&shared, &name) {
        Some((id, _)) => Json(json!({"name": format!("models/{id}")})).into_response(),
        None => not_found(),
    }
}

fn resolve(shared: &Shared, name: &str) -> Option<(String, Option<String>)> {
    let models = shared.offered()?;
    let alias = format!("{name}-");
    models
        .iter()
        .find(|(id, _)| id == name)
        .or_else(|| models.iter().find(|(id, _)| id.starts_with(&alias)))
        .cloned()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"message": "no model list", "type": "invalid_request_error"}})),
    )
        .into_response()
}
