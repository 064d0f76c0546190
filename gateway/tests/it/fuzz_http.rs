//! The HTTP layer fuzzed through a real gateway on 127.0.0.1:0 with the testkit fake
//! upstream: hostile bodies on every POST endpoint, hostile headers with client keys on, and
//! hostile SSE bodies from the upstream. Properties: never a 5xx for a client's input, every
//! 4xx in OpenAI's error shape, no 2xx without the key, and a relayed stream ends with
//! exactly one of `[DONE]` or an error event.
//!
//! The parsers themselves are fuzzed as functions in `gateway/src/proptests` (far more
//! cases); `PROPTEST_CASES` raises the count here too (docs/security.md, "Fuzzing").

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use testkit::Scenario;

use crate::e2e_harness::{sse_data, Harness};

/// `default` proptest cases, or `PROPTEST_CASES`.
pub(crate) fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A two-worker runtime for driving a gateway from a synchronous proptest runner.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Strings the OpenAI-shaped bodies know (models, roles, content types, ids).
const WORDS: &[&str] = &[
    "",
    "auto",
    "gpt-4o",
    "gpt-4o-mini",
    "claude-haiku-4.5",
    "gemini-2.5-flash",
    "no-such-model",
    "user",
    "assistant",
    "system",
    "tool",
    "text",
    "image_url",
    "json_object",
    "required",
    "\u{0}",
    "req_00000000000000000000000000000000",
];

/// Field names of the OpenAI-shaped bodies.
const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "tools",
    "tool_choice",
    "tool_calls",
    "temperature",
    "top_p",
    "max_tokens",
    "n",
    "stream",
    "stream_options",
    "include_usage",
    "response_format",
    "router",
    "candidates",
    "exclude",
    "willingness_to_pay",
    "max_cost_usd",
    "min_quality",
    "prompt",
    "request_id",
    "metric",
    "score",
];

/// Hostile JSON values: any scalar, the given `words`, and nested arrays and objects whose
/// keys are drawn from `keys`. Shared by every HTTP fuzzer (each with its API's vocabulary).
pub(crate) fn hostile_json(
    words: &'static [&'static str],
    keys: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(&[0.0, -0.0, 5e-324, 0.5, 1.0, 2.5, -1.0, 1e300][..])
            .prop_map(Value::from),
        prop::sample::select(words).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    scalar.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((hostile_key(keys), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A field name from `keys`.
pub(crate) fn hostile_key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(keys).prop_map(str::to_owned)
}

fn tree() -> impl Strategy<Value = Value> {
    hostile_json(WORDS, KEYS)
}

fn key() -> impl Strategy<Value = String> {
    hostile_key(KEYS)
}

/// A valid body for `path`, with a few fields (top level, in `router` or in the first
/// message) set to hostile values, and now and then cut short.
fn body() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    (
        prop::sample::select(&["/v1/chat/completions", "/v1/route", "/v1/feedback"][..]),
        any::<bool>(),
        prop::collection::vec((0u8..3, key(), tree()), 0..4),
        any::<u8>(),
        any::<usize>(),
    )
        .prop_map(|(path, stream, edits, damage, at)| {
            let mut v = match path {
                "/v1/feedback" => json!({"request_id": "req_00000000000000000000000000000000",
                                         "metric": "thumbs_up", "score": 1}),
                "/v1/route" => json!({"prompt": "hi"}),
                _ => json!({"model": "auto", "stream": stream,
                            "messages": [{"role": "user", "content": "hi"}]}),
            };
            for (place, k, value) in edits {
                let target = match place {
                    0 => Some(&mut v),
                    1 => v
                        .as_object_mut()
                        .map(|o| o.entry("router").or_insert_with(|| json!({}))),
                    _ => v.pointer_mut("/messages/0"),
                };
                if let Some(Value::Object(o)) = target {
                    o.insert(k, value);
                }
            }
            let mut text = serde_json::to_vec(&v).unwrap();
            if damage % 8 == 0 {
                text.truncate(at % text.len());
            }
            (path, text)
        })
}

