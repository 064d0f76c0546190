#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use testkit::{FakeProvider, Scenario, Usage as FakeUsage, REDACTED};

use super::stream::{Step, Translate, Translator};
use super::*;
use crate::openai::wire::{ChatCompletionChunk, FunctionDef, ImageUrl, Stop, Tool};
use crate::upstream::{ErrorSource, UpstreamErrorKind};

fn user(text: &str) -> ChatMessage {
    ChatMessage::text(Role::User, text)
}

fn request(messages: Vec<ChatMessage>) -> ChatCompletionRequest {
    ChatCompletionRequest {
        model: "auto".into(),
        messages,
        ..Default::default()
    }
}

fn tool_call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        kind: "function".into(),
        function: FunctionCall {
            name: name.into(),
            arguments: arguments.into(),
        },
    }
}

#[test]
fn system_messages_become_system_and_defaults_apply() {
    let mut req = request(vec![
        ChatMessage::text(Role::System, "be brief"),
        ChatMessage::text(Role::Developer, "answer in French"),
        user("hello"),
    ]);
    req.temperature = Some(1.6);
    req.top_p = Some(0.9);
    req.stop = Some(Stop::One("END".into()));
    req.user = Some("u-1".into());
    let body = messages_request(&req, "claude-3-5-haiku", false, &CallMemo::default()).unwrap();
    assert_eq!(body.model, "claude-3-5-haiku");
    assert_eq!(body.system.as_deref(), Some("be brief\n\nanswer in French"));
    assert_eq!(body.max_tokens, DEFAULT_MAX_TOKENS);
    assert_eq!(body.temperature, Some(1.0));
    assert_eq!(body.stop_sequences, Some(vec!["END".to_owned()]));
    assert_eq!(body.stream, None);
    let wire = serde_json::to_value(&body).unwrap();
    assert_eq!(
        wire["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
    );
    // The end-user id goes hashed (SHA-256 of "u-1"), never as the client sent it.
    assert_eq!(
        wire["metadata"]["user_id"],
        "a24a7f55f278dd49fb1f99c5507800cb198a5bfe10fe2126cd0b25672152b0da"
    );
    assert!(wire.get("tools").is_none());

    req.max_completion_tokens = Some(77);
    let body = messages_request(&req, "m", true, &CallMemo::default()).unwrap();
    assert_eq!(body.max_tokens, 77);
    assert_eq!(body.stream, Some(true));
}

#[test]
fn tool_turns_map_to_tool_use_and_merged_tool_results() {
    let mut assistant = ChatMessage::text(Role::Assistant, "let me look");
    assistant.tool_calls = Some(vec![
        tool_call("call_1", "weather", r#"{"city":"Oslo"}"#),
        tool_call("call_2", "time", ""),
    ]);
    let mut result_1 = ChatMessage::text(Role::Tool, "rainy");
    result_1.tool_call_id = Some("call_1".into());
    let mut result_2 = ChatMessage::text(Role::Tool, "noon");
    result_2.tool_call_id = Some("call_2".into());
    let mut req = request(vec![
        user("weather and time?"),
        assistant,
        result_1,
        result_2,
        user("thanks"),
    ]);
    req.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "weather".into(),
            description: Some("Weather by city".into()),
            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
            strict: None,
        },
    }]);
    req.tool_choice = Some(json!({"type": "function", "function": {"name": "weather"}}));
    let wire =
        serde_json::to_value(messages_request(&req, "m", false, &CallMemo::default()).unwrap())
            .unwrap();
    assert_eq!(wire["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        wire["messages"][1]["content"],
        json!([
            {"type": "text", "text": "let me look"},
            {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "call_2", "name": "time", "input": {}}
        ])
    );
    assert_eq!(
        wire["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "rainy"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "noon"},
            {"type": "text", "text": "thanks"}
        ]})
    );
    assert_eq!(wire["tools"][0]["name"], "weather");
    assert_eq!(
        wire["tools"][0]["input_schema"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(
        wire["tool_choice"],
        json!({"type": "tool", "name": "weather"})
    );

    for (openai, anthropic) in [
        (json!("auto"), json!({"type": "auto"})),
        (json!("required"), json!({"type": "any"})),
        (json!("none"), json!({"type": "none"})),
    ] {
        req.tool_choice = Some(openai);
        let wire =
            serde_json::to_value(messages_request(&req, "m", false, &CallMemo::default()).unwrap())
                .unwrap();
        assert_eq!(wire["tool_choice"], anthropic);
    }
}

#[test]
fn images_become_base64_or_url_blocks() {
    let msg = ChatMessage {
        content: Some(MessageContent::Parts(vec![
            ContentPart::Text {
                text: "what is this?".into(),
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "data:image/png;base64,iVBORw0K".into(),
                    detail: None,
                },
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "https://example.invalid/cat.jpg".into(),
                    detail: Some("low".into()),
                },
            },
        ])),
        ..user("")
    };
    let wire = serde_json::to_value(
        messages_request(&request(vec![msg]), "m", false, &CallMemo::default()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        wire["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}})
    );
    assert_eq!(
        wire["messages"][0]["content"][2],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.jpg"}})
    );
}

#[test]
fn untranslatable_requests_move_to_the_next_candidate() {
    let mut assistant = ChatMessage::text(Role::Assistant, "");
    assistant.tool_calls = Some(vec![tool_call("c", "f", "{not json")]);
    let err = messages_request(
        &request(vec![user("x"), assistant]),
        "m",
        false,
        &CallMemo::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
    // Another API takes it: the next candidate is tried, and no breaker counts it.
    assert!(err.retryable);
    let err = messages_request(
        &request(vec![ChatMessage::text(Role::System, "s")]),
        "m",
        false,
        &CallMemo::default(),
    )
    .unwrap_err();
    assert_eq!(err.source, ErrorSource::Downstream);
    // Empty text blocks are dropped (Anthropic rejects them), so this has no message left.
    assert!(messages_request(&request(vec![user("")]), "m", false, &CallMemo::default()).is_err());
}

#[test]
fn response_maps_text_tools_finish_and_cached_usage() {
    let resp: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 90}
    }))
    .unwrap();
    let out = chat_response(resp, "claude-x", &CallMemo::default());
    let choice = &out.choices[0];
    assert_eq!(out.id, "msg_1");
    assert_eq!(choice.message.content.as_deref(), Some("Checking."));
    let calls = choice.message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "toolu_1");
    assert_eq!(calls[0].function.arguments, r#"{"city":"Oslo"}"#);
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    let mut usage = Usage::new(100, 5);
    usage
        .extra
        .insert("prompt_tokens_details".into(), json!({"cached_tokens": 90}));
    assert_eq!(out.usage, Some(usage));
}

