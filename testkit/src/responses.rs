//! OpenAI Responses: `POST /v1/responses`, as strict as OpenAI about what it takes (an unknown
//! parameter, a chat-style `messages` or `max_tokens`, a tool in the chat shape is a 400), so
//! that a gateway translating chat requests into it is checked against the real rules.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::openai::OpenAi;
use crate::respond::{content_texts, Answer, Content, Incoming, Parsed, Vendor};
use crate::sse::SseEvent;
use crate::Wire;

/// The Responses wire format.
pub(crate) struct Responses;

/// Every top-level parameter the fake accepts (a subset of OpenAI's; the rest is refused by
/// name as OpenAI refuses unknown ones).
const KNOWN: [&str; 19] = [
    "model",
    "include",
    "metadata",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_output_tokens",
    "reasoning",
    "text",
    "stream",
    "store",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
];

fn check_item(i: usize, item: &Value, texts: &mut Vec<String>) -> Result<(), String> {
    match item["type"].as_str() {
        Some("function_call") => {
            for field in ["call_id", "name", "arguments"] {
                if !item[field].is_string() {
                    return Err(format!("input[{i}].{field}: Field required"));
                }
            }
        }
        Some("function_call_output") => {
            if !item["call_id"].is_string() {
                return Err(format!("input[{i}].call_id: Field required"));
            }
            content_texts(&item["output"], texts);
        }
        Some("reasoning") => {
            // Nothing is stored at the fake (as with `store: false`): the item must carry
            // its encrypted content.
            if !item["encrypted_content"].is_string() {
                return Err(format!(
                    "input[{i}]: a reasoning item needs its encrypted_content when store is false"
                ));
            }
        }
        Some("message") | None => match item["role"].as_str() {
            Some("user" | "assistant" | "system" | "developer") => {
                content_texts(&item["content"], texts);
            }
            _ => return Err(format!("input[{i}].role: Invalid value")),
        },
        Some(other) => return Err(format!("input[{i}].type: unsupported item type '{other}'")),
    }
    Ok(())
}

impl Vendor for Responses {
    const WIRE: Wire = Wire::OpenAiResponses;
    const ID_PREFIX: &'static str = "resp_testkit_";

