//! `POST /v1/embeddings`: OpenAI's embeddings API, passed through to the provider of a
//! configured `[[embeddings]]` model.
//!
//! Nothing is routed: `model` must name a configured embeddings model (`auto` is a 400 that
//! says so). The body goes upstream as sent, with the upstream model name swapped in; the
//! answer comes back as the upstream sent it. One attempt, bounded by `timeouts.attempt` (no
//! failover: a model has one provider). Client keys apply as on every `/v1` route (model list,
//! tokens per minute, budget), and every request leaves an outcome row whose cost comes from
//! the model's `input_usd_per_mtok` and the upstream's `usage.prompt_tokens` (estimated from the
//! input text when the upstream reports none).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use router_core::{Attempt, OutcomeStatus};
use serde_json::{Map, Value};

use crate::auth::{Caller, KeyUse};
use crate::config::EmbeddingsModel;
use crate::http::chat::{
    self, rejected, set_header, Failure, AUTO, HEADER_COST_USD, HEADER_MODEL, HEADER_REQUEST_ID,
};
use crate::http::error::ApiError;
use crate::outcome::record::{Ending, RequestRecord};
use crate::state::AppState;
use crate::tokens;
use crate::upstream::failover::WalkError;

/// The path this module serves.
pub const PATH: &str = "/v1/embeddings";

/// The endpoint label of rejection metrics.
const ENDPOINT: &str = "embeddings";

/// The axum handler: reads the body, then runs [`embeddings`] in the tracker (a client
/// disconnect neither cancels the upstream call nor loses the outcome row).
pub async fn handler(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match super::body_bytes(&state, body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let work = embeddings(state.clone(), body, caller.map(|axum::Extension(c)| c));
    super::tracked(&state, work).await
}

/// The body's `model` and the whole object, or the client's mistake.
fn parse(body: &[u8]) -> Result<(String, Map<String, Value>), ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(ApiError::InvalidRequest(
            "the body must be a JSON object".to_owned(),
        ));
    };
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::InvalidRequest("model: Field required (a string)".to_owned()))?
        .to_owned();
    if object.get("input").is_none_or(Value::is_null) {
        return Err(ApiError::InvalidRequest("input: Field required".to_owned()));
    }
    Ok((model, object))
}

/// The input's text (strings only; token-id inputs have none), for the row and estimates.
fn input_text(input: &Value) -> String {
    match input {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Tokens in the input: counted when it is token ids, estimated from its text otherwise.
fn input_tokens_estimate(input: &Value) -> u32 {
    match input {
        Value::Array(items) if items.iter().all(Value::is_number) => {
            u32::try_from(items.len()).unwrap_or(u32::MAX)
        }
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .filter_map(Value::as_array)
            .map(|ids| u32::try_from(ids.len()).unwrap_or(u32::MAX))
            .fold(0, u32::saturating_add),
        other => tokens::estimate(&input_text(other)),
    }
}

/// The configured model named `name`, or the client error for `auto` or an unknown name.
fn model_of<'a>(state: &'a AppState, name: &str) -> Result<&'a EmbeddingsModel, ApiError> {
    let configured = &state.config.embeddings;
    if name == AUTO {
        let names: Vec<&str> = configured.iter().map(|m| m.model.as_str()).collect();
        return Err(ApiError::InvalidRequest(format!(
            "model: `auto` is not available on /v1/embeddings: embeddings are not routed (vectors of different models are not comparable); name an embeddings model ({})",
            if names.is_empty() {
                "none is configured: add [[embeddings]] entries".to_owned()
            } else {
                names.join(", ")
            }
        )));
    }
    crate::http::validate::model_name("model", name)?;
    configured
        .iter()
        .find(|m| m.model.as_str() == name)
        .ok_or_else(|| ApiError::UnknownModel {
            model: name.to_owned(),
            suggestion: configured.first().map(|m| m.model.to_string()),
        })
}

/// Handles one embeddings request end to end.
pub async fn embeddings(state: AppState, body: Bytes, caller: Option<Caller>) -> Response {
    let mut parsed = parse(&body);
    // Guardrails first, as for chat: the log, the key's accounting and the upstream see the
    // masked inputs, and a refused request goes no further.
    let mut guarded = None;
    if let Ok((model, object)) = &mut parsed {
        let token_ids = holds_token_ids(object.get("input"));
        let mut texts = input_strings(object.get_mut("input"));
        match crate::guardrails::screen_texts(&state, &mut texts, token_ids, caller.as_ref()) {
            Ok(report) => guarded = report,
            Err(refusal) => {
                return crate::guardrails::refuse(&state, model, caller, ENDPOINT, refusal).await
            }
        }
    }
    let (model_name, prompt) = match &parsed {
        Ok((model, object)) => (model.as_str(), input_text(&object["input"])),
        Err(_) => ("", String::new()),
    };
    let mut record = RequestRecord::new(model_name, prompt);
    record.guardrails = guarded;
    record.key = caller.map(KeyUse::new);
    let request_id = record.request_id.clone();
    let mut response = match serve(&state, parsed, &mut record).await {
        Ok(response) => response,
        Err(failure) => chat::failed(&state, record, ENDPOINT, failure).await,
    };
    set_header(response.headers_mut(), HEADER_REQUEST_ID, &request_id);
    response
}

