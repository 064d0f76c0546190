//! `POST /v1/messages` (Anthropic Messages ingress) end to end: the real gateway on loopback,
//! the testkit fake behind it speaking OpenAI, Anthropic or Gemini, answers and errors checked in
//! Anthropic's shapes, outcome rows as for chat completions.

use router_core::{ModelId, OutcomeStatus};
use serde_json::{json, Value};
use testkit::{Scenario, Usage, Wire};

use crate::e2e_harness::{header, sse_data, Harness};

/// (catalog id, the name the fake sees, the wire it must receive)
const UPSTREAMS: [(&str, &str, Wire); 3] = [
    ("gpt-4o-mini", "gpt-4o-mini", Wire::OpenAi),
    ("claude-haiku-4.5", "claude-haiku-4-5", Wire::Anthropic),
    ("gemini-2.5-flash", "gemini-2.5-flash", Wire::Gemini),
];

fn messages_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": [{"type": "text", "text": "4."}]},
            {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]}
        ],
    })
}

async fn post(h: &Harness, body: &Value) -> reqwest::Response {
    h.post_json("/v1/messages", body).await
}

/// Asserts Anthropic's error shape and returns the `error` object.
async fn anthropic_error(resp: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    v["error"].clone()
}

/// `(event name, data)` of an Anthropic SSE body.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("event without a name: {e}"));
            let data = sse_data(e).pop().unwrap();
            let v: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["type"], name, "{e}");
            (name.to_owned(), v)
        })
        .collect()
}

#[tokio::test]
async fn non_stream_answers_in_anthropics_shape_from_either_dialect() {
    for (model, upstream, wire) in UPSTREAMS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake.script(
            upstream,
            [Scenario::reply_with_usage(
                "6.",
                Usage {
                    input_tokens: 21,
                    output_tokens: 2,
                },
            )],
        );
        let resp = post(&h, &messages_body(model, false)).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(header(&resp, "x-switchyard-model"), model);
        assert!(!header(&resp, "x-switchyard-request-id").is_empty());
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "message", "{model}: {v}");
        assert_eq!(v["role"], "assistant");
        assert!(v["id"].as_str().unwrap().starts_with("msg_"), "{v}");
        assert_eq!(v["content"], json!([{"type": "text", "text": "6."}]), "{v}");
        assert_eq!(v["stop_reason"], "end_turn", "{model}: {v}");
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 21, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 0, "output_tokens": 2})
        );

        // System and all three turns reached the upstream, in its dialect.
        let sent = &h.fake.requests()[0];
        assert_eq!(sent.wire, wire, "{model}");
        assert_eq!(sent.model.as_deref(), Some(upstream));
        let text = sent.body.to_string();
        for part in ["Be brief.", "What is 2+2?", "4.", "And 3+3?"] {
            assert!(text.contains(part), "{model}: {part} missing from {text}");
        }
        let limit = if wire == Wire::Gemini {
            &sent.body["generationConfig"]["maxOutputTokens"]
        } else {
            &sent.body["max_tokens"]
        };
        assert_eq!(limit, 64, "{model}: {}", sent.body);

        let row = h.only_row().await;
        assert_eq!(row.status, OutcomeStatus::Ok);
        assert_eq!(row.model, Some(ModelId::new(model)));
        assert_eq!((row.input_tokens, row.output_tokens), (Some(21), Some(2)));
        assert!(row.cost_usd.unwrap() > 0.0);
        h.stop().await;
    }
}