    fn check_credentials(
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<(), (StatusCode, String)> {
        OpenAi::check_credentials(headers, query)
    }

    fn parse(body: &Value, _incoming: &Incoming) -> Result<Parsed, String> {
        let object = body.as_object().ok_or("the body must be a JSON object")?;
        if let Some(unknown) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("Unknown parameter: '{unknown}'."));
        }
        let model = body["model"]
            .as_str()
            .ok_or("Missing required parameter: 'model'.")?
            .to_owned();
        let mut texts = Vec::new();
        content_texts(&body["instructions"], &mut texts);
        match &body["input"] {
            Value::String(s) => texts.push(s.clone()),
            Value::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    check_item(i, item, &mut texts)?;
                }
            }
            _ => return Err("Missing required parameter: 'input'.".to_owned()),
        }
        for (i, tool) in body["tools"].as_array().into_iter().flatten().enumerate() {
            if tool["type"] != "function" || !tool["name"].is_string() {
                return Err(format!("Missing required parameter: 'tools[{i}].name'."));
            }
        }
        Ok(Parsed {
            model,
            stream: body["stream"] == Value::Bool(true),
            include_usage: true,
            texts,
            // The Responses API has no stop sequences.
            stop: Vec::new(),
            keep_stop: false,
        })
    }

    fn error_body(status: StatusCode, message: &str) -> Value {
        OpenAi::error_body(status, message)
    }

    fn completion(answer: &Answer) -> Value {
        let mut response = head(answer, "completed");
        response["output"] = match &answer.content {
            // A reasoning model reasons before it calls a function.
            Content::ToolCall { .. } => json!([reasoning_item(answer), output_item(answer)]),
            Content::Text(_) => json!([output_item(answer)]),
        };
        response["usage"] = usage(answer);
        response
    }

    fn stream(answer: &Answer, _fixtures: &crate::fixtures::Fixtures) -> Vec<SseEvent> {
        let mut events = vec![json!({"type": "response.created", "sequence_number": 0,
                   "response": head(answer, "in_progress")})];
        let item = output_item(answer);
        let mut added = item.clone();
        let mut call_index = 0;
        match &answer.content {
            Content::Text(text) => {
                added["content"] = json!([]);
                added["status"] = json!("in_progress");
                events.push(
                    json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
                );
                for piece in text.split_inclusive(' ') {
                    events.push(
                        json!({"type": "response.output_text.delta", "item_id": item["id"],
                        "output_index": 0, "content_index": 0, "delta": piece}),
                    );
                }
                events.push(
                    json!({"type": "response.output_text.done", "item_id": item["id"],
                    "output_index": 0, "content_index": 0, "text": text}),
                );
            }
            Content::ToolCall { arguments, .. } => {
                // The reasoning item comes first, as in the completed output.
                let reasoning = reasoning_item(answer);
                events.push(
                    json!({"type": "response.output_item.added", "output_index": 0,
                    "item": {"type": "reasoning", "id": reasoning["id"], "summary": []}}),
                );
                events.push(
                    json!({"type": "response.output_item.done", "output_index": 0,
                    "item": reasoning}),
                );
                call_index = 1;
                added["arguments"] = json!("");
                added["status"] = json!("in_progress");
                events.push(
                    json!({"type": "response.output_item.added", "output_index": 1, "item": added}),
                );
                let arguments = arguments.to_string();
                let (first, second) = arguments.split_at(arguments.len() / 2);
                for piece in [first, second] {
                    events.push(json!({"type": "response.function_call_arguments.delta",
                        "item_id": item["id"], "output_index": 1, "delta": piece}));
                }
            }
        }
        events.push(
            json!({"type": "response.output_item.done", "output_index": call_index, "item": item}),
        );
        events.push(json!({"type": "response.completed", "response": Self::completion(answer)}));
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut e = e.clone();
                e["sequence_number"] = json!(i);
                SseEvent::typed_json(&e)
            })
            .collect()
    }

    fn carries_token(event: &Value) -> bool {
        match event["type"].as_str() {
            Some("response.output_item.added") => event["item"]["type"] == "function_call",
            Some(t) => matches!(
                t,
                "response.output_text.delta" | "response.completed" | "response.incomplete"
            ),
            None => false,
        }
    }

    fn malformed_event() -> SseEvent {
        SseEvent {
            event: Some("response.output_text.delta".to_owned()),
            data: "{\"type\": \"response.output_text.delta\", \"delta\": ".to_owned(),
        }
    }
}

fn head(answer: &Answer, status: &str) -> Value {
    json!({
        "id": answer.id,
        "object": "response",
        "created_at": answer.created,
        "status": status,
        "model": answer.model,
        "output": [],
        "usage": null,
    })
}

fn output_item(answer: &Answer) -> Value {
    let id = answer.id.trim_start_matches(Responses::ID_PREFIX);
    match &answer.content {
        Content::Text(text) => json!({
            "type": "message", "id": format!("msg_{id}"), "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }),
        Content::ToolCall { name, arguments } => json!({
            "type": "function_call", "id": format!("fc_{id}"), "status": "completed",
            "call_id": format!("call_{id}"), "name": name, "arguments": arguments.to_string(),
        }),
    }
}

fn reasoning_item(answer: &Answer) -> Value {
    let id = answer.id.trim_start_matches(Responses::ID_PREFIX);
    json!({"type": "reasoning", "id": format!("rs_{id}"), "summary": [],
           "encrypted_content": format!("enc_{id}")})
}

fn usage(answer: &Answer) -> Value {
    json!({
        "input_tokens": answer.usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": answer.usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": answer.usage.total_tokens(),
    })
}
