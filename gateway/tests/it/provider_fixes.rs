//! The provider-adapter findings of the review in `/tmp/review_providers.md`, end to end: the
//! real gateway on loopback against the testkit fake, whose vendors refuse what the real APIs
//! refuse (Anthropic: a blank stop sequence, `temperature` beside `top_p`; Gemini: a
//! function-calling config without declarations). Hostile or rare vendor answers are scripted
//! with `Scenario::Raw`.

use router_core::{ModelId, OutcomeStatus};
use serde_json::{json, Value};
use testkit::Scenario;

use crate::e2e_harness::{
    chat_body, done_chunks, header, openai_error, provider, sse_data, streamed_text, Harness,
};
use gateway::upstream::ProviderKind;

/// A 200 with `body` as JSON.
fn raw_json(body: Value) -> Scenario {
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string(),
    }
}

/// A 200 server-sent event stream of `events` (`data:` payloads, each its own event).
fn raw_sse(events: &[String]) -> Scenario {
    let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    Scenario::Raw {
        code: 200,
        headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
        body,
    }
}

/// The concatenated arguments of each streamed tool call, by index.
fn streamed_arguments(chunks: &[Value]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for call in chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
    {
        let i = call["index"].as_u64().unwrap() as usize;
        if args.len() <= i {
            args.resize(i + 1, String::new());
        }
        args[i].push_str(call["function"]["arguments"].as_str().unwrap_or_default());
    }
    args
}

// ---- #1: Anthropic gets `temperature` without `top_p`. ----

#[tokio::test]
async fn claude_gets_temperature_without_top_p() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    for stream in [false, true] {
        let mut body = chat_body("claude-haiku-4.5", stream, "hi");
        body["temperature"] = json!(0.7);
        body["top_p"] = json!(0.9);
        let resp = h.chat(&body).await;
        assert_eq!(resp.status(), 200, "stream {stream}");
        let _ = resp.text().await.unwrap();
        let sent = h.fake.requests().last().unwrap().body.clone();
        assert_eq!(sent["temperature"], 0.7, "{sent}");
        assert!(sent.get("top_p").is_none(), "{sent}");
    }
    h.stop().await;
}

// ---- #6: a blank stop sequence is the gateway's to cut for Anthropic. ----

#[tokio::test]
async fn a_blank_stop_sequence_is_cut_by_the_gateway_for_claude() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    for stream in [false, true] {
        h.fake
            .script("claude-haiku-4-5", [Scenario::reply("line one\nline two")]);
        let mut body = chat_body("claude-haiku-4.5", stream, "two lines");
        body["stop"] = json!(["END", "\n"]);
        let resp = h.chat(&body).await;
        assert_eq!(resp.status(), 200, "stream {stream}");
        let text = resp.text().await.unwrap();
        let answer = if stream {
            streamed_text(&done_chunks(&text))
        } else {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(answer, "line one", "stream {stream}");
        let sent = h.fake.requests().last().unwrap().body.clone();
        assert!(sent.get("stop_sequences").is_none(), "{sent}");
    }
    // Sequences with something to match still go to Claude.
    let mut body = chat_body("claude-haiku-4.5", false, "hi");
    body["stop"] = json!(["END"]);
    assert_eq!(h.chat(&body).await.status(), 200);
    assert_eq!(
        h.fake.requests().last().unwrap().body["stop_sequences"],
        json!(["END"])
    );
    h.stop().await;
}

// ---- #3: a streamed Claude tool call without arguments reads `{}`. ----

#[tokio::test]
async fn a_streamed_claude_tool_call_without_arguments_reads_as_an_empty_object() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "content": [], "model": "claude-haiku-4-5",
            "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block":
            {"type": "tool_use", "id": "toolu_1", "name": "snooze", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ""}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 3}}),
        json!({"type": "message_stop"}),
    ];
    let events: Vec<String> = events.iter().map(Value::to_string).collect();
    h.fake.script("claude-haiku-4-5", [raw_sse(&events)]);
    let resp = h.chat(&chat_body("claude-haiku-4.5", true, "nap")).await;
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert_eq!(streamed_arguments(&chunks), vec!["{}"], "{chunks:?}");
    h.stop().await;
}

