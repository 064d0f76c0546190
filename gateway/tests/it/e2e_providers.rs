//! End-to-end through the Anthropic and Gemini adapters: the client speaks OpenAI, the fake
//! checks the vendor's wire format, and the outcome row carries the vendor's usage and cost.

use router_core::{ModelId, OutcomeStatus};
use serde_json::{json, Value};
use testkit::{Scenario, Usage, Wire};

use crate::e2e_harness::{chat_body, done_chunks, header, streamed_text, Harness};

/// (catalog id, the name the fake sees, the wire it must receive)
const VENDORS: [(&str, &str, Wire); 2] = [
    ("claude-haiku-4.5", "claude-haiku-4-5", Wire::Anthropic),
    ("gemini-2.5-flash", "gemini-2.5-flash", Wire::Gemini),
];

#[tokio::test]
async fn non_stream_answers_are_translated_to_openai_and_logged() {
    for (model, upstream, wire) in VENDORS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake.script(
            upstream,
            [Scenario::reply_with_usage(
                "translated answer",
                Usage {
                    input_tokens: 30,
                    output_tokens: 4,
                },
            )],
        );
        let mut body = chat_body(model, false, "Say something");
        body["messages"] = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say something"}
        ]);
        let resp = h.chat(&body).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(header(&resp, "x-switchyard-model"), model);
        let cost: f64 = header(&resp, "x-switchyard-cost-usd").parse().unwrap();
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["object"], "chat.completion", "{model}: {v}");
        assert_eq!(v["choices"][0]["message"]["content"], "translated answer");
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{model}: {v}");
        assert_eq!(v["usage"]["prompt_tokens"], 30);
        assert_eq!(v["usage"]["completion_tokens"], 4);

        let sent = &h.fake.requests()[0];
        assert_eq!(sent.wire, wire, "{model}");
        assert_eq!(sent.model.as_deref(), Some(upstream));

        let row = h.only_row().await;
        assert_eq!(row.status, OutcomeStatus::Ok);
        assert_eq!(row.model, Some(ModelId::new(model)));
        assert_eq!((row.input_tokens, row.output_tokens), (Some(30), Some(4)));
        assert!(row.cost_usd.unwrap() > 0.0);
        assert!((row.cost_usd.unwrap() - cost).abs() < 1e-9);
        h.stop().await;
    }
}

#[tokio::test]
async fn streams_are_relayed_as_openai_chunks_with_usage() {
    for (model, upstream, wire) in VENDORS {
        let h = Harness::with(&[model], |_| {}).await;
        h.fake
            .script(upstream, [Scenario::reply("streamed from the vendor")]);
        let mut body = chat_body(model, true, "Stream please");
        body["stream_options"] = json!({"include_usage": true});
        let resp = h.chat(&body).await;
        assert_eq!(resp.status(), 200, "{model}");
        let chunks = done_chunks(&resp.text().await.unwrap());
        assert_eq!(
            streamed_text(&chunks),
            "streamed from the vendor",
            "{model}: {chunks:?}"
        );
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"));
        assert!(
            chunks
                .iter()
                .any(|c| c["choices"][0]["finish_reason"] == "stop"),
            "{model}: {chunks:?}"
        );
        assert!(
            chunks
                .iter()
                .any(|c| c["usage"]["completion_tokens"].as_u64() > Some(0)),
            "{model}: {chunks:?}"
        );
        let sent = &h.fake.requests()[0];
        assert_eq!(sent.wire, wire);
        assert!(sent.stream, "{model} was asked to stream");

        let row = h.only_row().await;
        assert_eq!(row.status, OutcomeStatus::Ok, "{model}");
        assert!(row.output_tokens.unwrap() > 0, "{model}");
        assert!(row.cost_usd.unwrap() > 0.0, "{model}");
        h.stop().await;
    }
}

