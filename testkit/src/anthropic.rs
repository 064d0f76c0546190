//! Anthropic Messages: `POST /v1/messages`.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::fixtures::{self, Fill, Fixtures};
use crate::respond::{content_texts, Answer, Content, Incoming, Parsed, Vendor};
use crate::sse::SseEvent;
use crate::Wire;

/// The Anthropic wire format.
pub(crate) struct Anthropic;

fn non_empty_header(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty())
}

impl Vendor for Anthropic {
    const WIRE: Wire = Wire::Anthropic;
    const ID_PREFIX: &'static str = "msg_testkit_";

    fn check_credentials(
        headers: &HeaderMap,
        _query: Option<&str>,
    ) -> Result<(), (StatusCode, String)> {
        if !non_empty_header(headers, "x-api-key") {
            return Err((
                StatusCode::UNAUTHORIZED,
                "x-api-key header is required".to_owned(),
            ));
        }
        if !non_empty_header(headers, "anthropic-version") {
            return Err((
                StatusCode::BAD_REQUEST,
                "anthropic-version: header is required".to_owned(),
            ));
        }
        Ok(())
    }

    fn parse(body: &Value, _incoming: &Incoming) -> Result<Parsed, String> {
        let model = body["model"]
            .as_str()
            .ok_or("model: Field required")?
            .to_owned();
        if !body["max_tokens"].is_u64() {
            return Err("max_tokens: Field required".to_owned());
        }
        let messages = body["messages"]
            .as_array()
            .filter(|m| !m.is_empty())
            .ok_or("messages: Field required")?;
        if thinks(&model) {
            thinking_given_back(messages)?;
        }
        let stop = crate::respond::stop_sequences(&body["stop_sequences"]);
        if stop.iter().any(|s| s.trim().is_empty()) {
            return Err(
                "stop_sequences: each stop sequence must contain non-whitespace".to_owned(),
            );
        }
        // Claude Sonnet 4.5, Haiku 4.5 and Opus 4.1 and later refuse both; older models take
        // them, but a client of the fake gains nothing from sending both.
        if !body["temperature"].is_null() && !body["top_p"].is_null() {
            return Err(
                "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
                    .to_owned(),
            );
        }
        let format = &body["output_config"]["format"];
        if !format.is_null() {
            output_format(format)?;
        }
        cache_marks(body)?;
        let mut texts = Vec::new();
        content_texts(&body["system"], &mut texts);
        for message in messages {
            match message["role"].as_str() {
                Some("user" | "assistant") => content_texts(&message["content"], &mut texts),
                _ => {
                    return Err(
                        "messages: roles must be 'user' or 'assistant' (system goes in `system`)"
                            .to_owned(),
                    )
                }
            }
        }
        Ok(Parsed {
            model,
            stream: body["stream"] == Value::Bool(true),
            include_usage: true,
            texts,
            keep_stop: false,
            stop,
        })
    }

