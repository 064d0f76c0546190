//! Gemini streaming (`alt=sse`): every event's data is a whole `GenerateContentResponse`
//! holding the next piece of the answer; there is no terminal event, the body just ends.
//!
//! [`Translator`] emits a role chunk first, a content chunk per text part, a complete
//! tool-call chunk per `functionCall` part, and a finish chunk at `finishReason`. When the
//! body ends it emits a usage chunk (empty `choices`) from the last `usageMetadata`; a body
//! that ends before any `finishReason` yields a `StreamTruncated` error.

use futures::stream::{self, StreamExt};

use super::wire::{GenerateContentResponse, UsageMetadata};
use super::{fallback_id, finish_reason, tool_call, unix_now, unusable_finish, Signatures};
use crate::openai::wire::{
    ChatCompletionChunk, Delta, FinishReason, FunctionCallDelta, Role, ToolCallDelta,
};
use crate::upstream::providers::stream_steps::alive;
use crate::upstream::sse::{SseEvent, SseStream};
use crate::upstream::{ChunkStream, UpstreamError};

/// Maps the SSE body of a successful response to chunks.
pub(super) fn chunks(
    response: reqwest::Response,
    upstream_model: String,
    signatures: Signatures,
) -> ChunkStream {
    translate(
        SseStream::from_response(response),
        upstream_model,
        signatures,
    )
}

/// Streaming state.
#[derive(Debug)]
pub(super) struct Translator {
    id: String,
    model: String,
    /// The model asked for (`model` becomes the version the upstream reports): signatures
    /// are kept under it, as the next request names it.
    upstream_model: String,
    signatures: Signatures,
    created: u64,
    started: bool,
    tool_calls: usize,
    finished: bool,
    usage: Option<UsageMetadata>,
}

impl Translator {
    /// A fresh translator; `upstream_model` names the model until the upstream reports one.
    /// The thought signatures of the answer's function calls go to `signatures`.
    pub(super) fn new(upstream_model: String, signatures: Signatures) -> Self {
        Translator {
            id: fallback_id(),
            model: upstream_model.clone(),
            upstream_model,
            signatures,
            created: unix_now(),
            started: false,
            tool_calls: 0,
            finished: false,
            usage: None,
        }
    }

    /// Translates one event's `data`.
    pub(super) fn on_event(
        &mut self,
        data: &str,
    ) -> Result<Vec<ChatCompletionChunk>, UpstreamError> {
        let value: serde_json::Value = serde_json::from_str(data)
            .map_err(|e| UpstreamError::decode(format!("gemini stream chunk: {e}")))?;
        if let Some(error) = value.get("error") {
            // A failure reported inside the stream: `{"error": {"code", "message", "status"}}`.
            let status = error["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..600).contains(c))
                .unwrap_or(500);
            return Err(UpstreamError::from_status(status, None, data));
        }
        let resp: GenerateContentResponse = serde_json::from_value(value)
            .map_err(|e| UpstreamError::decode(format!("gemini stream chunk: {e}")))?;
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            if let Some(id) = resp.response_id.clone() {
                self.id = id;
            }
            if let Some(model) = resp.model_version.clone() {
                self.model = model;
            }
            out.push(self.chunk(
                Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            ));
        }
        if resp.usage_metadata.is_some() {
            self.usage = resp.usage_metadata;
        }
        let candidate = resp.candidates.into_iter().next();
        let parts = candidate
            .as_ref()
            .and_then(|c| c.content.as_ref())
            .map(|c| c.parts.clone())
            .unwrap_or_default();
        for part in parts {
            // A thought's summary (with `includeThoughts`): reasoning, not answer.
            if part.thought == Some(true) {
                if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    out.push(self.chunk(
                        Delta {
                            reasoning_content: Some(text),
                            ..Delta::default()
                        },
                        None,
                    ));
                }
                continue;
            }
            if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                out.push(self.chunk(
                    Delta {
                        content: Some(text),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            if let Some(call) = part.function_call {
                let n = self.tool_calls;
                self.tool_calls += 1;
                let full = tool_call(&call);
                if let Some(signature) = &part.thought_signature {
                    self.signatures
                        .remember(&full.id, &self.upstream_model, signature);
                }
                out.push(self.chunk(
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index: u32::try_from(n).unwrap_or(u32::MAX),
                            id: Some(full.id),
                            kind: Some(full.kind),
                            function: Some(FunctionCallDelta {
                                name: Some(full.function.name),
                                arguments: Some(full.function.arguments),
                            }),
                        }]),
                        ..Delta::default()
                    },
                    None,
                ));
            }
        }
        let blocked = resp.prompt_feedback.and_then(|f| f.block_reason).is_some();
        let finish = match candidate.and_then(|c| c.finish_reason) {
            Some(reason) => match unusable_finish(&reason) {
                Some(err) => return Err(err),
                None => Some(finish_reason(&reason, self.tool_calls > 0)),
            },
            None if blocked => Some(FinishReason::ContentFilter),
            None => None,
        };
        if let Some(finish) = finish {
            self.finished = true;
            out.push(self.chunk(Delta::default(), Some(finish)));
        }
        Ok(out)
    }

    /// Called when the body ends: the usage chunk, or an error if the answer never finished.
    pub(super) fn on_end(&self) -> Result<Option<ChatCompletionChunk>, UpstreamError> {
        if !self.finished {
            return Err(UpstreamError::stream_truncated(
                "gemini stream ended before a finishReason",
            ));
        }
        Ok(self.usage.map(|u| ChatCompletionChunk {
            choices: Vec::new(),
            usage: Some(super::usage(&u)),
            ..self.chunk(Delta::default(), None)
        }))
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<FinishReason>) -> ChatCompletionChunk {
        crate::upstream::providers::stream_steps::chunk(
            &self.id,
            &self.model,
            self.created,
            delta,
            finish_reason,
        )
    }
}

/// Runs SSE events through a [`Translator`].
pub(super) fn translate(
    events: impl futures::Stream<Item = Result<SseEvent, UpstreamError>> + Send + Unpin + 'static,
    upstream_model: String,
    signatures: Signatures,
) -> ChunkStream {
    let start = Some((events, Translator::new(upstream_model, signatures)));
    stream::unfold(start, |state| async move {
        let (mut events, mut translator) = state?;
        let chunks = match events.next().await {
            None => {
                let items = match translator.on_end() {
                    Ok(usage) => usage.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                return Some((items, None));
            }
            Some(Err(e)) => return Some((vec![Err(e)], None)),
            // A sign of life: a keep-alive, like an event of thoughts only.
            Some(Ok(ev)) if ev.data.trim().is_empty() => Vec::new(),
            Some(Ok(ev)) => match translator.on_event(&ev.data) {
                Err(e) => return Some((vec![Err(e)], None)),
                Ok(chunks) => chunks,
            },
        };
        Some((alive(chunks), Some((events, translator))))
    })
    .flat_map(stream::iter)
    .boxed()
}
