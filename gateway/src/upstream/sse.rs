//! Server-sent events: an incremental parser ([`SseParser`]) and a stream adapter over a
//! response body ([`SseStream`]), shared by every provider adapter.
//!
//! Lines end with `\n` or `\r\n` (a lone `\r` is not treated as a line end: no provider sends
//! it). Comment lines (`:`) and `id`/`retry` fields are ignored; an event is dispatched at a
//! blank line when it has data. An incomplete event at end of input is discarded, as the SSE
//! specification says; the adapter decides whether that is an error.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};

use crate::upstream::error::{UpstreamError, UpstreamErrorKind};

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when present.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Incremental SSE parser: feed bytes, take complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    /// Bytes of `data` so far, against [`MAX_EVENT_BYTES`].
    data_bytes: usize,
}

/// Longest line buffered before the stream is declared malformed (a runaway upstream must not
/// grow memory without bound).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Most `data:` bytes buffered for one event. [`MAX_LINE_BYTES`] bounds only the unfinished
/// line: an upstream sending short `data:` lines without the blank line that ends an event
/// would otherwise grow the event until the stream's total timeout. No vendor's event comes
/// near this (OpenAI's largest are a whole tool call's arguments in one chunk, Gemini's an
/// inline image of a few MiB), so reaching it means a broken or hostile upstream.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

impl SseParser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete. Errors when a line exceeds
    /// [`MAX_LINE_BYTES`].
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, UpstreamError> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            if let Some(ev) = self.line(&line) {
                events.push(ev);
            }
            start = end + 1;
            if self.data_bytes > MAX_EVENT_BYTES {
                return Err(UpstreamError::decode(format!(
                    "server-sent event larger than {MAX_EVENT_BYTES} bytes without its end"
                )));
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(UpstreamError::decode("server-sent event line too long"));
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = self.event.take();
            if self.data.is_empty() {
                return None;
            }
            let data = std::mem::take(&mut self.data).join("\n");
            self.data_bytes = 0;
            return Some(SseEvent { event, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                // Each line also costs its `\n` once joined.
                self.data_bytes += value.len() + 1;
                self.data.push(value.to_owned());
            }
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

/// A stream of [`SseEvent`]s over a byte stream (a `reqwest::Response::bytes_stream()`).
/// A read that completes no event yields an empty one (no `event`, empty `data`): a sign of
/// life, not an event.
pub struct SseStream {
    inner: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    done: bool,
}

impl SseStream {
    /// Wraps a response body.
    pub fn new(body: impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static) -> Self {
        SseStream {
            inner: body.boxed(),
            parser: SseParser::new(),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Reads the body of `response`.
    pub fn from_response(response: reqwest::Response) -> Self {
        Self::new(response.bytes_stream())
    }
}

impl Stream for SseStream {
    type Item = Result<SseEvent, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(ev)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match self.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    let mut err = UpstreamError::from_reqwest(&e);
                    err.kind = UpstreamErrorKind::StreamTruncated;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(Some(Ok(bytes))) => match self.parser.push(&bytes) {
                    // Bytes that complete no event (a comment such as OpenRouter's
                    // `: OPENROUTER PROCESSING`, part of a long line) still show the upstream
                    // is alive: they come out as an empty event, which every adapter reads as
                    // a keep-alive, so the relay's idle timeout counts silence, not events.
                    Ok(events) if events.is_empty() => {
                        return Poll::Ready(Some(Ok(SseEvent::default())))
                    }
                    Ok(events) => self.pending.extend(events),
                    Err(e) => {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        chunks.iter().flat_map(|c| p.push(c).unwrap()).collect()
    }

    #[test]
    fn events_split_anywhere() {
        let text = b"event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\ndata: x\ndata:y\n\ndata: [DONE]\n\n";
        let whole = parse_all(&[text]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].event.as_deref(), Some("message_start"));
        assert_eq!(whole[0].data, "{\"a\":1}");
        assert_eq!(whole[1].data, "x\ny");
        assert_eq!(whole[2].data, "[DONE]");
        // Every split point gives the same events.
        for cut in 0..text.len() {
            assert_eq!(
                parse_all(&[&text[..cut], &text[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn incomplete_event_is_not_dispatched() {
        assert!(parse_all(&[b"data: partial\n"]).is_empty());
    }

    #[test]
    fn runaway_line_is_an_error() {
        let mut p = SseParser::new();
        let big = vec![b'a'; MAX_LINE_BYTES + 1];
        assert!(p.push(&big).is_err());
    }

    #[test]
    fn an_event_that_never_ends_is_an_error() {
        let mut p = SseParser::new();
        let line = b"data: 12345678\n";
        // Every line is short, so only the bound on the event's data stops it.
        let lines = MAX_EVENT_BYTES / (line.len() - "data: ".len()) + 1;
        let mut failed = None;
        for _ in 0..lines / 1024 + 1 {
            if let Err(e) = p.push(&line.repeat(1024)) {
                failed = Some(e);
                break;
            }
        }
        let err = failed.expect("an endless event fails the stream");
        assert_eq!(err.kind, UpstreamErrorKind::Decode);
        assert!(
            err.message.contains("server-sent event larger than"),
            "{err}"
        );
    }

    #[test]
    fn events_under_the_bound_reset_it() {
        let mut p = SseParser::new();
        let half = format!("data: {}\n\n", "x".repeat(MAX_EVENT_BYTES / 2));
        for _ in 0..4 {
            assert_eq!(p.push(half.as_bytes()).unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn stream_adapter_yields_events() {
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"data: 1\n\nda")),
            Ok(Bytes::from_static(b"ta: 2\n\n")),
        ]);
        let events: Vec<_> = SseStream::new(body).collect().await;
        let data: Vec<_> = events.into_iter().map(|e| e.unwrap().data).collect();
        assert_eq!(data, vec!["1", "2"]);
    }

    #[tokio::test]
    async fn reads_that_complete_no_event_are_signs_of_life() {
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b": OPENROUTER PROCESSING\n\n")),
            Ok(Bytes::from_static(b"data: {\"a\":")),
            Ok(Bytes::from_static(b"1}\n\n")),
        ]);
        let events: Vec<_> = SseStream::new(body).collect().await;
        let data: Vec<_> = events.into_iter().map(|e| e.unwrap().data).collect();
        assert_eq!(data, vec!["", "", "{\"a\":1}"]);
    }
}