    fn error_body(status: StatusCode, message: &str) -> Value {
        let kind = match status.as_u16() {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        json!({"type": "error", "error": {"type": kind, "message": message}})
    }

    fn completion(answer: &Answer) -> Value {
        let (content, stop_reason) = match &answer.content {
            Content::Text(text) => (json!([{"type": "text", "text": text}]), stop_reason(answer)),
            Content::ToolCall { name, arguments } => {
                let call = json!({"type": "tool_use", "id": tool_use_id(answer), "name": name, "input": arguments});
                let content = if thinks(&answer.model) {
                    json!([{"type": "thinking", "thinking": "", "signature": signature(answer)}, call])
                } else {
                    json!([call])
                };
                (content, "tool_use")
            }
        };
        json!({
            "id": answer.id,
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": answer.stop_sequence,
            "usage": {"input_tokens": answer.usage.input_tokens, "output_tokens": answer.usage.output_tokens},
        })
    }

    fn stream(answer: &Answer, fixtures: &Fixtures) -> Vec<SseEvent> {
        let chunks = match &answer.content {
            Content::Text(text) => {
                let pieces = fixtures::pieces(text);
                let fill = Fill {
                    id: &answer.id,
                    model: &answer.model,
                    created: answer.created,
                    usage: answer.usage,
                    pieces: &pieces,
                };
                let mut events = fixtures::render(&fixtures.anthropic, &fill);
                for e in &mut events {
                    if e["type"] == "message_delta" {
                        e["delta"]["stop_reason"] = json!(stop_reason(answer));
                        e["delta"]["stop_sequence"] = json!(answer.stop_sequence);
                    }
                }
                events
            }
            Content::ToolCall { name, arguments } => vec![
                json!({"type": "message_start", "message": {
                    "id": answer.id, "type": "message", "role": "assistant", "content": [],
                    "model": answer.model, "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": answer.usage.input_tokens, "output_tokens": 1},
                }}),
                json!({"type": "content_block_start", "index": 1, "content_block": {
                    "type": "tool_use", "id": tool_use_id(answer), "name": name, "input": {},
                }}),
                json!({"type": "content_block_delta", "index": 1, "delta": {
                    "type": "input_json_delta", "partial_json": arguments.to_string(),
                }}),
                json!({"type": "content_block_stop", "index": 1}),
                json!({"type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                    "usage": {"output_tokens": answer.usage.output_tokens}}),
                json!({"type": "message_stop"}),
            ],
        };
        // A thinking model's call comes after its (omitted) thinking and the signature.
        let chunks = if thinks(&answer.model) && matches!(answer.content, Content::ToolCall { .. })
        {
            let mut with = vec![chunks[0].clone()];
            with.push(json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}));
            with.push(json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "signature_delta", "signature": signature(answer)}}));
            with.push(json!({"type": "content_block_stop", "index": 0}));
            with.extend(chunks.into_iter().skip(1));
            with
        } else {
            chunks
        };
        chunks.iter().map(SseEvent::typed_json).collect()
    }

    fn carries_token(event: &Value) -> bool {
        match event["type"].as_str() {
            Some("content_block_start") => event["content_block"]["type"] == "tool_use",
            Some("content_block_delta") => {
                matches!(
                    event["delta"]["type"].as_str(),
                    Some("text_delta" | "input_json_delta")
                )
            }
            Some("message_delta") => true,
            _ => false,
        }
    }

    fn malformed_event() -> SseEvent {
        SseEvent {
            event: Some("content_block_delta".to_owned()),
            data: "{\"type\": \"content_block_delta\", \"delta\": ".to_owned(),
        }
    }
}

/// Why a text answer ended: at one of the request's stop sequences or naturally.
/// Refuses an `output_config.format` Claude's structured outputs would refuse: another type
/// than `json_schema`, an object that does not say `additionalProperties: false`, and the
/// numeric and length constraints its constrained decoding does not take.
fn output_format(format: &Value) -> Result<(), String> {
    if format["type"] != "json_schema" || !format["schema"].is_object() {
        return Err(
            "output_config.format: expected {\"type\": \"json_schema\", \"schema\": {...}}"
                .to_owned(),
        );
    }
    schema_supported(&format["schema"], "output_config.format.schema")
}

fn schema_supported(node: &Value, at: &str) -> Result<(), String> {
    let Value::Object(map) = node else {
        return Ok(());
    };
    const REFUSED: [&str; 6] = [
        "minimum",
        "maximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "maxItems",
    ];
    if let Some(key) = REFUSED.iter().find(|k| map.contains_key(**k)) {
        return Err(format!(
            "{at}: `{key}` is not supported in structured outputs"
        ));
    }
    let object = map.get("type") == Some(&Value::from("object")) || map.contains_key("properties");
    if object && map.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Err(format!(
            "{at}: For 'object' type, 'additionalProperties' must be explicitly set to false"
        ));
    }
    for (key, child) in map {
        match child {
            Value::Object(children) if key == "properties" || key == "$defs" => {
                for (name, c) in children {
                    schema_supported(c, &format!("{at}.{key}.{name}"))?;
                }
            }
            Value::Array(children) if key == "anyOf" || key == "allOf" => {
                for (i, c) in children.iter().enumerate() {
                    schema_supported(c, &format!("{at}.{key}[{i}]"))?;
                }
            }
            Value::Object(_) if key == "items" => schema_supported(child, &format!("{at}.items"))?,
            _ => {}
        }
    }
    Ok(())
}

