//! OpenAI streaming: `data: {chunk}` events ending with `data: [DONE]`.

use futures::stream::{self, StreamExt};

use crate::openai::wire::ChatCompletionChunk;
use crate::upstream::sse::{SseEvent, SseStream};
use crate::upstream::{ChunkStream, UpstreamError};

/// Maps the SSE body of a successful response to chunks. A body that ends before `[DONE]`
/// yields a `StreamTruncated` error so the client never sees a silent clean end.
pub(super) fn chunks(response: reqwest::Response) -> ChunkStream {
    events_to_chunks(SseStream::from_response(response))
}

pub(super) fn events_to_chunks(
    events: impl futures::Stream<Item = Result<SseEvent, UpstreamError>> + Send + Unpin + 'static,
) -> ChunkStream {
    stream::unfold(Some(events), |state| async move {
        let mut events = state?;
        let data = match events.next().await {
            None => {
                let cut = UpstreamError::stream_truncated("stream ended before [DONE]");
                return Some((Err(cut), None));
            }
            Some(Err(e)) => return Some((Err(e), None)),
            Some(Ok(ev)) => ev.data,
        };
        let data = data.trim();
        if data == "[DONE]" {
            return None;
        }
        // A sign of life (see `SseStream`): a keep-alive for the relay's idle timeout.
        if data.is_empty() {
            return Some((Ok(ChatCompletionChunk::keepalive()), Some(events)));
        }
        // A chunk that does not parse ends the stream, as in every adapter.
        match parse_chunk(data) {
            Ok(chunk) => Some((Ok(chunk), Some(events))),
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

fn parse_chunk(data: &str) -> Result<ChatCompletionChunk, UpstreamError> {
    match serde_json::from_str::<ChatCompletionChunk>(data) {
        Ok(chunk) => {
            // OpenRouter reports a provider failing after the 200 as a chunk that looks like
            // any other (an id, `choices` with `finish_reason: "error"`) plus an `error`
            // object. Relayed as a chunk it would read as a normal finish: no failover, the
            // message lost, the answer cut short and logged as a success.
            let failed = chunk.choices.iter().any(|c| {
                c.finish_reason
                    .as_ref()
                    .is_some_and(|f| f.as_str() == "error")
            });
            if failed || data.contains("\"error\"") {
                if let Some(err) = stream_error(data) {
                    return Err(err);
                }
            }
            if failed {
                return Err(UpstreamError::from_status(
                    500,
                    None,
                    "the upstream ended the stream with finish_reason \"error\"",
                ));
            }
            Ok(chunk)
        }
        Err(e) => match stream_error(data) {
            // Some servers report failures mid-stream as `data: {"error": {...}}` only.
            Some(err) => Err(err),
            None => Err(UpstreamError::decode(format!("stream chunk: {e}"))),
        },
    }
}

/// The failure a chunk reports in an `error` field, if it has one: its numeric `code` as the
/// status where that is an HTTP error status, else a server error.
fn stream_error(data: &str) -> Option<UpstreamError> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let err = value.get("error").filter(|e| !e.is_null())?;
    let status = err
        .get("code")
        .and_then(serde_json::Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    Some(UpstreamError::from_status(status, None, data))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::upstream::UpstreamErrorKind;

    fn ev(data: &str) -> Result<SseEvent, UpstreamError> {
        Ok(SseEvent {
            event: None,
            data: data.to_owned(),
        })
    }

    const CHUNK: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;

    #[tokio::test]
    async fn done_ends_cleanly() {
        let s = events_to_chunks(stream::iter(vec![ev(CHUNK), ev("[DONE]")]));
        let items: Vec<_> = s.collect().await;
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].as_ref().unwrap().choices[0]
                .delta
                .content
                .as_deref(),
            Some("hi")
        );
    }

    #[tokio::test]
    async fn missing_done_is_an_error() {
        let s = events_to_chunks(stream::iter(vec![ev(CHUNK)]));
        let items: Vec<_> = s.collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1].as_ref().unwrap_err().kind,
            UpstreamErrorKind::StreamTruncated
        );
    }

    #[tokio::test]
    async fn malformed_and_error_chunks() {
        let s = events_to_chunks(stream::iter(vec![ev("{not json")]));
        let items: Vec<_> = s.collect().await;
        assert_eq!(
            items[0].as_ref().unwrap_err().kind,
            UpstreamErrorKind::Decode
        );
        let s = events_to_chunks(stream::iter(vec![ev(
            r#"{"error":{"message":"overloaded","code":503}}"#,
        )]));
        let items: Vec<_> = s.collect().await;
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.kind, UpstreamErrorKind::ServerError);
        assert_eq!(err.message, "overloaded");
    }

    /// OpenRouter's mid-stream failure: a chunk with an id, `choices` and an `error` object.
    #[tokio::test]
    async fn an_error_beside_choices_is_an_upstream_error() {
        let failed = r#"{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#;
        let s = events_to_chunks(stream::iter(vec![ev(CHUNK), ev(failed), ev("[DONE]")]));
        let items: Vec<_> = s.collect().await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items[0].is_ok());
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(err.kind, UpstreamErrorKind::ServerError);
        assert!(err.retryable);
        assert_eq!(err.message, "Provider disconnected unexpectedly");

        // With a numeric code, that status; without choices, the same.
        let limited = r#"{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","error":{"code":429,"message":"slow down"},"choices":[]}"#;
        let items: Vec<_> = events_to_chunks(stream::iter(vec![ev(limited)]))
            .collect()
            .await;
        assert_eq!(
            items[0].as_ref().unwrap_err().kind,
            UpstreamErrorKind::RateLimited
        );

        // `finish_reason: "error"` alone is a failure too.
        let bare = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"error"}]}"#;
        let items: Vec<_> = events_to_chunks(stream::iter(vec![ev(bare), ev("[DONE]")]))
            .collect()
            .await;
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].as_ref().unwrap_err().kind,
            UpstreamErrorKind::ServerError
        );

        // `"error": null`, or the word in the text, is no failure.
        let fine = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","error":null,"choices":[{"index":0,"delta":{"content":"\"error\" is a word"},"finish_reason":"stop"}]}"#;
        let items: Vec<_> = events_to_chunks(stream::iter(vec![ev(fine), ev("[DONE]")]))
            .collect()
            .await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok(), "{items:?}");
    }
}
