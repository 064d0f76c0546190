//! `POST /v1/responses` (OpenAI Responses ingress) and `POST /v1/embeddings` end to end: the
//! real gateway on loopback, the testkit fake behind it speaking OpenAI or Anthropic, answers
//! checked in Responses' shapes, outcome rows as for chat completions.

use router_core::{ModelId, OutcomeStatus};
use serde_json::{json, Value};
use testkit::{Scenario, Usage, Wire};

use crate::e2e_harness::{header, openai_error, sse_data, Harness};

/// (catalog id, the name the fake sees, the wire it must receive)
const UPSTREAMS: [(&str, &str, Wire); 2] = [
    ("gpt-4o-mini", "gpt-4o-mini", Wire::OpenAi),
    ("claude-haiku-4.5", "claude-haiku-4-5", Wire::Anthropic),
];

async fn post(h: &Harness, body: &Value) -> reqwest::Response {
    h.post_json("/v1/responses", body).await
}

/// The concatenated `output_text` of a `response` object.
fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().unwrap().iter())
        .filter(|part| part["type"] == "output_text")
        .map(|part| part["text"].as_str().unwrap().to_owned())
        .collect()
}

/// `(event name, data)` of a Responses SSE body; the name must equal the data's `type`.
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
async fn plain_text_answers_in_responses_shape_from_either_dialect() {
    for (model, upstream, wire) in UPSTREAMS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake.script(
            upstream,
            [Scenario::reply_with_usage(
                "Bonjour.",
                Usage {
                    input_tokens: 12,
                    output_tokens: 2,
                },
            )],
        );
        let body = json!({"model": model, "input": "Say hello in French.",
                          "instructions": "Be brief.", "max_output_tokens": 50,
                          "metadata": {"ticket": "T-1"}});
        let resp = post(&h, &body).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(header(&resp, "x-switchyard-model"), model);
        assert!(!header(&resp, "x-switchyard-request-id").is_empty());
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["object"], "response", "{v}");
        assert!(v["id"].as_str().unwrap().starts_with("resp_"), "{v}");
        assert_eq!(v["status"], "completed", "{v}");
        assert!(v["created_at"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(output_text(&v), "Bonjour.", "{model}: {v}");
        assert_eq!(v["output"][0]["role"], "assistant");
        assert!(v["output"][0]["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(v["usage"]["input_tokens"], 12);
        assert_eq!(v["usage"]["output_tokens"], 2);
        assert_eq!(v["usage"]["total_tokens"], 14);
        assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(v["max_output_tokens"], 50);
        assert_eq!(v["instructions"], "Be brief.", "{v}");
        assert_eq!(v["metadata"], json!({"ticket": "T-1"}), "{v}");

        // Instructions and input reached the upstream, in its dialect, with the limit.
        let sent = &h.fake.requests()[0];
        assert_eq!(sent.wire, wire, "{model}");
        assert_eq!(sent.model.as_deref(), Some(upstream));
        let text = sent.body.to_string();
        assert!(text.contains("Be brief.") && text.contains("Say hello in French."));
        assert!(!text.contains("T-1"), "metadata is not forwarded: {text}");
        let limit = match wire {
            Wire::OpenAi => &sent.body["max_completion_tokens"],
            _ => &sent.body["max_tokens"],
        };
        assert_eq!(limit, 50, "{model}: {}", sent.body);

        let row = h.only_row().await;
        assert_eq!(row.status, OutcomeStatus::Ok);
        assert_eq!(row.model, Some(ModelId::new(model)));
        assert_eq!((row.input_tokens, row.output_tokens), (Some(12), Some(2)));
        assert!(row.cost_usd.unwrap() > 0.0);
        h.stop().await;
    }
}

#[tokio::test]
async fn multi_turn_items_and_auto_routing() {
    let h = Harness::openai().await;
    let body = json!({
        "model": "auto",
        "input": [
            {"role": "developer", "content": "Answer with a number."},
            {"role": "user", "content": "What is 2+2?"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "4", "annotations": []}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "And 3+3?"}]}
        ],
        "router": {"candidates": ["gpt-4o-mini"]}
    });
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let v: Value = resp.json().await.unwrap();
    assert!(output_text(&v).contains("And 3+3?"), "the fake echoes: {v}");
    let sent = &h.fake.requests()[0].body;
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["developer", "user", "assistant", "user"], "{sent}");
    assert!(
        sent.get("router").is_none(),
        "router options stay in the gateway"
    );
    let row = h.only_row().await;
    assert_eq!(row.requested_model, "auto");
    assert!(row.decision.is_some(), "auto was routed");
    h.stop().await;
}

