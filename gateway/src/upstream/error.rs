//! [`UpstreamError`]: what went wrong with an upstream call, with the fields failover reads
//! (`source`, `retryable`, `bytes_sent`), and the parsing of `Retry-After`.

use std::time::Duration;

/// Who caused an upstream error (pingora's `ErrorSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorSource {
    /// The upstream failed or refused.
    Upstream,
    /// The client's request was at fault (the upstream said 400, 404, 413, 422...).
    Downstream,
    /// The gateway itself failed.
    Internal,
}

/// What went wrong with an upstream call, in low-cardinality terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamErrorKind {
    /// Could not connect (DNS, refused, TLS).
    Connect,
    /// No first token within the time-to-first-token (or reasoning) budget.
    TtftTimeout,
    /// The attempt or stream ran out of time.
    Timeout,
    /// 429.
    RateLimited,
    /// 5xx.
    ServerError,
    /// 401 or 403: the configured key is wrong or lacks access.
    Auth,
    /// 404: the upstream does not know the model or the path (a configuration problem of the
    /// gateway, not the client's: another candidate may work).
    NotFound,
    /// Other 4xx: the request itself was refused.
    BadRequest,
    /// The body or a chunk could not be decoded.
    Decode,
    /// The stream ended without its terminal event or the connection broke mid-body.
    StreamTruncated,
    /// The provider's circuit breaker is open.
    CircuitOpen,
    /// Any other transport failure.
    Transport,
    /// The gateway ended the call because it is shutting down.
    Shutdown,
    /// The answer is larger than `server.upstream_response_limit_bytes`.
    TooLarge,
    /// 3xx: the provider redirected the call, which the gateway does not follow (a
    /// configuration problem, like a 404: another candidate may work).
    Redirect,
}

impl UpstreamErrorKind {
    /// Metric and outcome label.
    pub fn label(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::TtftTimeout => "ttft_timeout",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::RateLimited => "rate_limited",
            UpstreamErrorKind::ServerError => "server_error",
            UpstreamErrorKind::Auth => "auth",
            UpstreamErrorKind::NotFound => "not_found",
            UpstreamErrorKind::BadRequest => "bad_request",
            UpstreamErrorKind::Decode => "decode",
            UpstreamErrorKind::StreamTruncated => "stream_truncated",
            UpstreamErrorKind::CircuitOpen => "circuit_open",
            UpstreamErrorKind::Transport => "transport",
            UpstreamErrorKind::Shutdown => "shutdown",
            UpstreamErrorKind::TooLarge => "too_large",
            UpstreamErrorKind::Redirect => "redirect",
        }
    }
}

/// An upstream call's failure. Failover reads only `source`, `retryable` and `bytes_sent`.
#[derive(Clone, Debug)]
pub struct UpstreamError {
    /// What went wrong.
    pub kind: UpstreamErrorKind,
    /// Who caused it.
    pub source: ErrorSource,
    /// Whether another attempt (on this or another model) may succeed.
    pub retryable: bool,
    /// Whether bytes of this answer already reached the client (set by the gateway; adapters
    /// leave it false). Once true, failover stops.
    pub bytes_sent: bool,
    /// The upstream's HTTP status, when one came back.
    pub status: Option<u16>,
    /// The upstream's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// A short human description; never contains keys.
    pub message: String,
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upstream {}: {}", self.kind.label(), self.message)
    }
}

// Implemented by hand: thiserror would treat the `source` field as the error's cause.
impl std::error::Error for UpstreamError {}

/// Whether a 429's body says the account's quota is spent (OpenAI's `insufficient_quota`, as
/// `error.code` or `error.type`) rather than a rate exceeded.
fn spent_quota(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    ["/error/code", "/error/type"]
        .iter()
        .any(|p| v.pointer(p).and_then(serde_json::Value::as_str) == Some("insufficient_quota"))
}