fn stop_reason(answer: &Answer) -> &'static str {
    if answer.stop_sequence.is_some() {
        "stop_sequence"
    } else {
        "end_turn"
    }
}

/// Prefix of the tool-call ids the fake makes.
const TOOL_ID_PREFIX: &str = "toolu_testkit_";

fn tool_use_id(answer: &Answer) -> String {
    format!(
        "{TOOL_ID_PREFIX}{}",
        answer.id.trim_start_matches(Anthropic::ID_PREFIX)
    )
}

/// The signature of the thinking before the tool call `answer` makes.
fn signature(answer: &Answer) -> String {
    format!("sig_{}", tool_use_id(answer))
}

/// Whether `model` thinks by default, as Claude 5 and later do: its tool calls come after a
/// thinking block, which the next request must give back.
fn thinks(model: &str) -> bool {
    let Some(rest) = model.strip_prefix("claude-") else {
        return false;
    };
    let major: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    major.parse::<u32>().is_ok_and(|m| m >= 5)
}

/// Anthropic's rule with thinking on: an assistant turn holding a tool call the model made
/// starts with the thinking block that preceded it, unchanged (checked by its signature).
fn thinking_given_back(messages: &[Value]) -> Result<(), String> {
    for (i, message) in messages.iter().enumerate() {
        let blocks = message["content"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let own_call = blocks.iter().find_map(|b| {
            let id = b["id"].as_str().filter(|_| b["type"] == "tool_use")?;
            id.starts_with(TOOL_ID_PREFIX).then_some(id)
        });
        let Some(id) = own_call else { continue };
        let first = blocks.first().cloned().unwrap_or(Value::Null);
        if first["type"] != "thinking" && first["type"] != "redacted_thinking" {
            return Err(format!(
                "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.",
                first["type"].as_str().unwrap_or("nothing")
            ));
        }
        if first["type"] == "thinking" && first["signature"] != format!("sig_{id}") {
            return Err(format!(
                "messages.{i}.content.0: Invalid `signature` in `thinking` block"
            ));
        }
    }
    Ok(())
}

/// Anthropic's rules for prompt-cache marks (`cache_control`): at most four in a request, none
/// on a thinking block or an empty text block. The fake answers 400 as Anthropic does, so a
/// gateway that places marks wrongly fails here.
fn cache_marks(body: &Value) -> Result<(), String> {
    let mut blocks: Vec<&Value> = Vec::new();
    for key in ["system", "tools"] {
        if let Some(list) = body[key].as_array() {
            blocks.extend(list);
        }
    }
    for message in body["messages"].as_array().into_iter().flatten() {
        if let Some(content) = message["content"].as_array() {
            blocks.extend(content);
        }
    }
    let marked: Vec<&Value> = blocks
        .into_iter()
        .filter(|b| b.get("cache_control").is_some())
        .collect();
    if marked.len() > 4 {
        return Err(format!(
            "A maximum of 4 blocks with cache_control may be provided. Found {}.",
            marked.len()
        ));
    }
    for block in marked {
        match block["type"].as_str() {
            Some("thinking" | "redacted_thinking") => {
                return Err("messages: cache_control cannot be set on thinking blocks".to_owned())
            }
            Some("text") if block["text"].as_str().is_none_or(str::is_empty) => {
                return Err("cache_control cannot be set for empty text blocks".to_owned())
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where a Messages request body carries prompt-cache marks (`cache_control` of type
/// `ephemeral`), as sorted JSON paths (`.system[0]`, `.messages[2].content[1]`): what tests of
/// a gateway's mark placement compare.
pub fn cache_mark_paths(body: &Value) -> Vec<String> {
    fn walk(value: &Value, path: String, out: &mut Vec<String>) {
        match value {
            Value::Object(o) => {
                if o.get("cache_control").and_then(|c| c.get("type")) == Some(&json!("ephemeral")) {
                    out.push(path.clone());
                }
                for (k, v) in o {
                    walk(v, format!("{path}.{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, String::new(), &mut out);
    out.sort();
    out
}