#[tokio::test]
async fn function_call_round_trip_from_either_dialect() {
    for (model, upstream, _) in UPSTREAMS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake.script(
            upstream,
            [Scenario::ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            }],
        );
        let tools = json!([{"type": "function", "name": "get_weather", "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
        let body = json!({"model": model, "tools": tools, "tool_choice": "auto",
                          "input": "Weather in Paris?"});
        let v: Value = post(&h, &body).await.json().await.unwrap();
        let call = v["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .unwrap_or_else(|| panic!("{model}: no function_call in {v}"))
            .clone();
        assert_eq!(call["name"], "get_weather");
        let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"city": "Paris"}));
        assert!(call["call_id"].as_str().is_some_and(|c| !c.is_empty()));
        assert_eq!(v["tools"][0]["name"], "get_weather", "tools are echoed");

        // The second turn sends the call and its output back as items.
        h.fake.script(upstream, [Scenario::reply("18C and sunny.")]);
        let body = json!({"model": model, "tools": tools, "input": [
            {"role": "user", "content": "Weather in Paris?"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}
        ]});
        let resp = post(&h, &body).await;
        assert_eq!(resp.status(), 200, "{model}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(output_text(&v), "18C and sunny.", "{model}: {v}");
        let sent = h.fake.requests()[1].body.to_string();
        assert!(
            sent.contains("18C") && sent.contains("get_weather"),
            "{sent}"
        );
        assert!(sent.contains(call["call_id"].as_str().unwrap()), "{sent}");
        h.stop().await;
    }
}

#[tokio::test]
async fn stream_emits_typed_events_in_order_from_either_dialect() {
    for (model, upstream, wire) in UPSTREAMS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake
            .script(upstream, [Scenario::reply("streamed from the vendor")]);
        let body = json!({"model": model, "input": "hi", "stream": true});
        let resp = post(&h, &body).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(header(&resp, "content-type"), "text/event-stream");
        let evs = events(&resp.text().await.unwrap());
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names[..4],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added"
            ],
            "{model}: {names:?}"
        );
        assert_eq!(
            names[names.len() - 4..],
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ],
            "{model}: {names:?}"
        );
        assert!(names[4..names.len() - 4]
            .iter()
            .all(|n| *n == "response.output_text.delta"));
        for (i, (_, v)) in evs.iter().enumerate() {
            assert_eq!(v["sequence_number"], i, "{v}");
        }
        let text: String = evs
            .iter()
            .filter(|(n, _)| n == "response.output_text.delta")
            .map(|(_, v)| v["delta"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, "streamed from the vendor", "{model}");
        let done = &evs[evs.len() - 1].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(output_text(done), "streamed from the vendor");
        assert_eq!(done["id"], evs[0].1["response"]["id"]);
        assert!(done["usage"]["output_tokens"].as_u64() > Some(0), "{done}");

        let sent = &h.fake.requests()[0];
        assert_eq!(sent.wire, wire);
        assert!(sent.stream, "{model} was asked to stream");
        let row = h.only_row().await;
        assert_eq!(row.status, OutcomeStatus::Ok, "{model}");
        assert_eq!(
            row.output_tokens.map(u64::from),
            done["usage"]["output_tokens"].as_u64()
        );
        h.stop().await;
    }
}

#[tokio::test]
async fn streamed_function_call_has_argument_events() {
    let h = Harness::openai().await;
    h.fake.script(
        "gpt-4o-mini",
        [Scenario::ToolCall {
            name: "get_weather".into(),
            arguments: json!({"city": "Paris"}),
        }],
    );
    let body = json!({"model": "gpt-4o-mini", "stream": true, "input": "Weather?",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]});
    let evs = events(&post(&h, &body).await.text().await.unwrap());
    let mut names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    // The fake streams the arguments in pieces: one delta event each.
    let deltas: String = evs
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .map(|(_, e)| e["delta"].as_str().unwrap())
        .collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(evs[2].1["item"]["name"], "get_weather");
    let (_, done) = evs
        .iter()
        .find(|(n, _)| n == "response.function_call_arguments.done")
        .unwrap();
    let args = done["arguments"].as_str().unwrap();
    assert_eq!(args, deltas);
    assert_eq!(
        serde_json::from_str::<Value>(args).unwrap(),
        json!({"city": "Paris"})
    );
    let (_, completed) = evs.last().unwrap();
    assert_eq!(completed["response"]["output"][0]["type"], "function_call");
    h.stop().await;
}