#[test]
fn finish_reasons_map() {
    assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
    assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
    assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
    assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
    assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
    assert_eq!(
        finish_reason("new_reason"),
        FinishReason::Other("new_reason".into())
    );
}

/// The assistant turn holding `call` (as an OpenAI client sends it back) and its result.
fn tool_turns(call: &str) -> Vec<ChatMessage> {
    let mut assistant = ChatMessage::new(Role::Assistant, None);
    assistant.tool_calls = Some(vec![ToolCall {
        id: call.to_owned(),
        kind: "function".to_owned(),
        function: FunctionCall {
            name: "weather".to_owned(),
            arguments: "{}".to_owned(),
        },
    }]);
    let mut result = ChatMessage::text(Role::Tool, "rain");
    result.tool_call_id = Some(call.to_owned());
    vec![user("weather?"), assistant, result]
}

#[test]
fn thinking_before_tool_calls_goes_back_to_the_model_that_made_it() {
    let memo = CallMemo::default();
    let resp: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-5-5",
        "content": [
            {"type": "thinking", "thinking": "", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}
        ],
        "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 5}
    }))
    .unwrap();
    let out = chat_response(resp, "claude-opus-5-5", &memo);
    assert!(out.choices[0].message.content.is_none());

    let req = request(tool_turns("toolu_1"));
    let wire =
        serde_json::to_value(messages_request(&req, "claude-opus-5-5", false, &memo).unwrap())
            .unwrap();
    assert_eq!(
        wire["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}
        ])
    );
    // Another model gets none: Claude refuses thinking it did not make.
    let wire =
        serde_json::to_value(messages_request(&req, "claude-sonnet-5-5", false, &memo).unwrap())
            .unwrap();
    assert_eq!(wire["messages"][1]["content"][0]["type"], "tool_use");
}