/// Whether a 404's body says the path is wrong (a wrong `base_url`) rather than that the
/// model, a deployment or what the request asked for is missing: an empty body, an HTML page,
/// a web framework's bare "Not Found" (Go's "404 page not found", FastAPI's `{"detail": "Not
/// Found"}`, Express's "Cannot POST /…"), or OpenAI's "Invalid URL (POST /v1/v1/…)". Anything
/// else is not the provider's fault: every vendor's model-not-found names the model or
/// deployment, and OpenRouter answers 404 "No endpoints found that support tool use" to a
/// request its routes cannot serve.
fn wrong_path(body: &str) -> bool {
    let trimmed = body.trim();
    if trimmed.is_empty() || trimmed.starts_with('<') {
        return true;
    }
    let detail = serde_json::from_str::<serde_json::Value>(trimmed)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned));
    let message = detail.unwrap_or_else(|| extract_message(trimmed));
    let m = message.trim().trim_end_matches('.').to_ascii_lowercase();
    m.contains("invalid url")
        || m.starts_with("cannot post")
        || m.starts_with("cannot get")
        || matches!(
            m.as_str(),
            "not found" | "404 not found" | "404 page not found" | "404: not found"
        )
}

/// Longest upstream message kept; longer bodies are cut to keep logs and errors small.
const MAX_MESSAGE_CHARS: usize = 300;

impl UpstreamError {
    /// A request an adapter cannot translate to its vendor's API (a conversation without a
    /// user turn for Claude or Gemini, tool-call arguments that are not JSON): valid for other
    /// APIs, so the next candidate is tried (breaker-neutral); with none left the client gets
    /// this 400.
    pub(crate) fn untranslatable(message: impl Into<String>) -> Self {
        Self::new(
            UpstreamErrorKind::BadRequest,
            ErrorSource::Downstream,
            true,
            message.into(),
        )
    }

    /// Every constructor goes through here, so that no message grows past
    /// [`MAX_MESSAGE_CHARS`] (serde's decode errors quote the offending value whole).
    fn new(kind: UpstreamErrorKind, source: ErrorSource, retryable: bool, message: String) -> Self {
        let message = if message.chars().nth(MAX_MESSAGE_CHARS).is_some() {
            message.chars().take(MAX_MESSAGE_CHARS).collect()
        } else {
            message
        };
        UpstreamError {
            kind,
            source,
            retryable,
            bytes_sent: false,
            status: None,
            retry_after: None,
            message,
        }
    }