#[tokio::test]
async fn stream_follows_anthropics_event_sequence_from_either_dialect() {
    for (model, upstream, wire) in UPSTREAMS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake
            .script(upstream, [Scenario::reply("streamed from the vendor")]);
        let resp = post(&h, &messages_body(model, true)).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(
            header(&resp, "content-type"),
            "text/event-stream",
            "{model}"
        );
        let evs = events(&resp.text().await.unwrap());
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names[..2],
            ["message_start", "content_block_start"],
            "{names:?}"
        );
        assert_eq!(
            names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"],
            "{model}: {names:?}"
        );
        assert!(names[2..names.len() - 3]
            .iter()
            .all(|n| *n == "content_block_delta"));
        let text: String = evs
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, v)| {
                assert_eq!(v["delta"]["type"], "text_delta");
                v["delta"]["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(text, "streamed from the vendor", "{model}");
        assert_eq!(evs[0].1["message"]["role"], "assistant");
        assert_eq!(evs[1].1["content_block"]["type"], "text");
        let delta = &evs[evs.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn", "{delta}");
        assert!(
            delta["usage"]["output_tokens"].as_u64() > Some(0),
            "{delta}"
        );

        let sent = &h.fake.requests()[0];
        assert_eq!(sent.wire, wire);
        assert!(sent.stream, "{model} was asked to stream");
        let row = h.only_row().await;
        assert_eq!(row.status, OutcomeStatus::Ok, "{model}");
        assert_eq!(
            row.output_tokens.map(u64::from),
            delta["usage"]["output_tokens"].as_u64()
        );
        h.stop().await;
    }
}

#[tokio::test]
async fn tool_use_round_trips() {
    for (model, upstream, _) in UPSTREAMS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake.script(
            upstream,
            [Scenario::ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            }],
        );
        let body = json!({
            "model": model,
            "max_tokens": 64,
            "tools": [{"name": "get_weather", "description": "Weather now",
                       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "tool_choice": {"type": "auto"},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"},
                    {"type": "text", "text": "Now Paris."}]}
            ],
        });
        let resp = post(&h, &body).await;
        assert_eq!(resp.status(), 200, "{model}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["stop_reason"], "tool_use", "{model}: {v}");
        let call = v["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{model}: no tool_use in {v}"));
        assert_eq!(call["name"], "get_weather");
        assert_eq!(call["input"], json!({"city": "Paris"}));
        let sent = h.fake.requests()[0].body.to_string();
        assert!(
            sent.contains("21C") && sent.contains("get_weather"),
            "{sent}"
        );
        h.stop().await;
    }
}

/// OpenAI answers a *named* `tool_choice` with `finish_reason: "stop"`; the Anthropic client
/// must still read `tool_use`, or its agent loop ends without running the tool.
#[tokio::test]
async fn a_named_tool_choice_answered_with_stop_still_ends_with_tool_use() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    let call = json!({"id": "call_abc", "type": "function",
                      "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}});
    let answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": null, "tool_calls": [call]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}});
    let chunk = |delta: Value, finish: Option<&str>| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                   "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let stream = [
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_abc", "type": "function",
                                   "function": {"name": "get_weather", "arguments": ""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Paris\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    h.fake.script(
        "gpt-4o-mini",
        [
            Scenario::Raw {
                code: 200,
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                body: answer.to_string(),
            },
            Scenario::Raw {
                code: 200,
                headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
                body: stream,
            },
        ],
    );
    let mut body = json!({
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    });
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    assert_eq!(v["content"][0]["type"], "tool_use", "{v}");

    body["stream"] = json!(true);
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200);
    let evs = events(&resp.text().await.unwrap());
    let delta = evs
        .iter()
        .find(|(name, _)| name == "message_delta")
        .unwrap_or_else(|| panic!("no message_delta in {evs:?}"));
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use", "{evs:?}");
    h.stop().await;
}

#[tokio::test]
async fn errors_come_in_anthropics_shape() {
    let h = Harness::openai().await;
    // max_tokens is required by the Messages API.
    let mut body = messages_body("gpt-4o-mini", false);
    body.as_object_mut().unwrap().remove("max_tokens");
    let e = anthropic_error(post(&h, &body).await, 400, "invalid_request_error").await;
    assert!(e["message"].as_str().unwrap().contains("max_tokens"), "{e}");
    // A block type the gateway cannot carry is named.
    let mut body = messages_body("gpt-4o-mini", false);
    body["messages"][0]["content"] = json!([{"type": "document", "source": {}}]);
    let e = anthropic_error(post(&h, &body).await, 400, "invalid_request_error").await;
    assert!(e["message"].as_str().unwrap().contains("document"), "{e}");
    // Checks shared with chat completions name the Messages field, not the chat one.
    let mut body = messages_body("gpt-4o-mini", false);
    body["stop_sequences"] = json!(vec!["x"; 17]);
    let e = anthropic_error(post(&h, &body).await, 400, "invalid_request_error").await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("stop_sequences "),
        "{e}"
    );
    // An unknown model is a 404.
    let resp = post(&h, &messages_body("no-such-model", false)).await;
    anthropic_error(resp, 404, "not_found_error").await;
    // Not JSON at all.
    let resp = h
        .client
        .post(h.url("/v1/messages"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    anthropic_error(resp, 400, "invalid_request_error").await;
    // The content-type check before the handler is reshaped too.
    let resp = h
        .client
        .post(h.url("/v1/messages"))
        .header("content-type", "text/plain")
        .body(messages_body("auto", false).to_string())
        .send()
        .await
        .unwrap();
    anthropic_error(resp, 415, "invalid_request_error").await;
    // An upstream failure on the only candidate.
    h.fake.always("gpt-4o-mini", Scenario::status(500));
    h.fake.always("gpt-4o", Scenario::status(500));
    let resp = post(&h, &messages_body("gpt-4o-mini", false)).await;
    assert!(resp.status().is_server_error());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "api_error", "{v}");

    let rows = h.rows().await;
    let rejected = rows
        .iter()
        .filter(|r| r.status == OutcomeStatus::Rejected)
        .count();
    assert_eq!(rejected, 5, "{rows:#?}");
    let metrics = h.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("endpoint=\"messages\""), "{metrics}");
    h.stop().await;
}