// ---- #4: a Gemini call without `args` reads `{}`, and goes to Claude as `input: {}`. ----

#[tokio::test]
async fn a_gemini_call_without_args_reads_and_travels_as_an_empty_object() {
    let h = Harness::with(&["gemini-2.5-flash", "claude-haiku-4.5"], |_| {}).await;
    let answer = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "get_time"}}]},
                        "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}
    });
    let sse = vec![answer.to_string()];
    h.fake.script(
        "gemini-2.5-flash",
        [raw_json(answer.clone()), raw_sse(&sse)],
    );
    let resp = h.chat(&chat_body("gemini-2.5-flash", false, "time?")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let call = v["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["arguments"], "{}", "{v}");
    let resp = h.chat(&chat_body("gemini-2.5-flash", true, "time?")).await;
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert_eq!(streamed_arguments(&chunks), vec!["{}"], "{chunks:?}");

    // The history, with the `"null"` older gateways gave, goes to Claude with an object.
    let mut call = call;
    call["function"]["arguments"] = json!("null");
    let body = json!({
        "model": "claude-haiku-4.5",
        "messages": [
            {"role": "user", "content": "time?"},
            {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
            {"role": "tool", "tool_call_id": call["id"], "content": "noon"}
        ],
    });
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = h.fake.requests().last().unwrap().body.clone();
    let tool_use = sent["messages"][1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .cloned()
        .unwrap();
    assert_eq!(tool_use["input"], json!({}), "{sent}");
    h.stop().await;
}

// ---- #7: an OpenAI-compatible chunk carrying an error is an upstream error. ----

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn error_chunk() -> String {
    let mut c = chunk(json!({"content": ""}), Some("error"));
    c["error"] = json!({"code": "server_error", "message": "Provider disconnected unexpectedly"});
    c.to_string()
}

#[tokio::test]
async fn an_error_chunk_before_the_first_token_fails_over() {
    let h = Harness::openai().await;
    let role = chunk(json!({"role": "assistant", "content": ""}), None).to_string();
    h.fake.script(
        "gpt-4o-mini",
        [raw_sse(&[role, error_chunk(), "[DONE]".to_owned()])],
    );
    let resp = h.chat(&chat_body("gpt-4o-mini", true, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o");
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["finish_reason"] != "error"));
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::Ok);
    assert_eq!(row.attempts[0].model, ModelId::new("gpt-4o-mini"));
    assert_eq!(row.attempts[0].error.as_deref(), Some("server_error"));
    assert_eq!(row.model, Some(ModelId::new("gpt-4o")));
    h.stop().await;
}

#[tokio::test]
async fn an_error_chunk_after_the_first_token_ends_the_stream_with_an_error() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    let text = chunk(json!({"role": "assistant", "content": "Hel"}), None).to_string();
    h.fake.script(
        "gpt-4o-mini",
        [raw_sse(&[text, error_chunk(), "[DONE]".to_owned()])],
    );
    let resp = h.chat(&chat_body("gpt-4o-mini", true, "hi")).await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap());
    assert_ne!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "server_error", "{data:?}");
    let row = h.only_row().await;
    assert_eq!(row.status, OutcomeStatus::StreamInterrupted);
    h.stop().await;
}

// ---- #8: Claude cut at its context window finishes with `length`. ----

#[tokio::test]
async fn claude_cut_at_its_context_window_finishes_with_length() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    let answer = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "cut sh"}],
        "stop_reason": "model_context_window_exceeded", "stop_sequence": null,
        "usage": {"input_tokens": 5, "output_tokens": 2}
    });
    h.fake.script(
        "claude-haiku-4-5",
        [raw_json(answer.clone()), raw_json(answer)],
    );
    let v: Value = h
        .chat(&chat_body("claude-haiku-4.5", false, "long"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    let resp = h
        .post_json(
            "/v1/messages",
            &json!({"model": "claude-haiku-4.5", "max_tokens": 64,
                    "messages": [{"role": "user", "content": "long"}]}),
        )
        .await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["stop_reason"], "max_tokens", "{v}");
    h.stop().await;
}