#[tokio::test]
async fn refused_fields_are_named_in_openai_errors() {
    let h = Harness::openai().await;
    for (field, value) in [
        ("previous_response_id", json!("resp_123")),
        ("background", json!(true)),
        ("tools", json!([{"type": "web_search"}])),
    ] {
        let mut body = json!({"model": "gpt-4o-mini", "input": "hi"});
        body[field] = value;
        let e = openai_error(post(&h, &body).await, 400).await;
        assert!(
            e["message"].as_str().unwrap().contains(field),
            "{field}: {e}"
        );
        assert_eq!(e["type"], "invalid_request_error", "{e}");
    }
    let e = openai_error(post(&h, &json!({"model": "gpt-4o-mini"})).await, 400).await;
    assert!(e["message"].as_str().unwrap().contains("input"), "{e}");
    // Checks shared with chat completions name the fields as this endpoint calls them.
    for (body, field) in [
        (
            json!({"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 0}),
            "max_output_tokens",
        ),
        (json!({"model": "gpt-4o-mini", "input": []}), "input"),
    ] {
        let e = openai_error(post(&h, &body).await, 400).await;
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{field}: {e}");
        assert!(
            !message.contains("max_completion_tokens") && !message.contains("messages"),
            "{e}"
        );
    }
    assert_eq!(
        h.fake.requests().len(),
        0,
        "nothing refused reached the upstream"
    );
    let rows = h.rows().await;
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.status == OutcomeStatus::Rejected));
    h.stop().await;
}

#[tokio::test]
async fn embeddings_pass_through_with_cost_and_refuse_auto() {
    let h = Harness::openai().await;
    let body = json!({"model": "text-embedding-3-small", "input": ["hello world", "again"],
                      "dimensions": 4});
    let resp = h.post_json("/v1/embeddings", &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "x-switchyard-model"),
        "text-embedding-3-small"
    );
    let cost: f64 = header(&resp, "x-switchyard-cost-usd").parse().unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 4);
    assert_eq!(v["usage"]["prompt_tokens"], 3);

    // Passed through: same body, the upstream name, the provider's key.
    let sent = &h.fake.requests()[0];
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.body["dimensions"], 4);
    assert_eq!(sent.body["input"], body["input"]);
    assert_eq!(sent.header("authorization"), Some(testkit::REDACTED));

    // `auto` is refused with a message that says why and what to send instead.
    let e = openai_error(
        h.post_json("/v1/embeddings", &json!({"model": "auto", "input": "x"}))
            .await,
        400,
    )
    .await;
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("auto") && message.contains("text-embedding-3-small"),
        "{e}"
    );
    let e = openai_error(
        h.post_json("/v1/embeddings", &json!({"model": "gpt-4o", "input": "x"}))
            .await,
        404,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("gpt-4o"), "{e}");
    assert_eq!(h.fake.requests().len(), 1);

    let rows = h.rows().await;
    let ok = rows.iter().find(|r| r.status == OutcomeStatus::Ok).unwrap();
    assert_eq!(ok.model, Some(ModelId::new("text-embedding-3-small")));
    assert_eq!((ok.input_tokens, ok.output_tokens), (Some(3), Some(0)));
    // 3 tokens at 0.02 USD per million.
    let expected = 3.0 * 0.02 / 1e6;
    assert!((ok.cost_usd.unwrap() - expected).abs() < 1e-15, "{ok:?}");
    assert!((cost - expected).abs() < 1e-8);
    assert!(ok.decision.is_none(), "embeddings are not routed");
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == OutcomeStatus::Rejected)
            .count(),
        2
    );
    h.stop().await;
}

