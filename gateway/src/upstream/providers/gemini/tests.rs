#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use testkit::{FakeProvider, Scenario, Usage as FakeUsage, REDACTED};

use super::stream::Translator;
use super::*;
use crate::openai::wire::{ChatCompletionChunk, FunctionDef, ImageUrl, ResponseFormat, Stop, Tool};
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

fn wire_of(req: &ChatCompletionRequest) -> Value {
    serde_json::to_value(generate_request(req, "gemini-2.5-flash", &Signatures::default()).unwrap())
        .unwrap()
}

#[test]
fn roles_system_and_generation_config() {
    let mut req = request(vec![
        ChatMessage::text(Role::System, "be brief"),
        user("hi"),
        ChatMessage::text(Role::Assistant, "hello"),
        user(""),
        user("bye"),
    ]);
    assert!(wire_of(&req).get("generationConfig").is_none());
    req.temperature = Some(0.3);
    req.top_p = Some(0.8);
    req.max_tokens = Some(50);
    req.stop = Some(Stop::Many(vec!["x".into(), "y".into()]));
    req.response_format = Some(ResponseFormat {
        kind: "json_object".into(),
        json_schema: None,
    });
    let wire = wire_of(&req);
    assert_eq!(
        wire["systemInstruction"],
        json!({"parts": [{"text": "be brief"}]})
    );
    assert_eq!(
        wire["contents"],
        json!([
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello"}]},
            {"role": "user", "parts": [{"text": "bye"}]}
        ])
    );
    assert_eq!(
        wire["generationConfig"],
        json!({"temperature": 0.3, "topP": 0.8, "maxOutputTokens": 50,
               "stopSequences": ["x", "y"], "responseMimeType": "application/json"})
    );
}

#[test]
fn tools_calls_and_responses() {
    let mut assistant = ChatMessage::text(Role::Assistant, "");
    assistant.tool_calls = Some(vec![ToolCall {
        id: "call_0".into(),
        kind: "function".into(),
        function: OpenAiFunctionCall {
            name: "weather".into(),
            arguments: r#"{"city":"Oslo"}"#.into(),
        },
    }]);
    let mut result = ChatMessage::text(Role::Tool, "rainy");
    result.tool_call_id = Some("call_0".into());
    let mut req = request(vec![user("weather?"), assistant, result]);
    req.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "weather".into(),
            description: Some("Weather by city".into()),
            parameters: Some(json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "additionalProperties": false
            })),
            strict: Some(true),
        },
    }]);
    req.tool_choice = Some(json!("required"));
    let wire = wire_of(&req);
    assert_eq!(
        wire["contents"][1],
        json!({"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]})
    );
    assert_eq!(
        wire["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"content": "rainy"}}}]})
    );
    assert_eq!(
        wire["tools"],
        json!([{"functionDeclarations": [{"name": "weather", "description": "Weather by city",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}},
                "additionalProperties": false}}]}])
    );
    assert_eq!(
        wire["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    req.tool_choice = Some(json!({"type": "function", "function": {"name": "weather"}}));
    assert_eq!(
        wire_of(&req)["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}})
    );
}

#[test]
fn images_become_inline_or_file_parts() {
    let msg = ChatMessage {
        content: Some(MessageContent::Parts(vec![
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "data:image/webp;base64,UklG".into(),
                    detail: None,
                },
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "https://example.invalid/a.PNG?x=1".into(),
                    detail: None,
                },
            },
        ])),
        ..user("")
    };
    let wire = wire_of(&request(vec![msg]));
    assert_eq!(
        wire["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "image/webp", "data": "UklG"}},
            {"fileData": {"mimeType": "image/png", "fileUri": "https://example.invalid/a.PNG?x=1"}}
        ])
    );
}

