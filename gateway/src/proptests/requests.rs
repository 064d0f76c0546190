//! Client input: chat, feedback and route bodies, and the headers the gateway reads. A
//! refusal must be a 4xx with an OpenAI-shaped body; what passes must translate into every
//! provider dialect without a panic.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use router_core::Objective;

use super::{cases, json_text, mutated, tree};
use crate::http::error::ApiError;
use crate::http::request_options::{merged_options, prompt_text, resolve_model, routing_input};
use crate::http::{exposure, feedback, route, validate};
use crate::openai::wire::ChatCompletionRequest;
use crate::upstream::providers::{anthropic, gemini};

/// Keys of chat request bodies, at every level.
const CHAT_KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "name",
    "tool_calls",
    "tool_call_id",
    "id",
    "function",
    "arguments",
    "tools",
    "description",
    "parameters",
    "tool_choice",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "stream",
    "stream_options",
    "include_usage",
    "response_format",
    "json_schema",
    "n",
    "user",
    "presence_penalty",
    "frequency_penalty",
    "router",
    "max_cost_usd",
    "min_quality",
    "max_latency_ms",
    "willingness_to_pay",
    "candidates",
    "exclude",
];

/// Valid chat bodies covering each feature the gateway reads or translates.
const CHAT_TEMPLATES: &[&str] = &[
    r#"{"model":"auto","messages":[{"role":"user","content":"hi"}]}"#,
    r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":64,"temperature":0.5,"top_p":0.9,"stop":["\n"],"n":1,"user":"u1"}"#,
    r#"{"model":"auto","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]}]}"#,
    r#"{"model":"claude-haiku-4.5","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":[{"type":"function","function":{"name":"weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"auto"}"#,
    r#"{"model":"gemini-2.5-flash","messages":[{"role":"developer","content":"json only"},{"role":"user","content":"list"}],"response_format":{"type":"json_object"},"max_completion_tokens":100,"tool_choice":{"type":"function","function":{"name":"f"}}}"#,
    r#"{"model":"auto","messages":[{"role":"user","content":"hi"}],"router":{"max_cost_usd":0.01,"min_quality":0.5,"max_latency_ms":2000,"willingness_to_pay":0.2,"candidates":["gpt-4o","gpt-4o-mini"],"exclude":["gpt-4o"]},"presence_penalty":0.5,"frequency_penalty":-0.5}"#,
];

fn catalog() -> &'static models::Catalog {
    static CATALOG: OnceLock<models::Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| models::Catalog::load_with_defaults(None).expect("embedded catalog"))
}

/// A refusal of client input: a 4xx whose body is `{"error": {message, type, code}}`.
fn client_error(e: &ApiError) -> Result<(), TestCaseError> {
    prop_assert!(
        e.status().is_client_error(),
        "{} for client input: {e}",
        e.status()
    );
    let body = e.body();
    for field in ["message", "type", "code"] {
        prop_assert!(body["error"][field].is_string(), "{body}");
    }
    Ok(())
}

/// Headers as a client may send them: the ones the gateway reads, with hostile values.
fn headers() -> impl Strategy<Value = HeaderMap> {
    const NAMES: &[&str] = &[
        "authorization",
        "x-api-key",
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
        "x-switchyard-max-cost-usd",
        "x-switchyard-min-quality",
        "x-switchyard-max-latency-ms",
        "x-switchyard-willingness-to-pay",
        "x-switchyard-candidates",
        "x-switchyard-exclude",
    ];
    const VALUES: &[&str] = &[
        "",
        "Bearer sy-abc",
        "bearer  sy-abc ",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/VND.API+JSON",
        "application/",
        "text/plain",
        "localhost",
        "localhost:8080",
        "127.0.0.1:80",
        "[::1]:8080",
        "[::1",
        "evil.example:8080",
        "localhost.",
        ":",
        "0",
        "-1",
        "NaN",
        "inf",
        "1e309",
        "0.5",
        "gpt-4o,gpt-4o-mini",
        ",,,",
        "gpt-4o, ,nope",
    ];
    prop::collection::vec(
        (
            prop::sample::select(NAMES),
            prop_oneof![
                prop::sample::select(VALUES).prop_map(|v| v.as_bytes().to_vec()),
                prop::collection::vec(any::<u8>(), 0..64),
                (1usize..20_000).prop_map(|n| vec![b'a'; n]),
            ],
        ),
        0..6,
    )
    .prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                map.append(HeaderName::from_static(name), v);
            }
        }
        map
    })
}

