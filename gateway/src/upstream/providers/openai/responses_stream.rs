//! Responses API streaming (`response.created` … `response.completed`) translated into chat
//! chunks: a role chunk when the response is created, a content chunk per
//! `response.output_text.delta`, tool-call chunks for `function_call` items and their
//! `response.function_call_arguments.delta`s, then a finish chunk and a usage chunk at the
//! terminal event (`response.completed` or `response.incomplete`). `response.failed` and
//! `error` events end the stream with an error; a body that ends before a terminal event
//! yields `StreamTruncated`.

use std::collections::HashMap;

use serde_json::Value;

use super::responses::{failed, finish_reason, remember_reasoning, usage};
use crate::openai::wire::{
    ChatCompletionChunk, Delta, FinishReason, FunctionCallDelta, Role, ToolCallDelta,
};
use crate::upstream::providers::call_memo::CallMemo;
use crate::upstream::providers::stream_steps::{self, Step, Translate};
use crate::upstream::sse::{SseEvent, SseStream};
use crate::upstream::{ChunkStream, UpstreamError};

/// Maps the SSE body of a successful response of `upstream_model` to chunks, keeping its
/// reasoning before function calls in `memo`.
pub(super) fn chunks(
    response: reqwest::Response,
    upstream_model: String,
    memo: CallMemo,
) -> ChunkStream {
    translate(SseStream::from_response(response), upstream_model, memo)
}

/// Streaming state: ids, and which output item is which tool call.
#[derive(Debug, Default)]
struct Translator {
    id: String,
    model: String,
    created: u64,
    /// Responses `output_index` → chat tool-call index.
    tool_calls: HashMap<u64, u32>,
    /// The model asked, under whose name reasoning is kept.
    upstream_model: String,
    /// Where reasoning before function calls is kept.
    memo: CallMemo,
    /// Whether a reasoning summary's text has come: the next summary part starts after a
    /// blank line, as the parts of a whole answer are joined ([`super::responses`]).
    summarized: bool,
}