#[test]
fn response_maps_tools_finish_thoughts_and_usage() {
    let resp: GenerateContentResponse = serde_json::from_value(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "thinking...", "thought": true},
            {"text": "Let me check."},
            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 4,
                          "thoughtsTokenCount": 6, "totalTokenCount": 18},
        "modelVersion": "gemini-x-001", "responseId": "r1"
    }))
    .unwrap();
    let out = chat_response(resp, "gemini-x", &Signatures::default());
    assert_eq!(out.id, "r1");
    assert_eq!(out.model, "gemini-x-001");
    let choice = &out.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("Let me check."));
    // A thought's summary (there when `includeThoughts` asked for it) is the reasoning.
    assert_eq!(
        choice.message.reasoning_content.as_deref(),
        Some("thinking...")
    );
    let calls = choice.message.tool_calls.as_ref().unwrap();
    assert!(calls[0].id.starts_with("call_") && calls[0].id.len() > 20);
    assert_eq!(calls[0].function.arguments, r#"{"city":"Oslo"}"#);
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    let mut usage = Usage::new(8, 10);
    usage.extra.insert(
        "completion_tokens_details".into(),
        json!({"reasoning_tokens": 6}),
    );
    assert_eq!(out.usage, Some(usage));

    let blocked: GenerateContentResponse =
        serde_json::from_value(json!({"promptFeedback": {"blockReason": "SAFETY"}})).unwrap();
    let out = chat_response(blocked, "gemini-x", &Signatures::default());
    assert_eq!(
        out.choices[0].finish_reason,
        Some(FinishReason::ContentFilter)
    );
    assert_eq!(out.choices[0].message.content.as_deref(), Some(""));
}

#[test]
fn finish_reasons_map() {
    assert_eq!(finish_reason("STOP", false), FinishReason::Stop);
    assert_eq!(finish_reason("STOP", true), FinishReason::ToolCalls);
    assert_eq!(finish_reason("MAX_TOKENS", false), FinishReason::Length);
    assert_eq!(finish_reason("SAFETY", false), FinishReason::ContentFilter);
    assert_eq!(
        finish_reason("MALFORMED_FUNCTION_CALL", false),
        FinishReason::Other("malformed_function_call".into())
    );
}

#[test]
fn invalid_key_400_is_an_auth_error() {
    let body = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
    let err = status_error(400, None, body);
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert_eq!(
        err.message,
        "API key not valid. Please pass a valid API key."
    );
    let err = status_error(
        400,
        None,
        r#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
    );
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
}

#[test]
fn translator_handles_errors_and_truncation() {
    let mut t = Translator::new("m".into(), Signatures::default());
    let err = t
        .on_event(r#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#)
        .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::ServerError);
    assert!(err.retryable);
    let err = t.on_event("{\"candidates\": [").unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Decode);
    let mut t = Translator::new("m".into(), Signatures::default());
    let chunks = t
        .on_event(r#"{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"}}]}"#)
        .unwrap();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].model, "m");
    assert_eq!(
        t.on_end().unwrap_err().kind,
        UpstreamErrorKind::StreamTruncated
    );
}

// ---- Over loopback HTTP against the testkit fake. ----

fn provider(fake: &FakeProvider) -> GeminiProvider {
    GeminiProvider::new(
        reqwest::Client::new(),
        fake.base_url(),
        Some(Secret::new("g-secret".to_owned())),
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
        "gemini-x",
        [Scenario::reply_with_usage(
            "blue",
            FakeUsage {
                input_tokens: 6,
                output_tokens: 1,
            },
        )],
    );
    let req = request(vec![
        ChatMessage::text(Role::System, "terse"),
        user("colour?"),
    ]);
    let out = provider(&fake)
        .complete(&req, "models/gemini-x")
        .await
        .unwrap();
    assert_eq!(out.choices[0].message.content.as_deref(), Some("blue"));
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(out.usage, Some(Usage::new(6, 1)));
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1beta/models/gemini-x:generateContent");
    assert_eq!(sent.query, None);
    assert_eq!(sent.header("x-goog-api-key"), Some(REDACTED));
    assert_eq!(sent.body["systemInstruction"]["parts"][0]["text"], "terse");
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_against_fake_ends_with_usage() {
    let fake = FakeProvider::start().await;
    fake.script("gemini-x", [Scenario::reply("red and green")]);
    let stream = provider(&fake)
        .stream(&request(vec![user("two colours")]), "gemini-x")
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
    assert_eq!(text, "red and green");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish.choices[0].finish_reason, Some(FinishReason::Stop));
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage, Some(Usage::new(2, 3)));
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1beta/models/gemini-x:streamGenerateContent");
    assert_eq!(sent.query.as_deref(), Some("alt=sse"));
    fake.shutdown().await;
}

