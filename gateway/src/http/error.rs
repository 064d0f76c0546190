//! [`ApiError`]: every error answered to an HTTP client, and the one place errors become
//! responses (status, OpenAI-shaped body, headers).
//!
//! Errors of the lower layers convert here: a failed failover walk
//! ([`crate::upstream::failover::WalkError`]) and a refused artifact reload
//! ([`crate::routing::reload::ReloadError`]). 5xx bodies stay generic; the real error goes into
//! the response extensions ([`ErrorDetail`]) and is logged by one middleware.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;

use crate::routing::reload::ReloadError;
use crate::upstream::failover::WalkError;
use crate::upstream::UpstreamErrorKind;

/// An error answered to an HTTP client, in OpenAI's shape
/// `{"error":{"message","type","code"}}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not valid JSON for the endpoint.
    #[error("invalid request body: {0}")]
    InvalidJson(String),
    /// The request is well-formed but not acceptable.
    #[error("{0}")]
    InvalidRequest(String),
    /// `[guardrails]` refused the request: a kind set to `block` or a deny pattern matched.
    /// The message names the kind or the pattern's index, never the matched text.
    #[error("{0}")]
    GuardrailBlocked(String),
    /// The client key names a guardrails profile the config does not define: refused rather
    /// than sent unscreened (500, not retried).
    #[error("{0}")]
    GuardrailProfileMissing(String),
    /// The model is not in the catalog.
    #[error("model `{model}` does not exist{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownModel {
        /// The name asked for.
        model: String,
        /// The catalog's closest name.
        suggestion: Option<String>,
    },
    /// The body is larger than `server.body_limit_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No allowed model can ever serve this request: it needs a bigger context window, a
    /// capability no model has, or the client excluded every model. A 400, so that SDKs do not
    /// retry it.
    #[error("{message}")]
    Unservable {
        /// Which limit no model meets: `context_length_exceeded`,
        /// `capability_unavailable` or `no_model_allowed`.
        code: &'static str,
        /// The limit and the numbers, for the client.
        message: String,
    },
    /// The request body did not arrive within `server.body_read_timeout`.
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// Feedback for a request id the log does not have.
    #[error("no request with id `{0}` is in the outcome log")]
    FeedbackUnknownRequest(String),
    /// Feedback for a request and metric that already has a label (the first label wins).
    #[error("request `{request_id}` already has a `{metric}` label (score {score}); the first label wins")]
    FeedbackConflict {
        /// The request id.
        request_id: String,
        /// The metric.
        metric: String,
        /// The stored score.
        score: f64,
    },
    /// The outcome row could not be committed and `[log] on_unavailable = "fail_closed"`.
    #[error("the outcome log is unavailable")]
    OutcomeLogUnavailable,
    /// `[redis] on_unavailable = "refuse"` and Redis, which holds the shared rate limits and
    /// budgets, did not answer.
    #[error("the shared rate-limit store is unavailable; retry shortly")]
    LimitsUnavailable,
    /// Every candidate's answer was larger than `server.upstream_response_limit_bytes`.
    #[error("the upstream answer is larger than the gateway's limit (server.upstream_response_limit_bytes)")]
    UpstreamTooLarge,
    /// No model can serve the request right now: every candidate's provider is failing or
    /// has an open circuit breaker. A 503 the SDKs may retry.
    #[error("no live model can serve this request: {0}")]
    NoLiveCandidate(String),
    /// No provider is configured for any model `auto` could choose: the gateway itself is
    /// not set up. Still a 503 (`no_live_candidate`), but with `x-should-retry: false`, so
    /// that SDKs do not retry what only the operator can fix.
    #[error("no live model can serve this request: {0}")]
    NoProviderConfigured(String),
    /// A named catalog model whose provider is not configured (no `[[providers]]` entry, or
    /// its API key variable is unset). A 404 `model_not_found`, which SDKs do not retry.
    #[error("model `{model}` is in the catalog, but its provider `{provider}` is not configured: {hint}")]
    ProviderNotConfigured {
        /// The catalog id asked for.
        model: String,
        /// The catalog's provider of the model.
        provider: String,
        /// What would enable the provider (the variable to set or the entry to add).
        hint: String,
    },
    /// An upstream rejected the gateway's API key.
    #[error("upstream provider `{provider}` rejected the configured API key; check the key in its api_key_env variable")]
    UpstreamAuth {
        /// The provider id.
        provider: String,
    },
    /// The upstream refused the request itself (4xx); its message is passed on.
    #[error("upstream rejected the request: {message}")]
    UpstreamRejected {
        /// The upstream's status (400–499).
        status: u16,
        /// The upstream's error message.
        message: String,
    },
    /// Every candidate was rate limited.
    #[error("upstream rate limit reached")]
    UpstreamRateLimited {
        /// The last `Retry-After`.
        retry_after: Option<std::time::Duration>,
    },
    /// The request deadline passed before an answer.
    #[error("upstream timed out: {0}")]
    UpstreamTimeout(String),
    /// Every attempt failed.
    #[error("all upstream attempts failed: {0}")]
    UpstreamFailed(String),
    /// The admin endpoints are off (`[admin] token_env` unset): answered as if absent.
    #[error("admin endpoints are disabled; set [admin] token_env to enable them")]
    AdminDisabled,
    /// A missing or wrong admin bearer token.
    #[error("missing or wrong admin bearer token")]
    AdminUnauthorized,
    /// `DELETE /admin/keys/{id}` for no live key of that id or name (404 `key_not_found`).
    #[error("{0}")]
    KeyNotFound(String),
    /// `POST /admin/keys` with the name of a live key (409 `key_name_taken`).
    #[error("{0}")]
    KeyNameTaken(String),
    /// A missing, wrong or revoked client key.
    #[error("{0}")]
    InvalidApiKey(&'static str),
    /// A client key's requests- or tokens-per-minute limit.
    #[error("{message}")]
    KeyRateLimited {
        /// `requests` or `tokens` (OpenAI's error type for each).
        limit: &'static str,
        /// What was exceeded.
        message: String,
        /// When the request would be allowed.
        retry_after: std::time::Duration,
    },
    /// A client key's budget is spent for its period.
    #[error("{0}")]
    InsufficientQuota(String),
    /// The model is outside the client key's list.
    #[error("{0}")]
    ModelNotAllowed(String),
    /// A POST body not declared as JSON (also what stops cross-site form posts).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A Host header that does not name this loopback gateway (DNS rebinding).
    #[error("{0}")]
    HostNotAllowed(String),
    /// A router artifact reload was refused.
    #[error(transparent)]
    Reload(#[from] ReloadError),
    /// A bug or an unavailable internal component.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The real error behind a 5xx, put in the response extensions for the logging middleware.
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use StatusCode as S;
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidRequest(_)
            | ApiError::GuardrailBlocked(_)
            | ApiError::Unservable { .. } => S::BAD_REQUEST,
            ApiError::BodyTimeout(_) => S::REQUEST_TIMEOUT,
            ApiError::FeedbackUnknownRequest(_) | ApiError::KeyNotFound(_) => S::NOT_FOUND,
            ApiError::FeedbackConflict { .. } | ApiError::KeyNameTaken(_) => S::CONFLICT,
            ApiError::OutcomeLogUnavailable | ApiError::LimitsUnavailable => S::SERVICE_UNAVAILABLE,
            ApiError::UpstreamTooLarge => S::BAD_GATEWAY,
            ApiError::UnknownModel { .. }
            | ApiError::ProviderNotConfigured { .. }
            | ApiError::AdminDisabled => S::NOT_FOUND,
            ApiError::BodyTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            ApiError::NoLiveCandidate(_) | ApiError::NoProviderConfigured(_) => {
                S::SERVICE_UNAVAILABLE
            }
            ApiError::UpstreamAuth { .. } | ApiError::UpstreamFailed(_) => S::BAD_GATEWAY,
            ApiError::UpstreamRejected { status, .. } => {
                S::from_u16(*status).unwrap_or(S::BAD_REQUEST)
            }
            ApiError::UpstreamRateLimited { .. } => S::TOO_MANY_REQUESTS,
            ApiError::UpstreamTimeout(_) => S::GATEWAY_TIMEOUT,
            ApiError::AdminUnauthorized | ApiError::InvalidApiKey(_) => S::UNAUTHORIZED,
            ApiError::KeyRateLimited { .. } | ApiError::InsufficientQuota(_) => {
                S::TOO_MANY_REQUESTS
            }
            ApiError::ModelNotAllowed(_) | ApiError::HostNotAllowed(_) => S::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => S::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Reload(e) => reload_status(e),
            ApiError::Internal(_) | ApiError::GuardrailProfileMissing(_) => {
                S::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// OpenAI's `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidRequest(_)
            | ApiError::GuardrailBlocked(_)
            | ApiError::UnknownModel { .. }
            | ApiError::ProviderNotConfigured { .. }
            | ApiError::BodyTooLarge { .. }
            | ApiError::UpstreamRejected { .. }
            | ApiError::Unservable { .. }
            | ApiError::BodyTimeout(_)
            | ApiError::FeedbackUnknownRequest(_)
            | ApiError::FeedbackConflict { .. }
            | ApiError::KeyNotFound(_)
            | ApiError::KeyNameTaken(_)
            | ApiError::AdminDisabled
            | ApiError::InvalidApiKey(_)
            | ApiError::ModelNotAllowed(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::HostNotAllowed(_) => "invalid_request_error",
            ApiError::UpstreamTooLarge => "upstream_error",
            ApiError::OutcomeLogUnavailable
            | ApiError::LimitsUnavailable
            | ApiError::GuardrailProfileMissing(_) => "server_error",
            ApiError::AdminUnauthorized => "authentication_error",
            ApiError::KeyRateLimited { limit, .. } => limit,
            ApiError::InsufficientQuota(_) => "insufficient_quota",
            ApiError::UpstreamRateLimited { .. } => "rate_limit_error",
            ApiError::NoLiveCandidate(_)
            | ApiError::NoProviderConfigured(_)
            | ApiError::UpstreamAuth { .. }
            | ApiError::UpstreamTimeout(_)
            | ApiError::UpstreamFailed(_) => "upstream_error",
            ApiError::Reload(e) => {
                if reload_status(e).is_server_error() {
                    "server_error"
                } else {
                    "invalid_request_error"
                }
            }
            ApiError::Internal(_) => "server_error",
        }
    }

    /// OpenAI's `code` field: a stable, low-cardinality label (also a metric label).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::GuardrailBlocked(_) => "guardrail_blocked",
            ApiError::GuardrailProfileMissing(_) => "guardrail_profile_missing",
            ApiError::Unservable { code, .. } => code,
            ApiError::BodyTimeout(_) => "request_timeout",
            ApiError::FeedbackUnknownRequest(_) => "request_not_found",
            ApiError::FeedbackConflict { .. } => "feedback_conflict",
            ApiError::KeyNotFound(_) => "key_not_found",
            ApiError::KeyNameTaken(_) => "key_name_taken",
            ApiError::OutcomeLogUnavailable => "outcome_log_unavailable",
            ApiError::LimitsUnavailable => "limits_unavailable",
            ApiError::UpstreamTooLarge => "upstream_too_large",
            ApiError::UnknownModel { .. } | ApiError::ProviderNotConfigured { .. } => {
                "model_not_found"
            }
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::NoLiveCandidate(_) | ApiError::NoProviderConfigured(_) => "no_live_candidate",
            ApiError::UpstreamAuth { .. } => "upstream_auth",
            ApiError::UpstreamRejected { .. } => "upstream_rejected",
            ApiError::UpstreamRateLimited { .. } => "rate_limited",
            ApiError::UpstreamTimeout(_) => "upstream_timeout",
            ApiError::UpstreamFailed(_) => "upstream_failed",
            ApiError::AdminDisabled => "not_found",
            ApiError::AdminUnauthorized => "unauthorized",
            ApiError::InvalidApiKey(_) => "invalid_api_key",
            ApiError::KeyRateLimited { .. } => "rate_limit_exceeded",
            ApiError::InsufficientQuota(_) => "insufficient_quota",
            ApiError::ModelNotAllowed(_) => "model_not_allowed",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::HostNotAllowed(_) => "host_not_allowed",
            ApiError::Reload(e) => e.label(),
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The message shown to the client: the full text for client errors and the actionable
    /// 5xx cases, a generic line for the rest (details go to the log).
    fn public_message(&self) -> String {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidRequest(_)
            | ApiError::GuardrailBlocked(_)
            | ApiError::UnknownModel { .. }
            | ApiError::BodyTooLarge { .. }
            | ApiError::UpstreamRejected { .. }
            | ApiError::UpstreamRateLimited { .. }
            | ApiError::UpstreamAuth { .. }
            | ApiError::NoLiveCandidate(_)
            | ApiError::NoProviderConfigured(_)
            | ApiError::ProviderNotConfigured { .. }
            | ApiError::Unservable { .. }
            | ApiError::BodyTimeout(_)
            | ApiError::FeedbackUnknownRequest(_)
            | ApiError::FeedbackConflict { .. }
            | ApiError::KeyNotFound(_)
            | ApiError::KeyNameTaken(_)
            | ApiError::OutcomeLogUnavailable
            | ApiError::LimitsUnavailable
            | ApiError::GuardrailProfileMissing(_)
            | ApiError::UpstreamTooLarge
            | ApiError::AdminDisabled
            | ApiError::AdminUnauthorized
            | ApiError::InvalidApiKey(_)
            | ApiError::KeyRateLimited { .. }
            | ApiError::InsufficientQuota(_)
            | ApiError::ModelNotAllowed(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::HostNotAllowed(_) => self.to_string(),
            ApiError::Reload(e) => {
                if reload_status(e).is_server_error() {
                    "internal error while loading the artifact".to_owned()
                } else {
                    e.to_string()
                }
            }
            ApiError::UpstreamTimeout(_) => "upstream timed out".to_owned(),
            ApiError::UpstreamFailed(_) => "all upstream attempts failed".to_owned(),
            ApiError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The OpenAI-shaped JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.public_message(),
                "type": self.kind(),
                // OpenAI always sends the key; `null` where no one field is at fault.
                "param": null,
                "code": self.code(),
            }
        })
    }
}

