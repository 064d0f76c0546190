//! Server-sent-event framing and the streamed response bodies of every scenario.

use std::io;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// One SSE event: an optional `event:` name and its `data:` payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SseEvent {
    /// The `event:` line (Anthropic names every event; OpenAI and Gemini name none).
    pub(crate) event: Option<String>,
    /// The `data:` payload, normally one JSON document on one line.
    pub(crate) data: String,
}

impl SseEvent {
    /// An unnamed event carrying a JSON chunk.
    pub(crate) fn json(chunk: &Value) -> Self {
        SseEvent {
            event: None,
            data: chunk.to_string(),
        }
    }

    /// An event named by the chunk's `type` field, as Anthropic sends them.
    pub(crate) fn typed_json(chunk: &Value) -> Self {
        SseEvent {
            event: chunk["type"].as_str().map(str::to_owned),
            data: chunk.to_string(),
        }
    }

    /// The bytes on the wire.
    pub(crate) fn frame(&self) -> Bytes {
        let mut out = String::new();
        if let Some(event) = &self.event {
            out.push_str("event: ");
            out.push_str(event);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&self.data);
        out.push_str("\n\n");
        Bytes::from(out)
    }
}

/// What follows the events of a streamed response.
pub(crate) enum Tail {
    /// The stream ends normally.
    End,
    /// The stream hangs until the token fires (fake shutdown) or the client goes away.
    Stall(CancellationToken),
    /// The connection is dropped.
    Disconnect,
}

/// A `200 text/event-stream` response sending `events` and then `tail`.
pub(crate) fn response(events: Vec<SseEvent>, tail: Tail) -> Response {
    let frames = stream::iter(
        events
            .into_iter()
            .map(|e| Ok::<Bytes, io::Error>(e.frame())),
    );
    let body = Body::from_stream(frames.chain(tail_stream(tail)));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A `200 text/event-stream` response that sends `preamble`, then `keepalive` every `every`
/// (or nothing) for `think`, then `rest` followed by `tail`: a model thinking before its
/// answer.
pub(crate) fn thinking_response(
    preamble: Vec<SseEvent>,
    keepalive: Bytes,
    every: Option<std::time::Duration>,
    think: std::time::Duration,
    rest: Vec<SseEvent>,
    tail: Tail,
) -> Response {
    let frames = |events: Vec<SseEvent>| {
        stream::iter(
            events
                .into_iter()
                .map(|e| Ok::<Bytes, io::Error>(e.frame())),
        )
    };
    let end = tokio::time::Instant::now() + think;
    let thinking = stream::unfold((), move |()| {
        let keepalive = keepalive.clone();
        async move {
            let wake = every.map_or(end, |gap| end.min(tokio::time::Instant::now() + gap));
            tokio::time::sleep_until(wake).await;
            (wake < end).then_some((Ok::<Bytes, io::Error>(keepalive), ()))
        }
    });
    let body = frames(preamble)
        .chain(thinking)
        .chain(frames(rest))
        .chain(tail_stream(tail));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// A response whose body fails at once, so the server drops the connection.
pub(crate) fn dropped_connection() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(tail_stream(Tail::Disconnect)),
    )
        .into_response()
}

fn tail_stream(tail: Tail) -> BoxStream<'static, Result<Bytes, io::Error>> {
    match tail {
        Tail::End => stream::empty().boxed(),
        Tail::Stall(token) => stream::once(async move {
            token.cancelled_owned().await;
            Err(io::Error::other("testkit: stalled stream cut at shutdown"))
        })
        .boxed(),
        Tail::Disconnect => stream::once(async {
            // Yield once so the server flushes the frames already sent before the body
            // fails; otherwise the first chunk could be lost with the connection.
            tokio::task::yield_now().await;
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "testkit: scripted disconnect",
            ))
        })
        .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_sse_grammar() {
        let named = SseEvent::typed_json(&serde_json::json!({"type": "ping"}));
        assert_eq!(
            &named.frame()[..],
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
        let done = SseEvent {
            event: None,
            data: "[DONE]".into(),
        };
        assert_eq!(&done.frame()[..], b"data: [DONE]\n\n");
    }
}