#[tokio::test]
async fn tool_calls_against_fake() {
    let fake = FakeProvider::start().await;
    let scenario = Scenario::ToolCall {
        name: "weather".into(),
        arguments: json!({"city": "Oslo"}),
    };
    fake.script("gemini-x", [scenario.clone(), scenario]);
    let p = provider(&fake);
    let req = request(vec![user("weather in Oslo?")]);
    let out = p.complete(&req, "gemini-x").await.unwrap();
    let calls = out.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(calls[0].function.name, "weather");
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::ToolCalls));

    let chunks: Vec<ChatCompletionChunk> = collect(p.stream(&req, "gemini-x").await.unwrap())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let call = chunks
        .iter()
        .find_map(|c| c.choices.first()?.delta.tool_calls.clone())
        .unwrap();
    assert_eq!(
        call[0].function.as_ref().unwrap().arguments.as_deref(),
        Some(r#"{"city":"Oslo"}"#)
    );
    assert!(chunks.iter().any(
        |c| c.choices.first().and_then(|ch| ch.finish_reason.clone())
            == Some(FinishReason::ToolCalls)
    ));
    fake.shutdown().await;
}

#[tokio::test]
async fn upstream_errors_classify() {
    let fake = FakeProvider::start().await;
    fake.script(
        "gemini-x",
        [
            Scenario::rate_limited(Duration::from_secs(4)),
            Scenario::status(503),
            Scenario::Unauthorized,
        ],
    );
    let p = provider(&fake);
    let req = request(vec![user("hi")]);
    let err = p.complete(&req, "gemini-x").await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(4)));
    assert!(err.retryable);
    let err = p.stream(&req, "gemini-x").await.err().unwrap();
    assert_eq!(err.kind, UpstreamErrorKind::ServerError);
    let err = p.complete(&req, "gemini-x").await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert!(!err.message.contains("g-secret"));

    // No key at all: the fake (like Gemini) refuses with 403.
    let keyless = GeminiProvider::new(reqwest::Client::new(), fake.base_url(), None);
    let err = keyless.complete(&req, "gemini-x").await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert_eq!(err.status, Some(403));
    fake.shutdown().await;
}

#[tokio::test]
async fn broken_streams_end_in_errors() {
    let fake = FakeProvider::start().await;
    fake.script("gemini-x", [Scenario::MalformedChunk, Scenario::Disconnect]);
    let p = provider(&fake);
    let req = request(vec![user("hi")]);
    let items = collect(p.stream(&req, "gemini-x").await.unwrap()).await;
    assert!(items[0].is_ok());
    assert_eq!(
        items.last().unwrap().as_ref().unwrap_err().kind,
        UpstreamErrorKind::Decode
    );
    let items = collect(p.stream(&req, "gemini-x").await.unwrap()).await;
    assert!(items[0].is_ok());
    assert_eq!(
        items.last().unwrap().as_ref().unwrap_err().kind,
        UpstreamErrorKind::StreamTruncated
    );
    fake.shutdown().await;
}

