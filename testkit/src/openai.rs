//! OpenAI Chat Completions: `POST /v1/chat/completions`.

use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::fixtures::{self, Fill, Fixtures};
use crate::respond::{content_texts, Answer, Content, Incoming, Parsed, Vendor};
use crate::sse::SseEvent;
use crate::Wire;

/// The OpenAI wire format.
pub(crate) struct OpenAi;

impl Vendor for OpenAi {
    const WIRE: Wire = Wire::OpenAi;
    const ID_PREFIX: &'static str = "chatcmpl-testkit-";

    fn check_credentials(
        headers: &HeaderMap,
        _query: Option<&str>,
    ) -> Result<(), (StatusCode, String)> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|key| !key.trim().is_empty());
        if bearer {
            Ok(())
        } else {
            Err((
                StatusCode::UNAUTHORIZED,
                "You didn't provide an API key: send `Authorization: Bearer <key>`.".to_owned(),
            ))
        }
    }

    fn parse(body: &Value, _incoming: &Incoming) -> Result<Parsed, String> {
        let model = body["model"]
            .as_str()
            .ok_or("you must provide a model parameter")?
            .to_owned();
        let messages = body["messages"]
            .as_array()
            .filter(|m| !m.is_empty())
            .ok_or("'messages' must be a non-empty array")?;
        // As OpenAI's Chat Completions does: an empty tool list, and `parallel_tool_calls`
        // without tools, are refused.
        let no_tools = match &body["tools"] {
            Value::Array(tools) if tools.is_empty() => {
                return Err("Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.".to_owned());
            }
            tools => !tools.is_array(),
        };
        if no_tools && body.get("parallel_tool_calls").is_some() {
            return Err("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.".to_owned());
        }
        let mut texts = Vec::new();
        for message in messages {
            if message["role"].as_str().is_none() {
                return Err("every message needs a 'role'".to_owned());
            }
            content_texts(&message["content"], &mut texts);
        }
        Ok(Parsed {
            model,
            stream: body["stream"] == Value::Bool(true),
            include_usage: body["stream_options"]["include_usage"] == Value::Bool(true),
            texts,
            stop: crate::respond::stop_sequences(&body["stop"]),
            keep_stop: body["include_stop_str_in_output"] == Value::Bool(true),
        })
    }

    fn error_body(status: StatusCode, message: &str) -> Value {
        let (kind, code) = match status.as_u16() {
            401 => ("invalid_request_error", Some("invalid_api_key")),
            429 => ("requests", Some("rate_limit_exceeded")),
            500..=599 => ("server_error", None),
            _ => ("invalid_request_error", None),
        };
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
    }

    fn completion(answer: &Answer) -> Value {
        let (message, finish_reason) = match &answer.content {
            Content::Text(text) => (
                json!({"role": "assistant", "content": text, "refusal": null}),
                "stop",
            ),
            Content::ToolCall { name, arguments } => (
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "id": tool_call_id(answer),
                        "type": "function",
                        "function": {"name": name, "arguments": arguments.to_string()},
                    }],
                }),
                "tool_calls",
            ),
        };
        json!({
            "id": answer.id,
            "object": "chat.completion",
            "created": answer.created,
            "model": answer.model,
            "system_fingerprint": "fp_testkit",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
            "usage": usage(answer),
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
                fixtures::render(&fixtures.openai, &fill)
                    .into_iter()
                    // The usage chunk (empty `choices`) is sent only on request, as OpenAI does.
                    .filter(|c| answer.include_usage || c.get("usage").is_none())
                    .collect()
            }
            Content::ToolCall { name, arguments } => {
                let delta_call = json!([{
                    "index": 0, "id": tool_call_id(answer), "type": "function",
                    "function": {"name": name, "arguments": ""},
                }]);
                let mut chunks = vec![chunk(
                    answer,
                    json!({"role": "assistant", "content": null, "tool_calls": delta_call}),
                    None,
                )];
                // OpenAI streams the arguments a few characters at a time, so a value in them
                // arrives split across chunks.
                chunks.extend(argument_pieces(&arguments.to_string()).map(|piece| {
                    chunk(
                        answer,
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        None,
                    )
                }));
                chunks.push(chunk(answer, json!({}), Some("tool_calls")));
                if answer.include_usage {
                    let mut last = chunk(answer, json!({}), None);
                    last["choices"] = json!([]);
                    last["usage"] = usage(answer);
                    chunks.push(last);
                }
                chunks
            }
        };
        let mut events: Vec<SseEvent> = chunks.iter().map(SseEvent::json).collect();
        events.push(SseEvent {
            event: None,
            data: "[DONE]".to_owned(),
        });
        events
    }

    fn carries_token(event: &Value) -> bool {
        event["choices"].as_array().into_iter().flatten().any(|c| {
            c["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
                || c["delta"]["tool_calls"].is_array()
                || !c["finish_reason"].is_null()
        })
    }

    fn malformed_event() -> SseEvent {
        SseEvent {
            event: None,
            data: "{\"choices\": [{\"delta\": ".to_owned(),
        }
    }
}

/// Bytes of streamed tool-call arguments per chunk, at most.
const ARGUMENT_PIECE: usize = 8;

/// `arguments` in pieces of at most [`ARGUMENT_PIECE`] bytes, cut on char boundaries.
fn argument_pieces(arguments: &str) -> impl Iterator<Item = &str> {
    let mut rest = arguments;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let mut at = ARGUMENT_PIECE.min(rest.len());
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        let (piece, tail) = rest.split_at(at.max(first.len_utf8()));
        rest = tail;
        Some(piece)
    })
}

fn chunk(answer: &Answer, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": answer.id,
        "object": "chat.completion.chunk",
        "created": answer.created,
        "model": answer.model,
        "system_fingerprint": "fp_testkit",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    })
}

fn usage(answer: &Answer) -> Value {
    json!({
        "prompt_tokens": answer.usage.input_tokens,
        "completion_tokens": answer.usage.output_tokens,
        "total_tokens": answer.usage.total_tokens(),
    })
}

fn tool_call_id(answer: &Answer) -> String {
    format!("call_{}", answer.id.trim_start_matches(OpenAi::ID_PREFIX))
}