#[tokio::test]
async fn embeddings_upstream_error_is_logged() {
    let h = Harness::openai().await;
    h.fake
        .script("text-embedding-3-small", [Scenario::status(500)]);
    let body = json!({"model": "text-embedding-3-small", "input": "hi"});
    openai_error(h.post_json("/v1/embeddings", &body).await, 502).await;
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::UpstreamError);
    assert_eq!(row.attempts.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn cached_answers_replay_in_responses_shape() {
    let h = Harness::openai_with(|raw| raw.cache.enabled = true).await;
    h.fake
        .always("gpt-4o-mini", Scenario::reply("cached words"));
    let body = json!({"model": "gpt-4o-mini", "input": "repeat me", "temperature": 0});
    let first = post(&h, &body).await;
    assert_eq!(header(&first, "x-switchyard-cache"), "miss");
    let hit = post(&h, &body).await;
    assert_eq!(header(&hit, "x-switchyard-cache"), "hit");
    let v: Value = hit.json().await.unwrap();
    assert_eq!(v["object"], "response", "{v}");
    assert_eq!(output_text(&v), "cached words");

    // The stored answer replays as Responses' event sequence too.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp = post(&h, &streamed).await;
    assert_eq!(header(&resp, "x-switchyard-cache"), "hit");
    let evs = events(&resp.text().await.unwrap());
    assert_eq!(evs[0].0, "response.created");
    let done = &evs.last().unwrap().1;
    assert_eq!(done["type"], "response.completed");
    assert_eq!(output_text(&done["response"]), "cached words");
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    h.stop().await;
}

#[tokio::test]
async fn client_keys_guard_both_endpoints_and_their_model_lists() {
    use gateway::auth::{KeyStore, NewKey};
    let dir = tempfile::tempdir().unwrap();
    let (mini, embed) = {
        let mut store = KeyStore::open(&dir.path().join("outcomes.sqlite")).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let key = |name: &str, model: &str| NewKey {
            name: name.to_owned(),
            models: Some(vec![ModelId::new(model)]),
            ..NewKey::default()
        };
        let (_, mini) = store.create(&key("mini", "gpt-4o-mini"), now).unwrap();
        let (_, embed) = store
            .create(&key("embed", "text-embedding-3-small"), now)
            .unwrap();
        (mini.expose().clone(), embed.expose().clone())
    };
    let fake = testkit::FakeProvider::start().await;
    let providers = crate::e2e_harness::all_providers(&fake);
    let cfg = crate::e2e_harness::config(dir.path(), providers, &["gpt-4o-mini"], |_| {});
    let h = Harness::start(fake, cfg, None, dir).await;
    let send = |path: &'static str, key: Option<String>, body: Value| {
        let mut req = h.client.post(h.url(path)).json(&body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    let answer = json!({"model": "gpt-4o-mini", "input": "hi"});
    let vectors = json!({"model": "text-embedding-3-small", "input": "hi"});
    for (path, body) in [("/v1/responses", &answer), ("/v1/embeddings", &vectors)] {
        let e = openai_error(send(path, None, body.clone()).await.unwrap(), 401).await;
        assert_eq!(e["code"], "invalid_api_key", "{path}: {e}");
    }
    let ok = send("/v1/responses", Some(mini.clone()), answer.clone()).await;
    assert_eq!(ok.unwrap().status(), 200);
    let ok = send("/v1/embeddings", Some(embed.clone()), vectors.clone()).await;
    assert_eq!(ok.unwrap().status(), 200);
    let e = openai_error(
        send("/v1/embeddings", Some(mini), vectors).await.unwrap(),
        403,
    )
    .await;
    assert_eq!(e["code"], "model_not_allowed", "{e}");
    let e = openai_error(
        send("/v1/responses", Some(embed), answer).await.unwrap(),
        403,
    )
    .await;
    assert_eq!(e["code"], "model_not_allowed", "{e}");
    let rows = h.rows().await;
    assert!(rows
        .iter()
        .filter(|r| r.status == OutcomeStatus::Ok)
        .all(|r| r.key_id.is_some()));
    h.stop().await;
}

/// `parallel_tool_calls` without tools, which Responses allows and Chat Completions refuses,
/// does not make a Chat Completions upstream answer 400.
#[tokio::test]
async fn parallel_tool_calls_without_tools_reach_a_chat_completions_upstream() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    let body = json!({"model": "gpt-4o-mini", "input": "hi", "parallel_tool_calls": false});
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = h.fake.requests().last().unwrap().clone();
    assert!(
        sent.body.get("parallel_tool_calls").is_none(),
        "{}",
        sent.body
    );
    h.stop().await;
}

/// The chunks of an OpenAI Chat Completions stream (model `gpt-4o-mini`), as raw SSE, ending
/// with `[DONE]` when `done`.
fn chat_stream(chunks: &[Value], done: bool) -> Scenario {
    let mut body = String::new();
    for c in chunks {
        let mut chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                               "created": 1_700_000_000, "model": "gpt-4o-mini"});
        for (k, v) in c.as_object().unwrap() {
            chunk[k] = v.clone();
        }
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    if done {
        body.push_str("data: [DONE]\n\n");
    }
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        body,
    }
}