/// Gemini 3 refuses a history whose function call lost its thought signature: the adapter
/// keeps the signature under the call's (unique) id and puts it back on the next turn, for
/// the same model only; a call it has no signature for gets Google's documented bypass, and
/// Gemini 2.x gets neither.
#[test]
fn thought_signatures_go_back_with_their_function_calls() {
    let signatures = Signatures::default();
    let answer = |sig: &str| -> GenerateContentResponse {
        serde_json::from_value(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}, "thoughtSignature": sig}
            ]}, "finishReason": "STOP"}]
        }))
        .unwrap()
    };
    let first = chat_response(answer("c2lnLTE="), "gemini-3.5-flash", &signatures);
    let second = chat_response(answer("c2lnLTI="), "gemini-3.5-flash", &signatures);
    let id = |r: &ChatCompletionResponse| {
        r.choices[0].message.tool_calls.as_ref().unwrap()[0]
            .id
            .clone()
    };
    let (id1, id2) = (id(&first), id(&second));
    assert_ne!(id1, id2, "every call gets its own id");

    // The history as an OpenAI client sends it back: two steps, each a call and its result.
    let mut req = request(vec![user("Weather in Oslo, twice?")]);
    for call_id in [&id1, &id2, &"call_from_another_model".to_owned()] {
        let mut call = ChatMessage::text(Role::Assistant, "");
        call.tool_calls = Some(vec![ToolCall {
            id: call_id.clone(),
            kind: "function".into(),
            function: OpenAiFunctionCall {
                name: "weather".into(),
                arguments: r#"{"city":"Oslo"}"#.into(),
            },
        }]);
        let mut result = ChatMessage::text(Role::Tool, "rainy");
        result.tool_call_id = Some(call_id.clone());
        req.messages.push(call);
        req.messages.push(result);
    }
    let sent_signatures = |model: &str| -> Vec<Option<String>> {
        let body =
            serde_json::to_value(generate_request(&req, model, &signatures).unwrap()).unwrap();
        body["contents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["parts"].as_array().unwrap().clone())
            .filter(|p| p.get("functionCall").is_some())
            .map(|p| {
                p.get("thoughtSignature")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned)
            })
            .collect()
    };
    assert_eq!(
        sent_signatures("gemini-3.5-flash"),
        [
            Some("c2lnLTE=".to_owned()),
            Some("c2lnLTI=".to_owned()),
            Some(signatures::SKIP_VALIDATOR.to_owned())
        ]
    );
    // Another Gemini 3 model refuses this one's signatures: all three get the bypass.
    assert_eq!(
        sent_signatures("gemini-3.1-pro-preview"),
        vec![Some(signatures::SKIP_VALIDATOR.to_owned()); 3]
    );
    // Gemini 2.x checks nothing and gets nothing it did not make.
    assert_eq!(sent_signatures("gemini-2.5-flash"), vec![None; 3]);
}

// ---- Provider review fixes (/tmp/review_providers.md #4, #5, #9, #10, #11). ----

fn tool(name: &str, parameters: Value) -> Tool {
    Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: name.into(),
            description: None,
            parameters: Some(parameters),
            strict: None,
        },
    }
}

/// `parameters` takes only Gemini's OpenAPI subset and refuses `const`, `$ref`, type lists,
/// `propertyNames`; the client's JSON Schema goes whole to `parametersJsonSchema`.
#[test]
fn tool_schemas_go_as_json_schema() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "tz": {"const": "UTC"},
            "when": {"$ref": "#/$defs/when", "description": "a time"},
            "note": {"type": ["string", "null"]},
            "tags": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}
        },
        "$defs": {"when": {"type": "string", "format": "date-time"}},
        "required": ["tz"],
        "additionalProperties": false
    });
    let mut req = request(vec![user("now?")]);
    req.tools = Some(vec![
        tool("get_time", schema.clone()),
        tool(
            "noop",
            json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false}),
        ),
    ]);
    let wire = wire_of(&req);
    let declarations = &wire["tools"][0]["functionDeclarations"];
    let mut expected = schema;
    expected.as_object_mut().unwrap().remove("$schema");
    assert_eq!(declarations[0]["parametersJsonSchema"], expected);
    assert!(declarations[0].get("parameters").is_none(), "{wire}");
    assert_eq!(
        declarations[1]["parametersJsonSchema"],
        json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false})
    );
    // A tool without parameters sends neither field.
    req.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "ping".into(),
            description: None,
            parameters: None,
            strict: None,
        },
    }]);
    assert_eq!(
        wire_of(&req)["tools"][0]["functionDeclarations"][0],
        json!({"name": "ping"})
    );
}

#[test]
fn tool_config_goes_only_beside_declarations() {
    let mut req = request(vec![user("hi")]);
    req.tools = Some(Vec::new());
    for choice in ["auto", "none", "required"] {
        req.tool_choice = Some(json!(choice));
        let wire = wire_of(&req);
        assert!(wire.get("toolConfig").is_none(), "{choice}: {wire}");
        assert!(wire.get("tools").is_none(), "{choice}: {wire}");
    }
    req.tools = None;
    assert!(wire_of(&req).get("toolConfig").is_none());
    req.tools = Some(vec![tool("f", json!({"type": "object"}))]);
    assert_eq!(
        wire_of(&req)["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
}

#[test]
fn a_function_call_without_args_reads_as_an_empty_object() {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_time"}},
            {"functionCall": {"name": "odd", "args": null}}
        ]}, "finishReason": "STOP"}]
    });
    let resp: GenerateContentResponse = serde_json::from_value(body.clone()).unwrap();
    let out = chat_response(resp, "gemini-x", &Signatures::default());
    let calls = out.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].function.arguments, "{}");
    assert_eq!(calls[1].function.arguments, "{}");

    let mut t = Translator::new("gemini-x".into(), Signatures::default());
    let chunks = t.on_event(&body.to_string()).unwrap();
    let args: Vec<String> = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .flat_map(|c| c.delta.tool_calls.iter().flatten())
        .filter_map(|c| c.function.as_ref()?.arguments.clone())
        .collect();
    assert_eq!(args, vec!["{}", "{}"]);
}