    /// The low-cardinality label.
    pub fn label(&self) -> &'static str {
        self.kind.label()
    }

    /// A transport error from reqwest.
    pub fn from_reqwest(err: &reqwest::Error) -> Self {
        // reqwest's Display may include the URL but never headers, so the key cannot leak.
        let kind = if err.is_connect() {
            UpstreamErrorKind::Connect
        } else if err.is_timeout() {
            UpstreamErrorKind::Timeout
        } else if err.is_decode() {
            UpstreamErrorKind::Decode
        } else if err.is_body() {
            UpstreamErrorKind::StreamTruncated
        } else {
            UpstreamErrorKind::Transport
        };
        let mut e = Self::new(kind, ErrorSource::Upstream, true, err.to_string());
        e.status = err.status().map(|s| s.as_u16());
        e
    }

    /// A non-2xx answer. `body` is the raw response body; only its error message is kept.
    pub fn from_status(status: u16, retry_after: Option<Duration>, body: &str) -> Self {
        // The gateway's account, not the request nor a rate: a 402 (OpenRouter's credits,
        // DeepSeek's "Insufficient Balance") and OpenAI's 429 `insufficient_quota` (a spent
        // balance, which no wait cures). As a 429 it would only cool the model down for a
        // second at a time, and the dead key would be called forever.
        if status == 402 || (status == 429 && spent_quota(body)) {
            return Self::account(status, body);
        }
        let (kind, source, retryable) = match status {
            429 => (UpstreamErrorKind::RateLimited, ErrorSource::Upstream, true),
            401 | 403 => (UpstreamErrorKind::Auth, ErrorSource::Upstream, true),
            408 => (UpstreamErrorKind::Timeout, ErrorSource::Upstream, true),
            // One model's problem (renamed or withdrawn), not the provider's: another
            // candidate may serve, and the provider's breaker must not open for the other
            // models it serves (the gateway's catalog is what is wrong).
            404 if !wrong_path(body) => (UpstreamErrorKind::NotFound, ErrorSource::Internal, true),
            // A 404 about the path: a wrong `base_url`, which fails every model of the
            // provider. Counted by its breaker, so that each request does not pay a round
            // trip to it.
            404 => {
                let mut e = Self::new(
                    UpstreamErrorKind::NotFound,
                    ErrorSource::Upstream,
                    true,
                    format!(
                        "{} (a 404 for the path: check the provider's base_url)",
                        Some(extract_message(body))
                            .filter(|m| !m.trim().is_empty())
                            .unwrap_or_else(|| "Not Found".to_owned())
                    ),
                );
                e.status = Some(status);
                e.retry_after = retry_after;
                return e;
            }
            300..=399 => (UpstreamErrorKind::Redirect, ErrorSource::Upstream, true),
            500..=599 => (UpstreamErrorKind::ServerError, ErrorSource::Upstream, true),
            _ => (
                UpstreamErrorKind::BadRequest,
                ErrorSource::Downstream,
                false,
            ),
        };
        let mut e = Self::new(kind, source, retryable, extract_message(body));
        e.status = Some(status);
        e.retry_after = retry_after;
        e
    }

    /// A refusal caused by the gateway's account with the provider rather than by the
    /// request: a spent credit balance, a reached spend limit, billing not enabled, a region
    /// the account may not use. Like a refused key ([`UpstreamErrorKind::Auth`]): another
    /// provider (or key) may serve the request, the provider's circuit breaker counts it, and
    /// the client is not shown the operator's billing state as its own bad request. `status`
    /// is the upstream's (such as 400 or 402), kept for the logs.
    pub(crate) fn account(status: u16, body: &str) -> Self {
        let mut e = Self::new(
            UpstreamErrorKind::Auth,
            ErrorSource::Upstream,
            true,
            extract_message(body),
        );
        e.status = Some(status);
        e
    }

    /// A 3xx answer, not followed: a redirect would carry the provider's key (`x-api-key`,
    /// `x-goog-api-key`: reqwest drops only `Authorization` and cookies on a cross-host hop)
    /// and the prompt to the address it names. `location` is that address, for the operator.
    pub fn redirect(status: u16, location: Option<&str>) -> Self {
        let to = location.map_or_else(String::new, |l| {
            format!(
                " to {}",
                l.chars().take(MAX_MESSAGE_CHARS).collect::<String>()
            )
        });
        let mut e = Self::new(
            UpstreamErrorKind::Redirect,
            ErrorSource::Upstream,
            true,
            format!(
                "the provider redirected the call ({status}){to}; redirects are not followed \
                 (they would take the API key and the prompt elsewhere): set the provider's \
                 base_url to the address it redirects to"
            ),
        );
        e.status = Some(status);
        e
    }

    /// A body or chunk that does not parse.
    pub fn decode(what: impl Into<String>) -> Self {
        Self::new(
            UpstreamErrorKind::Decode,
            ErrorSource::Upstream,
            true,
            what.into(),
        )
    }

    /// A stream that ended without its terminal event.
    pub fn stream_truncated(what: impl Into<String>) -> Self {
        Self::new(
            UpstreamErrorKind::StreamTruncated,
            ErrorSource::Upstream,
            true,
            what.into(),
        )
    }

    /// An attempt that ran out of time; `ttft` when no first token had arrived.
    pub fn timeout(ttft: bool) -> Self {
        let (kind, message) = if ttft {
            (
                UpstreamErrorKind::TtftTimeout,
                "no first token within the time-to-first-token budget",
            )
        } else {
            (UpstreamErrorKind::Timeout, "the attempt ran out of time")
        };
        Self::new(kind, ErrorSource::Upstream, true, message.to_owned())
    }

    /// The same refusal, made worth another candidate: the request is valid for other APIs
    /// (see [`UpstreamError::untranslatable`]); breaker-neutral as before.
    pub(crate) fn elsewhere(mut self) -> Self {
        self.retryable = true;
        self.source = ErrorSource::Downstream;
        self
    }

    /// `n` above 1 to an API that gives one answer: a 400 at once, no failover. `auto` never
    /// picks such a model for it (`RequestShape::MultipleChoices`), so only a client that
    /// named the model gets here, and another model's answers are not what it asked for.
    pub(crate) fn one_answer_only(message: impl Into<String>) -> Self {
        Self::new(
            UpstreamErrorKind::BadRequest,
            ErrorSource::Downstream,
            false,
            message.into(),
        )
    }

    /// A model skipped while it cools down after a 429 ([`crate::upstream::cooldown`]): the
    /// client gets a 429 with the time left, as the upstream would have answered.
    pub fn cooling_down(left: Duration) -> Self {
        let mut e = Self::new(
            UpstreamErrorKind::RateLimited,
            ErrorSource::Internal,
            true,
            format!(
                "rate limited: cooling down for another {:.1} s after the provider's 429",
                left.as_secs_f64()
            ),
        );
        e.status = Some(429);
        e.retry_after = Some(left);
        e
    }

    /// An attempt ended by the request's own deadline rather than by the attempt's time
    /// limits: the upstream was not shown to be slow (a late candidate gets what earlier ones
    /// left), so its circuit breaker does not count it.
    pub fn past_deadline(mut self) -> Self {
        self.source = ErrorSource::Internal;
        self.message = "the request's deadline ended the attempt".to_owned();
        self
    }

    /// The gateway is shutting down and ended the call.
    pub fn shutting_down() -> Self {
        Self::new(
            UpstreamErrorKind::Shutdown,
            ErrorSource::Internal,
            false,
            "the gateway is shutting down".to_owned(),
        )
    }

    /// The answer passed `limit` bytes. Retryable: another candidate may answer shorter.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            UpstreamErrorKind::TooLarge,
            ErrorSource::Upstream,
            true,
            format!("the answer is larger than {limit} bytes"),
        )
    }

    /// The provider's circuit breaker refused the attempt.
    pub fn circuit_open() -> Self {
        Self::new(
            UpstreamErrorKind::CircuitOpen,
            ErrorSource::Internal,
            true,
            "circuit breaker open".to_owned(),
        )
    }
}