/// What the chat handler does with a body before it calls an upstream, as functions.
fn check_chat(body: &[u8], headers: &HeaderMap) -> Result<(), TestCaseError> {
    let req: ChatCompletionRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return client_error(&ApiError::InvalidJson(e.to_string())),
    };
    let _ = prompt_text(&req.messages);
    let checked = validate::sampling(&req, crate::http::chat::Dialect::OpenAi)
        .and_then(|()| merged_options(req.router.as_ref(), headers))
        .and_then(|options| {
            routing_input(
                catalog(),
                &req.messages,
                &req,
                options,
                Objective::from_willingness_to_pay(0.2).expect("valid"),
            )
        })
        .and_then(|_| match req.model.as_str() {
            "auto" => Ok(()),
            name => resolve_model(catalog(), name).map(|_| ()),
        });
    if let Err(e) = checked {
        return client_error(&e);
    }
    // Accepted requests translate (or are refused as untranslatable) without a panic, and
    // what goes upstream is valid JSON.
    if let Ok(body) =
        anthropic::messages_request(&req, "claude-x", req.is_stream(), &Default::default())
    {
        prop_assert!(serde_json::to_vec(&body).is_ok());
    }
    if let Ok(body) =
        gemini::generate_request(&req, "gemini-3.5-flash", &gemini::Signatures::default())
    {
        prop_assert!(serde_json::to_vec(&body).is_ok());
    }
    prop_assert!(serde_json::to_vec(&req).is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn fuzz_chat_bodies_are_accepted_or_a_4xx(
        body in json_text(mutated(CHAT_TEMPLATES, CHAT_KEYS)),
        headers in headers(),
    ) {
        check_chat(&body, &headers)?;
    }

    #[test]
    fn fuzz_chat_bodies_from_random_trees_are_accepted_or_a_4xx(
        body in json_text(tree(CHAT_KEYS)),
    ) {
        check_chat(&body, &HeaderMap::new())?;
    }

    #[test]
    fn fuzz_chat_bodies_from_random_bytes_are_a_400(
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        check_chat(&body, &HeaderMap::new())?;
    }

    #[test]
    fn fuzz_feedback_bodies_are_accepted_or_a_400(
        body in json_text(mutated(
            &[
                r#"{"request_id":"req_0123456789abcdef0123456789abcdef","metric":"thumbs_up","score":true}"#,
                r#"{"request_id":"r","metric":"m","score":0.5}"#,
            ],
            &["request_id", "metric", "score"],
        )),
    ) {
        match feedback::parse(&body) {
            Ok(label) => {
                prop_assert!((0.0..=1.0).contains(&label.feedback.score));
                prop_assert!(!label.request_id.trim().is_empty() && label.request_id.len() <= 128);
                prop_assert!(!label.feedback.metric.trim().is_empty());
                // PostgreSQL refuses NUL in text: nothing accepted may carry it.
                prop_assert!(!label
                    .request_id
                    .chars()
                    .chain(label.feedback.metric.chars())
                    .any(char::is_control));
            }
            Err(e) => {
                prop_assert_eq!(e.status().as_u16(), 400);
                client_error(&e)?;
            }
        }
    }

    #[test]
    fn fuzz_route_bodies_are_accepted_or_a_4xx(
        value in mutated(
            &[
                r#"{"prompt":"hi"}"#,
                r#"{"prompt":"hi","router":{"max_cost_usd":0.01}}"#,
                r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
            ],
            CHAT_KEYS,
        ),
    ) {
        match route::route_request(value) {
            Ok(req) => check_chat(&serde_json::to_vec(&req).unwrap(), &HeaderMap::new())?,
            Err(e) => client_error(&e)?,
        }
    }

    #[test]
    fn fuzz_headers_are_read_without_a_panic(headers in headers()) {
        let _ = crate::auth::presented_key(&headers);
        let _ = exposure::is_json(&headers);
        let server = crate::config::ServerConfig::default();
        for host in headers.get_all("host") {
            if let Ok(h) = host.to_str() {
                let _ = exposure::loopback_name(h, &server);
            }
        }
        if let Err(e) = merged_options(None, &headers) {
            client_error(&e)?;
        }
    }
}
