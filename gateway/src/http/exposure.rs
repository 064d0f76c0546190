//! Rules for a gateway reachable from browsers and networks: POST bodies must be declared
//! JSON (415 otherwise), a loopback gateway answers only to loopback `Host` names (DNS
//! rebinding), and CORS headers exist only for the configured origins.
//!
//! A web page can send a cross-origin `text/plain` or form POST without a preflight; requiring
//! `application/json` forces a preflight, which fails without CORS, so such a page cannot
//! spend the provider keys through a gateway on the operator's machine.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::ServerConfig;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Whether the request may carry a body (declared length above zero, or chunked).
fn may_have_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
}

/// Whether the `Content-Type` is JSON (`application/json` or `application/*+json`, any
/// parameters).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some(v) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = v.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("application/json")
        || (mime
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/"))
            && mime.to_ascii_lowercase().ends_with("+json"))
}

/// 415 for a POST with a body that is not declared as JSON.
pub async fn require_json(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && may_have_body(req.headers()) && !is_json(req.headers()) {
        return ApiError::UnsupportedMediaType(
            "POST bodies must be sent with `Content-Type: application/json`".to_owned(),
        )
        .into_response();
    }
    next.run(req).await
}

/// The host part of a `Host` value (`[::1]:8080` → `[::1]`, `localhost:80` → `localhost`).
fn host_part(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

pub(crate) fn loopback_name(host: &str, config: &ServerConfig) -> bool {
    let host = host_part(host).trim_end_matches('.');
    let lower = host.to_ascii_lowercase();
    matches!(lower.as_str(), "localhost" | "127.0.0.1" | "[::1]")
        || lower.ends_with(".localhost")
        || lower
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || config
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
}

/// On a loopback bind, 403 for a `Host` that is not a loopback name: a page on
/// `evil.example` whose DNS now points at 127.0.0.1 still sends `Host: evil.example`.
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let server = &state.config.server;
    if server.bind.ip().is_loopback() {
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            });
        if let Some(host) = host {
            if !loopback_name(&host, server) {
                let shown: String = host.chars().take(100).collect();
                return ApiError::HostNotAllowed(format!(
                    "Host `{shown}` is not served by this loopback gateway; add it to [server] allowed_hosts if a local proxy forwards it"
                ))
                .into_response();
            }
        }
    }
    next.run(req).await
}

/// Request headers a browser may send cross-origin: the API's own (authorization, the JSON
/// content type, Anthropic-style keys and version, the routing knobs, the judge's reference
/// answer, the cache directive) and those the official OpenAI and Anthropic SDKs add when run in a browser, so that
/// their preflight passes.
fn cors_request_headers() -> Vec<HeaderName> {
    let api = [
        "authorization",
        "content-type",
        "x-api-key",
        "anthropic-version",
        crate::judge::HEADER_REFERENCE_ANSWER,
    ];
    let sdks = [
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "openai-organization",
        "openai-project",
        "x-stainless-arch",
        "x-stainless-lang",
        "x-stainless-os",
        "x-stainless-package-version",
        "x-stainless-retry-count",
        "x-stainless-runtime",
        "x-stainless-runtime-version",
        "x-stainless-timeout",
    ];
    api.into_iter()
        .chain(crate::http::request_options::KNOB_HEADERS)
        .chain([crate::cache::HEADER_CACHE])
        .chain(sdks)
        .map(HeaderName::from_static)
        .collect()
}

/// Response headers a cross-origin page may read: every `x-switchyard-*` header the gateway
/// sets, and `Retry-After` for rate limits.
fn cors_exposed_headers() -> Vec<HeaderName> {
    use crate::http::chat::{HEADER_COST_USD, HEADER_MODEL, HEADER_REQUEST_ID, HEADER_ROUTE_MS};
    [
        HEADER_MODEL,
        HEADER_REQUEST_ID,
        HEADER_ROUTE_MS,
        HEADER_COST_USD,
        crate::cache::HEADER_CACHE,
    ]
    .into_iter()
    .map(HeaderName::from_static)
    .chain([header::RETRY_AFTER])
    .collect()
}

/// The CORS layer for `[server] cors_origins`, or `None` (no CORS headers at all).
pub fn cors(config: &ServerConfig) -> Option<CorsLayer> {
    if config.cors_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers(cors_request_headers())
            .expose_headers(cors_exposed_headers()),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (v, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/vnd.api+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("multipart/form-data; boundary=x", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            assert_eq!(is_json(&h), ok, "{v}");
        }
    }

    #[test]
    fn loopback_hosts() {
        let cfg = ServerConfig {
            allowed_hosts: vec!["gw.internal".to_owned()],
            ..ServerConfig::default()
        };
        for (h, ok) in [
            ("localhost:8080", true),
            ("127.0.0.1:1234", true),
            ("127.0.0.2", true),
            ("[::1]:8080", true),
            ("app.localhost", true),
            ("GW.internal:443", true),
            ("evil.example", false),
            ("evil.example:8080", false),
            ("localhost.evil.example", false),
            ("[::2]:80", false),
        ] {
            assert_eq!(loopback_name(h, &cfg), ok, "{h}");
        }
    }
}