// ---- #9: Gemini gets no `toolConfig` without declarations. ----

#[tokio::test]
async fn gemini_gets_no_tool_config_without_declarations() {
    let h = Harness::with(&["gemini-2.5-flash"], |_| {}).await;
    let mut body = chat_body("gemini-2.5-flash", false, "hi");
    body["tools"] = json!([]);
    body["tool_choice"] = json!("auto");
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = h.fake.requests().last().unwrap().body.clone();
    assert!(sent.get("toolConfig").is_none(), "{sent}");
    assert!(sent.get("tools").is_none(), "{sent}");
    h.stop().await;
}

// ---- #10: `n` above 1 is refused by name on Claude and Gemini; `auto` avoids them. ----

#[tokio::test]
async fn several_choices_are_refused_on_claude_and_gemini_and_auto_avoids_them() {
    let h = Harness::with(
        &["claude-haiku-4.5", "gemini-2.5-flash", "gpt-4o-mini"],
        |_| {},
    )
    .await;
    for model in ["claude-haiku-4.5", "gemini-2.5-flash"] {
        let mut body = chat_body(model, false, "hi");
        body["n"] = json!(3);
        let err = openai_error(h.chat(&body).await, 400).await;
        let message = err["message"].as_str().unwrap();
        assert!(message.contains("n:"), "{model}: {err}");
    }
    assert!(h.fake.requests().is_empty(), "nothing reached a vendor");

    // Without `n`, `auto` picks Claude or Gemini here (better than gpt-4o-mini); with it,
    // neither.
    let mut routed = chat_body("auto", false, "hi");
    routed["router"] = json!({"min_quality": 0.75});
    let resp = h.chat(&routed).await;
    assert_eq!(resp.status(), 200);
    assert_ne!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    routed["n"] = json!(3);
    let resp = h.chat(&routed).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    h.stop().await;
}

// ---- #11: cached and reasoning token details reach the client. ----

#[tokio::test]
async fn cached_and_reasoning_token_details_reach_the_client() {
    let h = Harness::with(&["claude-haiku-4.5", "gemini-2.5-flash"], |_| {}).await;
    h.fake.script(
        "claude-haiku-4-5",
        [raw_json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5000, "output_tokens": 3}
        }))],
    );
    let v: Value = h
        .chat(&chat_body("claude-haiku-4.5", false, "hi"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], 5010, "{v}");
    assert_eq!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"], 5000,
        "{v}"
    );

    h.fake.script(
        "gemini-2.5-flash",
        [raw_json(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]},
                            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 1000, "cachedContentTokenCount": 800,
                              "candidatesTokenCount": 10, "thoughtsTokenCount": 300,
                              "totalTokenCount": 1310}
        }))],
    );
    let v: Value = h
        .chat(&chat_body("gemini-2.5-flash", false, "hi"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 310, "{v}");
    assert_eq!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"], 800,
        "{v}"
    );
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"], 300,
        "{v}"
    );
    h.stop().await;
}

// ---- #2: DeepSeek's `reasoning_content` reaches the client and goes back. ----

async fn deepseek_harness() -> Harness {
    let fake = testkit::FakeProvider::start().await;
    let providers = vec![
        provider("openai", ProviderKind::Openai, &fake.openai_base_url()),
        provider("deepseek", ProviderKind::Openai, &fake.openai_base_url()),
    ];
    Harness::custom(
        fake,
        providers,
        &["deepseek-reasoner", "gpt-4o-mini"],
        |_| {},
    )
    .await
}

const REASONING: &str = "I should call the tool";