#[test]
fn history_calls_whose_arguments_are_not_an_object_go_as_empty_args() {
    let mut assistant = ChatMessage::text(Role::Assistant, "");
    assistant.tool_calls = Some(vec![ToolCall {
        id: "call_0".into(),
        kind: "function".into(),
        function: OpenAiFunctionCall {
            name: "get_time".into(),
            arguments: "null".into(),
        },
    }]);
    let mut result = ChatMessage::text(Role::Tool, "noon");
    result.tool_call_id = Some("call_0".into());
    let wire = wire_of(&request(vec![user("time?"), assistant, result]));
    assert_eq!(
        wire["contents"][1]["parts"][0]["functionCall"],
        json!({"name": "get_time", "args": {}})
    );
}

#[test]
fn several_choices_are_refused_naming_n() {
    let mut req = request(vec![user("hi")]);
    req.n = Some(2);
    let err = generate_request(&req, "gemini-2.5-flash", &Signatures::default()).unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
    assert!(err.message.starts_with("n:"), "{}", err.message);
    req.n = Some(1);
    assert!(generate_request(&req, "gemini-2.5-flash", &Signatures::default()).is_ok());
}

#[test]
fn cached_and_thinking_tokens_are_reported_as_details() {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]},
                        "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 1000, "cachedContentTokenCount": 800,
                          "candidatesTokenCount": 10, "thoughtsTokenCount": 300,
                          "totalTokenCount": 1310}
    });
    let expected = json!({
        "prompt_tokens": 1000, "completion_tokens": 310, "total_tokens": 1310,
        "prompt_tokens_details": {"cached_tokens": 800},
        "completion_tokens_details": {"reasoning_tokens": 300}
    });
    let resp: GenerateContentResponse = serde_json::from_value(body.clone()).unwrap();
    let out = chat_response(resp, "gemini-x", &Signatures::default());
    assert_eq!(serde_json::to_value(out.usage.unwrap()).unwrap(), expected);

    let mut t = Translator::new("gemini-x".into(), Signatures::default());
    t.on_event(&body.to_string()).unwrap();
    let last = t.on_end().unwrap().unwrap();
    assert_eq!(serde_json::to_value(last.usage.unwrap()).unwrap(), expected);
}

// ---- Review findings of /tmp/review_providers.md. ----

#[test]
fn json_mode_is_left_out_beside_function_declarations_before_gemini_3() {
    let mut req = request(vec![user("weather in Oslo, as JSON")]);
    req.response_format = Some(ResponseFormat {
        kind: "json_object".into(),
        json_schema: None,
    });
    req.tools = Some(vec![tool("get_weather", json!({"type": "object"}))]);
    let mime_of = |req: &ChatCompletionRequest, model: &str| {
        let wire =
            serde_json::to_value(generate_request(req, model, &Signatures::default()).unwrap())
                .unwrap();
        wire["generationConfig"]["responseMimeType"].clone()
    };
    // Gemini 2.x refuses the pair ("Function calling with a response mime type:
    // 'application/json' is unsupported").
    for choice in [None, Some("auto"), Some("required")] {
        req.tool_choice = choice.map(|c| json!(c));
        for model in [
            "gemini-2.5-flash",
            "models/gemini-2.0-flash",
            "gemini-1.5-pro",
        ] {
            assert_eq!(mime_of(&req, model), Value::Null, "{model} {choice:?}");
        }
        // Gemini 3 and later take it.
        for model in ["gemini-3-flash-preview", "gemini-3.5-flash"] {
            assert_eq!(
                mime_of(&req, model),
                "application/json",
                "{model} {choice:?}"
            );
        }
    }
    // With tool calls turned off, or no declarations at all, JSON mode stays.
    req.tool_choice = Some(json!("none"));
    assert_eq!(mime_of(&req, "gemini-2.5-flash"), "application/json");
    req.tool_choice = None;
    req.tools = Some(Vec::new());
    assert_eq!(mime_of(&req, "gemini-2.5-flash"), "application/json");
    req.tools = None;
    assert_eq!(mime_of(&req, "gemini-2.5-flash"), "application/json");
}

