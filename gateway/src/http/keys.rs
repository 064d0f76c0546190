//! `/admin/keys`: client keys through the admin API (admin key required, like every
//! `/admin/*` endpoint).
//!
//! - `GET /admin/keys`: every key (revoked ones included) with its spend in the current period
//! - `POST /admin/keys` `{"name", "budget_usd"?, "period"?, "rpm"?, "tpm"?, "models"?,
//!   "guardrails"?}`: creates one; the answer holds the key, shown this once
//! - `DELETE /admin/keys/{id or name}`: revokes one
//!
//! The table lives in SQLite; its reads and writes run on the blocking pool (admin calls are
//! rare) and the gateway's key map is reloaded before the answer, so a revoked key is refused
//! from the next request on.

use std::num::NonZeroU32;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use router_core::ModelId;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::authorize;
use super::body_bytes;
use crate::auth::{Budget, KeyRecord, KeyStore, KeyStoreError, NewKey, Period};
use crate::http::error::ApiError;
use crate::state::AppState;

/// The settings of a key to create, as `POST /admin/keys` and `switchyard keys create` take
/// them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// Unique among active keys.
    pub name: String,
    /// Spend limit per period, USD.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    /// `day` or `month` (default month).
    #[serde(default)]
    pub period: Option<String>,
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Tokens per minute.
    #[serde(default)]
    pub tpm: Option<u32>,
    /// Catalog models the key may use.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// A `[guardrails.profiles.NAME]` of the config (default: the global `[guardrails]`).
    #[serde(default)]
    pub guardrails: Option<String>,
}