fn tool_call() -> Value {
    json!({"id": "call_1", "type": "function",
           "function": {"name": "get_time", "arguments": "{}"}})
}

#[tokio::test]
async fn deepseek_reasoning_reaches_the_client_and_goes_back() {
    let h = deepseek_harness().await;
    let answer = json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "deepseek-reasoner",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "reasoning_content": REASONING,
            "tool_calls": [tool_call()]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
    });
    let mut call_delta = tool_call();
    call_delta["index"] = json!(0);
    let usage = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1,
        "model": "deepseek-reasoner", "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}});
    let stream = [
        chunk(
            json!({"role": "assistant", "content": null, "reasoning_content": ""}),
            None,
        ),
        chunk(json!({"reasoning_content": "I should "}), None),
        chunk(json!({"reasoning_content": "call the tool"}), None),
        chunk(json!({"tool_calls": [call_delta]}), None),
        chunk(json!({}), Some("tool_calls")),
        usage,
    ];
    let mut events: Vec<String> = stream.iter().map(Value::to_string).collect();
    events.push("[DONE]".to_owned());
    h.fake
        .script("deepseek-reasoner", [raw_json(answer), raw_sse(&events)]);

    let v: Value = h
        .chat(&chat_body("deepseek-reasoner", false, "time?"))
        .await
        .json()
        .await
        .unwrap();
    let message = v["choices"][0]["message"].clone();
    assert_eq!(message["reasoning_content"], REASONING, "{v}");

    let resp = h.chat(&chat_body("deepseek-reasoner", true, "time?")).await;
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, REASONING, "{chunks:?}");
    assert_eq!(streamed_arguments(&chunks), vec!["{}"]);

    // The next turn gives DeepSeek its reasoning back; OpenAI, which refuses the field, gets
    // the same history without it.
    for model in ["deepseek-reasoner", "gpt-4o-mini"] {
        let body = json!({
            "model": model,
            "messages": [
                {"role": "user", "content": "time?"},
                message.clone(),
                {"role": "tool", "tool_call_id": "call_1", "content": "noon"}
            ],
        });
        assert_eq!(h.chat(&body).await.status(), 200, "{model}");
        let sent = h.fake.requests().last().unwrap().body.clone();
        assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], "call_1");
        if model == "deepseek-reasoner" {
            assert_eq!(
                sent["messages"][1]["reasoning_content"], REASONING,
                "{sent}"
            );
        } else {
            assert!(
                sent["messages"][1].get("reasoning_content").is_none(),
                "{sent}"
            );
        }
    }
    h.stop().await;
}

/// Reasoning between two parts of the answer (a model thinking again before its tool call)
/// reaches the client where it comes, no longer taken for a keep-alive.
#[tokio::test]
async fn reasoning_after_the_first_token_reaches_the_client() {
    let h = deepseek_harness().await;
    let mut call_delta = tool_call();
    call_delta["index"] = json!(0);
    let stream = [
        chunk(
            json!({"role": "assistant", "content": "Let me check."}),
            None,
        ),
        chunk(json!({"reasoning_content": REASONING}), None),
        chunk(json!({"tool_calls": [call_delta]}), None),
        chunk(json!({}), Some("tool_calls")),
    ];
    let mut events: Vec<String> = stream.iter().map(Value::to_string).collect();
    events.push("[DONE]".to_owned());
    h.fake.script("deepseek-reasoner", [raw_sse(&events)]);
    let resp = h.chat(&chat_body("deepseek-reasoner", true, "time?")).await;
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    let reasoning: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .filter(|r| !r.is_empty())
        .collect();
    assert_eq!(reasoning, vec![REASONING], "{chunks:?}");
    assert_eq!(streamed_text(&chunks), "Let me check.");
    h.stop().await;
}

// ---- A provider's redirect is not followed: the key and the prompt stay put. ----

