#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;

fn body_of(req: &ChatCompletionRequest) -> serde_json::Value {
    body(req, "m", false, &CallMemo::default(), false).unwrap()
}

fn request(body: serde_json::Value) -> ChatCompletionRequest {
    serde_json::from_value(body).unwrap()
}

#[test]
fn a_tool_conversation_becomes_input_items_in_order() {
    let req = request(json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is here?"},
                {"type": "image_url", "image_url": {"url": "https://x/i.png"}}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "max_completion_tokens": 300,
        "reasoning_effort": "high",
        "verbosity": "low",
        "parallel_tool_calls": false,
        "seed": 3,
        "stop": ["\n"],
        "router": {"min_quality": 0.5},
    }));
    let body = body(&req, "gpt-6.1-sol", false, &CallMemo::default(), false).unwrap();
    assert_eq!(
        body["input"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "input_text", "text": "What is here?"},
                {"type": "input_image", "image_url": "https://x/i.png", "detail": "auto"}]},
            {"type": "function_call", "call_id": "call_1", "name": "look", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
        ])
    );
    assert_eq!(body["model"], "gpt-6.1-sol");
    assert_eq!(body["tools"][0]["name"], "look");
    assert_eq!(body["tools"][0]["strict"], false);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "name": "look"})
    );
    assert_eq!(body["max_output_tokens"], 300);
    assert_eq!(body["reasoning"], json!({"effort": "high"}));
    assert_eq!(body["text"], json!({"verbosity": "low"}));
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["store"], false);
    for absent in [
        "messages",
        "seed",
        "stop",
        "router",
        "stream",
        "max_completion_tokens",
    ] {
        assert!(body.get(absent).is_none(), "{absent}: {body}");
    }
}

#[test]
fn a_json_schema_format_moves_beside_its_type_and_n_above_one_is_refused() {
    let req = request(json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
    }));
    let body = body(&req, "m", true, &CallMemo::default(), false).unwrap();
    assert_eq!(
        body["text"]["format"],
        json!({"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true})
    );
    assert_eq!(body["stream"], true);

    // Responses takes no limit below 16.
    let probe = request(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 1}),
    );
    assert_eq!(body_of(&probe)["max_output_tokens"], 16);

    // Chat's allowed-tools list, flattened.
    let allowed = request(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required",
            "tools": [{"type": "function", "function": {"name": "look"}}]}}}),
    );
    assert_eq!(
        body_of(&allowed)["tool_choice"],
        json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "look"}]})
    );

    let two =
        request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}));
    let err = super::body(&two, "m", false, &CallMemo::default(), false).unwrap_err();
    assert!(err.message.contains("n:"), "{}", err.message);
}

#[test]
fn an_answer_with_reasoning_text_and_a_call_reads_as_one_chat_message() {
    let response = json!({
        "id": "resp_1", "object": "response", "created_at": 9, "model": "gpt-6-luna-2026",
        "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Looking.", "annotations": []}]},
            {"type": "function_call", "call_id": "call_9", "name": "look", "arguments": "{\"x\":1}"},
        ],
        "usage": {"input_tokens": 20, "output_tokens": 30,
                  "input_tokens_details": {"cached_tokens": 8},
                  "output_tokens_details": {"reasoning_tokens": 25}},
    });
    let c = completion(&response).unwrap();
    assert_eq!(
        (c.id.as_str(), c.created, c.model.as_str()),
        ("resp_1", 9, "gpt-6-luna-2026")
    );
    let choice = &c.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(choice.message.content.as_deref(), Some("Looking."));
    let call = &choice.message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        (call.id.as_str(), call.function.arguments.as_str()),
        ("call_9", "{\"x\":1}")
    );
    let usage = c.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (20, 30, 50)
    );
    assert_eq!(usage.extra["prompt_tokens_details"]["cached_tokens"], 8);

    let cut = json!({"id": "r", "status": "incomplete", "model": "m",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "reasoning", "id": "rs"}]});
    let c = completion(&cut).unwrap();
    assert_eq!(c.choices[0].finish_reason, Some(FinishReason::Length));
    assert_eq!(c.choices[0].message.content.as_deref(), Some(""));
    // A call cut short is `length`: its arguments may be cut too.
    let cut_call = json!({"id": "r", "status": "incomplete", "model": "m",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"x\":"}]});
    let c = completion(&cut_call).unwrap();
    assert_eq!(c.choices[0].finish_reason, Some(FinishReason::Length));

    let failed = json!({"id": "r", "status": "failed", "output": [],
        "error": {"code": "server_error", "message": "try again"}});
    let err = completion(&failed).unwrap_err();
    assert_eq!(err.message, "try again");
}

/// A request that asks to see the thinking asks for a reasoning summary beside its effort; the
/// summary comes back as the answer's reasoning, its parts a blank line apart.
#[test]
fn a_reasoning_summary_is_asked_for_and_read_back() {
    let req = request(json!({"model": "auto", "reasoning_effort": "low",
                             "thinking_display": "summarized",
                             "messages": [{"role": "user", "content": "2+2?"}]}));
    assert!(wants_summary(&req));
    let asked = body(&req, "gpt-6-luna", false, &CallMemo::default(), true).unwrap();
    assert_eq!(
        asked["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    assert!(asked.get("thinking_display").is_none());
    let plain = body(&req, "gpt-6-luna", false, &CallMemo::default(), false).unwrap();
    assert_eq!(plain["reasoning"], json!({"effort": "low"}));

    let answer = json!({"id": "r", "status": "completed", "model": "gpt-6-luna", "output": [
        {"type": "reasoning", "id": "rs_1", "encrypted_content": "enc", "summary": [
            {"type": "summary_text", "text": "**Adding**"},
            {"type": "summary_text", "text": "**Done**"}]},
        {"type": "message", "content": [{"type": "output_text", "text": "4"}]}]});
    let c = completion(&answer).unwrap();
    assert_eq!(c.choices[0].message.content.as_deref(), Some("4"));
    assert_eq!(
        c.choices[0].message.reasoning_content.as_deref(),
        Some("**Adding**\n\n**Done**")
    );
}
