#![allow(clippy::unwrap_used, clippy::expect_used)]
use serde_json::{json, Value};

use super::*;
use crate::http::error::ApiError;
use crate::openai::wire::{
    ChatCompletionChunk, ChunkChoice, Delta, FinishReason, FunctionCallDelta, Role, ToolCallDelta,
};

fn parse_json(v: Value) -> Result<crate::openai::wire::ChatCompletionRequest, ApiError> {
    parse(v.to_string().as_bytes())
}

#[test]
fn string_input_and_instructions() {
    let req = parse_json(
        json!({"model": "auto", "input": "Hi", "instructions": "Be brief.",
        "max_output_tokens": 32, "temperature": 0.2, "user": "u1", "metadata": {"k": "v"},
        "store": true, "router": {"max_cost_usd": 0.01}}),
    )
    .unwrap();
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::System, Role::User]);
    assert_eq!(req.messages[0].text_content(), "Be brief.");
    assert_eq!(req.output_limit(), Some(32));
    assert_eq!(req.user.as_deref(), Some("u1"));
    assert_eq!(req.router.as_ref().unwrap().max_cost_usd, Some(0.01));
    assert!(!req.is_stream());
    // Echoed in the answer as given, and never part of what is sent upstream.
    let echo = format!("{:?}", answer::Echo::of(&req));
    assert!(
        echo.contains("Be brief.") && echo.contains("\"k\""),
        "{echo}"
    );
    let upstream = serde_json::to_value(&req).unwrap();
    assert!(upstream.get("metadata").is_none() && upstream.get("client_echo").is_none());
}

/// The Responses API holds a function tool without `strict` to strict mode: the gateway sends
/// `strict: true` where the schema allows it (before, an omitted `strict` became chat's
/// non-strict default), non-strict where strict mode would refuse the schema, and the client's
/// own choice as given.
#[test]
fn an_omitted_strict_is_strict_where_the_schema_allows() {
    let strict_schema = json!({"type": "object", "additionalProperties": false,
        "properties": {"city": {"type": "string"},
                       "days": {"type": "array", "items": {"type": "object",
                           "additionalProperties": false, "required": ["n"],
                           "properties": {"n": {"type": "integer"}}}}},
        "required": ["city", "days"]});
    let open_schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let optional = json!({"type": "object", "additionalProperties": false,
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"]});
    let nested_open = json!({"type": "object", "additionalProperties": false,
        "properties": {"where": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "required": ["where"]});
    for (tool, strict) in [
        (
            json!({"type": "function", "name": "f", "parameters": strict_schema}),
            true,
        ),
        (
            json!({"type": "function", "name": "f", "parameters": open_schema}),
            false,
        ),
        (
            json!({"type": "function", "name": "f", "parameters": optional}),
            false,
        ),
        (
            json!({"type": "function", "name": "f", "parameters": nested_open}),
            false,
        ),
        (json!({"type": "function", "name": "f"}), false),
        (
            json!({"type": "function", "name": "f", "parameters": strict_schema, "strict": false}),
            false,
        ),
    ] {
        let req = parse_json(json!({"model": "gpt-4o", "input": "hi", "tools": [tool]})).unwrap();
        assert_eq!(
            req.tools.as_ref().unwrap()[0].function.strict,
            Some(strict),
            "{tool}"
        );
        // The response object echoes what was applied.
        let echo = format!("{:?}", answer::Echo::of(&req));
        assert!(
            echo.contains(&format!("\"strict\": Bool({strict})")),
            "{echo}"
        );
    }
}

#[test]
fn items_tools_and_function_call_round_trip() {
    let req = parse_json(json!({
        "model": "gpt-4o-mini",
        "stream": true,
        "parallel_tool_calls": false,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"},
                   "strict": true}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "input": [
            {"role": "developer", "content": "Use tools."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather in Paris?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}", "id": "fc_1", "status": "completed"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"}
        ]
    }))
    .unwrap();
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::Developer, Role::User, Role::Assistant, Role::Tool]
    );
    assert!(req.messages[1].has_image());
    assert_eq!(req.messages[2].text_content(), "Checking.");
    let call = &req.messages[2].tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.id, "call_1");
    assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);
    assert_eq!(req.messages[3].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(req.tools.as_ref().unwrap()[0].function.strict, Some(true));
    assert_eq!(
        req.tool_choice.as_ref().unwrap()["function"]["name"],
        "get_weather"
    );
    assert_eq!(req.extra["parallel_tool_calls"], false);
    assert!(req.is_stream() && req.wants_stream_usage());
    let echo = answer::Echo::of(&req);
    let body = format!("{echo:?}");
    assert!(body.contains("get_weather"), "{body}");
}

