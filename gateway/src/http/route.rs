//! `POST /v1/route`: the routing decision only, with no upstream call.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::json;

use super::body_bytes;
use crate::http::chat::AUTO;
use crate::http::error::ApiError;
use crate::http::request_options::{merged_options, resolve_model, routing_input};
use crate::openai::wire::{ChatCompletionRequest, ChatMessage, Role};
use crate::routing::Unit;
use crate::state::AppState;

/// `/v1/route` accepts a chat request (model optional) or `{"prompt": "..."}`.
pub(crate) fn route_request(value: serde_json::Value) -> Result<ChatCompletionRequest, ApiError> {
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

pub(super) async fn route_only(
    State(state): State<AppState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
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
        &live
    };
    // The same key list and rules as the serving endpoints, so the decision shown is the one
    // served: a key with a model list routes only among its models.
    let key_use = caller
        .as_ref()
        .map(|axum::Extension(c)| crate::auth::KeyUse::new(c.clone()));
    let key_pool = key_use.as_ref().map(|k| k.pool(pool));
    let pool: &[router_core::ModelId] = key_pool.as_deref().unwrap_or(pool);
    let key = caller.as_ref().map(|axum::Extension(c)| c.record());
    let meta = crate::routing::rules::RequestMeta {
        headers: &headers,
        key: key.map(|k| (k.id.as_str(), k.name.as_str())),
        user: req.user.as_deref(),
    };
    let rule = state
        .config
        .rules
        .apply(&meta, &req.model, pool, &state.metrics);
    if let Some(e) = rule.refusal() {
        return Err(e);
    }
    let pool = rule.pool(pool);
    let requested = rule.requested(&req.model);
    let mut arm = None;
    let routed = if requested == AUTO {
        if let (Some(k), true) = (&key_use, pool.is_empty()) {
            return Err(k.model_refused(AUTO));
        }
        // The arm a chat request of this caller would get (a fresh draw without a `user` or
        // a key, as for such a chat request).
        let request_id = crate::outcome::record::new_request_id();
        let assigned = state.router.assign(Unit {
            user: req.user.as_deref(),
            key_id: key.map(|k| k.id.as_str()),
            request_id: &request_id,
        });
        let (loaded, assignment) = assigned.unzip();
        arm = assignment;
        state.router.preview(&input, pool, loaded).await
    } else {
        let model = resolve_model(&state.catalog, requested)?;
        if let Some(k) = key_use.as_ref().filter(|k| !k.allows(&model)) {
            return Err(k.model_refused(model.as_str()));
        }
        if let Some(e) = rule.refuses(&model) {
            return Err(e);
        }
        crate::http::validate::named_model_capabilities(
            &state.catalog,
            &model,
            &input.constraints,
        )?;
        state.router.pin(&model, &input, pool)
    }
    .map_err(|_| {
        crate::http::validate::unservable(
            &state.catalog,
            pool,
            &input.constraints,
            input.input_tokens,
        )
    })?;
    let d = &routed.decision;
    let mut failover_order = d.failover_order();
    rule.retain(&mut failover_order)?;
    if let Some(k) = &key_use {
        failover_order.retain(|m| k.allows(m));
    }
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
        "difficulty": d.difficulty,
        "routing": d.routing,
        "tie_break": d.tie_break,
        "route_ms": routed.elapsed.as_secs_f64() * 1000.0,
        "input_tokens": input.input_tokens,
        "offline": offline,
        "failover_order": failover_order,
        "rule": rule.name(),
        "candidates": candidates,
        "arm": arm,
    })))
}