#[test]
fn failed_precondition_is_the_accounts_problem() {
    for message in [
        "User location is not supported for the API use.",
        "Gemini API free tier is not available in your country. Please enable billing on your project in Google AI Studio.",
    ] {
        let body = json!({"error": {"code": 400, "message": message, "status": "FAILED_PRECONDITION"}})
            .to_string();
        let err = status_error(400, None, &body);
        assert_eq!(err.kind, UpstreamErrorKind::Auth, "{message}");
        assert_eq!(err.source, crate::upstream::ErrorSource::Upstream);
        assert!(err.retryable);
        assert_eq!(err.status, Some(400));
        assert_eq!(err.message, message);
    }
    // The status is read from the JSON, not searched for in the text.
    let body = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "message": "Invalid value at 'contents': FAILED_PRECONDITION"}})
    .to_string();
    let err = status_error(400, None, &body);
    assert_eq!(err.kind, UpstreamErrorKind::BadRequest);
    assert!(!err.retryable);
}

#[tokio::test]
async fn failed_precondition_over_http_is_retryable() {
    let fake = FakeProvider::start().await;
    fake.script(
        "gemini-x",
        [Scenario::Status {
            code: 400,
            retry_after: None,
            body: Some(
                r#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#
                    .to_owned(),
            ),
        }],
    );
    let err = provider(&fake)
        .complete(&request(vec![user("hi")]), "gemini-x")
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Auth);
    assert!(err.retryable);
    fake.shutdown().await;
}

fn exhausted(delay: &str) -> String {
    json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
    "message": "You exceeded your current quota.",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    ]}})
    .to_string()
}

#[test]
fn the_retry_delay_of_a_429_body_is_its_retry_after() {
    let err = status_error(429, None, &exhausted("45.837906927s"));
    assert_eq!(err.kind, UpstreamErrorKind::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_nanos(45_837_906_927)));
    assert_eq!(
        status_error(429, None, &exhausted("58s")).retry_after,
        Some(Duration::from_secs(58))
    );
    // Clamped like a `Retry-After`; hostile values never panic.
    assert_eq!(
        status_error(429, None, &exhausted("1e30s")).retry_after,
        Some(crate::upstream::error::MAX_RETRY_AFTER)
    );
    for bad in ["-3s", "soon", "12", "", "NaNs"] {
        assert_eq!(
            status_error(429, None, &exhausted(bad)).retry_after,
            None,
            "{bad}"
        );
    }
    assert_eq!(status_error(429, None, "not json").retry_after, None);
    // The header wins when there is one.
    assert_eq!(
        status_error(429, Some(Duration::from_secs(2)), &exhausted("58s")).retry_after,
        Some(Duration::from_secs(2))
    );
}

#[tokio::test]
async fn the_retry_delay_of_a_429_body_is_read_over_http() {
    let fake = FakeProvider::start().await;
    fake.script(
        "gemini-x",
        [Scenario::Status {
            code: 429,
            retry_after: None,
            body: Some(exhausted("7s")),
        }],
    );
    let err = provider(&fake)
        .complete(&request(vec![user("hi")]), "gemini-x")
        .await
        .unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    fake.shutdown().await;
}