#[tokio::test]
async fn a_provider_redirect_is_not_followed_and_fails_over() {
    let h = Harness::openai().await;
    let elsewhere = testkit::FakeProvider::start().await;
    let to = format!("{}/v1/chat/completions", elsewhere.base_url());
    for code in [301, 307, 308] {
        h.fake.script(
            "gpt-4o-mini",
            [Scenario::Raw {
                code,
                headers: vec![("location".to_owned(), to.clone())],
                body: String::new(),
            }],
        );
        let resp = h
            .chat(&chat_body("gpt-4o-mini", false, "a secret prompt"))
            .await;
        assert_eq!(resp.status(), 200, "{code}");
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o", "{code}");
        let _ = resp.text().await.unwrap();
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.requests().len()
    );
    let rows = h.rows().await;
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row.attempts[0].model, ModelId::new("gpt-4o-mini"));
        assert_eq!(row.attempts[0].error.as_deref(), Some("redirect"));
        assert_eq!(row.model, Some(ModelId::new("gpt-4o")));
    }

    // With nothing left to fail over to, the client gets a 502 and the row names the redirect
    // (its detail, with the target, goes to the gateway's log; 5xx bodies stay generic).
    let solo = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    solo.fake.script(
        "gpt-4o-mini",
        [Scenario::Raw {
            code: 307,
            headers: vec![("location".to_owned(), to.clone())],
            body: String::new(),
        }],
    );
    let resp = solo.chat(&chat_body("gpt-4o-mini", false, "hi")).await;
    let err = openai_error(resp, 502).await;
    assert_eq!(err["code"], "upstream_failed", "{err}");
    let row = solo.only_row().await;
    assert_eq!(row.attempts[0].error.as_deref(), Some("redirect"));
    assert!(elsewhere.requests().is_empty());
    solo.stop().await;
    h.stop().await;
}

// ---- Usage details reach `/v1/responses` and `/v1/messages` clients too. ----

