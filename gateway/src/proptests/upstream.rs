//! Upstream input: SSE bodies split anywhere, the three dialects' streams and non-streamed
//! answers, error bodies and `Retry-After`. Garbage must become an error that ends the
//! stream (never a panic, never a silent clean end), and what is relayed must be JSON.

use bytes::Bytes;
use futures::StreamExt;
use proptest::prelude::*;
use router_core::ProviderId;
use serde_json::Value;

use super::{cases, json_text, mutated};
use crate::http::error::ApiError;
use crate::openai::wire::{ChatCompletionChunk, ChatCompletionResponse};
use crate::upstream::error::{parse_retry_after, MAX_RETRY_AFTER};
use crate::upstream::failover::WalkError;
use crate::upstream::providers::{anthropic, gemini, openai};
use crate::upstream::sse::{SseEvent, SseParser, SseStream};
use crate::upstream::{ChunkStream, UpstreamError};

const OPENAI_KEYS: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "choices",
    "index",
    "delta",
    "message",
    "role",
    "content",
    "tool_calls",
    "type",
    "function",
    "name",
    "arguments",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error",
    "code",
    "refusal",
    "logprobs",
];

const OPENAI_CHUNKS: &[&str] = &[
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"w","arguments":"{\"a\":"}}]},"finish_reason":null}]}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
    r#"{"error":{"message":"overloaded","code":503}}"#,
    r#""[DONE]""#,
];

const OPENAI_RESPONSES: &[&str] = &[
    r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
    r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"w","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
];

const ANTHROPIC_KEYS: &[&str] = &[
    "type",
    "message",
    "id",
    "role",
    "content",
    "model",
    "usage",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "index",
    "content_block",
    "text",
    "name",
    "input",
    "delta",
    "partial_json",
    "stop_reason",
    "stop_sequence",
    "error",
];

const ANTHROPIC_EVENTS: &[&str] = &[
    r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","usage":{"input_tokens":12,"output_tokens":1}}}"#,
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
    r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"weather","input":{}}}"#,
    r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#,
    r#"{"type":"content_block_stop","index":1}"#,
    r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"#,
    r#"{"type":"message_stop"}"#,
    r#"{"type":"ping"}"#,
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
];

const ANTHROPIC_RESPONSES: &[&str] = &[
    r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"toolu_1","name":"w","input":{"a":1}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":2,"cache_read_input_tokens":1}}"#,
];

const GEMINI_KEYS: &[&str] = &[
    "candidates",
    "content",
    "parts",
    "text",
    "thought",
    "functionCall",
    "name",
    "args",
    "role",
    "finishReason",
    "index",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "totalTokenCount",
    "modelVersion",
    "responseId",
    "promptFeedback",
    "blockReason",
    "error",
    "code",
    "message",
    "status",
];

const GEMINI_EVENTS: &[&str] = &[
    r#"{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"index":0}],"modelVersion":"gemini-x","responseId":"r1"}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"functionCall":{"name":"w","args":{"a":1}}}],"role":"model"}}]}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":1,"totalTokenCount":6}}"#,
    r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#,
    r#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#,
];

