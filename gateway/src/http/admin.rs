//! Authenticated admin endpoints: `POST /admin/reload` hot-reloads the router artifact
//! ([`crate::routing::reload::reload_artifact`]).
//!
//! They exist only when `[admin] token_env` names a set variable; otherwise they answer 404 as
//! if absent. Requests must carry `Authorization: Bearer <token>`.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::body_bytes;
use crate::http::error::ApiError;
use crate::routing::reload::reload_artifact;
use crate::state::AppState;

/// The optional body of `POST /admin/reload`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadBody {
    /// Another artifact directory; default: the one serving now.
    #[serde(default)]
    artifact: Option<PathBuf>,
}

/// Checks the admin key (`[admin] token_env` or `key_sha256`): disabled endpoints answer 404,
/// a wrong key 401.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = state.config.admin_token.as_ref();
    let key_hash = state.config.admin_key_sha256.as_ref();
    if token.is_none() && key_hash.is_none() {
        return Err(ApiError::AdminDisabled);
    }
    let given = crate::auth::bearer(headers);
    // Comparing digests keeps the comparison time independent of where the strings differ.
    let ok = given.is_some_and(|g| {
        let digest = Sha256::digest(g.as_bytes());
        token.is_some_and(|t| digest == Sha256::digest(t.expose().as_bytes()))
            || key_hash.is_some_and(|h| digest.as_slice() == h.as_slice())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::AdminUnauthorized)
    }
}

/// `POST /admin/reload` with an optional `{"artifact": "DIR"}` body.
pub(crate) async fn reload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers)?;
    let body = body_bytes(&state, body)?;
    let parsed: ReloadBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::InvalidJson(format!(
                "expected {{\"artifact\": \"DIR\"}} or an empty body: {e}"
            ))
        })?
    };
    let report = reload_artifact(&state, parsed.artifact.as_deref()).await?;
    Ok(Json(json!({
        "status": "reloaded",
        "artifact": report.path,
        "kind": report.kind,
        "models": report.models,
        "previous": report.previous,
    })))
}
