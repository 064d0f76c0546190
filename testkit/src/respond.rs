//! The request flow shared by every vendor: check credentials, parse, record, pick the
//! scripted [`Scenario`], and play it through the vendor's [`Vendor`] shapes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::fixtures::Fixtures;
use crate::record::{redact_headers, redact_query};
use crate::server::Shared;
use crate::sse::{self, SseEvent, Tail};
use crate::{RecordedRequest, Scenario, Usage, Wire};

/// `created` reported in every answer: fixed so responses are deterministic.
const CREATED_UNIX_S: u64 = 1_700_000_000;

/// How many words of the last prompt text the default echo reply repeats.
const ECHO_WORDS: usize = 24;

/// A request as the handlers hand it over.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The model named in the path (Gemini), if any.
    pub(crate) path_model: Option<String>,
    /// Whether the path asked for a stream (Gemini `:streamGenerateContent`).
    pub(crate) path_stream: bool,
}

/// What a vendor request says, once validated.
pub(crate) struct Parsed {
    /// The model to answer as.
    pub(crate) model: String,
    /// Whether the answer is streamed.
    pub(crate) stream: bool,
    /// Whether the stream ends with a usage chunk (OpenAI `stream_options.include_usage`).
    pub(crate) include_usage: bool,
    /// Every text of the prompt in order (system first); the last one is echoed.
    pub(crate) texts: Vec<String>,
    /// The request's stop sequences: a text answer ends before the first of them, as the
    /// vendors' APIs end it.
    pub(crate) stop: Vec<String>,
    /// Whether the text keeps the stop sequence it ended at (vLLM's
    /// `include_stop_str_in_output`).
    pub(crate) keep_stop: bool,
}