/// Whether an embeddings `input` holds token ids (an array of integers, or of such arrays),
/// which guardrails cannot read.
fn holds_token_ids(input: Option<&Value>) -> bool {
    match input {
        Some(Value::Array(items)) => items.iter().any(|v| match v {
            Value::Number(_) => true,
            Value::Array(inner) => inner.iter().any(Value::is_number),
            _ => false,
        }),
        _ => false,
    }
}

/// The texts of an embeddings `input` (a string or an array of them; token arrays carry none).
fn input_strings(input: Option<&mut Value>) -> Vec<&mut String> {
    match input {
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .iter_mut()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

async fn serve(
    state: &AppState,
    parsed: Result<(String, Map<String, Value>), ApiError>,
    record: &mut RequestRecord,
) -> Result<Response, Failure> {
    let (name, mut body) = parsed.map_err(rejected)?;
    let model = model_of(state, &name).map_err(rejected)?.clone();
    record.price_usd_per_mtok = Some((model.input_usd_per_mtok, 0.0));
    let estimate = input_tokens_estimate(&body["input"]);
    if let Some(k) = &record.key {
        if !k.allows(&model.model) {
            state.metrics.key_rejected("model_not_allowed");
            return Err(rejected(k.model_refused(&name)));
        }
        k.take_tokens(u64::from(estimate)).await.map_err(|e| {
            state
                .metrics
                .key_rejected(crate::auth::rejection_reason(&e, "rate_limit_tokens"));
            rejected(e)
        })?;
        k.reserve(model.cost_usd(estimate)).await.map_err(|e| {
            state
                .metrics
                .key_rejected(crate::auth::rejection_reason(&e, "budget"));
            rejected(e)
        })?;
    }
    let Some(upstream) = state.upstreams.get(&model.provider) else {
        return Err(rejected(ApiError::ProviderNotConfigured {
            model: name,
            hint: state.config.provider_setup_hint(&model.provider),
            provider: model.provider.to_string(),
        }));
    };
    body.insert(
        "model".to_owned(),
        Value::String(model.upstream_name.clone()),
    );
    let body = Value::Object(body);
    let started = tokio::time::Instant::now();
    let result = match tokio::time::timeout(
        state.config.timeouts.attempt,
        upstream.provider.embeddings(&body),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(crate::upstream::UpstreamError::timeout(false)),
    };
    let elapsed = started.elapsed();
    let mut attempt = Attempt {
        model: model.model.clone(),
        status_code: None,
        error: None,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        provider: Some(model.provider.clone()),
        upstream_name: Some(model.upstream_name.clone()),
    };
    let mut answer = match result {
        Ok(answer) => answer,
        Err(error) => {
            state
                .metrics
                .upstream_error(model.model.as_str(), error.label());
            attempt.status_code = error.status;
            attempt.error = Some(error.label().to_owned());
            let ending = Ending {
                model: Some(model.model.clone()),
                attempts: vec![attempt],
                ..Ending::default()
            };
            let walk = WalkError::Failed {
                error,
                provider: model.provider.clone(),
            };
            return Err((walk.into(), ending, OutcomeStatus::UpstreamError));
        }
    };
    attempt.status_code = Some(200);
    state
        .metrics
        .upstream_latency(model.model.as_str(), elapsed, None);
    let input_tokens = answer["usage"]["prompt_tokens"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(estimate);
    let upstream_model = answer["model"]
        .as_str()
        .map_or_else(|| model.upstream_name.clone(), str::to_owned);
    // The client named the model: it gets that name back, as from chat completions.
    if let Some(m) = answer.get_mut("model") {
        *m = Value::String(name.clone());
    }
    let ending = Ending {
        model: Some(model.model.clone()),
        upstream_model: Some(upstream_model),
        attempts: vec![attempt],
        tokens: Some((input_tokens, 0)),
        ..Ending::default()
    };
    let finished = record
        .clone()
        .finish(state, OutcomeStatus::Ok, ending)
        .await;
    if !finished.logged {
        return Ok(ApiError::OutcomeLogUnavailable.into_response());
    }
    let mut response = Json(answer).into_response();
    set_header(response.headers_mut(), HEADER_MODEL, model.model.as_str());
    if let Some(cost) = finished.cost_usd {
        set_header(
            response.headers_mut(),
            HEADER_COST_USD,
            &format!("{cost:.8}"),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn token_estimates_count_ids_and_text() {
        assert_eq!(input_tokens_estimate(&json!([1, 2, 3])), 3);
        assert_eq!(input_tokens_estimate(&json!([[1, 2], [3]])), 3);
        assert!(input_tokens_estimate(&json!(["hello world", "again"])) > 0);
        assert_eq!(input_text(&json!(["a", "b"])), "a\nb");
    }

    #[test]
    fn parse_needs_model_and_input() {
        assert!(parse(br#"{"input": "x"}"#).is_err());
        assert!(parse(br#"{"model": "m"}"#).is_err());
        let (model, _) = parse(br#"{"model": "m", "input": "x"}"#).unwrap();
        assert_eq!(model, "m");
    }
}