/// An SSE body of events whose data comes from `data` (plus a few raw oddities), written
/// with either line ending, comments, `event:` names and a cut or garbage tail now and then;
/// and where to split it into network chunks.
fn sse_body(data: impl Strategy<Value = String>) -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    let item = (
        prop_oneof![
            8 => data,
            1 => prop::sample::select(&["[DONE]", "", " ", "{", "data: x"][..]).prop_map(str::to_owned),
            1 => any::<String>(),
        ],
        prop::option::of(prop::sample::select(
            &["message_start", "message_stop", "error", "ping", ""][..],
        )),
        prop::bool::ANY,
        prop::bool::weighted(0.1),
    );
    (
        prop::collection::vec(item, 0..10),
        prop::collection::vec(any::<u8>(), 0..3),
        any::<u8>(),
        prop::collection::vec(any::<usize>(), 0..8),
    )
        .prop_map(|(events, tail, cut, splits)| {
            let mut body = Vec::new();
            for (data, event, crlf, comment) in events {
                let nl = if crlf { "\r\n" } else { "\n" };
                if comment {
                    body.extend_from_slice(format!(": keep-alive{nl}").as_bytes());
                }
                if let Some(e) = event {
                    body.extend_from_slice(format!("event: {e}{nl}").as_bytes());
                }
                for line in data.split('\n') {
                    body.extend_from_slice(format!("data: {line}{nl}").as_bytes());
                }
                body.extend_from_slice(nl.as_bytes());
            }
            match cut % 8 {
                0 => body.truncate(body.len().saturating_sub(usize::from(cut % 5))),
                1 => body.extend_from_slice(&tail),
                _ => {}
            }
            let mut points: Vec<usize> = splits.iter().map(|s| s % (body.len() + 1)).collect();
            points.sort_unstable();
            (body, points)
        })
}

/// Events of `templates`, mutated, as data lines.
fn event_data(
    templates: &'static [&'static str],
    keys: &'static [&'static str],
) -> impl Strategy<Value = String> {
    mutated(templates, keys).prop_map(|v| match v {
        // `"[DONE]"` in the templates stands for the bare terminator.
        Value::String(s) => s,
        other => other.to_string(),
    })
}

fn chunks_of(body: &[u8], points: &[usize]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    for &p in points.iter().chain(std::iter::once(&body.len())) {
        if p >= start {
            out.push(Bytes::copy_from_slice(&body[start..p]));
            start = p;
        }
    }
    out
}

fn sse_stream(body: &[u8], points: &[usize]) -> SseStream {
    let chunks: Vec<Result<Bytes, reqwest::Error>> =
        chunks_of(body, points).into_iter().map(Ok).collect();
    SseStream::new(futures::stream::iter(chunks))
}

/// The events of a whole body, parsed in one piece.
fn whole_events(body: &[u8]) -> Vec<SseEvent> {
    SseParser::new().push(body).unwrap_or_default()
}

/// Drains a translated stream and checks it: at most one error, and only as the last item;
/// every chunk serializes (the relay re-encodes each one); the item count is bounded by the
/// events. Returns whether it ended cleanly.
fn drain(stream: ChunkStream, events: usize) -> Result<bool, TestCaseError> {
    let items: Vec<Result<ChatCompletionChunk, UpstreamError>> =
        futures::executor::block_on(stream.collect());
    // Keep-alives (one per read or event that adds nothing) are bounded by the reads.
    let items: Vec<_> = items
        .into_iter()
        .filter(|i| !i.as_ref().is_ok_and(ChatCompletionChunk::is_keepalive))
        .collect();
    prop_assert!(items.len() <= 4 * events + 2, "{} items", items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Ok(chunk) => prop_assert!(serde_json::to_vec(chunk).is_ok()),
            Err(e) => {
                prop_assert_eq!(i + 1, items.len(), "an item after the error {}", e);
                prop_assert!(e.message.chars().count() <= 300, "{}", e.message);
            }
        }
    }
    Ok(items.last().is_none_or(|i| i.is_ok()) && !items.is_empty())
}

fn has_event(events: &[SseEvent], test: impl Fn(&Value) -> bool) -> bool {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .any(|v| test(&v))
}