#[tokio::test]
async fn auto_is_routed_like_chat_completions() {
    let h = Harness::openai().await;
    let resp = post(&h, &messages_body("auto", false)).await;
    assert_eq!(resp.status(), 200);
    let model = header(&resp, "x-switchyard-model").to_owned();
    assert!(model == "gpt-4o" || model == "gpt-4o-mini", "{model}");
    assert!(!header(&resp, "x-switchyard-route-ms").is_empty());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message", "{v}");
    let row = h.only_row().await;
    assert_eq!(row.requested_model, "auto");
    let decision = row.decision.expect("auto requests log their decision");
    assert_eq!(decision.chosen.as_str(), model);
    assert!(row.constraints.is_some());
    h.stop().await;
}

#[tokio::test]
async fn failover_walks_the_ranking_as_on_chat_completions() {
    let h = Harness::with(&["claude-haiku-4.5", "gpt-4o-mini"], |_| {}).await;
    h.fake.script("claude-haiku-4-5", [Scenario::status(529)]);
    let resp = post(&h, &messages_body("claude-haiku-4.5", false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message", "{v}");
    let row = h.only_row().await;
    assert_eq!(row.attempts.len(), 2, "{row:#?}");
    assert_eq!(row.attempts[0].status_code, Some(529));
    assert_eq!(row.model, Some(ModelId::new("gpt-4o-mini")));
    h.stop().await;
}

#[tokio::test]
async fn a_stream_cut_after_the_first_byte_ends_with_an_error_event() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    h.fake.script("gpt-4o-mini", [Scenario::Disconnect]);
    let resp = post(&h, &messages_body("gpt-4o-mini", true)).await;
    assert_eq!(resp.status(), 200);
    let evs = events(&resp.text().await.unwrap());
    let (name, last) = evs.last().unwrap();
    assert_eq!(name, "error", "{evs:?}");
    assert_eq!(last["error"]["type"], "api_error");
    assert!(
        evs.iter().all(|(n, _)| n != "message_stop"),
        "a cut stream never ends cleanly: {evs:?}"
    );
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::StreamInterrupted);
    h.stop().await;
}