/// Checks an answer: below 500; a 4xx is OpenAI-shaped; a 2xx stream ends with exactly
/// one of `[DONE]` or an error event.
fn check(status: u16, content_type: &str, text: &str, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{} for {}: {}", status, what, text);
    if status >= 400 {
        openai_error(text)?;
    } else if content_type.starts_with("text/event-stream") {
        let data = sse_data(text);
        let done = data.iter().filter(|d| *d == "[DONE]").count();
        let errors = data
            .iter()
            .filter(|d| serde_json::from_str::<Value>(d).is_ok_and(|v| v.get("error").is_some()))
            .count();
        prop_assert_eq!(done + errors, 1, "{}: {}", what, text);
        prop_assert!(data
            .last()
            .is_some_and(|d| d == "[DONE]" || d.contains("\"error\"")));
    } else {
        prop_assert!(serde_json::from_str::<Value>(text).is_ok(), "{}", text);
    }
    Ok(())
}

/// `{"error": {"message", "type", "code"}}`.
fn openai_error(text: &str) -> Result<(), TestCaseError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| TestCaseError::fail(format!("error body is not JSON ({e}): {text}")))?;
    for field in ["message", "type", "code"] {
        prop_assert!(v["error"][field].is_string(), "{}", v);
    }
    // OpenAI's shape always has `param` (null or the field at fault).
    let param = &v["error"]["param"];
    prop_assert!(param.is_null() || param.is_string(), "{}", v);
    prop_assert!(v["error"].get("param").is_some(), "{}", v);
    Ok(())
}

async fn send(
    h: &Harness,
    path: &str,
    headers: &[(&str, Vec<u8>)],
    body: Vec<u8>,
) -> (u16, String, String) {
    let mut req = h.client.post(h.url(path)).body(body);
    for (name, value) in headers {
        if let Ok(v) = reqwest::header::HeaderValue::from_bytes(value) {
            req = req.header(*name, v);
        }
    }
    let resp = req.send().await.expect("the gateway answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, resp.text().await.unwrap_or_default())
}

#[test]
fn fuzz_http_bodies_get_an_answer_or_a_4xx_never_a_5xx() {
    let rt = runtime();
    let h = rt.block_on(Harness::openai());
    let json = vec![("content-type", b"application/json".to_vec())];
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    TestRunner::new(cases(96))
        .run(&body(), |(path, body)| {
            let what = format!("{path} {}", String::from_utf8_lossy(&body));
            let (status, content_type, text) = rt.block_on(send(&h, path, &json, body));
            *seen.borrow_mut().entry(status).or_default() += 1;
            check(status, &content_type, &text, &what)
        })
        .unwrap();
    rt.block_on(h.stop());
    // The inputs reach both sides: answered requests and refused ones.
    let seen = seen.into_inner();
    assert!(seen.keys().any(|s| *s < 300), "{seen:?}");
    assert!(seen.keys().any(|s| *s >= 400), "{seen:?}");
}

/// Header values around what the gateway reads: keys, content types, hosts.
fn header_value(valid_key: String) -> impl Strategy<Value = Vec<u8>> {
    let bearer = format!("Bearer {valid_key}");
    prop_oneof![
        Just(bearer.clone().into_bytes()),
        Just(valid_key.clone().into_bytes()),
        Just(format!("bearer   {valid_key}  ").into_bytes()),
        Just(format!("{bearer}x").into_bytes()),
        Just(bearer.as_bytes()[..bearer.len() - 1].to_vec()),
        Just(format!("Basic {valid_key}").into_bytes()),
        prop::sample::select(
            &[
                "",
                "Bearer",
                "Bearer ",
                "application/json",
                "application/json; charset=utf-8",
                "application/problem+json",
                "text/plain",
                "multipart/form-data; boundary=x",
                "localhost",
                "localhost:1",
                "127.0.0.1",
                "[::1]:80",
                "evil.example",
                "localhost.evil.example",
                "[::1",
                "0",
                "-1",
                "nan",
                "gpt-4o,,",
            ][..]
        )
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..48),
    ]
}