#[tokio::test]
async fn failover_crosses_dialects() {
    let h = Harness::with(
        &["claude-haiku-4.5", "gemini-2.5-flash", "gpt-4o-mini"],
        |_| {},
    )
    .await;
    h.fake.script("claude-haiku-4-5", [Scenario::status(529)]);
    h.fake.script("gemini-2.5-flash", [Scenario::status(503)]);
    let resp = h.chat(&chat_body("claude-haiku-4.5", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let row = h.only_row().await;
    // Claude failed first; Gemini (which also fails) may rank before or after gpt-4o-mini.
    let first = &row.attempts[0];
    assert_eq!(
        (first.model.as_str(), first.status_code),
        ("claude-haiku-4.5", Some(529))
    );
    let last = row.attempts.last().unwrap();
    assert_eq!(
        (last.model.as_str(), last.error.as_deref()),
        ("gpt-4o-mini", None)
    );
    assert_eq!(row.attempts.len(), 2 + h.fake.calls("gemini-2.5-flash"));
    assert_eq!(row.model, Some(ModelId::new("gpt-4o-mini")));
    h.stop().await;
}

/// Gemini's `MALFORMED_FUNCTION_CALL` finish carries no tool call (only any text before it):
/// the attempt fails over instead of answering 200 with an empty message, streamed or not.
#[tokio::test]
async fn a_malformed_gemini_function_call_fails_over() {
    let finish = json!({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}});
    for stream in [false, true] {
        let h = Harness::with(&["gemini-2.5-flash", "gpt-4o-mini"], |_| {}).await;
        let (content_type, body) = if stream {
            ("text/event-stream", format!("data: {finish}\n\n"))
        } else {
            ("application/json", finish.to_string())
        };
        h.fake.script(
            "gemini-2.5-flash",
            [Scenario::Raw {
                code: 200,
                headers: vec![("content-type".to_owned(), content_type.to_owned())],
                body,
            }],
        );
        let mut req = chat_body("gemini-2.5-flash", stream, "look it up");
        req["tools"] = json!([{"type": "function", "function": {"name": "search",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
        let resp = h.chat(&req).await;
        assert_eq!(resp.status(), 200, "stream {stream}");
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
        let text = resp.text().await.unwrap();
        if stream {
            assert!(!done_chunks(&text).is_empty(), "{text}");
        }
        let row = h.only_row().await;
        let first = &row.attempts[0];
        assert_eq!(
            (first.model.as_str(), first.error.as_deref()),
            ("gemini-2.5-flash", Some("decode")),
            "stream {stream}"
        );
        assert_eq!(row.model, Some(ModelId::new("gpt-4o-mini")));
        h.stop().await;
    }
}

/// A `json_schema` response format reaches Gemini as `responseJsonSchema`: the answer is
/// constrained to the client's shape, not only to JSON.
#[tokio::test]
async fn a_json_schema_response_format_reaches_gemini() {
    let h = Harness::with(&["gemini-2.5-flash"], |_| {}).await;
    let schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "properties": {"city": {"type": "string"}},
        "required": ["city"], "additionalProperties": false});
    let mut req = chat_body("gemini-2.5-flash", false, "Where is the Eiffel tower?");
    req["response_format"] = json!({"type": "json_schema",
        "json_schema": {"name": "place", "strict": true, "schema": schema}});
    let resp = h.chat(&req).await;
    assert_eq!(resp.status(), 200);
    let sent = &h.fake.requests()[0].body["generationConfig"];
    assert_eq!(sent["responseMimeType"], "application/json");
    let mut expected = schema.clone();
    expected.as_object_mut().unwrap().remove("$schema");
    assert_eq!(sent["responseJsonSchema"], expected);
    h.stop().await;
}

/// Claude 4.5 and later hold an answer to a JSON Schema (`output_config.format`): a
/// `json_schema` response format reaches it rewritten to what Claude takes (the fake refuses
/// what Claude refuses: an open object, `minimum`), from chat and from `/v1/messages` (its
/// `output_config.format`, and the beta's top-level `output_format`), which also reaches
/// Gemini as its schema.
#[tokio::test]
async fn structured_outputs_reach_claude_from_either_dialect() {
    let h = Harness::with(&["claude-haiku-4.5", "gemini-2.5-flash"], |_| {}).await;
    let schema = json!({"type": "object", "properties": {
        "year": {"type": "integer", "minimum": 1900}}, "required": ["year"]});
    let sent_schema = || {
        let sent = h.fake.requests().pop().unwrap();
        assert_eq!(sent.wire, Wire::Anthropic);
        assert_eq!(sent.body["output_config"]["format"]["type"], "json_schema");
        sent.body["output_config"]["format"]["schema"].clone()
    };
    let mut chat = chat_body("claude-haiku-4.5", false, "When did Apollo 11 land?");
    chat["response_format"] = json!({"type": "json_schema",
        "json_schema": {"name": "landing", "schema": schema}});
    let resp = h.chat(&chat).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = sent_schema();
    assert_eq!(sent["additionalProperties"], false, "{sent}");
    assert_eq!(sent["properties"]["year"]["description"], "(minimum: 1900)");

    let messages = |model: &str, format_key: &str| {
        let mut body = json!({"model": model, "max_tokens": 64,
            "messages": [{"role": "user", "content": "When did Apollo 11 land?"}]});
        let format = json!({"type": "json_schema", "schema": schema});
        match format_key {
            "output_format" => body["output_format"] = format,
            _ => body["output_config"] = json!({"format": format}),
        }
        body
    };
    for key in ["output_config", "output_format"] {
        let resp = h
            .post_json("/v1/messages", &messages("claude-haiku-4.5", key))
            .await;
        assert_eq!(resp.status(), 200, "{key}: {}", resp.text().await.unwrap());
        assert_eq!(sent_schema()["additionalProperties"], false, "{key}");
    }
    let resp = h
        .post_json(
            "/v1/messages",
            &messages("gemini-2.5-flash", "output_config"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let sent = h.fake.requests().pop().unwrap();
    assert_eq!(sent.body["generationConfig"]["responseJsonSchema"], schema);

    // A format that is not a schema is a 400 in Anthropic's shape, with no upstream call.
    let mut bad = messages("claude-haiku-4.5", "output_config");
    bad["output_config"]["format"] = json!({"type": "json_object"});
    let calls = h.fake.requests().len();
    let resp = h.post_json("/v1/messages", &bad).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert_eq!(h.fake.requests().len(), calls);
    h.stop().await;
}

/// `auto` sends a `json_schema` request to a Claude model that holds answers to a schema,
/// never to one that does not; Claude has no schema-free JSON mode, so `json_object` is not
/// routed to it.
#[tokio::test]
async fn auto_routes_json_schema_requests_only_to_models_that_enforce_a_schema() {
    let h = Harness::with(&["claude-haiku-4.5", "claude-sonnet-4"], |_| {}).await;
    let format = json!({"type": "json_schema", "json_schema": {"name": "x",
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}});
    for _ in 0..3 {
        let mut req = chat_body("auto", false, "Give me an object");
        req["response_format"] = format.clone();
        let resp = h.chat(&req).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "x-switchyard-model"), "claude-haiku-4.5");
    }
    let mut pinned = chat_body("claude-sonnet-4", false, "Give me an object");
    pinned["response_format"] = format;
    let err = crate::e2e_harness::openai_error(h.chat(&pinned).await, 400).await;
    assert_eq!(err["code"], "capability_unavailable", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("structured_outputs"),
        "{err}"
    );
    let mut object = chat_body("auto", false, "Give me an object");
    object["response_format"] = json!({"type": "json_object"});
    let err = crate::e2e_harness::openai_error(h.chat(&object).await, 400).await;
    assert_eq!(err["code"], "capability_unavailable", "{err}");
    h.stop().await;
}

/// A model whose API has JSON mode but refuses a schema (`refuses = ["json_schema"]`:
/// DeepSeek, OpenAI's pre-gpt-4o snapshots) is left out of `auto` for `json_schema`
/// requests, and still chosen for `json_object` ones.
#[tokio::test]
async fn auto_leaves_models_that_refuse_a_schema_out_of_json_schema_requests() {
    let h = Harness::with(&["gpt-3.5-turbo-1106", "gpt-4o"], |_| {}).await;
    // Price dominates: the cheaper gpt-3.5-turbo-1106 wins whatever it can serve.
    let body = |format: Value| {
        let mut b = chat_body("auto", false, "Give me an object");
        b["response_format"] = format;
        b["router"] = json!({"willingness_to_pay": 0.0001});
        b
    };
    let resp = h.chat(&body(json!({"type": "json_object"}))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-3.5-turbo-1106");
    let schema = json!({"type": "json_schema", "json_schema": {"name": "x",
        "schema": {"type": "object", "properties": {}, "additionalProperties": false}}});
    let resp = h.chat(&body(schema)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    h.stop().await;
}

/// A schema Claude refuses (here a map-typed object, which cannot be closed without
/// forbidding every entry) gets Claude's 400, and the request moves on to a model that takes
/// it rather than failing for a model the client may not have chosen.
#[tokio::test]
async fn a_schema_claude_refuses_moves_on_to_the_next_candidate() {
    let h = Harness::with(&["claude-haiku-4.5", "gpt-4o-mini"], |_| {}).await;
    let mut req = chat_body("claude-haiku-4.5", false, "Count the words");
    req["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "counts",
        "schema": {"type": "object", "properties": {"counts": {"type": "object",
            "additionalProperties": {"type": "integer"}}}, "required": ["counts"]}}});
    let resp = h.chat(&req).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let row = h.only_row().await;
    assert_eq!(row.model, Some(ModelId::new("gpt-4o-mini")));
    assert_eq!(row.attempts[0].status_code, Some(400), "{:?}", row.attempts);
    h.stop().await;
}

/// A Chat Completions client's `reasoning_effort` reaches Claude as `output_config.effort`, as
/// the nearest level the model takes (`upstream::fit`, the catalog's `efforts`), and does not
/// reach a Claude model that takes no effort (Anthropic answers 400 to it there).
#[tokio::test]
async fn reasoning_effort_reaches_claude_as_output_config_effort() {
    let models = [
        "claude-sonnet-5",
        "claude-opus-4.6",
        "claude-opus-4.5",
        "claude-haiku-4.5",
        "claude-sonnet-4.5",
    ];
    let h = Harness::with(&models, |_| {}).await;
    let last_sent = || {
        let sent = h.fake.requests().pop().unwrap();
        assert_eq!(sent.wire, Wire::Anthropic);
        sent.body
    };
    for (model, asked, expected) in [
        ("claude-sonnet-5", "low", Some("low")),
        ("claude-sonnet-5", "xhigh", Some("xhigh")),
        // OpenAI's values Claude has not: the least, and the most the model takes.
        ("claude-sonnet-5", "minimal", Some("low")),
        ("claude-sonnet-5", "none", Some("low")),
        ("claude-opus-4.6", "xhigh", Some("max")),
        ("claude-opus-4.5", "max", Some("high")),
        ("claude-opus-4.5", "medium", Some("medium")),
        // Models that take no effort, and a value no API knows: none is sent.
        ("claude-haiku-4.5", "low", None),
        ("claude-sonnet-4.5", "high", None),
        ("claude-sonnet-5", "extreme", None),
    ] {
        let mut body = chat_body(model, false, "Say something");
        body["reasoning_effort"] = json!(asked);
        let resp = h.chat(&body).await;
        assert_eq!(
            resp.status(),
            200,
            "{model} {asked}: {}",
            resp.text().await.unwrap()
        );
        let sent = last_sent();
        assert_eq!(
            sent["output_config"]["effort"].as_str(),
            expected,
            "{model} {asked}: {sent}"
        );
        assert!(sent.get("reasoning_effort").is_none(), "{sent}");
        if expected.is_none() {
            assert!(sent.get("output_config").is_none(), "{model}: {sent}");
        }
    }
    // No effort asked: none sent, the model runs at its default.
    let resp = h
        .chat(&chat_body("claude-sonnet-5", false, "Say something"))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(last_sent().get("output_config").is_none());
    h.stop().await;
}

/// A schema and an effort together reach Claude in one `output_config`, from either dialect.
#[tokio::test]
async fn a_schema_and_an_effort_reach_claude_together() {
    let h = Harness::with(&["claude-sonnet-5"], |_| {}).await;
    let schema = json!({"type": "object", "properties": {"year": {"type": "integer"}},
        "required": ["year"]});
    let mut chat = chat_body("claude-sonnet-5", false, "When did Apollo 11 land?");
    chat["response_format"] = json!({"type": "json_schema",
        "json_schema": {"name": "landing", "schema": schema}});
    chat["reasoning_effort"] = json!("medium");
    let resp = h.chat(&chat).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let messages = json!({"model": "claude-sonnet-5", "max_tokens": 64,
        "messages": [{"role": "user", "content": "When did Apollo 11 land?"}],
        "output_config": {"effort": "medium",
            "format": {"type": "json_schema", "schema": schema}}});
    let resp = h.post_json("/v1/messages", &messages).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let sent = h.fake.requests();
    assert_eq!(sent.len(), 2);
    for s in sent {
        let config = &s.body["output_config"];
        assert_eq!(config["effort"], "medium", "{config}");
        assert_eq!(config["format"]["type"], "json_schema", "{config}");
        assert_eq!(
            config["format"]["schema"]["properties"]["year"]["type"],
            "integer"
        );
    }
    h.stop().await;
}

/// A `/v1/messages` client's `output_config.effort` is the internal `reasoning_effort`: an
/// OpenAI reasoning model gets it as `reasoning_effort` (the nearest value it takes), Claude as
/// `output_config.effort`; a level Anthropic does not have is a 400 in Anthropic's shape
/// naming the levels, with no upstream call.
#[tokio::test]
async fn a_messages_effort_reaches_every_dialect_and_unknown_levels_are_refused() {
    let h = Harness::with(&["gpt-5", "claude-opus-4.6"], |_| {}).await;
    let messages = |model: &str, effort: &str| {
        json!({"model": model, "max_tokens": 64, "output_config": {"effort": effort},
            "messages": [{"role": "user", "content": "Prove that sqrt(2) is irrational."}]})
    };
    for (model, asked, expected) in [
        ("gpt-5", "low", "low"),
        // GPT-5 takes minimal to high.
        ("gpt-5", "max", "high"),
        ("claude-opus-4.6", "medium", "medium"),
        ("claude-opus-4.6", "xhigh", "max"),
    ] {
        let resp = h.post_json("/v1/messages", &messages(model, asked)).await;
        assert_eq!(
            resp.status(),
            200,
            "{model}: {}",
            resp.text().await.unwrap()
        );
        let sent = h.fake.requests().pop().unwrap();
        if model.starts_with("gpt") {
            assert_eq!(sent.wire, Wire::OpenAi);
            assert_eq!(sent.body["reasoning_effort"], expected, "{}", sent.body);
            assert!(sent.body.get("output_config").is_none(), "{}", sent.body);
        } else {
            assert_eq!(sent.wire, Wire::Anthropic);
            assert_eq!(
                sent.body["output_config"]["effort"], expected,
                "{}",
                sent.body
            );
        }
    }

    let calls = h.fake.requests().len();
    for bad in ["extreme", "minimal", "HIGH", ""] {
        let resp = h.post_json("/v1/messages", &messages("gpt-5", bad)).await;
        assert_eq!(resp.status(), 400, "{bad}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("output_config.effort")
                && message.contains("low, medium, high, xhigh, max"),
            "{message}"
        );
    }
    assert_eq!(h.fake.requests().len(), calls, "no upstream call");
    h.stop().await;
}

/// A `/v1/messages` request for `model` with the client's `thinking` setting.
fn thinking_request(model: &str, thinking: &Value) -> Value {
    json!({"model": model, "max_tokens": 20000, "thinking": thinking,
        "messages": [{"role": "user", "content": "Plan a lock-free queue."}]})
}

/// What the fake received for [`thinking_request`], which must have been answered.
async fn sent_with_thinking(h: &Harness, model: &str, thinking: &Value) -> Value {
    let resp = h
        .post_json("/v1/messages", &thinking_request(model, thinking))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "{model}: {}",
        resp.text().await.unwrap()
    );
    h.fake.requests().pop().unwrap().body
}

/// A `/v1/messages` client's extended thinking (Claude Code sends it): Claude gets `thinking`
/// as asked; GPT-5 and Gemini get the nearest effort; a model that does not reason gets
/// neither; a budget Anthropic would refuse is a 400 before any call.
#[tokio::test]
async fn a_messages_thinking_budget_reaches_claude_as_asked_and_others_as_an_effort() {
    let h = Harness::with(
        &["claude-sonnet-4.5", "gpt-5", "gpt-4o", "gemini-2.5-flash"],
        |_| {},
    )
    .await;
    let enabled = json!({"type": "enabled", "budget_tokens": 8000});
    for (model, thinking) in [
        ("claude-sonnet-4.5", enabled.clone()),
        ("claude-sonnet-4.5", json!({"type": "disabled"})),
        ("gpt-5", enabled.clone()),
        ("gpt-4o", enabled.clone()),
        ("gemini-2.5-flash", enabled.clone()),
    ] {
        let sent = sent_with_thinking(&h, model, &thinking).await;
        match model {
            "claude-sonnet-4.5" => assert_eq!(sent["thinking"], thinking, "{sent}"),
            "gpt-5" => {
                assert_eq!(sent["reasoning_effort"], "medium", "{sent}");
                assert!(sent.get("thinking").is_none(), "{sent}");
            }
            "gpt-4o" => {
                assert!(sent.get("thinking").is_none(), "{sent}");
                assert!(sent.get("reasoning_effort").is_none(), "{sent}");
            }
            _ => {
                let config = &sent["generationConfig"]["thinkingConfig"];
                assert_eq!(config["thinkingBudget"], 8192, "{sent}");
                assert!(sent.get("thinking").is_none(), "{sent}");
            }
        }
    }

    let calls = h.fake.requests().len();
    for bad in [
        json!({"type": "enabled", "budget_tokens": 512}),
        json!({"type": "enabled", "budget_tokens": 20000}),
        json!({"type": "sometimes"}),
    ] {
        let resp = h
            .post_json("/v1/messages", &thinking_request("claude-sonnet-4.5", &bad))
            .await;
        assert_eq!(resp.status(), 400, "{bad}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("thinking")
                || v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("sometimes"),
            "{v}"
        );
    }
    assert_eq!(h.fake.requests().len(), calls, "no upstream call");
    h.stop().await;
}

/// Claude from 4.7 takes no thinking budget and Claude 5.5 cannot turn thinking off (Anthropic
/// answers 400 to both): a Claude Code client's `enabled` budget reaches them as `adaptive` at
/// the budget's effort, its `disabled` as no `thinking` at the lowest effort.
#[tokio::test]
async fn a_messages_thinking_setting_reaches_current_claude_in_the_form_it_takes() {
    let h = Harness::with(&["claude-haiku-5.5", "claude-opus-5.5"], |_| {}).await;
    for (model, thinking, sent_thinking, effort) in [
        (
            "claude-haiku-5.5",
            json!({"type": "enabled", "budget_tokens": 8000}),
            Some(json!({"type": "adaptive"})),
            "medium",
        ),
        (
            "claude-opus-5.5",
            json!({"type": "enabled", "budget_tokens": 2000}),
            Some(json!({"type": "adaptive"})),
            "low",
        ),
        ("claude-opus-5.5", json!({"type": "disabled"}), None, "low"),
    ] {
        let sent = sent_with_thinking(&h, model, &thinking).await;
        assert_eq!(
            sent.get("thinking"),
            sent_thinking.as_ref(),
            "{model} {thinking}: {sent}"
        );
        assert_eq!(
            sent["output_config"]["effort"], effort,
            "{model} {thinking}: {sent}"
        );
    }
    h.stop().await;
}

/// A Chat Completions client's `reasoning_effort` reaches Gemini as
/// `generationConfig.thinkingConfig`: a `thinkingLevel` on Gemini 3 (the nearest the model
/// takes), a `thinkingBudget` on 2.5 (Google's budgets; `none` off on Flash, the least budget
/// on Pro, which cannot turn thinking off), never both; nothing on Gemini 2.0, which has no
/// thinking control, nor without an effort.
#[tokio::test]
async fn reasoning_effort_reaches_gemini_as_a_thinking_level_or_budget() {
    let models = [
        "gemini-3.1-pro-preview",
        "gemini-3-flash-preview",
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "gemini-2.0-flash-001",
    ];
    let h = Harness::with(&models, |_| {}).await;
    let level = |l: &str| Some(json!({"thinkingLevel": l}));
    let budget = |b: u32| Some(json!({"thinkingBudget": b}));
    let cases = [
        ("gemini-3.1-pro-preview", Some("low"), level("low")),
        // 3.1 Pro has no `minimal`: its least level.
        ("gemini-3.1-pro-preview", Some("none"), level("low")),
        ("gemini-3-flash-preview", Some("low"), level("low")),
        ("gemini-3-flash-preview", Some("none"), level("minimal")),
        ("gemini-3-flash-preview", Some("xhigh"), level("high")),
        ("gemini-2.5-flash", Some("low"), budget(1024)),
        ("gemini-2.5-flash", Some("high"), budget(24576)),
        ("gemini-2.5-flash", Some("none"), budget(0)),
        // 2.5 Pro cannot turn thinking off: its least budget.
        ("gemini-2.5-pro", Some("none"), budget(128)),
        ("gemini-2.5-pro", Some("medium"), budget(8192)),
        // No thinking control, a value no API knows, no effort asked: nothing is sent, the
        // model thinks at its default.
        ("gemini-2.0-flash-001", Some("low"), None),
        ("gemini-2.5-flash", Some("extreme"), None),
        ("gemini-3-flash-preview", None, None),
        ("gemini-2.5-flash", None, None),
    ];
    for (model, asked, _) in &cases {
        let mut body = chat_body(model, false, "Say something");
        if let Some(asked) = asked {
            body["reasoning_effort"] = json!(asked);
        }
        let status = h.chat(&body).await.status();
        assert_eq!(status, 200, "{model} {asked:?}");
    }
    let sent = h.fake.requests();
    assert_eq!(sent.len(), cases.len());
    for ((model, asked, expected), sent) in cases.iter().zip(sent) {
        assert_eq!(sent.wire, Wire::Gemini);
        let config = sent.body.get("generationConfig");
        let thinking = config.and_then(|c| c.get("thinkingConfig"));
        let body = &sent.body;
        assert_eq!(thinking, expected.as_ref(), "{model} {asked:?}: {body}");
        assert!(body.get("reasoning_effort").is_none(), "{body}");
        assert!(expected.is_some() || config.is_none(), "{model}: {body}");
    }
    h.stop().await;
}

/// A `/v1/messages` client's `output_config.effort` reaches Gemini as its thinking setting,
/// streamed or not: Anthropic's `max` as Gemini 3's highest level, `low` as 2.5's budget.
#[tokio::test]
async fn a_messages_effort_reaches_gemini() {
    let h = Harness::with(&["gemini-3.5-flash", "gemini-2.5-flash-lite"], |_| {}).await;
    let level = |l: &str| json!({"thinkingLevel": l});
    let budget = |b: u32| json!({"thinkingBudget": b});
    for (model, effort, stream, expected) in [
        ("gemini-3.5-flash", "max", false, level("high")),
        ("gemini-3.5-flash", "low", true, level("low")),
        ("gemini-2.5-flash-lite", "low", false, budget(1024)),
    ] {
        let body = json!({"model": model, "max_tokens": 64, "stream": stream,
            "output_config": {"effort": effort},
            "messages": [{"role": "user", "content": "Prove that sqrt(2) is irrational."}]});
        let resp = h.post_json("/v1/messages", &body).await;
        assert_eq!(
            resp.status(),
            200,
            "{model}: {}",
            resp.text().await.unwrap()
        );
        let _ = resp.bytes().await;
        let sent = h.fake.requests().pop().unwrap();
        assert_eq!(sent.wire, Wire::Gemini);
        assert_eq!(sent.stream, stream);
        let config = &sent.body["generationConfig"];
        assert_eq!(
            config["thinkingConfig"], expected,
            "{model} {effort}: {config}"
        );
        assert_eq!(config["maxOutputTokens"], 64, "{config}");
    }
    h.stop().await;
}