#[tokio::test]
async fn client_keys_come_in_x_api_key_and_refusals_are_anthropic_errors() {
    use gateway::auth::{KeyStore, NewKey};
    use gateway::upstream::ProviderKind;

    let dir = tempfile::tempdir().unwrap();
    let key = {
        let mut store = KeyStore::open(&dir.path().join("outcomes.sqlite")).unwrap();
        let new = NewKey {
            name: "app".to_owned(),
            models: Some(vec![ModelId::new("gpt-4o-mini")]),
            ..NewKey::default()
        };
        store.create(&new, 1).unwrap().1.expose().clone()
    };
    let fake = testkit::FakeProvider::start().await;
    let providers = vec![crate::e2e_harness::provider(
        "openai",
        ProviderKind::Openai,
        &fake.openai_base_url(),
    )];
    let cfg = crate::e2e_harness::config(dir.path(), providers, &["gpt-4o-mini", "gpt-4o"], |_| {});
    let h = Harness::start(fake, cfg, None, dir).await;
    let send = |key: Option<&str>, model: &str| {
        let mut req = h
            .client
            .post(h.url("/v1/messages"))
            .json(&messages_body(model, false));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send()
    };
    anthropic_error(
        send(None, "auto").await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    anthropic_error(
        send(Some("sy-wrong"), "auto").await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    anthropic_error(
        send(Some(&key), "gpt-4o").await.unwrap(),
        403,
        "permission_error",
    )
    .await;
    let resp = send(Some(&key), "auto").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let rows = h.rows().await;
    let ok = rows
        .iter()
        .find(|r| r.status == OutcomeStatus::Ok)
        .expect("the keyed request's row");
    assert!(ok.key_id.is_some(), "{ok:#?}");
    h.stop().await;
}

mod fuzz {
    //! Hostile `/v1/messages` bodies through the real gateway: never a 5xx for a client's
    //! input, every error in Anthropic's shape, a 2xx stream ends with exactly one of
    //! `message_stop` or an `error` event. `PROPTEST_CASES` raises the count.

    use proptest::prelude::*;
    use proptest::test_runner::{TestCaseError, TestRunner};
    use serde_json::{json, Value};

    use super::events;
    use crate::e2e_harness::Harness;
    use crate::fuzz_http::{cases, hostile_json, hostile_key, runtime};

    /// Strings the Messages API knows (models, roles, block types, tool choices).
    const WORDS: &[&str] = &[
        "",
        "auto",
        "gpt-4o-mini",
        "no-such-model",
        "user",
        "assistant",
        "text",
        "image",
        "tool_use",
        "tool_result",
        "document",
        "base64",
        "url",
        "any",
        "tool",
        "none",
        "\u{0}",
    ];

    /// Field names of Messages bodies.
    const KEYS: &[&str] = &[
        "model",
        "max_tokens",
        "messages",
        "system",
        "role",
        "content",
        "type",
        "text",
        "source",
        "media_type",
        "data",
        "tool_use_id",
        "id",
        "name",
        "input",
        "tools",
        "tool_choice",
        "input_schema",
        "stop_sequences",
        "temperature",
        "top_p",
        "metadata",
        "user_id",
        "stream",
        "top_k",
        "router",
    ];

    fn key() -> impl Strategy<Value = String> {
        hostile_key(KEYS)
    }

    fn tree() -> impl Strategy<Value = Value> {
        hostile_json(WORDS, KEYS)
    }

    /// A valid body with a few fields (top level, first message, its first block) set to
    /// hostile values, now and then cut short.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<bool>(),
            prop::collection::vec((0u8..3, key(), tree()), 0..4),
            any::<u8>(),
            any::<usize>(),
        )
            .prop_map(|(stream, edits, damage, at)| {
                let mut v = json!({"model": "gpt-4o-mini", "max_tokens": 16, "stream": stream,
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
                for (place, k, value) in edits {
                    let target = match place {
                        0 => Some(&mut v),
                        1 => v.pointer_mut("/messages/0"),
                        _ => v.pointer_mut("/messages/0/content/0"),
                    };
                    if let Some(Value::Object(o)) = target {
                        o.insert(k, value);
                    }
                }
                let mut text = serde_json::to_vec(&v).unwrap();
                if damage % 8 == 0 {
                    text.truncate(at % text.len());
                }
                text
            })
    }

    fn check(status: u16, content_type: &str, text: &str) -> Result<(), TestCaseError> {
        prop_assert!(status < 500, "{}: {}", status, text);
        if status >= 400 {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(&v["type"], "error", "{}", v);
            prop_assert!(v["error"]["type"].is_string(), "{}", v);
            prop_assert!(v["error"]["message"].is_string(), "{}", v);
        } else if content_type.starts_with("text/event-stream") {
            let evs = events(text);
            let ends = evs
                .iter()
                .filter(|(n, _)| n == "message_stop" || n == "error")
                .count();
            prop_assert_eq!(ends, 1, "{}", text);
        } else {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(&v["type"], "message", "{}", v);
        }
        Ok(())
    }

    #[test]
    fn fuzz_messages_hostile_bodies_are_4xx_in_anthropics_shape_or_answered() {
        let rt = runtime();
        let h = rt.block_on(Harness::with(&["gpt-4o-mini"], |_| {}));
        TestRunner::new(cases(64))
            .run(&body(), |body| {
                let (status, content_type, text) = rt.block_on(async {
                    let resp = h
                        .client
                        .post(h.url("/v1/messages"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status().as_u16();
                    let ct = resp
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    (status, ct, resp.text().await.unwrap())
                });
                check(status, &content_type, &text)
            })
            .unwrap();
        rt.block_on(h.stop());
    }
}

/// `disable_parallel_tool_use` reaches every upstream as its own dialect says it (OpenAI's
/// `parallel_tool_calls: false`, Anthropic's flag on `tool_choice`), and an empty `tools` list
/// (which Anthropic's SDKs may send and Chat Completions refuses) is not forwarded.
#[tokio::test]
async fn one_tool_call_at_a_time_and_an_empty_tool_list_reach_each_upstream_as_it_takes_them() {
    let weather = json!({"name": "weather", "input_schema": {"type": "object"}});
    for (model, upstream, wire) in &UPSTREAMS[..2] {
        let h = Harness::with(&[model], |_| {}).await;
        let mut body = messages_body(model, false);
        body["tools"] = json!([weather]);
        body["tool_choice"] = json!({"type": "auto", "disable_parallel_tool_use": true});
        let resp = post(&h, &body).await;
        assert_eq!(
            resp.status(),
            200,
            "{model}: {}",
            resp.text().await.unwrap()
        );
        let sent = h.fake.requests().last().unwrap().clone();
        assert_eq!(sent.model.as_deref(), Some(*upstream));
        match wire {
            Wire::OpenAi => assert_eq!(sent.body["parallel_tool_calls"], false, "{}", sent.body),
            _ => assert_eq!(
                sent.body["tool_choice"],
                json!({"type": "auto", "disable_parallel_tool_use": true}),
                "{}",
                sent.body
            ),
        }
        let mut body = messages_body(model, false);
        body["tools"] = json!([]);
        let resp = post(&h, &body).await;
        assert_eq!(
            resp.status(),
            200,
            "{model}: {}",
            resp.text().await.unwrap()
        );
        h.stop().await;
    }
}

/// Anthropic's SDK tells a stop sequence from the natural end by `stop_reason:
/// "stop_sequence"` and names the sequence. Where the gateway knows it (a Claude upstream says
/// so; for a model that refuses `stop` the gateway cut the answer itself) the client gets it,
/// streamed or not; an OpenAI `finish_reason: "stop"` cannot tell the two apart, so it stays
/// `end_turn`. The text ends before the sequence in every case.
#[tokio::test]
async fn a_stop_sequence_is_named_where_the_upstream_or_the_gateway_knows_it() {
    let reply = "The answer is 42. END and a tail nobody asked for";
    for (model, upstream, named) in [
        ("claude-haiku-4.5", "claude-haiku-4-5", true),
        ("gpt-5", "gpt-5", true),
        ("gpt-4o-mini", "gpt-4o-mini", false),
    ] {
        let h = Harness::with(&[model], |_| {}).await;
        for stream in [false, true] {
            h.fake.script(upstream, [Scenario::reply(reply)]);
            let mut body = messages_body(model, stream);
            body["stop_sequences"] = json!(["STOP", "END"]);
            let resp = post(&h, &body).await;
            assert_eq!(resp.status(), 200, "{model}");
            let (text, reason, sequence) = if stream {
                let evs = events(&resp.text().await.unwrap());
                let text: String = evs
                    .iter()
                    .filter(|(n, _)| n == "content_block_delta")
                    .filter_map(|(_, v)| v["delta"]["text"].as_str())
                    .collect();
                let delta = &evs[evs.len() - 2].1["delta"];
                (
                    text,
                    delta["stop_reason"].clone(),
                    delta["stop_sequence"].clone(),
                )
            } else {
                let v: Value = resp.json().await.unwrap();
                let text = v["content"][0]["text"].as_str().unwrap().to_owned();
                (text, v["stop_reason"].clone(), v["stop_sequence"].clone())
            };
            assert_eq!(text, "The answer is 42. ", "{model} stream {stream}");
            if named {
                assert_eq!(reason, "stop_sequence", "{model} stream {stream}");
                assert_eq!(sequence, "END", "{model} stream {stream}");
            } else {
                assert_eq!(reason, "end_turn", "{model} stream {stream}");
                assert_eq!(sequence, Value::Null, "{model} stream {stream}");
            }
        }
        h.stop().await;
    }
}

/// An upstream streaming parallel calls with interleaved fragments: one `tool_use` block per
/// call with its upstream id, name and whole input, as the cached replay of the same answer
/// (streamed or not) gives. Before, a block per change of index: the real calls with empty
/// input, then blocks with empty names and `toolu_0`/`toolu_1` ids.
#[tokio::test]
async fn interleaved_tool_call_fragments_stream_one_block_per_call_as_the_replay_does() {
    let h = Harness::openai_with(|raw| raw.cache.enabled = true).await;
    h.fake
        .always("gpt-4o-mini", crate::responses::interleaved_calls());
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 64, "stream": true,
        "temperature": 0, "messages": [{"role": "user", "content": "INTERLEAVE x"}],
        "tools": [{"name": "fa", "input_schema": {"type": "object"}},
                  {"name": "fb", "input_schema": {"type": "object"}}]});
    let expected = vec![
        json!({"type": "tool_use", "id": "call_A", "name": "fa", "input": {"a": 1}}),
        json!({"type": "tool_use", "id": "call_B", "name": "fb", "input": {"b": 2}}),
    ];
    // The blocks as the SDKs put them together: by `index`, the input from the JSON deltas.
    let blocks = |evs: &[(String, Value)]| {
        let mut blocks: Vec<(Value, String)> = Vec::new();
        for (name, v) in evs {
            let index = v["index"].as_u64().map(|i| i as usize);
            match name.as_str() {
                "content_block_start" => {
                    assert_eq!(index, Some(blocks.len()), "{v}");
                    blocks.push((v["content_block"].clone(), String::new()));
                }
                "content_block_delta" => {
                    if let Some(partial) = v["delta"]["partial_json"].as_str() {
                        blocks[index.unwrap()].1.push_str(partial);
                    }
                }
                _ => {}
            }
        }
        blocks
            .into_iter()
            .map(|(mut block, json)| {
                block["input"] = serde_json::from_str(&json).unwrap();
                block
            })
            .collect::<Vec<Value>>()
    };
    let live = post(&h, &body).await;
    assert_eq!(header(&live, "x-switchyard-cache"), "miss");
    let evs = events(&live.text().await.unwrap());
    assert_eq!(blocks(&evs), expected);
    let stops = evs
        .iter()
        .filter(|(n, _)| n == "content_block_stop")
        .count();
    assert_eq!(stops, 2);
    let delta = &evs.iter().find(|(n, _)| n == "message_delta").unwrap().1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    let replay = post(&h, &body).await;
    assert_eq!(header(&replay, "x-switchyard-cache"), "hit");
    assert_eq!(blocks(&events(&replay.text().await.unwrap())), expected);
    let mut plain = body.clone();
    plain["stream"] = json!(false);
    let hit = post(&h, &plain).await;
    assert_eq!(header(&hit, "x-switchyard-cache"), "hit");
    let v: Value = hit.json().await.unwrap();
    assert_eq!(v["content"], Value::Array(expected));
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    h.stop().await;
}

/// `POST /v1/messages/count_tokens` (Claude Code calls it every turn): the gateway's estimate,
/// growing with the request, at the model's token ratio, with no upstream call; a bad body is
/// a 400 in Anthropic's shape.
#[tokio::test]
async fn count_tokens_estimates_without_calling_upstream() {
    let harness = Harness::with(&["claude-haiku-4.5", "gpt-4o-mini"], |_| {}).await;
    let h = &harness;
    let count = |body: Value| async move {
        let resp = h.post_json("/v1/messages/count_tokens", &body).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        v["input_tokens"].as_u64().unwrap()
    };
    let short = count(json!({"model": "claude-haiku-4.5",
        "messages": [{"role": "user", "content": "hi"}]}))
    .await;
    let long = count(json!({"model": "claude-haiku-4.5", "system": "Be brief.",
        "messages": [{"role": "user", "content": "word ".repeat(400)}],
        "tools": [{"name": "get_weather", "description": "Weather now",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048}}))
    .await;
    assert!(short >= 1 && long > short + 400, "{short} {long}");
    let auto = count(json!({"model": "auto",
        "messages": [{"role": "user", "content": "word ".repeat(400)}]}))
    .await;
    assert!(auto > 400, "{auto}");
    assert!(h.fake.requests().is_empty(), "no upstream call");

    let e = anthropic_error(
        h.post_json("/v1/messages/count_tokens", &json!({"model": "auto"}))
            .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("messages"), "{e}");
    harness.stop().await;
}

/// Claude's answer with its thinking shown (Anthropic's default on Claude 4 and later), as SSE.
pub(crate) fn claude_thinks_then_answers() -> Scenario {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let delta = |index: u32, delta: Value| {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    };
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
        body: [
            event(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_t", "type": "message",
                    "role": "assistant", "model": "claude-sonnet-5", "content": [],
                    "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            ),
            delta(0, json!({"type": "thinking_delta", "thinking": "Two and "})),
            delta(0, json!({"type": "thinking_delta", "thinking": "two."})),
            delta(
                0,
                json!({"type": "signature_delta", "signature": "sig_upstream"}),
            ),
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1,
                    "content_block": {"type": "text", "text": ""}}),
            ),
            delta(1, json!({"type": "text_delta", "text": "4."})),
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            ),
            event(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 12}}),
            ),
            event("message_stop", json!({"type": "message_stop"})),
        ]
        .concat(),
    }
}

