//! The log of requests the fake received: [`RecordedRequest`] and the [`Wire`] it spoke.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::ScenarioKind;

/// What [`RecordedRequest`] headers and queries show in place of a credential.
pub const REDACTED: &str = "*****";

/// Header names whose values are credentials and never reach the log.
const SECRET_HEADERS: [&str; 4] = ["authorization", "x-api-key", "x-goog-api-key", "api-key"];

/// Query parameters whose values are credentials (Gemini's `key`).
const SECRET_QUERY_PARAMS: [&str; 1] = ["key"];

/// Which vendor API a request spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wire {
    /// OpenAI `POST /v1/chat/completions`.
    OpenAi,
    /// OpenAI `POST /v1/responses`.
    OpenAiResponses,
    /// Anthropic `POST /v1/messages`.
    Anthropic,
    /// Google Gemini `POST /v1beta/models/{model}:generateContent` and
    /// `:streamGenerateContent`.
    Gemini,
}

/// One request as the fake received it, with credentials redacted.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The API the request spoke.
    pub wire: Wire,
    /// The HTTP method, such as `POST`.
    pub method: String,
    /// The path, such as `/v1/messages`.
    pub path: String,
    /// The query string, with the `key` parameter's value replaced by [`REDACTED`].
    pub query: Option<String>,
    /// Headers by lowercase name (repeated headers joined with `, `), with credential values
    /// replaced by [`REDACTED`] so tests can still see that one was sent.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, or `Value::Null` when the body was not JSON.
    pub body: Value,
    /// The model named by the body (or the Gemini path), when there was one.
    pub model: Option<String>,
    /// Whether the request asked for a stream.
    pub stream: bool,
    /// The scenario the fake played; `None` when it rejected the request before playing one
    /// (missing credentials, invalid JSON, missing required fields).
    pub scenario: Option<ScenarioKind>,
}

impl RecordedRequest {
    /// The value of a header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Copies headers with credential values redacted.
pub(crate) fn redact_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        let value = if SECRET_HEADERS.contains(&name.as_str()) {
            REDACTED.to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        out.entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// Copies a query string with credential parameter values redacted.
pub(crate) fn redact_query(query: Option<&str>) -> Option<String> {
    query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_QUERY_PARAMS.contains(&k) => format!("{k}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// The value of one query parameter, undecoded (the fake only reads `key` and `alt`).
pub(crate) fn query_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn secrets_are_redacted_but_visible() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "sk-secret".parse().unwrap());
        headers.insert("anthropic-version", "2023-06-01".parse().unwrap());
        let out = redact_headers(&headers);
        assert_eq!(out["x-api-key"], REDACTED);
        assert_eq!(out["anthropic-version"], "2023-06-01");
        assert_eq!(
            redact_query(Some("alt=sse&key=abc")).as_deref(),
            Some("alt=sse&key=*****")
        );
        assert_eq!(query_param(Some("alt=sse&key=abc"), "key"), Some("abc"));
        assert_eq!(query_param(None, "key"), None);
    }
}
