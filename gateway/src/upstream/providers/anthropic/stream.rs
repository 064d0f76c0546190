//! Anthropic streaming: `message_start`, content block events, `message_delta` and
//! `message_stop`, translated into OpenAI chunks by [`Translator`].
//!
//! The translation emits a role chunk at `message_start`, a content chunk per `text_delta`,
//! a `reasoning_content` chunk per `thinking_delta` (the thinking text Anthropic shows its own
//! clients; its signature and redacted thinking stay with the gateway, see [`thinking`]),
//! tool-call chunks for `tool_use` blocks and their `input_json_delta`s, a finish chunk at
//! `message_delta`, and a final usage chunk (empty `choices`) at `message_stop`, so the
//! gateway always learns the token counts. A body that ends before `message_stop` yields a
//! `StreamTruncated` error.

use std::collections::{BTreeMap, HashMap};

use super::thinking;
use super::wire::{
    AnthropicUsage, BlockDelta, ContentBlock, MessageDeltaUsage, ResponseBlock, StreamEvent,
};
use super::{finish_reason, unix_now};
use crate::openai::wire::{
    ChatCompletionChunk, Delta, FinishReason, FunctionCallDelta, Role, ToolCallDelta,
};
use crate::upstream::providers::call_memo::CallMemo;
use crate::upstream::providers::stream_steps;
pub(super) use crate::upstream::providers::stream_steps::{Step, Translate};
use crate::upstream::sse::{SseEvent, SseStream};
use crate::upstream::{ChunkStream, UpstreamError};

/// Maps the SSE body of a successful response of `upstream_model` to chunks, keeping its
/// thinking before tool calls in `memo`.
pub(super) fn chunks(
    response: reqwest::Response,
    upstream_model: String,
    memo: CallMemo,
) -> ChunkStream {
    translate(SseStream::from_response(response), upstream_model, memo)
}

/// Streaming state: ids, usage so far, and which content block is which tool call.
#[derive(Debug, Default)]
pub(super) struct Translator {
    id: String,
    model: String,
    created: u64,
    usage: AnthropicUsage,
    /// Anthropic content-block index → OpenAI tool-call index.
    tool_calls: HashMap<u32, u32>,
    /// Tool-use blocks no argument text has arrived for yet, by content-block index, with the
    /// `input` their start gave: a call without parameters streams no JSON at all (or only
    /// `""`), and its arguments must still read as an object.
    no_arguments: HashMap<u32, serde_json::Value>,
    /// The tool calls' ids, in order.
    call_ids: Vec<String>,
    /// Thinking blocks by content-block index, as their deltas arrive.
    thought: BTreeMap<u32, ContentBlock>,
    /// Whether thinking text went out, and whether a new thinking block began since: its text
    /// is set apart from the last block's by a blank line, as the non-streamed answer's is.
    shown_thinking: bool,
    thinking_gap: bool,
    /// The model asked, under whose name the thinking is kept.
    upstream_model: String,
    /// Where thinking before tool calls is kept.
    memo: CallMemo,
}

impl Translator {
    /// A fresh translator for an answer of `upstream_model`.
    pub(super) fn new(upstream_model: String, memo: CallMemo) -> Self {
        Translator {
            created: unix_now(),
            upstream_model,
            memo,
            ..Self::default()
        }
    }

