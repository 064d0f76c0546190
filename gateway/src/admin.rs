//! Authenticated admin endpoints: `POST /admin/reload` hot-reloads the router artifact
//! ([`crate::reload::reload_artifact`]).
//!
//! They exist only when `[admin] token_env` names a set variable; otherwise they answer 404 as
//! if absent. Requests must carry `Authorization: Bearer <token>`.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::reload::reload_artifact;
use crate::state::AppState;

/// The optional body of `POST /admin/reload`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadBody {
    /// Another artifact directory; default: the one serving now.
    #[serde(default)]
    artifact: Option<PathBuf>,
}

fn error(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "code": code}});
    (status, Json(body)).into_response()
}

/// Checks the bearer token; `Some` is the 404 or 401 answer.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &state.config.admin_token else {
        return Some(error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            "admin endpoints are disabled; set [admin] token_env to enable them",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Comparing digests keeps the comparison time independent of where the strings differ.
    let ok = given
        .is_some_and(|g| Sha256::digest(g.as_bytes()) == Sha256::digest(token.expose().as_bytes()));
    if ok {
        return None;
    }
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        "unauthorized",
        "missing or wrong admin bearer token",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

/// `POST /admin/reload` with an optional `{"artifact": "DIR"}` body.
pub(crate) async fn reload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(response) = refusal(&state, &headers) {
        return response;
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            return error(
                rejection.status(),
                "invalid_request_error",
                "invalid_request",
                rejection.body_text(),
            )
        }
    };
    let parsed: ReloadBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "invalid_json",
                    format!("expected {{\"artifact\": \"DIR\"}} or an empty body: {e}"),
                )
            }
        }
    };
    match reload_artifact(&state, parsed.artifact.as_deref()).await {
        Ok(report) => Json(json!({
            "status": "reloaded",
            "artifact": report.path,
            "kind": report.kind,
            "models": report.models,
            "previous": report.previous,
        }))
        .into_response(),
        Err(e) => {
            let kind = if e.status().is_server_error() {
                "server_error"
            } else {
                "invalid_request_error"
            };
            error(e.status(), kind, e.label(), e.to_string())
        }
    }
}