/// Claude's thinking text reaches a `/v1/messages` client (Claude Code) as a `thinking` block
/// before the answer, and a Chat Completions client as `reasoning_content`; the signature
/// stays with the gateway.
#[tokio::test]
async fn claudes_thinking_reaches_messages_and_chat_clients() {
    let h = Harness::with(&["claude-sonnet-5"], |_| {}).await;
    h.fake.script(
        "claude-sonnet-5",
        [claude_thinks_then_answers(), claude_thinks_then_answers()],
    );
    // Claude Code asks for the text (Opus 4.7 and later omit it by default): the ask reaches
    // Claude.
    let mut ask = messages_body("claude-sonnet-5", true);
    ask["thinking"] = json!({"type": "adaptive", "display": "summarized"});
    let resp = post(&h, &ask).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        h.fake.requests().last().unwrap().body["thinking"],
        json!({"type": "adaptive", "display": "summarized"})
    );
    let all = events(&resp.text().await.unwrap());
    let starts: Vec<&Value> = all
        .iter()
        .filter(|(name, _)| name == "content_block_start")
        .map(|(_, v)| &v["content_block"])
        .collect();
    assert_eq!(starts[0]["type"], "thinking", "{all:?}");
    assert_eq!(starts[0]["signature"], "", "{all:?}");
    assert_eq!(starts[1]["type"], "text", "{all:?}");
    let thinking: String = all
        .iter()
        .filter(|(_, v)| v["delta"]["type"] == "thinking_delta")
        .map(|(_, v)| v["delta"]["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thinking, "Two and two.");
    assert!(!format!("{all:?}").contains("sig_upstream"));

    let chat = json!({"model": "claude-sonnet-5", "stream": true,
                      "messages": [{"role": "user", "content": "What is 2+2?"}]});
    let body = h.chat(&chat).await.text().await.unwrap();
    let chunks = crate::e2e_harness::done_chunks(&body);
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(reasoning, "Two and two.");
    assert_eq!(content, "4.");
    // A display Anthropic does not have is refused, naming the field.
    ask["thinking"]["display"] = json!("verbose");
    let err = anthropic_error(post(&h, &ask).await, 400, "invalid_request_error").await;
    assert!(
        err["message"].as_str().unwrap().contains("thinking"),
        "{err}"
    );
    h.stop().await;
}