/// A chunk whose first choice's delta is `delta` (and `finish`).
fn delta(delta: Value, finish: Option<&str>) -> Value {
    json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn call_fragment(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
    let mut call = json!({"index": index, "function": {"arguments": args}});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    if let Some(name) = name {
        call["function"]["name"] = json!(name);
    }
    delta(json!({"tool_calls": [call]}), None)
}

/// Parallel calls whose fragments interleave across `index`es, then the finish and usage.
pub(crate) fn interleaved_calls() -> Scenario {
    chat_stream(
        &[
            delta(json!({"role": "assistant", "content": null}), None),
            call_fragment(0, Some("call_A"), Some("fa"), ""),
            call_fragment(1, Some("call_B"), Some("fb"), ""),
            call_fragment(0, None, None, "{\"a\":1}"),
            call_fragment(1, None, None, "{\"b\":2}"),
            delta(json!({}), Some("tool_calls")),
            json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7,
                                            "total_tokens": 12}}),
        ],
        true,
    )
}

/// The `function_call` items of a response, without their item ids (fresh per answer).
fn function_calls(response: &Value) -> Vec<Value> {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "function_call")
        .map(|i| {
            let mut i = i.clone();
            i.as_object_mut().unwrap().remove("id");
            i
        })
        .collect()
}

/// An upstream streaming parallel calls with interleaved fragments: the client gets one
/// `function_call` item per call with its upstream id, name and whole arguments, and the
/// cached replay of the same answer (streamed or not) the same calls. Before, four items: the
/// two real calls with empty arguments, and `call_0`/`call_1` with empty names.
#[tokio::test]
async fn interleaved_tool_call_fragments_stream_one_item_per_call_as_the_replay_does() {
    let h = Harness::openai_with(|raw| raw.cache.enabled = true).await;
    h.fake.always("gpt-4o-mini", interleaved_calls());
    let tools = json!([
        {"type": "function", "name": "fa", "parameters": {"type": "object", "properties": {}}},
        {"type": "function", "name": "fb", "parameters": {"type": "object", "properties": {}}}
    ]);
    let body = json!({"model": "gpt-4o-mini", "input": "INTERLEAVE x", "stream": true,
                      "temperature": 0, "tools": tools});
    let expected = vec![
        json!({"type": "function_call", "status": "completed", "call_id": "call_A",
               "name": "fa", "arguments": "{\"a\":1}"}),
        json!({"type": "function_call", "status": "completed", "call_id": "call_B",
               "name": "fb", "arguments": "{\"b\":2}"}),
    ];
    let live = post(&h, &body).await;
    assert_eq!(header(&live, "x-switchyard-cache"), "miss");
    let evs = events(&live.text().await.unwrap());
    for (i, (_, v)) in evs.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
    }
    let added: Vec<(u64, &str)> = evs
        .iter()
        .filter(|(n, _)| n == "response.output_item.added")
        .map(|(_, v)| {
            (
                v["output_index"].as_u64().unwrap(),
                v["item"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(added, [(0, "fa"), (1, "fb")]);
    let (last, completed) = evs.last().unwrap();
    assert_eq!(last, "response.completed");
    assert_eq!(function_calls(&completed["response"]), expected);

    let replay = post(&h, &body).await;
    assert_eq!(header(&replay, "x-switchyard-cache"), "hit");
    let evs = events(&replay.text().await.unwrap());
    assert_eq!(function_calls(&evs.last().unwrap().1["response"]), expected);
    let mut plain = body.clone();
    plain["stream"] = json!(false);
    let hit = post(&h, &plain).await;
    assert_eq!(header(&hit, "x-switchyard-cache"), "hit");
    assert_eq!(function_calls(&hit.json().await.unwrap()), expected);
    assert_eq!(h.fake.calls("gpt-4o-mini"), 1);
    h.stop().await;
}

/// A stream still waiting for its first token after `[server] stream_keepalive` whose every
/// candidate then fails: what OpenAI sends for a failed response (`response.created`,
/// `response.in_progress`, `error`, `response.failed`), with the gateway's code and message.
/// Before, one lone `error` event, which the SDKs' stream helpers refuse ("Expected to have
/// received `response.created` before `error`"), losing the message.
#[tokio::test]
async fn a_stream_failing_after_its_keepalives_is_a_failed_response() {
    let h = Harness::with(&["gpt-4o-mini"], |c| {
        c.server.stream_keepalive = std::time::Duration::from_millis(100);
    })
    .await;
    h.fake.always(
        "gpt-4o-mini",
        Scenario::Late {
            delay: std::time::Duration::from_millis(400),
            then: Box::new(Scenario::status(500)),
        },
    );
    let body = json!({"model": "gpt-4o-mini", "input": "hi", "stream": true,
                      "instructions": "Be brief."});
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with(": keep-alive\n\n"), "{text}");
    let evs = events(&text.replace(": keep-alive\n\n", ""));
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ],
        "{text}"
    );
    for (i, (_, v)) in evs.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
    }
    let created = &evs[0].1["response"];
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["instructions"], "Be brief.");
    let error = &evs[2].1;
    assert_eq!(error["code"], "upstream_failed", "{error}");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("all upstream attempts failed"));
    let failed = &evs[3].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["id"], created["id"]);
    assert_eq!(failed["error"]["code"], "server_error");
    assert_eq!(failed["error"]["message"], error["message"]);
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::UpstreamError);
    h.stop().await;
}

