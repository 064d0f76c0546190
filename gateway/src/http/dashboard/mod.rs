//! The dashboard: `GET /dashboard` (one HTML page), `/dashboard/app.js` and
//! `/dashboard/app.css` (its script and style, separate files so that the Content-Security-Policy
//! can forbid every inline script and style), and `GET /dashboard/data` (the JSON the page
//! draws, [`data`]).
//!
//! The page and its assets hold no data and are public; the data needs the admin key
//! (`Authorization: Bearer`), which the page asks for once and keeps in `sessionStorage` (or
//! takes from a `#key=` URL fragment, which browsers never send to a server). Without `[admin]`,
//! the data is served only by a gateway in its open local mode (loopback bind, no client key,
//! no extra `allowed_hosts`): there anyone who can reach it may already use it. Everything is
//! compiled into the binary; the page loads nothing from elsewhere.

mod data;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::http::admin;
use crate::http::error::ApiError;
use crate::state::AppState;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Nothing but the page's own script, style and data; no inline code, no frames, no forms
/// sent anywhere. Trusted Types make any `innerHTML`-style sink throw in the browser, so a
/// slip in the script cannot turn logged text into markup.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
require-trusted-types-for 'script'; trusted-types 'none'";

/// At most this many dashboard reads scan the log at once; others wait their turn. A page
/// refreshes every 30 s, so more than a couple at a time means many open tabs.
static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    protect(h);
    response
}

/// Headers every dashboard answer carries.
fn protect(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// `GET /dashboard`.
pub(crate) async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

/// `GET /dashboard/app.js`.
pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /dashboard/app.css`.
pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// Whether the gateway is open to whoever reaches it anyway: bound to loopback, no client key
/// (so `/v1/*` needs none) and no extra `Host` names that a local proxy might forward from
/// elsewhere.
fn open_local(state: &AppState) -> bool {
    let server = &state.config.server;
    server.bind.ip().is_loopback() && server.allowed_hosts.is_empty() && !state.auth.configured()
}

/// The admin key when `[admin]` is set; else only the open local mode. A wrong key is 401;
/// no admin key on a gateway that is not open locally is 404, as for `/admin/*`.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match admin::authorize(state, headers) {
        Err(ApiError::AdminDisabled) if open_local(state) => Ok(()),
        other => other,
    }
}

/// `GET /dashboard/data?window=24h&buckets=48`.
pub(crate) async fn data(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let q = data::parse_query(query.as_deref())?;
    let window = data::window_at(&q, crate::clock::unix_ms());
    let stats = read_stats(&state, window).await?;
    let mut response = Json(data::render(&state, &q, &window, &stats)).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    protect(h);
    Ok(response)
}

/// Reads the window's aggregates on the blocking pool, at most [`READS`] at a time.
#[expect(
    clippy::disallowed_methods,
    reason = "rare dashboard reads doing SQLite or PostgreSQL I/O, bounded by a semaphore, not encoder work"
)]
async fn read_stats(
    state: &AppState,
    window: outcome_log::Window,
) -> Result<outcome_log::WindowStats, ApiError> {
    let _permit = READS
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("dashboard reads closed: {e}")))?;
    let log = state.config.log.location();
    tokio::task::spawn_blocking(move || outcome_log::window_stats(log, &window, &data::LIMITS))
        .await
        .map_err(|e| ApiError::Internal(format!("dashboard read failed: {e}")))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}