#[test]
fn a_json_schema_format_sends_its_schema_from_gemini_2_5_on() {
    let mut req = request(vec![user("where is Oslo?")]);
    let schema = json!({"type": "object", "properties": {"lat": {"type": "number"}}});
    req.response_format = Some(ResponseFormat {
        kind: "json_schema".into(),
        json_schema: Some(json!({"name": "place", "strict": true, "schema": schema})),
    });
    let config_of = |req: &ChatCompletionRequest, model: &str| {
        let wire =
            serde_json::to_value(generate_request(req, model, &Signatures::default()).unwrap())
                .unwrap();
        wire["generationConfig"].clone()
    };
    for model in [
        "gemini-2.5-flash",
        "models/gemini-2.5-pro",
        "gemini-3.5-flash",
        "gemini-flash-latest",
        "gemini-10.0-ultra",
    ] {
        let config = config_of(&req, model);
        assert_eq!(config["responseMimeType"], "application/json", "{model}");
        assert_eq!(config["responseJsonSchema"], schema, "{model}");
    }
    // Before 2.5 only the OpenAPI `responseSchema` exists: JSON mode alone.
    for model in ["gemini-2.0-flash", "gemini-1.5-pro", "gemma-3-27b-it"] {
        let config = config_of(&req, model);
        assert_eq!(config["responseMimeType"], "application/json", "{model}");
        assert_eq!(config.get("responseJsonSchema"), None, "{model}");
    }
    // json_object has no schema; a json_schema format without one is JSON mode alone.
    for format in [
        ResponseFormat {
            kind: "json_object".into(),
            json_schema: None,
        },
        ResponseFormat {
            kind: "json_schema".into(),
            json_schema: Some(json!({"name": "x"})),
        },
    ] {
        req.response_format = Some(format);
        assert_eq!(
            config_of(&req, "gemini-2.5-flash").get("responseJsonSchema"),
            None
        );
    }
    // Beside function declarations Gemini 2.x takes no JSON mode, so no schema either.
    req.response_format = Some(ResponseFormat {
        kind: "json_schema".into(),
        json_schema: Some(json!({"name": "place", "schema": schema})),
    });
    req.tools = Some(vec![tool("get_weather", json!({"type": "object"}))]);
    assert_eq!(
        config_of(&req, "gemini-2.5-flash").get("responseJsonSchema"),
        None
    );
    assert_eq!(
        config_of(&req, "gemini-3.5-flash")["responseJsonSchema"],
        schema
    );
}

#[test]
fn malformed_and_unexpected_function_calls_are_retryable_failures() {
    for reason in ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"] {
        let err = unusable_finish(reason).unwrap();
        assert!(
            err.retryable && err.source != ErrorSource::Upstream,
            "{reason}"
        );
        let mut t = Translator::new("gemini-x".into(), Signatures::default());
        let event = json!({"candidates": [{"content": {"role": "model",
            "parts": [{"text": "Let me search"}]}, "finishReason": reason}]});
        assert!(t.on_event(&event.to_string()).is_err(), "{reason}");
    }
    for reason in ["STOP", "MAX_TOKENS", "SAFETY", "OTHER"] {
        assert!(unusable_finish(reason).is_none(), "{reason}");
    }
    assert_eq!(
        finish_reason("IMAGE_PROHIBITED_CONTENT", false),
        FinishReason::ContentFilter
    );
}

/// `reasoning_effort` (as `upstream::fit` left it) goes as `generationConfig.thinkingConfig`:
/// a level on Gemini 3, a budget on 2.5, never both, beside the other settings; nothing on
/// Gemini 2.0, and no `generationConfig` at all for a request without one.
#[test]
fn reasoning_effort_goes_as_a_thinking_level_or_budget() {
    let wire = |req: &ChatCompletionRequest, model: &str| {
        serde_json::to_value(generate_request(req, model, &Signatures::default()).unwrap()).unwrap()
    };
    let mut req = request(vec![user("hi")]);
    req.extra.insert("reasoning_effort".into(), "low".into());
    let config =
        |req: &ChatCompletionRequest, model: &str| wire(req, model)["generationConfig"].clone();
    assert_eq!(
        config(&req, "gemini-3.1-pro-preview")["thinkingConfig"],
        json!({"thinkingLevel": "low"})
    );
    assert_eq!(
        config(&req, "gemini-2.5-flash")["thinkingConfig"],
        json!({"thinkingBudget": 1024})
    );
    req.max_tokens = Some(64);
    let both = config(&req, "gemini-3-flash-preview");
    assert_eq!(both["maxOutputTokens"], 64);
    assert_eq!(both["thinkingConfig"], json!({"thinkingLevel": "low"}));
    assert_eq!(
        config(&req, "gemini-2.0-flash-001"),
        json!({"maxOutputTokens": 64})
    );
    let plain = wire(&request(vec![user("hi")]), "gemini-3.5-flash");
    assert!(plain.get("generationConfig").is_none(), "{plain}");
}