#[test]
fn fuzz_http_headers_with_client_keys_never_pass_without_the_key() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outcomes.sqlite");
    let (_, key) = gateway::auth::KeyStore::open(&db)
        .unwrap()
        .create(
            &gateway::auth::NewKey {
                name: "fuzz".to_owned(),
                ..Default::default()
            },
            0,
        )
        .unwrap();
    let key = key.expose().clone();
    let h = rt.block_on(async {
        let fake = testkit::FakeProvider::start().await;
        let providers = crate::e2e_harness::all_providers(&fake);
        let cfg =
            crate::e2e_harness::config(dir.path(), providers, &["gpt-4o-mini", "gpt-4o"], |_| {});
        let dir2 = tempfile::tempdir().unwrap();
        Harness::start(fake, cfg, None, dir2).await
    });
    let names = prop_oneof![
        3 => Just("authorization"),
        2 => Just("x-api-key"),
        1 => prop::sample::select(
            &[
                "content-type",
                "host",
                "x-switchyard-candidates",
                "x-switchyard-max-cost-usd",
            ][..],
        ),
    ];
    let bearer = key.clone();
    let strategy = (
        prop::collection::vec((names, header_value(key.clone())), 0..4),
        prop::bool::weighted(0.8),
        prop::bool::ANY,
        body(),
    )
        .prop_map(move |(mut headers, json, with_key, body)| {
            // Half the cases carry the key first (the gateway reads the first value), so
            // that the body and the other headers are fuzzed behind the key check too.
            if with_key {
                headers.insert(
                    0,
                    ("authorization", format!("Bearer {bearer}").into_bytes()),
                );
            }
            // Mostly a JSON body, so that most cases get past the content-type rule to the
            // key check.
            if json {
                headers.insert(0, ("content-type", b"application/json".to_vec()));
            }
            (headers, body)
        });
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    TestRunner::new(cases(96))
        .run(&strategy, |(headers, (path, body))| {
            let what = format!("{path} {headers:?}");
            let authorized = headers.iter().any(|(n, v)| {
                let v = String::from_utf8_lossy(v);
                (*n == "authorization" || *n == "x-api-key") && v.contains(key.as_str())
            });
            let (status, content_type, text) = rt.block_on(send(&h, path, &headers, body));
            *seen.borrow_mut().entry(status).or_default() += 1;
            check(status, &content_type, &text, &what)?;
            if !authorized {
                prop_assert!(status >= 400, "{} without the key: {}", status, what);
            }
            // A key presented as a credential is never echoed (other headers, such as a
            // refused Host, are quoted back, cut to 100 characters).
            let elsewhere = headers.iter().any(|(n, v)| {
                *n != "authorization"
                    && *n != "x-api-key"
                    && String::from_utf8_lossy(v).contains(key.as_str())
            });
            if !elsewhere {
                prop_assert!(!text.contains(key.as_str()), "the key is echoed");
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(h.stop());
    let seen = seen.into_inner();
    assert!(seen.contains_key(&401), "{seen:?}");
    assert!(seen.keys().any(|s| *s < 300), "{seen:?}");
}

/// An SSE body an upstream may send for a stream: OpenAI chunks, some broken, maybe no
/// `[DONE]`.
fn upstream_stream() -> impl Strategy<Value = String> {
    let chunk = prop_oneof![
        4 => Just(r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#.to_owned()),
        1 => Just(r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#.to_owned()),
        1 => Just(r#"{"error":{"message":"overloaded","code":503}}"#.to_owned()),
        1 => Just("[DONE]".to_owned()),
        1 => tree().prop_map(|v| v.to_string()),
        1 => any::<String>().prop_map(|s| s.replace('\n', " ")),
    ];
    (prop::collection::vec(chunk, 0..6), any::<bool>()).prop_map(|(chunks, done)| {
        let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        if done {
            body.push_str("data: [DONE]\n\n");
        }
        body
    })
}

#[test]
fn fuzz_http_hostile_upstream_streams_end_with_done_or_one_error_event() {
    let rt = runtime();
    let h = rt.block_on(Harness::with(&["gpt-4o"], |c| {
        // Broken streams count against the breaker; keep it closed for every case.
        c.circuit_breaker.failures_to_open = u32::MAX;
    }));
    TestRunner::new(cases(48))
        .run(&upstream_stream(), |sse| {
            h.fake.script(
                "gpt-4o",
                [Scenario::Raw {
                    code: 200,
                    headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
                    body: sse.clone(),
                }],
            );
            let body = serde_json::to_vec(&json!({"model": "gpt-4o", "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}))
            .unwrap();
            let headers = [("content-type", b"application/json".to_vec())];
            let (status, content_type, text) =
                rt.block_on(send(&h, "/v1/chat/completions", &headers, body));
            // An upstream that fails before its first chunk is the upstream's fault: a 502.
            if status == 502 {
                return openai_error(&text);
            }
            prop_assert_eq!(status, 200, "{}", text);
            check(status, &content_type, &text, &sse)
        })
        .unwrap();
    rt.block_on(h.stop());
}