/// A non-streamed answer as relayed: valid JSON for the client.
fn relayable(resp: &ChatCompletionResponse) -> Result<(), TestCaseError> {
    prop_assert!(serde_json::to_vec(resp).is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn fuzz_sse_events_do_not_depend_on_where_the_body_is_split(
        (body, points) in sse_body(any::<String>()),
    ) {
        let whole = SseParser::new().push(&body);
        let mut parser = SseParser::new();
        let mut split = Vec::new();
        for chunk in chunks_of(&body, &points) {
            split.extend(parser.push(&chunk).unwrap());
        }
        prop_assert_eq!(whole.unwrap(), split);
    }

    #[test]
    fn fuzz_openai_streams_end_with_done_or_an_error(
        (body, points) in sse_body(event_data(OPENAI_CHUNKS, OPENAI_KEYS)),
    ) {
        let events = whole_events(&body);
        let clean = drain(openai::translate_sse(sse_stream(&body, &points)), events.len())?;
        if clean {
            prop_assert!(events.iter().any(|e| e.data.trim() == "[DONE]"));
        }
    }

    #[test]
    fn fuzz_anthropic_streams_end_with_message_stop_or_an_error(
        (body, points) in sse_body(event_data(ANTHROPIC_EVENTS, ANTHROPIC_KEYS)),
    ) {
        let events = whole_events(&body);
        let clean = drain(anthropic::translate_sse(sse_stream(&body, &points)), events.len())?;
        if clean {
            prop_assert!(has_event(&events, |v| v["type"] == "message_stop"));
        }
    }

    #[test]
    fn fuzz_gemini_streams_end_with_a_finish_reason_or_an_error(
        (body, points) in sse_body(event_data(GEMINI_EVENTS, GEMINI_KEYS)),
    ) {
        let events = whole_events(&body);
        let stream = gemini::translate_sse(sse_stream(&body, &points), "gemini-x".to_owned());
        let clean = drain(stream, events.len())?;
        if clean {
            // A finish reason, or a blocked prompt (which finishes as content_filter), as
            // the adapter's own types read them (serde also reads a struct from an array).
            let finished = events.iter().any(|e| {
                serde_json::from_str::<gemini::wire::GenerateContentResponse>(&e.data)
                    .is_ok_and(|r| {
                        r.prompt_feedback.is_some_and(|f| f.block_reason.is_some())
                            || r.candidates.first().is_some_and(|c| c.finish_reason.is_some())
                    })
            });
            prop_assert!(finished);
        }
    }

    #[test]
    fn fuzz_non_streamed_answers_of_the_three_dialects(
        openai_body in json_text(mutated(OPENAI_RESPONSES, OPENAI_KEYS)),
        anthropic_body in json_text(mutated(ANTHROPIC_RESPONSES, ANTHROPIC_KEYS)),
        gemini_body in json_text(mutated(GEMINI_EVENTS, GEMINI_KEYS)),
    ) {
        if let Ok(resp) = serde_json::from_slice::<ChatCompletionResponse>(&openai_body) {
            relayable(&resp)?;
        }
        if let Ok(resp) = serde_json::from_slice::<anthropic::wire::MessagesResponse>(&anthropic_body) {
            relayable(&anthropic::chat_response(resp, "claude-x", &Default::default()))?;
        }
        if let Ok(resp) = serde_json::from_slice::<gemini::wire::GenerateContentResponse>(&gemini_body) {
            relayable(&gemini::chat_response(resp, "gemini-x", &gemini::Signatures::default()))?;
        }
    }

    #[test]
    fn fuzz_upstream_errors_are_short_and_map_to_an_openai_error(
        status in prop_oneof![0u16..1000, 400u16..600],
        retry_after in any::<String>(),
        body in prop_oneof![
            json_text(mutated(
                &[r#"{"error":{"message":"bad","type":"invalid_request_error","code":400}}"#,
                  r#"{"message":"bad"}"#],
                &["error", "message", "type", "code", "status"],
            )),
            prop::collection::vec(any::<u8>(), 0..2048),
        ],
    ) {
        let wait = parse_retry_after(&retry_after);
        prop_assert!(wait.is_none_or(|w| w <= MAX_RETRY_AFTER));
        let err = UpstreamError::from_status(status, wait, &String::from_utf8_lossy(&body));
        prop_assert!(err.message.chars().count() <= 300);
        let api = ApiError::from(WalkError::Failed {
            error: err,
            provider: ProviderId::new("p"),
        });
        let code = api.status().as_u16();
        prop_assert!((400..600).contains(&code), "{}", code);
        let answer = api.body();
        for field in ["message", "type", "code"] {
            prop_assert!(answer["error"][field].is_string(), "{}", answer);
        }
    }
}