/// The stop sequences of a request field that holds one string or a list of them.
pub(crate) fn stop_sequences(field: &Value) -> Vec<String> {
    match field {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// What the answer carries.
pub(crate) enum Content {
    /// Assistant text.
    Text(String),
    /// One function call.
    ToolCall {
        /// Function name.
        name: String,
        /// JSON arguments object.
        arguments: Value,
    },
}

/// A successful answer, ready to render in a vendor's shape.
pub(crate) struct Answer {
    /// Vendor-style response id.
    pub(crate) id: String,
    /// Model name as requested.
    pub(crate) model: String,
    /// Unix seconds.
    pub(crate) created: u64,
    /// Text or tool call.
    pub(crate) content: Content,
    /// Token counts.
    pub(crate) usage: Usage,
    /// Whether an OpenAI stream reports usage in a final chunk.
    pub(crate) include_usage: bool,
    /// The stop sequence the text ended at (it is not part of the text).
    pub(crate) stop_sequence: Option<String>,
}

/// The shapes one vendor API speaks.
pub(crate) trait Vendor {
    /// Which API this is.
    const WIRE: Wire;
    /// Prefix of response ids, such as `chatcmpl-`.
    const ID_PREFIX: &'static str;

    /// Rejects a request without credentials the way the real API does: status and message.
    fn check_credentials(
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<(), (StatusCode, String)>;
    /// Validates the JSON body; the error is a 400 message.
    fn parse(body: &Value, incoming: &Incoming) -> Result<Parsed, String>;
    /// The vendor's error JSON for a status.
    fn error_body(status: StatusCode, message: &str) -> Value;
    /// The non-streamed success body.
    fn completion(answer: &Answer) -> Value;
    /// Every event of a successful stream, including the vendor's end-of-stream marker.
    fn stream(answer: &Answer, fixtures: &Fixtures) -> Vec<SseEvent>;
    /// An event whose data is not valid JSON, framed as the vendor frames chunks.
    fn malformed_event() -> SseEvent;
    /// Whether `event` carries part of the answer (text, a tool call, the finish) rather than
    /// preamble (the role, a message start, thinking): where a client first sees the answer.
    fn carries_token(event: &Value) -> bool;
}

/// Handler of a vendor endpoint that names its model in the body (`POST /v1/chat/completions`,
/// `/v1/messages`, `/v1/responses`).
pub(crate) async fn body_named<V: Vendor>(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
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
    handle::<V>(shared, incoming).await
}

/// Runs one request through credentials, parsing, the script and the scenario.
pub(crate) async fn handle<V: Vendor>(shared: Arc<Shared>, incoming: Incoming) -> Response {
    let query = incoming.uri.query();
    let json: Option<Value> = serde_json::from_slice(&incoming.body).ok();
    let mut record = RecordedRequest {
        wire: V::WIRE,
        method: incoming.method.to_string(),
        path: incoming.uri.path().to_owned(),
        query: redact_query(query),
        headers: redact_headers(&incoming.headers),
        body: json.clone().unwrap_or(Value::Null),
        model: incoming
            .path_model
            .clone()
            .or_else(|| json.as_ref()?["model"].as_str().map(str::to_owned)),
        stream: incoming.path_stream
            || json
                .as_ref()
                .is_some_and(|b| b["stream"] == Value::Bool(true)),
        scenario: None,
    };
    if let Err((status, message)) = V::check_credentials(&incoming.headers, query) {
        shared.script().record(record);
        return error::<V>(status, &message);
    }
    let Some(body) = json else {
        shared.script().record(record);
        return error::<V>(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        );
    };
    let parsed = match V::parse(&body, &incoming) {
        Ok(parsed) => parsed,
        Err(message) => {
            shared.script().record(record);
            return error::<V>(StatusCode::BAD_REQUEST, &message);
        }
    };
    let (scenario, id) = {
        let mut script = shared.script();
        let scenario = script.next(&parsed.model);
        record.scenario = Some(scenario.kind());
        script.record(record);
        (scenario, format!("{}{}", V::ID_PREFIX, script.next_id()))
    };
    play::<V>(&shared, scenario, parsed, id).await
}

async fn play<V: Vendor>(
    shared: &Shared,
    scenario: Scenario,
    parsed: Parsed,
    id: String,
) -> Response {
    match scenario {
        Scenario::Ok { reply, usage } => {
            let text = reply.unwrap_or_else(|| echo(&parsed));
            let usage = usage.unwrap_or_else(|| word_usage(&parsed.texts, &text));
            succeed::<V>(
                shared,
                &parsed,
                answer(&parsed, id, Content::Text(text), usage),
            )
        }
        Scenario::Keyed { replies, otherwise } => {
            let last = parsed.texts.last().map_or("", String::as_str);
            let text = replies.get(last).cloned().unwrap_or(otherwise);
            let usage = word_usage(&parsed.texts, &text);
            succeed::<V>(
                shared,
                &parsed,
                answer(&parsed, id, Content::Text(text), usage),
            )
        }
        Scenario::ToolCall { name, arguments } => {
            let usage = word_usage(&parsed.texts, &arguments.to_string());
            let content = Content::ToolCall { name, arguments };
            succeed::<V>(shared, &parsed, answer(&parsed, id, content, usage))
        }
        Scenario::Delay(delay) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shared.shutdown.cancelled() => return shutting_down::<V>(),
            }
            succeed::<V>(shared, &parsed, echo_answer(&parsed, id))
        }
        Scenario::Late { delay, then } => {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shared.shutdown.cancelled() => return shutting_down::<V>(),
            }
            Box::pin(play::<V>(shared, *then, parsed, id)).await
        }
        Scenario::Held { release, reply } => {
            tokio::select! {
                () = release.opened() => {}
                () = shared.shutdown.cancelled() => return shutting_down::<V>(),
            }
            let usage = word_usage(&parsed.texts, &reply);
            succeed::<V>(
                shared,
                &parsed,
                answer(&parsed, id, Content::Text(reply), usage),
            )
        }
        Scenario::Status {
            code,
            retry_after,
            body,
        } => status::<V>(code, retry_after, body),
        Scenario::Thinks {
            think,
            after_first_token,
            keepalive,
            then_drop,
        } => {
            let a = echo_answer(&parsed, id);
            if !parsed.stream {
                tokio::select! {
                    () = tokio::time::sleep(think) => {}
                    () = shared.shutdown.cancelled() => return shutting_down::<V>(),
                }
                return if then_drop {
                    sse::dropped_connection()
                } else {
                    succeed::<V>(shared, &parsed, a)
                };
            }
            let mut rest = V::stream(&a, &shared.fixtures);
            let at = (first_token_at::<V>(&rest) + usize::from(after_first_token)).min(rest.len());
            let preamble: Vec<SseEvent> = rest.drain(..at).collect();
            let (rest, tail) = if then_drop {
                (Vec::new(), Tail::Disconnect)
            } else {
                (rest, Tail::End)
            };
            let ping = match V::WIRE {
                Wire::Anthropic => {
                    SseEvent::typed_json(&serde_json::json!({"type": "ping"})).frame()
                }
                // A reasoning delta in a field the chat wire lacks, as OpenRouter and vLLM
                // stream a reasoning model's thinking.
                Wire::OpenAi => SseEvent::json(&serde_json::json!({
                    "id": a.id, "object": "chat.completion.chunk", "created": a.created,
                    "model": a.model, "choices": [{"index": 0,
                        "delta": {"reasoning": "thinking "}, "finish_reason": null}],
                }))
                .frame(),
                _ => Bytes::from_static(b": keep-alive\n\n"),
            };
            sse::thinking_response(preamble, ping, keepalive, think, rest, tail)
        }
        Scenario::StallAfterFirstChunk => {
            if parsed.stream {
                let events = first_event::<V>(shared, &parsed, id);
                sse::response(events, Tail::Stall(shared.shutdown.clone()))
            } else {
                shared.shutdown.cancelled().await;
                shutting_down::<V>()
            }
        }
        Scenario::MalformedChunk => {
            if parsed.stream {
                let all = V::stream(&echo_answer(&parsed, id), &shared.fixtures);
                let last = all.last().cloned();
                let mut events = through_first_token::<V>(all);
                events.push(V::malformed_event());
                events.extend(last);
                sse::response(events, Tail::End)
            } else {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"id\": \"truncated",
                )
                    .into_response()
            }
        }
        Scenario::Disconnect => {
            if parsed.stream {
                sse::response(first_event::<V>(shared, &parsed, id), Tail::Disconnect)
            } else {
                sse::dropped_connection()
            }
        }
        Scenario::Unauthorized => error::<V>(
            StatusCode::UNAUTHORIZED,
            "Invalid API key (scripted by testkit).",
        ),
        Scenario::Raw {
            code,
            headers,
            body,
        } => raw(code, &headers, body),
        Scenario::Huge { bytes } => {
            let usage = Usage {
                input_tokens: 1,
                output_tokens: u32::try_from(bytes / 4).unwrap_or(u32::MAX),
            };
            let a = answer(&parsed, id, Content::Text(HUGE_MARKER.to_owned()), usage);
            if parsed.stream {
                huge::stream(V::stream(&a, &shared.fixtures), bytes)
            } else {
                huge::body(&V::completion(&a).to_string(), bytes)
            }
        }
    }
}