    /// Translates one event's `data`.
    fn step(&mut self, data: &str) -> Result<Step, UpstreamError> {
        let event: StreamEvent = serde_json::from_str(data)
            .map_err(|e| UpstreamError::decode(format!("anthropic stream event: {e}")))?;
        let chunks = match event {
            StreamEvent::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                self.usage = message.usage;
                vec![self.chunk(
                    Delta {
                        role: Some(Role::Assistant),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                )]
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                ResponseBlock::Text { text } if !text.is_empty() => vec![self.text(text)],
                ResponseBlock::ToolUse { id, name, input } => {
                    let call_index = u32::try_from(self.tool_calls.len()).unwrap_or(u32::MAX);
                    self.tool_calls.insert(index, call_index);
                    self.no_arguments.insert(index, input);
                    self.call_ids.push(id.clone());
                    vec![self.tool_delta(ToolCallDelta {
                        index: call_index,
                        id: Some(id),
                        kind: Some("function".to_owned()),
                        function: Some(FunctionCallDelta {
                            name: Some(name),
                            arguments: Some(String::new()),
                        }),
                    })]
                }
                ResponseBlock::Thinking {
                    thinking,
                    signature,
                } => {
                    self.thinking_gap = self.shown_thinking;
                    let shown = (!thinking.is_empty()).then(|| self.reasoning(thinking.clone()));
                    let block = ContentBlock::Thinking {
                        thinking,
                        signature,
                    };
                    self.thought.insert(index, block);
                    shown.into_iter().collect()
                }
                ResponseBlock::RedactedThinking { data } => {
                    let block = ContentBlock::RedactedThinking { data };
                    self.thought.insert(index, block);
                    Vec::new()
                }
                ResponseBlock::Text { .. } | ResponseBlock::Other => Vec::new(),
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => vec![self.text(text)],
                BlockDelta::InputJsonDelta { partial_json } => match self.tool_calls.get(&index) {
                    Some(&call_index) => {
                        if !partial_json.trim().is_empty() {
                            self.no_arguments.remove(&index);
                        }
                        vec![self.tool_delta(ToolCallDelta {
                            index: call_index,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(partial_json),
                            }),
                            ..ToolCallDelta::default()
                        })]
                    }
                    None => Vec::new(),
                },
                BlockDelta::ThinkingDelta { thinking: more } => {
                    if let Some(ContentBlock::Thinking { thinking, .. }) =
                        self.thought.get_mut(&index)
                    {
                        thinking.push_str(&more);
                    }
                    if more.is_empty() {
                        Vec::new()
                    } else {
                        vec![self.reasoning(more)]
                    }
                }
                BlockDelta::SignatureDelta { signature: sig } => {
                    if let Some(ContentBlock::Thinking { signature, .. }) =
                        self.thought.get_mut(&index)
                    {
                        signature.push_str(&sig);
                    }
                    Vec::new()
                }
                BlockDelta::Other => Vec::new(),
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(usage) = usage {
                    self.merge_usage(usage);
                }
                match delta.stop_reason {
                    Some(reason) => {
                        // A block left open still gets its arguments before the finish.
                        let mut chunks = self.whole_arguments(None);
                        let mut chunk = self.chunk(Delta::default(), Some(finish_reason(&reason)));
                        if reason == "stop_sequence" {
                            if let Some(choice) = chunk.choices.first_mut() {
                                choice.stop_sequence = delta.stop_sequence;
                            }
                        }
                        chunks.push(chunk);
                        chunks
                    }
                    None => Vec::new(),
                }
            }
            StreamEvent::MessageStop => {
                let thought: Vec<ContentBlock> =
                    std::mem::take(&mut self.thought).into_values().collect();
                thinking::remember(&self.memo, &self.upstream_model, &thought, &self.call_ids);
                return Ok(Step::Done(vec![self.usage_chunk()]));
            }
            StreamEvent::Error { error } => {
                // `data` is `{"type":"error","error":{...}}`, the shape `status_error` reads;
                // it classifies a billing error as it does the same error over HTTP.
                return Err(super::status_error(error.status(), None, data));
            }
            StreamEvent::ContentBlockStop { index } => self.whole_arguments(Some(index)),
            StreamEvent::Ping | StreamEvent::Unknown => Vec::new(),
        };
        Ok(Step::Emit(chunks))
    }

    /// `message_delta` usage is cumulative; input counts appear there only in newer API
    /// versions, so absent, `null` or zero counts do not overwrite what `message_start` said.
    fn merge_usage(&mut self, usage: MessageDeltaUsage) {
        if let Some(output) = usage.output_tokens {
            self.usage.output_tokens = output;
        }
        if let Some(input) = usage.input_tokens.filter(|&n| n > 0) {
            self.usage.input_tokens = input;
        }
        if usage.cache_creation_input_tokens.is_some() {
            self.usage.cache_creation_input_tokens = usage.cache_creation_input_tokens;
        }
        if usage.cache_read_input_tokens.is_some() {
            self.usage.cache_read_input_tokens = usage.cache_read_input_tokens;
        }
    }

    /// The arguments of the tool calls of block `index` (every such block when `None`) that
    /// streamed none: the `input` their start gave if it has any, else `{}`, as the
    /// non-streamed answer reads (`input.to_string()`), since clients parse them as JSON.
    fn whole_arguments(&mut self, index: Option<u32>) -> Vec<ChatCompletionChunk> {
        let mut blocks: Vec<(u32, serde_json::Value)> = match index {
            Some(i) => self.no_arguments.remove_entry(&i).into_iter().collect(),
            None => self.no_arguments.drain().collect(),
        };
        blocks.sort_by_key(|(i, _)| *i);
        blocks
            .into_iter()
            .filter_map(|(block, input)| {
                let call_index = *self.tool_calls.get(&block)?;
                let arguments = match input {
                    serde_json::Value::Object(map) if !map.is_empty() => {
                        serde_json::Value::Object(map).to_string()
                    }
                    _ => "{}".to_owned(),
                };
                Some(self.tool_delta(ToolCallDelta {
                    index: call_index,
                    function: Some(FunctionCallDelta {
                        name: None,
                        arguments: Some(arguments),
                    }),
                    ..ToolCallDelta::default()
                }))
            })
            .collect()
    }

    fn text(&self, text: String) -> ChatCompletionChunk {
        self.chunk(
            Delta {
                content: Some(text),
                ..Delta::default()
            },
            None,
        )
    }

    /// A `reasoning_content` chunk of thinking text.
    fn reasoning(&mut self, text: String) -> ChatCompletionChunk {
        let text = if std::mem::take(&mut self.thinking_gap) {
            format!("{}{text}", crate::openai::wire::REASONING_SEPARATOR)
        } else {
            text
        };
        self.shown_thinking = true;
        self.chunk(
            Delta {
                reasoning_content: Some(text),
                ..Delta::default()
            },
            None,
        )
    }

    fn tool_delta(&self, call: ToolCallDelta) -> ChatCompletionChunk {
        self.chunk(stream_steps::tool_delta(call), None)
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<FinishReason>) -> ChatCompletionChunk {
        stream_steps::chunk(&self.id, &self.model, self.created, delta, finish_reason)
    }

    fn usage_chunk(&self) -> ChatCompletionChunk {
        ChatCompletionChunk {
            choices: Vec::new(),
            usage: Some(super::usage(&self.usage)),
            ..self.chunk(Delta::default(), None)
        }
    }
}

impl Translate for Translator {
    fn on_event(&mut self, data: &str) -> Result<Step, UpstreamError> {
        self.step(data)
    }
}

/// Runs SSE events through a [`Translator`].
pub(super) fn translate(
    events: impl futures::Stream<Item = Result<SseEvent, UpstreamError>> + Send + Unpin + 'static,
    upstream_model: String,
    memo: CallMemo,
) -> ChunkStream {
    let translator = Translator::new(upstream_model, memo);
    stream_steps::translate(events, translator, "stream ended before message_stop")
}