impl Translate for Translator {
    fn on_event(&mut self, data: &str) -> Result<Step, UpstreamError> {
        let event: Value = serde_json::from_str(data)
            .map_err(|e| UpstreamError::decode(format!("responses stream event: {e}")))?;
        let chunks = match event["type"].as_str().unwrap_or_default() {
            "response.created" => {
                let r = &event["response"];
                self.id = r["id"].as_str().unwrap_or_default().to_owned();
                self.model = r["model"].as_str().unwrap_or_default().to_owned();
                self.created = r["created_at"].as_u64().unwrap_or_default();
                vec![self.chunk(
                    Delta {
                        role: Some(Role::Assistant),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                )]
            }
            "response.output_text.delta" => vec![self.chunk(
                Delta {
                    content: Some(str_of(&event["delta"])),
                    ..Delta::default()
                },
                None,
            )],
            // Reasoning summaries (asked for where the client asked to see the thinking).
            "response.reasoning_summary_part.added" if self.summarized => {
                vec![self.reasoning_delta(crate::openai::wire::REASONING_SEPARATOR.to_owned())]
            }
            "response.reasoning_summary_text.delta" => {
                self.summarized = true;
                vec![self.reasoning_delta(str_of(&event["delta"]))]
            }
            "response.refusal.delta" => vec![self.chunk(
                Delta {
                    refusal: Some(str_of(&event["delta"])),
                    ..Delta::default()
                },
                None,
            )],
            "response.output_item.added" if event["item"]["type"] == "function_call" => {
                let item = &event["item"];
                let index = u32::try_from(self.tool_calls.len()).unwrap_or(u32::MAX);
                let output_index = event["output_index"].as_u64().unwrap_or_default();
                self.tool_calls.insert(output_index, index);
                vec![self.tool_delta(ToolCallDelta {
                    index,
                    id: Some(str_of(&item["call_id"])),
                    kind: Some("function".to_owned()),
                    function: Some(FunctionCallDelta {
                        name: Some(str_of(&item["name"])),
                        arguments: Some(str_of(&item["arguments"])),
                    }),
                })]
            }
            "response.function_call_arguments.delta" => {
                let output_index = event["output_index"].as_u64().unwrap_or_default();
                match self.tool_calls.get(&output_index) {
                    Some(&index) => vec![self.tool_delta(ToolCallDelta {
                        index,
                        function: Some(FunctionCallDelta {
                            name: None,
                            arguments: Some(str_of(&event["delta"])),
                        }),
                        ..ToolCallDelta::default()
                    })],
                    None => Vec::new(),
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = &event["response"];
                remember_reasoning(r, &self.upstream_model, &self.memo);
                let reason = finish_reason(r, !self.tool_calls.is_empty());
                let mut last = vec![self.chunk(Delta::default(), Some(reason))];
                if let Some(usage) = usage(&r["usage"]) {
                    last.push(ChatCompletionChunk {
                        choices: Vec::new(),
                        usage: Some(usage),
                        ..self.chunk(Delta::default(), None)
                    });
                }
                return Ok(Step::Done(last));
            }
            "response.failed" => return Err(failed(&event["response"])),
            "error" => {
                // `{"type":"error","code":…,"message":…}`: the shape `from_status` reads, nested,
                // with the status its code means (a rate limit is retried elsewhere as one).
                let status = match event["code"].as_str().unwrap_or_default() {
                    "rate_limit_exceeded" => 429,
                    "context_length_exceeded" | "invalid_request_error" | "invalid_prompt" => 400,
                    _ => 500,
                };
                let body = serde_json::json!({"error": event}).to_string();
                return Err(UpstreamError::from_status(status, None, &body));
            }
            _ => Vec::new(),
        };
        Ok(Step::Emit(chunks))
    }
}

impl Translator {
    /// A chunk of reasoning text.
    fn reasoning_delta(&self, text: String) -> ChatCompletionChunk {
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
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Runs SSE events through a [`Translator`].
fn translate(
    events: impl futures::Stream<Item = Result<SseEvent, UpstreamError>> + Send + Unpin + 'static,
    upstream_model: String,
    memo: CallMemo,
) -> ChunkStream {
    let translator = Translator {
        upstream_model,
        memo,
        ..Translator::default()
    };
    stream_steps::translate(events, translator, "stream ended before response.completed")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use futures::stream::{self, StreamExt};

    use super::*;
    use crate::upstream::UpstreamErrorKind;

    fn ev(data: serde_json::Value) -> Result<SseEvent, UpstreamError> {
        Ok(SseEvent {
            event: data["type"].as_str().map(str::to_owned),
            data: data.to_string(),
        })
    }

    fn created() -> Result<SseEvent, UpstreamError> {
        ev(serde_json::json!({"type": "response.created",
            "response": {"id": "resp_1", "model": "gpt-6-luna", "created_at": 7, "status": "in_progress"}}))
    }

    #[tokio::test]
    async fn a_tool_call_streams_as_chat_tool_call_deltas_with_usage_last() {
        let events = vec![
            created(),
            ev(
                serde_json::json!({"type": "response.output_item.added", "output_index": 1,
                "item": {"type": "function_call", "call_id": "call_a", "name": "lookup", "arguments": ""}}),
            ),
            ev(
                serde_json::json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{\"q\":"}),
            ),
            ev(
                serde_json::json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "1}"}),
            ),
            ev(
                serde_json::json!({"type": "response.completed", "response": {"status": "completed",
                "usage": {"input_tokens": 12, "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 3}}}}),
            ),
        ];
        let chunks: Vec<_> = translate(stream::iter(events), "m".into(), CallMemo::default())
            .collect()
            .await;
        let chunks: Vec<ChatCompletionChunk> = chunks.into_iter().map(Result::unwrap).collect();
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(chunks[0].id, "resp_1");
        let call = &chunks[1].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!((call.index, call.id.as_deref()), (0, Some("call_a")));
        let args: String = chunks[2..4]
            .iter()
            .map(|c| {
                c.choices[0].delta.tool_calls.as_ref().unwrap()[0]
                    .function
                    .as_ref()
                    .unwrap()
                    .arguments
                    .clone()
                    .unwrap()
            })
            .collect();
        assert_eq!(args, "{\"q\":1}");
        assert_eq!(
            chunks[4].choices[0].finish_reason,
            Some(FinishReason::ToolCalls)
        );
        let usage = chunks[5].usage.as_ref().unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 5));
        assert_eq!(
            usage.extra["completion_tokens_details"]["reasoning_tokens"],
            3
        );
        assert_eq!(chunks.len(), 6);
    }

    /// A reasoning summary (asked for where the client asked to see the thinking) streams as
    /// reasoning deltas, its parts a blank line apart, before the answer's text.
    #[tokio::test]
    async fn reasoning_summaries_stream_as_reasoning_deltas() {
        let part = |i: u64| {
            ev(
                serde_json::json!({"type": "response.reasoning_summary_part.added",
                "output_index": 0, "summary_index": i, "part": {"type": "summary_text", "text": ""}}),
            )
        };
        let text = |d: &str| {
            ev(
                serde_json::json!({"type": "response.reasoning_summary_text.delta",
                "output_index": 0, "delta": d}),
            )
        };
        let events = vec![
            created(),
            part(0),
            text("**Planning**"),
            text(" the sum"),
            part(1),
            text("**Checking**"),
            ev(serde_json::json!({"type": "response.output_text.delta", "delta": "4"})),
            ev(
                serde_json::json!({"type": "response.completed", "response": {"status": "completed"}}),
            ),
        ];
        let chunks: Vec<_> = translate(stream::iter(events), "m".into(), CallMemo::default())
            .collect()
            .await;
        let chunks: Vec<ChatCompletionChunk> = chunks.into_iter().map(Result::unwrap).collect();
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.reasoning_content.clone())
            .collect();
        assert_eq!(reasoning, "**Planning** the sum\n\n**Checking**");
        let text: String = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(text, "4");
    }

    #[tokio::test]
    async fn an_incomplete_answer_ends_with_length_and_a_cut_stream_is_an_error() {
        let events = vec![
            created(),
            ev(serde_json::json!({"type": "response.output_text.delta", "delta": "Hel"})),
            ev(
                serde_json::json!({"type": "response.incomplete", "response": {"status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"}}}),
            ),
        ];
        let chunks: Vec<_> = translate(stream::iter(events), "m".into(), CallMemo::default())
            .collect()
            .await;
        assert_eq!(chunks.len(), 3);
        let last = chunks[2].as_ref().unwrap();
        assert_eq!(last.choices[0].finish_reason, Some(FinishReason::Length));

        let cut = vec![
            created(),
            ev(serde_json::json!({"type": "response.output_text.delta", "delta": "Hel"})),
        ];
        let chunks: Vec<_> = translate(stream::iter(cut), "m".into(), CallMemo::default())
            .collect()
            .await;
        assert_eq!(
            chunks.last().unwrap().as_ref().unwrap_err().kind,
            UpstreamErrorKind::StreamTruncated
        );
    }

    #[tokio::test]
    async fn a_failed_response_is_a_server_error_with_its_message() {
        let events = vec![
            created(),
            ev(
                serde_json::json!({"type": "response.failed", "response": {"status": "failed",
                "error": {"code": "server_error", "message": "The model is overloaded."}}}),
            ),
        ];
        let chunks: Vec<_> = translate(stream::iter(events), "m".into(), CallMemo::default())
            .collect()
            .await;
        let err = chunks.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind, UpstreamErrorKind::ServerError);
        assert_eq!(err.message, "The model is overloaded.");
    }
}