/// Stands for the text of a [`Scenario::Huge`] answer in the rendered shapes; replaced by the
/// generated text while sending.
pub(crate) const HUGE_MARKER: &str = "TESTKIT_HUGE_TEXT";

fn raw(code: u16, headers: &[(String, String)], body: String) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Generated bodies of [`Scenario::Huge`].
mod huge {
    use std::io;

    use axum::body::{Body, Bytes};
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use futures::stream::{self, StreamExt};

    use super::HUGE_MARKER;
    use crate::sse::SseEvent;

    /// Size of one generated piece of text.
    const PIECE: usize = 16 * 1024;

    /// `bytes` of `x`, in pieces, generated lazily.
    fn pieces(bytes: usize) -> impl Iterator<Item = usize> {
        let n = bytes.div_ceil(PIECE);
        (0..n).map(move |i| PIECE.min(bytes - i * PIECE))
    }

    /// A JSON body `rendered` with the marker replaced by `bytes` of text.
    pub(super) fn body(rendered: &str, bytes: usize) -> Response {
        let (head, tail) = rendered.split_once(HUGE_MARKER).unwrap_or((rendered, ""));
        let head = Bytes::from(head.to_owned());
        let tail = Bytes::from(tail.to_owned());
        let middle = stream::iter(pieces(bytes)).map(|n| Bytes::from(vec![b'x'; n]));
        let all = stream::once(async move { head })
            .chain(middle)
            .chain(stream::once(async move { tail }))
            .map(Ok::<_, io::Error>);
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(all),
        )
            .into_response()
    }

    /// A stream whose content event (the one carrying the marker) is repeated with 16 KiB of
    /// text each time until `bytes` of text were sent.
    pub(super) fn stream(events: Vec<SseEvent>, bytes: usize) -> Response {
        let at = events.iter().position(|e| e.data.contains(HUGE_MARKER));
        let Some(at) = at else {
            return crate::sse::response(events, crate::sse::Tail::End);
        };
        let mut after = events;
        let before: Vec<SseEvent> = after.drain(..at).collect();
        let template = after.remove(0);
        let frames = |evs: Vec<SseEvent>| stream::iter(evs.into_iter().map(|e| e.frame()));
        let middle = stream::iter(pieces(bytes)).map(move |n| {
            SseEvent {
                event: template.event.clone(),
                data: template.data.replace(HUGE_MARKER, &"x".repeat(n)),
            }
            .frame()
        });
        let all = frames(before)
            .chain(middle)
            .chain(frames(after))
            .map(Ok::<_, io::Error>);
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(all),
        )
            .into_response()
    }
}