#[test]
fn refuses_what_it_cannot_carry_by_name() {
    let base = json!({"model": "auto", "input": "hi"});
    for (field, value) in [
        ("previous_response_id", json!("resp_1")),
        ("conversation", json!("conv_1")),
        ("background", json!(true)),
        ("reasoning", json!({"effort": "high"})),
        ("include", json!(["reasoning.encrypted_content"])),
        ("truncation", json!("auto")),
        ("frobnicate", json!(1)),
    ] {
        let mut b = base.clone();
        b[field] = value;
        let e = parse_json(b).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    // Null, `false` and empty settings are the defaults, not requests.
    let mut b = base.clone();
    b["background"] = json!(false);
    b["previous_response_id"] = Value::Null;
    b["reasoning"] = json!({"effort": null});
    b["include"] = json!([]);
    b["truncation"] = json!("disabled");
    parse_json(b).unwrap();
    let mut b = base.clone();
    b["tools"] = json!([{"type": "web_search"}]);
    let e = parse_json(b).unwrap_err().to_string();
    assert!(
        e.contains("tools[0].type") && e.contains("web_search"),
        "{e}"
    );
    let mut b = base;
    b["input"] = json!([{"type": "reasoning", "summary": []}]);
    let e = parse_json(b).unwrap_err().to_string();
    assert!(e.contains("input[0].type"), "{e}");
}

fn chunk(delta: Delta, finish: Option<FinishReason>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "c1".into(),
        object: "chat.completion.chunk".into(),
        created: 7,
        model: "m".into(),
        choices: vec![ChunkChoice {
            delta,
            finish_reason: finish,
            ..Default::default()
        }],
        usage: None,
        system_fingerprint: None,
    }
}

#[test]
fn stream_events_follow_responses_sequence() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let mut e = StreamEncoder::new(&req);
    let text = |t: &str| Delta {
        content: Some(t.into()),
        ..Default::default()
    };
    let mut all = String::new();
    for c in [
        chunk(text("Hel"), None),
        chunk(text("lo"), None),
        chunk(
            Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: 0,
                    id: Some("call_1".into()),
                    kind: Some("function".into()),
                    function: Some(FunctionCallDelta {
                        name: Some("f".into()),
                        arguments: Some("{\"a\":1}".into()),
                    }),
                }]),
                ..Default::default()
            },
            None,
        ),
        chunk(Delta::default(), Some(FinishReason::ToolCalls)),
    ] {
        if let Some(b) = e.chunk(&c) {
            all.push_str(std::str::from_utf8(&b).unwrap());
        }
    }
    all.push_str(std::str::from_utf8(&e.done((7, 3))).unwrap());
    let events: Vec<Value> = all
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, v) in events.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
    }
    let done = &events[13]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["output"][1]["call_id"], "call_1");
    assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
    assert_eq!(events[12]["output_index"], 1);
    assert_eq!(done["usage"]["total_tokens"], 10);
    assert_eq!(events[0]["response"]["id"], done["id"]);
}

#[test]
fn a_streamed_refusal_is_its_own_part_with_refusal_events() {
    let req = parse_json(json!({"model": "auto", "input": "hi", "stream": true})).unwrap();
    let mut e = StreamEncoder::new(&req);
    let refusal = |t: &str| Delta {
        refusal: Some(t.into()),
        ..Default::default()
    };
    let mut all = String::new();
    for c in [
        chunk(
            Delta {
                content: Some("Well. ".into()),
                ..Default::default()
            },
            None,
        ),
        chunk(refusal("I can't "), None),
        chunk(refusal("help with that."), Some(FinishReason::Stop)),
    ] {
        if let Some(b) = e.chunk(&c) {
            all.push_str(std::str::from_utf8(&b).unwrap());
        }
    }
    all.push_str(std::str::from_utf8(&e.done((3, 5))).unwrap());
    let events: Vec<Value> = all
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[7]["content_index"], 1);
    assert_eq!(events[7]["part"]["type"], "refusal");
    assert_eq!(events[10]["refusal"], "I can't help with that.");
    let content = &events[13]["response"]["output"][0]["content"];
    assert_eq!(content[0]["text"], "Well. ");
    assert_eq!(
        content[1],
        json!({"type": "refusal", "refusal": "I can't help with that."})
    );
}
