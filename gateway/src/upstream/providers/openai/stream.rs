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
        Ok(chunk) => Ok(chunk),
        Err(e) => {
            // Some servers report failures mid-stream as `data: {"error": {...}}`.
            let value: Option<serde_json::Value> = serde_json::from_str(data).ok();
            if let Some(err) = value.as_ref().and_then(|v| v.get("error")) {
                let status = err
                    .get("code")
                    .and_then(|c| c.as_u64())
                    .and_then(|c| u16::try_from(c).ok())
                    .filter(|c| (400..600).contains(c))
                    .unwrap_or(500);
                return Err(UpstreamError::from_status(status, None, data));
            }
            Err(UpstreamError::decode(format!("stream chunk: {e}")))
        }
    }
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
}