#[tokio::test]
async fn usage_details_reach_responses_and_messages_clients() {
    let h = Harness::with(&["gpt-4o-mini"], |_| {}).await;
    let usage = json!({"prompt_tokens": 1000, "completion_tokens": 300, "total_tokens": 1300,
                       "prompt_tokens_details": {"cached_tokens": 800},
                       "completion_tokens_details": {"reasoning_tokens": 200}});
    let answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "hi"}}],
        "usage": usage});
    let stream = || {
        raw_sse(&[
            chunk(json!({"role": "assistant", "content": "hi"}), None).to_string(),
            chunk(json!({}), Some("stop")).to_string(),
            json!({"id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [], "usage": usage})
            .to_string(),
            "[DONE]".to_owned(),
        ])
    };
    let responses = json!({"model": "gpt-4o-mini", "input": "hi"});
    let messages = json!({"model": "gpt-4o-mini", "max_tokens": 64,
                          "messages": [{"role": "user", "content": "hi"}]});
    for stream_it in [false, true] {
        let scenario = || {
            if stream_it {
                stream()
            } else {
                raw_json(answer.clone())
            }
        };
        h.fake.script("gpt-4o-mini", [scenario(), scenario()]);
        let (usage, text) = usage_of(&h, "/v1/responses", &responses, stream_it).await;
        assert_eq!(
            usage["input_tokens_details"]["cached_tokens"], 800,
            "{text}"
        );
        assert_eq!(
            usage["output_tokens_details"]["reasoning_tokens"], 200,
            "{text}"
        );
        assert_eq!(usage["input_tokens"], 1000, "{text}");

        let (usage, text) = usage_of(&h, "/v1/messages", &messages, stream_it).await;
        // Anthropic counts cached input apart from `input_tokens`.
        assert_eq!(usage["cache_read_input_tokens"], 800, "{text}");
        assert_eq!(usage["input_tokens"], 200, "{text}");
        assert_eq!(usage["output_tokens"], 300, "{text}");
    }
    h.stop().await;
}

/// The usage `path` answers `body` with (`stream` set as asked): the answer's own, or, streamed,
/// the one its closing event carries (Responses' `response.completed`, Messages'
/// `message_delta`), and the answer's text for assertion messages.
async fn usage_of(h: &Harness, path: &str, body: &Value, stream: bool) -> (Value, String) {
    let mut body = body.clone();
    body["stream"] = json!(stream);
    let text = h.post_json(path, &body).await.text().await.unwrap();
    if !stream {
        let usage = serde_json::from_str::<Value>(&text).unwrap()["usage"].clone();
        return (usage, text);
    }
    let closing = sse_data(&text)
        .into_iter()
        .filter_map(|d| serde_json::from_str::<Value>(&d).ok())
        .find(|e| e["type"] == "response.completed" || e["type"] == "message_delta")
        .unwrap_or_else(|| panic!("no closing event in {text}"));
    let usage = if closing["type"] == "response.completed" {
        closing["response"]["usage"].clone()
    } else {
        closing["usage"].clone()
    };
    (usage, text)
}

// ---- Second review of the provider adapters (/tmp/review_providers.md, findings 1 to 7). ----

/// Anthropic's stream events, `data:` only (the adapter reads the type from the data).
fn claude_stream(delta_usage: Value) -> Vec<String> {
    [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "content": [], "model": "claude-haiku-4-5",
            "usage": {"input_tokens": 4, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "Hello there"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": delta_usage}),
        json!({"type": "message_stop"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect()
}

#[tokio::test]
async fn a_claude_stream_with_null_usage_counts_finishes_normally() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    h.fake.script(
        "claude-haiku-4-5",
        [raw_sse(&claude_stream(json!({
            "input_tokens": null, "output_tokens": 5,
            "cache_read_input_tokens": null, "cache_creation_input_tokens": null
        })))],
    );
    let mut body = chat_body("claude-haiku-4.5", true, "hi");
    body["stream_options"] = json!({"include_usage": true});
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let chunks = done_chunks(&resp.text().await.unwrap());
    assert_eq!(streamed_text(&chunks), "Hello there");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"),
        "{chunks:?}"
    );
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], 4, "{chunks:?}");
    assert_eq!(usage["completion_tokens"], 5, "{chunks:?}");
    assert_eq!(h.only_row().await.status, OutcomeStatus::Ok);
    h.stop().await;
}

const CREDIT_BALANCE: &str = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.";

fn error_status(code: u16, body: Value) -> Scenario {
    Scenario::Status {
        code,
        retry_after: None,
        body: Some(body.to_string()),
    }
}

#[tokio::test]
async fn claude_account_errors_fail_over_and_open_the_breaker() {
    let h = Harness::with(&["claude-haiku-4.5", "gpt-4o-mini"], |c| {
        c.circuit_breaker.failures_to_open = 2;
        c.circuit_breaker.open_for = std::time::Duration::from_secs(3600);
    })
    .await;
    h.fake.script(
        "claude-haiku-4-5",
        [
            error_status(
                400,
                json!({"type": "error", "error": {"type": "invalid_request_error",
                    "message": CREDIT_BALANCE}}),
            ),
            error_status(
                402,
                json!({"type": "error", "error": {"type": "billing_error",
                    "message": "Billing issue."}}),
            ),
        ],
    );
    for stream in [false, true, false] {
        let resp = h.chat(&chat_body("claude-haiku-4.5", stream, "hi")).await;
        assert_eq!(resp.status(), 200, "stream {stream}");
        assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
        let _ = resp.text().await.unwrap();
    }
    assert_eq!(
        h.fake.calls("claude-haiku-4-5"),
        2,
        "two account errors opened Anthropic's breaker"
    );
    let rows = h.rows().await;
    let errors: Vec<_> = rows
        .iter()
        .map(|r| r.attempts[0].error.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        errors.iter().filter(|e| *e == "auth").count(),
        2,
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e == "circuit_open"), "{errors:?}");
    h.stop().await;

    // With nothing to fail over to, the client learns that the provider failed, not the
    // operator's billing state as its own bad request.
    let solo = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    solo.fake.script(
        "claude-haiku-4-5",
        [error_status(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": CREDIT_BALANCE}}),
        )],
    );
    let err = openai_error(
        solo.chat(&chat_body("claude-haiku-4.5", false, "hi")).await,
        502,
    )
    .await;
    assert_eq!(err["code"], "upstream_auth", "{err}");
    assert!(!err.to_string().contains("credit"), "{err}");
    solo.stop().await;
}