#[test]
fn a_streamed_answer_keeps_its_thinking_from_the_deltas() {
    let memo = CallMemo::default();
    let mut t = Translator::new("claude-sonnet-5".to_owned(), memo.clone());
    for event in [
        r#"{"type":"message_start","message":{"id":"msg_2","model":"claude-sonnet-5","usage":{"input_tokens":3}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Look it "}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"up."}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-2"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"weather","input":{}}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
    ] {
        let chunks = emitted(t.on_event(event).unwrap());
        // Thinking is never forwarded as answer text (it goes out as `reasoning_content`).
        assert!(chunks.iter().all(|c| c.choices.iter().all(|ch| ch
            .delta
            .content
            .as_deref()
            .unwrap_or("")
            .is_empty())));
    }
    assert!(matches!(
        t.on_event(r#"{"type":"message_stop"}"#).unwrap(),
        Step::Done(_)
    ));
    let wire = serde_json::to_value(
        messages_request(
            &request(tool_turns("toolu_2")),
            "claude-sonnet-5",
            true,
            &memo,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        wire["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "Look it up.", "signature": "sig-2"})
    );
}

fn emitted(step: Step) -> Vec<ChatCompletionChunk> {
    match step {
        Step::Emit(chunks) | Step::Done(chunks) => chunks,
    }
}

/// The thinking text reaches the client as `reasoning_content` (deltas streamed, one field
/// not), each block set apart from the last by a blank line; signatures and redacted thinking
/// do not.
#[test]
fn claudes_thinking_text_reaches_the_client_as_reasoning() {
    let mut t = Translator::new("claude-sonnet-5".to_owned(), CallMemo::default());
    let mut reasoning = String::new();
    for event in [
        r#"{"type":"message_start","message":{"id":"msg_3","model":"claude-sonnet-5","usage":{"input_tokens":3}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Check "}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"the map."}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-3"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"enc"}}"#,
        r#"{"type":"content_block_stop","index":1}"#,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"Oslo."}}"#,
        r#"{"type":"content_block_stop","index":2}"#,
        r#"{"type":"content_block_start","index":3,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"Oslo"}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#,
    ] {
        for c in emitted(t.on_event(event).unwrap()) {
            let delta = &c.choices[0].delta;
            if let Some(r) = &delta.reasoning_content {
                assert!(delta.content.is_none(), "{c:?}");
                reasoning.push_str(r);
            }
        }
    }
    assert_eq!(reasoning, "Check the map.\n\nOslo.");

    let resp: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_4", "type": "message", "role": "assistant", "model": "claude-sonnet-5",
        "content": [
            {"type": "thinking", "thinking": "Check the map.", "signature": "sig-4"},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "thinking", "thinking": "Oslo.", "signature": "sig-5"},
            {"type": "text", "text": "Oslo"}
        ],
        "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}
    }))
    .unwrap();
    let out = chat_response(resp, "claude-sonnet-5", &CallMemo::default());
    let message = &out.choices[0].message;
    assert_eq!(message.content.as_deref(), Some("Oslo"));
    assert_eq!(
        message.reasoning_content.as_deref(),
        Some("Check the map.\n\nOslo.")
    );
    // No thinking text (omitted or redacted only): no field.
    let resp: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_5", "type": "message", "role": "assistant", "model": "claude-sonnet-5",
        "content": [{"type": "thinking", "thinking": "", "signature": "sig-6"},
                    {"type": "text", "text": "Oslo"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}
    }))
    .unwrap();
    let out = chat_response(resp, "claude-sonnet-5", &CallMemo::default());
    assert!(out.choices[0].message.reasoning_content.is_none());
}

