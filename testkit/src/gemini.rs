//! Google Gemini: `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use crate::fixtures::{self, Fill, Fixtures};
use crate::record::query_param;
use crate::respond::{self, content_texts, Answer, Content, Incoming, Parsed, Vendor};
use crate::server::Shared;
use crate::sse::SseEvent;
use crate::Wire;

/// The Gemini wire format.
pub(crate) struct Gemini;

/// Handler of `POST /v1beta/models/{model}:{action}`.
pub(crate) async fn generate(
    State(shared): State<Arc<Shared>>,
    Path(model_action): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (model, stream) = match model_action.rsplit_once(':') {
        Some((model, "generateContent")) => (model, false),
        Some((model, "streamGenerateContent")) => (model, true),
        _ => {
            return respond::error::<Gemini>(
                StatusCode::NOT_FOUND,
                "Expected `models/{model}:generateContent` or `:streamGenerateContent`.",
            )
        }
    };
    let incoming = Incoming {
        method,
        uri,
        headers,
        body,
        path_model: Some(model.to_owned()),
        path_stream: stream,
    };
    respond::handle::<Gemini>(shared, incoming).await
}

impl Vendor for Gemini {
    const WIRE: Wire = Wire::Gemini;
    const ID_PREFIX: &'static str = "testkit-";

    fn check_credentials(
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<(), (StatusCode, String)> {
        let header_key = headers
            .get("x-goog-api-key")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty());
        let query_key = query_param(query, "key").is_some_and(|v| !v.is_empty());
        if header_key || query_key {
            Ok(())
        } else {
            Err((
                StatusCode::FORBIDDEN,
                "Method doesn't allow unregistered callers: send an API key in `x-goog-api-key` or `key`."
                    .to_owned(),
            ))
        }
    }

    fn parse(body: &Value, incoming: &Incoming) -> Result<Parsed, String> {
        let model = incoming
            .path_model
            .clone()
            .filter(|m| !m.is_empty())
            .ok_or("The model name in the path is empty.")?;
        if incoming.path_stream && query_param(incoming.uri.query(), "alt") != Some("sse") {
            return Err("testkit streams Gemini only as SSE: add `?alt=sse`.".to_owned());
        }
        let contents = body["contents"]
            .as_array()
            .filter(|c| !c.is_empty())
            .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
        let declared = body["tools"].as_array().is_some_and(|tools| {
            tools.iter().any(|t| {
                t["functionDeclarations"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty())
            })
        });
        // Gemini 2.5 and earlier refuse this; Gemini 3 lets it pass.
        if !body["toolConfig"]["functionCallingConfig"].is_null() && !declared {
            return Err("Function calling config is set without function_declarations.".to_owned());
        }
        check_thinking(&model, &body["generationConfig"]["thinkingConfig"])?;
        if gives_call_ids(&model) {
            check_call_ids(contents)?;
        }
        let mut texts = Vec::new();
        content_texts(&body["systemInstruction"]["parts"], &mut texts);
        for content in contents {
            content_texts(&content["parts"], &mut texts);
        }
        Ok(Parsed {
            model,
            stream: incoming.path_stream,
            include_usage: true,
            texts,
            keep_stop: false,
            stop: crate::respond::stop_sequences(&body["generationConfig"]["stopSequences"]),
        })
    }

    fn error_body(status: StatusCode, message: &str) -> Value {
        let name = match status.as_u16() {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            500 => "INTERNAL",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "UNKNOWN",
        };
        json!({"error": {"code": status.as_u16(), "message": message, "status": name}})
    }

    fn completion(answer: &Answer) -> Value {
        response(answer)
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
                fixtures::render(&fixtures.gemini, &fill)
            }
            Content::ToolCall { .. } => vec![response(answer)],
        };
        chunks.iter().map(SseEvent::json).collect()
    }

    fn carries_token(event: &Value) -> bool {
        event["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                !c["finishReason"].is_null()
                    || c["content"]["parts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| {
                            p["thought"] != true
                                && (p["text"].as_str().is_some_and(|t| !t.is_empty())
                                    || p["functionCall"].is_object())
                        })
            })
    }

    fn malformed_event() -> SseEvent {
        SseEvent {
            event: None,
            data: "{\"candidates\": [".to_owned(),
        }
    }
}

/// Google refuses a thinking level beside a thinking budget on every model, and a thinking
/// level on the models before Gemini 3 (which take only a budget); the fake does too, so a
/// gateway that sends either fails here as it would there.
fn check_thinking(model: &str, thinking: &Value) -> Result<(), String> {
    let level = !thinking["thinkingLevel"].is_null();
    if level && !thinking["thinkingBudget"].is_null() {
        return Err("You can only set only one of thinking budget and thinking level.".to_owned());
    }
    let before_3 = ["gemini-1", "gemini-2"]
        .iter()
        .any(|p| model.trim_start_matches("models/").starts_with(p));
    if level && before_3 {
        return Err(format!(
            "Invalid JSON payload: thinking level is not supported by {model}; use thinking budget."
        ));
    }
    Ok(())
}

/// Whether `model` gives its function calls ids and wants them back: Gemini 3.5 and later
/// (and a name without a version, which names a current model).
fn gives_call_ids(model: &str) -> bool {
    let name = model.trim_start_matches("models/");
    let Some(version) = name.strip_prefix("gemini-") else {
        return false;
    };
    let number = |s: &str| -> Option<u32> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let Some(major) = number(version) else {
        return true;
    };
    let minor = version
        .split_once('.')
        .and_then(|(_, rest)| number(rest))
        .unwrap_or(0);
    (major, minor) >= (3, 5)
}

/// Gemini 3.5 and later refuse a history whose function response does not carry the id of a
/// function call before it ("functionResponse.id does not match functionCall.id").
fn check_call_ids(contents: &[Value]) -> Result<(), String> {
    let mut called: Vec<&str> = Vec::new();
    for part in contents
        .iter()
        .filter_map(|c| c["parts"].as_array())
        .flatten()
    {
        if let Some(id) = part["functionCall"]["id"].as_str() {
            called.push(id);
        }
        if part["functionResponse"].is_object() {
            let id = part["functionResponse"]["id"].as_str();
            if !id.is_some_and(|id| called.contains(&id)) {
                return Err(format!(
                    "functionResponse.id does not match functionCall.id: {}",
                    id.unwrap_or("(none)")
                ));
            }
        }
    }
    Ok(())
}

fn parts(answer: &Answer) -> Value {
    match &answer.content {
        Content::Text(text) => json!([{"text": text}]),
        Content::ToolCall { name, arguments } if gives_call_ids(&answer.model) => {
            let id = format!("fc-{}", answer.id);
            json!([{"functionCall": {"id": id, "name": name, "args": arguments}}])
        }
        Content::ToolCall { name, arguments } => {
            json!([{"functionCall": {"name": name, "args": arguments}}])
        }
    }
}

/// A complete `GenerateContentResponse` (Gemini reports `STOP` for tool calls too).
fn response(answer: &Answer) -> Value {
    json!({
        "candidates": [{
            "content": {"parts": parts(answer), "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": answer.usage.input_tokens,
            "candidatesTokenCount": answer.usage.output_tokens,
            "totalTokenCount": answer.usage.total_tokens(),
        },
        "modelVersion": answer.model,
        "responseId": answer.id,
    })
}
