//! Operational endpoints: `GET /v1/models`, `GET /metrics`, `GET /health`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::Caller;
use crate::http::chat::AUTO;
use crate::state::AppState;

/// `auto` and the live models; with a client key, only the models it may use.
pub(super) async fn list_models(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
) -> Json<serde_json::Value> {
    let mut data =
        vec![json!({"id": AUTO, "object": "model", "created": 0, "owned_by": "switchyard"})];
    let allowed = |id: &router_core::ModelId| {
        caller
            .as_ref()
            .is_none_or(|axum::Extension(c)| c.record().allows(id))
    };
    for id in state.router.candidates().iter().filter(|m| allowed(m)) {
        let owner = state
            .catalog
            .get(id)
            .map(|e| e.spec.provider.to_string())
            .unwrap_or_default();
        data.push(json!({"id": id, "object": "model", "created": 0, "owned_by": owner}));
    }
    Json(json!({"object": "list", "data": data}))
}

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(cache) = &state.cache {
        let (entries, bytes) = cache.size();
        state.metrics.response_cache_size(entries, bytes);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

pub(super) async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "candidates": state.router.candidates().len(),
        "predictor": state.router.has_predictor(),
    }))
}