#[test]
fn translator_streams_tool_calls_and_usage() {
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    let start = emitted(t.on_event(r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","usage":{"input_tokens":12,"output_tokens":1}}}"#).unwrap());
    assert_eq!(start[0].choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(start[0].id, "msg_1");
    let block = emitted(t.on_event(r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"weather","input":{}}}"#).unwrap());
    let call = &block[0].choices[0].delta.tool_calls.as_ref().unwrap()[0];
    assert_eq!((call.index, call.id.as_deref()), (0, Some("toolu_9")));
    let args = emitted(t.on_event(r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#).unwrap());
    let call = &args[0].choices[0].delta.tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        call.function.as_ref().unwrap().arguments.as_deref(),
        Some("{\"city\":")
    );
    assert!(emitted(t.on_event(r#"{"type":"ping"}"#).unwrap()).is_empty());
    assert!(emitted(
        t.on_event(r#"{"type":"content_block_stop","index":1}"#)
            .unwrap()
    )
    .is_empty());
    let finish = emitted(t.on_event(r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"#).unwrap());
    assert_eq!(
        finish[0].choices[0].finish_reason,
        Some(FinishReason::ToolCalls)
    );
    match t.on_event(r#"{"type":"message_stop"}"#).unwrap() {
        Step::Done(chunks) => {
            assert!(chunks[0].choices.is_empty());
            assert_eq!(chunks[0].usage, Some(Usage::new(12, 30)));
        }
        Step::Emit(_) => panic!("message_stop must end the stream"),
    }
}

#[test]
fn translator_errors() {
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    let err = t
        .on_event(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
        .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::ServerError);
    assert_eq!(err.status, Some(529));
    assert!(err.retryable);
    assert_eq!(err.message, "Overloaded");
    let err = t
        .on_event("{\"type\": \"content_block_delta\", ")
        .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Decode);
}

// ---- Over loopback HTTP against the testkit fake. ----

fn provider(fake: &FakeProvider) -> AnthropicProvider {
    AnthropicProvider::new(
        reqwest::Client::new(),
        fake.base_url(),
        Some(Secret::new("sk-ant-test".to_owned())),
    )
}

/// The stream's items without keep-alives (a read that completes no event yields one).
async fn collect(stream: ChunkStream) -> Vec<Result<ChatCompletionChunk, UpstreamError>> {
    stream
        .filter(|i| std::future::ready(!i.as_ref().is_ok_and(ChatCompletionChunk::is_keepalive)))
        .collect()
        .await
}

#[tokio::test]
async fn complete_against_fake() {
    let fake = FakeProvider::start().await;
    fake.script(
        "claude-x",
        [Scenario::reply_with_usage(
            "Bonjour",
            FakeUsage {
                input_tokens: 9,
                output_tokens: 2,
            },
        )],
    );
    let req = request(vec![
        ChatMessage::text(Role::System, "be brief"),
        user("hi"),
    ]);
    let out = provider(&fake).complete(&req, "claude-x").await.unwrap();
    assert_eq!(out.choices[0].message.content.as_deref(), Some("Bonjour"));
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(out.usage, Some(Usage::new(9, 2)));
    assert_eq!(out.model, "claude-x");

    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(REDACTED));
    assert_eq!(sent.header("anthropic-version"), Some(API_VERSION));
    assert_eq!(sent.body["max_tokens"], DEFAULT_MAX_TOKENS);
    // The system prompt goes as one text block marked for the prompt cache (`prompt_cache`).
    assert_eq!(
        sent.body["system"],
        json!([{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}])
    );
    assert!(sent.body.get("stream").is_none());
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_against_fake_ends_with_usage() {
    let fake = FakeProvider::start().await;
    fake.script("claude-x", [Scenario::reply("one two three")]);
    let stream = provider(&fake)
        .stream(&request(vec![user("count to three")]), "claude-x")
        .await
        .unwrap();
    let chunks: Vec<ChatCompletionChunk> = collect(stream)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.content.clone())
        .collect();
    assert_eq!(text, "one two three");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish.choices[0].finish_reason, Some(FinishReason::Stop));
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage, Some(Usage::new(3, 3)));
    assert_eq!(fake.requests()[0].body["stream"], true);
    fake.shutdown().await;
}

#[tokio::test]
async fn tool_calls_against_fake() {
    let fake = FakeProvider::start().await;
    let scenario = Scenario::ToolCall {
        name: "weather".into(),
        arguments: json!({"city": "Oslo"}),
    };
    fake.script("claude-x", [scenario.clone(), scenario]);
    let p = provider(&fake);
    let req = request(vec![user("weather in Oslo?")]);
    let out = p.complete(&req, "claude-x").await.unwrap();
    let calls = out.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(calls[0].function.name, "weather");
    assert_eq!(calls[0].function.arguments, r#"{"city":"Oslo"}"#);
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(out.choices[0].message.content, None);

    let chunks = collect(p.stream(&req, "claude-x").await.unwrap()).await;
    let args: String = chunks
        .iter()
        .filter_map(|c| {
            let call = c
                .as_ref()
                .unwrap()
                .choices
                .first()?
                .delta
                .tool_calls
                .clone()?;
            call[0].function.clone()?.arguments
        })
        .collect();
    assert_eq!(args, r#"{"city":"Oslo"}"#);
    fake.shutdown().await;
}

#[tokio::test]
async fn upstream_errors_classify() {
    let fake = FakeProvider::start().await;
    fake.script(
        "claude-x",
        [
            Scenario::rate_limited(Duration::from_secs(2)),
            Scenario::status(529),
            Scenario::Unauthorized,
            Scenario::status(400),
        ],
    );
    let p = provider(&fake);
    let req = request(vec![user("hi")]);
    let err = p.complete(&req, "claude-x").await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::RateLimited);
    assert!(err.retryable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(2)));
    let err = p.stream(&req, "claude-x").await.err().unwrap();
    assert_eq!(err.kind, UpstreamErrorKind::ServerError);
    assert_eq!(err.status, Some(529));
    assert!(err.retryable);
    let err = p.complete(&req, "claude-x").await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert_eq!(err.status, Some(401));
    assert!(!err.message.contains("sk-ant-test"));
    let err = p.complete(&req, "claude-x").await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
    assert!(!err.retryable);
    fake.shutdown().await;
}

#[tokio::test]
async fn broken_streams_end_in_errors() {
    let fake = FakeProvider::start().await;
    fake.script("claude-x", [Scenario::MalformedChunk, Scenario::Disconnect]);
    let p = provider(&fake);
    let req = request(vec![user("hi")]);
    let items = collect(p.stream(&req, "claude-x").await.unwrap()).await;
    assert!(items[0].is_ok());
    assert_eq!(
        items.last().unwrap().as_ref().unwrap_err().kind,
        UpstreamErrorKind::Decode
    );
    let items = collect(p.stream(&req, "claude-x").await.unwrap()).await;
    assert!(items[0].is_ok());
    assert_eq!(
        items.last().unwrap().as_ref().unwrap_err().kind,
        UpstreamErrorKind::StreamTruncated
    );
    fake.shutdown().await;
}

// ---- Provider review fixes (/tmp/review_providers.md #1, #3, #4, #8, #10, #11). ----

#[test]
fn temperature_and_top_p_together_send_only_temperature() {
    let mut req = request(vec![user("hi")]);
    req.temperature = Some(0.7);
    req.top_p = Some(0.9);
    let wire =
        serde_json::to_value(messages_request(&req, "m", false, &CallMemo::default()).unwrap())
            .unwrap();
    assert_eq!(wire["temperature"], 0.7);
    assert!(wire.get("top_p").is_none(), "{wire}");
    // Alone, `top_p` still goes.
    req.temperature = None;
    let wire =
        serde_json::to_value(messages_request(&req, "m", false, &CallMemo::default()).unwrap())
            .unwrap();
    assert_eq!(wire["top_p"], 0.9);
    assert!(wire.get("temperature").is_none(), "{wire}");
}

#[test]
fn tool_call_arguments_that_are_not_an_object_go_as_an_empty_input() {
    let mut assistant = ChatMessage::text(Role::Assistant, "");
    assistant.tool_calls = Some(vec![
        tool_call("call_1", "now", "null"),
        tool_call("call_2", "later", " "),
        tool_call("call_3", "list", "[1]"),
    ]);
    let mut results = Vec::new();
    for id in ["call_1", "call_2", "call_3"] {
        let mut r = ChatMessage::text(Role::Tool, "ok");
        r.tool_call_id = Some(id.into());
        results.push(r);
    }
    let mut messages = vec![user("time?"), assistant];
    messages.extend(results);
    let wire = serde_json::to_value(
        messages_request(&request(messages), "m", false, &CallMemo::default()).unwrap(),
    )
    .unwrap();
    let inputs: Vec<&Value> = wire["messages"][1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["input"])
        .collect();
    assert_eq!(inputs, vec![&json!({}), &json!({}), &json!({})]);
    // Arguments that are not JSON at all are still the client's error.
    let mut bad = ChatMessage::text(Role::Assistant, "");
    bad.tool_calls = Some(vec![tool_call("call_1", "now", "{oops")]);
    let err = messages_request(
        &request(vec![user("x"), bad]),
        "m",
        false,
        &CallMemo::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
}

#[test]
fn several_choices_are_refused_naming_n() {
    let mut req = request(vec![user("hi")]);
    req.n = Some(3);
    let err = messages_request(&req, "m", false, &CallMemo::default()).unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
    assert_eq!(err.source, ErrorSource::Downstream);
    assert!(err.message.starts_with("n:"), "{}", err.message);
    req.n = Some(1);
    assert!(messages_request(&req, "m", false, &CallMemo::default()).is_ok());
}

/// The arguments a stream gives its tool calls, concatenated per call.
fn streamed_arguments(t: &mut Translator, events: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for event in events {
        for chunk in emitted(t.on_event(event).unwrap()) {
            for call in chunk
                .choices
                .iter()
                .flat_map(|c| c.delta.tool_calls.iter().flatten())
            {
                let i = call.index as usize;
                if args.len() <= i {
                    args.resize(i + 1, String::new());
                }
                if let Some(a) = call.function.as_ref().and_then(|f| f.arguments.as_deref()) {
                    args[i].push_str(a);
                }
            }
        }
    }
    args
}

const START: &str = r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}"#;

#[test]
fn a_streamed_tool_call_without_arguments_reads_as_an_empty_object() {
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    let args = streamed_arguments(
        &mut t,
        &[
            START,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"snooze","input":{}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Oslo\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            // A block without deltas whose start carried its input, never stopped.
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_3","name":"at","input":{"x":1}}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
        ],
    );
    assert_eq!(args, vec!["{}", r#"{"city":"Oslo"}"#, r#"{"x":1}"#]);
}

#[test]
fn context_window_stop_is_length() {
    assert_eq!(
        finish_reason("model_context_window_exceeded"),
        FinishReason::Length
    );
    let resp: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "cut"}],
        "stop_reason": "model_context_window_exceeded", "stop_sequence": null,
        "usage": {"input_tokens": 1, "output_tokens": 1}
    }))
    .unwrap();
    let out = chat_response(resp, "claude-x", &CallMemo::default());
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::Length));
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    emitted(t.on_event(START).unwrap());
    let finish = emitted(t.on_event(r#"{"type":"message_delta","delta":{"stop_reason":"model_context_window_exceeded"},"usage":{"output_tokens":9}}"#).unwrap());
    let wire = serde_json::to_value(&finish[0]).unwrap();
    assert_eq!(wire["choices"][0]["finish_reason"], "length");
}

#[test]
fn cached_prompt_tokens_are_reported_as_cached_tokens() {
    let resp: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 5000,
                  "cache_creation_input_tokens": 20, "output_tokens": 3}
    }))
    .unwrap();
    let out = chat_response(resp, "claude-x", &CallMemo::default());
    let usage = serde_json::to_value(out.usage.unwrap()).unwrap();
    assert_eq!(usage["prompt_tokens"], 5030);
    // Cache writes, billed at a premium, are carried under OpenRouter's name.
    assert_eq!(
        usage["prompt_tokens_details"],
        json!({"cached_tokens": 5000, "cache_write_tokens": 20})
    );
    let details = out_usage_details(&usage);
    assert_eq!((details.cached, details.cache_write), (5000, 20));

    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    emitted(t.on_event(r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","usage":{"input_tokens":10,"cache_read_input_tokens":700,"output_tokens":1}}}"#).unwrap());
    emitted(t.on_event(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}"#).unwrap());
    let last = emitted(t.on_event(r#"{"type":"message_stop"}"#).unwrap());
    let usage = serde_json::to_value(last[0].usage.clone().unwrap()).unwrap();
    assert_eq!(usage["prompt_tokens"], 710);
    assert_eq!(
        usage["prompt_tokens_details"],
        json!({"cached_tokens": 700})
    );
    // Without cache reads or writes there is no detail to report.
    let plain = super::usage(&wire::AnthropicUsage::default());
    assert!(plain.extra.is_empty());

    // A streamed cache write: `message_start` says it, a later `message_delta` repeats it.
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    emitted(t.on_event(r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","usage":{"input_tokens":10,"cache_creation_input_tokens":4000,"output_tokens":1}}}"#).unwrap());
    emitted(t.on_event(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4,"cache_creation_input_tokens":4000}}"#).unwrap());
    let last = emitted(t.on_event(r#"{"type":"message_stop"}"#).unwrap());
    let usage = last[0].usage.clone().unwrap();
    assert_eq!(usage.prompt_tokens, 4010);
    assert_eq!(
        serde_json::to_value(&usage).unwrap()["prompt_tokens_details"],
        json!({"cached_tokens": 0, "cache_write_tokens": 4000})
    );
    assert_eq!(usage.details().cache_write, 4000);
}

/// The details a client (and the gateway's accounting) reads from a serialized usage.
fn out_usage_details(usage: &serde_json::Value) -> crate::openai::wire::TokenDetails {
    serde_json::from_value::<Usage>(usage.clone())
        .unwrap()
        .details()
}

// ---- Review findings of /tmp/review_providers.md. ----

#[test]
fn a_message_delta_with_null_counts_finishes_with_usage() {
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    emitted(t.on_event(START).unwrap());
    emitted(t.on_event(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there"}}"#).unwrap());
    let finish = emitted(
        t.on_event(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":null,"output_tokens":5,"cache_read_input_tokens":null,"cache_creation_input_tokens":null}}"#)
            .unwrap(),
    );
    assert_eq!(finish[0].choices[0].finish_reason, Some(FinishReason::Stop));
    let last = emitted(t.on_event(r#"{"type":"message_stop"}"#).unwrap());
    let usage = serde_json::to_value(last[0].usage.clone().unwrap()).unwrap();
    // The input count of `message_start` stays; the output count is the delta's.
    assert_eq!(usage["prompt_tokens"], 5);
    assert_eq!(usage["completion_tokens"], 5);
    assert!(usage.get("prompt_tokens_details").is_none(), "{usage}");

    // A `null` output count (or none at all) keeps the count so far; `null` counts in
    // `message_start` read as 0.
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    emitted(t.on_event(r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","usage":{"input_tokens":7,"output_tokens":null,"cache_read_input_tokens":null}}}"#).unwrap());
    emitted(t.on_event(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":null,"output_tokens":null}}"#).unwrap());
    let last = emitted(t.on_event(r#"{"type":"message_stop"}"#).unwrap());
    let usage = serde_json::to_value(last[0].usage.clone().unwrap()).unwrap();
    assert_eq!(usage["prompt_tokens"], 7);
    assert_eq!(usage["completion_tokens"], 0);

    // A non-streamed body with `null` counts decodes too.
    let resp: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": null, "output_tokens": 3, "cache_read_input_tokens": null}
    }))
    .unwrap();
    assert_eq!(resp.usage.output_tokens, 3);
}

const CREDIT: &str = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#;

#[test]
fn account_errors_are_the_providers_fault_and_retryable() {
    let limits = r#"{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-08-01 at 00:00 UTC."}}"#;
    let billing = r#"{"type":"error","error":{"type":"billing_error","message":"Billing issue."}}"#;
    for (status, body) in [
        (400, CREDIT),
        (400, limits),
        (400, billing),
        (402, billing),
        (402, ""),
    ] {
        let err = status_error(status, None, body);
        assert_eq!(err.kind, UpstreamErrorKind::Auth, "{status} {body}");
        assert_eq!(err.source, ErrorSource::Upstream, "{status} {body}");
        assert!(err.retryable, "{status} {body}");
        assert_eq!(err.status, Some(status));
    }
    assert!(status_error(400, None, CREDIT)
        .message
        .starts_with("Your credit balance"));
    // The request's own faults stay the client's.
    for body in [
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages: text content blocks must be non-empty"}}"#,
        "not json",
        "",
    ] {
        let err = status_error(400, None, body);
        assert_eq!(err.kind, UpstreamErrorKind::BadRequest, "{body}");
        assert_eq!(err.source, ErrorSource::Downstream, "{body}");
        assert!(!err.retryable, "{body}");
    }
    assert_eq!(
        status_error(429, Some(Duration::from_secs(3)), "").retry_after,
        Some(Duration::from_secs(3))
    );

    // The same errors inside a stream, after its 200.
    let status_of = |kind: &str| {
        wire::ErrorBody {
            kind: kind.to_owned(),
            message: String::new(),
        }
        .status()
    };
    assert_eq!(status_of("billing_error"), 402);
    assert_eq!(status_of("timeout_error"), 504);
    assert_eq!(status_of("overloaded_error"), 529);
    let mut t = Translator::new("claude-x".to_owned(), CallMemo::default());
    emitted(t.on_event(START).unwrap());
    let err = t.on_event(billing).unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert_eq!(err.source, ErrorSource::Upstream);
    assert!(err.retryable);
    assert_eq!(err.status, Some(402));
    let err = t.on_event(CREDIT).unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    let err = t
        .on_event(
            r#"{"type":"error","error":{"type":"timeout_error","message":"Request timed out."}}"#,
        )
        .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::ServerError);
    assert_eq!(err.status, Some(504));
    assert!(err.retryable);
}

#[tokio::test]
async fn account_errors_over_http_are_retryable_upstream_errors() {
    let fake = FakeProvider::start().await;
    fake.script(
        "claude-x",
        [
            Scenario::Status {
                code: 400,
                retry_after: None,
                body: Some(CREDIT.to_owned()),
            },
            Scenario::Status {
                code: 402,
                retry_after: None,
                body: Some(
                    r#"{"type":"error","error":{"type":"billing_error","message":"Billing issue."}}"#
                        .to_owned(),
                ),
            },
        ],
    );
    let p = provider(&fake);
    let req = request(vec![user("hi")]);
    let err = p.complete(&req, "claude-x").await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert_eq!(err.source, ErrorSource::Upstream);
    assert!(err.retryable);
    let err = p.stream(&req, "claude-x").await.err().unwrap();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert_eq!(err.status, Some(402));
    assert!(err.retryable);
    fake.shutdown().await;
}

#[test]
fn the_end_user_goes_as_a_stable_digest() {
    let mut req = request(vec![user("hi")]);
    req.user = Some("jane.doe@example.com".into());
    let sent = |req: &ChatCompletionRequest| {
        serde_json::to_value(messages_request(req, "m", false, &CallMemo::default()).unwrap())
            .unwrap()
    };
    let wire = sent(&req);
    assert_eq!(
        wire["metadata"]["user_id"],
        "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"
    );
    assert_eq!(sent(&req)["metadata"], wire["metadata"], "stable");
    req.user = Some("+1 555 0100".into());
    let id = sent(&req)["metadata"]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    // A blank or absent `user` sends no metadata.
    for user in [Some(""), Some("  "), None] {
        req.user = user.map(str::to_owned);
        assert!(sent(&req).get("metadata").is_none(), "{user:?}");
    }
}

#[test]
fn blank_text_is_left_out_and_turns_still_alternate() {
    let mut calling = ChatMessage::text(Role::Assistant, " \n");
    calling.tool_calls = Some(vec![tool_call("call_1", "now", "{}")]);
    let mut result = ChatMessage::text(Role::Tool, "noon");
    result.tool_call_id = Some("call_1".into());
    let spaces = ChatMessage {
        content: Some(MessageContent::Parts(vec![
            ContentPart::Text { text: "\t".into() },
            ContentPart::Text {
                text: "and then?".into(),
            },
        ])),
        ..user("")
    };
    let messages = vec![
        ChatMessage::text(Role::System, "  "),
        ChatMessage::text(Role::Developer, "be brief"),
        user("hi"),
        ChatMessage::text(Role::Assistant, "\n"),
        user("go on"),
        calling,
        result,
        user(" "),
        spaces,
    ];
    let wire = serde_json::to_value(
        messages_request(&request(messages), "m", false, &CallMemo::default()).unwrap(),
    )
    .unwrap();
    assert_eq!(wire["system"], "be brief");
    assert_eq!(
        wire["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "text", "text": "go on"}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "now", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "noon"},
                {"type": "text", "text": "and then?"}
            ]}
        ])
    );
    // A conversation left with nothing is refused, as an empty one is.
    let err = messages_request(
        &request(vec![ChatMessage::text(Role::System, "\n"), user(" \t ")]),
        "m",
        false,
        &CallMemo::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
    assert!(wire.get("metadata").is_none());
}

/// `reasoning_effort` (as `upstream::fit` left it) goes as `output_config.effort`, beside a
/// schema when there is one; OpenAI's `none` and `minimal` as `low`, unknown values not at
/// all. A 400 to a request carrying only an effort is not a schema refusal.
#[test]
fn reasoning_effort_goes_as_output_config_effort() {
    let with_effort = |effort: &str| {
        let mut req = request(vec![user("hi")]);
        req.extra.insert("reasoning_effort".into(), effort.into());
        req
    };
    let sent = |req: &ChatCompletionRequest| {
        let body = messages_request(req, "claude-sonnet-5", false, &CallMemo::default()).unwrap();
        serde_json::to_value(&body).unwrap()
    };
    for (asked, expected) in [
        ("low", "low"),
        ("max", "max"),
        ("minimal", "low"),
        ("none", "low"),
    ] {
        assert_eq!(
            sent(&with_effort(asked))["output_config"],
            json!({"effort": expected}),
            "{asked}"
        );
    }
    assert!(sent(&with_effort("extreme")).get("output_config").is_none());
    assert!(sent(&request(vec![user("hi")]))
        .get("output_config")
        .is_none());

    let mut both = with_effort("medium");
    both.response_format = Some(crate::openai::wire::ResponseFormat {
        kind: "json_schema".into(),
        json_schema: Some(json!({"name": "x", "schema": {"type": "object", "properties": {}}})),
    });
    let wire = sent(&both);
    assert_eq!(wire["output_config"]["effort"], "medium");
    assert_eq!(wire["output_config"]["format"]["type"], "json_schema");

    let refused = || UpstreamError::from_status(400, None, "{}");
    let body = |req: &ChatCompletionRequest| {
        messages_request(req, "claude-sonnet-5", false, &CallMemo::default()).unwrap()
    };
    assert!(!schema_refused(&body(&with_effort("low")), refused()).retryable);
    assert!(schema_refused(&body(&both), refused()).retryable);
}