/// A stream whose first text the answer masker holds back (`[guardrails] responses = true`: a
/// word may be the start of an e-mail address) and whose upstream then fails: the `error`
/// event still comes after `response.created`, which the SDKs' stream helpers require. (The
/// masker passes a chunk on even when it holds all its text, so the encoder has started; its
/// `error` also starts the response itself when nothing has.)
#[tokio::test]
async fn a_stream_failing_while_the_masker_holds_its_first_text_starts_with_response_created() {
    let h = Harness::openai_with(|raw| {
        raw.guardrails = Some(toml::from_str("enabled = true\nresponses = true").unwrap());
    })
    .await;
    // The first token, then the connection ends without `[DONE]`.
    h.fake.always(
        "gpt-4o-mini",
        chat_stream(&[delta(json!({"content": "hello"}), None)], false),
    );
    let body = json!({"model": "gpt-4o-mini", "input": "hi", "stream": true});
    let text = post(&h, &body).await.text().await.unwrap();
    let evs = events(&text);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"response.created"), "{text}");
    assert_eq!(names.last(), Some(&"error"), "{text}");
    for (i, (_, v)) in evs.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
    }
    h.stop().await;
}

/// Retrieving, deleting, cancelling or listing a stored response: a 404 in OpenAI's shape that
/// says nothing is stored (the SDKs show the message), not an empty 404.
#[tokio::test]
async fn stored_response_routes_answer_a_404_saying_nothing_is_stored() {
    let h = Harness::openai().await;
    let requests = [
        h.client.get(h.url("/v1/responses/resp_123")),
        h.client.delete(h.url("/v1/responses/resp_123")),
        h.client
            .post(h.url("/v1/responses/resp_123/cancel"))
            .json(&json!({})),
        h.client.get(h.url("/v1/responses/resp_123/input_items")),
        h.client
            .post(h.url("/v1/responses/input_tokens"))
            .json(&json!({"model": "gpt-4o-mini", "input": "hi"})),
    ];
    for request in requests {
        let e = openai_error(request.send().await.unwrap(), 404).await;
        assert_eq!(e["code"], "not_found", "{e}");
        assert_eq!(e["type"], "invalid_request_error", "{e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("stores no responses"),
            "{e}"
        );
    }
    assert_eq!(h.fake.requests().len(), 0);
    h.stop().await;
}