/// Streamed thoughts' summaries are reasoning deltas, the answer's text content deltas.
#[test]
fn streamed_thoughts_are_reasoning_deltas() {
    let mut t = Translator::new("gemini-3.5-flash".into(), Signatures::default());
    let chunks = t
        .on_event(
            r#"{"candidates":[{"content":{"role":"model","parts":[
                {"text":"**Weighing it**","thought":true},{"text":"Yes."}]}}]}"#,
        )
        .unwrap();
    // After the role chunk that opens the stream.
    let deltas: Vec<_> = chunks
        .iter()
        .map(|c| &c.choices[0].delta)
        .filter(|d| d.role.is_none())
        .collect();
    assert_eq!(deltas.len(), 2, "{chunks:?}");
    assert_eq!(
        deltas[0].reasoning_content.as_deref(),
        Some("**Weighing it**")
    );
    assert_eq!(deltas[0].content, None);
    assert_eq!(deltas[1].content.as_deref(), Some("Yes."));
}

/// Gemini 3.5 and later refuse a turn whose function response does not carry its call's id:
/// the calls Gemini made go back with their own ids, every response with its call's, and
/// Gemini before 3 gets none.
#[test]
fn function_call_ids_go_back_with_calls_and_responses() {
    let signatures = Signatures::default();
    let answer: GenerateContentResponse = serde_json::from_value(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"id": "fc7a1b2c3d", "name": "weather", "args": {"city": "Oslo"}},
             "thoughtSignature": "c2ln"},
            {"functionCall": {"id": "fc9e8d7c6b", "name": "weather", "args": {"city": "Bergen"}}}
        ]}, "finishReason": "STOP"}]
    }))
    .unwrap();
    let out = chat_response(answer, "gemini-3.7-flash", &signatures);
    let calls = out.choices[0].message.tool_calls.clone().unwrap();
    // Unique names that carry Gemini's ids.
    for (call, id) in calls.iter().zip(["fc7a1b2c3d", "fc9e8d7c6b"]) {
        assert!(
            call.id.starts_with("call_g") && call.id.ends_with(id),
            "{}",
            call.id
        );
    }

    let mut req = request(vec![user("Weather in Oslo and Bergen?")]);
    let mut turn = ChatMessage::text(Role::Assistant, "");
    let mut other = calls.clone();
    other.push(ToolCall {
        id: "toolu_01A09q90qw90lq917835lq9".into(),
        ..calls[0].clone()
    });
    turn.tool_calls = Some(other.clone());
    req.messages.push(turn);
    for call in &other {
        let mut result = ChatMessage::text(Role::Tool, "rainy");
        result.tool_call_id = Some(call.id.clone());
        req.messages.push(result);
    }
    let sent_for = |req: &ChatCompletionRequest, model: &str, key: &str| -> Vec<Value> {
        let body =
            serde_json::to_value(generate_request(req, model, &signatures).unwrap()).unwrap();
        body["contents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["parts"].as_array().unwrap().clone())
            .filter_map(|p| p.get(key).map(|f| f["id"].clone()))
            .collect()
    };
    let expected = [
        json!("fc7a1b2c3d"),
        json!("fc9e8d7c6b"),
        json!("toolu_01A09q90qw90lq917835lq9"),
    ];
    assert_eq!(sent_for(&req, "gemini-3.7-flash", "functionCall"), expected);
    assert_eq!(
        sent_for(&req, "gemini-3.7-flash", "functionResponse"),
        expected
    );
    assert_eq!(
        sent_for(&req, "gemini-2.5-flash", "functionResponse"),
        [Value::Null, Value::Null, Value::Null]
    );
    // A result that answers no call of the history gets no id.
    let mut stray = ChatMessage::text(Role::Tool, "late");
    stray.tool_call_id = Some("call_gone".into());
    req.messages.push(stray);
    assert_eq!(
        sent_for(&req, "gemini-3.7-flash", "functionResponse")[3],
        Value::Null
    );
}