fn answer(parsed: &Parsed, id: String, mut content: Content, usage: Usage) -> Answer {
    let mut stop_sequence = None;
    if let Content::Text(text) = &mut content {
        let first = parsed
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()).map(|at| (at, s)))
            .min_by_key(|(at, _)| *at);
        if let Some((at, s)) = first {
            text.truncate(if parsed.keep_stop { at + s.len() } else { at });
            stop_sequence = Some(s.clone());
        }
    }
    Answer {
        id,
        model: parsed.model.clone(),
        created: CREATED_UNIX_S,
        content,
        usage,
        include_usage: parsed.include_usage,
        stop_sequence,
    }
}

fn succeed<V: Vendor>(shared: &Shared, parsed: &Parsed, answer: Answer) -> Response {
    if parsed.stream {
        sse::response(V::stream(&answer, &shared.fixtures), Tail::End)
    } else {
        (StatusCode::OK, axum::Json(V::completion(&answer))).into_response()
    }
}

/// The first event of the echo stream, for the scenarios that break after it.
/// The events of an echo answer up to and including its first token.
fn first_event<V: Vendor>(shared: &Shared, parsed: &Parsed, id: String) -> Vec<SseEvent> {
    through_first_token::<V>(V::stream(&echo_answer(parsed, id), &shared.fixtures))
}

/// The default answer: the echo of the model and the last prompt text, word-count usage.
fn echo_answer(parsed: &Parsed, id: String) -> Answer {
    let text = echo(parsed);
    let usage = word_usage(&parsed.texts, &text);
    answer(parsed, id, Content::Text(text), usage)
}

/// `events` up to and including the first that carries part of the answer.
fn through_first_token<V: Vendor>(mut events: Vec<SseEvent>) -> Vec<SseEvent> {
    let end = (first_token_at::<V>(&events) + 1).min(events.len());
    events.truncate(end);
    events
}

/// Where the first event carrying part of the answer is (the length when none does).
fn first_token_at<V: Vendor>(events: &[SseEvent]) -> usize {
    events
        .iter()
        .position(|e| serde_json::from_str::<Value>(&e.data).is_ok_and(|v| V::carries_token(&v)))
        .unwrap_or(events.len())
}

fn status<V: Vendor>(code: u16, retry_after: Option<Duration>, body: Option<String>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match body {
        Some(raw) => {
            let content_type = if serde_json::from_str::<Value>(&raw).is_ok() {
                "application/json"
            } else {
                "text/plain"
            };
            (status, [(header::CONTENT_TYPE, content_type)], raw).into_response()
        }
        None => error::<V>(status, default_message(status)),
    };
    if let Some(after) = retry_after {
        // Retry-After carries whole seconds; round up so the client never retries early.
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => "Rate limit reached (scripted by testkit).",
        // As the vendors word it: a scripted 404 is a model's (a wrong path gets the
        // server's own bare 404).
        404 => "The model does not exist or you do not have access to it (scripted by testkit).",
        529 => "Overloaded (scripted by testkit).",
        500..=599 => "The server had an error (scripted by testkit).",
        _ => "Request failed (scripted by testkit).",
    }
}

/// A response in the vendor's error shape.
pub(crate) fn error<V: Vendor>(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(V::error_body(status, message))).into_response()
}

fn shutting_down<V: Vendor>() -> Response {
    error::<V>(
        StatusCode::SERVICE_UNAVAILABLE,
        "The fake provider is shutting down.",
    )
}

/// The default reply: the model name and the start of the last prompt text.
fn echo(parsed: &Parsed) -> String {
    let last = parsed.texts.last().map_or("", String::as_str);
    let words: Vec<&str> = last.split_whitespace().take(ECHO_WORDS).collect();
    format!("{} echoes: {}", parsed.model, words.join(" "))
}

/// Usage from word counts: one token per whitespace-separated word, at least one each way.
fn word_usage(texts: &[String], reply: &str) -> Usage {
    let input: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let output = reply.split_whitespace().count();
    Usage {
        input_tokens: u32::try_from(input.max(1)).unwrap_or(u32::MAX),
        output_tokens: u32::try_from(output.max(1)).unwrap_or(u32::MAX),
    }
}

/// Collects `text` fields of a content value that is a string or an array of parts.
pub(crate) fn content_texts(content: &Value, out: &mut Vec<String>) {
    match content {
        Value::String(s) => out.push(s.clone()),
        Value::Array(parts) => out.extend(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str().map(str::to_owned)),
        ),
        _ => {}
    }
}
