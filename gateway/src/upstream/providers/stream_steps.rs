//! What the streaming adapters share: the chunk every translated event becomes, and the loop
//! that runs a vendor's SSE events through a translator that knows its terminal event.

use futures::stream::{self, StreamExt};

use super::{ChunkStream, UpstreamError};
use crate::openai::wire::{ChatCompletionChunk, ChunkChoice, Delta, FinishReason, ToolCallDelta};
use crate::upstream::sse::SseEvent;

/// A chat chunk of the answer `id` by `model`, created at `created`, carrying `delta`.
pub(crate) fn chunk(
    id: &str,
    model: &str,
    created: u64,
    delta: Delta,
    finish_reason: Option<FinishReason>,
) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: id.to_owned(),
        object: "chat.completion.chunk".to_owned(),
        created,
        model: model.to_owned(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason,
            logprobs: None,
            stop_sequence: None,
        }],
        usage: None,
        system_fingerprint: None,
    }
}

/// A delta carrying one tool-call fragment.
pub(crate) fn tool_delta(call: ToolCallDelta) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Delta::default()
    }
}

/// What one event produced.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Chunks to forward (possibly none); the stream goes on.
    Emit(Vec<ChatCompletionChunk>),
    /// The terminal event arrived: forward these chunks and end.
    Done(Vec<ChatCompletionChunk>),
}

/// A vendor's events to chat chunks, one event's `data` at a time.
pub(crate) trait Translate: Send + 'static {
    /// Translates one event's `data`.
    fn on_event(&mut self, data: &str) -> Result<Step, UpstreamError>;
}

/// Runs SSE events through `translator`; a body that ends before the terminal event yields
/// `StreamTruncated` with `unfinished` as its message, never a silent clean end. An event that
/// adds nothing to the answer (a ping, a thinking delta, a sign of life from
/// [`SseStream`](crate::upstream::sse::SseStream)) yields a keep-alive chunk
/// ([`ChatCompletionChunk::keepalive`]): a model thinking for minutes is still talking.
pub(crate) fn translate(
    events: impl futures::Stream<Item = Result<SseEvent, UpstreamError>> + Send + Unpin + 'static,
    translator: impl Translate,
    unfinished: &'static str,
) -> ChunkStream {
    stream::unfold(Some((events, translator)), move |state| async move {
        let (mut events, mut translator) = state?;
        let chunks = match events.next().await {
            None => return Some((vec![Err(UpstreamError::stream_truncated(unfinished))], None)),
            Some(Err(e)) => return Some((vec![Err(e)], None)),
            Some(Ok(ev)) if ev.data.trim().is_empty() => Vec::new(),
            Some(Ok(ev)) => match translator.on_event(&ev.data) {
                Err(e) => return Some((vec![Err(e)], None)),
                Ok(Step::Done(chunks)) => {
                    return Some((chunks.into_iter().map(Ok).collect(), None))
                }
                Ok(Step::Emit(chunks)) => chunks,
            },
        };
        Some((alive(chunks), Some((events, translator))))
    })
    .flat_map(stream::iter)
    .boxed()
}

/// `chunks` as stream items, or one keep-alive chunk when the event produced none.
pub(crate) fn alive(
    chunks: Vec<ChatCompletionChunk>,
) -> Vec<Result<ChatCompletionChunk, UpstreamError>> {
    if chunks.is_empty() {
        return vec![Ok(ChatCompletionChunk::keepalive())];
    }
    chunks.into_iter().map(Ok).collect()
}