/// `reasoning.effort` reaches the model as the chat form's `reasoning_effort` (was a 400) and
/// is echoed; OpenAI's prompt-caching hints reach an OpenAI upstream under their names (the
/// retention was a 400, the key dropped) and not a Claude one; a `text` that is not an object
/// is a 400 naming it (was taken as plain text).
#[tokio::test]
async fn reasoning_effort_and_prompt_cache_hints_are_carried_and_text_is_checked() {
    let h = Harness::with(&["gpt-5", "claude-haiku-4.5"], |_| {}).await;
    let body = json!({"model": "gpt-5", "input": "hi", "reasoning": {"effort": "low"},
                      "prompt_cache_key": "conv-1", "prompt_cache_retention": "24h"});
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["reasoning"]["effort"], "low", "{v}");
    let sent = &h.fake.requests()[0];
    assert_eq!(sent.wire, Wire::OpenAi);
    assert_eq!(sent.body["reasoning_effort"], "low", "{}", sent.body);
    assert_eq!(sent.body["prompt_cache_key"], "conv-1", "{}", sent.body);
    assert_eq!(sent.body["prompt_cache_retention"], "24h", "{}", sent.body);

    let mut claude = body.clone();
    claude["model"] = json!("claude-haiku-4.5");
    assert_eq!(post(&h, &claude).await.status(), 200);
    let sent = &h.fake.requests()[1];
    assert_eq!(sent.wire, Wire::Anthropic);
    let text = sent.body.to_string();
    assert!(
        !text.contains("prompt_cache") && !text.contains("conv-1"),
        "{text}"
    );

    for (reasoning, field) in [
        (json!({"effort": "extreme"}), "reasoning.effort"),
        (json!({"summary": "everything"}), "reasoning.summary"),
    ] {
        let bad = json!({"model": "gpt-5", "input": "hi", "reasoning": reasoning});
        let e = openai_error(post(&h, &bad).await, 400).await;
        assert!(e["message"].as_str().unwrap().starts_with(field), "{e}");
    }
    let e = openai_error(
        post(&h, &json!({"model": "gpt-5", "input": "hi", "text": "zzz"})).await,
        400,
    )
    .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("text: must be an object"),
        "{e}"
    );
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(h.fake.requests().len(), 2, "nothing refused went upstream");
    h.stop().await;
}

/// Claude's non-streamed answer with its thinking shown: the text a `thinking` block holds
/// when the request asked for it (`thinking.display: "summarized"`).
fn claude_thinks_then_answers_at_once() -> Scenario {
    let body = json!({"id": "msg_t", "type": "message", "role": "assistant",
        "model": "claude-sonnet-5", "stop_reason": "end_turn",
        "content": [{"type": "thinking", "thinking": "Two and two.",
                     "signature": "sig_upstream"},
                    {"type": "text", "text": "4."}],
        "usage": {"input_tokens": 9, "output_tokens": 12}});
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

/// The `reasoning` items of a response.
fn reasoning_items(response: &Value) -> Vec<&Value> {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["type"] == "reasoning")
        .collect()
}