/// Pulls `error.message` (OpenAI, Anthropic, Gemini shapes) out of an error body; falls back to
/// the start of the raw body.
fn extract_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str())
        })
        .unwrap_or(body);
    msg.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// Longest `Retry-After` taken from an upstream. Anything longer is clamped to it: the wait
/// is bounded by the request deadline anyway, and an hour is already "not for this request".
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` header given in seconds. Hostile values never panic: a negative,
/// NaN or unparsable value (the HTTP-date form included) is ignored, a huge one is clamped to
/// [`MAX_RETRY_AFTER`].
pub fn retry_after_from_headers(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value)
}

/// The seconds form of `Retry-After`, clamped (see [`retry_after_from_headers`]).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    // `try_from_secs_f64` refuses infinity and overflow; both mean "longer than the cap".
    Some(
        Duration::try_from_secs_f64(secs)
            .unwrap_or(MAX_RETRY_AFTER)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn status_classification() {
        let e = UpstreamError::from_status(429, Some(Duration::from_secs(2)), "");
        assert!(e.retryable);
        assert_eq!(e.label(), "rate_limited");
        let e = UpstreamError::from_status(503, None, "oops");
        assert!(e.retryable);
        assert_eq!(e.source, ErrorSource::Upstream);
        let e = UpstreamError::from_status(400, None, r#"{"error":{"message":"bad tool"}}"#);
        assert!(!e.retryable);
        assert_eq!(e.source, ErrorSource::Downstream);
        assert_eq!(e.message, "bad tool");
        let e = UpstreamError::from_status(401, None, "");
        assert_eq!(e.kind, UpstreamErrorKind::Auth);
        // An upstream 404 is a wrong model name in the gateway's catalog: try another model.
        // Not the provider's fault: its breaker must not shut its other models out.
        for model_gone in [
            r#"{"error": {"message": "No endpoints found that support tool use. To learn more about provider routing, visit: https://openrouter.ai/docs/provider-routing", "code": 404}}"#,
            r#"{"error": {"message": "The model `gpt-9` does not exist or you do not have access to it.", "type": "invalid_request_error", "code": "model_not_found"}}"#,
            r#"{"type": "error", "error": {"type": "not_found_error", "message": "model: claude-9"}}"#,
            r#"{"error": {"code": 404, "message": "models/gemini-9 is not found for API version v1beta", "status": "NOT_FOUND"}}"#,
            r#"{"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}}"#,
            r#"{"error": "model \"llama9\" not found, try pulling it first"}"#,
        ] {
            let e = UpstreamError::from_status(404, None, model_gone);
            assert!(e.retryable, "{model_gone}");
            assert_eq!(e.source, ErrorSource::Internal, "{model_gone}");
        }
        // A 404 about the path is the provider's (a wrong base_url fails all its models):
        // its breaker counts it.
        for wrong_path in [
            "",
            "404 page not found",
            "<html><body><h1>404 Not Found</h1></body></html>",
            r#"{"detail": "Not Found"}"#,
            "Cannot POST /wrong/chat/completions",
            r#"{"error": {"message": "Invalid URL (POST /v1/v1/chat/completions)", "type": "invalid_request_error", "code": null}}"#,
        ] {
            let e = UpstreamError::from_status(404, None, wrong_path);
            assert!(e.retryable, "{wrong_path}");
            assert_eq!(e.source, ErrorSource::Upstream, "{wrong_path}");
            assert_eq!(e.kind, UpstreamErrorKind::NotFound);
            assert!(
                e.message.contains("check the provider's base_url"),
                "{}",
                e.message
            );
        }
        // A spent balance is the account's, whatever the status: no cool-down cures it.
        let quota = r#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#;
        for (status, body) in [(429, quota), (402, "{}")] {
            let e = UpstreamError::from_status(status, None, body);
            assert_eq!(e.kind, UpstreamErrorKind::Auth, "{status}");
            assert!(e.retryable && e.source == ErrorSource::Upstream, "{status}");
        }
        let rate = r#"{"error": {"type": "requests", "code": "rate_limit_exceeded"}}"#;
        assert_eq!(
            UpstreamError::from_status(429, None, rate).kind,
            UpstreamErrorKind::RateLimited
        );
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(10_000);
        let e = UpstreamError::from_status(500, None, &body);
        assert_eq!(e.message.len(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "1.5".parse().unwrap());
        assert_eq!(
            retry_after_from_headers(&h),
            Some(Duration::from_millis(1500))
        );
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after_from_headers(&h), None);
    }

    #[test]
    fn issue_11_hostile_retry_after_is_clamped_or_ignored() {
        for huge in [
            "1000000000000000019884624838656",
            "1e308",
            "inf",
            "18446744073709551616",
        ] {
            assert_eq!(parse_retry_after(huge), Some(MAX_RETRY_AFTER), "{huge}");
        }
        for bad in ["-1", "NaN", "-inf", "", "soon", "1e999999"] {
            let parsed = parse_retry_after(bad);
            assert!(
                parsed.is_none_or(|d| d <= MAX_RETRY_AFTER),
                "{bad}: {parsed:?}"
            );
        }
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
    }
}
