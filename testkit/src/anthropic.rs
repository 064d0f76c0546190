//! Anthropic Messages: `POST /v1/messages`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use crate::fixtures::{self, Fill, Fixtures};
use crate::respond::{self, content_texts, Answer, Content, Incoming, Parsed, Vendor};
use crate::server::Shared;
use crate::sse::SseEvent;
use crate::Wire;

/// The Anthropic wire format.
pub(crate) struct Anthropic;

/// Handler of `POST /v1/messages`.
pub(crate) async fn messages(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming {
        method,
        uri,
        headers,
        body,
        path_model: None,
        path_stream: false,
    };
    respond::handle::<Anthropic>(shared, incoming).await
}

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
            Content::Text(text) => (json!([{"type": "text", "text": text}]), "end_turn"),
            Content::ToolCall { name, arguments } => (
                json!([{"type": "tool_use", "id": tool_use_id(answer), "name": name, "input": arguments}]),
                "tool_use",
            ),
        };
        json!({
            "id": answer.id,
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
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
                fixtures::render(&fixtures.anthropic, &fill)
            }
            Content::ToolCall { name, arguments } => vec![
                json!({"type": "message_start", "message": {
                    "id": answer.id, "type": "message", "role": "assistant", "content": [],
                    "model": answer.model, "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": answer.usage.input_tokens, "output_tokens": 1},
                }}),
                json!({"type": "content_block_start", "index": 0, "content_block": {
                    "type": "tool_use", "id": tool_use_id(answer), "name": name, "input": {},
                }}),
                json!({"type": "content_block_delta", "index": 0, "delta": {
                    "type": "input_json_delta", "partial_json": arguments.to_string(),
                }}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                    "usage": {"output_tokens": answer.usage.output_tokens}}),
                json!({"type": "message_stop"}),
            ],
        };
        chunks.iter().map(SseEvent::typed_json).collect()
    }

    fn malformed_event() -> SseEvent {
        SseEvent {
            event: Some("content_block_delta".to_owned()),
            data: "{\"type\": \"content_block_delta\", \"delta\": ".to_owned(),
        }
    }
}

fn tool_use_id(answer: &Answer) -> String {
    format!(
        "toolu_{}",
        answer.id.trim_start_matches(Anthropic::ID_PREFIX)
    )
}