/// A model's reasoning reaches a Responses client as a `reasoning` item before the message,
/// streamed and not (there was none). With `reasoning.summary` the request asks Claude for its
/// thinking text (`thinking.display: "summarized"`, which Claude 5 omits by default), and the
/// text is the item's `summary_text`; without it nothing more is asked and the reasoning (here
/// an OpenAI-dialect upstream's `reasoning_content`, as DeepSeek gives it) is the item's
/// `reasoning_text` content. Claude's signature never leaves the gateway.
#[tokio::test]
async fn reasoning_reaches_responses_clients_streamed_and_not() {
    let h = Harness::with(&["claude-sonnet-5", "gpt-4o-mini"], |_| {}).await;
    h.fake.script(
        "claude-sonnet-5",
        [
            crate::messages::claude_thinks_then_answers(),
            claude_thinks_then_answers_at_once(),
        ],
    );
    let shown = json!({"type": "adaptive", "display": "summarized"});
    let mut body = json!({"model": "claude-sonnet-5", "input": "What is 2+2?", "stream": true,
                          "reasoning": {"effort": "high", "summary": "auto"}});
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains("sig_upstream"), "{text}");
    let sent = &h.fake.requests()[0];
    assert_eq!(sent.wire, Wire::Anthropic);
    assert_eq!(sent.body["thinking"], shown, "{}", sent.body);
    assert!(sent.body.get("thinking_display").is_none(), "{}", sent.body);
    let evs = events(&text);
    for (i, (_, v)) in evs.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
    }
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    let message_at = evs
        .iter()
        .position(|(n, v)| n == "response.output_item.added" && v["item"]["type"] == "message")
        .unwrap();
    assert_eq!(
        names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added"
        ],
        "{names:?}"
    );
    assert!(
        names[4..message_at - 3]
            .iter()
            .all(|n| *n == "response.reasoning_summary_text.delta"),
        "{names:?}"
    );
    assert_eq!(
        names[message_at - 3..message_at],
        [
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
        ],
        "{names:?}"
    );
    let thinking: String = evs
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .map(|(_, v)| {
            assert_eq!(v["output_index"], 0, "{v}");
            v["delta"].as_str().unwrap()
        })
        .collect();
    assert_eq!(thinking, "Two and two.");
    assert_eq!(evs[message_at].1["output_index"], 1);
    let done = &evs.last().unwrap().1["response"];
    assert_eq!(evs.last().unwrap().0, "response.completed");
    assert_eq!(done["output"][0]["type"], "reasoning", "{done}");
    assert_eq!(
        done["output"][0]["summary"],
        json!([{"type": "summary_text", "text": "Two and two."}])
    );
    assert_eq!(output_text(done), "4.");
    assert_eq!(
        done["reasoning"],
        json!({"effort": "high", "summary": "auto"})
    );

    // Not streamed: the same item first, then the message.
    body["stream"] = json!(false);
    let resp = post(&h, &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(h.fake.requests()[1].body["thinking"], shown);
    let v: Value = resp.json().await.unwrap();
    assert!(!v.to_string().contains("sig_upstream"), "{v}");
    assert_eq!(v["output"][0]["type"], "reasoning", "{v}");
    assert!(v["output"][0]["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(
        v["output"][0]["summary"],
        json!([{"type": "summary_text", "text": "Two and two."}])
    );
    assert_eq!(v["output"][1]["type"], "message", "{v}");
    assert_eq!(output_text(&v), "4.");

    // No summary asked: nothing more goes upstream, and the reasoning is content, streamed
    // as `response.reasoning_text.*` and not.
    h.fake.script(
        "gpt-4o-mini",
        [chat_stream(
            &[
                delta(
                    json!({"role": "assistant", "reasoning_content": "Think"}),
                    None,
                ),
                delta(json!({"reasoning_content": "ing."}), None),
                delta(json!({"content": "Done."}), None),
                delta(json!({}), Some("stop")),
            ],
            true,
        )],
    );
    let plain = json!({"model": "gpt-4o-mini", "input": "hi", "stream": true});
    let evs = events(&post(&h, &plain).await.text().await.unwrap());
    let sent = &h.fake.requests()[2];
    assert_eq!(sent.wire, Wire::OpenAi);
    assert!(
        sent.body.get("thinking").is_none() && sent.body.get("thinking_display").is_none(),
        "{}",
        sent.body
    );
    let reasoning: String = evs
        .iter()
        .filter(|(n, _)| n == "response.reasoning_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap())
        .collect();
    assert_eq!(reasoning, "Thinking.");
    let done = &evs.last().unwrap().1["response"];
    let items = reasoning_items(done);
    assert_eq!(items.len(), 1, "{done}");
    assert_eq!(items[0]["summary"], json!([]));
    assert_eq!(
        items[0]["content"],
        json!([{"type": "reasoning_text", "text": "Thinking."}])
    );
    assert_eq!(done["output"][1]["type"], "message", "{done}");

    let answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Done.",
                    "reasoning_content": "Thinking."}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}});
    h.fake.script(
        "gpt-4o-mini",
        [Scenario::Raw {
            code: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: answer.to_string(),
        }],
    );
    let v: Value = post(&h, &json!({"model": "gpt-4o-mini", "input": "hi"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["output"][0]["type"], "reasoning", "{v}");
    assert_eq!(
        v["output"][0]["content"],
        json!([{"type": "reasoning_text", "text": "Thinking."}])
    );
    assert_eq!(output_text(&v), "Done.");
    h.stop().await;
}