impl From<KeyStoreError> for ApiError {
    fn from(e: KeyStoreError) -> Self {
        match e {
            KeyStoreError::NotFound(_) => ApiError::KeyNotFound(e.to_string()),
            KeyStoreError::NameTaken(_) => ApiError::KeyNameTaken(e.to_string()),
            KeyStoreError::Invalid { .. } => ApiError::InvalidRequest(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Builds the settings of a new key, resolving model names through `config`'s catalog (or its
/// `[[embeddings]]` models) and checking its guardrails profile exists there. Shared with
/// `switchyard keys create`, so both refuse the same mistakes with the same messages.
pub fn new_key(config: &crate::Config, req: KeyRequest) -> Result<NewKey, KeyStoreError> {
    let KeyRequest {
        name,
        budget_usd,
        period,
        rpm,
        tpm,
        models,
        guardrails,
    } = req;
    let catalog = &config.catalog;
    let invalid = |field, message: String| KeyStoreError::Invalid { field, message };
    if let Some(g) = &guardrails {
        if !config.guardrails.profiles.contains_key(g) {
            let mut defined: Vec<&str> = config
                .guardrails
                .profiles
                .keys()
                .map(String::as_str)
                .collect();
            if defined.is_empty() {
                defined.push("none");
            }
            return Err(invalid(
                "guardrails",
                format!(
                    "`{}` is not a profile of this config (defined: {}); add [guardrails.profiles.NAME] first",
                    g.chars().take(64).collect::<String>(),
                    defined.join(", ")
                ),
            ));
        }
    }
    let period = match period.as_deref() {
        None => None,
        Some(p) => Some(Period::parse(p).ok_or_else(|| {
            invalid("period", format!("`{p}` is not a period; use day or month"))
        })?),
    };
    let budget = match (budget_usd, period) {
        (Some(limit_usd), p) => Some(Budget {
            limit_usd,
            period: p.unwrap_or(Period::Month),
        }),
        (None, Some(_)) => {
            return Err(invalid(
                "period",
                "needs a budget_usd to apply to".to_owned(),
            ))
        }
        (None, None) => None,
    };
    let nonzero = |field, v: Option<u32>| match v {
        None => Ok(None),
        Some(n) => NonZeroU32::new(n).map(Some).ok_or_else(|| {
            invalid(
                field,
                "must be at least 1 (leave it out for no limit)".to_owned(),
            )
        }),
    };
    let models = match models {
        None => None,
        Some(names) => {
            let mut ids = Vec::with_capacity(names.len());
            for name in names.iter().take(1001) {
                let name = name.trim();
                // A catalog model (by id or alias), or an `[[embeddings]]` model, which is not
                // in the catalog and is what `/v1/embeddings` checks the list against.
                let id = match catalog.get(&ModelId::new(name)) {
                    Ok(entry) => entry.spec.id.clone(),
                    Err(_) => config
                        .embeddings
                        .iter()
                        .find(|m| m.model.as_str() == name)
                        .map(|m| m.model.clone())
                        .ok_or_else(|| {
                            let shown: String = name.chars().take(100).collect();
                            invalid(
                                "models",
                                format!(
                                    "`{shown}` is neither a catalog model (`GET /v1/models` lists them) nor an [[embeddings]] model"
                                ),
                            )
                        })?,
                };
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Some(ids)
        }
    };
    let key = NewKey {
        name,
        budget,
        rpm: nonzero("rpm", rpm)?,
        tpm: nonzero("tpm", tpm)?,
        models,
        guardrails,
    };
    key.validate()?;
    Ok(key)
}

/// A key as the API shows it, with its spend in the current budget period.
async fn key_json(state: &AppState, k: &KeyRecord) -> Value {
    let mut v = serde_json::to_value(k).unwrap_or(Value::Null);
    if let (Some(b), Some(obj)) = (k.budget, v.as_object_mut()) {
        let (spent, reserved) = state.auth.usage(&k.id, b).await;
        obj.insert("spent_usd".to_owned(), json!(spent));
        obj.insert("reserved_usd".to_owned(), json!(reserved));
    }
    v
}

/// Runs `f` on the key table off the async workers, then reloads the gateway's key map.
#[expect(
    clippy::disallowed_methods,
    reason = "rare admin calls doing short SQLite I/O, not encoder work"
)]
async fn with_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut KeyStore, u64) -> Result<T, KeyStoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let auth = state.auth.clone();
    let Some(db) = auth.db().map(ToOwned::to_owned) else {
        return Err(ApiError::Internal("no key database".to_owned()));
    };
    let now = auth.clock().unix_ms();
    tokio::task::spawn_blocking(move || {
        let mut store = KeyStore::open_at(&db)?;
        let out = f(&mut store, now)?;
        auth.reload()?;
        Ok::<_, KeyStoreError>(out)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("key task failed: {e}")))?
    .map_err(ApiError::from)
}

/// `GET /admin/keys`.
pub(crate) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let keys = with_store(&state, |store, _| store.list()).await?;
    let mut data: Vec<Value> = Vec::with_capacity(keys.len());
    for k in &keys {
        data.push(key_json(&state, k).await);
    }
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// `POST /admin/keys`.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize(&state, &headers)?;
    let body = body_bytes(&state, body)?;
    let b: KeyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::InvalidJson(format!(
            "expected {{\"name\", \"budget_usd\"?, \"period\"?, \"rpm\"?, \"tpm\"?, \"models\"?, \"guardrails\"?}}: {e}"
        ))
    })?;
    let new = new_key(&state.config, b)?;
    let (record, key) = with_store(&state, move |store, now| store.create(&new, now)).await?;
    tracing::info!(key_id = %record.id, name = %record.name, "Client key created through the admin API.");
    let mut v = key_json(&state, &record).await;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("key".to_owned(), json!(key.expose()));
    }
    Ok((StatusCode::CREATED, Json(v)))
}

/// `DELETE /admin/keys/{id or name}`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let record = with_store(&state, move |store, now| store.revoke(&id, now)).await?;
    tracing::info!(key_id = %record.id, name = %record.name, "Client key revoked through the admin API.");
    Ok(Json(key_json(&state, &record).await))
}