#[tokio::test]
async fn gemini_2_gets_no_json_mime_type_beside_function_declarations() {
    let h = Harness::with(&["gemini-2.5-flash"], |_| {}).await;
    let mut body = chat_body("gemini-2.5-flash", false, "weather in Oslo?");
    body["response_format"] = json!({"type": "json_object"});
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = h.fake.requests().last().unwrap().body.clone();
    assert!(
        sent["tools"][0]["functionDeclarations"].is_array(),
        "{sent}"
    );
    assert!(
        sent["generationConfig"]["responseMimeType"].is_null(),
        "{sent}"
    );
    // Without tools, JSON mode stays.
    body.as_object_mut().unwrap().remove("tools");
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = h.fake.requests().last().unwrap().body.clone();
    assert_eq!(
        sent["generationConfig"]["responseMimeType"], "application/json",
        "{sent}"
    );
    h.stop().await;
}

#[tokio::test]
async fn gemini_failed_precondition_fails_over() {
    let h = Harness::with(&["gemini-2.5-flash", "gpt-4o-mini"], |_| {}).await;
    h.fake.script(
        "gemini-2.5-flash",
        [error_status(
            400,
            json!({"error": {"code": 400, "status": "FAILED_PRECONDITION",
                "message": "User location is not supported for the API use."}}),
        )],
    );
    let resp = h.chat(&chat_body("gemini-2.5-flash", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-switchyard-model"), "gpt-4o-mini");
    let row = h.only_row().await;
    assert_eq!(row.attempts[0].model, ModelId::new("gemini-2.5-flash"));
    assert_eq!(row.attempts[0].error.as_deref(), Some("auth"));
    h.stop().await;
}

#[tokio::test]
async fn claude_gets_a_digest_of_the_user_and_no_blank_text() {
    let h = Harness::with(&["claude-haiku-4.5"], |_| {}).await;
    let body = json!({
        "model": "claude-haiku-4.5",
        "user": "jane.doe@example.com",
        "messages": [
            {"role": "system", "content": " "},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "\n"},
            {"role": "user", "content": "go on"}
        ]
    });
    let resp = h.chat(&body).await;
    assert_eq!(resp.status(), 200);
    let sent = h.fake.requests().last().unwrap().body.clone();
    let user_id = sent["metadata"]["user_id"].as_str().unwrap();
    assert_eq!(
        user_id, "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d",
        "{sent}"
    );
    assert!(sent.get("system").is_none(), "{sent}");
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "text", "text": "go on"}
        ]}]),
        "{sent}"
    );
    h.stop().await;
}

fn gemini_429(delay: &str) -> Scenario {
    error_status(
        429,
        json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota.",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                         "retryDelay": delay}]}}),
    )
}

#[tokio::test]
async fn gemini_429_retry_delay_is_waited_for_and_reaches_the_client() {
    let h = Harness::with(&["gemini-2.5-flash"], |_| {}).await;
    // The last candidate is tried again after the body's delay.
    h.fake
        .script("gemini-2.5-flash", [gemini_429("0.2s"), Scenario::echo()]);
    let resp = h.chat(&chat_body("gemini-2.5-flash", false, "hi")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(h.fake.calls("gemini-2.5-flash"), 2);
    let _ = resp.text().await.unwrap();
    // A delay past the deadline is not waited for; the client gets it, clamped.
    h.fake.always("gemini-2.5-flash", gemini_429("5000.5s"));
    let resp = h.chat(&chat_body("gemini-2.5-flash", false, "hi")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(header(&resp, "retry-after"), "3600");
    h.stop().await;
}