/// The status of a refused reload: the operator's mistake (bad path, wrong artifact) is a 4xx,
/// only a crashed loader is a 5xx.
fn reload_status(e: &ReloadError) -> StatusCode {
    match e {
        ReloadError::NoClassifier => StatusCode::CONFLICT,
        ReloadError::NoArtifactPath => StatusCode::BAD_REQUEST,
        ReloadError::Load { .. }
        | ReloadError::EncoderMismatch { .. }
        | ReloadError::DimensionMismatch { .. }
        | ReloadError::TokenBudgetMismatch { .. }
        | ReloadError::UnknownModels { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ReloadError::LoaderFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<WalkError> for ApiError {
    /// The client-facing error for the last failure of a failover walk.
    fn from(walk: WalkError) -> Self {
        let (err, provider) = match walk {
            WalkError::NoAttempt { no_targets: true } => {
                return ApiError::NoProviderConfigured(
                    "no candidate model has a configured, live provider".to_owned(),
                )
            }
            WalkError::NoAttempt { no_targets: false } => {
                return ApiError::NoLiveCandidate("no attempt could be made".to_owned())
            }
            WalkError::Failed { error, provider } => (error, provider),
        };
        match err.kind {
            UpstreamErrorKind::TooLarge => ApiError::UpstreamTooLarge,
            UpstreamErrorKind::Auth => ApiError::UpstreamAuth {
                provider: provider.to_string(),
            },
            UpstreamErrorKind::BadRequest => ApiError::UpstreamRejected {
                status: err.status.filter(|s| (400..500).contains(s)).unwrap_or(400),
                message: err.message,
            },
            UpstreamErrorKind::RateLimited => ApiError::UpstreamRateLimited {
                retry_after: err.retry_after,
            },
            UpstreamErrorKind::Timeout | UpstreamErrorKind::TtftTimeout => {
                ApiError::UpstreamTimeout(format!("{provider}: {}", err.message))
            }
            UpstreamErrorKind::CircuitOpen => ApiError::NoLiveCandidate(
                "every candidate's provider has an open circuit breaker".to_owned(),
            ),
            UpstreamErrorKind::Connect
            | UpstreamErrorKind::NotFound
            | UpstreamErrorKind::Redirect
            | UpstreamErrorKind::ServerError
            | UpstreamErrorKind::Decode
            | UpstreamErrorKind::StreamTruncated
            | UpstreamErrorKind::Transport
            | UpstreamErrorKind::Shutdown => ApiError::UpstreamFailed(format!("{provider}: {err}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        match &self {
            ApiError::UpstreamRateLimited {
                retry_after: Some(d),
            } => {
                let secs = d.as_secs_f64().ceil().to_string();
                if let Ok(v) = HeaderValue::from_str(&secs) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::AdminUnauthorized | ApiError::InvalidApiKey(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::KeyRateLimited { retry_after, .. } => {
                // Whole seconds, at least one: `Retry-After: 0` invites a tight retry loop.
                let secs = retry_after.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u64;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            ApiError::InsufficientQuota(_)
            | ApiError::NoProviderConfigured(_)
            | ApiError::GuardrailProfileMissing(_) => {
                // The OpenAI and Anthropic SDKs read this and do not retry: a spent budget,
                // a gateway without providers or a missing profile does not heal in a second.
                response
                    .headers_mut()
                    .insert("x-should-retry", HeaderValue::from_static("false"));
            }
            _ => {}
        }
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(ErrorDetail(self.to_string()));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::PathBuf;

    use router_core::ProviderId;

    use super::*;
    use crate::upstream::UpstreamError;

    fn failed(error: UpstreamError) -> ApiError {
        ApiError::from(WalkError::Failed {
            error,
            provider: ProviderId::new("openai"),
        })
    }

    #[test]
    fn final_errors_map_to_client_errors() {
        let auth = failed(UpstreamError::from_status(401, None, ""));
        assert_eq!(auth.status().as_u16(), 502);
        assert!(auth.body()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("openai"));
        let bad = failed(UpstreamError::from_status(422, None, "bad schema"));
        assert_eq!(bad.status().as_u16(), 422);
        let five = failed(UpstreamError::from_status(500, None, "db down at 10.0.0.3"));
        assert_eq!(five.status().as_u16(), 502);
        assert!(
            !five.body().to_string().contains("10.0.0.3"),
            "5xx bodies stay generic"
        );
        let none = ApiError::from(WalkError::NoAttempt { no_targets: true });
        assert_eq!(none.status().as_u16(), 503);
        assert_eq!(none.code(), "no_live_candidate");
        let response = none.into_response();
        assert_eq!(response.headers()["x-should-retry"], "false");
        // Open breakers everywhere are transient: a 503 the SDKs may retry.
        let open = failed(UpstreamError::circuit_open());
        assert_eq!(open.status().as_u16(), 503);
        assert!(open
            .into_response()
            .headers()
            .get("x-should-retry")
            .is_none());
    }

    #[test]
    fn an_unconfigured_provider_is_a_404_naming_model_provider_and_fix() {
        let e = ApiError::ProviderNotConfigured {
            model: "gpt-4o".to_owned(),
            provider: "openai".to_owned(),
            hint: "set the environment variable OPENAI_API_KEY to its API key".to_owned(),
        };
        assert_eq!(e.status().as_u16(), 404);
        assert_eq!(e.code(), "model_not_found");
        assert_eq!(e.kind(), "invalid_request_error");
        let message = e.body()["error"]["message"].as_str().unwrap().to_owned();
        for part in ["`gpt-4o`", "`openai`", "OPENAI_API_KEY"] {
            assert!(message.contains(part), "{message}");
        }
    }

    #[test]
    fn reload_refusals_are_4xx_and_a_crashed_loader_stays_generic() {
        let refused = ApiError::from(ReloadError::NoArtifactPath);
        assert_eq!(refused.status().as_u16(), 400);
        assert_eq!(refused.code(), "no_artifact_path");
        let crashed = ApiError::from(ReloadError::LoaderFailed {
            path: PathBuf::from("/srv/secret/artifact"),
            message: "thread panicked at loader.rs:12".to_owned(),
        });
        assert_eq!(crashed.status().as_u16(), 500);
        assert_eq!(crashed.kind(), "server_error");
        let body = crashed.body().to_string();
        assert!(
            !body.contains("/srv/secret") && !body.contains("loader.rs"),
            "{body}"
        );
        let response = crashed.into_response();
        assert!(response.extensions().get::<ErrorDetail>().is_some());
    }
}
